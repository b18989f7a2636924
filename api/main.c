/*
 * main.c -- nexplane-api: read the configuration, wire the parts, run the
 * loop, and on SIGTERM or SIGINT drain and free everything in one place.
 */
#include "agent_listener.h"
#include "config.h"
#include "server.h"
#include "log.h"
#include "openapi.h"
#include "pool.h"
#include "ratelimit.h"
#include "sse.h"
#include "tls.h"

#include <event2/event.h>
#include <signal.h>
#include <sys/resource.h>
#include <stdlib.h>

static void
on_signal(evutil_socket_t sig, short what, void *arg)
{
	nx_server_drain(arg);
}

/*
 * Raise the open-file limit to the hard limit: every connection is a
 * descriptor, and the usual soft limit of 1,024 is below --max-connections.
 */
static void
raise_file_limit(const Config *cfg)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
		return;
	if (rl.rlim_cur < rl.rlim_max)
	{
		rl.rlim_cur = rl.rlim_max;
		if (setrlimit(RLIMIT_NOFILE, &rl) != 0)
			(void) getrlimit(RLIMIT_NOFILE, &rl);
	}
	/* room for the connections (the agents' too), the pool and a few of our own */
	if (rl.rlim_cur != RLIM_INFINITY &&
		rl.rlim_cur < (rlim_t) cfg->max_connections + (rlim_t) cfg->pool_size + 64 +
		(cfg->agent_host ? (rlim_t) cfg->agent_max_connections : 0))
		nx_log("warning", "open-file limit %llu is below --max-connections %d%s plus the pool",
			   (unsigned long long) rl.rlim_cur, cfg->max_connections,
			   cfg->agent_host ? " and --agent-max-connections" : "");
}

int
main(int argc, char **argv)
{
	Config		cfg;
	Server		srv = {.cfg = &cfg};
	struct event *term;
	struct event *intr;
	int			rc = 1;

	nx_config_parse(&cfg, argc, argv);
	signal(SIGPIPE, SIG_IGN);
	raise_file_limit(&cfg);
	srv.base = event_base_new();
	srv.tls = nx_tls_server_ctx(cfg.tls_cert, cfg.tls_key);
	srv.openapi = nx_openapi_document();
	srv.login_limit = nx_ratelimit_new(cfg.login_rate, cfg.login_burst);
	srv.enroll_limit = nx_ratelimit_new(cfg.login_rate, cfg.login_burst);
	if (srv.base == NULL || srv.tls == NULL || srv.openapi == NULL || srv.login_limit == NULL ||
		srv.enroll_limit == NULL)
	{
		nx_log("error", "cannot start: see the messages above");
		goto done;
	}
	srv.pool = nx_pool_new(srv.base, cfg.db, cfg.pool_size, cfg.queue_max,
						   cfg.statement_timeout_ms);
	srv.sse = nx_sse_new(&srv);
	if (nx_server_start(&srv) != 0)
		goto done;
	if (cfg.agent_host && (srv.agent = nx_agent_listener_new(&srv)) == NULL)
		goto done;
	term = evsignal_new(srv.base, SIGTERM, on_signal, &srv);
	intr = evsignal_new(srv.base, SIGINT, on_signal, &srv);
	event_add(term, NULL);
	event_add(intr, NULL);

	event_base_dispatch(srv.base);
	nx_log("info", "stopped");
	rc = 0;
	event_free(term);
	event_free(intr);

done:
	/* the pool first: its last callbacks may still end streams */
	nx_pool_free(srv.pool);
	nx_sse_free(srv.sse);
	nx_agent_listener_free(srv.agent);
	nx_server_free(&srv);
	nx_ratelimit_free(srv.login_limit);
	nx_ratelimit_free(srv.enroll_limit);
	free(srv.openapi);
	SSL_CTX_free(srv.tls);
	if (srv.base)
		event_base_free(srv.base);
	nx_config_free(&cfg);
	return rc;
}
