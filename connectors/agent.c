/*-------------------------------------------------------------------------
 *
 * agent.c
 *	  The agent connector: host changes made by an enrolled nexplane-agent,
 *	  as change requests, so they take the same risk, approvals, policies,
 *	  evidence and audit as every other change (docs/connectors/agent.md).
 *
 * Config {"agent_id"}.  Each change type maps to one allowlisted command
 * (agent/command_table.c, checked when the change request is made).  An
 * operation queues the command in a short transaction of its own (which
 * wakes the shim's held poll for that agent by NOTIFY) and then waits,
 * outside any transaction, for the agent's reports, reading the command's
 * row four times a second and extending the job's lease every few
 * seconds.  verify is the agent's report: succeeded, or for a dead-man
 * command confirmed (agent_poll confirms it only after the agent polled
 * again with its own check passed).
 *
 * user_set_password is a rotation: the engine makes the new password and
 * stores it as a pending version; only its yescrypt hash (libxcrypt)
 * travels to the agent.
 *
 *-------------------------------------------------------------------------
 */
#include "connector.h"

#include "jobs.h"
#include "spi_util.h"

#include "../agent/command_table.h"

#include "access/xact.h"
#include "common/base64.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "storage/latch.h"
#include "utils/memutils.h"
#include "utils/snapmgr.h"
#include "utils/wait_event.h"

#include <crypt.h>

/* How often the command's row is read while waiting, and the lease extended. */
#define NXA_POLL_MS		250
#define NXA_STEP_MS		5000
/* Beyond the command's timeout and window: time for the agent to poll. */
#define NXA_GRACE_S		120

static const NxField config_fields[] = {
	{"agent_id", NX_FIELD_STRING, true,
	"The id of the enrolled agent that makes the changes (agent_list())."},
	{.name = NULL}
};

static const NxField no_fields[] = {
	{.name = NULL}
};

#define NXA_CONFIRM {"confirm_within_s", NX_FIELD_INTEGER, false, \
	"Dead-man window in seconds (10 to 3600): the agent reverts unless confirmed."}

static const NxField user_params[] = {
	{"user", NX_FIELD_STRING, true, "The local account."},
	NXA_CONFIRM,
	{.name = NULL}
};

static const NxField password_params[] = {
	{"user", NX_FIELD_STRING, true, "The local account."},
	{"credential_id", NX_FIELD_STRING, true,
	"The credential that holds the account's password (a \"password\" field)."},
	{.name = NULL}
};

static const NxField key_params[] = {
	{"user", NX_FIELD_STRING, true, "The local account."},
	{"key", NX_FIELD_STRING, true, "One OpenSSH public key line."},
	NXA_CONFIRM,
	{.name = NULL}
};

static const NxField unit_params[] = {
	{"unit", NX_FIELD_STRING, true, "The systemd unit."},
	{.name = NULL}
};

static const NxField file_params[] = {
	{"path", NX_FIELD_STRING, true, "A managed file (the agent's managed_files)."},
	{"content", NX_FIELD_STRING, true, "The new content, base64."},
	{"expected_sha256", NX_FIELD_STRING, true,
	"SHA-256 of the file as approved, or \"absent\" for a new file."},
	{"mode", NX_FIELD_STRING, false, "Octal mode, such as 0644."},
	NXA_CONFIRM,
	{.name = NULL}
};

static const NxChangeType change_types[] = {
	{.name = "user_lock", .class = NX_CHANGE_DESTRUCTIVE, .risk_weight = NX_WEIGHT_DESTRUCTIVE,
		.rollback = true, .params = user_params,
	.description = "Lock a local account (password and expiry) and end its sessions."},
	{.name = "user_unlock", .class = NX_CHANGE_MODIFYING, .risk_weight = NX_WEIGHT_MODIFYING,
		.rollback = true, .params = user_params,
	.description = "Unlock a local account."},
	{.name = "user_set_password", .class = NX_CHANGE_MODIFYING, .risk_weight = NX_WEIGHT_MODIFYING,
		.rollback = true, .params = password_params, .rotates_secret = true,
	.description = "Rotate a local account's password; the host gets only its yescrypt hash."},
	{.name = "ssh_key_add", .class = NX_CHANGE_ADDITIVE, .risk_weight = NX_WEIGHT_MODIFYING,
		.rollback = true, .params = key_params,
	.description = "Add a public key to the account's authorized_keys."},
	{.name = "ssh_key_remove", .class = NX_CHANGE_DESTRUCTIVE, .risk_weight = NX_WEIGHT_DESTRUCTIVE,
		.rollback = true, .params = key_params,
	.description = "Remove a public key from the account's authorized_keys."},
	{.name = "service_restart", .class = NX_CHANGE_MODIFYING, .risk_weight = NX_WEIGHT_MODIFYING,
		.rollback = false, .params = unit_params,
	.description = "Restart a systemd unit."},
	{.name = "service_reload", .class = NX_CHANGE_MODIFYING, .risk_weight = NX_WEIGHT_ADDITIVE,
		.rollback = false, .params = unit_params,
	.description = "Reload a systemd unit."},
	{.name = "file_write", .class = NX_CHANGE_MODIFYING, .risk_weight = NX_WEIGHT_DESTRUCTIVE,
		.rollback = true, .params = file_params,
	.description = "Write a managed file if it is still what was approved (with a backup)."},
	{.name = NULL}
};

/* Each change type's command, and the command that undoes it (or none). */
static const struct
{
	const char *change_type;
	const char *command;
	const char *undo;
}			commands[] = {
	{"user_lock", "user.lock", "user.unlock"},
	{"user_unlock", "user.unlock", "user.lock"},
	{"user_set_password", "user.set_password", NULL},
	{"ssh_key_add", "ssh.authorized_key.add", "ssh.authorized_key.remove"},
	{"ssh_key_remove", "ssh.authorized_key.remove", "ssh.authorized_key.add"},
	{"service_restart", "service.restart", NULL},
	{"service_reload", "service.reload", NULL},
	{"file_write", "file.write", NULL},
};

static int
nxa_change(const char *change_type)
{
	for (size_t i = 0; i < lengthof(commands); i++)
		if (strcmp(commands[i].change_type, change_type) == 0)
			return (int) i;
	return -1;
}

/* params without the keys that are the engine's, not the command's */
static Jsonb *
nxa_command_params(Jsonb *params)
{
	Datum		d = JsonbPGetDatum(params);

	d = DirectFunctionCall2(jsonb_delete, d, CStringGetTextDatum("confirm_within_s"));
	d = DirectFunctionCall2(jsonb_delete, d, CStringGetTextDatum("credential_id"));
	return DatumGetJsonbP(d);
}

static int
nxa_confirm_within(Jsonb *params)
{
	int64		s;

	return nx_jsonb_get_int64(params, "confirm_within_s", &s) ? (int) s : 0;
}

/*
 * cr_create's check: the command the change becomes is in the allowlist
 * with valid parameters (a placeholder hash stands in for the password
 * the engine makes later), and the window is 10 s to 1 h.
 */
static void
nxa_check_params(const NxChangeType *type, Jsonb *params)
{
	int			i = nxa_change(type->name);
	int64		s;

	if (i < 0)
		return;
	if (nx_jsonb_get_int64(params, "confirm_within_s", &s) && (s < 10 || s > 3600))
		ereport(ERROR,
				(errcode(ERRCODE_NX_INVALID),
				 errmsg("confirm_within_s must be between 10 and 3600")));
	if (type->rotates_secret)
	{
		StringInfoData buf;
		char	   *user = nx_jsonb_get_cstring(params, "user");

		nx_json_begin(&buf);
		if (user)
			nx_json_str(&buf, "user", user);
		nx_agent_command_check("user.lock", nx_json_end(&buf));
	}
	else
		nx_agent_command_check(commands[i].command, nxa_command_params(params));
}

/* ---------- transactions ---------- */

static MemoryContext
nxa_txn_begin(void)
{
	MemoryContext outer = CurrentMemoryContext;

	SetCurrentStatementStartTimestamp();
	StartTransactionCommand();
	nx_worker_lock_extension();
	SPI_connect();
	PushActiveSnapshot(GetTransactionSnapshot());
	return outer;
}

static void
nxa_txn_end(MemoryContext outer)
{
	PopActiveSnapshot();
	SPI_finish();
	CommitTransactionCommand();
	MemoryContextSwitchTo(outer);
}

static char *
nxa_copy(MemoryContext cxt, const char *s)
{
	return s ? MemoryContextStrdup(cxt, s) : NULL;
}

static Jsonb *
nxa_copy_jsonb(MemoryContext cxt, Jsonb *jb)
{
	Jsonb	   *copy;

	if (jb == NULL)
		return NULL;
	copy = MemoryContextAlloc(cxt, VARSIZE(jb));
	memcpy(copy, jb, VARSIZE(jb));
	return copy;
}

static char *
nxa_json_text(Jsonb *jb)
{
	return jb ? JsonbToCString(NULL, &jb->root, VARSIZE(jb)) : "null";
}

/* ---------- the command ---------- */

/*
 * Queue command with params for the connector's agent, linked to the
 * change request; wakes the agent's poll at commit.  The command's id, or
 * NULL with why.
 */
static char *
nxa_queue(const NxConnectorCall *call, const char *command, Jsonb *params, int confirm_s,
		  const char **why)
{
	char	   *agent_id = nx_jsonb_get_cstring(call->config, "agent_id");
	const NxAgentCommand *c = nx_agent_command_find(command);
	char		timeout[16],
				confirm[16];
	char	   *id = NULL;
	MemoryContext outer;

	*why = NULL;
	if (agent_id == NULL || !nx_uuid_parse(agent_id, &(pg_uuid_t) {0}) || c == NULL)
	{
		*why = c ? "config.agent_id must be an agent's id" : "the command is not in the allowlist";
		return NULL;
	}
	snprintf(timeout, sizeof(timeout), "%d", c->default_timeout_s);
	snprintf(confirm, sizeof(confirm), "%d", confirm_s);
	outer = nxa_txn_begin();
	{
		const char *args[] = {call->tenant_id, agent_id};

		if (nx_spi("SELECT status FROM nexplane.agents WHERE tenant_id = $1::uuid AND id = $2::uuid",
				   2, args) != 1)
			*why = "the connector's agent does not exist";
		else if (strcmp(nx_spi_get(0, 1), "revoked") == 0 || strcmp(nx_spi_get(0, 1), "locked") == 0)
			*why = psprintf("the connector's agent is %s", nx_spi_get(0, 1));
		*why = nxa_copy(outer, *why);
	}
	if (*why == NULL)
	{
		const char *args[] = {call->tenant_id, agent_id, command, nxa_json_text(params), timeout,
		confirm_s > 0 ? confirm : NULL, call->change_request_id};

		nx_spi("INSERT INTO nexplane.agent_commands"
			   " (tenant_id, agent_id, command, params, timeout_s, confirm_within_s, change_request_id)"
			   " VALUES ($1::uuid, $2::uuid, $3, $4::jsonb, $5::int, $6::int, $7::uuid) RETURNING id",
			   7, args);
		id = nxa_copy(outer, nx_spi_get(0, 1));
		nx_spi("SELECT pg_notify('nexplane_agents', $1)", 1, (const char *[]) {agent_id});
	}
	nxa_txn_end(outer);
	return id;
}

typedef struct NxaOutcome
{
	char	   *state;			/* the command's last state */
	Jsonb	   *result;			/* its result (output) */
	char	   *error;
} NxaOutcome;

static bool
nxa_final(const char *state)
{
	static const char *const finals[] = {"succeeded", "failed", "refused", "confirmed",
	"reverted", "expired", "cancelled", NULL};

	for (int i = 0; finals[i]; i++)
		if (strcmp(state, finals[i]) == 0)
			return true;
	return false;
}

/* Read the command's state (and result, error) into o, in a transaction. */
static void
nxa_read(const NxConnectorCall *call, const char *id, NxaOutcome *o)
{
	MemoryContext outer = nxa_txn_begin();
	const char *args[] = {call->tenant_id, id};

	if (nx_spi("SELECT state, result, error FROM nexplane.agent_commands"
			   " WHERE tenant_id = $1::uuid AND id = $2::uuid", 2, args) == 1)
	{
		o->state = nxa_copy(outer, nx_spi_get(0, 1));
		o->result = nxa_copy_jsonb(outer, nx_spi_get_jsonb(0, 2));
		o->error = nxa_copy(outer, nx_spi_get(0, 3));
	}
	else
		o->state = nxa_copy(outer, "cancelled");	/* pruned or gone */
	nxa_txn_end(outer);
}

/* Take the command back if the agent has not taken it; true if so. */
static bool
nxa_withdraw(const NxConnectorCall *call, const char *id, const char *state, const char *why)
{
	MemoryContext outer = nxa_txn_begin();
	const char *args[] = {call->tenant_id, id, state, why};
	bool		done;

	done = nx_spi("UPDATE nexplane.agent_commands"
				  "   SET state = $3, error = $4, finished_at = now()"
				  " WHERE tenant_id = $1::uuid AND id = $2::uuid AND state = 'queued'",
				  4, args) == 1;
	nxa_txn_end(outer);
	return done;
}

/*
 * Wait, outside any transaction, for the command to reach a final state:
 * its timeout, its dead-man window and a grace for the agent's poll.  On
 * the deadline or a cancellation a command the agent has not taken is
 * withdrawn; one it has taken leaves the outcome unknown.
 */
static void
nxa_wait(const NxConnectorCall *call, const char *id, int timeout_s, int confirm_s,
		 NxaOutcome *o)
{
	MemoryContext outer = CurrentMemoryContext;
	MemoryContext loop = AllocSetContextCreate(outer, "agent wait", ALLOCSET_SMALL_SIZES);
	TimestampTz start = GetCurrentTimestamp();
	TimestampTz last_step = start;
	int64		limit_ms = (int64) (timeout_s + confirm_s + NXA_GRACE_S) * 1000;

	for (;;)
	{
		TimestampTz now;
		NxaOutcome	r = {0};

		MemoryContextReset(loop);
		MemoryContextSwitchTo(loop);
		nxa_read(call, id, &r);
		MemoryContextSwitchTo(outer);
		if (nxa_final(r.state))
		{
			o->state = pstrdup(r.state);
			o->result = nxa_copy_jsonb(outer, r.result);
			o->error = r.error ? pstrdup(r.error) : NULL;
			break;
		}
		now = GetCurrentTimestamp();
		if (TimestampDifferenceExceeds(start, now, (int) limit_ms))
		{
			o->state = pstrdup(r.state);
			o->error = nxa_withdraw(call, id, "expired", "the agent did not take the command in time") ?
				psprintf("the agent did not take the command within %d s: is it online?",
						 (int) (limit_ms / 1000)) :
				psprintf("outcome unknown: the agent took the command but did not report within %d s",
						 (int) (limit_ms / 1000));
			break;
		}
		if (TimestampDifferenceExceeds(last_step, now, NXA_STEP_MS))
		{
			last_step = now;
			if (!nx_connector_step(call, strcmp(r.state, "queued") == 0 ? 40 : 60,
								   psprintf("waiting for the agent (command %s)", r.state)))
			{
				o->state = pstrdup(r.state);
				o->error = nxa_withdraw(call, id, "cancelled", "the job was cancelled") ?
					pstrdup("cancelled before the agent took the command") :
					pstrdup("outcome unknown: cancelled while the agent ran the command");
				break;
			}
		}
		(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
						 NXA_POLL_MS, PG_WAIT_EXTENSION);
		ResetLatch(MyLatch);
		CHECK_FOR_INTERRUPTS();
	}
	MemoryContextDelete(loop);
}

/* Queue, wait, and say what happened in out (not rollback_state). */
static NxaOutcome
nxa_run(const NxConnectorCall *call, const char *command, Jsonb *params, int confirm_s,
		NxConnectorResult *out)
{
	NxaOutcome	o = {0};
	const char *why;
	char	   *id = nxa_queue(call, command, params, confirm_s, &why);
	StringInfoData buf;

	if (id == NULL)
	{
		nx_connector_fail(out, "%s", why);
		return o;
	}
	nxa_wait(call, id, nx_agent_command_find(command)->default_timeout_s, confirm_s, &o);
	out->ok = strcmp(o.state, "succeeded") == 0 || strcmp(o.state, "confirmed") == 0;
	if (!out->ok)
	{
		if (o.error && strncmp(o.error, "outcome unknown", 15) == 0)
			nx_connector_fail(out, "%s", o.error);
		else
			nx_connector_fail(out, "the agent's command %s ended %s: %s", command, o.state,
							  o.error ? o.error : "no reason given");
	}
	nx_json_begin(&buf);
	nx_json_str(&buf, "command_id", id);
	nx_json_str(&buf, "command", command);
	nx_json_str(&buf, "state", o.state);
	nx_json_raw(&buf, "output", nxa_json_text(o.result));
	out->result = nx_json_end(&buf);
	out->evidence = out->result;
	return o;
}

/* yescrypt of the secret's "password" (libxcrypt), or NULL. */
static char *
nxa_hash(Jsonb *secret)
{
	char	   *password = secret ? nx_jsonb_get_cstring(secret, "password") : NULL;
	char		salt[CRYPT_GENSALT_OUTPUT_SIZE];
	struct crypt_data *data;
	char	   *hash = NULL;

	if (password == NULL)
		return NULL;
	if (crypt_gensalt_rn("$y$", 0, NULL, 0, salt, sizeof(salt)) == NULL)
	{
		explicit_bzero(password, strlen(password));
		return NULL;
	}
	data = palloc0(sizeof(struct crypt_data));
	if (crypt_rn(password, salt, data, sizeof(*data)) != NULL && data->output[0] == '$')
		hash = pstrdup(data->output);
	explicit_bzero(data, sizeof(*data));
	pfree(data);
	explicit_bzero(password, strlen(password));
	return hash;
}

static Jsonb *
nxa_password_params(const char *user, const char *hash)
{
	StringInfoData buf;

	nx_json_begin(&buf);
	nx_json_str(&buf, "user", user);
	nx_json_str(&buf, "hash", hash);
	return nx_json_end(&buf);
}

/* lowercase hex SHA-256 of base64 content, or NULL */
static char *
nxa_content_sha256(const char *b64)
{
	int			len = strlen(b64);
	char	   *raw = palloc(pg_b64_dec_len(len) + 1);
	int			n = pg_b64_decode(b64, len, raw, pg_b64_dec_len(len));
	bytea	   *d;
	char	   *hex;

	if (n < 0)
		return NULL;
	d = nx_sha256(raw, n);
	hex = palloc(65);
	hex[hex_encode(VARDATA(d), 32, hex)] = '\0';
	return hex;
}

/* ---------- the operations ---------- */

static void
nxa_test(const NxConnectorCall *call, NxConnectorResult *out)
{
	char	   *agent_id = nx_jsonb_get_cstring(call->config, "agent_id");
	MemoryContext outer;
	StringInfoData buf;
	const char *args[] = {call->tenant_id, agent_id};

	if (agent_id == NULL || !nx_uuid_parse(agent_id, &(pg_uuid_t) {0}))
	{
		nx_connector_fail(out, "config.agent_id must be an agent's id");
		return;
	}
	outer = nxa_txn_begin();
	if (nx_spi("SELECT hostname, status, last_seen_at FROM nexplane.agents"
			   " WHERE tenant_id = $1::uuid AND id = $2::uuid", 2, args) != 1)
	{
		nxa_txn_end(outer);
		nx_connector_fail(out, "the connector's agent does not exist");
		return;
	}
	MemoryContextSwitchTo(outer);
	nx_json_begin(&buf);
	nx_json_str(&buf, "agent_id", agent_id);
	nx_json_str(&buf, "hostname", nx_spi_get(0, 1));
	nx_json_str(&buf, "status", nx_spi_get(0, 2));
	nx_json_str(&buf, "last_seen_at", nx_spi_get(0, 3));
	out->ok = strcmp(nx_spi_get(0, 2), "online") == 0;
	if (!out->ok)
		nx_connector_fail(out, "the agent is %s", nx_spi_get(0, 2));
	out->result = nx_json_end(&buf);
	nxa_txn_end(outer);
}

static void
nxa_pre_check(const NxConnectorCall *call, NxConnectorResult *out)
{
	if (call->change_type == NULL || nxa_change(call->change_type->name) < 0)
	{
		nx_connector_fail(out, "the change type is not one of the agent connector's");
		return;
	}
	nxa_test(call, out);
	/* an offline agent may come back within the wait: only gone ones stop it */
	if (!out->ok && out->result)
		out->ok = true;
}

static void
nxa_execute(const NxConnectorCall *call, NxConnectorResult *out)
{
	int			i = nxa_change(call->change_type->name);
	const char *command = commands[i].command;
	Jsonb	   *params = nxa_command_params(call->params);
	int			confirm_s = nxa_confirm_within(call->params);
	NxaOutcome	o;
	StringInfoData rb;

	if (call->change_type->rotates_secret)
	{
		char	   *user = nx_jsonb_get_cstring(call->params, "user");
		char	   *hash = nxa_hash(call->new_secret);

		if (hash == NULL)
		{
			nx_connector_fail(out, "could not hash the new password (its credential has no \"password\")");
			return;
		}
		params = nxa_password_params(user, hash);
		o = nxa_run(call, command, params, 0, out);
		nx_json_begin(&rb);
		nx_json_str(&rb, "user", user);
		out->rollback_state = nx_json_end(&rb);
		return;
	}
	o = nxa_run(call, command, params, confirm_s, out);
	if (!out->ok)
		return;
	if (commands[i].undo)
	{
		nx_json_begin(&rb);
		nx_json_str(&rb, "command", commands[i].undo);
		nx_json_raw(&rb, "params", nxa_json_text(params));
		nx_json_int(&rb, "confirm_within_s", confirm_s);
		out->rollback_state = nx_json_end(&rb);
	}
	else if (strcmp(command, "file.write") == 0 && o.result)
	{
		/* back to the backup the agent reported; none: nothing to roll back */
		char	   *prev = nx_jsonb_get_cstring(o.result, "previous_content");
		char	   *mode = nx_jsonb_get_cstring(o.result, "previous_mode");
		char	   *sha = nxa_content_sha256(nx_jsonb_get_cstring(call->params, "content"));

		if (prev && sha)
		{
			StringInfoData p;

			nx_json_begin(&p);
			nx_json_str(&p, "path", nx_jsonb_get_cstring(call->params, "path"));
			nx_json_str(&p, "content", prev);
			nx_json_str(&p, "expected_sha256", sha);
			if (mode)
				nx_json_str(&p, "mode", mode);
			nx_json_begin(&rb);
			nx_json_str(&rb, "command", "file.write");
			nx_json_raw(&rb, "params", nxa_json_text(nx_json_end(&p)));
			nx_json_int(&rb, "confirm_within_s", confirm_s);
			out->rollback_state = nx_json_end(&rb);
		}
	}
}

/*
 * The agent's own report is the verification.  For a rotation's check of
 * the previous password (new_secret is old_secret), the question is
 * whether the host still has it: yes when the command changed nothing.
 */
static void
nxa_verify(const NxConnectorCall *call, NxConnectorResult *out)
{
	MemoryContext outer = nxa_txn_begin();
	const char *args[] = {call->tenant_id, call->change_request_id};
	bool		previous = call->new_secret != NULL && call->new_secret == call->old_secret;
	StringInfoData buf;
	char	   *state = NULL;
	char	   *id = NULL;

	if (nx_spi("SELECT state, id FROM nexplane.agent_commands"
			   " WHERE tenant_id = $1::uuid AND change_request_id = $2::uuid"
			   " ORDER BY created_at DESC LIMIT 1", 2, args) == 1)
	{
		state = nxa_copy(outer, nx_spi_get(0, 1));
		id = nxa_copy(outer, nx_spi_get(0, 2));
	}
	nxa_txn_end(outer);
	if (state == NULL)
	{
		nx_connector_fail(out, "no command was queued for this change");
		return;
	}
	if (previous)
		out->ok = strcmp(state, "failed") == 0 || strcmp(state, "refused") == 0 ||
			strcmp(state, "expired") == 0 || strcmp(state, "cancelled") == 0 ||
			strcmp(state, "reverted") == 0;
	else
		out->ok = strcmp(state, "succeeded") == 0 || strcmp(state, "confirmed") == 0;
	if (!out->ok)
		nx_connector_fail(out, "the agent's command is %s", state);
	nx_json_begin(&buf);
	nx_json_str(&buf, "command_id", id);
	nx_json_str(&buf, "state", state);
	out->evidence = nx_json_end(&buf);
}

static void
nxa_rollback(const NxConnectorCall *call, NxConnectorResult *out)
{
	char	   *command;
	Jsonb	   *params;
	int64		confirm_s = 0;

	if (call->rollback_state == NULL)
	{
		nx_connector_fail(out, "the change stored nothing to roll back to");
		return;
	}
	if (call->change_type->rotates_secret)
	{
		char	   *user = nx_jsonb_get_cstring(call->rollback_state, "user");
		char	   *hash = nxa_hash(call->new_secret);

		if (user == NULL || hash == NULL)
		{
			nx_connector_fail(out, "the previous password cannot be sent");
			return;
		}
		(void) nxa_run(call, "user.set_password", nxa_password_params(user, hash), 0, out);
		return;
	}
	command = nx_jsonb_get_cstring(call->rollback_state, "command");
	{
		JsonbValue	key,
				   *v;

		key.type = jbvString;
		key.val.string.val = "params";
		key.val.string.len = 6;
		v = findJsonbValueFromContainer(&call->rollback_state->root, JB_FOBJECT, &key);
		params = v && v->type == jbvBinary ? JsonbValueToJsonb(v) : NULL;
	}
	(void) nx_jsonb_get_int64(call->rollback_state, "confirm_within_s", &confirm_s);
	if (command == NULL || params == NULL || nx_agent_command_find(command) == NULL)
	{
		nx_connector_fail(out, "the change's rollback state names no command");
		return;
	}
	(void) nxa_run(call, command, params, (int) confirm_s, out);
}

const NxConnector nx_agent_connector = {
	.name = "agent",
	.description = "Host changes made by an enrolled nexplane-agent (docs/agent.md).",
	.config_fields = config_fields,
	.credential_fields = no_fields,
	.change_types = change_types,
	.test = nxa_test,
	.discover = NULL,
	.pre_check = nxa_pre_check,
	.execute = nxa_execute,
	.verify = nxa_verify,
	.rollback = nxa_rollback,
	.check_params = nxa_check_params,
};
