/*-------------------------------------------------------------------------
 *
 * stream_events.c
 *	  _stream_event(): the deferred trigger that stages change-request
 *	  transitions and job state changes for the live feed (GET /v1/events).
 *
 * It fires at commit (a DEFERRABLE INITIALLY DEFERRED constraint trigger)
 * and appends the event to stream_events_pending: a plain insert, with no
 * lock that another writer waits for.  The event sequencer
 * (bgworkers/event_sequencer.c), woken when the transaction commits,
 * numbers it per tenant and tells listeners; events_since() numbers what
 * it finds pending too (88_events.sql).  At commit a worker's system
 * access (one SPI call long) and the caller's context may both be gone, so
 * the insert runs with system access, for the tenant of the row that
 * fired, which already passed its own table's policy.
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
#include "utils/rel.h"

static char *
column(HeapTuple row, TupleDesc desc, const char *name)
{
	int			attno = SPI_fnumber(desc, name);

	if (attno <= 0)
		elog(ERROR, "_stream_event: table has no column \"%s\"", name);
	return SPI_getvalue(row, desc, attno);
}

PG_FUNCTION_INFO_V1(nx_stream_event);
Datum
nx_stream_event(PG_FUNCTION_ARGS)
{
	TriggerData *td = (TriggerData *) fcinfo->context;
	TupleDesc	desc;
	HeapTuple	row;
	bool		is_job;
	const char *args[12];

	if (!CALLED_AS_TRIGGER(fcinfo) || !TRIGGER_FIRED_AFTER(td->tg_event) ||
		!TRIGGER_FIRED_FOR_ROW(td->tg_event) || TRIGGER_FIRED_BY_DELETE(td->tg_event))
		elog(ERROR, "_stream_event must be an AFTER INSERT or UPDATE ... FOR EACH ROW trigger");
	desc = RelationGetDescr(td->tg_relation);
	is_job = strcmp(RelationGetRelationName(td->tg_relation), "jobs") == 0;
	row = TRIGGER_FIRED_BY_UPDATE(td->tg_event) ? td->tg_newtuple : td->tg_trigtuple;

	args[0] = column(row, desc, "tenant_id");
	if (is_job)
	{
		char	   *from = NULL;

		const char *action = NULL;

		if (TRIGGER_FIRED_BY_UPDATE(td->tg_event))
		{
			from = column(td->tg_trigtuple, desc, "state");
			if (strcmp(from, column(row, desc, "state")) == 0)
			{
				/* a running job's progress: a step, or its percent, moved */
				char	   *old_step = column(td->tg_trigtuple, desc, "progress_step");
				char	   *old_pct = column(td->tg_trigtuple, desc, "progress_percent");
				char	   *step = column(row, desc, "progress_step");
				char	   *pct = column(row, desc, "progress_percent");

				if ((step == NULL || (old_step && strcmp(step, old_step) == 0)) &&
					(pct == NULL || (old_pct && strcmp(pct, old_pct) == 0)))
					return PointerGetDatum(NULL);
				action = "progress";
			}
		}
		args[1] = "job";
		args[2] = column(row, desc, "id");
		args[3] = column(row, desc, "change_request_id");
		args[4] = action;
		args[5] = from;
		args[6] = column(row, desc, "state");
		args[7] = NULL;
		args[8] = NULL;
	}
	else
	{
		args[1] = "change_request";
		args[2] = column(row, desc, "change_request_id");
		args[3] = args[2];
		args[4] = column(row, desc, "action");
		args[5] = column(row, desc, "from_state");
		args[6] = column(row, desc, "to_state");
		args[7] = column(row, desc, "actor_kind");
		args[8] = column(row, desc, "actor_id");
	}
	args[9] = is_job ? NULL : column(row, desc, "created_at");
	args[10] = is_job ? column(row, desc, "progress_percent") : NULL;
	args[11] = is_job ? column(row, desc, "progress_step") : NULL;

	SPI_connect();
	nx_spi_system("INSERT INTO nexplane.stream_events_pending (tenant_id, kind, subject_id,"
				  "   change_request_id, action, from_state, to_state, actor_kind, actor_id,"
				  "   created_at, progress_percent, progress_step)"
				  " VALUES ($1::uuid, $2, $3::uuid, $4::uuid, $5, $6, $7, $8, $9::uuid,"
				  "        coalesce($10::timestamptz, now()), $11::smallint, $12)", 12, args);
	SPI_finish();

	if (!nx_sequencer_wake_at_commit())
		Async_Notify("nexplane_events", "");	/* no payload: see above */
	return PointerGetDatum(NULL);
}
