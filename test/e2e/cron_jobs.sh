#!/usr/bin/env bash
# pg_cron, the clock of `make run`, reaches the database: on a cluster set up
# as `make run` sets one up (peer on the socket, passwords over TCP, no trust
# for the test harness), the audit sealing job scheduled as `make run`
# schedules it runs, succeeds and chains the events.  pg_cron 1.4 counts in
# minutes, so this waits for the next minute boundary.
. "$(dirname "$0")/lib.sh"
if ! { nx_cluster_init "$E2E_DIR/pg" >/dev/null && nx_cluster_start "$E2E_DIR/pg"; }; then
  echo "not ok - cluster starts"
  exit 1
fi
su_sql() { nx_as_postgres psql -X -q -tA -v ON_ERROR_STOP=1 -d postgres "$@"; }

su_sql -c "CREATE EXTENSION pg_cron" -c "CREATE EXTENSION nexplane" \
       -c "SELECT nexplane.tenant_create('cron', 'Cron', 'admin@cron.test', 'cron-admin-password') IS NOT NULL" \
       -c "SELECT cron.schedule('nexplane-audit-seal', '* * * * *', 'SELECT nexplane._audit_seal_all()')" >/dev/null
for _ in $(seq 1 80); do
  [ "$(su_sql -c "SELECT count(*) FROM cron.job_run_details WHERE status IN ('succeeded', 'failed')")" -gt 0 ] && break
  sleep 1
done
check "the sealing job ran and succeeded (its connection got in)" \
  test "$(su_sql -c "SELECT status FROM cron.job_run_details ORDER BY start_time LIMIT 1")" = succeeded
check "it chained the tenant's events" \
  test "$(su_sql -c "SELECT count(*) FROM nexplane.audit_chain")" -gt 0
check "the chain verifies" \
  test "$(su_sql -c "SELECT bool_and((nexplane._audit_verify_tenant(id)->>'ok')::boolean) FROM nexplane.tenants")" = t
