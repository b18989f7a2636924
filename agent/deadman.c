/*
 * deadman.c -- the dead-man revert (docs/agent.md).  Before a risky change
 * touches anything, what undoes it and its deadline are written to
 * STATE_DIR/pending/<id>.json and fsynced; the change is applied and
 * checked and reported "applied"; a confirmation in a later poll deletes
 * the pending file ("confirmed"); otherwise nx_pending_tick undoes it at
 * the deadline ("reverted", sent when the shim is reachable again).  The
 * pending directory is read on every tick, so an agent restarted inside
 * the window reverts on time, and one restarted after it reverts at once.
 * Also here: the one place that runs a polled command (nx_handle_command).
 */
#include "agent.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

bool
nx_pending_exists(NxAgent *a, const char *id)
{
	return nx_state_record_exists(a, "pending", id);
}

static void
iso8601(time_t t, char *buf, size_t size)
{
	struct tm tm;

	gmtime_r(&t, &tm);
	strftime(buf, size, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

bool
nx_command_is_deadman(NxAgent *a, const NxCommand *c, int *window_s)
{
	*window_s = 0;
	if (c->confirm_within_s > 0)
		*window_s = c->confirm_within_s;
	else if (strcmp(c->def->name, "file.write") == 0 &&
			 nx_config_risky(&a->conf, nx_param(c, "path")))
		*window_s = NX_AGENT_DEFAULT_CONFIRM_S;
	return *window_s > 0;
}

int
nx_pending_arm(NxAgent *a, const NxCommand *c, json_t *undo, time_t deadline)
{
	char *p = nx_state_record(a, "pending", c->id);
	json_t *obj = json_pack("{s:s, s:s, s:O, s:I}", "id", c->id, "command", c->def->name, "undo",
							undo, "deadline", (json_int_t) deadline);
	int rc = p && obj ? nx_write_json(p, obj) : -1;

	json_decref(obj);
	free(p);
	return rc;
}

static int
pending_drop(NxAgent *a, const char *id)
{
	char *p = nx_state_record(a, "pending", id);
	char *dir = nx_state_path(a, "pending", NULL);
	int rc = p && dir && unlink(p) == 0 ? nx_fsync_dir(dir) : -1;

	free(p);
	free(dir);
	return rc;
}

int
nx_pending_confirm(NxAgent *a, const char *id)
{
	if (!nx_uuid_ok(id))
		return -1;
	if (!nx_pending_exists(a, id))
	{
		/* confirmed before, or reverted already: say so again */
		if (nx_done_exists(a, id))
			nx_done_resend_last(a, id);
		return 0;
	}
	if (pending_drop(a, id) != 0)
	{
		nx_log(NX_LOG_ERROR, "command %s: the pending revert cannot be removed: %m", id);
		return -1;
	}
	return nx_done_add(a, id, json_pack("{s:s}", "state", "confirmed"));
}

/* Revert every pending change whose deadline has passed; *next_deadline is the earliest left. */
int
nx_pending_tick(NxAgent *a, time_t now, time_t *next_deadline)
{
	char *dir = nx_state_path(a, "pending", NULL);
	DIR *d = dir ? opendir(dir) : NULL;
	struct dirent *e;
	int reverted = 0;

	if (next_deadline != NULL)
		*next_deadline = 0;
	while (d != NULL && (e = readdir(d)) != NULL)
	{
		char id[37];
		char *p;
		json_t *obj;
		time_t deadline;
		char err[512] = "";

		if (strlen(e->d_name) != 41 || strcmp(e->d_name + 36, ".json") != 0)
			continue;
		memcpy(id, e->d_name, 36);
		id[36] = '\0';
		if (!nx_uuid_ok(id))
			continue;
		p = nx_state_path(a, "pending", e->d_name);
		obj = p ? nx_read_json(p) : NULL;
		free(p);
		if (obj == NULL)
		{
			nx_log(NX_LOG_ERROR, "command %s: the pending revert cannot be read", id);
			continue;
		}
		deadline = (time_t) json_integer_value(json_object_get(obj, "deadline"));
		if (deadline > now)
		{
			if (next_deadline != NULL && (*next_deadline == 0 || deadline < *next_deadline))
				*next_deadline = deadline;
			json_decref(obj);
			continue;
		}
		if (nx_host_undo(a, json_object_get(obj, "undo"), err, sizeof(err)) == 0)
		{
			nx_log(NX_LOG_WARN, "command %s: no confirmation came; reverted", id);
			pending_drop(a, id);
			/*
			 * No applied report stored: the agent stopped between arming and
			 * its check, so the control plane never heard of the change, and
			 * now nothing is left changed -- that is a failure, not a revert.
			 */
			if (nx_done_exists(a, id))
				nx_done_add(a, id,
							json_pack("{s:s, s:s}", "state", "reverted", "error",
									  "no confirmation came before the deadline; the change "
									  "was reverted"));
			else
				nx_done_add(a, id,
							json_pack("{s:s, s:s}", "state", "failed", "error",
									  "the agent stopped while applying the change; it undid it "
									  "at its deadline, and nothing is left changed"));
			reverted++;
		}
		else
		{
			char msg[700];

			nx_log(NX_LOG_ERROR, "command %s: the revert failed: %s", id, err);
			snprintf(msg, sizeof(msg),
					 "no confirmation came before the deadline, and the revert failed: %s", err);
			pending_drop(a, id);
			nx_done_add(a, id, json_pack("{s:s, s:o}", "state", "failed", "error",
										 nx_json_text(msg, strlen(msg))));
		}
		json_decref(obj);
	}
	if (d != NULL)
		closedir(d);
	free(dir);
	return reverted;
}

static void
run_deadman(NxAgent *a, const NxCommand *c, int window)
{
	char err[512] = "", what[300] = "", at[32];
	const char *state = NULL;
	json_t *undo = nx_host_prepare_undo(a, c, err, sizeof(err), &state);
	json_t *r, *applied;
	time_t deadline = time(NULL) + window;
	char *fail;

	if (undo == NULL)
	{
		nx_done_add(a, c->id, json_pack("{s:s, s:o}", "state", state ? state : "failed", "error",
										nx_json_text(err, strlen(err))));
		return;
	}
	/* 1. the pending revert reaches the disk before anything changes */
	if (nx_pending_arm(a, c, undo, deadline) != 0)
	{
		json_decref(undo);
		nx_done_add(a, c->id,
					json_pack("{s:s, s:s}", "state", "failed", "error",
							  "the pending revert cannot be written; nothing was changed"));
		return;
	}
	/* 2. apply, and the change's own check */
	r = nx_host_run_with(a, c, undo);
	if (strcmp(json_string_value(json_object_get(r, "state")), "succeeded") != 0)
	{
		pending_drop(a, c->id);
		json_decref(undo);
		nx_done_add(a, c->id, r);
		return;
	}
	fail = nx_host_check(a, c, what, sizeof(what));
	if (fail != NULL)
	{
		char msg[900];
		int undone = nx_host_undo(a, undo, err, sizeof(err));

		snprintf(msg, sizeof(msg), "%s; %s%s", fail,
				 undone == 0 ? "the change was reverted" : "the revert failed too: ",
				 undone == 0 ? "" : err);
		free(fail);
		pending_drop(a, c->id);
		json_decref(undo);
		json_decref(r);
		nx_done_add(a, c->id, json_pack("{s:s, s:o}", "state", "failed", "error",
										nx_json_text(msg, strlen(msg))));
		return;
	}
	/* 3. applied, awaiting confirmation */
	iso8601(deadline, at, sizeof(at));
	applied = json_pack("{s:s, s:s, s:s}", "state", "applied", "check", what, "revert_at", at);
	if (json_object_get(r, "output") != NULL)
		json_object_set(applied, "output", json_object_get(r, "output"));
	json_decref(r);
	json_decref(undo);
	nx_done_add(a, c->id, applied);
}

/* One polled command, run at most once: a repeat is answered from the stored reports. */
void
nx_handle_command(NxAgent *a, const NxCommand *c)
{
	int window;

	if (nx_done_exists(a, c->id))
	{
		nx_done_resend_last(a, c->id);
		return;
	}
	nx_log(NX_LOG_INFO, "command %s: %s", c->id, c->def->name);
	if (nx_command_is_deadman(a, c, &window))
		run_deadman(a, c, window);
	else
		nx_done_add(a, c->id, nx_host_run(a, c));
}
