#!/usr/bin/env bash
# The postgresql connector through the whole engine, against a second,
# plain PostgreSQL cluster (test/servers/postgresql.sh: SCRAM logins over
# TCP, every statement logged) where the connector logs in as nx_admin,
# LOGIN CREATEROLE with pg_signal_backend and nothing more.  Every change
# type created by an operator, approved by an approver, executed by the
# job workers, checked with psql on the target (logins, pg_roles,
# pg_auth_members), then rolled back (a change request of its own,
# approved and run the same way) and checked again; the rotations' new
# secrets only in the vault; no secret in any log, result, evidence or
# audit event.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/../servers/postgresql.sh"
. "$(dirname "$0")/engine_lib.sh"

T=$E2E_DIR/target
trap 'nx_pg_target_stop "$T"; nx_cluster_stop "$E2E_DIR/pg"; [ -n "${KEEP:-}" ] || rm -rf "$E2E_DIR"' EXIT
eng_setup

pw() { echo "canary-$1-$(openssl rand -hex 8)"; }
ADMIN=$(pw admin) OLD=$(pw app) SLEEPER=$(pw sleeper) DOOMED=$(pw doomed) BOSS=$(pw boss)
# Other scripts start clusters at the same time and may take a port
# between our look and our bind: each try starts from a random port.
for try in 1 2 3; do
  nx_pg_target_start "$T" "$(nx_free_port $((54400 + RANDOM % 8000)))" </dev/null && break
  nx_pg_target_stop "$T"
  rm -rf "$T"
done
[ -f "$T/port" ] || { echo "not ok - target starts"; exit 1; }
TPORT=$(cat "$T/port")
tsql() { nx_pg_target_sql "$T" "$@"; }
# The set-up's passwords stay out of the target's log.
tsql -c "SET log_statement = 'none'" -c "SET log_min_duration_statement = -1" \
  -c "CREATE ROLE nx_admin LOGIN CREATEROLE PASSWORD '$ADMIN'" \
  -c "GRANT pg_signal_backend TO nx_admin" \
  -c "CREATE ROLE app_user LOGIN PASSWORD '$OLD'" \
  -c "CREATE ROLE readers NOLOGIN" \
  -c "CREATE ROLE sleeper NOLOGIN PASSWORD '$SLEEPER'" \
  -c "CREATE ROLE doomed LOGIN PASSWORD '$DOOMED'" \
  -c "CREATE ROLE boss SUPERUSER LOGIN PASSWORD '$BOSS'" >/dev/null ||
  { echo "not ok - target roles"; exit 1; }

# Answers are read whole before grep (pipefail and SIGPIPE).
logs_in() { [ "$(PGPASSWORD=$2 psql -X -q -tA -h 127.0.0.1 -p "$TPORT" -U "$1" -d postgres -c 'SELECT SESSION_USER' 2>&1)" = "$1" ]; }
refused() { local a; a=$(PGPASSWORD=$2 psql -X -q -tA -h 127.0.0.1 -p "$TPORT" -U "$1" -d postgres -c 'SELECT 1' 2>&1); grep -qE 'password authentication failed|not permitted to log in' <<<"$a"; }
rolattr() { tsql -c "SELECT $2 FROM pg_roles WHERE rolname = '$1'"; }
members() { # role member: t/f for the admin option, nothing when not a member
  tsql -c "SELECT m.admin_option FROM pg_auth_members m JOIN pg_roles r ON r.oid = m.roleid
           JOIN pg_roles u ON u.oid = m.member WHERE r.rolname = '$1' AND u.rolname = '$2'"
}
open_session() { # a session of role $1 (password $2) kept open in the background
  PGPASSWORD=$2 psql -X -q -h 127.0.0.1 -p "$TPORT" -U "$1" -d postgres \
    -c 'SELECT pg_sleep(60)' >"$E2E_DIR/session.$1" 2>&1 &
  echo $! >"$E2E_DIR/session.$1.pid"
  for _ in $(seq 50); do
    [ "$(tsql -c "SELECT count(*) FROM pg_stat_activity WHERE usename = '$1'")" = 1 ] && return 0
    sleep 0.1
  done
  return 1
}
session_ended() { # ended by the server, not by the test
  local pid
  pid=$(cat "$E2E_DIR/session.$1.pid")
  for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  ! kill -0 "$pid" 2>/dev/null && grep -q 'terminating connection due to administrator command' "$E2E_DIR/session.$1"
}
versions() { sql -c "SELECT coalesce(string_agg(status, ',' ORDER BY status), '') FROM nexplane.credential_versions WHERE credential_id = '$1'"; }
state_is() { [ "$(eng_state "$1")" = "$2" ]; }
state_like() { local s; s=$(eng_state "$1"); grep -qE "$2" <<<"$s"; }
no() { ! "$@"; }
refused_rollback() { local a; a=$(eng_as "$ENG_OP" "SELECT nexplane.cr_rollback('$1')" 2>&1); grep -q "$2" <<<"$a"; }
evidence_kinds() { sql -c "SELECT string_agg(kind, ',' ORDER BY created_at, kind) FROM nexplane.evidence WHERE change_request_id = '$1'"; }

eng_secret admin "{\"username\": \"nx_admin\", \"password\": \"$ADMIN\"}"
eng_secret app "{\"username\": \"app_user\", \"password\": \"$OLD\"}"
eng_secret boss "{\"username\": \"boss\", \"password\": \"$BOSS\"}"
ADMIN_CRED=$(eng_credential pg-admin admin)
APP=$(eng_credential pg-app-user app)
BOSS_CRED=$(eng_credential pg-boss boss)
CONN=$(eng_connector postgresql accounts "{\"host\": \"127.0.0.1\", \"port\": $TPORT}" "$ADMIN_CRED")
check "a postgresql connector is made, its credential checked" test -n "$CONN"

# test and discover, as jobs
check "connector_test: the job succeeds" test "$(eng_job "$CONN" test_connection)" = succeeded
check "... and the connector's health is ok" \
  test "$(eng_as "$ENG_OP" "SELECT nexplane.connector_get('$CONN')->'health'->>'state'")" = ok
check "connector_discover: the job succeeds" test "$(eng_job "$CONN" discover)" = succeeded
check "... roles and the postgres database are assets, in the connector's environment" \
  test "$(eng_as "$ENG_OP" "SELECT count(*) FROM jsonb_array_elements(nexplane.asset_list('{\"connector_id\": \"$CONN\"}')) a
                           WHERE (a->>'kind', a->>'name') IN (('role', 'app_user'), ('role', 'readers'), ('database', 'postgres'))
                             AND a->>'environment' = 'production'")" = 3

# rotate_password of an account: a new secret only the vault knows
CR=$(eng_change "$CONN" rotate_password "{\"credential_id\": \"$APP\"}")
check "rotate_password: completed through approval and the workers" state_is "$CR" completed
check "... the old password is refused by the target" refused app_user "$OLD"
check "... the vault's new password logs in" eng_works "$CONN" "$APP"
check "... the target stores it as SCRAM" \
  test "$(tsql -c "SELECT left(rolpassword, 14) FROM pg_authid WHERE rolname = 'app_user'")" = 'SCRAM-SHA-256$'
check "... the vault keeps the old one as previous, nothing pending" test "$(versions "$APP")" = previous
check "... evidence of the pre-check, the execution and the verification" \
  test "$(evidence_kinds "$CR")" = "execution,pre_check,verification"
check "... each with the SHA-256 of its content" \
  test "$(sql -c "SELECT bool_and(sha256 = sha256(convert_to(content::text, 'UTF8'))) FROM nexplane.evidence WHERE change_request_id = '$CR'")" = t
check "... the verification logged in as the account, the server checking the password" \
  test "$(sql -c "SELECT content->'checked'->>'role' || ' ' || (content->'checked'->>'server_checked_password')
                  FROM nexplane.evidence WHERE change_request_id = '$CR' AND kind = 'verification'")" = "app_user true"
RB=$(eng_rollback "$CR")
check "its rollback: a change request of its own, completed" state_is "$RB" completed
check "... the original is rolled back" state_is "$CR" rolled_back
check "... the old password logs in again" logs_in app_user "$OLD"
check "... and it is the vault's current one again" eng_works "$CONN" "$APP"

# rotate_password of the connector's own login (no credential_id)
CR=$(eng_change "$CONN" rotate_password '{}')
check "rotate_password of the connector's own login: completed" state_is "$CR" completed
check "... its old password is refused" refused nx_admin "$ADMIN"
check "... the vault's new one logs in" eng_works "$CONN" "$ADMIN_CRED"
check "... and the connector works on with it (a test job)" test "$(eng_job "$CONN" test_connection)" = succeeded
RB=$(eng_rollback "$CR")
check "its rollback (logged in with the new password) completed" state_is "$RB" completed
check "... the old password logs in again" logs_in nx_admin "$ADMIN"
check "... and it is the vault's current one" eng_works "$CONN" "$ADMIN_CRED"

# create_role, then its rollback (the role is gone)
CR=$(eng_change "$CONN" create_role '{"role": "nx_new", "login": true, "connection_limit": 3}')
check "create_role: completed" state_is "$CR" completed
check "... the role is on the target, LOGIN, limit 3" test "$(rolattr nx_new "rolcanlogin || ' ' || rolconnlimit")" = "true 3"
RB=$(eng_rollback "$CR")
check "its rollback completed" state_is "$RB" completed
check "... the target no longer has nx_new" test -z "$(rolattr nx_new rolname)"

# lock_role ends the open session and logins; its rollback lets them in again
check "app_user has a session open" open_session app_user "$OLD"
CR=$(eng_change "$CONN" lock_role '{"role": "app_user"}')
check "lock_role: completed" state_is "$CR" completed
check "... the open session was ended" session_ended app_user
check "... app_user is NOLOGIN" test "$(rolattr app_user rolcanlogin)" = f
check "... its password is refused" refused app_user "$OLD"
RB=$(eng_rollback "$CR")
check "its rollback completed" state_is "$CR" rolled_back
check "... app_user logs in again" logs_in app_user "$OLD"

# unlock_role lets a NOLOGIN role in; its rollback locks it again
CR=$(eng_change "$CONN" unlock_role '{"role": "sleeper"}')
check "unlock_role: completed" state_is "$CR" completed
check "... sleeper logs in" logs_in sleeper "$SLEEPER"
RB=$(eng_rollback "$CR")
check "its rollback completed" state_is "$CR" rolled_back
check "... sleeper cannot log in" refused sleeper "$SLEEPER"

# grant_role, then its rollback
CR=$(eng_change "$CONN" grant_role '{"role": "readers", "member": "app_user"}')
check "grant_role: completed" state_is "$CR" completed
check "... app_user is a member of readers" test "$(members readers app_user)" = f
RB=$(eng_rollback "$CR")
check "its rollback completed" state_is "$CR" rolled_back
check "... the membership is gone" test -z "$(members readers app_user)"

# revoke_role of a membership with the admin option; the rollback gives both back
tsql -c "GRANT readers TO app_user WITH ADMIN OPTION"
CR=$(eng_change "$CONN" revoke_role '{"role": "readers", "member": "app_user"}')
check "revoke_role: completed" state_is "$CR" completed
check "... the membership is gone" test -z "$(members readers app_user)"
RB=$(eng_rollback "$CR")
check "its rollback completed" state_is "$CR" rolled_back
check "... app_user is a member again, with the admin option" test "$(members readers app_user)" = t

# drop_role has no rollback
check "doomed has a session open" open_session doomed "$DOOMED"
CR=$(eng_change "$CONN" drop_role '{"role": "doomed"}')
check "drop_role: completed" state_is "$CR" completed
check "... the target no longer has doomed" test -z "$(rolattr doomed rolname)"
check "... its open session was ended" session_ended doomed
check "... and a rollback of it is refused" refused_rollback "$CR" "cannot be rolled back"

# A change that fails on the target: a CREATEROLE login may not change a
# superuser's password.  Failed with the target's reason, the pending
# secret dropped, the old credential kept.
CR=$(eng_change "$CONN" rotate_password "{\"credential_id\": \"$BOSS_CRED\"}")
check "a rotation the target refuses fails, saying why" state_like "$CR" "^failed: setting the password failed on the target: .*superuser"
check "... no pending version is left" test -z "$(versions "$BOSS_CRED")"
check "... the old password still logs in" logs_in boss "$BOSS"
check "... and is the vault's current one" eng_works "$CONN" "$BOSS_CRED"
check "... the evidence shows the new one refused and the old one taken" \
  test "$(sql -c "SELECT string_agg(kind || '=' || (content->>'ok'), ',' ORDER BY kind) FROM nexplane.evidence
                  WHERE change_request_id = '$CR' AND kind LIKE 'verification%'")" = "verification=false,verification_of_previous=true"

# A rotation's rollback whose worker is lost (docs/jobs.md, "A lost
# rollback of a rotation"), held and killed with SIGKILL as
# engine_lib.sh's eng_rollback_lost does: the recovery logs in as the
# account to learn which version the target takes, and the vault follows;
# the rollback fails as outcome unknown.  Killed once its ALTER ROLE
# committed (at the connector's step after it): the previous password is
# back, so the versions are swapped.
CR=$(eng_change "$CONN" rotate_password "{\"credential_id\": \"$APP\"}")
check "(a rotation to roll back: completed, the old password refused)" \
  eval 'state_is "$CR" completed && refused app_user "$OLD"'
RB=$(eng_rollback_lost "$CR" "connecting")
check "a rollback of a rotation lost once its ALTER ROLE landed: failed, outcome unknown" state_is "$RB" "$ENG_RB_LOST"
check "... the recovery found the previous password alone and swapped the versions" \
  test "$(eng_recovery_unrotate "$RB")" = "true restored"
check "... the vault's current version is the previous password: it logs in on the target" \
  eval 'eng_works "$CONN" "$APP" && logs_in app_user "$OLD"'
check "... the rotated one, kept as previous, does not" no eng_works "$CONN" "$APP" '{}' previous
check "... nothing pending" test "$(versions "$APP")" = previous
# killed before its ALTER ROLE: it did not land, the vault is unchanged
CR=$(eng_change "$CONN" rotate_password "{\"credential_id\": \"$APP\"}")
RB=$(eng_rollback_lost "$CR" "rolling back")
check "a rollback of a rotation lost before its ALTER ROLE: failed, outcome unknown" state_is "$RB" "$ENG_RB_LOST"
check "... the decision recorded: not in effect, the vault unchanged" \
  test "$(eng_recovery_unrotate "$RB")" = "false unchanged"
check "... the vault's current (rotated) password still logs in" eng_works "$CONN" "$APP"
check "... the previous one is still refused, and still the vault's previous" \
  eval 'refused app_user "$OLD" && no eng_works "$CONN" "$APP" "{}" previous && test "$(versions "$APP")" = previous'

check "the target's log shows SCRAM verifiers only in ALTER ROLE" \
  grep -qF "ALTER ROLE \"app_user\" PASSWORD 'SCRAM-SHA-256\$4096:" "$T/server.log"
check "no password in the target's log" bash -c '! grep -qF -e "$2" -e "$3" -e "$4" -e "$5" -e "$6" "$1"' _ \
  "$T/server.log" "$ADMIN" "$OLD" "$SLEEPER" "$DOOMED" "$BOSS"
check "no password in the server log, results, evidence, jobs or audit events" \
  eng_no_secrets "$ADMIN" "$OLD" "$SLEEPER" "$DOOMED" "$BOSS"
check "no SCRAM verifier in them either" eng_no_secrets 'SCRAM-SHA-256$'
