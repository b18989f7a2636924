/*-------------------------------------------------------------------------
 *
 * job_run.c
 *	  Running one claimed job: load what it needs in a short transaction,
 *	  make the connector's network calls outside any transaction, then
 *	  record what happened in another.
 *
 * A change (execute_change):
 *	load (and for a rotation, store the pending secret; commit)
 *	-> pre_check -> store the rollback state it gave (commit) -> execute
 *	-> verify (retried for a few seconds: a target may take a moment to
 *	show a change) -> evidence of each step, the job's end, the change
 *	request completed or failed, the vault promoted.
 * A rollback (rollback_change) is the same with the connector's rollback
 * and a verify that checks the change is undone.  A lost change
 * (recovering) verifies, records the answer, and fails the change request
 * as "outcome unknown" (job_recovery.c, which also resolves a lost
 * rotation or rotation's rollback); the rollback state stored before
 * execute stays unless the target shows the change did not land.  test_connection
 * and discover call test and discover, and discover upserts the assets it
 * found.
 *
 * Secrets (the connector's login, a rotation's versions) are copied into
 * the job's memory only, and zeroed when the job ends, also on error.  An
 * ERROR anywhere ends just this job: a change whose network calls had
 * begun is failed as "outcome unknown", never retried.
 *
 *-------------------------------------------------------------------------
 */
#include "job_run.h"

#include "access/xact.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "utils/builtins.h"
#include "utils/json.h"
#include "utils/memutils.h"
#include "utils/snapmgr.h"
#include "utils/timestamp.h"

#include "spi_util.h"
#include "vault.h"

#include <openssl/crypto.h>

#define NX_VERIFY_TRIES		5
#define NX_VERIFY_PAUSE_MS	1000

const char *const nx_outcome_unknown =
"outcome unknown: the worker was lost during the change";

/* ---------- transactions and memory ---------- */

void
nx_txn_begin(void)
{
	SetCurrentStatementStartTimestamp();
	StartTransactionCommand();
	nx_worker_lock_extension();
	SPI_connect();
	PushActiveSnapshot(GetTransactionSnapshot());
}

void
nx_txn_end(NxRun *run)
{
	PopActiveSnapshot();
	SPI_finish();
	CommitTransactionCommand();
	MemoryContextSwitchTo(run->cxt);
}

Jsonb *
nx_run_keep_secret(NxRun *run, const unsigned char *json, size_t len)
{
	MemoryContext old = MemoryContextSwitchTo(run->cxt);
	Jsonb	   *jb = nx_jsonb_parse((const char *) json, (int) len);

	MemoryContextSwitchTo(old);
	if (jb == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_NX_INTERNAL),
				 errmsg("a stored credential is not a JSON object")));
	if (run->nwipe < (int) lengthof(run->wipe))
	{
		run->wipe[run->nwipe] = jb;
		run->wipe_len[run->nwipe++] = VARSIZE(jb);
	}
	return jb;
}

static Jsonb *
nx_keep_jsonb(NxRun *run, Jsonb *src)
{
	Jsonb	   *copy;

	if (src == NULL)
		return NULL;
	copy = MemoryContextAlloc(run->cxt, VARSIZE(src));
	memcpy(copy, src, VARSIZE(src));
	return copy;
}

static char *
nx_keep(NxRun *run, const char *s)
{
	return s ? MemoryContextStrdup(run->cxt, s) : NULL;
}

static char *
nx_json(Jsonb *jb)
{
	return jb ? JsonbToCString(NULL, &jb->root, VARSIZE(jb)) : "null";
}

static bool
nx_is_change(const NxJob *job)
{
	return strcmp(job->kind, "execute_change") == 0 || strcmp(job->kind, "rollback_change") == 0;
}

/* ---------- progress, lease and cancellation ---------- */

/*
 * The connectors' step callback: one short transaction that records the
 * step, extends the lease, and reads the cancel flag.  False (stop) when
 * the job was cancelled, when another attempt has taken it over (the
 * fence), or when the database is being dropped.
 */
static bool
nx_run_step(const NxConnectorCall *call, int percent, const char *step)
{
	NxRun	   *run = call->step_arg;
	MemoryContext old = CurrentMemoryContext;
	char		pct[16],
				att[16],
				lease[16];
	bool		go;

	if (nx_worker_should_leave())
		return false;
	snprintf(pct, sizeof(pct), "%d", Max(0, Min(percent, 100)));
	snprintf(att, sizeof(att), "%d", run->job->attempt);
	snprintf(lease, sizeof(lease), "%d", nx_job_lease);
	pgstat_report_activity(STATE_RUNNING,
						   psprintf("nexplane: job %s %s: %s", run->job->id, run->job->kind,
									step ? step : ""));
	nx_txn_begin();
	{
		const char *args[] = {run->job->tenant_id, run->job->id, pct, step, att, lease};

		go = nx_spi("UPDATE nexplane.jobs"
					"   SET progress_percent = $3::int, progress_step = left($4, 200),"
					"       lease_until = now() + $6::int * interval '1 s'"
					" WHERE tenant_id = $1::uuid AND id = $2::uuid AND state = 'running'"
					"   AND attempts = $5::int"
					" RETURNING cancel_requested", 6, args) == 1 &&
			strcmp(nx_spi_get(0, 1), "f") == 0;
	}
	nx_txn_end(run);
	MemoryContextSwitchTo(old);
	return go;
}

/* ---------- loading ---------- */

/*
 * nx_run_fence renews the claim's lease, inside the load transaction, if
 * the claim is still ours.  A batch is claimed at once but run one job
 * after another, so a job late in a slow batch may have outlived its
 * lease and been claimed again by another worker: then the attempt number
 * no longer matches, and this worker must leave the job alone rather than
 * run it a second time.
 */
static bool
nx_run_fence(NxRun *run)
{
	char		attempt[16],
				lease[16];
	const char *args[] = {run->job->tenant_id, run->job->id, attempt, lease};

	snprintf(attempt, sizeof(attempt), "%d", run->job->attempt);
	snprintf(lease, sizeof(lease), "%d", nx_job_lease);
	return nx_spi("UPDATE nexplane.jobs"
				  "   SET lease_until = now() + $4::int * interval '1 s'"
				  " WHERE tenant_id = $1::uuid AND id = $2::uuid AND state = 'running'"
				  "   AND attempts = $3::int", 4, args) == 1;
}

/* Inside a transaction.  Returns NULL, or why the job cannot run. */
static const char *
nx_run_load(NxRun *run)
{
	NxJob	   *job = run->job;
	const char *args[] = {job->tenant_id, job->connector_id};

	if (job->connector_id == NULL)
		return "the job names no connector";
	if (nx_spi("SELECT type, config, credential_id, status,"
			   "       CASE WHEN breaker_until > now()"
			   "            THEN ceil(extract(epoch FROM breaker_until - now()) * 1000)::int END"
			   "  FROM nexplane.connectors WHERE tenant_id = $1::uuid AND id = $2::uuid",
			   2, args) != 1)
		return "the job's connector does not exist";
	run->connector = nx_connector_find(nx_spi_get(0, 1));
	run->config = nx_keep_jsonb(run, nx_spi_get_jsonb(0, 2));
	run->credential_id = nx_keep(run, nx_spi_get(0, 3));
	run->status = nx_keep(run, nx_spi_get(0, 4));
	run->breaker_until = nx_keep(run, nx_spi_get(0, 5));
	if (run->connector == NULL)
		return "the connector's type is not one this build of nexplane has";
	if (run->credential_id)
	{
		NxSecret   *s = nx_vault_credential_secret(job->tenant_id, run->credential_id);

		run->credential = nx_run_keep_secret(run, s->data, s->len);
		nx_secret_wipe(s);
	}
	if (job->change_request_id)
	{
		const char *cargs[] = {job->tenant_id, job->change_request_id};

		/* a rollback's rollback state is its original's */
		if (nx_spi("SELECT c.state, c.change_type, c.params,"
				   "       coalesce(o.rollback_state, c.rollback_state), c.rollback_of, o.state,"
				   "       nullif(coalesce(o.rollback_state, c.rollback_state)->'connector', 'null')"
				   "  FROM nexplane.change_requests c LEFT JOIN nexplane.change_requests o"
				   "    ON o.tenant_id = c.tenant_id AND o.id = c.rollback_of"
				   " WHERE c.tenant_id = $1::uuid AND c.id = $2::uuid"
				   "   FOR UPDATE OF c", 2, cargs) != 1)
			return "the job's change request does not exist";
		run->cr_state = nx_keep(run, nx_spi_get(0, 1));
		run->change_type = nx_change_type_find(run->connector, nx_spi_get(0, 2));
		run->params = nx_keep_jsonb(run, nx_spi_get_jsonb(0, 3));
		run->rollback_state = nx_keep_jsonb(run, nx_spi_get_jsonb(0, 4));
		run->original_id = nx_keep(run, nx_spi_get(0, 5));
		if (run->change_type == NULL)
			return "the change type is not one of the connector's";
		/*
		 * A rotation's stored state wraps the connector's own under
		 * "connector" (nx_rollback_state_json); the connector gets back
		 * exactly what its execute returned, not the wrapper, or its
		 * rollback finds none of its keys.
		 */
		run->connector_state = run->change_type->rotates_secret ?
			nx_keep_jsonb(run, nx_spi_get_jsonb(0, 7)) : run->rollback_state;
		if (strcmp(job->kind, "rollback_change") == 0 &&
			(run->original_id == NULL || run->rollback_state == NULL))
			return "a rollback job needs the change it rolls back and that change's rollback state";
		if (strcmp(job->kind, "rollback_change") == 0 && !job->recovering &&
			strcmp(nx_spi_get(0, 6), "completed") != 0 && strcmp(nx_spi_get(0, 6), "failed") != 0)
			return psprintf("the change to roll back is %s", nx_spi_get(0, 6));
	}
	return NULL;
}

/* ---------- operations ---------- */

void
nx_call_init(NxRun *run, NxConnectorCall *call)
{
	memset(call, 0, sizeof(*call));
	call->config = run->config;
	call->credential = run->credential;
	call->change_type = run->change_type;
	call->params = run->params;
	call->new_secret = run->new_secret;
	call->old_secret = run->old_secret;
	call->rollback_state = run->connector_state;
	call->step = nx_run_step;
	call->step_arg = run;
	call->tenant_id = run->job->tenant_id;
	call->change_request_id = run->job->change_request_id;
}

void
nx_run_op(NxRun *run, NxConnectorOp op, NxConnectorCall *call, NxStep *step)
{
	int			seconds = Min(nx_job_timeout, nx_job_lease / 2);

	memset(&step->out, 0, sizeof(step->out));
	step->ran = true;
	if (op == NULL)
	{
		step->out.ok = true;	/* the connector has nothing to do here */
		return;
	}
	call->deadline = TimestampTzPlusMilliseconds(GetCurrentTimestamp(), seconds * 1000);
	pgstat_report_activity(STATE_RUNNING,
						   psprintf("nexplane: job %s %s: %s", run->job->id, run->job->kind,
									step->name));
	op(call, &step->out);
	if (!step->out.ok && step->out.error == NULL)
		step->out.error = "the connector failed without saying why";
}

/* verify, tried a few times while the target catches up. */
static void
nx_run_verify(NxRun *run, NxConnectorCall *call, NxStep *step)
{
	for (int i = 0; i < NX_VERIFY_TRIES; i++)
	{
		nx_run_op(run, run->connector->verify, call, step);
		if (step->out.ok || !nx_connector_step(call, 80, "verifying again"))
			return;
		pg_usleep(NX_VERIFY_PAUSE_MS * 1000L);
	}
}

static char *
nx_step_json(const NxStep *s)
{
	StringInfoData buf;

	initStringInfo(&buf);
	appendStringInfo(&buf, "{\"step\": \"%s\", \"ok\": %s, \"error\": ", s->name,
					 s->out.ok ? "true" : "false");
	if (s->out.error)
		escape_json(&buf, s->out.error);
	else
		appendStringInfoString(&buf, "null");
	appendStringInfo(&buf, ", \"result\": %s, \"checked\": %s%s}",
					 nx_json(s->out.result), nx_json(s->out.evidence), s->extra ? s->extra : "");
	return buf.data;
}

void
nx_record_steps(NxRun *run, NxStep *steps, int n)
{
	for (int i = 0; i < n; i++)
		if (steps[i].ran)
			nx_job_evidence(run->job, steps[i].name, nx_step_json(&steps[i]));
}

static bool
nx_cancel_seen(NxRun *run)
{
	const char *args[] = {run->job->tenant_id, run->job->id};

	return nx_spi("SELECT 1 FROM nexplane.jobs WHERE tenant_id = $1::uuid AND id = $2::uuid"
				  "   AND cancel_requested", 2, args) == 1;
}

/* ---------- the change request's side ---------- */

void
nx_cr_finish(NxRun *run, bool ok, Jsonb *result, const char *error)
{
	bool		undo = strcmp(run->job->kind, "rollback_change") == 0;
	const char *args[] = {run->job->tenant_id, run->job->change_request_id,
	ok ? nx_json(result) : error};

	if (ok)
		nx_spi("SELECT nexplane._cr_complete($1::uuid, $2::uuid, $3::jsonb)", 3, args);
	else
		nx_spi("SELECT nexplane._cr_fail($1::uuid, $2::uuid, $3)", 3, args);
	/* a rollback's end is its original's too */
	if (undo && run->original_id)
	{
		const char *oargs[] = {args[0], run->original_id, args[2]};

		if (ok)
			nx_spi("SELECT nexplane._cr_rollback_complete($1::uuid, $2::uuid, $3::jsonb)", 3, oargs);
		else
			nx_spi("SELECT nexplane._cr_rollback_fail($1::uuid, $2::uuid, $3)", 3, oargs);
	}
}

/*
 * Set the change's rollback state to state (NULL: none), inside the
 * caller's transaction; _cr_complete and _cr_fail can only add one.
 */
void
nx_cr_set_rollback_state(NxRun *run, const char *state)
{
	const char *args[] = {run->job->tenant_id, run->job->change_request_id, state};

	nx_spi("UPDATE nexplane.change_requests SET rollback_state = $3::jsonb"
		   " WHERE tenant_id = $1::uuid AND id = $2::uuid"
		   "   AND rollback_state IS DISTINCT FROM $3::jsonb", 3, args);
}

/*
 * Store the rollback state pre_check gave, in a transaction of its own,
 * before execute touches the target: a worker lost inside execute takes
 * nothing with it that a rollback needs (recovery keeps it, or drops it
 * when the target shows the change did not land).  Behind the fence,
 * which the statement's UPDATE of the job also holds against a recovery
 * claiming it meanwhile.  False when another attempt owns the job: then
 * this worker must not touch the target.
 */
static bool
nx_run_store_rollback_state(NxRun *run, const char *state)
{
	char		attempt[16],
				lease[16];
	const char *args[] = {run->job->tenant_id, run->job->change_request_id, state,
	run->job->id, attempt, lease};
	bool		stored;

	snprintf(attempt, sizeof(attempt), "%d", run->job->attempt);
	snprintf(lease, sizeof(lease), "%d", nx_job_lease);
	nx_txn_begin();
	nx_spi("WITH j AS (UPDATE nexplane.jobs"
		   "              SET lease_until = now() + $6::int * interval '1 s'"
		   "            WHERE tenant_id = $1::uuid AND id = $4::uuid AND state = 'running'"
		   "              AND attempts = $5::int RETURNING id)"
		   " UPDATE nexplane.change_requests c SET rollback_state = $3::jsonb"
		   "  WHERE c.tenant_id = $1::uuid AND c.id = $2::uuid AND c.state = 'executing'"
		   "    AND EXISTS (SELECT 1 FROM j)", 6, args);
	stored = SPI_processed == 1;
	nx_txn_end(run);
	return stored;
}

/* Fail the job (and its change request, if it has one) before any call. */
static void
nx_run_refuse(NxRun *run, const char *why, bool touch_cr)
{
	nx_job_finish(run->job, "failed", NULL, why);
	if (touch_cr && run->job->change_request_id)
		nx_cr_finish(run, false, NULL, why);
}

/* rollback_state as stored: the connector's, plus the rotated credential. */
static char *
nx_rollback_state_json(NxRun *run, Jsonb *from_execute)
{
	StringInfoData buf;

	if (!run->change_type->rotates_secret)
		return from_execute ? nx_json(from_execute) : NULL;
	initStringInfo(&buf);
	appendStringInfoString(&buf, "{\"credential_id\": ");
	escape_json(&buf, run->account_id);
	appendStringInfo(&buf, ", \"connector\": %s}", nx_json(from_execute));
	return buf.data;
}

/* ---------- the kinds ---------- */

static void
nx_run_simple(NxRun *run, bool discover)
{
	NxConnectorCall call;
	NxStep		step = {.name = discover ? "discovery" : "connection_test"};
	int			assets = 0;

	nx_call_init(run, &call);
	call.change_type = NULL;
	nx_run_op(run, discover ? run->connector->discover : run->connector->test, &call, &step);

	nx_txn_begin();
	nx_record_steps(run, &step, 1);
	if (step.out.ok && discover && step.out.result)
	{
		const char *args[] = {run->job->tenant_id, run->job->connector_id, nx_json(step.out.result)};

		/* what fails the table's checks is left out, not the whole discovery */
		nx_spi("INSERT INTO nexplane.assets AS a"
			   " (tenant_id, connector_id, kind, external_id, name, environment, tags, attributes)"
			   " SELECT c.tenant_id, c.id, x->>'kind', x->>'external_id',"
			   "        left(coalesce(x->>'name', x->>'external_id'), 200), c.environment, c.tags,"
			   "        CASE WHEN jsonb_typeof(x->'attributes') = 'object' THEN x->'attributes'"
			   "             ELSE '{}' END"
			   "   FROM nexplane.connectors c,"
			   "        jsonb_array_elements(CASE WHEN jsonb_typeof($3::jsonb->'assets') = 'array'"
			   "                                  THEN $3::jsonb->'assets' ELSE '[]' END) x"
			   "  WHERE c.tenant_id = $1::uuid AND c.id = $2::uuid"
			   "    AND x->>'kind' ~ '^[a-z][a-z0-9_]{0,39}$'"
			   "    AND length(x->>'external_id') BETWEEN 1 AND 500"
			   " ON CONFLICT (tenant_id, connector_id, kind, external_id) DO UPDATE"
			   "   SET name = EXCLUDED.name, attributes = EXCLUDED.attributes, last_seen_at = now()",
			   3, args);
		assets = (int) SPI_processed;
	}
	if (step.out.ok)
		nx_job_finish(run->job, "succeeded",
					  discover ? DatumGetJsonbP(DirectFunctionCall1(jsonb_in,
																	CStringGetDatum(psprintf("{\"assets\": %d}", assets))))
					  : step.out.result, NULL);
	else if (run->job->attempt < run->job->max_attempts && !nx_cancel_seen(run))
		nx_job_requeue(run->job, 2000 << Min(run->job->attempt - 1, 7), step.out.error, true);
	else
		nx_job_finish(run->job, nx_cancel_seen(run) ? "cancelled" : "failed", NULL, step.out.error);
	nx_breaker_record(run->job->tenant_id, run->job->connector_id, step.out.ok, step.out.error);
	nx_txn_end(run);
}

/*
 * Renew the job's lease behind its fence, in a short transaction of its
 * own, before a call that changes the target; false when another attempt
 * has taken the job over (then the target is not ours to touch).
 */
static bool
nx_run_renew(NxRun *run)
{
	bool		mine;

	nx_txn_begin();
	mine = nx_run_fence(run);
	nx_txn_end(run);
	return mine;
}

/*
 * A rotation whose verify with the pending version (new_secret) failed:
 * if the connector has an overlap and the target takes both versions, the
 * connector's finish_rotation removes the old one (it changes nothing
 * otherwise), and verify must then prove the pending one, also when the
 * removal was made and only saving it failed (the vault follows verify).
 * True when it did: the target takes exactly the pending version.  *mine is false when
 * another attempt has the job (then nothing was called).
 */
bool
nx_run_finish_overlap(NxRun *run, NxConnectorCall *call, NxStep *finish, NxStep *proof,
					  bool *mine)
{
	*mine = true;
	if (run->connector->finish_rotation == NULL)
		return false;
	if (!(*mine = nx_run_renew(run)))
		return false;
	nx_run_op(run, run->connector->finish_rotation, call, finish);
	/* a result even on failure: it removed the old one, then ACL SAVE failed */
	if (finish->out.ok || finish->out.result != NULL)
		nx_run_verify(run, call, proof);
	return proof->ran && proof->out.ok;
}

/* A change or its rollback, from the load's commit on. */
static void
nx_run_change(NxRun *run, bool undo)
{
	const NxConnector *c = run->connector;
	bool		rotation = run->change_type->rotates_secret;
	NxConnectorCall call;
	NxStep		steps[6] = {{.name = "pre_check"}, {.name = undo ? "rollback" : "execution"},
	{.name = "verification"}, {.name = "verification_of_previous"},
	{.name = "completion"}, {.name = "verification_after_completion"}};
	const char *error = NULL;
	bool		ok;
	bool		keep_pending = false;
	bool		finished = false;
	bool		takes_pending;
	bool		swap;
	char	   *early = NULL;	/* the rollback state stored before execute */
	char	   *final;

	nx_call_init(run, &call);
	call.undoing = undo;
	if (!undo)
		nx_run_op(run, c->pre_check, &call, &steps[0]);
	/*
	 * Only when the connector gave one: a rotation's wrapper without the
	 * connector's part would let cr_rollback start a rollback its
	 * connector then cannot run.
	 */
	if (!undo && steps[0].out.ok && run->change_type->rollback &&
		steps[0].out.rollback_state != NULL)
	{
		early = nx_rollback_state_json(run, steps[0].out.rollback_state);
		if (!nx_run_store_rollback_state(run, early))
			return;				/* another attempt has the job: not ours to touch */
	}
	if (!steps[0].ran || steps[0].out.ok)
	{
		if (nx_connector_step(&call, 30, undo ? "rolling back" : "executing"))
			nx_run_op(run, undo ? c->rollback : c->execute, &call, &steps[1]);
		else
			error = "cancelled before the change";
	}
	if (steps[1].ran && (steps[1].out.ok || rotation))
		nx_run_verify(run, &call, &steps[2]);
	ok = steps[1].ran && steps[1].out.ok && steps[2].out.ok;
	if (rotation && steps[1].ran && !steps[2].out.ok)
	{
		/*
		 * Which version does the target take?  Both (an execute, or a
		 * rollback, that failed inside its overlap: finished, as a lost
		 * one's recovery does), the old one, or neither.
		 */
		NxConnectorCall old = call;
		bool		mine;

		finished = nx_run_finish_overlap(run, &call, &steps[4], &steps[5], &mine);
		if (!mine)
			return;				/* another attempt has the job */
		if (!finished && !undo)
		{
			old.new_secret = run->old_secret;
			old.undoing = true;
			nx_run_op(run, c->verify, &old, &steps[3]);
			keep_pending = !steps[3].out.ok;
		}
	}
	/*
	 * The vault follows the target: a pending version it takes becomes
	 * current even when execute failed after setting it (an ACL SAVE that
	 * failed, say); dropping it would lose the only password that works.
	 */
	takes_pending = rotation && !undo && (steps[2].out.ok || finished);
	/* likewise a rollback whose ACL SAVE failed: the previous version is back */
	swap = rotation && undo && (steps[2].out.ok || finished);
	if (!ok && error == NULL)
		error = steps[0].ran && !steps[0].out.ok ? steps[0].out.error :
			!steps[1].out.ok ? steps[1].out.error :
			psprintf("verification failed: %s", steps[2].out.error);
	if (finished)
		error = psprintf(undo ? "%s; the target took both the previous and the current password,"
						 " so the current one was removed and the previous one is the credential's"
						 " current version again" : "%s; the target took both the new and the old"
						 " password, so the old one was removed and the new one is the credential's"
						 " current version", error);
	if (keep_pending)
		error = psprintf("outcome unknown: the target takes neither the new nor the old"
						 " password (%s); both are kept in the vault", error);
	/*
	 * execute's own rollback state replaces the early one; none when it
	 * did not succeed, unless its rotation's new version is taken all the
	 * same (then execute's, if it gave one, or the early one: the change
	 * is in effect, and a rollback must stay possible)
	 */
	if (undo)
		final = NULL;
	else if (steps[1].out.ok || (takes_pending && steps[1].out.rollback_state != NULL))
		final = nx_rollback_state_json(run, steps[1].out.rollback_state);
	else
		final = takes_pending ? early : NULL;

	nx_txn_begin();
	nx_record_steps(run, steps, lengthof(steps));
	if (rotation && !undo)
	{
		if (takes_pending)
			nx_rotation_promote(run);
		else if (!keep_pending)
			nx_rotation_discard(run);
	}
	if (nx_job_finish(run->job, ok ? "succeeded" : (nx_cancel_seen(run) ? "cancelled" : "failed"),
					  steps[1].out.result, ok ? NULL : error))
	{
		/* behind the fence: a second swap (a late attempt's) would undo it */
		if (swap)
			nx_rotation_swap_back(run);
		/* kept on a failed change too: what did execute leaves a rollback to */
		if (early || final)
			nx_cr_set_rollback_state(run, final);
		nx_cr_finish(run, ok, steps[1].out.result, error);
	}
	nx_breaker_record(run->job->tenant_id, run->job->connector_id, ok, error);
	nx_txn_end(run);
}

/* ---------- one job ---------- */

/* What to do after the load; NULL when the job goes on to its calls. */
static const char *
nx_run_prepare(NxRun *run, bool *touch_cr, bool *waits)
{
	const char *why = nx_run_load(run);
	bool		undo = strcmp(run->job->kind, "rollback_change") == 0;

	*touch_cr = false;
	*waits = false;
	if (why || run->job->recovering)
		return why;
	if (!nx_is_change(run->job))
	{
		/* tests and discovery wait for an open breaker like changes */
		if (strcmp(run->status, "disabled") == 0)
			return "the connector is disabled";
		*waits = run->breaker_until != NULL;
		return run->breaker_until;
	}
	if (strcmp(run->cr_state, "scheduled") == 0)
	{
		const char *args[] = {run->job->tenant_id, run->job->change_request_id};
		const char *refusal;

		nx_spi("SELECT nexplane._cr_start_refusal($1::uuid, $2::uuid)", 2, args);
		refusal = nx_keep(run, nx_spi_get(0, 1));
		nx_spi("SELECT nexplane._cr_start($1::uuid, $2::uuid)", 2, args);
		run->cr_state = "executing";
		if (refusal)
		{
			*touch_cr = true;
			return refusal;
		}
	}
	if (strcmp(run->cr_state, "executing") != 0)
		return psprintf("the change request is %s", run->cr_state);
	*touch_cr = true;
	if (undo)
	{
		const char *args[] = {run->job->tenant_id, run->original_id};

		nx_spi("SELECT nexplane._cr_rollback_start($1::uuid, $2::uuid)", 2, args);
	}
	if (strcmp(run->status, "disabled") == 0)
		return "the connector is disabled";
	if (run->breaker_until)
	{
		*waits = true;
		return run->breaker_until;
	}
	if (run->change_type->rotates_secret)
		return undo ? nx_rotation_prepare_undo(run) : nx_rotation_prepare(run);
	return NULL;
}

void
nx_job_run(NxJob *job)
{
	MemoryContext cxt = AllocSetContextCreate(TopMemoryContext, "nexplane job",
											  ALLOCSET_DEFAULT_SIZES);
	NxRun	   *run = MemoryContextAllocZero(cxt, sizeof(NxRun));
	volatile bool calls_begun = false;

	run->job = job;
	run->cxt = cxt;
	MemoryContextSwitchTo(cxt);
	PG_TRY();
	{
		bool		touch_cr,
					waits;
		const char *why;
		bool		undo = strcmp(job->kind, "rollback_change") == 0;

		nx_txn_begin();
		if (!nx_run_fence(run))
		{
			/* another attempt has it (see nx_run_fence): not ours to touch */
			nx_txn_end(run);
			goto done;
		}
		why = nx_run_prepare(run, &touch_cr, &waits);
		if (waits)
			nx_job_requeue(job, atoi(why),
						   "waiting: the connector's circuit breaker is open after repeated failures",
						   false);
		else if (why)
			nx_run_refuse(run, why, touch_cr);
		nx_txn_end(run);

		if (why == NULL)
		{
			calls_begun = true;
			if (job->recovering)
				nx_run_recovery(run, undo);
			else if (nx_is_change(job))
				nx_run_change(run, undo);
			else
				nx_run_simple(run, strcmp(job->kind, "discover") == 0);
		}
done:
		;
	}
	PG_CATCH();
	{
		/* end this job, not the worker; a change that began is unknown */
		MemoryContextSwitchTo(cxt);
		EmitErrorReport();
		FlushErrorState();
		AbortOutOfAnyTransaction();
		PG_TRY();
		{
			const char *why = calls_begun && nx_is_change(job) ?
				"outcome unknown: an internal error ended the change (see the server log)" :
				"an internal error ended the job (see the server log)";

			nx_txn_begin();
			if (nx_job_finish(job, "failed", NULL, why) && calls_begun && job->change_request_id)
				nx_cr_finish(run, false, NULL, why);
			nx_txn_end(run);
		}
		PG_CATCH();
		{
			EmitErrorReport();
			FlushErrorState();
			AbortOutOfAnyTransaction();
		}
		PG_END_TRY();
	}
	PG_END_TRY();

	for (int i = 0; i < run->nwipe; i++)
		OPENSSL_cleanse(run->wipe[i], run->wipe_len[i]);
	MemoryContextSwitchTo(TopMemoryContext);
	MemoryContextDelete(cxt);
	pgstat_report_activity(STATE_IDLE, NULL);
}
