/*
 * config.h -- the shim's configuration: command-line flags, each with an
 * environment variable as its default.
 */
#ifndef NX_CONFIG_H
#define NX_CONFIG_H

#include <stddef.h>

typedef struct Config {
	char	   *listen_host;
	int			listen_port;
	char	   *tls_cert;
	char	   *tls_key;
	char	   *db;				/* libpq connection string */
	int			pool_size;
	int			queue_max;
	size_t		max_body;
	size_t		max_headers;
	int			timeout_s;		/* header read, body read and keep-alive idle */
	int			header_timeout_s;	/* a whole request must arrive within it */
	int			max_connections;
	int			statement_timeout_ms;
	int			login_rate;		/* per minute per client address */
	int			login_burst;
	int			drain_timeout_s;
	int			sse_heartbeat_s;
	char	   *agent_host;		/* NULL: no agent listener */
	int			agent_port;
	char	   *agent_names;	/* comma-separated; NULL: the host of agent_host */
	int			agent_max_connections;
	int			agent_cert_refresh_s;
} Config;

/* Parses argv; on --help prints usage and exits 0, on error exits 2. */
void nx_config_parse(Config *c, int argc, char **argv);
void nx_config_free(Config *c);

#endif
