/*-------------------------------------------------------------------------
 *
 * stream_events.c
 *	  _stream_event(): the statement-level trigger that stages
 *	  change-request transitions and job state changes for the live feed
 *	  (GET /v1/events).
 *
 * It fires once at the end of each statement that inserts change-request
 * events, or inserts or updates jobs, and appends that statement's events
 * to stream_events_pending in one INSERT ... SELECT from the statement's
 * transition tables: a worker that ends 32 jobs in one UPDATE stages 32
 * events with one executor start-up, not 32 (bench/jobs/README.md).  The
 * plain insert takes no lock that another writer waits for.  The event
 * sequencer (bgworkers/event_sequencer.c), woken when the transaction
 * commits, numbers the events per tenant and tells listeners;
 * events_since() numbers what it finds pending too (88_events.sql, whose
 * header says why staging before commit keeps the numbering's
 * guarantees).  The insert runs with system access: its rows are the
 * tenants' of rows that already passed their own table's policy.
 *
 * An update of jobs is paired old row to new by primary key, and is an
 * event when the state moved, or, for a running job's progress, when a
 * step or percent was set to something new.  A column list cannot
 * narrow the trigger (PostgreSQL allows no transition tables with UPDATE
 * OF), so every update of jobs reaches it: the old and new rows are
 * looked at here first, and an update that moved nothing (a lease
 * renewed) stages nothing without running a statement.
 *
 * Where no sequencer serves this database, the writer notifies listeners
 * itself, as it always did.  A notification carries nothing at all, since
 * any session may LISTEN: it is a cue, and listeners read events through
 * events_since(), under RLS.  It is the sequencer's to send because
 * PostgreSQL serializes notifying transactions: each holds a lock from
 * before its commit record until after its WAL flush.
 *
 *-------------------------------------------------------------------------
 */
#include "nexplane.h"

#include "spi_util.h"
#include "jobs.h"

#include "commands/async.h"
#include "commands/trigger.h"
#include "executor/tuptable.h"
#include "utils/datum.h"
#include "utils/rel.h"
#include "utils/tuplestore.h"

/*
 * The statements, one per trigger: each reads its trigger's transition
 * tables by the names given in 88_events.sql.  Today's rules of what an
 * update is (above) are the WHERE of the last; nx_job_update_moved() below
 * must agree with it.
 */
static const char *const stage_cr_events_sql =
"INSERT INTO nexplane.stream_events_pending (tenant_id, kind, subject_id,"
"       change_request_id, action, from_state, to_state, actor_kind, actor_id, created_at)"
" SELECT e.tenant_id, 'change_request', e.change_request_id, e.change_request_id,"
"        e.action, e.from_state, e.to_state, e.actor_kind, e.actor_id, e.created_at"
"   FROM nx_new_events e";

static const char *const stage_job_inserts_sql =
"INSERT INTO nexplane.stream_events_pending (tenant_id, kind, subject_id,"
"       change_request_id, to_state, progress_percent, progress_step)"
" SELECT n.tenant_id, 'job', n.id, n.change_request_id, n.state,"
"        n.progress_percent, n.progress_step"
"   FROM nx_new_jobs n";

static const char *const stage_job_updates_sql =
"INSERT INTO nexplane.stream_events_pending (tenant_id, kind, subject_id,"
"       change_request_id, action, from_state, to_state, progress_percent, progress_step)"
" SELECT n.tenant_id, 'job', n.id, n.change_request_id,"
"        CASE WHEN n.state = o.state THEN 'progress' END, o.state, n.state,"
"        n.progress_percent, n.progress_step"
"   FROM nx_new_jobs n JOIN nx_old_jobs o ON o.tenant_id = n.tenant_id AND o.id = n.id"
"  WHERE n.state <> o.state"
"     OR (n.progress_step IS NOT NULL AND n.progress_step IS DISTINCT FROM o.progress_step)"
"     OR (n.progress_percent IS NOT NULL"
"         AND n.progress_percent IS DISTINCT FROM o.progress_percent)";

static AttrNumber
column(TupleDesc desc, const char *name)
{
	int			attno = SPI_fnumber(desc, name);

	if (attno <= 0)
		elog(ERROR, "_stream_event: table has no column \"%s\"", name);
	return (AttrNumber) attno;
}

/* Two values of one column, NULL or not, equal byte for byte? */
static bool
same_value(TupleTableSlot *a, TupleTableSlot *b, AttrNumber attno)
{
	Form_pg_attribute att = TupleDescAttr(a->tts_tupleDescriptor, attno - 1);
	bool		anull,
				bnull;
	Datum		av = slot_getattr(a, attno, &anull);
	Datum		bv = slot_getattr(b, attno, &bnull);

	if (anull || bnull)
		return anull == bnull;
	return datum_image_eq(av, bv, att->attbyval, att->attlen);
}

/* Set in the new row, and not to what the old row held? */
static bool
newly_set(TupleTableSlot *old, TupleTableSlot *new, AttrNumber attno)
{
	return !slot_attisnull(new, attno) && !same_value(old, new, attno);
}

/*
 * Did any row of an update of jobs move (state, step or percent), as the
 * statement's WHERE above has it?  The transition tables hold an update's
 * old and new rows in the same order, which is what pairs them here; a
 * pair whose keys differ is not taken on trust: the answer is then yes,
 * and the statement, which pairs by key, decides.
 */
static bool
nx_job_update_moved(TriggerData *td)
{
	TupleDesc	desc = RelationGetDescr(td->tg_relation);
	AttrNumber	tenant = column(desc, "tenant_id"),
				id = column(desc, "id"),
				state = column(desc, "state"),
				pct = column(desc, "progress_percent"),
				step = column(desc, "progress_step");
	TupleTableSlot *old = MakeSingleTupleTableSlot(desc, &TTSOpsMinimalTuple);
	TupleTableSlot *new = MakeSingleTupleTableSlot(desc, &TTSOpsMinimalTuple);
	bool		moved = false;

	/* read pointer 0: the statement's own scans take pointers of their own */
	tuplestore_select_read_pointer(td->tg_oldtable, 0);
	tuplestore_rescan(td->tg_oldtable);
	tuplestore_select_read_pointer(td->tg_newtable, 0);
	tuplestore_rescan(td->tg_newtable);
	while (!moved)
	{
		bool		got_old = tuplestore_gettupleslot(td->tg_oldtable, true, false, old);
		bool		got_new = tuplestore_gettupleslot(td->tg_newtable, true, false, new);

		if (!got_old || !got_new)
		{
			moved = got_old != got_new;
			break;
		}
		moved = !same_value(old, new, tenant) || !same_value(old, new, id) ||
			!same_value(old, new, state) || newly_set(old, new, step) ||
			newly_set(old, new, pct);
	}
	ExecDropSingleTupleTableSlot(old);
	ExecDropSingleTupleTableSlot(new);
	return moved;
}

PG_FUNCTION_INFO_V1(nx_stream_event);
Datum
nx_stream_event(PG_FUNCTION_ARGS)
{
	TriggerData *td = (TriggerData *) fcinfo->context;
	const char *sql;
	uint64		staged;

	if (!CALLED_AS_TRIGGER(fcinfo) || !TRIGGER_FIRED_AFTER(td->tg_event) ||
		!TRIGGER_FIRED_FOR_STATEMENT(td->tg_event) || td->tg_newtable == NULL ||
		!(TRIGGER_FIRED_BY_INSERT(td->tg_event) ||
		  (TRIGGER_FIRED_BY_UPDATE(td->tg_event) && td->tg_oldtable != NULL)))
		elog(ERROR, "_stream_event must be an AFTER INSERT or UPDATE ... FOR EACH STATEMENT"
			 " trigger with transition tables");
	if (tuplestore_tuple_count(td->tg_newtable) == 0)
		return PointerGetDatum(NULL);
	if (strcmp(RelationGetRelationName(td->tg_relation), "jobs") != 0)
		sql = stage_cr_events_sql;
	else if (TRIGGER_FIRED_BY_INSERT(td->tg_event))
		sql = stage_job_inserts_sql;
	else if (nx_job_update_moved(td))
		sql = stage_job_updates_sql;
	else
		return PointerGetDatum(NULL);

	SPI_connect();
	if (SPI_register_trigger_data(td) != SPI_OK_TD_REGISTER)
		elog(ERROR, "SPI_register_trigger_data failed");
	staged = nx_spi_system(sql, 0, NULL);
	SPI_finish();

	if (staged > 0 && !nx_sequencer_wake_at_commit())
		Async_Notify("nexplane_events", "");	/* no payload: see above */
	return PointerGetDatum(NULL);
}
