#!/usr/bin/env bash
# The mariadb connector through the whole engine, against a real mariadbd
# (test/servers/mariadb.sh: the postgres user, loopback, TLS verified with
# the run's CA, real grants, the connector's least-privileged login): test
# and discover as jobs, then every change type created by an operator,
# approved by an approver, executed by the job workers, checked with the
# mariadb client logged in as the account, rolled back (a change request
# of its own, approved and run the same way) and checked again.  The
# accounts' hosts come from the target (looked up) or from the
# connector's account_host, never from a default '%'.  The rotations'
# new secrets are only in the vault; no password in any log, result,
# evidence or audit event, nor in MariaDB's logs.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/../servers/mariadb.sh"
. "$(dirname "$0")/engine_lib.sh"

M=$E2E_DIR/maria
trap 'nx_mariadb_stop "$M"; nx_cluster_stop "$E2E_DIR/pg"; [ -n "${KEEP:-}" ] || rm -rf "$E2E_DIR"' EXIT
eng_setup

# TLS: a CA of this run signs the server's certificate for 127.0.0.1
T=$E2E_DIR/tls
mkdir -p "$T"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 1 \
  -subj "/CN=nexplane engine test ca" -keyout "$T/ca.key" -out "$T/ca.pem" 2>/dev/null &&
  openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj /CN=127.0.0.1 \
    -keyout "$T/server.key" -out "$T/server.csr" 2>/dev/null &&
  openssl x509 -req -in "$T/server.csr" -CA "$T/ca.pem" -CAkey "$T/ca.key" -CAcreateserial \
    -days 1 -extfile <(echo "subjectAltName=IP:127.0.0.1") -out "$T/server.pem" 2>/dev/null ||
  { echo "not ok - TLS certificates are made"; exit 1; }
chown -R postgres: "$T"

pw() { echo "canary-$1-$(openssl rand -hex 8)"; }
ADMIN=$(pw admin) OLD=$(pw old) LOCKME=$(pw lockme) MULTI=$(pw multi)
MPORT=$(nx_free_port 33306)
nx_mariadb_init "$M" "$MPORT" &&
  nx_mariadb_start "$M" --ssl-ca="$T/ca.pem" --ssl-cert="$T/server.pem" --ssl-key="$T/server.key" ||
  { echo "not ok - mariadb starts"; exit 1; }
h() { nx_mariadb_hash "$1"; }
# the connector's login with the least privileges docs/connectors/mariadb.md
# lists; the accounts it changes (fixtures stay out of MariaDB's logs)
nx_mariadb_admin "$M" nxadmin "$ADMIN"
nx_mariadb_root "$M" <<SQL || { echo "not ok - accounts are made"; exit 1; }
SET SESSION sql_log_off = 1, SESSION sql_log_bin = 0;
CREATE DATABASE app_db;
CREATE TABLE app_db.t (a int); INSERT INTO app_db.t VALUES (1);
GRANT ALL PRIVILEGES ON \`app\\_db\`.* TO 'nxadmin'@'127.0.0.1' WITH GRANT OPTION;
CREATE USER 'app'@'127.0.0.1' IDENTIFIED BY PASSWORD '$(h "$OLD")';
GRANT UPDATE ON app_db.t TO 'app'@'127.0.0.1';
CREATE USER 'lockme'@'127.0.0.1' IDENTIFIED BY PASSWORD '$(h "$LOCKME")' ACCOUNT LOCK;
CREATE USER 'multi'@'127.0.0.1' IDENTIFIED BY PASSWORD '$(h "$MULTI")';
CREATE USER 'multi'@'10.0.0.%' IDENTIFIED BY PASSWORD '$(h "$MULTI")';
CREATE USER 'doomed'@'127.0.0.1' IDENTIFIED VIA mysql_native_password USING 'invalid';
SQL

# answers are read whole: grep -q on a pipe would end the client with
# SIGPIPE, which pipefail counts as a failure
my() { # USER PASSWORD [SQL]: the client's whole answer
  MYSQL_PWD=$2 mariadb --no-defaults -h 127.0.0.1 -P "$MPORT" -u "$1" -N -B -e "${3:-SELECT 1}" 2>&1
}
login() { [ "$(my "$1" "$2" "${3:-SELECT 1}")" = "${4-1}" ]; }
refused() { # USER PASSWORD MESSAGE [SQL]
  local a
  a=$(my "$1" "$2" "${4:-SELECT 1}")
  grep -q "$3" <<<"$a"
}
root() { nx_mariadb_root "$M" -e "$1"; }
hosts_of() { root "SELECT IFNULL(GROUP_CONCAT(Host ORDER BY Host), '') FROM mysql.global_priv WHERE User = '$1'"; }
state_is() { [ "$(eng_state "$1")" = "$2" ]; }
state_like() { local s; s=$(eng_state "$1"); grep -qE "$2" <<<"$s"; }
cr_field() { sql -c "SELECT $2 FROM nexplane.change_requests WHERE id = '$1'"; }
versions() { sql -c "SELECT coalesce(string_agg(status, ',' ORDER BY status), '') FROM nexplane.credential_versions WHERE credential_id = '$1'"; }
no() { ! "$@"; }
refused_rollback() { local a; a=$(eng_as "$ENG_OP" "SELECT nexplane.cr_rollback('$1')" 2>&1); grep -q "$2" <<<"$a"; }

eng_secret admin "{\"username\": \"nxadmin\", \"password\": \"$ADMIN\"}"
eng_secret app "{\"username\": \"app\", \"password\": \"$OLD\"}"
ADMIN_CRED=$(eng_credential maria-admin admin)
APP=$(eng_credential maria-app app)
# account_host: a host no default would give (not '%', not the connector's own)
CFG="{\"host\": \"127.0.0.1\", \"port\": $MPORT, \"tls_ca\": \"$T/ca.pem\", \"account_host\": \"192.0.2.10\"}"
CONN=$(eng_connector mariadb accounts "$CFG" "$ADMIN_CRED")
check "a mariadb connector is made (TLS verified with tls_ca)" test -n "$CONN"

# test and discover, as jobs
check "connector_test: the job succeeds" test "$(eng_job "$CONN" test_connection)" = succeeded
check "... over TLS, as the connector's login" \
  test "$(sql -c "SELECT result->>'current_user' || ' ' || (result->>'tls_cipher' IS NOT NULL) FROM nexplane.jobs
                  WHERE connector_id = '$CONN' AND kind = 'test_connection' ORDER BY created_at DESC LIMIT 1")" = "nxadmin@127.0.0.1 true"
check "... and the connector's health is ok" \
  test "$(eng_as "$ENG_OP" "SELECT nexplane.connector_get('$CONN')->'health'->>'state'")" = ok
check "connector_discover: the job succeeds" test "$(eng_job "$CONN" discover)" = succeeded
check "... the accounts and app_db are assets, in the connector's environment" \
  test "$(eng_as "$ENG_OP" "SELECT count(*) FROM jsonb_array_elements(nexplane.asset_list('{\"connector_id\": \"$CONN\"}')) a
                           WHERE a->>'name' IN ('app@127.0.0.1', 'lockme@127.0.0.1', 'multi@10.0.0.%', 'app_db')
                             AND a->>'environment' = 'production'")" = 4

# rotate_password: a new secret only the vault knows; the host from the target
CR=$(eng_change "$CONN" rotate_password "{\"user\": \"app\", \"credential_id\": \"$APP\"}")
check "rotate_password: completed through approval and the workers" state_is "$CR" completed
check "... the account's host was looked up on the target" \
  test "$(cr_field "$CR" "result->>'account'")" = "'app'@'127.0.0.1'"
check "... the old password is refused by mariadb" refused app "$OLD" "Access denied"
check "... the vault's new password logs in" eng_works "$CONN" "$APP" '{"user": "app"}'
check "... the vault keeps the old one as previous, nothing pending" test "$(versions "$APP")" = previous
check "... evidence of the pre-check, the execution and the verification" \
  test "$(sql -c "SELECT string_agg(kind, ',' ORDER BY created_at, kind) FROM nexplane.evidence WHERE change_request_id = '$CR'")" = "execution,pre_check,verification"
check "... each with the SHA-256 of its content" \
  test "$(sql -c "SELECT bool_and(sha256 = sha256(convert_to(content::text, 'UTF8'))) FROM nexplane.evidence WHERE change_request_id = '$CR'")" = t
RB=$(eng_rollback "$CR")
check "its rollback: a change request of its own, completed" state_is "$RB" completed
check "... the original is rolled back" state_is "$CR" rolled_back
check "... the old password logs in again" login app "$OLD"
check "... and it is the vault's current one again" eng_works "$CONN" "$APP" '{"user": "app"}'

# rotate_password of the connector's own login (no credential_id)
CR=$(eng_change "$CONN" rotate_password '{"user": "nxadmin"}')
check "rotate_password of the connector's own login: completed" state_is "$CR" completed
check "... its old password is refused" refused nxadmin "$ADMIN" "Access denied"
check "... connector_test succeeds with the vault's new one" test "$(eng_job "$CONN" test_connection)" = succeeded
check "... the vault keeps the old one as previous, nothing pending" test "$(versions "$ADMIN_CRED")" = previous
RB=$(eng_rollback "$CR")
check "its rollback completed" state_is "$RB" completed
check "... the old password logs in again" login nxadmin "$ADMIN"
check "... and is the vault's current one: connector_test succeeds" test "$(eng_job "$CONN" test_connection)" = succeeded

# create_user: the host from the connector's account_host, never '%'
CR=$(eng_change "$CONN" create_user '{"user": "newbie"}')
check "create_user without params.host: completed" state_is "$CR" completed
check "... the account exists for account_host's 192.0.2.10 only (no '%')" test "$(hosts_of newbie)" = 192.0.2.10
check "... the change says so" test "$(cr_field "$CR" "rollback_state->>'account'")" = "'newbie'@'192.0.2.10'"
RB=$(eng_rollback "$CR")
check "its rollback completed" state_is "$RB" completed
check "... the account is gone" test "$(hosts_of newbie)" = ""

# lock_user refuses logins; its rollback lets them in again
CR=$(eng_change "$CONN" lock_user '{"user": "app"}')
check "lock_user: completed" state_is "$CR" completed
check "... app is refused as locked" refused app "$OLD" "this account is locked"
RB=$(eng_rollback "$CR")
check "its rollback completed" state_is "$RB" completed
check "... app logs in again" login app "$OLD"

# unlock_user, and its rollback locks again
CR=$(eng_change "$CONN" unlock_user '{"user": "lockme"}')
check "unlock_user: completed" state_is "$CR" completed
check "... lockme logs in" login lockme "$LOCKME"
RB=$(eng_rollback "$CR")
check "its rollback completed" state_is "$RB" completed
check "... lockme is refused as locked again" refused lockme "$LOCKME" "this account is locked"

# grant, and its rollback revokes it
CR=$(eng_change "$CONN" grant '{"user": "app", "object": "app_db.*", "privileges": "SELECT"}')
check "grant: completed" state_is "$CR" completed
check "... app reads app_db.t" login app "$OLD" "SELECT a FROM app_db.t"
RB=$(eng_rollback "$CR")
check "its rollback completed" state_is "$RB" completed
check "... app no longer reads app_db.t" refused app "$OLD" "command denied" "SELECT a FROM app_db.t"

# revoke, and its rollback grants it back
CR=$(eng_change "$CONN" revoke '{"user": "app", "object": "app_db.t", "privileges": "UPDATE"}')
check "revoke: completed" state_is "$CR" completed
check "... app can no longer update app_db.t" refused app "$OLD" "command denied" "UPDATE app_db.t SET a = 2"
RB=$(eng_rollback "$CR")
check "its rollback completed" state_is "$RB" completed
check "... app updates app_db.t again" login app "$OLD" "UPDATE app_db.t SET a = 1" ""

# drop_user has no rollback
CR=$(eng_change "$CONN" drop_user '{"user": "doomed"}')
check "drop_user: completed" state_is "$CR" completed
check "... mariadb no longer has doomed" test "$(hosts_of doomed)" = ""
check "... and a rollback of it is refused" refused_rollback "$CR" "cannot be rolled back"

# A worker lost in the middle of a change (killed with SIGKILL after
# execute's statement reached mariadb, before verify; eng_change_lost):
# the change fails as outcome unknown, the rollback state pre_check gave
# (stored before execute) is kept since the recovery's verify finds the
# change in effect, and rolled back through cr_rollback (approved by
# someone else) it restores the account on mariadb.
CR=$(eng_change_lost "$CONN" lock_user '{"user": "app"}' "locking the account")
check "a lost lock_user: failed, outcome unknown" state_is "$CR" "$ENG_LOST"
check "... the lock reached mariadb: app is refused as locked" refused app "$OLD" "this account is locked"
check "... the recovery found it in effect and kept the rollback state" test "$(eng_recovery "$CR")" = "true kept"
check "... pre_check's rollback state, as execute gives it" \
  eng_rollback_state_is "$CR" '{"user": "app", "host": "127.0.0.1", "account": "'"'app'@'127.0.0.1'"'", "locked_before": false}'
RB=$(eng_rollback "$CR")
check "... its rollback, approved by another user, completed" state_is "$RB" completed
check "... the lost change is rolled back" state_like "$CR" "^rolled_back"
check "... app logs in again" login app "$OLD"

CR=$(eng_change_lost "$CONN" rotate_password "{\"user\": \"app\", \"credential_id\": \"$APP\"}" "setting the password")
check "a lost rotate_password: failed, outcome unknown" state_is "$CR" "$ENG_LOST"
check "... the new password reached mariadb: the old one is refused" refused app "$OLD" "Access denied"
check "... the recovery logged in with the pending version and promoted it" test "$(versions "$APP")" = previous
check "... the vault's current password logs in" eng_works "$CONN" "$APP" '{"user": "app"}'
check "... the rollback state is kept" test "$(eng_recovery "$CR")" = "true kept"
check "... pre_check's, wrapped with the credential, as execute gives it" \
  eng_rollback_state_is "$CR" '{"credential_id": "'"$APP"'", "connector": {"user": "app", "host": "127.0.0.1", "account": "'"'app'@'127.0.0.1'"'"}}'
RB=$(eng_rollback "$CR")
check "... its rollback, approved by another user, completed" state_is "$RB" completed
check "... the old password logs in again" login app "$OLD"
check "... and it is the vault's current one again" eng_works "$CONN" "$APP" '{"user": "app"}'
check "... the lost change is rolled back" state_like "$CR" "^rolled_back"
check "... and no job is left queued or running" test -z "$(sql -c "SELECT 1 FROM nexplane.jobs WHERE state IN ('queued', 'running')")"

# changes that fail on the target: failed with the connector's reason, the
# rotation's pending secret dropped, the old credential kept
CR=$(eng_change "$CONN" rotate_password "{\"user\": \"app\", \"host\": \"10.9.9.9\", \"credential_id\": \"$APP\"}")
check "a rotation of an account mariadb does not have fails, saying why" \
  state_like "$CR" "^failed: .*account 'app'@'10\.9\.9\.9' does not exist"
check "... no pending version is left" test "$(versions "$APP")" = previous
check "... the vault's credential still logs in" eng_works "$CONN" "$APP" '{"user": "app"}'
check "... and so does the mariadb client" login app "$OLD"
CR=$(eng_change "$CONN" lock_user '{"user": "multi"}')
check "a user with accounts for two hosts is not guessed at: failed, saying so" \
  state_like "$CR" "^failed: .*several hosts .*say which one in params.host"
check "... neither account is locked" \
  test "$(root "SELECT COUNT(*), SUM(IFNULL(JSON_VALUE(Priv, '\$.account_locked'), 0) = 1) FROM mysql.global_priv WHERE User = 'multi'")" = "$(printf '2\t0')"
CONN2=$(eng_connector mariadb no-account-host "{\"host\": \"127.0.0.1\", \"port\": $MPORT, \"tls_ca\": \"$T/ca.pem\"}" "$ADMIN_CRED")
CR=$(eng_change "$CONN2" create_user '{"user": "newbie"}')
check "create_user with neither params.host nor account_host fails: no '%' by default" \
  state_like "$CR" "^failed: .*needs a host"
check "... and no account was made" test "$(hosts_of newbie)" = ""

# A rotation's rollback whose worker is lost (docs/jobs.md, "A lost
# rollback of a rotation"): the recovery asks mariadb which version it
# takes, and the vault follows it; the rollback fails as outcome unknown.
APPU='{"user": "app"}'
rot_app() { eng_change "$CONN" rotate_password "{\"user\": \"app\", \"credential_id\": \"$APP\"}"; }
CR=$(rot_app)
check "(a rotation to roll back: completed, the old password refused)" \
  eval 'state_is "$CR" completed && refused app "$OLD" "Access denied"'
RB=$(eng_rollback_lost "$CR" "setting the password")
check "a rollback of a rotation lost once its statement landed: failed, outcome unknown" state_is "$RB" "$ENG_RB_LOST"
check "... the recovery found the previous password alone and swapped the versions" \
  test "$(eng_recovery_unrotate "$RB")" = "true restored"
check "... the vault's current version is the previous password: it logs in on mariadb" \
  eval 'eng_works "$CONN" "$APP" "$APPU" && login app "$OLD"'
check "... the rotated one, kept as previous, does not" no eng_works "$CONN" "$APP" "$APPU" previous
check "... nothing pending" test "$(versions "$APP")" = previous
CR=$(rot_app)
RB=$(eng_rollback_lost "$CR" "rolling back")
check "a rollback of a rotation lost before its statement: failed, outcome unknown" state_is "$RB" "$ENG_RB_LOST"
check "... the decision recorded: not in effect, the vault unchanged" \
  test "$(eng_recovery_unrotate "$RB")" = "false unchanged"
check "... the vault's current (rotated) password still logs in" eng_works "$CONN" "$APP" "$APPU"
check "... the previous one is still refused, and still the vault's previous" \
  eval 'refused app "$OLD" "Access denied" && no eng_works "$CONN" "$APP" "$APPU" previous && test "$(versions "$APP")" = previous'

check "no password in the server log, results, evidence, jobs or audit events" \
  eng_no_secrets "$ADMIN" "$OLD" "$LOCKME" "$MULTI"
printf '%s\n' "$ADMIN" "$OLD" "$LOCKME" "$MULTI" >"$E2E_DIR/passwords"
check "the general log shows the connector's statements, with hashes only" \
  grep -q "ALTER USER 'app'@'127.0.0.1' IDENTIFIED BY PASSWORD '\\*" "$M/general.log"
check "no password in MariaDB's general, slow, binary or error log" \
  bash -c "! cat '$M/general.log' '$M/slow.log' '$M/error.log' '$M'/binlog.0* | grep -qaF -f '$E2E_DIR/passwords'"
# the engine's generated passwords are known to the vault alone: look for
# their shape (config.password_length's default 32 of A-Z a-z 0-9; a random
# one lacks a case with odds of 1 in 10^7)
gen='(?<![A-Za-z0-9])(?=[A-Za-z0-9]*[a-z])(?=[A-Za-z0-9]*[A-Z])[A-Za-z0-9]{32}(?![A-Za-z0-9])'
check "(the shape is found in a line holding one)" \
  grep -qP "$gen" <<<"ALTER USER x IDENTIFIED BY 'aB3dE5gH7jK9mN1pQ3sT5vW7yZ9bC1dE'"
# (the test's own psql sessions authenticate with their tokens, which the
# server log records: a JWT's base64url holds runs of that shape by chance,
# so tokens are masked first)
check "nothing of a generated password's shape in MariaDB's logs, the nexplane log or the results" \
  bash -c "! cat '$M/general.log' '$M/slow.log' '$M/error.log' '$M'/binlog.0* '$E2E_DIR/pg/server.log' '$E2E_DIR/dump.txt' |
           sed -E 's/eyJ[A-Za-z0-9_-]+\\.[A-Za-z0-9_-]+\\.[A-Za-z0-9_-]+/<jwt>/g' | grep -qaP '$gen'"
