/*
 * state.c -- each command's reports, kept in STATE_DIR/done/<id>.json
 * ({"id", "reports": [...], "sent": n}) before any is sent, so a report
 * survives the shim being away and an agent restart, and a command polled
 * twice is answered from here instead of running again.  STATE_DIR/outbox/
 * holds an empty file per command with reports not yet sent; they go in
 * order, oldest first.
 */
#include "agent.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

char *
nx_state_path(NxAgent *a, const char *sub, const char *name)
{
	char *p = NULL;

	if (asprintf(&p, "%s/%s%s%s", a->conf.state_dir, sub, name ? "/" : "", name ? name : "") < 0)
		return NULL;
	return p;
}

/* STATE_DIR/sub/<id>.json: a command's record in done/ or pending/ (malloc'd). */
char *
nx_state_record(NxAgent *a, const char *sub, const char *id)
{
	char name[64];

	snprintf(name, sizeof(name), "%s.json", id);
	return nx_state_path(a, sub, name);
}

bool
nx_state_record_exists(NxAgent *a, const char *sub, const char *id)
{
	char *p = nx_state_record(a, sub, id);
	bool rc = p && access(p, F_OK) == 0;

	free(p);
	return rc;
}

bool
nx_done_exists(NxAgent *a, const char *id)
{
	return nx_state_record_exists(a, "done", id);
}

/* Send the unsent reports of one command: 0 when all went, -1 when the shim could not take them. */
static int
flush_one(NxAgent *a, const char *id)
{
	char *p = nx_state_record(a, "done", id);
	char *mark = nx_state_path(a, "outbox", id);
	json_t *d = p ? nx_read_json(p) : NULL;
	json_t *reports = json_object_get(d, "reports");
	size_t sent = (size_t) json_integer_value(json_object_get(d, "sent"));
	int rc = 0;

	while (d != NULL && sent < json_array_size(reports))
	{
		char path[128];
		long st;

		snprintf(path, sizeof(path), "/v1/agent/commands/%s/result", id);
		st = nx_http(a, "POST", path, json_array_get(reports, sent), 30, true, true, NULL);
		if (st == NX_HTTP_NET || st >= 500 || st == 403 || st == 401 || st == 429)
		{
			rc = -1;
			break;
		}
		if (st >= 300)
			nx_log(NX_LOG_WARN, "command %s: the shim answered %ld to the %s report; dropped", id,
				   st, json_string_value(json_object_get(json_array_get(reports, sent), "state")));
		sent++;
		json_object_set_new(d, "sent", json_integer((json_int_t) sent));
		nx_write_json(p, d);
	}
	if (rc == 0 && mark != NULL)
		unlink(mark);
	json_decref(d);
	free(p);
	free(mark);
	return rc;
}

int
nx_done_add(NxAgent *a, const char *id, json_t *report)
{
	char *p = nx_state_record(a, "done", id);
	char *mark = nx_state_path(a, "outbox", id);
	json_t *d = p ? nx_read_json(p) : NULL;
	int rc = -1;

	if (d == NULL)
		d = json_pack("{s:s, s:[], s:i}", "id", id, "reports", "sent", 0);
	json_array_append_new(json_object_get(d, "reports"), report);
	json_object_set_new(d, "at", json_integer((json_int_t) time(NULL)));
	if (p != NULL && mark != NULL && nx_write_durable(mark, "", 0, 0600) == 0 &&
		nx_write_json(p, d) == 0)
		rc = 0;
	else
		nx_log(NX_LOG_ERROR, "command %s: the report cannot be stored: %m", id);
	nx_log(NX_LOG_INFO, "command %s: %s", id, json_string_value(json_object_get(report, "state")));
	json_decref(d);
	free(p);
	free(mark);
	if (rc == 0 && !a->offline)
		flush_one(a, id);
	return rc;
}

/* A command polled again after it finished: send what is unsent, or the last report again. */
void
nx_done_resend_last(NxAgent *a, const char *id)
{
	char *p = nx_state_record(a, "done", id);
	json_t *d = p ? nx_read_json(p) : NULL;
	json_t *reports = json_object_get(d, "reports");
	size_t n = json_array_size(reports);

	if (d != NULL && (size_t) json_integer_value(json_object_get(d, "sent")) < n)
		flush_one(a, id);
	else if (n > 0)
	{
		char path[128];

		snprintf(path, sizeof(path), "/v1/agent/commands/%s/result", id);
		nx_http(a, "POST", path, json_array_get(reports, n - 1), 30, true, true, NULL);
	}
	json_decref(d);
	free(p);
}

int
nx_done_flush(NxAgent *a)
{
	char *dir = nx_state_path(a, "outbox", NULL);
	DIR *d = dir ? opendir(dir) : NULL;
	struct dirent *e;
	int rc = 0;

	while (d != NULL && (e = readdir(d)) != NULL)
		if (nx_uuid_ok(e->d_name) && flush_one(a, e->d_name) != 0)
		{
			rc = -1;
			break;
		}
	if (d != NULL)
		closedir(d);
	free(dir);
	return rc;
}

/* Reports and backups of commands finished more than 7 days ago. */
void
nx_done_prune(NxAgent *a, time_t now)
{
	char *dir = nx_state_path(a, "done", NULL);
	DIR *d = dir ? opendir(dir) : NULL;
	struct dirent *e;

	while (d != NULL && (e = readdir(d)) != NULL)
	{
		char id[37];
		char *p, *b, *mark;
		struct stat st;

		if (strlen(e->d_name) != 41 || strcmp(e->d_name + 36, ".json") != 0)
			continue;
		memcpy(id, e->d_name, 36);
		id[36] = '\0';
		p = nx_state_path(a, "done", e->d_name);
		b = nx_state_path(a, "backups", id);
		mark = nx_state_path(a, "outbox", id);
		if (p && b && mark && stat(p, &st) == 0 && st.st_mtime + NX_AGENT_DONE_KEEP_S < now &&
			access(mark, F_OK) != 0 && !nx_pending_exists(a, id))
		{
			unlink(b);
			unlink(p);
		}
		free(p);
		free(b);
		free(mark);
	}
	if (d != NULL)
		closedir(d);
	free(dir);
}
