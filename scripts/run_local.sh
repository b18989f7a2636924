#!/usr/bin/env bash
# make run / make stop: a local Nexplane under ./.nexplane/.
#
#   start  create (once) and start the cluster, the database and extension,
#          the JWT signing key, the first tenant and its admin; print how to
#          log in.  Safe to run again: it reuses what exists.
#   stop   stop everything.
#
# Secrets made here (admin password, nexplane_api password, keys) live in
# ./.nexplane/ with mode 0600 and are printed once per start for a local
# operator; nothing is sent anywhere.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/cluster.sh

top=$PWD
state=$top/.nexplane
db=nexplane
port_default=54329
sockdir=/var/run/postgresql

# The data directory must be reachable by the postgres user.  A checkout
# under /root is not, so the data then lives in /var/lib/nexplane and
# ./.nexplane/data points there.
data_home() {
  if runuser -u postgres -- test -x "$top" 2>/dev/null; then
    echo "$state/pg"
  else
    echo "/var/lib/nexplane/$(echo -n "$top" | sha256sum | cut -c1-12)/pg"
  fi
}

psql_su() { nx_as_postgres psql -X -q -v ON_ERROR_STOP=1 -h "$sockdir" -p "$(cat "$pgdir/port")" "$@"; }

secret() { # name: read or create a random secret in .nexplane/
  local f=$state/$1
  [ -s "$f" ] || (umask 077; openssl rand -base64 24 | tr -d '/+=\n' | cut -c1-24 >"$f")
  cat "$f"
}

start() {
  mkdir -p "$state" "$sockdir"
  chmod 711 "$state"   # postgres must pass through to pg/; secrets inside are 0600
  chown postgres: "$sockdir"
  pgdir=$(data_home)
  if [ ! -f "$pgdir/data/PG_VERSION" ]; then
    mkdir -p "$(dirname "$pgdir")"
    port=$(nx_free_port $port_default)
    nx_cluster_init "$pgdir" "$port" "$sockdir" "$db"
    echo "created cluster in $pgdir on port $port"
  fi
  [ "$pgdir" = "$state/pg" ] || ln -sfn "$pgdir" "$state/pg"
  # A cluster made before the vault existed gets its master key now.
  if ! grep -q "^nexplane.master_key_file" "$pgdir/data/postgresql.conf"; then
    (umask 077; openssl rand -base64 48 >"$pgdir/data/nexplane_master.key")
    chown postgres: "$pgdir/data/nexplane_master.key"
    echo "nexplane.master_key_file = 'nexplane_master.key'" >>"$pgdir/data/postgresql.conf"
    nx_cluster_stop "$pgdir"
  fi
  if ! nx_as_postgres "$NX_PGBIN/pg_ctl" -D "$pgdir/data" status >/dev/null 2>&1; then
    nx_cluster_start "$pgdir"
  fi
  port=$(cat "$pgdir/port")

  api_password=$(secret api-password)
  admin_password=$(secret admin-password)
  psql_su -d postgres -tA -c "SELECT 1 FROM pg_database WHERE datname = '$db'" | grep -q 1 ||
    psql_su -d postgres -c "CREATE DATABASE $db"
  # The password must not reach the server log, whatever logging is set.
  psql_su -d "$db" <<SQL
SET log_statement = 'none';
SET log_min_duration_statement = -1;
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS pg_cron;
CREATE EXTENSION IF NOT EXISTS nexplane;
ALTER EXTENSION nexplane UPDATE;
ALTER ROLE nexplane_api WITH LOGIN PASSWORD '$api_password';
GRANT CONNECT ON DATABASE $db TO nexplane_api;
SQL
  # pg_cron is the clock: seal the audit chains every minute.
  psql_su -d "$db" -c "SELECT cron.schedule('nexplane-audit-seal', '* * * * *', 'SELECT nexplane._audit_seal_all()')" >/dev/null
  if ! psql_su -d "$db" -tA -c "SELECT 1 FROM nexplane.tenants WHERE slug = 'demo'" | grep -q 1; then
    psql_su -d "$db" -v pw="$admin_password" >/dev/null <<'SQL'
SELECT nexplane.tenant_create('demo', 'Demo', 'admin@demo.local', :'pw');
SQL
    echo "created tenant demo with admin admin@demo.local"
  fi

  url="postgresql://nexplane_api:$api_password@127.0.0.1:$port/$db"
  (umask 077; echo "$url" >"$state/psql-url")
  cat <<EOF

Nexplane is running (PostgreSQL on 127.0.0.1:$port, data in $pgdir).

Log in from psql:
  psql "$url"
  SELECT nexplane.login('admin@demo.local', '$admin_password');
  SELECT nexplane.user_list();

The connection string and passwords are kept in $state/ (mode 0600).
The vault master key is $pgdir/data/nexplane_master.key (mode 0600): back it
up; without it no stored credential can be decrypted.
Stop with: make stop
EOF
}

stop() {
  pgdir=$(data_home)
  [ -d "$pgdir/data" ] || { echo "nothing to stop"; return 0; }
  nx_cluster_stop "$pgdir"
  echo "stopped"
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  *) echo "usage: $0 start|stop" >&2; exit 2 ;;
esac
