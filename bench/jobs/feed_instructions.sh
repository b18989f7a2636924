#!/usr/bin/env bash
# bench/jobs/feed_instructions.sh: what the live feed costs the server per
# event in instructions, staging and numbering: for checking a change to
# extension/stream_events.c or _stream_events_number.  Needs valgrind; not
# part of `make bench`.
#
# With the cluster stopped, a standalone backend under callgrind runs R
# rounds of: insert 32 finished noop jobs in one statement (32 events
# staged by one trigger call), commit, number them as the sequencer does
# (nexplane._stream_events_number()), commit.  R = 10 and 30: the
# difference over 20 rounds is one round's instructions.  The jobs'
# insert is counted too (it is the same in both builds compared).
# EVENTS=N: N jobs (events) per statement instead of 32 (EVENTS=1: a lone
# event's staging and numbering).  PROFILE=DIR keeps both runs' profiles
# as DIR/feed.EVENTS.{10,30}.callgrind (bench/callgrind_diff.py DIR/feed.32.10.callgrind
# DIR/feed.32.30.callgrind 20 gives one round's share of each function;
# nx_stream_event is the staging).
. "$(dirname "$0")/../lib.sh"
command -v valgrind >/dev/null || { echo "valgrind is needed: apt-get install -y valgrind" >&2; exit 1; }
sql -c "CREATE EXTENSION nexplane" >/dev/null
tenant=$(sql -c "SELECT nexplane.tenant_create('bench', 'Bench', 'admin@bench.test', 'bench-admin-password')->'tenant'->>'id'")
nx_cluster_stop "$BENCH_DIR/pg"
events=${EVENTS:-32}

# instructions ROUNDS OUT: callgrind's count for ROUNDS rounds
instructions() {
  cat >"$BENCH_DIR/rounds.sql" <<SQL
DO \$\$
BEGIN
    FOR r IN 1..$1 LOOP
        INSERT INTO nexplane.jobs (tenant_id, kind, state)
        SELECT '$tenant', 'noop', 'succeeded' FROM generate_series(1, $events);
        COMMIT;
        PERFORM nexplane._stream_events_number();
        COMMIT;
    END LOOP;
END \$\$;

SQL
  nx_callgrind_count "$2" -j <"$BENCH_DIR/rounds.sql"
}
# out ROUNDS: where the run's profile goes
out() { if [ -n "${PROFILE:-}" ]; then echo "$PROFILE/feed.$events.$1.callgrind"; else echo "${2:-/dev/null}"; fi; }
a=$(instructions 10 "$(out 10)")
b=$(instructions 30 "$(out 30 "${CALLGRIND_OUT:-}")")
echo "instructions per round of $events events (the jobs' insert, staging, numbering): $(( (b - a) / 20 ))"
