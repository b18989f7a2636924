#!/usr/bin/env bash
# Shared by the test runner and `make run`: make and start a PostgreSQL 15
# cluster owned by the postgres user (PostgreSQL refuses to run as root),
# preloaded with pg_cron and nexplane, on a free local port.
#
#   nx_cluster_init DIR [PORT] [SOCKDIR] [DB]
#                                initdb into DIR/data, write config and keys;
#                                sockets in SOCKDIR (default DIR); pg_cron and
#                                nexplane's worker in DB (default postgres)
#   nx_cluster_start DIR         start it and wait until it answers
#   nx_cluster_stop DIR          stop it fast; harmless if not running
# After init, PGHOST, PGPORT and PGUSER are exported for psql.

NX_PGBIN=$(${PG_CONFIG:-/usr/lib/postgresql/15/bin/pg_config} --bindir 2>/dev/null || pg_config --bindir)
NX_CONF_TEMPLATE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/nexplane.conf.in

nx_as_postgres() {
  if [ "$(id -un)" = postgres ]; then "$@"; else runuser -u postgres -- "$@"; fi
}

# A port nothing listens on, and no socket uses at all: a client's socket
# that took it as its own port (TIME_WAIT included, in /proc/net/tcp*)
# makes a later bind fail with "Address already in use".
nx_free_port() {
  local p start=${1:-54321} spread=0
  # without a start of its own (a test's cluster), from a random point of
  # the range: runs started side by side rarely reach for the same port
  # between one's look and its bind
  [ -n "${1:-}" ] || spread=$((RANDOM % 2000))
  for p in $(seq $((start + spread)) 65000) $(seq "$start" 65000); do
    if ! (exec 3<>/dev/tcp/127.0.0.1/"$p") 2>/dev/null && [ ! -e "/tmp/.s.PGSQL.$p" ] &&
      ! grep -q ":$(printf '%04X' "$p") " /proc/net/tcp /proc/net/tcp6 2>/dev/null; then
      echo "$p"; return 0
    fi
  done
  return 1
}

nx_cluster_init() {
  local dir=$1 port=${2:-$(nx_free_port)} sockdir=${3:-$1} db=${4:-postgres}
  mkdir -p "$dir"
  chown postgres: "$dir"
  chmod 700 "$dir"
  # Local socket connections by the postgres OS user only (peer); TCP by
  # password (SCRAM).  The test harness adds trust for its own socket.
  nx_as_postgres "$NX_PGBIN/initdb" -D "$dir/data" -U postgres \
    --auth-local=peer --auth-host=scram-sha-256 \
    --encoding=UTF8 --locale=C.UTF-8 >"$dir/initdb.log" 2>&1 ||
    { cat "$dir/initdb.log" >&2; return 1; }
  nx_as_postgres openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 \
    -out "$dir/data/nexplane_jwt.pem" 2>/dev/null
  # The vault master key: 48 random bytes, base64, readable by postgres only.
  (umask 077; openssl rand -base64 48 >"$dir/data/nexplane_master.key")
  chown postgres: "$dir/data/nexplane_master.key"
  chmod 600 "$dir/data/nexplane_jwt.pem" "$dir/data/nexplane_master.key"
  {
    echo "# nexplane"
    echo "port = $port"
    echo "unix_socket_directories = '$sockdir'"
    sed -e "s|@DB@|$db|g" -e "s|@SOCKDIR@|$sockdir|g" "$NX_CONF_TEMPLATE"
  } >>"$dir/data/postgresql.conf"
  echo "$port" >"$dir/port"
  echo "$sockdir" >"$dir/sockdir"
  export PGHOST=$sockdir PGPORT=$port PGUSER=postgres
}

# The test cluster is private to one run: trust its socket, which lives in
# a directory only root and postgres can reach.
nx_cluster_trust_local() {
  local dir=$1
  sed -i '1i local all all trust' "$dir/data/pg_hba.conf"
}

nx_cluster_start() {
  local dir=$1
  export PGHOST=$(cat "$dir/sockdir") PGPORT=$(cat "$dir/port") PGUSER=postgres
  nx_as_postgres "$NX_PGBIN/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 start >/dev/null ||
    { tail -n 30 "$dir/server.log" >&2; return 1; }
}

nx_cluster_stop() {
  local dir=$1
  [ -f "$dir/data/postmaster.pid" ] || return 0
  nx_as_postgres "$NX_PGBIN/pg_ctl" -D "$dir/data" -m fast -w stop >/dev/null 2>&1 || true
}
