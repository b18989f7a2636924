#!/usr/bin/env bash
# Break-in: a session moves the logging settings it may move, then passes
# secrets as bound parameters to every function that takes one, on calls
# that fail.  Each function refuses to run while a door to the log is open,
# and no secret reaches the server log through any door: statement lines,
# duration lines, bound-parameter DETAIL lines or error CONTEXT lines.
. "$(dirname "$0")/lib.sh"
e2e_cluster <<'CONF' || { echo "not ok - cluster starts"; exit 1; }
log_statement = 'all'
log_min_duration_statement = 0
log_min_messages = debug1
log_min_error_statement = debug1
CONF
log=$E2E_DIR/pg/server.log
quiet() { sql -c "SET log_statement = 'none'" -c "SET log_min_duration_statement = -1" "$@"; }
quiet -c "CREATE EXTENSION nexplane" \
      -c "SELECT nexplane.tenant_create('sp', 'SP', 'admin@sp.test', 'sp-admin-password')" >/dev/null

# One session as nexplane_api, values bound ($n) by pgbench's extended protocol.
run() { # script lines...
  printf '%s\n' "$@" >"$E2E_DIR/script.sql"
  pgbench -n -t 1 -M extended -U nexplane_api -f "$E2E_DIR/script.sql" \
    -D email=admin@sp.test -D pw=sp-admin-password -D bad=canary-badpw-1 \
    -D newpw=canary-newuser-2 -D tok=canary-token-3 -D rtok=canary-refresh-4 \
    -D s1='{"password": "canary-cred-5"}' -D s2='{"password": "canary-rotate-6"}' \
    postgres 2>&1
}
open_door="SET log_parameter_max_length_on_error = -1;"
login="SELECT nexplane.login(:email, :pw);"
refused() { grep -q 'refusing a secret while bound parameters are written to the server log'; }

# The settings a session cannot move.
for s in "log_statement = 'none'" "log_min_duration_statement = -1" "log_parameter_max_length = -1" \
  "log_min_error_statement = panic"; do
  check "nexplane_api cannot SET $s" bash -c "psql -X -q -U nexplane_api -d postgres -c \"SET $s\" 2>&1 | grep -q 'permission denied'"
done

# With the door open, every secret-taking function refuses, leaking nothing.
check "login refuses with log_parameter_max_length_on_error = -1" refused <<<"$(run "$open_door" "SELECT nexplane.login(:email, :bad);")"
check "authenticate refuses" refused <<<"$(run "$open_door" "SELECT nexplane.authenticate(:tok);")"
check "refresh refuses" refused <<<"$(run "$open_door" "SELECT nexplane.refresh(:rtok);")"
check "user_create refuses" refused <<<"$(run "$login" "$open_door" "SELECT nexplane.user_create('new@sp.test', :newpw, 'viewer');")"
check "credential_create refuses" refused <<<"$(run "$login" "$open_door" "SELECT nexplane.credential_create('db', 'postgresql', :s1::jsonb);")"
check "credential_rotate refuses" refused <<<"$(run "$login" "$open_door" "SELECT nexplane.credential_rotate('00000000-0000-0000-0000-000000000001', :s2::jsonb);")"
check "a refusal says which setting to reset" grep -q 'Set log_parameter_max_length_on_error to 0' <<<"$(run "$open_door" "SELECT nexplane.login(:email, :bad);")"
check "nothing was created while refused" test "$(quiet -tA -c "SELECT count(*) FROM nexplane.users WHERE email = 'new@sp.test'")" = 0

# With the settings as installed, the same calls fail in their own ways
# (wrong password, bad token, unknown id, validation) and log no secret.
out=$(run "SELECT nexplane.login(:email, :bad);")
check "a wrong password fails as usual" grep -q 'invalid email or password' <<<"$out"
run "SELECT nexplane.authenticate(:tok);" >/dev/null
run "SELECT nexplane.refresh(:rtok);" >/dev/null
run "$login" "SELECT nexplane.user_create('bad email', :newpw, 'viewer');" >/dev/null
run "$login" "SELECT nexplane.credential_rotate('00000000-0000-0000-0000-000000000001', :s2::jsonb);" >/dev/null
out=$(run "$login" "SELECT nexplane.credential_create('db', 'postgresql', :s1::jsonb);" \
  "SELECT nexplane.credential_create('db', 'postgresql', :s1::jsonb);")
check "a duplicate credential fails as usual" grep -q 'already exists' <<<"$out"
check "statements and their errors were logged" bash -c "grep -q 'execute .*credential_create' '$log' && grep -q 'already exists' '$log'"
check "durations were logged" grep -q 'duration: ' "$log"
# The door is real: a failing call that takes no secret logs its parameters.
run "$open_door" "SELECT nexplane.cr_get(:email::uuid);" >"$E2E_DIR/door.out"
check "with the door open, a failing call's parameters do reach the log" \
  bash -c "grep -q \"parameter \\\$1 = 'admin@sp.test'\" '$log'"

for s in canary-badpw-1 canary-newuser-2 canary-token-3 canary-refresh-4 canary-cred-5 canary-rotate-6; do
  check "$s is not in the server log" bash -c "! grep -qF -- '$s' '$log'"
done
check "the login password is not in the server log either" bash -c "! grep -qF sp-admin-password '$log'"
