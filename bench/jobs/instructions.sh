#!/usr/bin/env bash
# bench/jobs/instructions.sh: what one no-op job costs the server in
# instructions, which, unlike time on a shared VM, is the same from run to
# run: for checking a change to the engine's own statements.  Needs
# valgrind; not part of `make bench`.
#
# With the cluster stopped, a standalone backend (postgres --single) under
# callgrind (-j: commands end with a blank line) queues Q no-op jobs and then does what a job worker's rounds
# do, from a PL/pgSQL loop: the claim (nexplane._jobs_claim, its own
# transaction) and the batch's end (the statement of
# bgworkers/job_noops.c, copied below, the arrays as PL/pgSQL variables
# where the worker passes text, its own transaction), each commit firing
# the live feed's deferred triggers and the evidence's audit trigger as in
# a worker.  R rounds of 32 for R = 10 and 30: the difference over 20
# rounds (640 jobs) is one job's instructions, the queueing and start-up
# cancelled out.  CALLGRIND_OUT=FILE keeps the second run's profile (CALLGRIND_SHORT=FILE the first: bench/callgrind_diff.py FIRST SECOND 640 gives one job).  Server side only: no WAL writer, no kernel side of
# system calls, no cache misses, no C glue of the worker (job_worker.c).
# WORKER_SQL=1: the end is bgworkers/job_noops.c's own statement (read
# from the C source), prepared with text arguments as nx_spi passes them
# and run with EXECUTE format(...) from the loop (whose parsing adds to
# the figure): the copy below passes typed arrays and so cannot show a
# cost of the text arguments' casts.
. "$(dirname "$0")/../lib.sh"
command -v valgrind >/dev/null || { echo "valgrind is needed: apt-get install -y valgrind" >&2; exit 1; }
Q=${Q:-1200}
sql -c "CREATE EXTENSION nexplane" >/dev/null
tenant=$(sql -c "SELECT nexplane.tenant_create('bench', 'Bench', 'admin@bench.test', 'bench-admin-password')->'tenant'->>'id'")
nx_cluster_stop "$BENCH_DIR/pg"
prepare= end=
if [ -n "${WORKER_SQL:-}" ]; then
  prepare="PREPARE nx_noops(text, text, text, text) AS $(python3 - "$(dirname "$0")/../../bgworkers/job_noops.c" <<'PY'
import re, sys
s = open(sys.argv[1]).read()
body = s[s.index("noops_sql ="):]
body = body[:body.index('";') + 2]
print("".join(m.replace('\\"', '"') for m in re.findall(r'"((?:[^"\\]|\\.)*)"', body)))
PY
);"
  end="        EXECUTE format('EXECUTE nx_noops(%L, %L, %L, %L)', t, i, c, a);"
else
  end=$(cat <<'SQL'
        WITH e AS (INSERT INTO nexplane.evidence
                     (tenant_id, job_id, change_request_id, kind, content, sha256)
                   SELECT f.tenant_id, f.id, f.change_request_id, 'noop', x.content, x.sha256
                     FROM unnest(t, i, c) AS f(tenant_id, id, change_request_id),
                          (SELECT x.content, sha256(convert_to(x.content::text, 'UTF8')) AS sha256
                             FROM (SELECT '{"noop": true}'::jsonb AS content) x OFFSET 0) x)
        UPDATE nexplane.jobs j
           SET state = 'succeeded', result = NULL, error = NULL, finished_at = now(),
               lease_until = NULL, progress_percent = 100
         WHERE j.state = 'running'
           AND j.attempts = a[array_position(i, j.id)]
           AND j.tenant_id = t[array_position(i, j.id)];
SQL
)
fi

# instructions ROUNDS OUT: callgrind's count for queueing Q jobs and ROUNDS rounds
instructions() {
  cat >"$BENCH_DIR/rounds.sql" <<SQL
DELETE FROM nexplane.jobs;

VACUUM ANALYZE nexplane.jobs;

INSERT INTO nexplane.jobs (tenant_id, kind) SELECT '$tenant', 'noop' FROM generate_series(1, $Q);

ANALYZE nexplane.jobs;

$prepare

DO \$\$
DECLARE
    t uuid[]; i uuid[]; c uuid[]; a int[];
BEGIN
    FOR r IN 1..$1 LOOP
        SELECT array_agg(x.tenant_id), array_agg(x.id), array_agg(x.change_request_id), array_agg(x.attempt)
          INTO t, i, c, a FROM nexplane._jobs_claim(pg_backend_pid(), ARRAY[pg_backend_pid()], 60, 32) x;
        COMMIT;
$end
        COMMIT;
    END LOOP;
END \$\$;

SQL
  nx_callgrind_count "$2" -j <"$BENCH_DIR/rounds.sql"
}
a=$(instructions 10 "${CALLGRIND_SHORT:-/dev/null}")
b=$(instructions 30 "${CALLGRIND_OUT:-/dev/null}")
echo "instructions per no-op job (claim, evidence, end, their commits' triggers): $(( (b - a) / 640 ))"
