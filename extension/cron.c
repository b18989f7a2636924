/*-------------------------------------------------------------------------
 *
 * cron.c
 *	  Cron expressions for schedules: the parser and the evaluator.
 *
 * No C library for cron expressions is packaged in Debian, so the
 * extension reads them itself: five fields (minute hour day-of-month month
 * day-of-week) of numbers, names (jan-dec, sun-sat), '*', ranges a-b,
 * steps /n and lists a,b, or a macro (@hourly ...).  Day of month and day
 * of week combine as in Vixie cron and pg_cron: when both are restricted
 * (neither starts with '*') a day matching either runs, else it must match
 * both.
 *
 * Expressions are evaluated in the schedule's IANA zone with PostgreSQL's
 * own time zone code (pgtime.h), so the tzdata the server uses for
 * timestamptz is the one schedules use.  The DST policy, in nx_cron_walk:
 * a fixed time of day in a skipped hour runs once at the first valid
 * instant after it, a fixed time in a repeated hour runs once at its first
 * occurrence, and expressions with '*' or a step in the minute or hour
 * field keep real-time cadence (a skipped hour has no runs, a repeated hour
 * has both).
 *
 *-------------------------------------------------------------------------
 */
#include "nexplane.h"

#include <ctype.h>
#include <unistd.h>

#include "cron.h"
#include "utils/datetime.h"

/*
 * PostgreSQL's own lookup of a zone file in its tzdata directory (pgtz.c;
 * not in an installed header).  pg_tzset() alone would also take a POSIX
 * zone specification such as "UTC+3", which means three hours *behind*
 * UTC: a schedule's zone must be a name from the tz database.
 */
extern int	pg_open_tzfile(const char *name, char *canonname);

/* 10000-01-01 00:00 UTC in seconds since 1970: the walk stops before it. */
#define NX_CRON_END ((pg_time_t) INT64CONST(253402300800))

typedef struct CronField
{
	const char *name;			/* for messages */
	int			min;
	int			max;
	const char *const *names;	/* three-letter names of min, min + 1, ... */
	const char *names_hint;
} CronField;

static const char *const month_names[] = {"jan", "feb", "mar", "apr", "may", "jun", "jul",
										  "aug", "sep", "oct", "nov", "dec", NULL};
static const char *const day_names[] = {"sun", "mon", "tue", "wed", "thu", "fri", "sat", NULL};

/* Day of week 7 is Sunday too, as in Vixie cron. */
static const CronField fields[5] = {
	{"minute", 0, 59, NULL, NULL},
	{"hour", 0, 23, NULL, NULL},
	{"day-of-month", 1, 31, NULL, NULL},
	{"month", 1, 12, month_names, "jan to dec"},
	{"day-of-week", 0, 7, day_names, "sun to sat"},
};

static const struct
{
	const char *name;
	const char *expr;
}			macros[] = {
	{"@yearly", "0 0 1 1 *"},
	{"@annually", "0 0 1 1 *"},
	{"@monthly", "0 0 1 * *"},
	{"@weekly", "0 0 * * 0"},
	{"@daily", "0 0 * * *"},
	{"@midnight", "0 0 * * *"},
	{"@hourly", "0 * * * *"},
};

static char *
unexpected(const CronField *f, const char *p)
{
	if (isprint((unsigned char) *p))
		return psprintf("%s field: unexpected \"%c\" (a field has numbers%s, *, ranges a-b, steps /n and lists a,b)",
						f->name, *p, f->names ? ", names" : "");
	return psprintf("%s field: an unexpected character", f->name);
}

/*
 * One value at *p: a number or, where the field has them, a name.  *p is
 * moved past it.
 */
static bool
parse_value(const CronField *f, const char **p, int *value, char **problem)
{
	const char *s = *p;
	const char *q = s;

	if (isdigit((unsigned char) *q))
	{
		int			v = 0;

		/* saturate: a long run of digits is out of range, not an overflow */
		for (; isdigit((unsigned char) *q); q++)
			v = Min(v * 10 + (*q - '0'), 100000);
		if (v < f->min || v > f->max)
		{
			*problem = psprintf("%s field: %.*s%s is out of range %d-%d", f->name,
								(int) Min(q - s, 6), s, q - s > 6 ? "..." : "", f->min, f->max);
			return false;
		}
		*value = v;
		*p = q;
		return true;
	}
	if (isalpha((unsigned char) *q))
	{
		while (isalpha((unsigned char) *q))
			q++;
		if (f->names == NULL)
		{
			*problem = psprintf("%s field: \"%.*s\" is not a number (names are for months and days of the week)",
								f->name, (int) Min(q - s, 12), s);
			return false;
		}
		for (int i = 0; f->names[i] != NULL; i++)
		{
			if (q - s == 3 && pg_strncasecmp(s, f->names[i], 3) == 0)
			{
				*value = f->min + i;
				*p = q;
				return true;
			}
		}
		*problem = psprintf("%s field: unknown name \"%.*s\" (use %s)", f->name,
							(int) Min(q - s, 12), s, f->names_hint);
		return false;
	}
	if (*q == '\0' || *q == ',' || *q == '-' || *q == '/')
		*problem = psprintf("%s field: a value is missing", f->name);
	else
		*problem = unexpected(f, q);
	return false;
}

/*
 * One field: a comma-separated list of items, each '*' or a value or a
 * range a-b, optionally with a step /n ("5/15" is 5 to the end by 15).
 * *starts_star: the field begins with '*'; *cadence: some item has a '*'
 * or a step.
 */
static bool
parse_field(const CronField *f, const char *text, uint64 *bits, bool *starts_star,
			bool *cadence, char **problem)
{
	const char *p = text;

	*bits = 0;
	*starts_star = (*text == '*');
	*cadence = false;
	for (;;)
	{
		const char *item = p;
		int			lo,
					hi,
					step = 1;
		bool		single = false;

		if (*p == ',' || *p == '\0')
		{
			*problem = psprintf("%s field: an empty list item", f->name);
			return false;
		}
		if (*p == '*')
		{
			lo = f->min;
			hi = f->max;
			*cadence = true;
			p++;
		}
		else
		{
			if (!parse_value(f, &p, &lo, problem))
				return false;
			hi = lo;
			single = true;
			if (*p == '-')
			{
				p++;
				if (!parse_value(f, &p, &hi, problem))
					return false;
				single = false;
				if (hi < lo)
				{
					*problem = psprintf("%s field: range %.*s runs backwards (a range does not wrap around)",
										f->name, (int) Min(p - item, 30), item);
					return false;
				}
			}
		}
		if (*p == '/')
		{
			const char *s = ++p;

			if (!isdigit((unsigned char) *p))
			{
				*problem = psprintf("%s field: a step must be a number", f->name);
				return false;
			}
			step = 0;
			for (; isdigit((unsigned char) *p); p++)
				step = Min(step * 10 + (*p - '0'), 100000);
			if (step < 1 || step > f->max)
			{
				*problem = psprintf("%s field: step %.*s%s is out of range 1-%d", f->name,
									(int) Min(p - s, 6), s, p - s > 6 ? "..." : "", f->max);
				return false;
			}
			if (single)
				hi = f->max;
			*cadence = true;
		}
		for (int v = lo; v <= hi; v += step)
			*bits |= UINT64CONST(1) << v;
		if (*p == '\0')
			return true;
		if (*p != ',')
		{
			*problem = unexpected(f, p);
			return false;
		}
		p++;
		if (*p == '\0')
		{
			*problem = psprintf("%s field: an empty list item", f->name);
			return false;
		}
	}
}

static int
days_in_month(int year, int month)
{
	return day_tab[isleap(year) ? 1 : 0][month - 1];
}

/*
 * Parse expr into *cron.  On failure, *problem says what is wrong in a
 * phrase that names the field, for "invalid cron expression: ...".
 */
bool
nx_cron_parse(const char *expr, NxCron *cron, char **problem)
{
	char	   *copy;
	char	   *token[5];
	int			ntokens = 0;
	uint64		bits[5];
	bool		starts_star[5];
	bool		cadence[5];
	char	   *p;

	while (isspace((unsigned char) *expr))
		expr++;
	if (strlen(expr) > NX_CRON_MAX_LEN)
	{
		*problem = psprintf("it is longer than %d characters", NX_CRON_MAX_LEN);
		return false;
	}
	copy = pstrdup(expr);
	/* trailing white space */
	for (p = copy + strlen(copy); p > copy && isspace((unsigned char) p[-1]); p--)
		p[-1] = '\0';
	if (*copy == '\0')
	{
		*problem = "it is empty";
		return false;
	}
	if (*copy == '@')
	{
		const char *found = NULL;

		for (size_t i = 0; i < lengthof(macros); i++)
			if (pg_strcasecmp(copy, macros[i].name) == 0)
				found = macros[i].expr;
		if (found == NULL)
		{
			if (pg_strcasecmp(copy, "@reboot") == 0)
				*problem = "@reboot has no meaning for a schedule";
			else
				*problem = psprintf("unknown macro \"%.20s\" (use @yearly, @annually, @monthly, @weekly, @daily, @midnight or @hourly)",
									copy);
			return false;
		}
		copy = pstrdup(found);
	}

	/* split on white space, counting past five to say how many there are */
	for (p = copy; *p != '\0';)
	{
		if (ntokens < 5)
			token[ntokens] = p;
		ntokens++;
		while (*p != '\0' && !isspace((unsigned char) *p))
			p++;
		while (isspace((unsigned char) *p))
			*p++ = '\0';
	}
	if (ntokens != 5)
	{
		*problem = psprintf("it has %d field%s; it needs 5: minute hour day-of-month month day-of-week%s",
							ntokens, ntokens == 1 ? "" : "s",
							ntokens > 5 ? " (seconds and years are not supported)" : "");
		return false;
	}
	for (int i = 0; i < 5; i++)
		if (!parse_field(&fields[i], token[i], &bits[i], &starts_star[i], &cadence[i], problem))
			return false;

	cron->minutes = bits[0];
	cron->hours = (uint32) bits[1];
	cron->days = (uint32) bits[2];
	cron->months = (uint32) bits[3];
	/* 7 is Sunday, like 0 */
	cron->weekdays = (uint32) ((bits[4] | (bits[4] >> 7)) & 0x7F);
	cron->dom_star = starts_star[2];
	cron->dow_star = starts_star[4];
	cron->fixed_time = !cadence[0] && !cadence[1];

	/*
	 * When the day must match both fields, some month must have one of the
	 * days (every date falls on every weekday in some year).  Either field
	 * alone always matches some day.
	 */
	if (cron->dom_star || cron->dow_star)
	{
		bool		possible = false;

		for (int m = 1; m <= 12; m++)
		{
			/* bits 1 to n; 2000 is a leap year, so February has its 29th */
			uint32		month_days = (uint32) ((UINT64CONST(2) << days_in_month(2000, m)) - 2);

			if ((cron->months & (1u << m)) && (cron->days & month_days))
				possible = true;
		}
		if (!possible)
		{
			*problem = "it never matches: none of its months has any of its days of the month";
			return false;
		}
	}
	return true;
}

/*
 * The schedule's zone: a name of the tz database (case as it likes), loaded
 * through PostgreSQL.  NULL with *problem when it is not one.
 */
pg_tz *
nx_cron_zone(const char *name, char **problem)
{
	char		canon[TZ_STRLEN_MAX + 1];
	pg_tz	   *tz;
	int			fd;
	size_t		len = strlen(name);

	if (len == 0)
	{
		*problem = "the time zone is empty";
		return NULL;
	}
	if (len > NX_CRON_MAX_ZONE_LEN)
	{
		*problem = psprintf("the time zone name is longer than %d characters", NX_CRON_MAX_ZONE_LEN);
		return NULL;
	}
	/*
	 * Letters, digits, '_', '-', '+' in '/'-separated parts: no dots, so no
	 * name reaches outside the tzdata directory.
	 */
	for (const char *p = name; *p != '\0'; p++)
	{
		bool		part_start = (p == name || p[-1] == '/');

		if (!(isalnum((unsigned char) *p) || *p == '_' || *p == '-' || *p == '+' ||
			  (*p == '/' && !part_start && p[1] != '\0')) ||
			(part_start && *p == '/'))
		{
			*problem = psprintf("unknown time zone \"%s\"", name);
			return NULL;
		}
	}
	fd = pg_open_tzfile(name, canon);
	if (fd < 0)
	{
		*problem = psprintf("unknown time zone \"%s\"", name);
		return NULL;
	}
	close(fd);
	tz = pg_tzset(name);
	if (tz == NULL)
	{
		*problem = psprintf("unknown time zone \"%s\"", name);
		return NULL;
	}
	if (!pg_tz_acceptable(tz))
	{
		*problem = psprintf("time zone \"%s\" counts leap seconds, which PostgreSQL does not", name);
		return NULL;
	}
	return tz;
}

/* Seconds since 1970, rounded down. */
static pg_time_t
unix_seconds(TimestampTz t)
{
	pg_time_t	s = t / USECS_PER_SEC;

	if (t % USECS_PER_SEC < 0)
		s--;
	return s + (pg_time_t) (POSTGRES_EPOCH_JDATE - UNIX_EPOCH_JDATE) * SECS_PER_DAY;
}

static pg_time_t
floor_day(pg_time_t s)
{
	pg_time_t	d = s / SECS_PER_DAY;

	if (s % SECS_PER_DAY < 0)
		d--;
	return d;
}

static bool
day_matches(const NxCron *c, int mday, int wday)
{
	bool		dom = (c->days & (1u << mday)) != 0;
	bool		dow = (c->weekdays & (1u << wday)) != 0;

	return (c->dom_star || c->dow_star) ? (dom && dow) : (dom || dow);
}

typedef bool (*WallVisit) (pg_time_t wall, void *arg);

/*
 * Visit, in order, every wall-clock time (local seconds since 1970, as if
 * the zone were UTC) in [from, to) that the expression matches.  False if
 * visit() ended it.
 */
static bool
cron_walls(const NxCron *c, pg_time_t from, pg_time_t to, WallVisit visit, void *arg)
{
	pg_time_t	last = floor_day(to - 1);

	for (pg_time_t day = floor_day(from); day <= last; day++)
	{
		int			jd = (int) (day + UNIX_EPOCH_JDATE);
		int			y,
					m,
					d;
		pg_time_t	base = day * SECS_PER_DAY;

		j2date(jd, &y, &m, &d);
		if (!(c->months & (1u << m)))
		{
			day += days_in_month(y, m) - d; /* to the month's last day */
			continue;
		}
		if (!day_matches(c, d, j2day(jd)))
			continue;
		for (int h = 0; h < 24; h++)
		{
			pg_time_t	hour = base + h * SECS_PER_HOUR;

			if (!(c->hours & (1u << h)) || hour + SECS_PER_HOUR <= from)
				continue;
			if (hour >= to)
				return true;
			for (int mi = 0; mi < 60; mi++)
			{
				pg_time_t	wall = hour + mi * SECS_PER_MINUTE;

				if (!(c->minutes & (UINT64CONST(1) << mi)) || wall < from)
					continue;
				if (wall >= to)
					return true;
				if (!visit(wall, arg))
					return false;
			}
		}
	}
	return true;
}

typedef struct Walk
{
	TimestampTz after;
	pg_time_t	until;			/* the last second that may be handed on */
	NxCronEmit	emit;
	void	   *arg;
	pg_time_t	last;			/* the last instant handed on */
	long		gmtoff;			/* of the stretch of time being walked */
} Walk;

/* Hand instant t on, once and only if after w->after; false to stop. */
static bool
hand_on(Walk *w, pg_time_t t)
{
	TimestampTz ts;

	if (t > w->until)
		return false;
	if (t == w->last)
		return true;
	ts = time_t_to_timestamptz(t);
	if (ts <= w->after)
		return true;
	w->last = t;
	return w->emit(ts, w->arg);
}

static bool
visit_slot(pg_time_t wall, void *arg)
{
	Walk	   *w = (Walk *) arg;

	return hand_on(w, wall - w->gmtoff);
}

static bool
visit_found(pg_time_t wall, void *arg)
{
	*(bool *) arg = true;
	return false;
}

/*
 * Walk time in stretches of one UTC offset, from one transition of the zone
 * to the next.  Within a stretch, wall-clock times and instants differ by
 * the offset, so the matching wall times of the stretch are its instants.
 * At a transition:
 * - forward (a gap: wall times that never happen): a fixed-time expression
 *   that matches a wall time in the gap runs once, at the transition, the
 *   first valid instant after it; others skip the gap.
 * - backward (wall times that happen twice): a fixed-time expression runs
 *   only at the first occurrence, so it ignores wall times before the
 *   furthest wall time already walked (hw); others run at both.
 * The walk starts two days before 'after' so that it knows what the last
 * transition before 'after' repeated.
 */
void
nx_cron_walk(const NxCron *c, pg_tz *tz, TimestampTz after, TimestampTz until,
			 NxCronEmit emit, void *arg)
{
	Walk		w = {.after = after, .emit = emit, .arg = arg, .last = PG_INT64_MIN};
	pg_time_t	cur = unix_seconds(after) - 2 * SECS_PER_DAY;
	pg_time_t	hw = PG_INT64_MIN;

	w.until = TIMESTAMP_NOT_FINITE(until) ? NX_CRON_END - 1 :
		Min(unix_seconds(until), NX_CRON_END - 1);
	while (cur <= w.until)
	{
		long		before,
					after_off;
		int			before_dst,
					after_dst;
		pg_time_t	b = 0,
					end,
					lo,
					hi;
		int			r;

		r = pg_next_dst_boundary(&cur, &before, &before_dst, &b, &after_off, &after_dst, tz);
		if (r == 1 && b <= cur)
		{
			/* "at or after": the transition we stand on; take the next */
			pg_time_t	next = cur + 1;

			r = pg_next_dst_boundary(&next, &before, &before_dst, &b, &after_off,
									 &after_dst, tz);
			if (r == 1 && b <= cur)
				r = 0;			/* cannot happen; never loop on it */
		}
		end = (r == 1 && b <= w.until) ? b : w.until + 1;
		lo = cur + before;
		hi = end + before;
		if (c->fixed_time && lo < hw)
			lo = hw;
		w.gmtoff = before;
		if (lo < hi && !cron_walls(c, lo, hi, visit_slot, &w))
			return;
		hw = Max(hw, hi);
		if (end > w.until)
			return;
		if (c->fixed_time && after_off > before)
		{
			bool		found = false;
			pg_time_t	gap_lo = Max(b + before, hw);

			if (gap_lo < b + after_off)
				cron_walls(c, gap_lo, b + after_off, visit_found, &found);
			if (found && !hand_on(&w, b))
				return;
		}
		cur = b;
	}
}
