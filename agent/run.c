/*
 * run.c -- the service: poll, run, report, heartbeat, renew, and tick the
 * dead-man clock, in one loop on one thread.  A poll is held by the shim
 * for at most poll_wait seconds and never past the next dead-man deadline,
 * so a revert is on time to within a second even while the shim is away.
 */
#include "agent.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <curl/curl.h>

static void
on_signal(int sig)
{
	(void) sig;
	nx_stop = 1;
}

/* Sleep up to s seconds, waking for a stop. */
static void
nap(int s)
{
	for (int i = 0; i < s * 10 && !nx_stop; i++)
		usleep(100000);
}

static int
load_identity(NxAgent *a, char *err, size_t errlen)
{
	json_t *meta = nx_read_json(a->path_json);
	const char *id = json_string_value(json_object_get(meta, "agent_id"));
	const char *url = json_string_value(json_object_get(meta, "url"));

	if (meta == NULL || !nx_uuid_ok(id))
	{
		snprintf(err, errlen, "%s is missing or damaged: enroll first", a->path_json);
		json_decref(meta);
		return -1;
	}
	memcpy(a->agent_id, id, 37);
	a->generation = (int) json_integer_value(json_object_get(meta, "generation"));
	snprintf(a->url, sizeof(a->url), "%s", a->conf.url[0] ? a->conf.url : (url ? url : ""));
	json_decref(meta);
	if (strncmp(a->url, "https://", 8) != 0)
	{
		snprintf(err, errlen, "url must be https://");
		return -1;
	}
	if (access(a->path_key, R_OK) != 0 || access(a->path_ca, R_OK) != 0 ||
		nx_cert_times(a->path_cert, &a->not_before, &a->not_after) != 0)
	{
		snprintf(err, errlen, "key.pem, cert.pem or ca.pem of %s is missing", a->conf.state_dir);
		return -1;
	}
	return 0;
}

static void
handle_poll(NxAgent *a, json_t *ans)
{
	json_t *v;
	size_t i;

	json_array_foreach(json_object_get(ans, "confirm"), i, v)
	{
		if (json_is_string(v))
			nx_pending_confirm(a, json_string_value(v));
	}
	json_array_foreach(json_object_get(ans, "commands"), i, v)
	{
		NxCommand c;
		char err[512];

		switch (nx_command_parse(v, &c, err, sizeof(err)))
		{
			case NX_PARSE_OK:
				nx_handle_command(a, &c);
				nx_command_free(&c);
				break;
			case NX_PARSE_REFUSED:
				nx_log(NX_LOG_WARN, "command %s refused: %s", c.id, err);
				if (!nx_done_exists(a, c.id))
					nx_done_add(a, c.id,
								json_pack("{s:s, s:o}", "state", "refused", "error",
										  nx_json_text(err, strlen(err))));
				else
					nx_done_resend_last(a, c.id);
				break;
			case NX_PARSE_MALFORMED:
				nx_log(NX_LOG_WARN, "a polled command was dropped: %s", err);
				break;
		}
	}
}

/* The service's setup: configuration, identity, the state directories. */
static int
agent_open(NxAgent *a, const char *config_path)
{
	char err[1024];
	static const char *const subs[] = {"pending", "done", "backups", "outbox", NULL};

	nx_config_defaults(&a->conf);
	if (nx_config_load(&a->conf, config_path, err, sizeof(err)) != 0)
	{
		fprintf(stderr, "nexplane-agent: %s: %s\n", config_path, err);
		return -1;
	}
	nx_agent_paths(a);
	if (load_identity(a, err, sizeof(err)) != 0)
	{
		fprintf(stderr, "nexplane-agent: %s\n", err);
		return -1;
	}
	for (int i = 0; subs[i]; i++)
	{
		char *d = nx_state_path(a, subs[i], NULL);

		if (d == NULL || nx_mkdir_private(d) != 0)
		{
			fprintf(stderr, "nexplane-agent: %s/%s cannot be used\n", a->conf.state_dir, subs[i]);
			free(d);
			return -1;
		}
		free(d);
	}
	return 0;
}

/* nexplane-agent renew: renew the certificate now (the service picks the new one up). */
int
nx_renew_now(const char *config_path)
{
	NxAgent a = {0};
	int rc = 2;

	if (agent_open(&a, config_path) == 0)
	{
		rc = nx_renew(&a) == 0 ? 0 : 1;
		if (rc == 0)
			printf("renewed: agent %s, generation %d\n", a.agent_id, a.generation);
		else
			fprintf(stderr, "nexplane-agent: renewal failed (see the log line above)\n");
	}
	nx_config_free(&a.conf);
	return rc;
}

int
nx_run(const char *config_path, bool once)
{
	NxAgent a = {0};
	time_t last_heartbeat = 0, last_prune = 0, last_renew_try = 0;
	int backoff = 1;
	struct sigaction sa = {.sa_handler = on_signal};

	if (agent_open(&a, config_path) != 0)
	{
		nx_config_free(&a.conf);
		return 2;
	}
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
	nx_log(NX_LOG_INFO, "agent %s (generation %d) starting; shim %s", a.agent_id, a.generation,
		   a.url);
	/* overdue reverts first: an agent restarted after the window reverts at once */
	nx_pending_tick(&a, time(NULL), NULL);
	while (!nx_stop)
	{
		time_t now = time(NULL), next_deadline = 0;
		json_t *ans = NULL;
		long st;
		int wait;
		char path[64];

		nx_pending_tick(&a, now, &next_deadline);
		if (now - last_prune > 3600)
		{
			nx_done_prune(&a, now);
			last_prune = now;
		}
		if (nx_done_flush(&a) != 0 && a.offline)
			goto unreachable;
		if (now - last_heartbeat >= a.conf.heartbeat_s)
		{
			json_t *hb = json_pack("{s:o}", "facts", nx_host_facts());

			st = nx_http(&a, "POST", "/v1/agent/heartbeat", hb, 30, true, true, NULL);
			json_decref(hb);
			if (st == NX_HTTP_NET)
				goto unreachable;
			last_heartbeat = now;
		}
		/* renew when a third of the certificate's life is left (retry hourly) */
		if (a.not_after > a.not_before && now > a.not_after - (a.not_after - a.not_before) / 3 &&
			now - last_renew_try > 3600)
		{
			last_renew_try = now;
			nx_renew(&a);
		}
		wait = a.conf.poll_wait;
		if (next_deadline > 0 && next_deadline - now < wait)
			wait = next_deadline - now > 1 ? (int) (next_deadline - now) : 1;
		snprintf(path, sizeof(path), "/v1/agent/commands?wait=%d", wait);
		st = nx_http(&a, "GET", path, NULL, wait + 15, true, true, &ans);
		if (st == 200)
		{
			backoff = 1;
			handle_poll(&a, ans);
			json_decref(ans);
			if (once)
				break;
			continue;
		}
		json_decref(ans);
		if (st == 403)
		{
			/* revoked or locked: keep the dead-man clock running, ask rarely */
			nx_log(NX_LOG_ERROR, "the shim refuses this agent (403): revoked or locked?");
			nap(next_deadline > 0 && next_deadline - now < 60 ? (int) (next_deadline - now) + 1 : 60);
			continue;
		}
		if (st != NX_HTTP_NET)
			nx_log(NX_LOG_WARN, "poll: the shim answered %ld", st);
unreachable:
		if (once)
			break;
		{
			int s = backoff;

			now = time(NULL);
			nx_pending_tick(&a, now, &next_deadline);
			if (next_deadline > 0 && next_deadline - now + 1 < s)
				s = (int) (next_deadline - now) + 1;
			nap(s < 1 ? 1 : s);
			backoff = backoff < 16 ? backoff * 2 : 30;
		}
	}
	nx_log(NX_LOG_INFO, "agent stopping");
	nx_config_free(&a.conf);
	return 0;
}
