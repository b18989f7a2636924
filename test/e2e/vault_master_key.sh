#!/usr/bin/env bash
# The master key across restarts: wrong and missing keys give clear errors,
# the environment variable works and is wiped, and rotate_master_key()
# re-wraps every tenant key so the old master key can go.
. "$(dirname "$0")/lib.sh"
data=$E2E_DIR/pg/data
e2e_cluster </dev/null || { echo "not ok - cluster starts"; exit 1; }

sql -c "CREATE EXTENSION nexplane" -c "CREATE EXTENSION nexplane_test" -c "SET client_min_messages = warning" \
    -c "SELECT nexplane.tenant_create('mk1', 'MK1', 'admin@mk1.test', 'mk1-admin-password')" \
    -c "SELECT nexplane.tenant_create('mk2', 'MK2', 'admin@mk2.test', 'mk2-admin-password')" >/dev/null
for t in 1 2; do
  sql -c "SELECT nexplane.login('admin@mk$t.test', 'mk$t-admin-password') IS NOT NULL" \
      -c "SELECT nexplane.credential_create('db', 'postgresql', '{\"password\": \"mk-secret-$t\"}')->>'id'" |
    tail -n 1 >"$E2E_DIR/cred$t"
done
verify() { # tenant number: 't' when the credential decrypts, else the error
  sql -c "SELECT nexplane_test.vault_verify('$(cat "$E2E_DIR/cred$1")', '{\"password\": \"mk-secret-$1\"}')" 2>&1
}
check "credentials decrypt under the first master key" test "$(verify 1)$(verify 2)" = tt
cp "$data/nexplane_master.key" "$E2E_DIR/key_a"

# Rotation survives a crash: a backend killed inside a rotation batch
# loses only its uncommitted batch; calling again finishes the job.
sql -c "SELECT nexplane.login('admin@mk1.test', 'mk1-admin-password') IS NOT NULL" \
    -c "SELECT count(nexplane.credential_create('extra-' || g, 'postgresql',
                 jsonb_build_object('password', 'mk-extra-' || g))) FROM generate_series(1, 4) g" >/dev/null
psql -X -q -d postgres -v ON_ERROR_STOP=1 -c "SET application_name = 'rotator'" \
  -c "SELECT nexplane.login('admin@mk1.test', 'mk1-admin-password') IS NOT NULL" \
  -c "BEGIN" -c "SELECT nexplane.rotate_tenant_key(2)" -c "SELECT pg_sleep(60)" >/dev/null 2>&1 &
for _ in $(seq 1 50); do
  [ "$(sql -c "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'rotator' AND query LIKE '%pg_sleep%'")" = 1 ] && break
  sleep 0.2
done
sql -c "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'rotator'" >/dev/null
wait
check "a rotation killed mid-batch left nothing half-done" \
  test "$(sql -c "SELECT count(*) FROM nexplane.tenant_keys k JOIN nexplane.tenants t ON t.id = k.tenant_id WHERE t.slug = 'mk1'")" = 1
rounds=0
until [ "$(sql -c "SELECT nexplane.login('admin@mk1.test', 'mk1-admin-password') IS NOT NULL" \
                -c "SELECT nexplane.rotate_tenant_key(2)->>'remaining'" | tail -n 1)" = 0 ] || [ $rounds -ge 10 ]; do
  rounds=$((rounds + 1))
done
check "rotate_tenant_key called again finishes the rotation" \
  test "$(sql -c "SELECT count(*) FROM nexplane.credentials c JOIN nexplane.tenants t ON t.id = c.tenant_id WHERE t.slug = 'mk1' AND c.key_version <> 2")" = 0
check "every credential still decrypts after the interrupted rotation" test "$(sql -c \
  "SELECT bool_and(nexplane_test.vault_verify(c.id, jsonb_build_object('password', 'mk-extra-' || substr(c.name, 7))))
     FROM nexplane.credentials c WHERE c.name LIKE 'extra-%'")$(verify 1)" = tt

# A wrong key: a clear error at first use, not garbage.
openssl rand -base64 48 >"$data/nexplane_master.key"
e2e_restart
check "a wrong master key gives a clear error" grep -q "the master key does not match" <<<"$(verify 1)"

# A missing key file.
e2e_conf "nexplane.master_key_file = 'no-such.key'"
e2e_restart
out=$(verify 1)
check "a missing master key file gives a clear error" grep -q 'could not open master key file "no-such.key"' <<<"$out"
check "... with a hint" grep -q "nexplane.master_key_file" <<<"$(sql -c '\set VERBOSITY verbose' -c "SELECT nexplane_test.vault_verify('$(cat "$E2E_DIR/cred1")', '{}')" 2>&1)"

# The key from the environment; the postmaster's environ no longer shows it.
e2e_conf "nexplane.master_key_file = ''"
nx_cluster_stop "$E2E_DIR/pg"
runuser -u postgres -- env NEXPLANE_SECRET_KEY="$(cat "$E2E_DIR/key_a")" \
  "$NX_PGBIN/pg_ctl" -D "$data" -l "$E2E_DIR/pg/server.log" -w start >/dev/null
check "NEXPLANE_SECRET_KEY works as the master key" test "$(verify 1)" = t
pid=$(head -n 1 "$data/postmaster.pid")
check "NEXPLANE_SECRET_KEY is wiped from the postmaster's environment" \
  bash -c "! tr '\0' '\n' </proc/$pid/environ | grep -qF -- '$(head -c 20 "$E2E_DIR/key_a")'"

# Rotation: new key current, old key previous; re-wrap in batches of one.
nx_cluster_stop "$E2E_DIR/pg"
openssl rand -base64 48 >"$data/nexplane_master.key"
cp "$E2E_DIR/key_a" "$data/previous.key"
chown postgres: "$data/nexplane_master.key" "$data/previous.key"
chmod 600 "$data/previous.key"
e2e_conf "nexplane.master_key_file = 'nexplane_master.key'"
e2e_conf "nexplane.previous_master_key_file = 'previous.key'"
nx_cluster_start "$E2E_DIR/pg"
check "before rotation, keys wrapped by the previous key still decrypt" test "$(verify 1)$(verify 2)" = tt
r1=$(sql -c "SELECT nexplane.rotate_master_key(1) - 'master_key_id'")
calls=1
until [ "$(sql -c "SELECT nexplane.rotate_master_key(1)->>'remaining'")" = 0 ] || [ $calls -ge 10 ]; do
  calls=$((calls + 1))
done
check "rotate_master_key works in batches: first $r1, done after $((calls + 1)) calls" \
  test "$r1" = '{"remaining": 2, "rewrapped": 1}' -a "$calls" = 2
check "the rotation is audited in each tenant" \
  test "$(sql -c "SELECT count(DISTINCT tenant_id) FROM nexplane.audit_events WHERE action = 'vault.rotate_master_key'")" = 2
e2e_conf "nexplane.previous_master_key_file = ''"
e2e_restart
check "after rotation the old key is not needed" test "$(verify 1)$(verify 2)" = tt
cp "$E2E_DIR/key_a" "$data/nexplane_master.key"
e2e_restart
check "the old key cannot read re-wrapped keys" grep -q "the master key does not match" <<<"$(verify 2)"
