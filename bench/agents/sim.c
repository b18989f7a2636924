/*
 * sim.c -- bench/agents' agent simulator: many agents' long polls on one
 * shim, each on its own mutual-TLS connection with its own certificate.
 * This file picks the verb and holds what the verbs share (sim.h):
 *
 *   agentsim gen N DIR                 keys and CSRs        (sim_gen.c)
 *   agentsim run [options]             the agents' polls    (sim_run.c)
 *   agentsim listen CONNINFO CHANNEL OUT
 *                                      a libpq listener     (sim_listen.c)
 *
 * Times are CLOCK_REALTIME in microseconds since the epoch, the clock
 * PostgreSQL's clock_timestamp() reads, so run.sh can subtract a commit's
 * time from a receipt's.
 */
#define _GNU_SOURCE
#include "sim.h"

#include <openssl/err.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

long long
now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (long long) ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

void
die(const char *what)
{
	unsigned long e = ERR_get_error();
	char		buf[256] = "";

	if (e)
		ERR_error_string_n(e, buf, sizeof(buf));
	fprintf(stderr, "agentsim: %s%s%s\n", what, e ? ": " : "", buf);
	exit(1);
}

int
main(int argc, char **argv)
{
	if (argc >= 2 && strcmp(argv[1], "gen") == 0)
		return cmd_gen(argc, argv);
	if (argc >= 2 && strcmp(argv[1], "run") == 0)
		return cmd_run(argc, argv);
	if (argc >= 2 && strcmp(argv[1], "listen") == 0)
		return cmd_listen(argc, argv);
	fprintf(stderr, "usage: agentsim gen|run|listen ... (see bench/agents/README.md)\n");
	return 2;
}
