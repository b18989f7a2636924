#!/usr/bin/env bash
# Run the whole credential API as nexplane_api with bound parameters, with
# every statement logged at debug1, including failing calls, then look for
# each plaintext secret in the server log, in a dump of every table, and in
# the raw data directory (heap and WAL): there must be none.
. "$(dirname "$0")/lib.sh"
e2e_cluster <<'CONF' || { echo "not ok - cluster starts"; exit 1; }
log_statement = 'all'
log_min_messages = debug1
log_min_error_statement = debug1
log_min_duration_statement = 0
CONF
log=$E2E_DIR/pg/server.log
# The test's own superuser statements carry literals: keep them out of the log.
quiet() { sql -c "SET log_statement = 'none'" -c "SET log_min_duration_statement = -1" "$@"; }
quiet -c "CREATE EXTENSION nexplane" -c "CREATE EXTENSION nexplane_test" \
      -c "SELECT nexplane.tenant_create('leak', 'Leak', 'admin@leak.test', 'leak-admin-password')" >/dev/null

secrets=(canary-create-1 canary-create-2 canary-rotate-3 canary-dup-4 canary-external-5 canary-big-6)
run() { # a pgbench script of one session as nexplane_api, values bound ($n)
  printf '%s\n' "$@" >"$E2E_DIR/script.sql"
  pgbench -n -t 1 -M extended -U nexplane_api -f "$E2E_DIR/script.sql" \
    -D email=admin@leak.test -D pw=leak-admin-password \
    -D s1='{"password": "canary-create-1"}' -D s2='{"password": "canary-create-2"}' \
    -D s3='{"password": "canary-rotate-3"}' -D s4='{"password": "canary-dup-4"}' \
    -D s5='{"password": "canary-external-5"}' \
    -D s6="{\"password\": \"canary-big-6\", \"pad\": \"$(head -c 17000 /dev/zero | tr '\0' x)\"}" \
    postgres
}
login="SELECT nexplane.login(:email, :pw);"
run "$login" \
  "SELECT nexplane.credential_create('db', 'postgresql', :s1::jsonb);" \
  "SELECT nexplane.credential_create('ldap', 'ldap', :s2::jsonb);" \
  "SELECT nexplane.credential_create('aws', 'aws', NULL, 'secretsmanager/prod/aws');" \
  "SELECT nexplane.credential_rotate((SELECT (c->>'id')::uuid FROM jsonb_array_elements(nexplane.credential_list()) c WHERE c->>'name' = 'db'), :s3::jsonb);" \
  "SELECT nexplane.credential_list();" \
  "SELECT nexplane.rotate_tenant_key();" >"$E2E_DIR/pgbench.out" 2>&1
check "the credential API ran" grep -q "number of transactions actually processed: 1/1" "$E2E_DIR/pgbench.out"
# failing calls carrying secrets: duplicate name, external rotate, too large
run "$login" "SELECT nexplane.credential_create('db', 'postgresql', :s4::jsonb);" >/dev/null 2>&1
run "$login" "SELECT nexplane.credential_rotate((SELECT (c->>'id')::uuid FROM jsonb_array_elements(nexplane.credential_list()) c WHERE c->>'name' = 'aws'), :s5::jsonb);" >/dev/null 2>&1
run "$login" "SELECT nexplane.credential_create('big', 'postgresql', :s6::jsonb);" >/dev/null 2>&1
check "the failing calls failed and were logged" grep -q 'already exists' "$log"
check "statements were logged" grep -q 'execute .*credential_create' "$log"
check "the stored secrets are real (db decrypts to its rotated value)" test "$(quiet -c \
  "SELECT nexplane_test.vault_verify(id, '{\"password\": \"canary-rotate-3\"}') FROM nexplane.credentials WHERE name = 'db'")" = t

sql -c "CHECKPOINT" >/dev/null
pg_dump -d postgres >"$E2E_DIR/dump.sql"
for s in "${secrets[@]}"; do
  check "$s is not in the server log" bash -c "! grep -qF -- '$s' '$log'"
  check "$s is not in any table" bash -c "! grep -qF -- '$s' '$E2E_DIR/dump.sql'"
  check "$s is not in the data directory (heap, WAL)" bash -c "! grep -rqaF -- '$s' '$E2E_DIR/pg/data'"
done
check "the login password is not in the server log either" bash -c "! grep -qF leak-admin-password '$log'"
