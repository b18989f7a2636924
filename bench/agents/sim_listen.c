/*
 * sim_listen.c -- agentsim listen CONNINFO CHANNEL OUT: a plain libpq
 * listener.  LISTENs on CHANNEL and writes each notification's payload and
 * receipt time to OUT: the floor the shim's figure is compared with.
 */
#define _GNU_SOURCE
#include "sim.h"

#include <errno.h>
#include <libpq-fe.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/select.h>

static volatile sig_atomic_t stop_listen;

static void
on_term_listen(int sig)
{
	stop_listen = 1;
}

int
cmd_listen(int argc, char **argv)
{
	if (argc != 5)
	{
		fprintf(stderr, "usage: agentsim listen CONNINFO CHANNEL OUT\n");
		return 2;
	}
	PGconn	   *pg = PQconnectdb(argv[2]);
	FILE	   *out = fopen(argv[4], "w");
	char	   *chan;
	char		sql[256];
	PGresult   *res;
	struct sigaction sa = {.sa_handler = on_term_listen};

	if (PQstatus(pg) != CONNECTION_OK)
	{
		fprintf(stderr, "agentsim listen: %s", PQerrorMessage(pg));
		return 1;
	}
	if (out == NULL)
		die("cannot write the listener's output");
	chan = PQescapeIdentifier(pg, argv[3], strlen(argv[3]));
	snprintf(sql, sizeof(sql), "LISTEN %s", chan);
	PQfreemem(chan);
	res = PQexec(pg, sql);
	if (PQresultStatus(res) != PGRES_COMMAND_OK)
	{
		fprintf(stderr, "agentsim listen: %s", PQerrorMessage(pg));
		return 1;
	}
	PQclear(res);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	/* ready: run.sh waits for this file to start the commands */
	fprintf(out, "# listening\n");
	fflush(out);
	while (!stop_listen)
	{
		int			sock = PQsocket(pg);
		fd_set		rd;
		PGnotify   *n;

		FD_ZERO(&rd);
		FD_SET(sock, &rd);
		if (select(sock + 1, &rd, NULL, NULL, NULL) < 0)
		{
			if (errno == EINTR)
				continue;
			die("select");
		}
		if (!PQconsumeInput(pg))
		{
			fprintf(stderr, "agentsim listen: %s", PQerrorMessage(pg));
			return 1;
		}
		while ((n = PQnotifies(pg)) != NULL)
		{
			fprintf(out, "%s\t%lld\n", n->extra, now_us());
			PQfreemem(n);
		}
		fflush(out);
	}
	fclose(out);
	PQfinish(pg);
	return 0;
}
