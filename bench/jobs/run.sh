#!/usr/bin/env bash
# bench/jobs: the job engine's throughput and wake-up latency, beside
# graphile-worker and pgbench on the same server, in one run on one
# cluster (synchronous_commit on, PostgreSQL's default, for all of them).
#
#   throughput  N no-op jobs (default 10,000) queued in one transaction,
#               drained by nexplane's job workers (nexplane.job_workers,
#               default 2): jobs claimed and completed per second, from the
#               enqueue's commit to the commit of the last job's end (both
#               read with pg_xact_commit_timestamp).  Beside it the
#               workers' CPU time per job and the event sequencer's (from
#               /proc; it numbers the live feed's two events of each job):
#               on a VM shared with other work they move far less than the
#               rate, and 2 cores / their sum is what two idle cores would
#               allow at most.
#               The finished jobs stay between rounds, as they stay for
#               nexplane.job_retention days in a deployment, and
#               autovacuum runs as it would there; the first round meets a
#               queue table that has never been analyzed.
#   latency     with the workers idle, LAT_N jobs (default 500) queued one
#               at a time, each in its own transaction, a pause between
#               them so that each finds the workers asleep: started_at -
#               created_at (from the enqueuing statement's start to the
#               claiming transaction's), p50 and p99; and the part of it
#               after the enqueue's commit (its WAL flush comes first), the
#               wake-up and the claim's start.
#   idle        the workers' CPU time over 3 s with nothing to do (one
#               round a second each).
#   baselines   pgbench's single-row INSERT commit rate on the same server,
#               1 and 2 clients (what the disk allows one commit at a
#               time), and graphile-worker (npm, pinned in
#               graphile-worker/package-lock.json, installed on first use)
#               draining no-op jobs queued in one transaction, timed the
#               same way, in its own schema, one worker instance with
#               CONCURRENCY jobs at once (default 4: nexplane runs 2
#               workers on this 2-core machine; graphile-worker's
#               concurrency is async I/O in one Node.js process, and 4
#               keeps two round trips in flight per core).  Two
#               configurations: "batched", its documented batching (a
#               local queue of 32, the batch nexplane's workers claim,
#               and batched completions; N jobs), judged against; and
#               "single", as it comes (each job fetched and completed on
#               its own; N/4 jobs, it is slow).
# Targets (issue 18): >= 5,000 jobs/s on 2 cores, >= 2x graphile-worker,
# p99 < 10 ms.
#
# ROUNDS rounds (default 3) of the drains and pgbench, interleaved, so
# that the VM's drift falls on all of them; each figure is the median of
# its rounds, with the min-max beside it.  The load average is printed at
# the start and the end: other work on the machine slows every figure.
BENCH_CONF="shared_buffers = 512MB
max_wal_size = 8GB
checkpoint_timeout = 1h
track_commit_timestamp = on"
. "$(dirname "$0")/../lib.sh"
N=${N:-10000}
ROUNDS=${ROUNDS:-3}
LAT_N=${LAT_N:-500}
CONCURRENCY=${CONCURRENCY:-4}
GW_DIR=$(cd "$(dirname "$0")/graphile-worker" && pwd)
load_start=$(cut -d' ' -f1-3 /proc/loadavg)

# graphile-worker from npm, as package-lock.json pins it, on the machine's
# Node.js (Debian's nodejs package, which brings npm too)
if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
  echo "bench/jobs needs Node.js and npm for its baseline: apt-get install -y nodejs" >&2
  exit 1
fi
if [ ! -d "$GW_DIR/node_modules/graphile-worker" ]; then
  (cd "$GW_DIR" && npm ci --no-audit --no-fund --loglevel=error >/dev/null)
fi

sql -c "CREATE EXTENSION nexplane" >/dev/null
tenant=$(sql -c "SELECT nexplane.tenant_create('bench', 'Bench', 'admin@bench.test', 'bench-admin-password')->'tenant'->>'id'")
workers_sql="SELECT pid FROM pg_stat_activity WHERE backend_type = 'nexplane job worker'"
# the live feed's sequencer numbers each job's events (two a no-op job):
# part of a job's cost, though not a worker's
sequencer_sql="SELECT pid FROM pg_stat_activity WHERE backend_type = 'nexplane event sequencer'"
for _ in $(seq 1 100); do
  [ "$(sql -c "$workers_sql" | wc -l)" -ge 2 ] && break
  sleep 0.2
done
nworkers=$(sql -c "$workers_sql" | wc -l)

drained() {
  [ "$(sql -c "SELECT NOT EXISTS (SELECT 1 FROM nexplane.jobs WHERE state IN ('queued', 'running'))")" = t ]
}
# the CPU time so far of the processes $1 lists (default: the job
# workers), in clock ticks (utime + stime)
workers_cpu() {
  local t=0 p
  for p in $(sql -c "${1:-$workers_sql}"); do
    t=$((t + $(awk '{ print $14 + $15 }' "/proc/$p/stat")))
  done
  echo "$t"
}

# nexplane_drain: queue N noop jobs in one transaction, wait until the
# workers have finished them; prints jobs/s, seconds, worker CPU us per job.
nexplane_drain() {
  local xid c0 c1 s0 s1 rate
  sql -c "CHECKPOINT" >/dev/null
  c0=$(workers_cpu); s0=$(workers_cpu "$sequencer_sql")
  xid=$(sql <<SQL
BEGIN;
INSERT INTO nexplane.jobs (tenant_id, kind) SELECT '$tenant', 'noop' FROM generate_series(1, $N);
SELECT pg_current_xact_id()::xid;
COMMIT;
SQL
)
  until drained; do sleep 0.05; done
  c1=$(workers_cpu); s1=$(workers_cpu "$sequencer_sql")
  rate=$(sql -F ' ' -c "SELECT round($N / s), round(s::numeric, 2) FROM (
            SELECT extract(epoch FROM max(pg_xact_commit_timestamp(xmin)) - pg_xact_commit_timestamp('$xid'::xid)) AS s
              FROM nexplane.jobs WHERE created_at = (SELECT max(created_at) FROM nexplane.jobs)) t")
  echo "$rate $(( (c1 - c0) * 1000000 / $(getconf CLK_TCK) / N )) $(( (s1 - s0) * 1000000 / $(getconf CLK_TCK) / N ))"
}

graphile_drain() {	# graphile_drain single|batched JOBS
  sql -c "CHECKPOINT" >/dev/null
  (cd "$GW_DIR" && PGDATABASE=postgres N=$2 CONCURRENCY=$CONCURRENCY MODE=$1 node drain.js)
}

sql -c "CREATE TABLE bench_insert (id bigserial PRIMARY KEY, v int)" >/dev/null
echo "INSERT INTO bench_insert (v) VALUES (1);" >"$BENCH_DIR/insert.sql"
pgbench_insert() {	# pgbench_insert CLIENTS: commits per second
  pgbench -n -M prepared -c "$1" -j "$1" -T 3 -f "$BENCH_DIR/insert.sql" postgres 2>/dev/null |
    sed -nE 's/^tps = ([0-9]+).*/\1/p'
}

for round in $(seq 1 "$ROUNDS"); do
  echo "nexplane $(nexplane_drain)" >>"$BENCH_DIR/figures"
  echo "graphile_batched $(graphile_drain batched "$N")" >>"$BENCH_DIR/figures"
  echo "graphile_single $(graphile_drain single $((N / 4)))" >>"$BENCH_DIR/figures"
  echo "pgbench_1 $(pgbench_insert 1)" >>"$BENCH_DIR/figures"
  echo "pgbench_2 $(pgbench_insert 2)" >>"$BENCH_DIR/figures"
done

# Idle: what the workers spend while there is nothing to do.
c0=$(workers_cpu)
sleep 3
c1=$(workers_cpu)
idle=$(( (c1 - c0) * 1000 / $(getconf CLK_TCK) ))

# Latency: one job per transaction, the workers idle before each.
lat_from=$(sql -c "SELECT clock_timestamp()")
for _ in $(seq 1 "$LAT_N"); do
  echo "INSERT INTO nexplane.jobs (tenant_id, kind, payload) VALUES ('$tenant', 'noop', jsonb_build_object('xid', pg_current_xact_id()::text));"
  echo "SELECT pg_sleep(0.01);"
done | sql >/dev/null
until drained; do sleep 0.05; done
# started_at - created_at, and the part of it after the enqueue's commit
# (its WAL flush is in the first): the wake-up and the claim's start
latency=$(sql -F ' ' -c "SELECT round(1000 * extract(epoch FROM percentile_cont(0.5) WITHIN GROUP (ORDER BY started_at - created_at))::numeric, 2),
                                round(1000 * extract(epoch FROM percentile_cont(0.99) WITHIN GROUP (ORDER BY started_at - created_at))::numeric, 2),
                                round(1000 * extract(epoch FROM max(started_at - created_at))::numeric, 2),
                                round(1000 * extract(epoch FROM percentile_cont(0.5) WITHIN GROUP (ORDER BY w))::numeric, 2),
                                round(1000 * extract(epoch FROM percentile_cont(0.99) WITHIN GROUP (ORDER BY w))::numeric, 2)
                           FROM (SELECT started_at, created_at,
                                        started_at - pg_xact_commit_timestamp((payload->>'xid')::xid) AS w
                                   FROM nexplane.jobs WHERE created_at > '$lat_from') j")

echo "rounds:"; sed "s/^/  /" "$BENCH_DIR/figures"
awk -v n="$N" -v rounds="$ROUNDS" -v workers="$nworkers" -v conc="$CONCURRENCY" \
    -v idle="$idle" -v lat="$latency" -v load0="$load_start" -v load1="$(cut -d' ' -f1-3 /proc/loadavg)" '
function median(a, k,   i, j, t) {
  for (i = 2; i <= k; i++) { t = a[i]; for (j = i - 1; j >= 1 && a[j] > t; j--) a[j + 1] = a[j]; a[j + 1] = t }
  return k % 2 ? a[(k + 1) / 2] : (a[k / 2] + a[k / 2 + 1]) / 2
}
function fig(name,   k, i, a, m) {
  k = cnt[name]; for (i = 1; i <= k; i++) a[i] = v[name, i]
  m = median(a, k); lo[name] = a[1]; hi[name] = a[k]; return m
}
{ cnt[$1]++; v[$1, cnt[$1]] = $2; if ($1 == "nexplane") { cpu[cnt[$1]] = $4; seqcpu[cnt[$1]] = $5 } }
END {
  nx = fig("nexplane"); gb = fig("graphile_batched"); gs = fig("graphile_single")
  p1 = fig("pgbench_1"); p2 = fig("pgbench_2"); c = median(cpu, cnt["nexplane"]); sc = median(seqcpu, cnt["nexplane"])
  split(lat, l, " ")
  printf "\njobs benchmark: %d no-op jobs queued at once, synchronous_commit on, median of %d rounds (min-max)\n", n, rounds
  printf "load average %s at the start, %s at the end (2 cores)\n\n", load0, load1
  printf "%-52s %8d jobs/s (%d-%d)\n", "nexplane, " workers " job workers", nx, lo["nexplane"], hi["nexplane"]
  printf "%-52s %8d us per job\n", "  their CPU time", c
  printf "%-52s %8d us per job; 2 cores / both = %d jobs/s\n", "  the event sequencer (2 feed events a job)", sc, 2000000 / (c + sc)
  printf "%-52s %8d jobs/s (%d-%d)\n", "graphile-worker, batched, concurrency " conc " (baseline)", gb, lo["graphile_batched"], hi["graphile_batched"]
  printf "%-52s %8d jobs/s (%d-%d)\n", "graphile-worker, as it comes, concurrency " conc, gs, lo["graphile_single"], hi["graphile_single"]
  printf "%-52s %8d commits/s (%d-%d)\n", "pgbench single-row INSERT, 1 client", p1, lo["pgbench_1"], hi["pgbench_1"]
  printf "%-52s %8d commits/s (%d-%d)\n", "pgbench single-row INSERT, 2 clients", p2, lo["pgbench_2"], hi["pgbench_2"]
  printf "%-52s %8s ms p50, %s ms p99, %s ms max\n", "enqueue-to-start latency, idle workers", l[1], l[2], l[3]
  printf "%-52s %8s ms p50, %s ms p99\n", "  of which after the enqueue commits", l[4], l[5]
  printf "%-52s %8d ms in 3 s\n\n", "the job workers, CPU time while idle", idle
  printf "throughput >= 5,000 jobs/s: %s (%d)\n", nx >= 5000 ? "met" : "NOT met", nx
  printf "nexplane / graphile-worker (batched) >= 2x: %s (%.1fx; %.1fx as it comes)\n", nx >= 2 * gb ? "met" : "NOT met", nx / gb, nx / gs
  printf "latency p99 < 10 ms: %s (%s ms)\n", l[2] < 10 ? "met" : "NOT met", l[2]
}' "$BENCH_DIR/figures"
