/*-------------------------------------------------------------------------
 *
 * job_recovery.c
 *	  A change or rollback whose worker was lost (its lease ran out while
 *	  its connector calls had begun): never run again blindly, only asked
 *	  about.  Verify finds the real state, the answer is recorded as
 *	  evidence, the rollback state pre_check stored is kept or dropped by
 *	  it, a rotation's pending version is promoted, finished or discarded,
 *	  and the change request fails as "outcome unknown".  Moved out of
 *	  job_run.c unchanged; it uses job_run.c's steps (job_run.h).
 *
 *-------------------------------------------------------------------------
 */
#include "job_run.h"

/*
 * A change whose worker was lost: ask the target, record the answer, fail
 * the change as outcome unknown.  A rotation keeps whichever version the
 * target takes; one the target takes both versions of (lost inside a
 * connector's overlap, the new password added and the old not yet
 * removed) is finished by the connector's finish_rotation and then its
 * pending version promoted, so that the target is left taking exactly one
 * password, the vault's current one (docs/jobs.md says why finished, not
 * undone).
 */
void
nx_run_recovery(NxRun *run, bool undo)
{
	NxConnectorCall call;
	NxStep		steps[4] = {{.name = "recovery_verification"},
	{.name = "recovery_completion"},
	{.name = "recovery_verification_after_completion"},
	{.name = "recovery_verification_of_previous"}};
	NxStep	   *previous = &steps[3];
	const char *why = undo ? "outcome unknown: the worker was lost during the rollback"
		: nx_outcome_unknown;
	bool		rotation = run->change_type->rotates_secret && !undo;
	bool		has_pending = false;
	/* the rollback state pre_check stored (a rollback's is its original's) */
	bool		has_state = !undo && run->rollback_state != NULL;
	bool		finished = false;
	bool		in_effect;
	bool		not_landed;

	nx_txn_begin();
	if (rotation)
		has_pending = nx_rotation_load_pending(run);
	nx_txn_end(run);

	nx_call_init(run, &call);
	call.undoing = undo;
	if (!rotation || has_pending)
		nx_run_op(run, run->connector->verify, &call, &steps[0]);
	if (rotation && has_pending && !steps[0].out.ok)
	{
		bool		mine;

		finished = nx_run_finish_overlap(run, &call, &steps[1], &steps[2], &mine);
		if (!mine)
			return;				/* another attempt has the job */
	}
	in_effect = steps[0].out.ok || finished;
	if (rotation && has_pending && !in_effect)
	{
		call.new_secret = run->old_secret;
		call.undoing = true;
		nx_run_op(run, run->connector->verify, &call, previous);
	}
	else if (!rotation && has_state && steps[0].ran && !steps[0].out.ok)
	{
		/* does the target show it as it was before? verify with undoing asks that */
		call.undoing = true;
		nx_run_op(run, run->connector->verify, &call, previous);
	}
	not_landed = previous->ran && previous->out.ok;
	if (steps[0].ran && !undo)
	{
		steps[0].extra = psprintf(", \"in_effect\": %s, \"rollback_state\": \"%s\"",
								  in_effect ? "true" : not_landed ? "false" : "null",
								  !has_state ? "none" : not_landed ? "dropped" : "kept");
		/*
		 * What became of the pending version: "finished" when the target
		 * took both and the recovery removed the old password first.
		 */
		if (rotation)
			steps[0].extra = psprintf("%s, \"pending_version\": \"%s\"", steps[0].extra,
									  finished ? "finished" : in_effect ? "promoted" :
									  not_landed ? "dropped" : "kept");
	}

	nx_txn_begin();
	nx_record_steps(run, steps, lengthof(steps));
	if (rotation && has_pending)
	{
		if (in_effect)
			nx_rotation_promote(run);
		else if (not_landed)
			nx_rotation_discard(run);
	}
	if (nx_job_finish(run->job, "failed", NULL, why))
	{
		/* it did not land: nothing to undo, and a rollback would undo what is not there */
		if (has_state && not_landed)
			nx_cr_set_rollback_state(run, NULL);
		nx_cr_finish(run, false, NULL, why);
	}
	nx_txn_end(run);
}
