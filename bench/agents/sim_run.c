/*
 * sim_run.c -- agentsim run [options]: loads the keys and the
 * certificates agent_enroll issued for them (COPY TO output: "index TAB
 * agent_id TAB pem"), connects every agent to the agent listener
 * (verifying the server against the agent CA and its address), and has
 * each one long-poll GET /v1/agent/commands?wait=S; a command received is
 * written to --out with its receipt time, reported succeeded
 * (POST /v1/agent/commands/{id}/result), and the agent polls again.  A
 * status line (counters) is rewritten every second in --status.
 *
 * HTTP is libevent's evhttp client over an OpenSSL bufferevent; bodies
 * are parsed with jansson.  One request at a time per connection (evhttp
 * would reconnect a failed connection for queued requests, with a TLS
 * object that cannot be reused); a connection that fails is freed and
 * made again, with a new TLS object, a second later.
 */
#define _GNU_SOURCE
#include "sim.h"

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <getopt.h>
#include <jansson.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/time.h>

#define MAX_LINE (64 * 1024)

static char *
unescape(const char *s)
{
	size_t		n = strlen(s);
	char	   *out = malloc(n + 1),
			   *o = out;

	if (out == NULL)
		die("out of memory");
	for (size_t i = 0; i < n; i++)
	{
		if (s[i] == '\\' && s[i + 1] == 'n')
		{
			*o++ = '\n';
			i++;
		}
		else
			*o++ = s[i];
	}
	*o = '\0';
	return out;
}

static void
raise_nofile(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max)
	{
		rl.rlim_cur = rl.rlim_max;
		(void) setrlimit(RLIMIT_NOFILE, &rl);
	}
}

typedef enum
{
	A_IDLE,						/* not started yet */
	A_POLL,						/* a poll is out */
	A_REPORT,					/* posting the reports of what a poll brought */
	A_WAIT,						/* waiting to retry or reconnect */
	A_DEAD						/* refused (403): stays out */
} AgentState;

typedef struct Sim Sim;

typedef struct Agent
{
	Sim		   *sim;
	int			idx;
	char		id[37];
	X509	   *cert;
	EVP_PKEY   *key;
	struct evhttp_connection *conn;
	struct event *retry;
	AgentState	state;
	bool		handshaked;		/* this connection's TLS handshake is done */
	bool		reconnect;		/* the retry timer remakes the connection */
	json_t	   *todo;			/* commands of the last answer still to report */
	size_t		next;
} Agent;

typedef struct Stats
{
	long		started;
	long		handshakes;		/* TLS handshakes completed (all connections) */
	long		conn_errors;
	long		answers_empty;	/* polls answered with nothing (wait expired) */
	long		answers_cmds;	/* polls answered with commands */
	long		commands;		/* commands received (repeats included) */
	long		reports_ok;
	long		reports_err;
	long		http_errors;	/* other status codes */
	long		refused;		/* 403: the agent is out */
} Stats;

struct Sim
{
	struct event_base *base;
	SSL_CTX    *ctx;
	const char *host;
	int			port;
	int			wait;
	int			n;
	Agent	   *agents;
	FILE	   *out;
	const char *status_path;
	int			connect_rate;	/* new connections a second */
	int			max_handshakes; /* at once */
	int			next_start;
	int			handshaking;	/* connections made whose handshake is not done */
	Stats		st;
	struct event *ramp;
	struct event *tick;
	int			ex_idx;
};

static void poll_agent(Agent *a);
static void report_next(Agent *a);


static void
on_info(const SSL *ssl, int where, int ret)
{
	if (where & SSL_CB_HANDSHAKE_DONE)
	{
		SSL_CTX    *ctx = SSL_get_SSL_CTX(ssl);
		Sim		   *s = SSL_CTX_get_app_data(ctx);
		Agent	   *a = SSL_get_ex_data(ssl, s->ex_idx);

		if (a != NULL && !a->handshaked)
		{
			a->handshaked = true;
			s->st.handshakes++;
			s->handshaking--;
		}
	}
}

static bool
agent_connect(Agent *a)
{
	Sim		   *s = a->sim;
	SSL		   *ssl = SSL_new(s->ctx);
	struct bufferevent *bev;

	if (ssl == NULL || SSL_use_certificate(ssl, a->cert) != 1 ||
		SSL_use_PrivateKey(ssl, a->key) != 1)
		die("cannot set up an agent's TLS");
	if (X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), s->host) != 1 &&
		SSL_set1_host(ssl, s->host) != 1)
		die("cannot set the server name to verify");
	SSL_set_ex_data(ssl, s->ex_idx, a);
	bev = bufferevent_openssl_socket_new(s->base, -1, ssl, BUFFEREVENT_SSL_CONNECTING,
										 BEV_OPT_CLOSE_ON_FREE | BEV_OPT_DEFER_CALLBACKS);
	if (bev == NULL)
		die("cannot make a TLS bufferevent");
	bufferevent_openssl_set_allow_dirty_shutdown(bev, 1);
	a->conn = evhttp_connection_base_bufferevent_new(s->base, NULL, bev, s->host,
													 (ev_uint16_t) s->port);
	if (a->conn == NULL)
		die("cannot make an HTTP connection");
	evhttp_connection_set_timeout(a->conn, s->wait + 30);
	evhttp_connection_set_retries(a->conn, 0);
	a->handshaked = false;
	s->handshaking++;
	return true;
}

static void
later(Agent *a, bool reconnect)
{
	struct timeval tv = {1, (suseconds_t) (random() % 500000)};

	a->state = A_WAIT;
	a->reconnect = a->reconnect || reconnect;
	evtimer_add(a->retry, &tv);
}

static void
on_retry(evutil_socket_t fd, short what, void *arg)
{
	Agent	   *a = arg;

	if (a->reconnect)
	{
		if (a->conn)
			evhttp_connection_free(a->conn);
		if (a->conn && !a->handshaked)
			a->sim->handshaking--;
		a->conn = NULL;
		a->reconnect = false;
		agent_connect(a);
	}
	if (a->todo)
		report_next(a);
	else
		poll_agent(a);
}

static struct evhttp_request *
new_request(Agent *a, void (*cb) (struct evhttp_request *, void *))
{
	struct evhttp_request *req = evhttp_request_new(cb, a);
	struct evkeyvalq *h = evhttp_request_get_output_headers(req);

	evhttp_add_header(h, "Host", a->sim->host);
	evhttp_add_header(h, "Accept", "application/json");
	return req;
}

/* a failed exchange: count it, and try again later on a new connection */
static bool
failed(Agent *a, struct evhttp_request *req)
{
	int			code = req ? evhttp_request_get_response_code(req) : 0;

	if (code == 0)
	{
		a->sim->st.conn_errors++;
		later(a, true);
		return true;
	}
	if (code == 403)
	{
		a->sim->st.refused++;
		a->state = A_DEAD;
		return true;
	}
	return false;
}

static void
report_done(struct evhttp_request *req, void *arg)
{
	Agent	   *a = arg;
	int			code;

	if (failed(a, req))
		return;
	code = evhttp_request_get_response_code(req);
	if (code == 200 || code == 201)
		a->sim->st.reports_ok++;
	else
	{
		/* a refused report is not retried: the command stays sent and comes back */
		a->sim->st.reports_err++;
		if (a->sim->st.reports_err <= 5)
		{
			struct evbuffer *in = evhttp_request_get_input_buffer(req);
			size_t		n = evbuffer_get_length(in);

			fprintf(stderr, "agentsim: report answered %d: %.*s\n", code,
					(int) (n > 300 ? 300 : n), (char *) evbuffer_pullup(in, -1));
		}
	}
	a->next++;
	report_next(a);
}

static void
report_next(Agent *a)
{
	json_t	   *cmd;
	const char *id;
	char		path[128];
	struct evhttp_request *req;
	static const char body[] = "{\"state\": \"succeeded\", \"output\": {\"bench\": true}}";

	a->state = A_REPORT;
	while ((cmd = json_array_get(a->todo, a->next)) != NULL &&
		   (id = json_string_value(json_object_get(cmd, "id"))) == NULL)
		a->next++;
	if (cmd == NULL)
	{
		json_decref(a->todo);
		a->todo = NULL;
		poll_agent(a);
		return;
	}
	snprintf(path, sizeof(path), "/v1/agent/commands/%.40s/result", id);
	req = new_request(a, report_done);
	evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type", "application/json");
	evbuffer_add(evhttp_request_get_output_buffer(req), body, sizeof(body) - 1);
	if (evhttp_make_request(a->conn, req, EVHTTP_REQ_POST, path) != 0)
	{
		a->sim->st.conn_errors++;
		later(a, true);
	}
}

static void
poll_done(struct evhttp_request *req, void *arg)
{
	Agent	   *a = arg;
	Sim		   *s = a->sim;
	long long	t = now_us();
	struct evbuffer *in;
	json_t	   *body,
			   *cmds;
	json_error_t err;
	size_t		n;

	if (failed(a, req))
		return;
	if (evhttp_request_get_response_code(req) != 200)
	{
		s->st.http_errors++;
		later(a, false);
		return;
	}
	in = evhttp_request_get_input_buffer(req);
	n = evbuffer_get_length(in);
	body = json_loadb((const char *) evbuffer_pullup(in, -1), n, 0, &err);
	cmds = json_object_get(body, "commands");
	if (!json_is_array(cmds))
	{
		s->st.http_errors++;
		json_decref(body);
		later(a, false);
		return;
	}
	if (json_array_size(cmds) == 0)
	{
		s->st.answers_empty++;
		json_decref(body);
		poll_agent(a);
		return;
	}
	s->st.answers_cmds++;
	for (size_t i = 0; i < json_array_size(cmds); i++)
	{
		const char *id = json_string_value(json_object_get(json_array_get(cmds, i), "id"));

		if (id)
		{
			fprintf(s->out, "%s\t%d\t%lld\n", id, a->idx, t);
			s->st.commands++;
		}
	}
	fflush(s->out);
	a->todo = json_incref(cmds);
	a->next = 0;
	json_decref(body);
	report_next(a);
}

static void
poll_agent(Agent *a)
{
	char		path[64];
	struct evhttp_request *req = new_request(a, poll_done);

	snprintf(path, sizeof(path), "/v1/agent/commands?wait=%d", a->sim->wait);
	a->state = A_POLL;
	if (evhttp_make_request(a->conn, req, EVHTTP_REQ_GET, path) != 0)
	{
		a->sim->st.conn_errors++;
		later(a, true);
	}
}

static void
on_ramp(evutil_socket_t fd, short what, void *arg)
{
	Sim		   *s = arg;
	int			room = s->max_handshakes - s->handshaking;
	int			k = s->connect_rate / 100 > 0 ? s->connect_rate / 100 : 1;

	for (; k > 0 && room > 0 && s->next_start < s->n; k--, room--)
	{
		Agent	   *a = &s->agents[s->next_start++];

		agent_connect(a);
		s->st.started++;
		poll_agent(a);
	}
	if (s->next_start >= s->n)
		event_del(s->ramp);
}

static long
rss_kib(void)
{
	FILE	   *f = fopen("/proc/self/status", "r");
	char		line[256];
	long		kib = -1;

	if (f == NULL)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "VmRSS: %ld", &kib) == 1)
			break;
	fclose(f);
	return kib;
}

static void
write_status(Sim *s)
{
	char		tmp[4200];
	FILE	   *f;
	int			polling = 0;

	for (int i = 0; i < s->next_start; i++)
		if (s->agents[i].state == A_POLL && s->agents[i].handshaked)
			polling++;
	snprintf(tmp, sizeof(tmp), "%s.tmp", s->status_path);
	if ((f = fopen(tmp, "w")) == NULL)
		return;
	fprintf(f, "started=%ld handshakes=%ld polling=%d answers_empty=%ld answers_cmds=%ld "
			"commands=%ld reports_ok=%ld reports_err=%ld http_errors=%ld conn_errors=%ld "
			"refused=%ld rss_kib=%ld\n",
			s->st.started, s->st.handshakes, polling, s->st.answers_empty, s->st.answers_cmds,
			s->st.commands, s->st.reports_ok, s->st.reports_err, s->st.http_errors,
			s->st.conn_errors, s->st.refused, rss_kib());
	fclose(f);
	rename(tmp, s->status_path);
}

static void
on_tick(evutil_socket_t fd, short what, void *arg)
{
	write_status(arg);
}

static void
on_signal(evutil_socket_t fd, short what, void *arg)
{
	event_base_loopexit(arg, NULL);
}

/* keys.tsv and certs.tsv into s->agents[] */
static void
load(Sim *s, const char *keys_path, const char *certs_path, int limit)
{
	FILE	   *kf = fopen(keys_path, "r"),
			   *cf = fopen(certs_path, "r");
	char	   *line = malloc(MAX_LINE);
	int			cap = 1024;

	if (kf == NULL || cf == NULL || line == NULL)
		die("cannot read the keys or the certificates");
	s->agents = calloc((size_t) cap, sizeof(Agent));
	s->n = 0;
	while ((limit <= 0 || s->n < limit) && fgets(line, MAX_LINE, cf))
	{
		char	   *idx = strtok(line, "\t\n"),
				   *id = strtok(NULL, "\t\n"),
				   *pem = strtok(NULL, "\t\n"),
				   *raw;
		BIO		   *b;
		Agent	   *a;

		if (idx == NULL || id == NULL || pem == NULL || strlen(id) != 36)
			die("bad line in the certificates file");
		if (s->n == cap)
		{
			cap *= 2;
			s->agents = realloc(s->agents, (size_t) cap * sizeof(Agent));
			if (s->agents == NULL)
				die("out of memory");
		}
		a = &s->agents[s->n];
		memset(a, 0, sizeof(*a));
		a->sim = s;
		a->idx = atoi(idx);
		memcpy(a->id, id, 37);
		raw = unescape(pem);
		b = BIO_new_mem_buf(raw, -1);
		if ((a->cert = PEM_read_bio_X509(b, NULL, NULL, NULL)) == NULL)
			die("bad certificate");
		BIO_free(b);
		free(raw);
		s->n++;
	}
	/* keys.tsv is in index order, certs.tsv too (ORDER BY the index) */
	for (int i = 0; i < s->n; i++)
	{
		char	   *idx,
				   *pem,
				   *raw;
		BIO		   *b;

		do
		{
			if (!fgets(line, MAX_LINE, kf))
				die("a certificate has no key");
			idx = strtok(line, "\t\n");
			pem = strtok(NULL, "\t\n");
		} while (idx == NULL || pem == NULL || atoi(idx) != s->agents[i].idx);
		raw = unescape(pem);
		b = BIO_new_mem_buf(raw, -1);
		if ((s->agents[i].key = PEM_read_bio_PrivateKey(b, NULL, NULL, NULL)) == NULL)
			die("bad key");
		if (X509_check_private_key(s->agents[i].cert, s->agents[i].key) != 1)
			die("a certificate does not match its key");
		BIO_free(b);
		free(raw);
	}
	free(line);
	fclose(kf);
	fclose(cf);
}

static void
usage_run(void)
{
	fprintf(stderr,
			"usage: agentsim run --host IP --port PORT --ca CA.pem --keys keys.tsv\n"
			"         --certs certs.tsv --out receipts.tsv --status FILE\n"
			"         [--wait S (30)] [--limit N] [--connect-rate N/s (1000)]\n"
			"         [--max-handshakes N (64)]\n");
	exit(2);
}

int
cmd_run(int argc, char **argv)
{
	static const struct option opts[] = {
		{"host", required_argument, NULL, 'h'},
		{"port", required_argument, NULL, 'p'},
		{"ca", required_argument, NULL, 'c'},
		{"keys", required_argument, NULL, 'k'},
		{"certs", required_argument, NULL, 'C'},
		{"out", required_argument, NULL, 'o'},
		{"status", required_argument, NULL, 's'},
		{"wait", required_argument, NULL, 'w'},
		{"limit", required_argument, NULL, 'l'},
		{"connect-rate", required_argument, NULL, 'r'},
		{"max-handshakes", required_argument, NULL, 'm'},
		{NULL, 0, NULL, 0}
	};
	Sim			s = {.host = "127.0.0.1", .wait = 30, .connect_rate = 1000, .max_handshakes = 64};
	const char *ca = NULL,
			   *keys = NULL,
			   *certs = NULL,
			   *out = NULL;
	int			limit = 0,
				c;
	struct timeval ramp_tv = {0, 10000},
				tick_tv = {1, 0};
	struct event *sigterm,
			   *sigint;

	while ((c = getopt_long(argc - 1, argv + 1, "", opts, NULL)) != -1)
	{
		switch (c)
		{
			case 'h': s.host = optarg; break;
			case 'p': s.port = atoi(optarg); break;
			case 'c': ca = optarg; break;
			case 'k': keys = optarg; break;
			case 'C': certs = optarg; break;
			case 'o': out = optarg; break;
			case 's': s.status_path = optarg; break;
			case 'w': s.wait = atoi(optarg); break;
			case 'l': limit = atoi(optarg); break;
			case 'r': s.connect_rate = atoi(optarg); break;
			case 'm': s.max_handshakes = atoi(optarg); break;
			default: usage_run();
		}
	}
	if (s.port <= 0 || ca == NULL || keys == NULL || certs == NULL || out == NULL ||
		s.status_path == NULL || s.connect_rate <= 0 || s.max_handshakes <= 0)
		usage_run();
	raise_nofile();
	signal(SIGPIPE, SIG_IGN);
	load(&s, keys, certs, limit);
	if ((s.out = fopen(out, "w")) == NULL)
		die("cannot write the receipts file");

	s.ctx = SSL_CTX_new(TLS_client_method());
	if (s.ctx == NULL || SSL_CTX_load_verify_locations(s.ctx, ca, NULL) != 1)
		die("cannot load the agent CA");
	SSL_CTX_set_min_proto_version(s.ctx, TLS1_2_VERSION);
	SSL_CTX_set_verify(s.ctx, SSL_VERIFY_PEER, NULL);
	/* the simulator's own memory: 10,000 idle connections need no buffers */
	SSL_CTX_set_mode(s.ctx, SSL_MODE_RELEASE_BUFFERS);
	SSL_CTX_set_info_callback(s.ctx, on_info);
	SSL_CTX_set_app_data(s.ctx, &s);
	s.ex_idx = SSL_get_ex_new_index(0, NULL, NULL, NULL, NULL);

	s.base = event_base_new();
	for (int i = 0; i < s.n; i++)
		s.agents[i].retry = evtimer_new(s.base, on_retry, &s.agents[i]);
	s.ramp = event_new(s.base, -1, EV_PERSIST, on_ramp, &s);
	s.tick = event_new(s.base, -1, EV_PERSIST, on_tick, &s);
	sigterm = evsignal_new(s.base, SIGTERM, on_signal, s.base);
	sigint = evsignal_new(s.base, SIGINT, on_signal, s.base);
	evsignal_add(sigterm, NULL);
	evsignal_add(sigint, NULL);
	event_add(s.ramp, &ramp_tv);
	event_add(s.tick, &tick_tv);
	write_status(&s);
	event_base_dispatch(s.base);

	write_status(&s);
	fclose(s.out);
	for (int i = 0; i < s.n; i++)
	{
		if (s.agents[i].conn)
			evhttp_connection_free(s.agents[i].conn);
		event_free(s.agents[i].retry);
		json_decref(s.agents[i].todo);
		X509_free(s.agents[i].cert);
		EVP_PKEY_free(s.agents[i].key);
	}
	free(s.agents);
	event_free(s.ramp);
	event_free(s.tick);
	event_free(sigterm);
	event_free(sigint);
	event_base_free(s.base);
	SSL_CTX_free(s.ctx);
	return 0;
}
