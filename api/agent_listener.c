/*
 * agent_listener.c -- the agent listener (docs/agent.md, "The agent
 * listener").
 *
 * A second evhttp on the same loop, pool and drain as the main one, with
 * its own route table, connection cap and TLS context.  Its server
 * certificate is issued by the agent CA: at start, and every
 * --agent-cert-refresh seconds (a day), a new EC P-256 key is made in
 * memory and _agent_listener_certificate(csr_pem, names) signs it.  The
 * socket is bound at start (so a busy address stops the shim at once) but
 * accepts only once the first certificate is in; a refresh swaps the
 * context for new connections while open ones keep theirs.  A failed
 * issue is retried (every 5 s before the first certificate, every minute
 * after it: the current one is valid for days).
 *
 * Every request's client certificate is checked before its route runs:
 * routes marked NX_ROUTE_AGENT need one the agent CA issued (401
 * otherwise) and get its fingerprint as an argument.  Bodies are limited
 * to 64 kB by libevent (413), and enrollment is rate-limited per client
 * address.
 */
#include "agent_listener.h"

#include "agent_poll.h"
#include "agent_routes.h"
#include "agent_tls.h"
#include "connection.h"
#include "log.h"
#include "request.h"

#include <event2/http.h>
#include <event2/listener.h>
#include <event2/util.h>
#include <jansson.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define NX_AGENT_MAX_BODY (64 * 1024)
#define NX_AGENT_RETRY_FIRST_S 5
#define NX_AGENT_RETRY_S 60

static const char ISSUE_SQL[] =
	"SELECT nexplane._agent_listener_certificate(csr_pem => $1::text, "
	"names => ARRAY(SELECT pg_catalog.jsonb_array_elements_text($2::jsonb)))";

struct AgentListener {
	Server	   *srv;
	struct evhttp *http;
	struct evhttp_bound_socket *bound;
	SSL_CTX    *ctx;			/* NULL until the first certificate */
	EVP_PKEY   *key;			/* the key being certified */
	char	   *names;			/* a JSON array of the names to certify */
	struct event *timer;		/* the next issue */
	bool		issuing;
	AgentPolls *polls;
};

/* ---------- the certificate ---------- */

static void issue(AgentListener *al);

static void
arm(AgentListener *al, int seconds)
{
	struct timeval tv = {.tv_sec = seconds};

	evtimer_add(al->timer, &tv);
}

static void
on_timer(evutil_socket_t fd, short what, void *arg)
{
	issue(arg);
}

static void
issued(PoolReply *reply, void *arg)
{
	AgentListener *al = arg;
	const PoolStmtResult *e = nx_pool_first_error(reply);
	const Config *cfg = al->srv->cfg;
	json_t	   *doc = NULL;
	SSL_CTX    *ctx = NULL;
	bool		first = al->ctx == NULL;

	al->issuing = false;
	if (reply->failed)
		nx_log("warning", "agent listener: no certificate issued: the database is unavailable");
	else if (e)
		nx_log("warning", "agent listener: _agent_listener_certificate failed with SQLSTATE %s: %s",
			   e->error.sqlstate, e->error.message ? e->error.message : "");
	else
	{
		doc = json_loads(reply->r[0].value ? reply->r[0].value : "", 0, NULL);
		if (!json_is_string(json_object_get(doc, "certificate_pem")) ||
			!json_is_string(json_object_get(doc, "ca_pem")))
			nx_log("error", "agent listener: _agent_listener_certificate answered no certificate");
		else
			ctx = nx_agent_tls_ctx(json_string_value(json_object_get(doc, "certificate_pem")),
								   al->key, json_string_value(json_object_get(doc, "ca_pem")));
	}
	EVP_PKEY_free(al->key);		/* the context holds it now, if it took it */
	al->key = NULL;
	if (ctx == NULL)
	{
		json_decref(doc);
		if (!al->srv->draining)
			arm(al, first ? NX_AGENT_RETRY_FIRST_S : NX_AGENT_RETRY_S);
		return;
	}
	SSL_CTX_free(al->ctx);		/* open connections hold their own reference */
	al->ctx = ctx;
	if (first && al->bound)
	{
		evconnlistener_enable(evhttp_bound_socket_get_listener(al->bound));
		nx_log("info", "agent listener on https://%s:%d for %s", cfg->agent_host, cfg->agent_port,
			   al->names);
	}
	nx_log("info", "agent listener: certificate valid until %s",
		   json_string_value(json_object_get(doc, "not_after")) ?
		   json_string_value(json_object_get(doc, "not_after")) : "(not said)");
	json_decref(doc);
	if (!al->srv->draining)
		arm(al, cfg->agent_cert_refresh_s);
}

/* A new key, its CSR, and _agent_listener_certificate to sign it. */
static void
issue(AgentListener *al)
{
	char	   *csr;
	PoolStmt	s = {.sql = ISSUE_SQL, .nparams = 2};

	if (al->issuing || al->srv->draining)
		return;
	al->key = nx_agent_tls_key();
	csr = al->key ? nx_agent_tls_csr(al->key) : NULL;
	if (csr == NULL)
	{
		EVP_PKEY_free(al->key);
		al->key = NULL;
		arm(al, NX_AGENT_RETRY_S);
		return;
	}
	s.values[0] = csr;
	s.values[1] = al->names;
	al->issuing = true;
	if (nx_pool_submit(al->srv->pool, &s, 1, issued, al) != NX_SUBMIT_QUEUED)
	{
		al->issuing = false;
		EVP_PKEY_free(al->key);
		al->key = NULL;
		arm(al, al->ctx ? NX_AGENT_RETRY_S : NX_AGENT_RETRY_FIRST_S);
	}
	free(csr);
}

/*
 * The names to certify, as a JSON array: --agent-name's, or the host of
 * --agent-listen (this machine's name when that is a wildcard address).
 */
static char *
names_json(const Config *cfg)
{
	json_t	   *a = json_array();
	char	   *list = strdup(cfg->agent_names ? cfg->agent_names : "");
	char	   *save = NULL;
	char	   *out;

	for (char *t = strtok_r(list, ", ", &save); t; t = strtok_r(NULL, ", ", &save))
		json_array_append_new(a, json_string(t));
	free(list);
	if (json_array_size(a) == 0)
	{
		const char *h = cfg->agent_host;
		char		host[256] = "";

		if (strcmp(h, "0.0.0.0") == 0 || strcmp(h, "::") == 0 || h[0] == '\0')
		{
			if (gethostname(host, sizeof(host) - 1) != 0 || host[0] == '\0')
				snprintf(host, sizeof(host), "localhost");
			h = host;
		}
		json_array_append_new(a, json_string(h));
	}
	out = json_dumps(a, JSON_COMPACT);
	json_decref(a);
	return out;
}

/* ---------- requests ---------- */

bool
nx_agent_reply_locked(Request *r, const PoolReply *reply)
{
	const char *v = reply->nstmts > 0 && !reply->failed ? reply->r[0].value : NULL;
	json_t	   *doc;
	bool		locked;

	if (v == NULL || strncmp(v, "{\"locked\"", 9) != 0)
		return false;			/* the shape jsonb gives such an object */
	doc = json_loads(v, 0, NULL);
	locked = json_is_true(json_object_get(doc, "locked")) && json_object_size(doc) == 1;
	json_decref(doc);
	if (!locked)
		return false;
	r->db_ms = reply->db_ms;
	nx_reply_error_code(r, 403, "NX403", "agent not allowed");
	return true;
}

static struct bufferevent *
agent_bufferevent(struct event_base *base, void *arg)
{
	AgentListener *al = arg;
	Server	   *srv = al->srv;

	/* accepting starts only with the first certificate: ctx is set */
	return nx_conn_open(base, srv, al->ctx, &srv->agent_connections,
						srv->cfg->agent_max_connections);
}

static void
on_request(struct evhttp_request *req, void *arg)
{
	AgentListener *al = arg;
	const struct evhttp_uri *parsed;
	Request    *r = nx_server_request_begin(al->srv, req, &parsed);
	const char *path;
	char		fingerprint[65];
	bool		verified;

	if (r == NULL)
		return;
	path = evhttp_uri_get_path(parsed);
	switch (nx_route_match_in(nx_agent_routes, nx_agent_route_count, r->method, path,
							  &r->match))
	{
		case NX_MATCH_OK:
			break;
		case NX_MATCH_NOT_FOUND:
			nx_reply_error(r, 404, "no such route on the agent listener");
			return;
		case NX_MATCH_BAD_METHOD:
			evhttp_add_header(evhttp_request_get_output_headers(req), "Allow", r->match.allow);
			nx_reply_error(r, 405, "this route does not take that method");
			return;
		case NX_MATCH_BAD_PATH:
			nx_reply_error(r, 400, "the path is malformed or too long");
			return;
	}
	verified = nx_agent_tls_peer(req, fingerprint);
	if ((r->match.route->flags & NX_ROUTE_AGENT) && !verified)
	{
		nx_reply_error(r, 401, "this route needs the agent's client certificate, "
					   "issued by the agent CA at enrollment");
		return;
	}
	if (r->match.route->kind == NX_KIND_AGENT_POLL)
		nx_agent_poll(al->polls, r, evhttp_uri_get_query(parsed), fingerprint);
	else
		nx_server_serve_sql(r, evhttp_uri_get_query(parsed), verified ? fingerprint : NULL);
}

/* ---------- start and stop ---------- */

/* A listening socket for host:port, not accepting yet; NULL on failure. */
static struct evconnlistener *
bind_disabled(struct event_base *base, const char *host, int port)
{
	struct evutil_addrinfo hints = {
		.ai_family = AF_UNSPEC,
		.ai_socktype = SOCK_STREAM,
		.ai_protocol = IPPROTO_TCP,
		.ai_flags = EVUTIL_AI_PASSIVE,
	};
	struct evutil_addrinfo *ai = NULL;
	struct evconnlistener *lev = NULL;
	char		service[8];

	snprintf(service, sizeof(service), "%d", port);
	if (evutil_getaddrinfo(host, service, &hints, &ai) != 0 || ai == NULL)
		return NULL;
	lev = evconnlistener_new_bind(base, NULL, NULL,
								  LEV_OPT_CLOSE_ON_FREE | LEV_OPT_REUSEABLE |
								  LEV_OPT_CLOSE_ON_EXEC | LEV_OPT_DISABLED,
								  -1, ai->ai_addr, (int) ai->ai_addrlen);
	evutil_freeaddrinfo(ai);
	return lev;
}

AgentListener *
nx_agent_listener_new(Server *srv)
{
	const Config *cfg = srv->cfg;
	AgentListener *al = calloc(1, sizeof(AgentListener));
	struct evconnlistener *lev;

	if (al == NULL)
		return NULL;
	al->srv = srv;
	al->names = names_json(cfg);
	al->http = evhttp_new(srv->base);
	al->timer = evtimer_new(srv->base, on_timer, al);
	al->polls = nx_agent_polls_new(srv);
	if (al->names == NULL || al->http == NULL || al->timer == NULL || al->polls == NULL)
	{
		nx_log("error", "agent listener: out of memory");
		nx_agent_listener_free(al);
		return NULL;
	}
	evhttp_set_bevcb(al->http, agent_bufferevent, al);
	evhttp_set_gencb(al->http, on_request, al);
	evhttp_set_max_body_size(al->http, NX_AGENT_MAX_BODY);
	evhttp_set_flags(al->http, EVHTTP_SERVER_LINGERING_CLOSE);	/* as server.c says */
	evhttp_set_max_headers_size(al->http, cfg->max_headers);
	evhttp_set_timeout(al->http, cfg->timeout_s);
	evhttp_set_allowed_methods(al->http, EVHTTP_REQ_GET | EVHTTP_REQ_POST | EVHTTP_REQ_PUT |
							   EVHTTP_REQ_PATCH | EVHTTP_REQ_DELETE | EVHTTP_REQ_HEAD |
							   EVHTTP_REQ_OPTIONS | EVHTTP_REQ_TRACE | EVHTTP_REQ_CONNECT);
	lev = bind_disabled(srv->base, cfg->agent_host, cfg->agent_port);
	al->bound = lev ? evhttp_bind_listener(al->http, lev) : NULL;
	if (al->bound == NULL)
	{
		if (lev)
			evconnlistener_free(lev);
		nx_log("error", "cannot listen for agents on %s:%d", cfg->agent_host, cfg->agent_port);
		nx_agent_listener_free(al);
		return NULL;
	}
	issue(al);
	return al;
}

void
nx_agent_listener_drain(AgentListener *al)
{
	if (al == NULL)
		return;
	nx_log("info", "agent listener: answering %zu held polls", nx_agent_polls_held(al->polls));
	if (al->bound)
		evhttp_del_accept_socket(al->http, al->bound);
	al->bound = NULL;
	evtimer_del(al->timer);
	nx_agent_polls_drain(al->polls);
}

void
nx_agent_listener_free(AgentListener *al)
{
	if (al == NULL)
		return;
	nx_agent_polls_free(al->polls);
	if (al->http)
		evhttp_free(al->http);
	if (al->timer)
		event_free(al->timer);
	EVP_PKEY_free(al->key);
	SSL_CTX_free(al->ctx);
	free(al->names);
	free(al);
}
