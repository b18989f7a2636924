/*-------------------------------------------------------------------------
 *
 * stream_events.c
 *	  _stream_event(): the statement-level trigger that stages
 *	  change-request transitions and job state changes for the live feed
 *	  (GET /v1/events).
 *
 * It fires once at the end of each statement that inserts change-request
 * events, or inserts or updates jobs, reads the statement's transition
 * tables here, and stages the statement's events of each tenant as one
 * row of stream_events_pending, holding them as parallel arrays
 * (stream_events_pending.c writes it, without SPI): a worker that ends 32
 * jobs in one UPDATE stages one row of 32 events, and the sequencer
 * numbers it as one range (88_events.sql; bench/jobs/README.md for the
 * cost).  A statement whose rows belong to several tenants stages one row
 * per tenant, each with that tenant's events in the statement's order.
 * The plain insert takes no lock that another writer waits for.  The
 * event sequencer (bgworkers/event_sequencer.c), woken when the
 * transaction commits, numbers the rows per tenant and tells listeners;
 * events_since() numbers what it finds pending too (88_events.sql, whose
 * header says why staging before commit keeps the numbering's
 * guarantees).
 *
 * An update of jobs pairs each old row with the new one in the
 * transition tables' order, which is the order PostgreSQL saved them in,
 * one pair per updated row; a pair whose key differs (nothing updates a
 * job's key) is no event.  A pair is an event when the state moved, or,
 * for a running job's progress, when a step or percent was set to
 * something new.  A column list cannot narrow the trigger (PostgreSQL
 * allows no transition tables with UPDATE OF), so every update of jobs
 * reaches it, and an update that moved nothing (a lease renewed) stages
 * nothing.
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

#include "jobs.h"
#include "stream_events.h"

#include "commands/async.h"
#include "commands/trigger.h"
#include "executor/tuptable.h"
#include "utils/datum.h"
#include "utils/rel.h"
#include "utils/tuplestore.h"

static AttrNumber
column(TupleDesc desc, const char *name)
{
	for (int i = 0; i < desc->natts; i++)
	{
		Form_pg_attribute att = TupleDescAttr(desc, i);

		if (!att->attisdropped && strcmp(NameStr(att->attname), name) == 0)
			return (AttrNumber) (i + 1);
	}
	elog(ERROR, "_stream_event: table has no column \"%s\"", name);
	return InvalidAttrNumber;	/* keep the compiler quiet */
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

/* The next row of a transition table, from the start on the first call. */
static bool
next_row(Tuplestorestate *ts, bool first, TupleTableSlot *slot)
{
	if (first)
	{
		/* read pointer 0: the trigger's own; nothing else reads it now */
		tuplestore_select_read_pointer(ts, 0);
		tuplestore_rescan(ts);
	}
	return tuplestore_gettupleslot(ts, true, false, slot);
}

/* Field f of the event from column attno of slot */
#define NX_TAKE(f, slot, attno) \
	(values[f] = slot_getattr(slot, attno, &nulls[f]))

/* A change request's events: one per inserted change_request_events row. */
static void
stage_cr_events(TriggerData *td, NxStaging *st)
{
	TupleDesc	desc = RelationGetDescr(td->tg_relation);
	AttrNumber	tenant = column(desc, "tenant_id"),
				cr = column(desc, "change_request_id"),
				action = column(desc, "action"),
				from = column(desc, "from_state"),
				to = column(desc, "to_state"),
				actor_kind = column(desc, "actor_kind"),
				actor_id = column(desc, "actor_id"),
				at = column(desc, "created_at");
	TupleTableSlot *row = MakeSingleTupleTableSlot(desc, &TTSOpsMinimalTuple);
	Datum		values[NX_EV_FIELDS];
	bool		nulls[NX_EV_FIELDS];
	bool		tnull;

	nx_staging_init(st, "change_request");
	for (bool first = true; next_row(td->tg_newtable, first, row); first = false)
	{
		Datum		t = slot_getattr(row, tenant, &tnull);

		NX_TAKE(NX_EV_SUBJECT, row, cr);
		NX_TAKE(NX_EV_CHANGE_REQUEST, row, cr);
		NX_TAKE(NX_EV_ACTION, row, action);
		NX_TAKE(NX_EV_FROM, row, from);
		NX_TAKE(NX_EV_TO, row, to);
		NX_TAKE(NX_EV_ACTOR_KIND, row, actor_kind);
		NX_TAKE(NX_EV_ACTOR_ID, row, actor_id);
		NX_TAKE(NX_EV_AT, row, at);
		nulls[NX_EV_PERCENT] = nulls[NX_EV_STEP] = true;
		nx_staging_add(st, t, values, nulls);
	}
	ExecDropSingleTupleTableSlot(row);
}

/*
 * Jobs inserted (old NULL) or updated: an insert is an event for every
 * row, an update for each row that moved (above).
 */
static void
stage_job_events(TriggerData *td, NxStaging *st)
{
	TupleDesc	desc = RelationGetDescr(td->tg_relation);
	AttrNumber	tenant = column(desc, "tenant_id"),
				id = column(desc, "id"),
				cr = column(desc, "change_request_id"),
				state = column(desc, "state"),
				pct = column(desc, "progress_percent"),
				step = column(desc, "progress_step");
	bool		update = TRIGGER_FIRED_BY_UPDATE(td->tg_event);
	TupleTableSlot *old = update ? MakeSingleTupleTableSlot(desc, &TTSOpsMinimalTuple) : NULL;
	TupleTableSlot *new = MakeSingleTupleTableSlot(desc, &TTSOpsMinimalTuple);
	Datum		values[NX_EV_FIELDS];
	bool		nulls[NX_EV_FIELDS];
	bool		tnull;

	nx_staging_init(st, "job");
	for (int f = 0; f < NX_EV_FIELDS; f++)
		nulls[f] = true;
	for (bool first = true; next_row(td->tg_newtable, first, new); first = false)
	{
		Datum		t;

		if (update)
		{
			bool		moved_state;

			if (!next_row(td->tg_oldtable, first, old))
				elog(ERROR, "_stream_event: an update's new row has no old row");
			if (!same_value(old, new, tenant) || !same_value(old, new, id))
				continue;
			moved_state = !same_value(old, new, state);
			if (!moved_state && !newly_set(old, new, step) && !newly_set(old, new, pct))
				continue;
			if (moved_state)
				nulls[NX_EV_ACTION] = true;
			else
			{
				values[NX_EV_ACTION] = CStringGetTextDatum("progress");
				nulls[NX_EV_ACTION] = false;
			}
			NX_TAKE(NX_EV_FROM, old, state);
		}
		t = slot_getattr(new, tenant, &tnull);
		NX_TAKE(NX_EV_SUBJECT, new, id);
		NX_TAKE(NX_EV_CHANGE_REQUEST, new, cr);
		NX_TAKE(NX_EV_TO, new, state);
		NX_TAKE(NX_EV_PERCENT, new, pct);
		NX_TAKE(NX_EV_STEP, new, step);
		nx_staging_add(st, t, values, nulls);
	}
	if (old)
		ExecDropSingleTupleTableSlot(old);
	ExecDropSingleTupleTableSlot(new);
}

#undef NX_TAKE

PG_FUNCTION_INFO_V1(nx_stream_event);
Datum
nx_stream_event(PG_FUNCTION_ARGS)
{
	TriggerData *td = (TriggerData *) fcinfo->context;
	NxStaging	st;

	if (!CALLED_AS_TRIGGER(fcinfo) || !TRIGGER_FIRED_AFTER(td->tg_event) ||
		!TRIGGER_FIRED_FOR_STATEMENT(td->tg_event) || td->tg_newtable == NULL ||
		!(TRIGGER_FIRED_BY_INSERT(td->tg_event) ||
		  (TRIGGER_FIRED_BY_UPDATE(td->tg_event) && td->tg_oldtable != NULL)))
		elog(ERROR, "_stream_event must be an AFTER INSERT or UPDATE ... FOR EACH STATEMENT"
			 " trigger with transition tables");
	if (tuplestore_tuple_count(td->tg_newtable) == 0)
		return PointerGetDatum(NULL);
	if (strcmp(RelationGetRelationName(td->tg_relation), "jobs") != 0)
		stage_cr_events(td, &st);
	else
		stage_job_events(td, &st);

	if (nx_staging_write(&st) > 0 && !nx_sequencer_wake_at_commit())
		Async_Notify("nexplane_events", "");	/* no payload: see above */
	return PointerGetDatum(NULL);
}
