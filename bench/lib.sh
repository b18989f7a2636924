#!/usr/bin/env bash
# Shared by the benchmarks: a throw-away cluster like the tests', stopped on exit.
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/../scripts/cluster.sh"
BENCH_DIR=$(mktemp -d /tmp/nexplane-bench.XXXXXX)
chmod 755 "$BENCH_DIR"
trap 'nx_cluster_stop "$BENCH_DIR/pg"; rm -rf "$BENCH_DIR"' EXIT
nx_cluster_init "$BENCH_DIR/pg" >/dev/null
# A benchmark may set BENCH_CONF (postgresql.conf lines) before sourcing this.
[ -z "${BENCH_CONF:-}" ] || printf '%s\n' "$BENCH_CONF" >>"$BENCH_DIR/pg/data/postgresql.conf"
nx_cluster_trust_local "$BENCH_DIR/pg"
nx_cluster_start "$BENCH_DIR/pg"
sql() { psql -X -q -tA -v ON_ERROR_STOP=1 -d postgres "$@"; }
# nx_callgrind_count OUT [postgres options...] <SQL: a standalone backend
# (postgres --single, the cluster stopped) under callgrind runs the SQL on
# its standard input; prints the instructions callgrind counted, keeping
# its profile in OUT (/dev/null: not kept).  The instruction benchmarks
# (bench/*/instructions.sh) take differences of two such counts.
nx_callgrind_count() {
  local out=$1
  shift
  nx_as_postgres valgrind --tool=callgrind --callgrind-out-file="$out" \
      "$NX_PGBIN/postgres" --single -D "$BENCH_DIR/pg/data" "$@" postgres 2>&1 >/dev/null |
    sed -nE 's/.*Collected : ([0-9]+).*/\1/p'
}
