#!/usr/bin/env bash
# Break-in at the session level: people at psql log in as nexplane_user,
# the shim as nexplane_api.  Neither reads another session's statement
# text (an idle session's last statement included, with a secret literal
# in it), signals another's backend, turns its own tracking back on, or
# alters its role.  Real logins over TCP with passwords.
. "$(dirname "$0")/lib.sh"
e2e_cluster </dev/null || { echo "not ok - cluster starts"; exit 1; }
quiet() { sql -c "SET log_statement = 'none'" "$@"; }
quiet -c "SET client_min_messages = warning" -c "CREATE EXTENSION nexplane" \
      -c "SELECT nexplane.tenant_create('ra', 'RA', 'admin@ra.test', 'ra-admin-password')" \
      -c "SELECT nexplane.tenant_create('rb', 'RB', 'admin@rb.test', 'rb-admin-password')" \
      -c "ALTER ROLE nexplane_user PASSWORD 'user-role-pass'" \
      -c "ALTER ROLE nexplane_api PASSWORD 'shim-role-pass'" >/dev/null
as_user() { PGPASSWORD=user-role-pass psql -X -q -tA -h 127.0.0.1 -U nexplane_user -d postgres "$@"; }
as_shim() { PGPASSWORD=shim-role-pass psql -X -q -tA -h 127.0.0.1 -U nexplane_api -d postgres "$@"; }

# Tenant ra's person at psql: a secret in a literal, then idle for a while
# (20 s: the checks below take several seconds on a loaded machine).
as_user -c "SET application_name = 'victim'" \
        -c "SELECT nexplane.login('admin@ra.test', 'ra-admin-password') IS NOT NULL" \
        -c "SELECT nexplane.credential_create('db', 'postgresql', '{\"password\": \"canary-literal-1\"}') IS NOT NULL" \
        -c '\! sleep 20' >/dev/null 2>&1 &
# The shim, idle in a statement of its own.
as_shim -c "SET application_name = 'shim'" -c "SELECT 'canary-shim-2', pg_sleep(20)" >/dev/null 2>&1 &
for i in $(seq 50); do
  # (untracked sessions show state "disabled"; the victim's statements take
  # a moment, bcrypt among them)
  [ "$(sql -tA -c "SELECT count(*) FROM pg_stat_activity WHERE application_name IN ('victim', 'shim')")" = 2 ] &&
    [ "$(sql -tA -c "SELECT count(*) FROM nexplane.credentials WHERE name = 'db'")" = 1 ] && break
  sleep 0.1
done
victim=$(sql -tA -c "SELECT pid FROM pg_stat_activity WHERE application_name = 'victim'")
shim=$(sql -tA -c "SELECT pid FROM pg_stat_activity WHERE application_name = 'shim'")
check "the victim and the shim are connected" test -n "$victim" -a -n "$shim"

# Another tenant's person (rb), as nexplane_user too.
for who in as_user as_shim; do
  check "$who: no session's statement text shows the idle victim's secret" \
    test "$($who -c "SELECT count(*) FROM pg_stat_activity WHERE pid <> pg_backend_pid() AND query LIKE '%canary-literal-1%'")" = 0
  check "$who: no session's statement text shows the shim's" \
    test "$($who -c "SELECT count(*) FROM pg_stat_activity WHERE pid <> pg_backend_pid() AND query LIKE '%canary-shim-2%'")" = 0
  check "$who: cannot terminate the victim's backend" \
    bash -c "$(declare -f as_user as_shim); $who -c 'SELECT pg_terminate_backend($victim)' 2>&1 | grep -q 'permission denied'"
  check "$who: cannot cancel the shim's backend" \
    bash -c "$(declare -f as_user as_shim); $who -c 'SELECT pg_cancel_backend($shim)' 2>&1 | grep -q 'permission denied'"
  check "$who: cannot turn statement tracking back on" \
    bash -c "$(declare -f as_user as_shim); $who -c 'SET track_activities = on' 2>&1 | grep -q 'permission denied'"
done
check "nexplane_user cannot change its own password" \
  bash -c "$(declare -f as_user); as_user -c \"ALTER ROLE nexplane_user PASSWORD 'mine-now'\" 2>&1 | grep -q 'only a superuser may alter role'"
check "nexplane_user cannot set its own statement_timeout" \
  bash -c "$(declare -f as_user); as_user -c \"ALTER ROLE nexplane_user SET statement_timeout = '1ms'\" 2>&1 | grep -q 'only a superuser may alter role'"
check "nexplane_api cannot make itself read-only" \
  bash -c "$(declare -f as_shim); as_shim -c 'ALTER ROLE nexplane_api SET default_transaction_read_only = on' 2>&1 | grep -q 'only a superuser may alter role'"
check "nexplane_user cannot log in as the shim's role with its own password" \
  bash -c "! PGPASSWORD=user-role-pass psql -X -q -h 127.0.0.1 -U nexplane_api -d postgres -c 'SELECT 1' >/dev/null 2>&1"
check "even the superuser sees no statement text of the victim (it is not recorded)" \
  test "$(sql -tA -c "SELECT count(*) FROM pg_stat_activity WHERE pid <> pg_backend_pid() AND query LIKE '%canary-literal-1%'")" = 0
check "the victim and the shim are still connected" \
  test "$(sql -tA -c "SELECT count(*) FROM pg_stat_activity WHERE pid IN ($victim, $shim)")" = 2
check "the roles' settings are as installed" \
  test "$(sql -tA -c "SELECT count(*) FROM pg_roles WHERE rolname IN ('nexplane_api', 'nexplane_user')
                      AND 'track_activities=off' = ANY (rolconfig)")" = 2
wait
