#!/usr/bin/env bash
# The target server of the postgresql connector's tests: a second
# PostgreSQL cluster, with no nexplane in it, made by scripts/cluster.sh in
# a directory of its own.  Logins over TCP on 127.0.0.1 use SCRAM
# passwords (initdb's --auth-host); its own socket trusts the harness.
# Every statement is logged, so a test can show what reached the log.
# Source scripts/cluster.sh first (test/e2e/lib.sh does).
#
#   nx_pg_target_start DIR [PORT]   init and start; extra postgresql.conf
#                                   lines on stdin; the port is in DIR/port
#   nx_pg_target_stop DIR           stop it (a SIGSTOPped one too)
#   nx_pg_target_sql DIR ARGS...    psql as postgres over its socket
#   nx_pg_target_pid DIR            the postmaster's pid
# The caller's PGHOST, PGPORT and PGUSER are left as they were.

nx_pg_target_start() {
  local dir=$1 port=${2:-$(nx_free_port 55432)}
  # a subshell: nx_cluster_init and _start export PG* for the cluster
  (
    nx_cluster_init "$dir" "$port" >/dev/null && nx_cluster_trust_local "$dir" || exit 1
    {
      echo "# the connector's target: plain PostgreSQL"
      echo "shared_preload_libraries = ''"
      echo "log_statement = 'all'"
      echo "log_min_duration_statement = 0"
      echo "log_connections = on"
      echo "log_min_error_statement = error"
      cat
    } >>"$dir/data/postgresql.conf"
    nx_cluster_start "$dir"
  )
}

nx_pg_target_pid() { head -n 1 "$1/data/postmaster.pid" 2>/dev/null; }

nx_pg_target_stop() {
  local dir=$1 pid
  pid=$(nx_pg_target_pid "$dir")
  [ -n "$pid" ] && kill -CONT "$pid" 2>/dev/null
  nx_cluster_stop "$dir"
}

nx_pg_target_sql() {
  local dir=$1
  shift
  psql -X -q -tA -v ON_ERROR_STOP=1 -h "$(cat "$dir/sockdir")" -p "$(cat "$dir/port")" \
    -U postgres -d postgres "$@"
}
