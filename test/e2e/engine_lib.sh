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
#   eng_works CONN CRED [PARAMS]  does the target take the stored credential?
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

eng_works() { [ "$(sql -c "SELECT nexplane_test.credential_works('$1', '$2', '${3:-{\}}')")" = t ]; }

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
