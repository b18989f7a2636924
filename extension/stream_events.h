/*-------------------------------------------------------------------------
 *
 * stream_events.h
 *	  The live feed's staging: one statement's events, gathered per tenant
 *	  by the trigger (stream_events.c) and written as one row per tenant of
 *	  stream_events_pending (stream_events_pending.c).
 *
 *-------------------------------------------------------------------------
 */
#ifndef NX_STREAM_EVENTS_H
#define NX_STREAM_EVENTS_H

#include "nexplane.h"

/*
 * An event's fields, in this order: each is one array column of
 * stream_events_pending and stream_events (88_events.sql), with the
 * column's name and element type given in stream_events_pending.c.
 */
typedef enum NxEventField
{
	NX_EV_SUBJECT,				/* uuid */
	NX_EV_CHANGE_REQUEST,		/* uuid */
	NX_EV_ACTION,				/* text */
	NX_EV_FROM,					/* text */
	NX_EV_TO,					/* text */
	NX_EV_ACTOR_KIND,			/* text */
	NX_EV_ACTOR_ID,				/* uuid */
	NX_EV_AT,					/* timestamptz; NULL: the transaction's start */
	NX_EV_PERCENT,				/* smallint */
	NX_EV_STEP,					/* text */
	NX_EV_FIELDS
} NxEventField;

/* The events of one statement for one tenant: one pending row. */
typedef struct NxStagedRun
{
	pg_uuid_t	tenant;
	int			n;
	int			cap;
	Datum	   *values[NX_EV_FIELDS];
	bool	   *nulls[NX_EV_FIELDS];
	bool		any[NX_EV_FIELDS];	/* a value not NULL in the field? */
} NxStagedRun;

/* One statement's events, in the statement's order within each tenant. */
typedef struct NxStaging
{
	const char *kind;			/* 'change_request' or 'job' */
	int			nruns;
	int			maxruns;
	int			last;			/* the run the last event went to */
	NxStagedRun *runs;
} NxStaging;

extern void nx_staging_init(NxStaging *st, const char *kind);
extern void nx_staging_add(NxStaging *st, Datum tenant, const Datum *values,
						   const bool *nulls);
extern uint64 nx_staging_write(NxStaging *st);

#endif							/* NX_STREAM_EVENTS_H */
