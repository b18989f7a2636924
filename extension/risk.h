/*-------------------------------------------------------------------------
 *
 * risk.h
 *	  Risk scoring of change requests.
 *
 *-------------------------------------------------------------------------
 */
#ifndef NX_RISK_H
#define NX_RISK_H

#include "nexplane.h"

typedef struct NxRiskInput
{
	const char *tenant_id;
	const char *connector_id;
	const char *change_type;
	const char *asset_ids;		/* uuid[] literal */
	const char *at;				/* planned time, or NULL for now */
	const char *requester_role;
	Jsonb	   *params;			/* the change's, or NULL */
	/*
	 * The connector's NX_RISK_CONNECTOR_COLS, when the caller has just read
	 * its row (cr_create: it checks the connector first); NULL: risk.c
	 * reads it
	 */
	const Datum *connector_values;
	const bool *connector_nulls;
} NxRiskInput;

#define NX_RISK_CONNECTOR_COLS "type", "environment", "tags"
#define NX_RISK_CONNECTOR_NCOLS 3

/* A score's parts, for a statement's parameters and an event's payload */
typedef struct NxRiskParts
{
	char	   *score;
	const char *level;
	char	   *factors;		/* a JSON array */
	int32		score_value;
	Jsonb	   *factors_jsonb;	/* factors as jsonb, built, not parsed */
	Jsonb	   *risk_jsonb;		/* the whole score as jsonb: {score, level, factors} */
} NxRiskParts;

/* The score as JSON text: {score, level, factors}; parts, when given, apart */
extern char *nx_risk_compute(const NxRiskInput *in, NxRiskParts *parts);

#endif							/* NX_RISK_H */
