/*-------------------------------------------------------------------------
 *
 * cron.h
 *	  Cron expressions: the parsed form, the schedule's time zone, and the
 *	  walk that lists the instants an expression fires at (cron.c).
 *
 *-------------------------------------------------------------------------
 */
#ifndef NX_CRON_H
#define NX_CRON_H

#include "pgtime.h"
#include "utils/timestamp.h"

/* The longest expression accepted (the schedules table's limit too). */
#define NX_CRON_MAX_LEN 100
/* The longest time zone name accepted (the schedules table's limit). */
#define NX_CRON_MAX_ZONE_LEN 64

/* A parsed expression: one bit per value each field allows. */
typedef struct NxCron
{
	uint64		minutes;		/* bit m: minute m, 0-59 */
	uint32		hours;			/* bit h: hour h, 0-23 */
	uint32		days;			/* bit d: day of the month d, 1-31 */
	uint32		months;			/* bit m: month m, 1-12 */
	uint32		weekdays;		/* bit d: 0 = Sunday to 6 = Saturday */
	bool		dom_star;		/* the day-of-month field starts with '*' */
	bool		dow_star;		/* the day-of-week field starts with '*' */
	/*
	 * Neither the minute nor the hour field has a '*' or a step: the
	 * expression names times of day, which DST moves rather than skips
	 * or repeats (see nx_cron_walk).
	 */
	bool		fixed_time;
} NxCron;

/*
 * Called with each instant in order; answers false to end the walk.
 */
typedef bool (*NxCronEmit) (TimestampTz t, void *arg);

/* Parse; false with *problem (a phrase, lower-case) when malformed. */
extern bool nx_cron_parse(const char *expr, NxCron *cron, char **problem);

/* Load an IANA zone; NULL with *problem when the name is not one. */
extern pg_tz *nx_cron_zone(const char *name, char **problem);

/*
 * Hand emit() every instant the expression fires at, in tz, that is after
 * 'after' and at most 'until', in order, until emit() answers false.
 * Instants stop before the year 10000.
 */
extern void nx_cron_walk(const NxCron *cron, pg_tz *tz, TimestampTz after,
						 TimestampTz until, NxCronEmit emit, void *arg);

#endif							/* NX_CRON_H */
