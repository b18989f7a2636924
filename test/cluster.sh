#!/usr/bin/env bash
# Shared by the test runner and `make run`: make and start a PostgreSQL 15
# cluster owned by the postgres user (PostgreSQL refuses to run as root),
# preloaded with pg_cron and nexplane, on a free local port.
#
#   nx_cluster_init DIR [PORT]   initdb into DIR/data, write config and keys
#   nx_cluster_start DIR         start it and wait until it answers
#   nx_cluster_stop DIR          stop it fast; harmless if not running
# After init, PGHOST, PGPORT and PGUSER are exported for psql.

NX_PGBIN=$(/usr/lib/postgresql/15/bin/pg_config --bindir 2>/dev/null || pg_config --bindir)

nx_as_postgres() {
  if [ "$(id -un)" = postgres ]; then "$@"; else runuser -u postgres -- "$@"; fi
}

nx_free_port() {
  local p
  for p in $(seq "${1:-54321}" 65000); do
    if ! (exec 3<>/dev/tcp/127.0.0.1/"$p") 2>/dev/null && [ ! -e "/tmp/.s.PGSQL.$p" ]; then
      echo "$p"; return 0
    fi
  done
  return 1
}

nx_cluster_init() {
  local dir=$1 port=${2:-$(nx_free_port)}
  mkdir -p "$dir"
  chown postgres: "$dir"
  chmod 700 "$dir"
  nx_as_postgres "$NX_PGBIN/initdb" -D "$dir/data" -U postgres --auth=trust \
    --encoding=UTF8 --locale=C.UTF-8 >"$dir/initdb.log" 2>&1 ||
    { cat "$dir/initdb.log" >&2; return 1; }
  nx_as_postgres openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 \
    -out "$dir/data/nexplane_jwt.pem" 2>/dev/null
  chmod 600 "$dir/data/nexplane_jwt.pem"
  cat >>"$dir/data/postgresql.conf" <<CONF
# nexplane
port = $port
listen_addresses = '127.0.0.1'
unix_socket_directories = '$dir'
shared_preload_libraries = 'pg_cron,nexplane'
cron.database_name = 'postgres'
nexplane.jwt_private_key_file = 'nexplane_jwt.pem'
log_line_prefix = '%m [%p] %q%u@%d '
CONF
  echo "$port" >"$dir/port"
  export PGHOST=$dir PGPORT=$port PGUSER=postgres
}

nx_cluster_start() {
  local dir=$1
  export PGHOST=$dir PGPORT=$(cat "$dir/port") PGUSER=postgres
  nx_as_postgres "$NX_PGBIN/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 start >/dev/null ||
    { tail -n 30 "$dir/server.log" >&2; return 1; }
}

nx_cluster_stop() {
  local dir=$1
  [ -f "$dir/data/postmaster.pid" ] || return 0
  nx_as_postgres "$NX_PGBIN/pg_ctl" -D "$dir/data" -m fast -w stop >/dev/null 2>&1 || true
}
