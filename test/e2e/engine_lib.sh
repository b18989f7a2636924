#!/usr/bin/env bash
# Shared by the engine_*.sh scripts: changes to real servers driven the
# whole way, as users drive them: a change request created by an operator,
# approved by an approver, executed, run by the job workers with the
# connector, verified; then its rollback, a change request of its own,
# approved and run the same way.  Source lib.sh and the target's
# test/servers/*.sh first.
#
#   eng_setup                     cluster, extension, tenant eng with admin,
#                                 operator and approver; secrets dir $SEC
#   eng_secret NAME JSON          a secret as a file only postgres reads
#   eng_credential NAME FILE      a credential from the file (no secret in
#                                 SQL text); prints its id
#   eng_connector TYPE NAME CONFIG CRED [ENV]   prints the connector's id
#   eng_change CONN TYPE PARAMS   create, approve, execute; waits; prints
#                                 the change request's id
#   eng_rollback CR               its rollback, approved and run; prints
#                                 the rollback's id
#   eng_state CR                  state: error
#   eng_job CONN KIND             queue test_connection or discover; waits;
#                                 prints the job's state
#   eng_works CONN CRED [PARAMS [VERSION]]  does the target take the stored
#                                 credential (VERSION current, or previous)?
#   eng_change_lost, eng_rollback_lost, eng_change_held: a worker held, lost (below)
# Each eng_* call is a new psql session, authenticated as the user it needs.

ENG_ADMIN=admin@eng.test ENG_OP=op@eng.test ENG_APPR=appr@eng.test
ENG_PW=eng-user-password-1

eng_setup() {
  e2e_cluster <<'CONF' || { echo "not ok - cluster starts"; exit 1; }
log_statement = 'all'
CONF
  sql -c "CREATE EXTENSION nexplane" -c "CREATE EXTENSION nexplane_test" \
      -c "SELECT nexplane.tenant_create('eng', 'Eng', '$ENG_ADMIN', '$ENG_PW') IS NOT NULL" >/dev/null &&
    eng_as "$ENG_ADMIN" "SELECT nexplane.user_create('$ENG_OP', '$ENG_PW', 'operator') IS NOT NULL" >/dev/null &&
    eng_as "$ENG_ADMIN" "SELECT nexplane.user_create('$ENG_APPR', '$ENG_PW', 'approver') IS NOT NULL" >/dev/null ||
    { echo "not ok - tenant and users"; exit 1; }
  SEC=$E2E_DIR/sec
  mkdir -p "$SEC" && chown postgres: "$SEC" && chmod 700 "$SEC"
}

# Each user logs in once (bcrypt is slow on purpose) and its access token
# is kept in a file, since eng_as runs in subshells; every later call
# authenticates with it, in the one transaction its statements run in.
eng_token() { # email: prints the user's access token
  local f=$E2E_DIR/tokens/$1
  if [ ! -s "$f" ]; then
    mkdir -p "$E2E_DIR/tokens" && chmod 700 "$E2E_DIR/tokens"
    (umask 077; sql -c "SELECT nexplane.login('$1', '$ENG_PW', NULL, false)->>'access_token'" >"$f") ||
      { rm -f "$f"; return 1; }
  fi
  cat "$f"
}

eng_as() { # email, then SQL statements; prints the last one's result
  local tok out
  tok=$(eng_token "$1") || return 1
  shift
  local IFS=';'
  out=$(sql -c "SELECT nexplane.authenticate('$tok') IS NOT NULL;$*") || return 1
  tail -n 1 <<<"$out"
}

eng_secret() { (umask 077; printf '%s' "$2" >"$SEC/$1.json"); chown postgres: "$SEC/$1.json"; }

eng_credential() {
  eng_as "$ENG_ADMIN" "SELECT nexplane.credential_create('$1', 'static', pg_read_file('$SEC/$2.json')::jsonb)->>'id'"
}

eng_connector() {
  eng_as "$ENG_ADMIN" "SELECT nexplane.connector_create('$1', '$2', '$3'::jsonb, '$4', '${5:-production}')->>'id'"
}

eng_wait() { # CR: until it leaves the states a worker still has to move
  local i s
  for i in $(seq 1 300); do
    s=$(sql -c "SELECT state FROM nexplane.change_requests WHERE id = '$1'")
    case $s in approved|scheduled|executing|pending_approval|rolling_back) sleep 0.2 ;; *) return 0 ;; esac
  done
  return 1
}

eng_approve_and_run() { # CR
  eng_as "$ENG_APPR" "SELECT nexplane.cr_approve('$1', 'looks right')->>'state'" >/dev/null
  # high risk needs two approvals, one of them an admin's
  [ "$(sql -c "SELECT state FROM nexplane.change_requests WHERE id = '$1'")" = approved ] ||
    eng_as "$ENG_ADMIN" "SELECT nexplane.cr_approve('$1', 'agreed')->>'state'" >/dev/null
  eng_as "$ENG_OP" "SELECT nexplane.cr_execute('$1')->>'state'" >/dev/null
  eng_wait "$1"
}

eng_change() { # CONN TYPE PARAMS
  local cr
  cr=$(eng_as "$ENG_OP" "SELECT nexplane.cr_create('$1', '$2', '$3'::jsonb, 'e2e $2')->>'id'")
  [ -n "$cr" ] || return 1
  eng_as "$ENG_OP" "SELECT nexplane.cr_submit('$cr')->>'state'" >/dev/null
  eng_approve_and_run "$cr"
  echo "$cr"
}

eng_rollback() { # CR
  local rb
  rb=$(eng_as "$ENG_OP" "SELECT nexplane.cr_rollback('$1', 'e2e rollback')->>'id'")
  [ -n "$rb" ] || return 1
  eng_approve_and_run "$rb"
  eng_wait "$1"
  echo "$rb"
}

eng_state() { sql -c "SELECT state || coalesce(': ' || error, '') FROM nexplane.change_requests WHERE id = '$1'"; }

eng_job() { # CONN KIND
  local fn j i s
  fn=$([ "$2" = discover ] && echo connector_discover || echo connector_test)
  j=$(eng_as "$ENG_OP" "SELECT nexplane.$fn('$1')->>'id'")
  for i in $(seq 1 150); do
    s=$(sql -c "SELECT state FROM nexplane.jobs WHERE id = '$j'")
    case $s in queued|running) sleep 0.2 ;; *) echo "$s"; return 0 ;; esac
  done
  echo "$s"
}

eng_works() { [ "$(sql -c "SELECT nexplane_test.credential_works('$1', '$2', '${3:-{\}}', '${4:-current}')")" = t ]; }

# No secret of the list in the nexplane server log, the results, the
# evidence or the audit trail: eng_no_secrets SECRET...
eng_no_secrets() {
  local s found=0 dump=$E2E_DIR/dump.txt
  sql -c "SELECT result::text, rollback_state::text, error FROM nexplane.change_requests" \
      -c "SELECT content::text FROM nexplane.evidence" \
      -c "SELECT result::text, error FROM nexplane.jobs" \
      -c "SELECT before::text, after::text FROM nexplane.audit_events" >"$dump"
  for s in "$@"; do
    grep -qF -- "$s" "$dump" "$E2E_DIR/pg/server.log" && found=1
  done
  [ "$found" = 0 ]
}

# A change whose worker is lost in the middle, after execute has written to
# the target and before verify: eng_change_lost CONN TYPE PARAMS STEP
# prints the change request's id once the recovery has ended it.  STEP is
# the progress step the connector records just before its write (its
# nx_connector_step name): the worker is held at its next step (execute's
# write done), killed there with SIGKILL, and the postmaster restarts
# everything, as 005_change_crash.pl's worker is.  The hold is the test's
# own, not nexplane's: a trigger on nexplane.jobs that makes that step's
# UPDATE wait for an advisory lock a session of the test holds (that
# session ends in the restart).  The lease is 10 s meanwhile, so the
# recovery (which waits for it) comes soon after.  A fifth argument is a
# command run once the worker is killed, before the recovery (what someone
# might do to the target meanwhile).
ENG_HOLD_KEY=20261203
eng_hold_install() {
  sql >/dev/null <<'SQL'
SET client_min_messages = warning;
CREATE SCHEMA IF NOT EXISTS e2e_hold;
CREATE TABLE IF NOT EXISTS e2e_hold.after (step text PRIMARY KEY, kind text NOT NULL DEFAULT 'execute_change');
CREATE OR REPLACE FUNCTION e2e_hold.hold() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  -- the first attempt only: the recovery (attempt 2) must not wait
  IF NEW.attempts = 1
     AND NEW.progress_step IS DISTINCT FROM OLD.progress_step
     AND EXISTS (SELECT 1 FROM e2e_hold.after a WHERE a.step = OLD.progress_step AND a.kind = NEW.kind) THEN
    PERFORM pg_advisory_xact_lock(20261203);
  END IF;
  RETURN NEW;
END $$;
DROP TRIGGER IF EXISTS e2e_hold ON nexplane.jobs;
CREATE TRIGGER e2e_hold BEFORE UPDATE OF progress_step ON nexplane.jobs
  FOR EACH ROW EXECUTE FUNCTION e2e_hold.hold();
SQL
}

eng_workers_idle() { # until both job workers are back and have been round the queue
  local i
  for i in $(seq 1 300); do
    [ "$(sql -c "SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'nexplane job worker'
                  AND state = 'idle'" 2>/dev/null)" = 2 ] && return 0
    sleep 0.2
  done
  return 1
}

# eng_hold CONN TYPE PARAMS STEP TIMEOUT: the change created, approved and
# executed with its worker held at its step after STEP (job_lease 10 s,
# job_timeout TIMEOUT meanwhile); sets ENG_CR, ENG_HELD (the worker's pid,
# empty if it never got there) and ENG_HOLDER (the session holding it).
# eng_hold_arm STEP TIMEOUT [KIND]: job workers of KIND (execute_change)
# will wait at their progress step after STEP; the lock is held by ENG_HOLDER.
eng_hold_arm() {
  local i
  ENG_HELD=
  eng_hold_install
  sql -c "ALTER SYSTEM SET nexplane.job_lease = 10" -c "ALTER SYSTEM SET nexplane.job_timeout = $2" \
      -c "SELECT pg_reload_conf()" -c "TRUNCATE e2e_hold.after" \
      -c "INSERT INTO e2e_hold.after VALUES ('$1', '${3:-execute_change}')" >/dev/null
  sql -c "SELECT pg_advisory_lock($ENG_HOLD_KEY)" -c "SELECT pg_sleep(120)" >/dev/null 2>&1 &
  ENG_HOLDER=$!
  for i in $(seq 1 100); do
    [ "$(sql -c "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND objid = $ENG_HOLD_KEY AND granted")" = 1 ] && break
    sleep 0.1
  done
}

eng_hold() {
  ENG_CR=
  eng_hold_arm "$4" "$5"
  ENG_CR=$(eng_as "$ENG_OP" "SELECT nexplane.cr_create('$1', '$2', '$3'::jsonb, 'e2e held $2')->>'id'")
  [ -n "$ENG_CR" ] || return 1
  eng_as "$ENG_OP" "SELECT nexplane.cr_submit('$ENG_CR')->>'state'" >/dev/null
  eng_hold_run
}

# eng_hold_run: ENG_CR approved and executed, until its worker waits in the hold
eng_hold_run() {
  local i
  eng_as "$ENG_APPR" "SELECT nexplane.cr_approve('$ENG_CR', 'looks right')->>'state'" >/dev/null
  [ "$(sql -c "SELECT state FROM nexplane.change_requests WHERE id = '$ENG_CR'")" = approved ] ||
    eng_as "$ENG_ADMIN" "SELECT nexplane.cr_approve('$ENG_CR', 'agreed')->>'state'" >/dev/null
  eng_as "$ENG_OP" "SELECT nexplane.cr_execute('$ENG_CR')->>'state'" >/dev/null
  # the worker waits in the hold, execute's write done
  for i in $(seq 1 150); do
    ENG_HELD=$(sql -c "SELECT a.pid FROM pg_stat_activity a JOIN pg_locks l ON l.pid = a.pid
                        WHERE a.backend_type = 'nexplane job worker' AND l.locktype = 'advisory'
                          AND l.objid = $ENG_HOLD_KEY AND NOT l.granted")
    [ -n "$ENG_HELD" ] && return 0
    sleep 0.2
  done
  return 1
}

eng_hold_reset() {
  sql -c "TRUNCATE e2e_hold.after" -c "ALTER SYSTEM RESET nexplane.job_lease" \
      -c "ALTER SYSTEM RESET nexplane.job_timeout" -c "SELECT pg_reload_conf()" >/dev/null
}

eng_change_lost() { # CONN TYPE PARAMS STEP [COMMAND]
  eng_hold "$1" "$2" "$3" "$4" 5 || { kill "$ENG_HOLDER"; echo "$ENG_CR"; return 1; }
  eng_lost_end "${5:-}"
}

# A rollback whose worker is lost: eng_rollback_lost CR STEP [COMMAND]
# asks for CR's rollback (a change request of its own, approved by another
# user), holds its rollback_change worker at its progress step after STEP
# as eng_change_lost does, kills it there, and prints the rollback's id
# once the recovery has ended it.
eng_rollback_lost() { # CR STEP [COMMAND]
  eng_hold_arm "$2" 5 rollback_change
  ENG_CR=$(eng_as "$ENG_OP" "SELECT nexplane.cr_rollback('$1', 'e2e held rollback')->>'id'")
  [ -n "$ENG_CR" ] && eng_hold_run || { kill "$ENG_HOLDER"; echo "$ENG_CR"; return 1; }
  eng_lost_end "${3:-}"
}

eng_lost_end() { # [COMMAND]: kill the held worker, wait for the recovery
  local i
  kill -KILL "$ENG_HELD"
  wait "$ENG_HOLDER" 2>/dev/null
  [ -z "${1:-}" ] || eval "$1" >/dev/null 2>&1
  # the restart, then the recovery once the lost worker's lease has run out
  for i in $(seq 1 600); do
    case $(sql -c "SELECT state FROM nexplane.change_requests WHERE id = '$ENG_CR'" 2>/dev/null) in
      ''|executing) sleep 0.2 ;; *) break ;;
    esac
  done
  eng_hold_reset
  eng_workers_idle
  echo "$ENG_CR"
}

# A change whose worker is held, not killed: eng_change_held CONN TYPE
# PARAMS STEP DURING AFTER holds the worker at its progress step after STEP
# as eng_change_lost does, runs the command DURING there (what may happen
# to the target meanwhile), lets the worker go on, runs AFTER, and prints
# the change request's id once the worker has ended it.  The call's
# timeout is ENG_TIMEOUT seconds (5) meanwhile: a hold longer than that
# makes execute's next command run out of time.
eng_change_held() { # CONN TYPE PARAMS STEP DURING AFTER
  eng_hold "$1" "$2" "$3" "$4" "${ENG_TIMEOUT:-5}" || { kill "$ENG_HOLDER"; echo "$ENG_CR"; return 1; }
  eng_held_end "$5" "$6"
}

# ... and a rollback's: eng_rollback_held CR STEP DURING AFTER prints the
# rollback's id once its worker has ended it.
eng_rollback_held() { # CR STEP DURING AFTER
  eng_hold_arm "$2" "${ENG_TIMEOUT:-5}" rollback_change
  ENG_CR=$(eng_as "$ENG_OP" "SELECT nexplane.cr_rollback('$1', 'e2e held rollback')->>'id'")
  [ -n "$ENG_CR" ] && eng_hold_run || { kill "$ENG_HOLDER"; echo "$ENG_CR"; return 1; }
  eng_held_end "$3" "$4"
}

eng_held_end() { # DURING AFTER: run DURING, let the held worker go, run AFTER, wait
  eval "$1" >/dev/null 2>&1
  sql -c "SELECT pg_terminate_backend(pid) FROM pg_locks WHERE locktype = 'advisory'
           AND objid = $ENG_HOLD_KEY AND granted" >/dev/null
  wait "$ENG_HOLDER" 2>/dev/null
  eval "$2" >/dev/null 2>&1
  eng_wait "$ENG_CR"
  eng_hold_reset
  echo "$ENG_CR"
}

# What the recovery of a lost change saw and did with its rollback state:
# "in_effect rollback_state" of its recovery_verification evidence.
eng_recovery() {
  sql -c "SELECT (content->>'in_effect') || ' ' || (content->>'rollback_state') FROM nexplane.evidence
           WHERE change_request_id = '$1' AND kind = 'recovery_verification'"
}

# ... and for a rotation, what became of its pending version:
# "in_effect rollback_state pending_version" (in_effect "null": cannot tell).
eng_recovery_rotation() {
  sql -c "SELECT coalesce(content->>'in_effect', 'null') || ' ' || (content->>'rollback_state') || ' ' ||
                 (content->>'pending_version') FROM nexplane.evidence
           WHERE change_request_id = '$1' AND kind = 'recovery_verification'"
}

# The kinds of a change's evidence, by when they were written (one
# transaction's by name).
eng_evidence_kinds() {
  sql -c "SELECT string_agg(kind, ',' ORDER BY created_at, kind) FROM nexplane.evidence WHERE change_request_id = '$1'"
}

# The state eng_state prints for a lost change, and for a lost rollback.
ENG_LOST="failed: outcome unknown: the worker was lost during the change"
ENG_RB_LOST="failed: outcome unknown: the worker was lost during the rollback"

# What the recovery of a lost rollback of a rotation found and did:
# "in_effect previous_version" of its recovery_verification evidence
# (in_effect "null": cannot tell).
eng_recovery_unrotate() {
  sql -c "SELECT coalesce(content->>'in_effect', 'null') || ' ' || (content->>'previous_version')
            FROM nexplane.evidence WHERE change_request_id = '$1' AND kind = 'recovery_verification'"
}

eng_rollback_state_is() { # CR JSON: the change's rollback state is JSON (jsonb's equality)
  [ "$(sql -v cr="$1" -v want="$2" <<<"SELECT rollback_state = :'want'::jsonb FROM nexplane.change_requests WHERE id = :'cr'")" = t ]
}
