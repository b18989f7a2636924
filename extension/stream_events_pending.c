/*-------------------------------------------------------------------------
 *
 * stream_events_pending.c
 *	  The writer of stream_events_pending: one row per statement and
 *	  tenant, holding that statement's events of the tenant as parallel
 *	  arrays (88_events.sql).
 *
 * The trigger (stream_events.c) hands over a statement's events gathered
 * per tenant; each tenant's become one row, which goes into the heap and
 * the table's indexes through the executor's plain insert, the one
 * logical replication applies rows with (ExecSimpleRelationInsert): no
 * parser, planner or SPI, which an INSERT ... SELECT paid for on every
 * statement (bench/jobs/README.md).  Nor RLS: the rows are the tenants'
 * of rows that already passed their own table's policy, as the statement
 * this replaces ran with system access.  The table must have no triggers
 * (none would fire right from here), which is checked.
 *
 * A field that is NULL for every event of the row is stored as a NULL
 * array, not an array of NULLs: a job's actor, a job insert's action and
 * from-state; and the events' times as NULL when all are the row's
 * created_at.  The arrays are built directly from the events' values:
 * their element types are fixed here, and 88_events.sql's columns must
 * agree (checked when the table's layout is learnt).
 *
 *-------------------------------------------------------------------------
 */
#include "nexplane.h"

#include "stream_events.h"

#include "access/table.h"
#include "access/xact.h"
#include "catalog/dependency.h"
#include "catalog/namespace.h"
#include "catalog/pg_type.h"
#include "commands/sequence.h"
#include "executor/executor.h"
#include "nodes/makefuncs.h"
#include "utils/array.h"
#include "utils/datum.h"
#include "utils/inval.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"

/* The fields' columns and element types, in NxEventField's order. */
static const struct
{
	const char *column;
	Oid			type;
	int16		len;
	bool		byval;
	char		align;
}			fields[NX_EV_FIELDS] =
{
	{"subject_ids", UUIDOID, UUID_LEN, false, TYPALIGN_CHAR},
	{"change_request_ids", UUIDOID, UUID_LEN, false, TYPALIGN_CHAR},
	{"actions", TEXTOID, -1, false, TYPALIGN_INT},
	{"from_states", TEXTOID, -1, false, TYPALIGN_INT},
	{"to_states", TEXTOID, -1, false, TYPALIGN_INT},
	{"actor_kinds", TEXTOID, -1, false, TYPALIGN_INT},
	{"actor_ids", UUIDOID, UUID_LEN, false, TYPALIGN_CHAR},
	{"ats", TIMESTAMPTZOID, sizeof(TimestampTz), FLOAT8PASSBYVAL, TYPALIGN_DOUBLE},
	{"progress_percents", INT2OID, sizeof(int16), true, TYPALIGN_SHORT},
	{"progress_steps", TEXTOID, -1, false, TYPALIGN_INT},
};

/* The other columns */
enum
{
	PC_TENANT_ID, PC_ID, PC_N, PC_KIND, PC_CREATED_AT, PC_COUNT
};
static const char *const plain_columns[PC_COUNT] = {
	"tenant_id", "id", "n", "kind", "created_at"
};

/* The table's layout, learnt once per backend and forgotten on its invalidation */
static Oid	pending_relid = InvalidOid;
static Oid	pending_seqid = InvalidOid;
static int	plain_attno[PC_COUNT];	/* 0-based */
static int	field_attno[NX_EV_FIELDS];

static void
nx_pending_forget(Datum arg, Oid relid)
{
	if (relid == InvalidOid || relid == pending_relid)
		pending_relid = InvalidOid;
}

static int
nx_pending_attno(TupleDesc desc, const char *name, Oid type)
{
	for (int i = 0; i < desc->natts; i++)
	{
		Form_pg_attribute att = TupleDescAttr(desc, i);

		if (!att->attisdropped && strcmp(NameStr(att->attname), name) == 0)
		{
			if (OidIsValid(type) && att->atttypid != type)
				elog(ERROR, "nexplane.stream_events_pending.%s is not of type %s",
					 name, format_type_be(type));
			return i;
		}
	}
	elog(ERROR, "nexplane.stream_events_pending has no column \"%s\"", name);
	return -1;					/* keep the compiler quiet */
}

/* Open stream_events_pending, learning its layout when the cache is empty. */
static Relation
nx_pending_open(void)
{
	static bool callback_registered = false;
	Oid			relid = pending_relid;
	Relation	rel;

	if (!callback_registered)
	{
		CacheRegisterRelcacheCallback(nx_pending_forget, (Datum) 0);
		callback_registered = true;
	}
	if (!OidIsValid(relid))
		relid = get_relname_relid("stream_events_pending",
								  get_namespace_oid("nexplane", false));
	if (!OidIsValid(relid))
		elog(ERROR, "nexplane.stream_events_pending does not exist");
	rel = table_open(relid, RowExclusiveLock);
	if (rel->trigdesc != NULL)
		elog(ERROR, "nexplane.stream_events_pending must have no triggers");

	/* the lock may have brought an invalidation: check the cache after it */
	if (pending_relid != relid)
	{
		TupleDesc	desc = RelationGetDescr(rel);

		for (int c = 0; c < PC_COUNT; c++)
			plain_attno[c] = nx_pending_attno(desc, plain_columns[c], InvalidOid);
		for (int f = 0; f < NX_EV_FIELDS; f++)
			field_attno[f] = nx_pending_attno(desc, fields[f].column,
											  get_array_type(fields[f].type));
		pending_seqid = getIdentitySequence(relid, plain_attno[PC_ID] + 1, false);
		pending_relid = relid;
	}
	return rel;
}

void
nx_staging_init(NxStaging *st, const char *kind)
{
	st->kind = kind;
	st->nruns = 0;
	st->maxruns = 0;
	st->last = -1;
	st->runs = NULL;
}

/* The run of a tenant: the last one used, or found, or a new one. */
static NxStagedRun *
nx_staging_run(NxStaging *st, Datum tenant)
{
	const pg_uuid_t *t = DatumGetUUIDP(tenant);
	NxStagedRun *run;

	if (st->last >= 0 && memcmp(&st->runs[st->last].tenant, t, UUID_LEN) == 0)
		return &st->runs[st->last];
	for (int i = 0; i < st->nruns; i++)
		if (memcmp(&st->runs[i].tenant, t, UUID_LEN) == 0)
		{
			st->last = i;
			return &st->runs[i];
		}
	if (st->nruns == st->maxruns)
	{
		st->maxruns = st->maxruns ? st->maxruns * 2 : 4;
		st->runs = st->runs ? repalloc(st->runs, st->maxruns * sizeof(NxStagedRun)) :
			palloc(st->maxruns * sizeof(NxStagedRun));
	}
	st->last = st->nruns++;
	run = &st->runs[st->last];
	memset(run, 0, sizeof(NxStagedRun));
	memcpy(&run->tenant, t, UUID_LEN);
	return run;
}

/* Append one event of a tenant; the values are copied. */
void
nx_staging_add(NxStaging *st, Datum tenant, const Datum *values, const bool *nulls)
{
	NxStagedRun *run = nx_staging_run(st, tenant);

	if (run->n == run->cap)
	{
		run->cap = run->cap ? run->cap * 2 : 16;
		for (int f = 0; f < NX_EV_FIELDS; f++)
		{
			if (run->values[f] == NULL)
			{
				run->values[f] = palloc(run->cap * sizeof(Datum));
				run->nulls[f] = palloc(run->cap * sizeof(bool));
			}
			else
			{
				run->values[f] = repalloc(run->values[f], run->cap * sizeof(Datum));
				run->nulls[f] = repalloc(run->nulls[f], run->cap * sizeof(bool));
			}
		}
	}
	for (int f = 0; f < NX_EV_FIELDS; f++)
	{
		run->nulls[f][run->n] = nulls[f];
		if (nulls[f])
			run->values[f][run->n] = (Datum) 0;
		else
		{
			run->values[f][run->n] = datumCopy(values[f], fields[f].byval, fields[f].len);
			run->any[f] = true;
		}
	}
	run->n++;
}

/*
 * The row's time, which pruning goes by: its last event's (an event's
 * time is its change-request event's, or the transaction's start); the
 * times are then kept only if they are not all that one.
 */
static TimestampTz
nx_staging_time(NxStagedRun *run)
{
	TimestampTz start = GetCurrentTransactionStartTimestamp();
	TimestampTz first = start,
				last = start;
	bool		differ = false;

	if (!run->any[NX_EV_AT])
		return start;
	for (int i = 0; i < run->n; i++)
	{
		TimestampTz at = run->nulls[NX_EV_AT][i] ? start :
		DatumGetTimestampTz(run->values[NX_EV_AT][i]);

		if (i == 0)
			first = last = at;
		else if (at > last)
			last = at;
		if (at != first)
			differ = true;
	}
	/* all at one time: that is the row's, and the array is not kept */
	run->any[NX_EV_AT] = differ;
	return last;
}

/*
 * Write one pending row per tenant of the statement, in the order the
 * tenants first appeared; returns how many events they hold.
 */
uint64
nx_staging_write(NxStaging *st)
{
	Relation	rel;
	TupleDesc	desc;
	EState	   *estate;
	ResultRelInfo *rri;
	RangeTblEntry *rte;
	TupleTableSlot *slot;
	uint64		events = 0;

	if (st->nruns == 0)
		return 0;
	rel = nx_pending_open();
	desc = RelationGetDescr(rel);

	/* as logical replication's worker.c sets up its inserts */
	estate = CreateExecutorState();
	rte = makeNode(RangeTblEntry);
	rte->rtekind = RTE_RELATION;
	rte->relid = RelationGetRelid(rel);
	rte->relkind = rel->rd_rel->relkind;
	rte->rellockmode = RowExclusiveLock;
	ExecInitRangeTable(estate, list_make1(rte));
	rri = makeNode(ResultRelInfo);
	InitResultRelInfo(rri, rel, 1, NULL, 0);
	estate->es_output_cid = GetCurrentCommandId(true);
	ExecOpenIndices(rri, false);
	slot = ExecInitExtraTupleSlot(estate, desc, &TTSOpsVirtual);

	for (int r = 0; r < st->nruns; r++)
	{
		NxStagedRun *run = &st->runs[r];
		TimestampTz created_at = nx_staging_time(run);
		int			dims[1] = {run->n};
		int			lbs[1] = {1};

		ExecClearTuple(slot);
		memset(slot->tts_isnull, true, desc->natts * sizeof(bool));
#define NX_SET(attno, datum) \
	do { \
		slot->tts_values[attno] = (datum); \
		slot->tts_isnull[attno] = false; \
	} while (0)
		NX_SET(plain_attno[PC_TENANT_ID], UUIDPGetDatum(&run->tenant));
		NX_SET(plain_attno[PC_ID], Int64GetDatum(nextval_internal(pending_seqid, false)));
		NX_SET(plain_attno[PC_N], Int32GetDatum(run->n));
		NX_SET(plain_attno[PC_KIND], CStringGetTextDatum(st->kind));
		NX_SET(plain_attno[PC_CREATED_AT], TimestampTzGetDatum(created_at));
		for (int f = 0; f < NX_EV_FIELDS; f++)
			if (run->any[f])
				NX_SET(field_attno[f],
					   PointerGetDatum(construct_md_array(run->values[f], run->nulls[f], 1,
														  dims, lbs, fields[f].type,
														  fields[f].len, fields[f].byval,
														  fields[f].align)));
#undef NX_SET
		ExecStoreVirtualTuple(slot);
		ExecSimpleRelationInsert(rri, estate, slot);
		events += run->n;
	}

	ExecCloseIndices(rri);
	ExecResetTupleTable(estate->es_tupleTable, false);
	FreeExecutorState(estate);
	table_close(rel, NoLock);
	return events;
}
