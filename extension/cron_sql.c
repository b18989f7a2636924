/*-------------------------------------------------------------------------
 *
 * cron_sql.c
 *	  The SQL face of cron.c: checking a schedule's expression and zone,
 *	  previewing its next runs, and the slots the clock tick needs.
 *
 * Bad expressions and zones are NX422 with a message that names what is
 * wrong; missing or out-of-range arguments are NX400.  The tick's helper
 * never raises for a stored expression that no longer evaluates (a newer
 * parser, a zone gone from tzdata): one schedule must not stop the clock
 * for every tenant.
 *
 *-------------------------------------------------------------------------
 */
#include "nexplane.h"

#include "access/htup_details.h"
#include "catalog/pg_type.h"
#include "funcapi.h"
#include "utils/array.h"

#include "cron.h"

/* Most instants cron_next() lists at once. */
#define NX_CRON_MAX_N 1000

#define CRON_HINT "A cron expression has five fields, minute hour day-of-month month day-of-week, " \
	"such as \"30 2 * * 1-5\", or is one of @yearly, @monthly, @weekly, @daily and @hourly."
#define ZONE_HINT "Use a zone of the tz database, such as Europe/Berlin or America/New_York " \
	"(pg_timezone_names lists them); for a fixed offset such as UTC+3, Etc/GMT-3."

/* 1900-01-01 and 10000-01-01 00:00 UTC as timestamptz */
#define AFTER_MIN (-INT64CONST(3155673600) * USECS_PER_SEC)
#define AFTER_END (INT64CONST(252455616000) * USECS_PER_SEC)

static char *
required_text(FunctionCallInfo fcinfo, int argno, const char *name)
{
	if (PG_ARGISNULL(argno))
		ereport(ERROR,
				(errcode(ERRCODE_NX_BAD_INPUT),
				 errmsg("%s is required", name)));
	return text_to_cstring(PG_GETARG_TEXT_PP(argno));
}

static void
cron_or_error(const char *expr, NxCron *cron)
{
	char	   *problem;

	if (!nx_cron_parse(expr, cron, &problem))
		ereport(ERROR,
				(errcode(ERRCODE_NX_INVALID),
				 errmsg("invalid cron expression: %s", problem),
				 errhint(CRON_HINT)));
}

static pg_tz *
zone_or_error(const char *name)
{
	char	   *problem;
	pg_tz	   *tz = nx_cron_zone(name, &problem);

	if (tz == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_NX_INVALID),
				 errmsg("%s", problem),
				 errhint(ZONE_HINT)));
	return tz;
}

/* _cron_zone(timezone): the zone's name as the tz database spells it */
PG_FUNCTION_INFO_V1(nx_cron_zone_sql);
Datum
nx_cron_zone_sql(PG_FUNCTION_ARGS)
{
	pg_tz	   *tz = zone_or_error(required_text(fcinfo, 0, "timezone"));

	PG_RETURN_TEXT_P(cstring_to_text(pg_get_timezone_name(tz)));
}

typedef struct Collect
{
	Datum	   *items;
	int			n;
	int			want;
} Collect;

static bool
collect(TimestampTz t, void *arg)
{
	Collect    *c = (Collect *) arg;

	c->items[c->n++] = TimestampTzGetDatum(t);
	return c->n < c->want;
}

/*
 * _cron_next(cron, timezone, after, n): the next n instants after 'after'
 * (fewer only at the year 10000), the expression and zone checked.
 */
PG_FUNCTION_INFO_V1(nx_cron_next_sql);
Datum
nx_cron_next_sql(PG_FUNCTION_ARGS)
{
	char	   *expr = required_text(fcinfo, 0, "cron");
	char	   *zone = required_text(fcinfo, 1, "timezone");
	TimestampTz after;
	int32		n;
	NxCron		cron;
	pg_tz	   *tz;
	Collect		c;

	cron_or_error(expr, &cron);
	tz = zone_or_error(zone);
	if (PG_ARGISNULL(2))
		ereport(ERROR, (errcode(ERRCODE_NX_BAD_INPUT), errmsg("after is required")));
	after = PG_GETARG_TIMESTAMPTZ(2);
	if (after < AFTER_MIN || after >= AFTER_END)
		ereport(ERROR,
				(errcode(ERRCODE_NX_BAD_INPUT),
				 errmsg("after must be a time in the years 1900 to 9999")));
	if (PG_ARGISNULL(3))
		ereport(ERROR, (errcode(ERRCODE_NX_BAD_INPUT), errmsg("n is required")));
	n = PG_GETARG_INT32(3);
	if (n < 1 || n > NX_CRON_MAX_N)
		ereport(ERROR,
				(errcode(ERRCODE_NX_BAD_INPUT),
				 errmsg("n must be between 1 and %d", NX_CRON_MAX_N)));

	c.items = palloc(sizeof(Datum) * n);
	c.n = 0;
	c.want = n;
	nx_cron_walk(&cron, tz, after, DT_NOEND, collect, &c);
	if (c.n == 0)
		PG_RETURN_ARRAYTYPE_P(construct_empty_array(TIMESTAMPTZOID));
	PG_RETURN_ARRAYTYPE_P(construct_array(c.items, c.n, TIMESTAMPTZOID, sizeof(TimestampTz),
										  FLOAT8PASSBYVAL, TYPALIGN_DOUBLE));
}

typedef struct Slots
{
	TimestampTz now;
	TimestampTz due;
	TimestampTz next;
	bool		have_due;
	bool		have_next;
} Slots;

static bool
slots(TimestampTz t, void *arg)
{
	Slots	   *s = (Slots *) arg;

	if (t <= s->now)
	{
		s->due = t;
		s->have_due = true;
		return true;
	}
	s->next = t;
	s->have_next = true;
	return false;
}

/*
 * _cron_slots(cron, timezone, since, now, OUT due, OUT next) for the tick:
 * the latest slot from since to now (NULL if none), and the first after
 * now.  Both NULL, with a WARNING, when the stored expression or zone no
 * longer evaluates.  STRICT.
 */
PG_FUNCTION_INFO_V1(nx_cron_slots_sql);
Datum
nx_cron_slots_sql(PG_FUNCTION_ARGS)
{
	char	   *expr = text_to_cstring(PG_GETARG_TEXT_PP(0));
	char	   *zone = text_to_cstring(PG_GETARG_TEXT_PP(1));
	TimestampTz since = PG_GETARG_TIMESTAMPTZ(2);
	Slots		s = {.now = PG_GETARG_TIMESTAMPTZ(3)};
	TupleDesc	desc;
	Datum		values[2];
	bool		nulls[2] = {true, true};
	NxCron		cron;
	pg_tz	   *tz = NULL;
	char	   *problem;

	if (get_call_result_type(fcinfo, NULL, &desc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "_cron_slots must return a record");
	desc = BlessTupleDesc(desc);

	if (!nx_cron_parse(expr, &cron, &problem) || (tz = nx_cron_zone(zone, &problem)) == NULL)
		ereport(WARNING,
				(errcode(ERRCODE_NX_INVALID),
				 errmsg("a schedule's cron expression \"%s\" in \"%s\" no longer evaluates: %s",
						expr, zone, problem),
				 errhint("Change the schedule with schedule_update().")));
	else if (!TIMESTAMP_NOT_FINITE(since) && !TIMESTAMP_NOT_FINITE(s.now))
	{
		nx_cron_walk(&cron, tz, since - 1, DT_NOEND, slots, &s);
		if (s.have_due)
		{
			values[0] = TimestampTzGetDatum(s.due);
			nulls[0] = false;
		}
		if (s.have_next)
		{
			values[1] = TimestampTzGetDatum(s.next);
			nulls[1] = false;
		}
	}
	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(desc, values, nulls)));
}
