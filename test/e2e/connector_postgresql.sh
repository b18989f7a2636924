#!/usr/bin/env bash
# The postgresql connector against a real PostgreSQL server: a second
# cluster (test/servers/postgresql.sh) on loopback, SCRAM logins over TCP,
# every statement logged.  The connector logs in as nx_admin, a
# CREATEROLE role that is not a superuser.  For every change type:
# pre_check, execute, a check with psql on the target, verify, rollback,
# the check again, verify with undoing.  Then test and discover, bad
# input, a wrong admin password, a trust login, the target down and hung,
# and no password in either server's log or in any result.
#
# Secrets reach connector_call from a table filled by COPY (whose rows no
# log shows), so the nexplane server can log every statement too.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/../servers/postgresql.sh"
T=$E2E_DIR/target
trap 'nx_pg_target_stop "$T"; nx_cluster_stop "$E2E_DIR/pg"; [ -n "${KEEP:-}" ] || rm -rf "$E2E_DIR"' EXIT

# Other scripts start clusters at the same time and may take a port
# between our look and our bind: each try starts from a random port.
started() { # dir, then the command that makes and starts it on port $port
  local dir=$1 try
  shift
  for try in 1 2 3; do
    port=$(nx_free_port $((54400 + RANDOM % 8000)))
    "$@" && return 0
    nx_pg_target_stop "$dir"
    rm -rf "$dir"
  done
  return 1
}
nexplane_cluster() { # like e2e_cluster, on $port, logging every statement
  nx_cluster_init "$E2E_DIR/pg" "$port" >/dev/null && nx_cluster_trust_local "$E2E_DIR/pg" &&
    printf '%s\n' "log_statement = 'all'" "log_min_messages = debug1" >>"$E2E_DIR/pg/data/postgresql.conf" &&
    nx_cluster_start "$E2E_DIR/pg"
}
started "$E2E_DIR/pg" nexplane_cluster || { echo "not ok - nexplane cluster starts"; exit 1; }
# The target hashes with md5 unless told otherwise: the connector must send
# SCRAM anyway.
target() { nx_pg_target_start "$T" "$port" <<<"password_encryption = 'md5'"; }
started "$T" target ||
  { echo "not ok - target starts"; exit 1; }
TPORT=$(cat "$T/port")
tsql() { nx_pg_target_sql "$T" "$@"; }
# Set-up statements with passwords in them stay out of the target's log.
tsql -c "SET log_statement = 'none'" -c "SET log_min_duration_statement = -1" \
  -c "SET password_encryption = 'scram-sha-256'" \
  -c "CREATE ROLE nx_admin LOGIN CREATEROLE PASSWORD 'canary-admin-pw-7'" \
  -c "GRANT pg_signal_backend TO nx_admin" \
  -c "CREATE ROLE app_user LOGIN PASSWORD 'canary-app-old-1'" \
  -c "CREATE ROLE readers NOLOGIN" \
  -c "CREATE ROLE sleeper NOLOGIN PASSWORD 'canary-sleeper-3'" \
  -c "CREATE ROLE doomed LOGIN PASSWORD 'canary-doomed-4'" \
  -c "CREATE ROLE nx_trusty LOGIN PASSWORD 'canary-trusty-5'" >/dev/null
sed -i "1i host all nx_trusty 127.0.0.1/32 trust" "$T/data/pg_hba.conf"
tsql -c "SELECT pg_reload_conf()" >/dev/null

closed=$(nx_free_port 56432)
sql -c "CREATE EXTENSION nexplane" -c "CREATE EXTENSION nexplane_test" \
  -c "CREATE TABLE s (k text PRIMARY KEY, v jsonb)" >/dev/null
cat >"$E2E_DIR/secrets.tsv" <<EOF
config	{"host": "127.0.0.1", "port": $TPORT}
down	{"host": "127.0.0.1", "port": $closed}
socket	{"host": "/tmp", "port": $TPORT}
hostinj	{"host": "127.0.0.1 port=1", "port": $TPORT}
dbinj	{"host": "127.0.0.1", "port": $TPORT, "database": "postgres host=127.0.0.2"}
badport	{"host": "127.0.0.1", "port": "5432"}
admin	{"username": "nx_admin", "password": "canary-admin-pw-7"}
admin_new	{"username": "nx_admin", "password": "canary-admin-new-13"}
badadmin	{"username": "nx_admin", "password": "canary-wrong-admin-8"}
trusty	{"username": "nx_trusty", "password": "canary-trusty-5"}
app_old	{"username": "app_user", "password": "canary-app-old-1"}
app_new	{"username": "app_user", "password": "canary-app-new-2"}
app_bad	{"username": "app_user", "password": "canary-app-bad-9"}
ghost	{"username": "ghost", "password": "canary-ghost-10"}
readers	{"username": "readers", "password": "canary-readers-11"}
evil	{"username": "app_user'; DROP ROLE readers; --", "password": "canary-evil-12"}
empty	{"username": "app_user", "password": ""}
EOF
sql -c "\\copy s FROM '$E2E_DIR/secrets.tsv'"
canaries="canary-admin-pw-7 canary-admin-new-13 canary-wrong-admin-8 canary-trusty-5 canary-app-old-1 canary-app-new-2
  canary-app-bad-9 canary-ghost-10 canary-readers-11 canary-evil-12 canary-sleeper-3 canary-doomed-4"

# call OP [CHANGE PARAMS NEW OLD ROLLBACK_STATE UNDOING TIMEOUT_MS]: one
# connector operation; NEW and OLD name rows of s; CFG and CRED too.
call() {
  local out
  out=$(sql -v op="$1" -v ct="${2:-}" -v p="${3:-}" -v nk="${4:-}" -v ok="${5:-}" -v rb="${6:-}" \
    -v undo="${7:-false}" -v to="${8:-10000}" -v cfg="${CFG:-config}" -v cred="${CRED:-admin}" 2>&1 <<'SQL'
SELECT nexplane_test.connector_call('postgresql', :'op',
  (SELECT v FROM s WHERE k = :'cfg'), (SELECT v FROM s WHERE k = :'cred'),
  NULLIF(:'ct', ''), NULLIF(:'p', '')::jsonb,
  (SELECT v FROM s WHERE k = :'nk'), (SELECT v FROM s WHERE k = :'ok'),
  NULLIF(:'rb', '')::jsonb, :'undo'::boolean, :'to'::int)
SQL
  )
  printf '%s\n' "$out" >>"$E2E_DIR/results.txt"
  printf '%s\n' "$out"
}
is_ok() { jq -e '.ok == true' <<<"$1"; }
fails_with() { # pattern, then the call's output
  jq -e '.ok == false' <<<"$2" && jq -r '.error' <<<"$2" | grep -qE -- "$1"
}
# A login over TCP with a password, as the account checks use.
logs_in() { PGPASSWORD=$2 psql -X -q -tA -h 127.0.0.1 -p "$TPORT" -U "$1" -d postgres -c 'SELECT 1'; }
refused() { ! logs_in "$@"; }
rolattr() { tsql -c "SELECT $2 FROM pg_roles WHERE rolname = '$1'"; }
members() { # role member: "t"/"f" for admin option, nothing when not a member
  tsql -c "SELECT m.admin_option FROM pg_auth_members m JOIN pg_roles r ON r.oid = m.roleid
           JOIN pg_roles u ON u.oid = m.member WHERE r.rolname = '$1' AND u.rolname = '$2'"
}
# A session of role $1 (password $2) kept open in the background.
open_session() {
  PGPASSWORD=$2 psql -X -q -h 127.0.0.1 -p "$TPORT" -U "$1" -d postgres \
    -c 'SELECT pg_sleep(30)' >"$E2E_DIR/session.$1" 2>&1 &
  echo $! >"$E2E_DIR/session.$1.pid"
  for _ in $(seq 50); do
    [ "$(tsql -c "SELECT count(*) FROM pg_stat_activity WHERE usename = '$1'")" = 1 ] && return 0
    sleep 0.1
  done
  return 1
}
session_ended() { # the background session of role $1 is gone, ended by the server
  local pid
  pid=$(cat "$E2E_DIR/session.$1.pid")
  for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  ! kill -0 "$pid" 2>/dev/null && grep -q 'terminating connection due to administrator command' "$E2E_DIR/session.$1"
}

# ---- test and discover ----------------------------------------------------
out=$(call test)
check "test: logs in and reports the server" bash -c 'jq -e ".ok and (.result.server_version | startswith(\"15\")) and .result.user == \"nx_admin\"" <<<"$1"' _ "$out"
check "test: the login is CREATEROLE, not superuser, and may end sessions" \
  jq -e '.result.createrole and (.result.superuser | not) and .result.can_end_sessions' <<<"$out"
out=$(call discover)
check "discover: ok" is_ok "$out"
check "discover: app_user is a login role asset" \
  jq -e '.result.assets | any(.kind == "role" and .external_id == "app_user" and .name == "app_user" and .attributes.login)' <<<"$out"
check "discover: readers is a NOLOGIN role" \
  jq -e '.result.assets | any(.kind == "role" and .name == "readers" and (.attributes.login | not))' <<<"$out"
check "discover: the postgres database" \
  jq -e '.result.assets | any(.kind == "database" and .name == "postgres" and .attributes.owner == "postgres")' <<<"$out"
check "discover: no pg_ roles, nothing truncated" \
  jq -e '(.result.assets | all(.name | startswith("pg_") | not)) and (.result.truncated | not)' <<<"$out"

# ---- rotate_password -------------------------------------------------------
out=$(call pre_check rotate_password '{}' app_new app_old)
check "rotate: pre_check ok" is_ok "$out"
out=$(call execute rotate_password '{}' app_new app_old)
check "rotate: execute ok" is_ok "$out"
rb=$(jq -c '.rollback_state' <<<"$out")
check "rotate: rollback state names the role only" test "$rb" = '{"role":"app_user"}'
check "rotate: the new password logs in" logs_in app_user canary-app-new-2
check "rotate: the old password no longer does" refused app_user canary-app-old-1
check "rotate: stored as SCRAM though the target's password_encryption is md5" \
  test "$(tsql -c "SELECT left(rolpassword, 14) FROM pg_authid WHERE rolname = 'app_user'")" = 'SCRAM-SHA-256$'
check "rotate: the target's log shows only a SCRAM verifier in ALTER ROLE" \
  grep -qF "ALTER ROLE \"app_user\" PASSWORD 'SCRAM-SHA-256\$4096:" "$T/server.log"
out=$(call verify rotate_password '{}' app_new app_old)
check "rotate: verify logs in as the account" \
  jq -e '.ok and .evidence.role == "app_user" and .evidence.logged_in and .evidence.server_checked_password' <<<"$out"
out=$(call verify rotate_password '{}' app_bad app_old)
check "rotate: verify with a wrong password fails" fails_with 'password authentication failed' "$out"
out=$(call rollback rotate_password '{}' app_old app_new "$rb" true)
check "rotate: rollback ok" is_ok "$out"
check "rotate: after rollback the old password logs in" logs_in app_user canary-app-old-1
check "rotate: after rollback the new one does not" refused app_user canary-app-new-2
out=$(call verify rotate_password '{}' app_old app_new "$rb" true)
check "rotate: verify undoing logs in with the previous password" is_ok "$out"
out=$(call pre_check rotate_password '{}' ghost)
check "rotate: pre_check of a missing role" fails_with 'role "ghost" does not exist' "$out"
out=$(call execute rotate_password '{}' readers)
check "rotate: a NOLOGIN role is refused" fails_with 'cannot log in' "$out"
out=$(call execute rotate_password '{}' evil)
check "rotate: a malicious username is refused" fails_with 'may hold only' "$out"
out=$(call execute rotate_password '{}' empty)
check "rotate: an empty password is refused" fails_with 'must be 1 to' "$out"
out=$(call execute rotate_password '{}' app_new ghost)
check "rotate: secrets naming two roles are refused" fails_with 'different roles' "$out"
out=$(call execute rotate_password '{}')
check "rotate: execute without a new secret is refused" fails_with 'no username' "$out"
check "rotate: the refusals left the password alone" logs_in app_user canary-app-old-1
# The connector's own login (no credential_id): the engine passes it as the
# account; the rollback logs in with the password now in place.
out=$(call pre_check rotate_password '{}')
check "rotate own: pre_check without secrets names the connector's login" \
  jq -e '.ok and .result.role == "nx_admin"' <<<"$out"
check "rotate own: with a credential_id but no secret, pre_check asks for one" \
  fails_with 'neither secret' "$(call pre_check rotate_password '{"credential_id": "00000000-0000-0000-0000-000000000001"}')"
out=$(call execute rotate_password '{}' admin_new admin)
check "rotate own: execute ok" is_ok "$out"
check "rotate own: the new password logs in" logs_in nx_admin canary-admin-new-13
check "rotate own: the old one does not" refused nx_admin canary-admin-pw-7
check "rotate own: verify ok" is_ok "$(call verify rotate_password '{}' admin_new admin)"
check "rotate own: rollback ok" is_ok "$(CRED=admin_new call rollback rotate_password '{}' admin admin_new '{"role": "nx_admin"}' true)"
check "rotate own: the old password logs in again" logs_in nx_admin canary-admin-pw-7
check "rotate own: verify undoing ok" is_ok "$(call verify rotate_password '{}' admin admin_new '{"role": "nx_admin"}' true)"
check "rotate: verify without a new secret is refused" fails_with 'no username' "$(call verify rotate_password '{}')"

# ---- create_role -----------------------------------------------------------
p='{"role": "nx_new", "login": true, "connection_limit": 3}'
check "create: pre_check ok" is_ok "$(call pre_check create_role "$p")"
out=$(call execute create_role "$p")
check "create: execute ok" jq -e '.ok and .result.created' <<<"$out"
rb=$(jq -c '.rollback_state' <<<"$out")
check "create: the role is on the target, LOGIN, limit 3" test "$(rolattr nx_new "rolcanlogin || ' ' || rolconnlimit")" = "true 3"
check "create: verify ok" is_ok "$(call verify create_role "$p")"
check "create: pre_check now says it exists" fails_with 'already exists' "$(call pre_check create_role "$p")"
check "create: rollback ok" is_ok "$(call rollback create_role "$p" '' '' "$rb" true)"
check "create: after rollback the role is gone" test -z "$(rolattr nx_new rolname)"
check "create: verify undoing ok" is_ok "$(call verify create_role "$p" '' '' "$rb" true)"
check "create: verify undoing fails while it exists" fails_with 'still exists' \
  "$(call verify create_role '{"role": "app_user"}' '' '' '{"role": "app_user"}' true)"
out=$(call execute create_role '{"role": "nx_nologin", "login": false}')
check "create: login false makes a NOLOGIN role" test "$(rolattr nx_nologin rolcanlogin)" = f
check "create: verify sees other attributes" fails_with 'other attributes' "$(call verify create_role '{"role": "nx_nologin"}')"
call rollback create_role '' '' '' '{"role": "nx_nologin"}' true >/dev/null
check "create: login must be a boolean" fails_with 'login must be true or false' "$(call pre_check create_role '{"role": "x", "login": "yes"}')"
check "create: connection_limit 1.5 is refused" fails_with 'connection_limit must be an integer' "$(call execute create_role '{"role": "x", "connection_limit": 1.5}')"
check "create: connection_limit 1e100 is refused" fails_with 'connection_limit must be an integer' "$(call execute create_role '{"role": "x", "connection_limit": 1e100}')"
check "create: an unknown parameter is refused" fails_with 'takes no parameter "superuser"' "$(call execute create_role '{"role": "x", "superuser": true}')"
check "create: nothing was created by the refusals" test -z "$(rolattr x rolname)"

# ---- lock_role -------------------------------------------------------------
check "lock: app_user has a session open" open_session app_user canary-app-old-1
out=$(call pre_check lock_role '{"role": "app_user"}')
check "lock: pre_check ok and sees the session" jq -e '.ok and .evidence.sessions == 1' <<<"$out"
out=$(call execute lock_role '{"role": "app_user"}')
check "lock: execute ok, one session ended" jq -e '.ok and .result.locked and .result.sessions_ended == 1' <<<"$out"
rb=$(jq -c '.rollback_state' <<<"$out")
check "lock: rollback state remembers it could log in" test "$rb" = '{"role":"app_user","was_login":true}'
check "lock: the open session was ended" session_ended app_user
check "lock: app_user is NOLOGIN" test "$(rolattr app_user rolcanlogin)" = f
check "lock: its password no longer logs in" refused app_user canary-app-old-1
check "lock: verify ok" is_ok "$(call verify lock_role '{"role": "app_user"}')"
check "lock: rollback ok, from its rollback state alone (no params)" is_ok "$(call rollback lock_role '' '' '' "$rb" true)"
check "lock: after rollback app_user logs in" logs_in app_user canary-app-old-1
check "lock: verify undoing ok (no params either)" is_ok "$(call verify lock_role '' '' '' "$rb" true)"
check "lock: verify fails while it can log in" fails_with 'can still log in' "$(call verify lock_role '{"role": "app_user"}')"
out=$(call execute lock_role '{"role": "postgres"}')
check "lock: a superuser is out of a CREATEROLE login's reach" fails_with 'must be superuser' "$out"
check "lock: its rollback changes nothing" is_ok "$(call rollback lock_role '' '' '' "$(jq -c .rollback_state <<<"$out")" true)"
check "lock: the superuser can still log in" test "$(rolattr postgres rolcanlogin)" = t
check "lock: the connector's own login is refused" fails_with "connector's own login" "$(call pre_check lock_role '{"role": "nx_admin"}')"

# ---- unlock_role -----------------------------------------------------------
check "unlock: pre_check ok" is_ok "$(call pre_check unlock_role '{"role": "sleeper"}')"
out=$(call execute unlock_role '{"role": "sleeper"}')
check "unlock: execute ok" is_ok "$out"
rb=$(jq -c '.rollback_state' <<<"$out")
check "unlock: sleeper logs in" logs_in sleeper canary-sleeper-3
check "unlock: verify ok" is_ok "$(call verify unlock_role '{"role": "sleeper"}')"
check "unlock: rollback ok" is_ok "$(call rollback unlock_role '{"role": "sleeper"}' '' '' "$rb" true)"
check "unlock: after rollback sleeper cannot log in" refused sleeper canary-sleeper-3
check "unlock: verify undoing ok" is_ok "$(call verify unlock_role '{"role": "sleeper"}' '' '' "$rb" true)"
check "unlock: a role that can log in is refused" fails_with 'already log in' "$(call pre_check unlock_role '{"role": "app_user"}')"

# ---- grant_role ------------------------------------------------------------
p='{"role": "readers", "member": "app_user"}'
check "grant: pre_check ok" is_ok "$(call pre_check grant_role "$p")"
out=$(call execute grant_role "$p")
check "grant: execute ok" is_ok "$out"
rb=$(jq -c '.rollback_state' <<<"$out")
check "grant: app_user is a member of readers" test "$(members readers app_user)" = f
check "grant: verify ok" is_ok "$(call verify grant_role "$p")"
check "grant: pre_check now says it is a member" fails_with 'already a member' "$(call pre_check grant_role "$p")"
check "grant: rollback ok" is_ok "$(call rollback grant_role "$p" '' '' "$rb" true)"
check "grant: after rollback the membership is gone" test -z "$(members readers app_user)"
check "grant: verify undoing ok" is_ok "$(call verify grant_role "$p" '' '' "$rb" true)"
check "grant: a role in itself is refused" fails_with 'member of itself' "$(call pre_check grant_role '{"role": "readers", "member": "readers"}')"
check "grant: member is required" fails_with 'needs the parameter member' "$(call pre_check grant_role '{"role": "readers"}')"
check "grant: a missing member role" fails_with 'role "ghost" does not exist' "$(call execute grant_role '{"role": "readers", "member": "ghost"}')"

# ---- revoke_role -----------------------------------------------------------
tsql -c "GRANT readers TO app_user WITH ADMIN OPTION"
check "revoke: pre_check ok" is_ok "$(call pre_check revoke_role "$p")"
out=$(call execute revoke_role "$p")
check "revoke: execute ok" is_ok "$out"
rb=$(jq -c '.rollback_state' <<<"$out")
check "revoke: rollback state keeps the admin option" jq -e '.admin_option' <<<"$rb"
check "revoke: the membership is gone" test -z "$(members readers app_user)"
check "revoke: verify ok" is_ok "$(call verify revoke_role "$p")"
check "revoke: rollback ok" is_ok "$(call rollback revoke_role "$p" '' '' "$rb" true)"
check "revoke: after rollback it is back with the admin option" test "$(members readers app_user)" = t
check "revoke: verify undoing ok" is_ok "$(call verify revoke_role "$p" '' '' "$rb" true)"
check "revoke: a non-member is refused" fails_with 'is not a member' "$(call pre_check revoke_role '{"role": "readers", "member": "doomed"}')"

# ---- drop_role -------------------------------------------------------------
check "drop: doomed has a session open" open_session doomed canary-doomed-4
check "drop: pre_check ok" is_ok "$(call pre_check drop_role '{"role": "doomed"}')"
out=$(call execute drop_role '{"role": "doomed"}')
check "drop: execute ok, its session ended" jq -e '.ok and .result.dropped and .result.sessions_ended == 1 and .rollback_state == null' <<<"$out"
check "drop: the role is gone" test -z "$(rolattr doomed rolname)"
check "drop: the open session was ended" session_ended doomed
check "drop: verify ok" is_ok "$(call verify drop_role '{"role": "doomed"}')"
check "drop: rollback is refused" fails_with 'cannot be rolled back' "$(call rollback drop_role '{"role": "doomed"}' '' '' '{"role": "doomed"}' true)"
check "drop: verify undoing is refused" fails_with 'cannot be rolled back' "$(call verify drop_role '{"role": "doomed"}' '' '' '{"role": "doomed"}' true)"
check "drop: a missing role" fails_with 'role "ghost" does not exist' "$(call pre_check drop_role '{"role": "ghost"}')"
check "drop: the connector's own login is refused" fails_with "connector's own login" "$(call execute drop_role '{"role": "nx_admin"}')"

# ---- bad input --------------------------------------------------------------
for bad in 'app_user\"; DROP ROLE readers; --' "app_user'; DROP ROLE readers; --" 'a;b' 'a b' \
  "$(printf 'x%.0s' $(seq 64))" 'pg_monitor' '-x' ''; do
  out=$(call execute drop_role "$(jq -cn --arg r "$bad" '{role: $r}')")
  check "bad name refused: ${bad:0:30}" fails_with 'must be 1 to 63|may hold only|may not start' "$out"
done
check "bad names dropped nothing" test "$(rolattr readers rolname)$(rolattr app_user rolname)" = readersapp_user
check "role missing" fails_with 'needs the parameter role' "$(call execute lock_role '{}')"
check "role not a string" fails_with 'role must be a string' "$(call execute lock_role '{"role": 42}')"
check "params not an object" fails_with 'must be a JSON object' "$(call execute lock_role '[1]')"
check "rollback without its state" fails_with 'no rollback state' "$(call rollback lock_role '{"role": "app_user"}' '' '' '' true)"
check "a malicious name in rollback state is refused" fails_with 'may hold only' \
  "$(call rollback grant_role "$p" '' '' '{"role": "readers", "member": "x\"; DROP ROLE readers"}' true)"
check "an unknown change type is refused" bash -c 'grep -q "no such change type" <<<"$1"' _ "$(call execute drop_database '{}')"
check "wrong admin password: a clear error" fails_with 'password authentication failed for user "nx_admin"' "$(CRED=badadmin call test)"
check "a trust login is refused" fails_with 'without asking for its password' "$(CRED=trusty call test)"
check "a socket path as host is refused" fails_with 'host must be a host name' "$(CFG=socket call test)"
check "conninfo in host is refused" fails_with 'host must be a host name' "$(CFG=hostinj call test)"
check "conninfo in database is only a name" fails_with 'database "postgres host=127.0.0.2" does not exist' "$(CFG=dbinj call test)"
check "a port as a string is refused" fails_with 'port must be an integer' "$(CFG=badport call test)"
check "no config" fails_with 'has no config' "$(CFG=nothing call test)"
check "no credential" fails_with 'username must be' "$(CRED=nothing call test)"
start=$(date +%s%N)
out=$(CFG=down call test '' '' '' '' '' false 3000)
ms=$(( ($(date +%s%N) - start) / 1000000 ))
check "target down: a clear error" fails_with "could not connect to 127.0.0.1 port $closed" "$out"
check "target down: within the timeout ($ms ms)" test "$ms" -lt 3000
kill -STOP "$(nx_pg_target_pid "$T")"
start=$(date +%s%N)
out=$(call test '' '' '' '' '' false 1500)
ms=$(( ($(date +%s%N) - start) / 1000000 ))
kill -CONT "$(nx_pg_target_pid "$T")"
check "target hung: times out" fails_with 'timed out' "$out"
check "target hung: within the timeout and a little ($ms ms)" test "$ms" -ge 1400 -a "$ms" -lt 2500
check "the target answers again" is_ok "$(call test)"
# A statement that waits on a lock: another session holds app_user's row.
tsql -c "BEGIN" -c "ALTER ROLE app_user CONNECTION LIMIT 5" -c "SELECT pg_sleep(4)" -c "ROLLBACK" >/dev/null &
blocker=$!
sleep 0.5
start=$(date +%s%N)
out=$(call execute lock_role '{"role": "app_user"}' '' '' '' false 1500)
ms=$(( ($(date +%s%N) - start) / 1000000 ))
check "a statement blocked on the target: a clear error" fails_with 'NOLOGIN.*(timed out|lock timeout)' "$out"
check "a statement blocked on the target: within the timeout ($ms ms)" test "$ms" -lt 2500
check "a statement blocked on the target: rollback state kept" jq -e '.rollback_state.was_login' <<<"$out"
wait "$blocker"
check "the blocked ALTER ROLE never ran" test "$(rolattr app_user rolcanlogin)" = t
# The backend running the connector can be cancelled mid-wait.
kill -STOP "$(nx_pg_target_pid "$T")"
start=$(date +%s%N)
out=$(sql -c "SET statement_timeout = 500" -c "SELECT nexplane_test.connector_call('postgresql', 'test',
  (SELECT v FROM s WHERE k = 'config'), (SELECT v FROM s WHERE k = 'admin'))" 2>&1)
ms=$(( ($(date +%s%N) - start) / 1000000 ))
kill -CONT "$(nx_pg_target_pid "$T")"
printf '%s\n' "$out" >>"$E2E_DIR/results.txt"
check "a cancel ends the wait for a hung target" grep -q 'canceling statement due to statement timeout' <<<"$out"
check "a cancel ends it at once ($ms ms)" test "$ms" -lt 1500

# ---- no secret anywhere ----------------------------------------------------
check "the nexplane log shows the calls" grep -q 'connector_call' "$E2E_DIR/pg/server.log"
for c in $canaries; do
  check "$c is in no result" bash -c "! grep -qF -- '$c' '$E2E_DIR/results.txt'"
  check "$c is not in the target's log" bash -c "! grep -qF -- '$c' '$T/server.log'"
  check "$c is not in the nexplane log" bash -c "! grep -qF -- '$c' '$E2E_DIR/pg/server.log'"
done
check "no SCRAM verifier in any result or the nexplane log" \
  bash -c "! grep -qF 'SCRAM-SHA-256\$' '$E2E_DIR/results.txt' '$E2E_DIR/pg/server.log'"
