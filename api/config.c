/*
 * config.c -- flags and environment.  A flag wins over its variable; the
 * variable wins over the built-in default.  --help prints the truth: it is
 * generated from the same table that parses.
 */
#include "config.h"

#include <getopt.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef enum NxOptKind {
	NX_OPT_STR,
	NX_OPT_INT,
	NX_OPT_SIZE,				/* a byte count */
	NX_OPT_LISTEN,				/* HOST:PORT */
} NxOptKind;

typedef struct Option {
	const char *flag;
	const char *env;
	NxOptKind	kind;
	const char *def;
	long		min, max;
	const char *help;
} Option;

static const Option options[] = {
	{"listen", "NEXPLANE_API_LISTEN", NX_OPT_LISTEN, "127.0.0.1:8443", 0, 0,
	 "address and port to serve HTTPS on"},
	{"tls-cert", "NEXPLANE_API_TLS_CERT", NX_OPT_STR, NULL, 0, 0,
	 "server certificate chain, PEM (required)"},
	{"tls-key", "NEXPLANE_API_TLS_KEY", NX_OPT_STR, NULL, 0, 0,
	 "server private key, PEM (required)"},
	{"db", "NEXPLANE_API_DB", NX_OPT_STR, "dbname=nexplane user=nexplane_api", 0, 0,
	 "libpq connection string; connect as nexplane_api"},
	{"pool-size", "NEXPLANE_API_POOL_SIZE", NX_OPT_INT, "8", 1, 256,
	 "database connections"},
	{"queue-max", "NEXPLANE_API_QUEUE_MAX", NX_OPT_INT, "1024", 1, 1000000,
	 "requests waiting for a connection before answering 503"},
	{"max-body", "NEXPLANE_API_MAX_BODY", NX_OPT_SIZE, "1048576", 1024, 64 << 20,
	 "largest request body in bytes (413 above)"},
	{"max-headers", "NEXPLANE_API_MAX_HEADERS", NX_OPT_SIZE, "16384", 1024, 1 << 20,
	 "largest request line and headers in bytes"},
	{"timeout", "NEXPLANE_API_TIMEOUT", NX_OPT_INT, "15", 1, 3600,
	 "seconds to wait for headers, body, or the next keep-alive request"},
	{"header-timeout", "NEXPLANE_API_HEADER_TIMEOUT", NX_OPT_INT, "10", 1, 3600,
	 "seconds a connection has, from its start or its last answer, to send a whole request"},
	{"max-connections", "NEXPLANE_API_MAX_CONNECTIONS", NX_OPT_INT, "4096", 1, 1000000,
	 "open client connections; past it a request gets 503 and the connection closes"},
	{"statement-timeout", "NEXPLANE_API_STATEMENT_TIMEOUT", NX_OPT_INT, "30000", 100, 3600000,
	 "milliseconds a request's SQL may run"},
	{"login-rate", "NEXPLANE_API_LOGIN_RATE", NX_OPT_INT, "10", 1, 100000,
	 "login and refresh attempts per minute per client address (429 above)"},
	{"login-burst", "NEXPLANE_API_LOGIN_BURST", NX_OPT_INT, "5", 1, 100000,
	 "attempts a client address may make at once before the rate applies"},
	{"drain-timeout", "NEXPLANE_API_DRAIN_TIMEOUT", NX_OPT_INT, "30", 1, 3600,
	 "seconds SIGTERM waits for in-flight requests before exiting"},
	{"sse-heartbeat", "NEXPLANE_API_SSE_HEARTBEAT", NX_OPT_INT, "15", 1, 3600,
	 "seconds between keep-alive comments on event streams"},
	{"agent-listen", "NEXPLANE_API_AGENT_LISTEN", NX_OPT_LISTEN, NULL, 0, 0,
	 "address and port of the agents' mutual-TLS listener (off without it)"},
	{"agent-name", "NEXPLANE_API_AGENT_NAME", NX_OPT_STR, NULL, 0, 0,
	 "names,... agents reach the agent listener by (default: its host)"},
	{"agent-max-connections", "NEXPLANE_API_AGENT_MAX_CONNECTIONS", NX_OPT_INT, "12288", 1,
	 1000000, "open agent connections; past it a request gets 503"},
	{"agent-cert-refresh", "NEXPLANE_API_AGENT_CERT_REFRESH", NX_OPT_INT, "86400", 10, 518400,
	 "seconds between new keys and certificates of the agent listener"},
};
#define NOPTIONS (sizeof(options) / sizeof(options[0]))

static void
usage(FILE *f)
{
	fprintf(f,
			"Usage: nexplane-api [OPTION]...\n"
			"The Nexplane HTTPS API: each request is one SQL call into the nexplane\n"
			"extension, authenticated there.  Logs one JSON line per request on stdout\n"
			"and operational messages on stderr.  SIGTERM stops accepting, finishes\n"
			"in-flight requests and exits.\n\nOptions (environment variable, default):\n");
	for (size_t i = 0; i < NOPTIONS; i++)
		fprintf(f, "  --%-22s %s\n  %-24s (%s, %s)\n", options[i].flag, options[i].help, "",
				options[i].env, options[i].def ? options[i].def : "none");
	fprintf(f, "  --%-22s %s\n", "help", "this text");
}

static void
die(const char *flag, const char *why)
{
	fprintf(stderr, "nexplane-api: --%s: %s\n", flag, why);
	exit(2);
}

static void
set(Config *c, const Option *o, const char *v)
{
	char	   *end;
	long		n = 0;

	switch (o->kind)
	{
		case NX_OPT_STR:
			{
				char	  **field = strcmp(o->flag, "tls-cert") == 0 ? &c->tls_cert :
					strcmp(o->flag, "tls-key") == 0 ? &c->tls_key :
					strcmp(o->flag, "agent-name") == 0 ? &c->agent_names : &c->db;

				free(*field);
				*field = strdup(v);
				return;
			}
		case NX_OPT_LISTEN:
			{
				const char *colon = strrchr(v, ':');
				bool		agent = strcmp(o->flag, "agent-listen") == 0;
				char	  **host = agent ? &c->agent_host : &c->listen_host;

				if (colon == NULL || colon == v)
					die(o->flag, "expected HOST:PORT");
				n = strtol(colon + 1, &end, 10);
				if (*end != '\0' || n < 1 || n > 65535)
					die(o->flag, "the port must be a number from 1 to 65535");
				free(*host);
				/* [::1]:8444: the address without its brackets */
				if (v[0] == '[' && colon[-1] == ']')
					*host = strndup(v + 1, colon - v - 2);
				else
					*host = strndup(v, colon - v);
				if (agent)
					c->agent_port = (int) n;
				else
					c->listen_port = (int) n;
				return;
			}
		case NX_OPT_INT:
		case NX_OPT_SIZE:
			n = strtol(v, &end, 10);
			if (*v == '\0' || *end != '\0' || n < o->min || n > o->max)
			{
				char		why[96];

				snprintf(why, sizeof(why), "expected a number from %ld to %ld", o->min, o->max);
				die(o->flag, why);
			}
			break;
	}
#define IS(name) (strcmp(o->flag, name) == 0)
	if (IS("pool-size")) c->pool_size = (int) n;
	else if (IS("queue-max")) c->queue_max = (int) n;
	else if (IS("max-body")) c->max_body = (size_t) n;
	else if (IS("max-headers")) c->max_headers = (size_t) n;
	else if (IS("timeout")) c->timeout_s = (int) n;
	else if (IS("header-timeout")) c->header_timeout_s = (int) n;
	else if (IS("max-connections")) c->max_connections = (int) n;
	else if (IS("statement-timeout")) c->statement_timeout_ms = (int) n;
	else if (IS("login-rate")) c->login_rate = (int) n;
	else if (IS("login-burst")) c->login_burst = (int) n;
	else if (IS("drain-timeout")) c->drain_timeout_s = (int) n;
	else if (IS("sse-heartbeat")) c->sse_heartbeat_s = (int) n;
	else if (IS("agent-max-connections")) c->agent_max_connections = (int) n;
	else if (IS("agent-cert-refresh")) c->agent_cert_refresh_s = (int) n;
#undef IS
}

void
nx_config_parse(Config *c, int argc, char **argv)
{
	struct option longopts[NOPTIONS + 2];
	int			idx;

	memset(c, 0, sizeof(*c));
	for (size_t i = 0; i < NOPTIONS; i++)
	{
		const char *env = getenv(options[i].env);

		if (options[i].def)
			set(c, &options[i], options[i].def);
		if (env && *env)
			set(c, &options[i], env);
		longopts[i] = (struct option) {
			.name = options[i].flag, .has_arg = required_argument, .val = (int) i,
		};
	}
	longopts[NOPTIONS] = (struct option) {.name = "help", .has_arg = no_argument, .val = 'h'};
	longopts[NOPTIONS + 1] = (struct option) {.name = NULL};	/* the end */

	for (;;)
	{
		int			ch = getopt_long(argc, argv, "h", longopts, &idx);

		if (ch == -1)
			break;
		if (ch == 'h')
		{
			usage(stdout);
			exit(0);
		}
		if (ch < 0 || ch >= (int) NOPTIONS)
		{
			usage(stderr);
			exit(2);
		}
		set(c, &options[ch], optarg);
	}
	if (optind < argc)
	{
		fprintf(stderr, "nexplane-api: unexpected argument \"%s\"\n", argv[optind]);
		exit(2);
	}
	if (c->tls_cert == NULL || c->tls_key == NULL)
	{
		fprintf(stderr, "nexplane-api: --tls-cert and --tls-key are required\n");
		exit(2);
	}
	if (c->agent_names && c->agent_host == NULL)
		die("agent-name", "needs --agent-listen");
	if (c->agent_host && c->listen_port == c->agent_port &&
		strcmp(c->agent_host, c->listen_host) == 0)
		die("agent-listen", "must differ from --listen");
}

void
nx_config_free(Config *c)
{
	free(c->listen_host);
	free(c->tls_cert);
	free(c->tls_key);
	free(c->db);
	free(c->agent_host);
	free(c->agent_names);
	memset(c, 0, sizeof(*c));
}
