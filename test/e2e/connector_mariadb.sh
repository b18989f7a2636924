#!/usr/bin/env bash
# The mariadb connector against a real MariaDB server (Debian's mariadbd,
# run by the postgres user on loopback, with its general, slow and binary
# logs on): test and discover; every change type through pre_check,
# execute, a look with MariaDB's own client, verify, rollback, another
# look and verify with undoing; bad input refused before anything reaches
# the server; a wrong admin password, a closed port and a hung server fail
# clearly within the timeout; and no password used anywhere is found in
# any log, result, error or evidence, or in the server's data directory.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/../servers/mariadb.sh"
M=$E2E_DIR/maria
trap 'nx_mariadb_stop "$M"; nx_cluster_stop "$E2E_DIR/pg"; [ -n "${KEEP:-}" ] || rm -rf "$E2E_DIR"' EXIT

e2e_cluster <<'CONF' || { echo "not ok - cluster starts"; exit 1; }
log_statement = 'all'
log_min_error_statement = debug1
CONF
sql -c "CREATE EXTENSION nexplane" -c "CREATE EXTENSION nexplane_test" >/dev/null

# TLS: a CA of this run signs the server's certificate (for 127.0.0.1);
# another CA signs nothing the server has.
T=$E2E_DIR/tls
mkdir -p "$T"
tls_ca() { # name
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 1 \
    -subj "/CN=nexplane test $1" -keyout "$T/$1.key" -out "$T/$1.pem" 2>/dev/null
}
tls_ca ca && tls_ca other_ca &&
  openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj /CN=127.0.0.1 \
    -keyout "$T/server.key" -out "$T/server.csr" 2>/dev/null &&
  openssl x509 -req -in "$T/server.csr" -CA "$T/ca.pem" -CAkey "$T/ca.key" -CAcreateserial \
    -days 1 -extfile <(echo "subjectAltName=IP:127.0.0.1") -out "$T/server.pem" 2>/dev/null ||
  echo "not ok - TLS certificates are made"
chown -R postgres: "$T"

MPORT=$(nx_free_port 33306)
nx_mariadb_init "$M" "$MPORT" &&
  nx_mariadb_start "$M" --ssl-ca="$T/ca.pem" --ssl-cert="$T/server.pem" --ssl-key="$T/server.key" ||
  { echo "not ok - mariadb starts"; exit 1; }
check "mariadbd runs as the postgres user" test "$(ps -o user= -p "$(cat "$M/mariadbd.pid")")" = postgres

# The passwords of this run; one has a quote, a backslash and a semicolon,
# which would break (or inject into) any SQL they were spliced into.
ADMIN_PW=canary-admin-Q1x
WRONG_PW=canary-wrong-admin-Q2x
APP_OLD=canary-app-old-Q3x
APP_NEW="canary-app-new-Q4x'\\;--"
MULTI_OLD=canary-multi-old-Q5x
MULTI_NEW=canary-multi-new-Q6x
LOCKME_PW=canary-lockme-Q7x
NEWBIE_PW=canary-newbie-Q8x
printf '%s\n' "$ADMIN_PW" "$WRONG_PW" "$APP_OLD" "$APP_NEW" "$MULTI_OLD" "$MULTI_NEW" \
  "$LOCKME_PW" "$NEWBIE_PW" >"$E2E_DIR/passwords"

nx_mariadb_admin "$M" nxadmin "$ADMIN_PW"
h() { nx_mariadb_hash "$1"; }
# The fixtures stay out of the logs, which then hold only what the connector sent.
nx_mariadb_root "$M" <<SQL
SET SESSION sql_log_off = 1, SESSION sql_log_bin = 0;
CREATE DATABASE app_db; CREATE DATABASE appXdb;
CREATE TABLE app_db.t (a int); INSERT INTO app_db.t VALUES (1);
CREATE TABLE appXdb.t (a int); INSERT INTO appXdb.t VALUES (2);
GRANT ALL PRIVILEGES ON \`app\\_db\`.* TO 'nxadmin'@'127.0.0.1' WITH GRANT OPTION;
CREATE USER 'app'@'127.0.0.1' IDENTIFIED BY PASSWORD '$(h "$APP_OLD")';
GRANT UPDATE ON app_db.t TO 'app'@'127.0.0.1';
CREATE USER 'multi'@'127.0.0.1' IDENTIFIED BY PASSWORD '$(h "$MULTI_OLD")';
CREATE USER 'multi'@'10.0.0.%' IDENTIFIED BY PASSWORD '$(h "$MULTI_OLD")';
CREATE USER 'lockme'@'127.0.0.1' IDENTIFIED BY PASSWORD '$(h "$LOCKME_PW")' ACCOUNT LOCK;
CREATE USER 'doomed'@'127.0.0.1' IDENTIFIED VIA mysql_native_password USING 'invalid';
CREATE USER 'sock'@'localhost' IDENTIFIED VIA unix_socket;
SQL

# Secrets reach the connector from files the backend reads
# (pg_read_file), so no statement the nexplane server logs holds one.
S=$E2E_DIR/secrets
mkdir -p "$S"
secret() { # name user password
  jq -n --arg u "$2" --arg p "$3" '{username: $u, password: $p}' >"$S/$1.json"
}
secret admin nxadmin "$ADMIN_PW"
secret wrong nxadmin "$WRONG_PW"
secret app_old app "$APP_OLD"
secret app_new app "$APP_NEW"
secret multi_old multi "$MULTI_OLD"
secret multi_new multi "$MULTI_NEW"
secret newbie newbie2 "$NEWBIE_PW"
jq -n --arg p "$APP_NEW" '{password: $p}' >"$S/pw_only.json"
chown -R postgres: "$S"
chmod 600 "$S"/*.json

CFG="{\"host\": \"127.0.0.1\", \"port\": $MPORT}"
CRED=admin
call() { # op [change_type params new_secret old_secret rollback_state undoing timeout_ms]
  local out
  out=$(sql -v op="$1" -v ct="${2:-}" -v params="${3:-}" -v new="${4:+$S/$4.json}" \
    -v old="${5:+$S/$5.json}" -v rs="${6:-}" -v undo="${7:-false}" -v tmo="${8:-10000}" \
    -v cfg="$CFG" -v cred="$S/$CRED.json" <<'SQL'
SELECT nexplane_test.connector_call('mariadb', :'op', :'cfg'::jsonb, pg_read_file(:'cred')::jsonb,
  nullif(:'ct', ''), nullif(:'params', '')::jsonb,
  CASE WHEN :'new' <> '' THEN pg_read_file(:'new')::jsonb END,
  CASE WHEN :'old' <> '' THEN pg_read_file(:'old')::jsonb END,
  nullif(:'rs', '')::jsonb, :'undo'::boolean, :'tmo'::int);
SQL
  )
  echo "$out" >>"$E2E_DIR/results.jsonl"
  echo "$out"
}
is_ok() { jq -e '.ok == true' <<<"$1"; }
fails_with() { jq -e --arg s "$2" '.ok == false and (.error | contains($s))' <<<"$1"; }
login() { # user password [sql]: the account logs in (and runs sql)
  MYSQL_PWD=$2 mariadb --no-defaults -h 127.0.0.1 -P "$MPORT" -u "$1" -N -B -e "${3:-SELECT 1}"
}
login_refused() { # user password message [sql]: refused (or sql denied) with message
  local out
  out=$(MYSQL_PWD=$2 mariadb --no-defaults -h 127.0.0.1 -P "$MPORT" -u "$1" -e "${4:-SELECT 1}" 2>&1)
  grep -q "$3" <<<"$out"
}
root() { nx_mariadb_root "$M" -e "$1"; }
shows_grant() {
  local out
  out=$(nx_mariadb_root "$M" --raw -e "SHOW GRANTS FOR 'app'@'127.0.0.1'")
  grep -qF "$1" <<<"$out"
}
# pre_check gives the rollback state execute then gives (stored before
# execute, it is what a lost worker leaves): same_state PRE_CHECK EXECUTE
same_state() { jq -e -n --argjson p "$1" --argjson e "$2" '$p.ok and $e.ok and $p.rollback_state != null and $p.rollback_state == $e.rollback_state'; }
auth_of() { root "SELECT JSON_VALUE(Priv, '\$.authentication_string') FROM mysql.global_priv WHERE User = '$1' AND Host = '$2'"; }

# ---- test and discover
r=$(call test)
check "test: logs in and reports the server version" jq -e '.ok and (.result.server_version | test("MariaDB"))' <<<"$r"
check "test: reports the connector's account" jq -e '.result.current_user == "nxadmin@127.0.0.1"' <<<"$r"
r=$(CRED=wrong call test)
check "test with a wrong admin password fails clearly" fails_with "$r" "Access denied for user 'nxadmin'"
r=$(CFG="{\"host\": \"127.0.0.1\", \"port\": $MPORT, \"tls_ca\": \"$T/ca.pem\"}" call test)
check "test with tls_ca: TLS, the certificate verified" jq -e '.ok and (.result.tls_cipher | type == "string")' <<<"$r"
r=$(CFG="{\"host\": \"127.0.0.1\", \"port\": $MPORT, \"tls_ca\": \"$T/other_ca.pem\"}" call test)
check "test with another CA's tls_ca fails clearly" fails_with "$r" "could not connect to 127.0.0.1:$MPORT as nxadmin: TLS/SSL error"
r=$(CFG="{\"host\": \"localhost\", \"port\": $MPORT, \"tls_ca\": \"$T/ca.pem\"}" call test)
check "test with tls_ca and a name the certificate lacks fails" jq -e '.ok == false' <<<"$r"
check "test without tls_ca: TLS all the same, since the server offers it" jq -e '.result.tls_cipher | type == "string"' <<<"$(call test)"
r=$(call discover)
check "discover: ok" is_ok "$r"
check "discover: the account 'app'@'127.0.0.1'" jq -e --arg id "'app'@'127.0.0.1'" \
  '.result.assets | any(.kind == "account" and .external_id == $id and .attributes.host == "127.0.0.1" and .attributes.plugin == "mysql_native_password")' <<<"$r"
check "discover: both accounts of multi" jq -e '[.result.assets[] | select(.kind == "account" and .attributes.user == "multi")] | length == 2' <<<"$r"
check "discover: lockme is locked, app is not" jq -e '(.result.assets | any(.attributes.user == "lockme" and .attributes.locked)) and (.result.assets | any(.attributes.user == "app" and (.attributes.locked | not)))' <<<"$r"
check "discover: databases, the system ones marked" jq -e '(.result.assets | any(.kind == "database" and .name == "app_db" and (.attributes.system | not))) and (.result.assets | any(.kind == "database" and .name == "mysql" and .attributes.system))' <<<"$r"
check "discover: no roles, no empty hosts" jq -e '.result.assets | all(.kind != "account" or .attributes.host != "")' <<<"$r"

# ---- rotate_password: app has one account, whose host comes from the target
p='{"user": "app"}'
r=$(call pre_check rotate_password "$p" app_new app_old)
check "rotate_password pre_check: ok" is_ok "$r"
pc=$r
r=$(call execute rotate_password "$p" app_new app_old)
check "rotate_password execute: ok" is_ok "$r"
check "rotate_password: pre_check gave execute's rollback state" same_state "$pc" "$r"
check "rotate_password execute: the host was looked up on the target" jq -e '.rollback_state == {"user": "app", "host": "127.0.0.1", "account": "'"'app'@'127.0.0.1'"'"}' <<<"$r"
rs=$(jq -c .rollback_state <<<"$r")
check "rotate: the new password logs in (mariadb client)" login app "$APP_NEW"
check "rotate: the old password is refused" login_refused app "$APP_OLD" "Access denied"
check "rotate: the server holds the new password's hash" test "$(auth_of app 127.0.0.1)" = "$(h "$APP_NEW")"
r=$(call verify rotate_password "$p" app_new app_old "$rs")
check "rotate_password verify: logs in as the account" jq -e '.ok and .evidence.authenticated and .evidence.authenticated_as == "app@127.0.0.1"' <<<"$r"
r=$(call verify rotate_password "$p" app_old app_new "$rs")
check "rotate_password verify with the replaced password fails" fails_with "$r" "Access denied"
r=$(call rollback rotate_password "$p" app_old app_new "$rs" true)
check "rotate_password rollback: ok" is_ok "$r"
check "rollback: the previous password logs in again" login app "$APP_OLD"
check "rollback: the rotated one is refused" login_refused app "$APP_NEW" "Access denied"
r=$(call verify rotate_password "$p" app_old app_new "$rs" true)
check "rotate_password verify (undoing): ok" is_ok "$r"

# multi has two accounts: which one must be said
r=$(call pre_check rotate_password '{}' multi_new multi_old)
check "rotate_password: the user comes from the new secret, and two hosts need params.host" \
  fails_with "$r" "user 'multi' has accounts for several hosts ('10.0.0.%', '127.0.0.1')"
r=$(call execute rotate_password '{}' multi_new multi_old)
check "rotate_password execute refuses the ambiguous account too" fails_with "$r" "say which one in params.host"
check "  ... and changed neither" test "$(auth_of multi 127.0.0.1)$(auth_of multi 10.0.0.%)" = "$(h "$MULTI_OLD")$(h "$MULTI_OLD")"
r=$(call execute rotate_password '{"host": "127.0.0.1"}' multi_new multi_old)
check "rotate_password with params.host: ok" is_ok "$r"
check "  ... the new password logs in" login multi "$MULTI_NEW"
check "  ... the other host's account keeps its password" test "$(auth_of multi 10.0.0.%)" = "$(h "$MULTI_OLD")"
r=$(call verify rotate_password '{"host": "127.0.0.1"}' multi_new multi_old "$(jq -c .rollback_state <<<"$r")")
check "  ... verify: ok" is_ok "$r"
r=$(call pre_check rotate_password '{"user": "app"}' multi_new)
check "rotate_password: params.user and the secret's username must agree" fails_with "$r" "name different accounts"
r=$(call pre_check rotate_password '{"user": "sock", "host": "localhost"}' pw_only)
check "rotate_password refuses a unix_socket account" fails_with "$r" "authenticates by unix_socket"
r=$(call pre_check rotate_password '{"user": "root", "host": "localhost"}' pw_only)
check "rotate_password refuses an account with several ways in (root)" fails_with "$r" "and other methods"
r=$(call execute rotate_password "$p")
check "rotate_password without a new secret is refused" fails_with "$r" "no new secret"

# ---- create_user: the host from params or account_host, never '%'
r=$(call pre_check create_user '{"user": "newbie"}')
check "create_user without a host is refused (no default '%')" fails_with "$r" "needs a host"
r=$(CFG="{\"host\": \"127.0.0.1\", \"port\": $MPORT, \"account_host\": \"127.0.0.1\"}" call pre_check create_user '{"user": "newbie"}')
check "create_user pre_check: host from account_host" jq -e '.ok and .result.host == "127.0.0.1"' <<<"$r"
pc=$r
r=$(CFG="{\"host\": \"127.0.0.1\", \"port\": $MPORT, \"account_host\": \"127.0.0.1\"}" call execute create_user '{"user": "newbie"}')
check "create_user execute: ok, no password set" jq -e '.ok and .result.password_set == false' <<<"$r"
check "create_user: pre_check gave execute's rollback state" same_state "$pc" "$r"
rs=$(jq -c .rollback_state <<<"$r")
check "  ... the account exists for 127.0.0.1 only" test "$(root "SELECT GROUP_CONCAT(Host) FROM mysql.global_priv WHERE User = 'newbie'")" = 127.0.0.1
check "  ... and no password logs in (not even an empty one)" login_refused newbie "" "Access denied"
r=$(call verify create_user '{"user": "newbie"}' "" "" "$rs")
check "create_user verify: ok" jq -e '.ok and .evidence.exists' <<<"$r"
r=$(call rollback create_user '{"user": "newbie"}' "" "" "$rs" true)
check "create_user rollback: dropped" jq -e '.ok and .result.dropped' <<<"$r"
check "  ... the account is gone" test "$(root "SELECT COUNT(*) FROM mysql.global_priv WHERE User = 'newbie'")" = 0
r=$(call verify create_user '{"user": "newbie"}' "" "" "$rs" true)
check "create_user verify (undoing): ok" is_ok "$r"
r=$(call execute create_user '{"user": "newbie2", "host": "127.0.0.1"}' newbie)
check "create_user with a secret: ok, password set" jq -e '.ok and .result.password_set' <<<"$r"
rs=$(jq -c .rollback_state <<<"$r")
check "  ... it logs in" login newbie2 "$NEWBIE_PW"
r=$(call verify create_user '{"user": "newbie2", "host": "127.0.0.1"}' newbie "" "$rs")
check "  ... verify logs in as it" jq -e '.ok and .evidence.authenticated' <<<"$r"
r=$(call rollback create_user '{"user": "newbie2", "host": "127.0.0.1"}' "" "" "$rs" true)
check "  ... rollback drops it" login_refused newbie2 "$NEWBIE_PW" "Access denied"
r=$(call pre_check create_user '{"user": "app", "host": "127.0.0.1"}')
check "create_user of an existing account is refused" fails_with "$r" "account 'app'@'127.0.0.1' already exists"

# ---- lock_user and unlock_user
p='{"user": "app"}'
r=$(call pre_check lock_user "$p")
check "lock_user pre_check: ok, not locked yet" jq -e '.ok and .result.locked == false' <<<"$r"
pc=$r
# a session app has open when the lock comes must end with it
MYSQL_PWD=$APP_OLD timeout 60 mariadb --no-defaults -h 127.0.0.1 -P "$MPORT" -u app -N -B \
  -e "SELECT SLEEP(50)" >/dev/null 2>&1 &
open_session=$!
for _ in $(seq 1 50); do
  [ "$(root "SELECT COUNT(*) FROM information_schema.PROCESSLIST WHERE USER = 'app'" | tail -n 1)" -ge 1 ] && break
  sleep 0.1
done
r=$(call execute lock_user "$p")
check "lock_user execute: ok" jq -e '.ok and .result.changed' <<<"$r"
check "lock_user: pre_check gave execute's rollback state" same_state "$pc" "$r"
rs=$(jq -c .rollback_state <<<"$r")
check "  ... the server refuses app as locked" login_refused app "$APP_OLD" "this account is locked"
session_ended() {
  for _ in $(seq 1 50); do kill -0 "$open_session" 2>/dev/null || return 0; sleep 0.1; done
  return 1
}
check "  ... the session app had open is ended" session_ended
check "  ... and no session of app is left" \
  test "$(root "SELECT COUNT(*) FROM information_schema.PROCESSLIST WHERE USER = 'app'" | tail -n 1)" = 0
r=$(call verify lock_user "$p" "" "" "$rs")
check "lock_user verify: ok" jq -e '.ok and .evidence.locked' <<<"$r"
r=$(call rollback lock_user "$p" "" "" "$rs" true)
check "lock_user rollback: ok" is_ok "$r"
check "  ... app logs in again" login app "$APP_OLD"
r=$(call verify lock_user "$p" "" "" "$rs" true)
check "lock_user verify (undoing): ok" jq -e '.ok and (.evidence.locked | not)' <<<"$r"
r=$(call pre_check lock_user '{"user": "nxadmin"}')
check "lock_user refuses the connector's own login" fails_with "$r" "is the connector's own login"
pc=$(call pre_check unlock_user '{"user": "lockme"}')
r=$(call execute unlock_user '{"user": "lockme"}')
check "unlock_user execute: ok" jq -e '.ok and .result.changed and .rollback_state.locked_before' <<<"$r"
check "unlock_user: pre_check gave execute's rollback state" same_state "$pc" "$r"
rs=$(jq -c .rollback_state <<<"$r")
check "  ... lockme logs in" login lockme "$LOCKME_PW"
r=$(call verify unlock_user '{"user": "lockme"}' "" "" "$rs")
check "unlock_user verify: ok" is_ok "$r"
r=$(call rollback unlock_user '{"user": "lockme"}' "" "" "$rs" true)
check "unlock_user rollback: locked again" login_refused lockme "$LOCKME_PW" "this account is locked"
r=$(call verify unlock_user '{"user": "lockme"}' "" "" "$rs" true)
check "unlock_user verify (undoing): ok" is_ok "$r"
r=$(call execute lock_user '{"user": "lockme"}')
rs=$(jq -c .rollback_state <<<"$r")
check "lock_user of a locked account changes nothing" jq -e '.ok and (.result.changed | not)' <<<"$r"
r=$(call rollback lock_user '{"user": "lockme"}' "" "" "$rs" true)
check "  ... and its rollback leaves it locked" login_refused lockme "$LOCKME_PW" "this account is locked"

# ---- grant and revoke
p='{"user": "app", "object": "app_db.*", "privileges": "select, Insert"}'
r=$(call pre_check grant "$p")
check "grant pre_check: ok" is_ok "$r"
pc=$r
r=$(call execute grant "$p")
check "grant execute: SELECT, INSERT on app_db.*" jq -e '.ok and .result.granted == "SELECT, INSERT" and .rollback_state.privileges == "SELECT, INSERT"' <<<"$r"
check "grant: pre_check gave execute's rollback state" same_state "$pc" "$r"
rs=$(jq -c .rollback_state <<<"$r")
check "  ... app reads app_db.t" login app "$APP_OLD" "SELECT a FROM app_db.t"
check "  ... but not appXdb.t: '_' was not a wildcard" login_refused app "$APP_OLD" "command denied" "SELECT a FROM appXdb.t"
check "  ... SHOW GRANTS names \`app\\_db\`" shows_grant 'GRANT SELECT, INSERT ON `app\_db`.* TO `app`@`127.0.0.1`'
r=$(call verify grant "$p" "" "" "$rs")
check "grant verify: ok" is_ok "$r"
r=$(call rollback grant "$p" "" "" "$rs" true)
check "grant rollback: revoked" jq -e '.ok and .result.revoked == "SELECT, INSERT"' <<<"$r"
check "  ... app no longer reads app_db.t" login_refused app "$APP_OLD" "command denied" "SELECT a FROM app_db.t"
r=$(call verify grant "$p" "" "" "$rs" true)
check "grant verify (undoing): ok" is_ok "$r"
r=$(call verify grant "$p" "" "" "$rs")
check "grant verify fails once the grant is gone" fails_with "$r" "lacks SELECT, INSERT on app_db.*"

p='{"user": "app", "object": "app_db.t", "privileges": "SELECT, UPDATE"}'
pc=$(call pre_check grant "$p")
r=$(call execute grant "$p")
check "grant on a table: only what was missing" jq -e '.ok and .result.granted == "SELECT" and .result.already_held == "UPDATE"' <<<"$r"
check "  ... pre_check's rollback state is execute's: only what was missing" same_state "$pc" "$r"
rs=$(jq -c .rollback_state <<<"$r")
r=$(call rollback grant "$p" "" "" "$rs" true)
check "  ... rollback keeps the privilege held before" test "$(root "SELECT Table_priv FROM mysql.tables_priv WHERE User = 'app' AND Db = 'app_db' AND Table_name = 't'")" = Update
p='{"user": "app", "object": "app_db.t", "privileges": "UPDATE, DELETE"}'
r=$(call pre_check revoke "$p")
check "revoke pre_check: shows what is held" jq -e '.ok and .result.held == "UPDATE"' <<<"$r"
pc=$r
r=$(call execute revoke "$p")
check "revoke execute: only what was held" jq -e '.ok and .result.revoked == "UPDATE" and .result.not_held == "DELETE"' <<<"$r"
check "revoke: pre_check gave execute's rollback state (only what was held)" same_state "$pc" "$r"
rs=$(jq -c .rollback_state <<<"$r")
check "  ... app cannot update app_db.t" login_refused app "$APP_OLD" "command denied" "UPDATE app_db.t SET a = 3"
r=$(call verify revoke "$p" "" "" "$rs")
check "revoke verify: ok" is_ok "$r"
r=$(call rollback revoke "$p" "" "" "$rs" true)
check "revoke rollback: granted back" jq -e '.ok and .result.granted == "UPDATE"' <<<"$r"
check "  ... app updates app_db.t again" login app "$APP_OLD" "UPDATE app_db.t SET a = 1"
r=$(call verify revoke "$p" "" "" "$rs" true)
check "revoke verify (undoing): ok" is_ok "$r"

# ---- drop_user
r=$(call pre_check drop_user '{"user": "doomed"}')
check "drop_user pre_check: ok" is_ok "$r"
check "  ... with no rollback state (drop_user has no rollback)" jq -e '.rollback_state == null' <<<"$r"
r=$(call execute drop_user '{"user": "doomed"}')
check "drop_user execute: ok" jq -e '.ok and .result.dropped' <<<"$r"
check "  ... the account is gone" test "$(root "SELECT COUNT(*) FROM mysql.global_priv WHERE User = 'doomed'")" = 0
r=$(call verify drop_user '{"user": "doomed"}')
check "drop_user verify: ok" is_ok "$r"
r=$(call rollback drop_user '{"user": "doomed"}')
check "drop_user has no rollback" fails_with "$r" "drop_user cannot be rolled back"
r=$(call verify drop_user '{"user": "doomed"}' "" "" "" true)
check "  ... nor a verify with undoing" fails_with "$r" "drop_user cannot be rolled back"
r=$(call rollback lock_user '{"user": "app"}')
check "a rollback without rollback_state is refused" fails_with "$r" "there is no rollback_state from execute: nothing to undo"
check "  ... and changes nothing" test "$(root "SELECT JSON_VALUE(Priv, '\$.account_locked') FROM mysql.global_priv WHERE User = 'app'")" = 0
r=$(call pre_check drop_user '{"user": "nxadmin"}')
check "drop_user refuses the connector's own login" fails_with "$r" "is the connector's own login"
r=$(call execute drop_user '{"user": "nobody"}')
check "drop_user of an unknown account" fails_with "$r" "no account named 'nobody' exists"

# ---- bad input: refused before anything is sent, with a clear reason
refused() { # description, change_type, params, error
  local r
  r=$(call pre_check "$2" "$3" app_new)
  check "refused: $1" fails_with "$r" "$4"
}
long=$(printf 'u%.0s' $(seq 81))
longhost=$(printf 'h%.0s' $(seq 256))
refused "a user with a quote" lock_user '{"user": "app'"'"' OR 1=1 -- "}' "params.user is not a valid account name"
refused "a user with a semicolon" lock_user '{"user": "app;DROP USER nxadmin"}' "params.user is not a valid account name"
refused "a user with a backtick" lock_user '{"user": "app`x"}' "params.user is not a valid account name"
refused "a user of 81 characters" lock_user "{\"user\": \"$long\"}" "1 to 80"
refused "an empty user" lock_user '{"user": ""}' "params.user is not a valid account name"
refused "a host with a quote" lock_user '{"user": "app", "host": "127.0.0.1'"'"'--"}' "params.host is not a valid host"
refused "a host of 256 characters" lock_user "{\"user\": \"app\", \"host\": \"$longhost\"}" "params.host is not a valid host"
refused "a missing user" lock_user '{}' "params.user is required"
refused "a user that is not a string" lock_user '{"user": 7}' "params.user is required"
refused "ALL PRIVILEGES" grant '{"user": "app", "object": "app_db.*", "privileges": "ALL PRIVILEGES"}' "names ALL PRIVILEGES, which is not one this connector grants"
refused "GRANT OPTION" grant '{"user": "app", "object": "app_db.*", "privileges": "SELECT, GRANT OPTION"}' "not one this connector grants"
refused "FILE" grant '{"user": "app", "object": "app_db.*", "privileges": "FILE"}' "not one this connector grants"
refused "privileges with a semicolon" grant '{"user": "app", "object": "app_db.*", "privileges": "SELECT; DROP TABLE t"}' "(a name with other characters)"
refused "no privileges" grant '{"user": "app", "object": "app_db.*", "privileges": " , "}' "names no privilege"
refused "a missing privileges" grant '{"user": "app", "object": "app_db.*"}' "params.privileges is required"
refused "EXECUTE on a table" grant '{"user": "app", "object": "app_db.t", "privileges": "EXECUTE"}' "EXECUTE is not a table privilege"
refused "*.*" grant '{"user": "app", "object": "*.*", "privileges": "SELECT"}' "global privileges (*.*) are not managed"
refused "mysql.*" grant '{"user": "app", "object": "mysql.*", "privileges": "SELECT"}' "system schema mysql"
refused "MySQL.user" revoke '{"user": "app", "object": "MySQL.user", "privileges": "SELECT"}' "system schema mysql"
refused "a.b.c" grant '{"user": "app", "object": "a.b.c", "privileges": "SELECT"}' "one dot"
refused "an object with a backtick" grant '{"user": "app", "object": "app_db.`t`", "privileges": "SELECT"}' "names must be 1 to 64"
refused "an object with a quote" grant '{"user": "app", "object": "app_db.t'"'"'", "privileges": "SELECT"}' "names must be 1 to 64"
refused "a missing object" grant '{"user": "app", "privileges": "SELECT"}' "params.object is required"
refused "a table that does not exist" grant '{"user": "app", "object": "app_db.nope", "privileges": "SELECT"}' "table app_db.nope does not exist"
refused "an unknown account" lock_user '{"user": "nobody"}' "no account named 'nobody' exists"
refused "an unknown host" lock_user '{"user": "app", "host": "10.9.9.9"}' "account 'app'@'10.9.9.9' does not exist"
check "none of the refused input reached the server" bash -c "! grep -qE 'OR 1=1|DROP USER nxadmin|DROP TABLE|app\`x|ALL PRIVILEGES|GRANT OPTION|FILE ON' '$M/general.log'"
r=$(CRED=wrong call execute lock_user '{"user": "app"}')
check "execute with a wrong admin password fails clearly" fails_with "$r" "could not connect to 127.0.0.1:$MPORT as nxadmin: Access denied"

# ---- the target down: a closed port, then a server that accepts and never answers
r=$(CFG="{\"host\": \"127.0.0.1\", \"port\": $(nx_free_port 40000)}" call test "" "" "" "" "" false 2000)
check "a closed port fails clearly" fails_with "$r" "Can't connect to server on '127.0.0.1'"
kill -STOP "$(cat "$M/mariadbd.pid")"
t0=$(date +%s%N)
r=$(call test "" "" "" "" "" false 2000)
t1=$(date +%s%N)
kill -CONT "$(cat "$M/mariadbd.pid")"
check "a hung server fails clearly" fails_with "$r" "could not connect to 127.0.0.1:$MPORT"
check "  ... within the 2 s timeout (took $(((t1 - t0) / 1000000)) ms)" test $(((t1 - t0) / 1000000)) -lt 4500
r=$(call test)
check "the server answers again" is_ok "$r"

# ---- a server without TLS: tls_ca refuses it; without tls_ca, clear text
nx_mariadb_stop "$M" && nx_mariadb_start "$M" || echo "not ok - mariadb restarts without TLS"
r=$(CFG="{\"host\": \"127.0.0.1\", \"port\": $MPORT, \"tls_ca\": \"$T/ca.pem\"}" call test)
check "tls_ca and a server without TLS: refused, not sent in clear" \
  jq -e '.ok == false and (.error | test("SSL is required, but the server does not support it|the server did not use TLS"))' <<<"$r"
r=$(CFG="{\"host\": \"127.0.0.1\", \"port\": $MPORT, \"tls_ca\": \"$T/ca.pem\"}" call execute lock_user '{"user": "app"}')
check "  ... and no change is made" test "$(root "SELECT JSON_VALUE(Priv, '\$.account_locked') FROM mysql.global_priv WHERE User = 'app'")" = 0
check "without tls_ca the connector still connects, in clear" jq -e '.ok and .result.tls_cipher == null' <<<"$(call test)"

# ---- no password anywhere
root "FLUSH LOGS" >/dev/null
check "the general log shows the connector's statements" grep -q "ALTER USER 'app'@'127.0.0.1' IDENTIFIED BY PASSWORD '\\*" "$M/general.log"
check "  ... with the new password's hash, not the password" grep -qF "IDENTIFIED BY PASSWORD '$(h "$APP_NEW")'" "$M/general.log"
check "the binary log holds the statements too" bash -c "cat '$M'/binlog.0* | grep -qaF 'IDENTIFIED BY PASSWORD'"
check "the nexplane log shows the calls" grep -q "connector_call" "$E2E_DIR/pg/server.log"
check "no password in MariaDB's general log" bash -c "! grep -qaF -f '$E2E_DIR/passwords' '$M/general.log'"
check "no password in MariaDB's slow log" bash -c "! grep -qaF -f '$E2E_DIR/passwords' '$M/slow.log'"
check "no password in MariaDB's binary log" bash -c "! cat '$M'/binlog.0* | grep -qaF -f '$E2E_DIR/passwords'"
check "no password in MariaDB's error log" bash -c "! grep -qaF -f '$E2E_DIR/passwords' '$M/error.log'"
check "no password in MariaDB's data directory" bash -c "! grep -rqaF -f '$E2E_DIR/passwords' '$M/data'"
check "no password in the nexplane server log" bash -c "! grep -qaF -f '$E2E_DIR/passwords' '$E2E_DIR/pg/server.log'"
check "no password in any result, error, rollback_state or evidence" bash -c "! grep -qaF -f '$E2E_DIR/passwords' '$E2E_DIR/results.jsonl'"
