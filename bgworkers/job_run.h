/*-------------------------------------------------------------------------
 *
 * job_run.h
 *	  One job while it runs: what job_run.c loads for it and what the
 *	  rotation steps (job_rotation.c) add.  Private to the job engine.
 *
 *-------------------------------------------------------------------------
 */
#ifndef NX_JOB_RUN_H
#define NX_JOB_RUN_H

#include "jobs.h"

typedef struct NxRun
{
	NxJob	   *job;
	MemoryContext cxt;			/* everything below lives here */
	const NxConnector *connector;
	Jsonb	   *config;
	Jsonb	   *credential;		/* the connector's own login (secret) */
	char	   *credential_id;
	char	   *status;			/* the connector's */
	char	   *breaker_until;	/* set while its breaker is open */
	/* changes */
	char	   *cr_state;
	char	   *original_id;	/* a rollback's: the change it undoes */
	const NxChangeType *change_type;
	Jsonb	   *params;
	Jsonb	   *rollback_state;	/* as stored (a rotation's wraps the next) */
	Jsonb	   *connector_state;	/* the connector's own, as its execute gave it */
	/* rotations */
	char	   *account_id;		/* the credential being rotated */
	Jsonb	   *new_secret;
	Jsonb	   *old_secret;
	/* secrets to zero when the job ends */
	void	   *wipe[8];
	Size		wipe_len[8];
	int			nwipe;
} NxRun;

/* Keep a secret's Jsonb copy in the run's memory, zeroed at its end. */
extern Jsonb *nx_run_keep_secret(NxRun *run, const unsigned char *json, size_t len);

/* One connector call of a run, and what it answered (job_run.c). */
typedef struct NxStep
{
	const char *name;			/* pre_check, execute, verify, ... */
	NxConnectorResult out;
	bool		ran;
	const char *extra;			/* more keys for its evidence (", \"k\": v"), or NULL */
} NxStep;

extern const char *const nx_outcome_unknown;

/* job_run.c's steps, shared with job_recovery.c */
extern void nx_txn_begin(void);
extern void nx_txn_end(NxRun *run);
extern void nx_call_init(NxRun *run, NxConnectorCall *call);
extern void nx_run_op(NxRun *run, NxConnectorOp op, NxConnectorCall *call, NxStep *step);
extern void nx_record_steps(NxRun *run, NxStep *steps, int n);
extern bool nx_run_finish_overlap(NxRun *run, NxConnectorCall *call, NxStep *finish,
								  NxStep *proof, bool *mine);
extern void nx_cr_set_rollback_state(NxRun *run, const char *state);
extern void nx_cr_finish(NxRun *run, bool ok, Jsonb *result, const char *error);

/* job_recovery.c */
extern void nx_run_recovery(NxRun *run, bool undo);

/* job_rotation.c, each inside a transaction and SPI */
extern const char *nx_rotation_prepare(NxRun *run);
extern void nx_rotation_promote(NxRun *run);
extern void nx_rotation_discard(NxRun *run);
extern const char *nx_rotation_prepare_undo(NxRun *run);
extern void nx_rotation_swap_back(NxRun *run);
extern bool nx_rotation_has_pending(NxRun *run);
extern bool nx_rotation_load_pending(NxRun *run);

#endif							/* NX_JOB_RUN_H */
