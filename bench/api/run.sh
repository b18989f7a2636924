#!/usr/bin/env bash
# bench/api: what the HTTPS shim costs.  wrk drives nexplane-api (the
# optimised build) on GET /v1/change-requests/{id} and on the create+submit
# path; pgbench runs the same SQL, pipelined the same way (authenticate and
# the route's function, one Sync), straight against PostgreSQL in the same
# run.  The difference is the shim: TLS, HTTP, JSON checks, the pool.
#
# Then, at 10,000 and at 1,000,000 change requests in the table, create +
# submit again and the write mix (write_mix.lua: create, submit, approve
# by a second user, a filtered list); the rows are loaded by generate.sql,
# not through the API; the mix runs beside the same
# SQL from pgbench and the server's commit rate (single-row inserts, the
# same number of clients), measured right then.  BENCH_WRITE_SIZES
# ("10000 1000000") sets the sizes; BENCH_WRITE_SIZES= skips the mix.
# room for the 1,000,000-row case in memory, and no checkpoint during a run
BENCH_CONF="shared_buffers = 1GB
max_wal_size = 16GB
checkpoint_timeout = 30min"
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/../../scripts/tls.sh"
root=$(cd "$(dirname "$0")/../.." && pwd)
secs=${BENCH_SECONDS:-10}
conns=${BENCH_CONNECTIONS:-16}

sql -c "CREATE EXTENSION nexplane" -c "SET client_min_messages = warning" \
    -c "SELECT nexplane.tenant_create('bench', 'Bench', 'admin@bench.test', 'bench-admin-pass') IS NOT NULL" \
    -c "INSERT INTO nexplane.connectors (tenant_id, id, type, name)
        SELECT id, '10000000-0000-0000-0000-00000000000a', 'postgresql', 'pg' FROM nexplane.tenants" >/dev/null
token=$(sql -c "SELECT nexplane.login('admin@bench.test', 'bench-admin-pass', NULL, false)->>'access_token'" | tail -n 1)
# one -c, one transaction: the context authenticate() sets lasts that long
cr=$(sql -c "SELECT nexplane.authenticate('$token') IS NOT NULL;
             SELECT nexplane.cr_create('10000000-0000-0000-0000-00000000000a', 'create_role', '{\"role\": \"bench\"}', 'bench')->>'id'" | tail -n 1)

nx_tls_make "$BENCH_DIR/tls"
port=$(nx_free_port 18543)
"$root/api/nexplane-api" --listen "127.0.0.1:$port" --tls-cert "$BENCH_DIR/tls/server.crt" \
  --tls-key "$BENCH_DIR/tls/server.key" --pool-size 8 \
  --db "host=$PGHOST port=$PGPORT dbname=postgres user=nexplane_api" >/dev/null 2>"$BENCH_DIR/api.err" &
api=$!
trap 'kill $api 2>/dev/null; wait $api 2>/dev/null; nx_cluster_stop "$BENCH_DIR/pg"; rm -rf "$BENCH_DIR"' EXIT
for _ in $(seq 1 50); do curl -sk -o /dev/null "https://127.0.0.1:$port/ready" && break; sleep 0.1; done

# cpu_ticks PID...: the processes' user + system CPU so far, in clock ticks
cpu_ticks() {
  local p t=0 f a
  for p in "$@"; do
    f=$(cat "/proc/$p/stat" 2>/dev/null) || continue
    read -ra a <<<"${f##*) }"   # fields from the third on, past "pid (comm) "
    t=$((t + a[11] + a[12]))    # utime, stime
  done
  echo "$t"
}
# the server's processes: the postmaster's children (the shim's pooled
# backends live through a wrk run; those that exit take their time along)
server_pids() { pgrep -P "$(head -n 1 "$BENCH_DIR/pg/data/postmaster.pid")"; }
# CPU time per request, the shim's and the server's: unlike requests/s on
# a shared VM, it hardly moves with the machine's other load
wrk_run() { # name, then wrk arguments
  local name=$1 out api0 db0 api1 db1 n hz
  shift
  hz=$(getconf CLK_TCK)
  api0=$(cpu_ticks "$api"); db0=$(cpu_ticks $(server_pids))
  out=$(wrk -t2 -c"$conns" -d"${secs}s" --latency "$@" 2>&1)
  api1=$(cpu_ticks "$api"); db1=$(cpu_ticks $(server_pids))
  n=$(awk '/requests in/ {print $1}' <<<"$out")
  printf '%-28s %10s req/s   p50 %8s   p90 %8s   p99 %8s   CPU/request: shim %4s us, server %4s us\n' "$name" \
    "$(awk '/^Requests\/sec/ {print $2}' <<<"$out")" \
    "$(awk '$1 == "50%" {print $2}' <<<"$out")" "$(awk '$1 == "90%" {print $2}' <<<"$out")" \
    "$(awk '$1 == "99%" {print $2}' <<<"$out")" \
    "$(( (api1 - api0) * 1000000 / hz / (n > 0 ? n : 1) ))" "$(( (db1 - db0) * 1000000 / hz / (n > 0 ? n : 1) ))"
  grep -E 'Non-2xx|Socket errors' <<<"$out" || true
}

pgbench_run() { # name, script file
  local out
  out=$(pgbench -n -M prepared -c "$conns" -j 2 -T "$secs" -U nexplane_api \
    -D token="$token" -D cr="$cr" -f "$2" postgres 2>&1) || true
  printf '%-28s %10s txn/s   latency average %s ms\n' "$1" \
    "$(awk -F' = ' '/^tps/ {split($2, a, " "); printf "%.0f", a[1]}' <<<"$out")" \
    "$(awk '/latency average/ {print $4}' <<<"$out")"
  grep -E "^number of failed|ERROR|error" <<<"$out" | head -n 3 || true
}

cat >"$BENCH_DIR/get.sql" <<'SQL'
\startpipeline
SELECT nexplane.authenticate(:token, NULL, NULL);
SELECT nexplane.cr_get(:cr::uuid);
\endpipeline
SQL
cat >"$BENCH_DIR/create_submit.sql" <<'SQL'
BEGIN;
SELECT nexplane.authenticate(:token, NULL, NULL);
SELECT nexplane.cr_create(connector_id => '10000000-0000-0000-0000-00000000000a'::uuid,
       change_type => 'create_role', params => '{"role": "bench"}'::jsonb,
       title => 'bench')->>'id' AS id \gset
COMMIT;
\startpipeline
SELECT nexplane.authenticate(:token, NULL, NULL);
SELECT nexplane.cr_submit(:id::uuid);
\endpipeline
SQL

echo "bench/api: $conns connections, ${secs}s each, 2 cores shared by wrk, the shim and PostgreSQL"
echo "-- GET /v1/change-requests/{id}"
wrk_run "nexplane-api (HTTPS)" -H "Authorization: Bearer $token" "https://127.0.0.1:$port/v1/change-requests/$cr"
pgbench_run "same SQL, pgbench (baseline)" "$BENCH_DIR/get.sql"
# load_to N: the table grows to N change requests (generate.sql, not
# the API) and is analyzed either way, as autovacuum keeps a live table.
# Before a new table's first ANALYZE, the generic plans of the lookups
# by (tenant_id, id) tie between the primary key and any index leading
# with tenant_id and holding id further on, and may read every change
# request of the tenant per statement (docs/change_requests.md): a
# first-minute state of a fresh install, not the one issue 17 measures.
load_to() {
  local have t0
  have=$(sql -c "SELECT count(*) FROM nexplane.change_requests")
  if [ "$have" -lt "$1" ]; then
    t0=$(date +%s)
    sql -v n=$(($1 - have)) -f "$(dirname "$0")/generate.sql" >/dev/null
    echo "(loaded $(($1 - have)) change requests with generate.sql in $(( $(date +%s) - t0 )) s)"
  else
    sql -c "ANALYZE nexplane.change_requests" -c "ANALYZE nexplane.change_request_events" >/dev/null
  fi
}
load_to 10000
echo "-- create + submit (two requests, two transactions per change request) at $(sql -c "SELECT to_char(count(*), 'FM9,999,999') FROM nexplane.change_requests") change requests"
NX_TOKEN=$token NX_CONNECTOR=10000000-0000-0000-0000-00000000000a \
  wrk_run "nexplane-api (HTTPS)" -s "$(dirname "$0")/create_submit.lua" "https://127.0.0.1:$port"
pgbench_run "same SQL, pgbench (baseline)" "$BENCH_DIR/create_submit.sql"
echo "(a pgbench transaction here is a create and its submit, two commits; wrk counts"
echo " them as two requests.  pgbench cannot \\gset in a pipeline, so the create runs"
echo " as BEGIN, authenticate, cr_create, COMMIT over the local socket)"


# -- the write mix ------------------------------------------------------------
sizes=${BENCH_WRITE_SIZES-10000 1000000}
[ -n "$sizes" ] || exit 0
connector=10000000-0000-0000-0000-00000000000a
# a second user, who approves, and a policy asking for one approval at every level
sql -c "SELECT nexplane.authenticate('$token') IS NOT NULL;
        SELECT nexplane.user_create('approver@bench.test', 'bench-approver-pass', 'approver') IS NOT NULL;
        SELECT nexplane.policy_create('approvals', spec => '{\"low\": 1, \"medium\": 1, \"high\": 1, \"critical\": 1, \"admin_for_critical\": false}') IS NOT NULL" >/dev/null
token2=$(sql -c "SELECT nexplane.login('approver@bench.test', 'bench-approver-pass', NULL, false)->>'access_token'" | tail -n 1)
sql -c "CREATE TABLE public.commit_rate (id bigserial PRIMARY KEY, v integer)" >/dev/null
echo "INSERT INTO public.commit_rate (v) VALUES (1);" >"$BENCH_DIR/commit.sql"
cat >"$BENCH_DIR/mix.sql" <<'SQL'
BEGIN;
SELECT nexplane.authenticate(:token, NULL, NULL);
SELECT nexplane.cr_create(connector_id => '10000000-0000-0000-0000-00000000000a'::uuid,
       change_type => 'create_role', params => '{"role": "bench"}'::jsonb,
       title => 'bench')->>'id' AS id \gset
COMMIT;
\startpipeline
SELECT nexplane.authenticate(:token, NULL, NULL);
SELECT nexplane.cr_submit(:id::uuid);
\endpipeline
\startpipeline
SELECT nexplane.authenticate(:token2, NULL, NULL);
SELECT nexplane.cr_approve(:id::uuid);
\endpipeline
\startpipeline
SELECT nexplane.authenticate(:token, NULL, NULL);
SELECT nexplane.cr_list('{"state": "pending_approval", "limit": "20"}'::jsonb);
\endpipeline
SQL

# pgbench_tps NAME SCRIPT USER REQUESTS_PER_TXN: txn/s, as requests/s too
pgbench_tps() {
  local out
  out=$(pgbench -n -M prepared -c "$conns" -j 2 -T "$secs" -U "$3" \
    -D token="$token" -D token2="$token2" -f "$2" postgres 2>&1) || true
  printf '%-28s %10s req/s   latency average %s ms per %s request(s)\n' "$1" \
    "$(awk -F' = ' -v k="$4" '/^tps/ {split($2, a, " "); printf "%.0f", a[1] * k}' <<<"$out")" \
    "$(awk '/latency average/ {print $4}' <<<"$out")" "$4"
  grep -E "^number of failed|ERROR|error" <<<"$out" | head -n 3 || true
}

echo "-- create + submit, and the write mix (create, submit, approve by a second user, list pending"
echo "   with a filter; a quarter each), at each size"
for size in $sizes; do
  load_to "$size"
  echo "-- at $(sql -c "SELECT to_char(count(*), 'FM9,999,999') FROM nexplane.change_requests") change requests: create + submit, then the write mix"
  NX_TOKEN=$token NX_CONNECTOR=$connector \
    wrk_run "create + submit (HTTPS)" -s "$(dirname "$0")/create_submit.lua" "https://127.0.0.1:$port"
  NX_TOKEN=$token NX_TOKEN2=$token2 NX_CONNECTOR=$connector \
    wrk_run "write mix (HTTPS)" -s "$(dirname "$0")/write_mix.lua" "https://127.0.0.1:$port"
  pgbench_tps "same SQL, pgbench (baseline)" "$BENCH_DIR/mix.sql" nexplane_api 4
  pgbench_tps "commit rate (1-row INSERT)" "$BENCH_DIR/commit.sql" postgres 1
done
echo "(pgbench runs the mix's four requests as one script: the create as BEGIN, authenticate,"
echo " cr_create, COMMIT; the others pipelined as the shim sends them; its txn/s x 4 is requests/s."
echo " The commit rate is of the same server, $conns clients, synchronous_commit on.)"
