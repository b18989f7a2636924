/*-------------------------------------------------------------------------
 *
 * job_recovery.c
 *	  A change or rollback whose worker was lost (its lease ran out while
 *	  its connector calls had begun): never run again blindly, only asked
 *	  about.  Verify finds the real state, the answer is recorded as
 *	  evidence, the rollback state pre_check stored is kept or dropped by
 *	  it, a rotation's pending version is promoted, finished or discarded,
 *	  a rotation's lost rollback swaps the vault's versions when the target
 *	  takes the previous one, and the change request fails as "outcome
 *	  unknown".  It uses job_run.c's steps (job_run.h).
 *
 *-------------------------------------------------------------------------
 */
#include "job_run.h"

static const char *const nx_rollback_unknown =
"outcome unknown: the worker was lost during the rollback";

/*
 * A rotation's rollback whose worker was lost.  Its statement may have
 * landed: then the target takes only the previous version while the
 * vault's current one is the rotated password, which no longer works, and
 * recording alone would lose the credential.  So the target is asked, as
 * for a lost rotation, which version it takes (verify with the right
 * secret and undoing), and the vault follows it:
 *	- the previous version alone: swapped, as a rollback that ended does;
 *	- both (a connector's overlap: the previous password added back beside
 *	  the current one, not yet removed): finish_rotation with undoing
 *	  removes the current one, verify proves it, then swapped;
 *	- the current (rotated) version alone: the rollback did not land, the
 *	  vault is left as it is;
 *	- neither: nobody can tell; both versions stay (they are in the vault
 *	  already, as current and previous), and the reason says so.
 * The rollback fails as outcome unknown in every case.  The swap is made
 * only in the transaction that ends the job, behind its fence: a late or
 * second attempt that swapped too would swap the versions back.
 */
static void
nx_run_recovery_unrotate(NxRun *run)
{
	NxConnectorCall call;
	NxConnectorCall current;
	NxStep		steps[4] = {{.name = "recovery_verification"},
	{.name = "recovery_completion"},
	{.name = "recovery_verification_after_completion"},
	{.name = "recovery_verification_of_current"}};
	const char *cannot;
	const char *why = nx_rollback_unknown;
	bool		finished = false;
	bool		restored;
	bool		not_landed;

	/* new_secret: the previous version, old_secret: the current one */
	nx_txn_begin();
	cannot = nx_rotation_prepare_undo(run);
	nx_txn_end(run);

	nx_call_init(run, &call);
	call.undoing = true;
	if (cannot)
	{
		/* nothing to ask the target with: changed nothing, say why */
		steps[0].ran = true;
		steps[0].out.error = (char *) cannot;
	}
	else
		nx_run_op(run, run->connector->verify, &call, &steps[0]);
	if (!cannot && !steps[0].out.ok)
	{
		bool		mine;

		finished = nx_run_finish_overlap(run, &call, &steps[1], &steps[2], &mine);
		if (!mine)
			return;				/* another attempt has the job */
	}
	restored = !cannot && (steps[0].out.ok || finished);
	if (!cannot && !restored)
	{
		/* the rotation as it was: the current version in, the previous out */
		current = call;
		current.new_secret = run->old_secret;
		current.old_secret = run->new_secret;
		current.undoing = false;
		nx_run_op(run, run->connector->verify, &current, &steps[3]);
	}
	not_landed = steps[3].ran && steps[3].out.ok;
	/*
	 * "previous_version": "restored" (the target takes it alone: swapped),
	 * "finished" (it took both: the current one removed, then swapped),
	 * "unchanged" (the rollback did not land) or "kept" (neither logs in:
	 * both versions stay as they are).
	 */
	steps[0].extra = psprintf(", \"in_effect\": %s, \"previous_version\": \"%s\"",
							  restored ? "true" : not_landed ? "false" : "null",
							  finished ? "finished" : restored ? "restored" :
							  not_landed ? "unchanged" : "kept");
	if (cannot)
		why = psprintf("%s; %s", why, cannot);
	else if (!restored && !not_landed)
		why = psprintf("%s; the target takes neither the current nor the previous password:"
					   " both are kept in the vault", why);

	nx_txn_begin();
	nx_record_steps(run, steps, lengthof(steps));
	if (nx_job_finish(run->job, "failed", NULL, why))
	{
		if (restored)
			nx_rotation_swap_back(run);
		nx_cr_finish(run, false, NULL, why);
	}
	nx_txn_end(run);
}

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
	const char *why = undo ? nx_rollback_unknown : nx_outcome_unknown;
	bool		rotation = run->change_type->rotates_secret && !undo;
	bool		has_pending = false;
	/* the rollback state pre_check stored (a rollback's is its original's) */
	bool		has_state = !undo && run->rollback_state != NULL;
	bool		finished = false;
	bool		in_effect;
	bool		not_landed;

	if (undo && run->change_type->rotates_secret)
	{
		nx_run_recovery_unrotate(run);
		return;
	}
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
