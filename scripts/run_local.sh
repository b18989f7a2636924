#!/usr/bin/env bash
# make run / make stop: a local Nexplane under ./.nexplane/.
#
#   start  create (once) and start the cluster, the database and extension,
#          the JWT signing key, the first tenant and its admin, a local CA
#          and the HTTPS API on https://127.0.0.1:8443, with the agents'
#          mutual-TLS listener on https://127.0.0.1:8444; print how to log
#          in and how to enroll an agent.
#          Safe to run again: it reuses what exists and restarts the API.
#   stop   stop everything.
#
# Secrets made here (admin password, nexplane_api and nexplane_user passwords, keys) live in
# ./.nexplane/ with mode 0600 and are printed once per start for a local
# operator; nothing is sent anywhere.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/cluster.sh
. scripts/tls.sh

top=$PWD
state=$top/.nexplane
db=nexplane
port_default=54329
sockdir=/var/run/postgresql
api_listen=${NEXPLANE_API_LISTEN:-127.0.0.1:8443}
agent_listen=${NEXPLANE_API_AGENT_LISTEN:-127.0.0.1:8444}

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
  if [ "$pgdir" != "$state/pg" ]; then
    ln -sfn "$pgdir" "$state/pg"
    ln -sfn "$(dirname "$pgdir")/tls" "$state/tls"
  fi
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

  api_password=$(secret api-password)    # the shim's only: nexplane_api
  user_password=$(secret user-password)  # people at psql: nexplane_user
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
-- (a database made before nexplane_user existed has no such role: the
-- warning below says how to start afresh)
DO \$\$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'nexplane_user') THEN
        ALTER ROLE nexplane_user WITH LOGIN PASSWORD '$user_password';
        GRANT CONNECT ON DATABASE $db TO nexplane_user;
    END IF;
END
\$\$;
SQL
  # 0.1 has no upgrade scripts yet: a database made from an older checkout
  # keeps its old functions.  Say so rather than serve a half-old API.
  sum=$(sha256sum "extension/nexplane--0.1.sql" | cut -c1-16)
  if [ -f "$state/schema.sum" ] && [ "$(cat "$state/schema.sum")" != "$sum" ]; then
    echo "WARNING: the extension's install script changed since this database was made." >&2
    echo "         Version 0.1 has no upgrade path; to start afresh (losing local data):" >&2
    echo "         make stop && rm -rf .nexplane $(dirname "$pgdir") && make run" >&2
  else
    echo "$sum" >"$state/schema.sum"
  fi
  # pg_cron is the clock: seal the audit chains and enqueue the schedules'
  # runs that are due every minute, prune the derived event feed and the
  # finished jobs daily.
  psql_su -d "$db" -c "SELECT cron.schedule('nexplane-audit-seal', '* * * * *', 'SELECT nexplane._audit_seal_all()')" >/dev/null
  psql_su -d "$db" -c "SELECT cron.schedule('nexplane-schedules-tick', '* * * * *', 'SELECT nexplane._schedules_tick()')" >/dev/null
  psql_su -d "$db" -c "SELECT cron.schedule('nexplane-events-prune', '17 3 * * *', 'SELECT nexplane._stream_events_prune()')" >/dev/null
  psql_su -d "$db" -c "SELECT cron.schedule('nexplane-jobs-prune', '27 3 * * *', 'SELECT nexplane._jobs_prune()')" >/dev/null
  psql_su -d "$db" -c "SELECT cron.schedule('nexplane-agents-offline', '* * * * *', 'SELECT nexplane._agents_mark_offline()')" >/dev/null
  psql_su -d "$db" -c "SELECT cron.schedule('nexplane-agent-commands-prune', '37 3 * * *', 'SELECT nexplane._agent_commands_prune()')" >/dev/null
  if ! psql_su -d "$db" -tA -c "SELECT 1 FROM nexplane.tenants WHERE slug = 'demo'" | grep -q 1; then
    psql_su -d "$db" -v pw="$admin_password" >/dev/null <<'SQL'
SELECT nexplane.tenant_create('demo', 'Demo', 'admin@demo.local', :'pw');
SQL
    echo "created tenant demo with admin admin@demo.local"
  fi

  url="postgresql://nexplane_user:$user_password@127.0.0.1:$port/$db"
  (umask 077; echo "$url" >"$state/psql-url")
  api_start "$port" "$api_password"
  # the pin an enrolling agent checks, from the database rather than the wire
  agent_pin=$(psql_su -d "$db" -tA -c "SELECT nexplane.agent_ca()->>'ca_pin'")
  cat <<EOF

Nexplane is running (PostgreSQL on 127.0.0.1:$port, data in $pgdir).

Log in over HTTPS (the local CA is $home/tls/ca.crt):
  curl --cacert $home/tls/ca.crt -H 'Content-Type: application/json' \\
    -d '{"email": "admin@demo.local", "password": "$admin_password"}' \\
    https://$api_listen/v1/auth/login
  curl --cacert $home/tls/ca.crt -H "Authorization: Bearer <access_token>" \\
    https://$api_listen/v1/auth/me
The API's routes: https://$api_listen/v1/openapi.json
Its logs: $home/api.log (one JSON line per request) and $home/api.err.

Agents connect to https://$agent_listen (mutual TLS, with a certificate
from the agent CA, whose pin is $agent_pin).
To enroll a host, an admin takes a one-time token:
  curl --cacert $home/tls/ca.crt -H "Authorization: Bearer <access_token>" \\
    -H 'Content-Type: application/json' -d '{"ttl": "1 hour"}' \\
    https://$api_listen/v1/agents/enrollment-tokens
and on the host, as root:
  nexplane-agent enroll --url https://$agent_listen --token <token> \\
    --ca-pin $agent_pin --state-dir /var/lib/nexplane-agent

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

# The API shim runs as postgres from a copy beside the data (a checkout
# under /root is not readable by postgres), with its password in a 0600
# passfile, so no secret is on its command line or in its environment.
api_start() {
  local port=$1 password=$2
  home=$(dirname "$pgdir")
  api_stop
  nx_tls_make "$home/tls" postgres
  mkdir -p "$home/bin"
  install -m 755 api/nexplane-api "$home/bin/nexplane-api"
  (umask 077; echo "127.0.0.1:$port:$db:nexplane_api:$password" >"$home/api.pgpass")
  chown postgres: "$home/api.pgpass" "$home"
  rm -f "$home/api.pid"
  # the shell writes its pid and becomes the shim (exec): the pid is the shim's
  nx_as_postgres setsid sh -c 'echo $$ >"$0/api.pid"; exec "$0/bin/nexplane-api" "$@"' "$home" \
    --listen "$api_listen" --tls-cert "$home/tls/server.crt" --tls-key "$home/tls/server.key" \
    --db "host=127.0.0.1 port=$port dbname=$db user=nexplane_api passfile=$home/api.pgpass" \
    --agent-listen "$agent_listen" \
    >>"$home/api.log" 2>>"$home/api.err" </dev/null &
  for _ in $(seq 1 50); do
    # the agent listener accepts once the database has signed its certificate
    if curl -s -o /dev/null --cacert "$home/tls/ca.crt" "https://$api_listen/ready" &&
       curl -s -o /dev/null -k --max-time 2 "https://$agent_listen/v1/agent/ca"; then
      return 0
    fi
    [ -f "$home/api.pid" ] && ! kill -0 "$(cat "$home/api.pid")" 2>/dev/null && break
    sleep 0.2
  done
  echo "the API did not start; see $home/api.err:" >&2
  tail -n 5 "$home/api.err" >&2
  return 1
}

api_stop() { # SIGTERM drains in-flight requests; give it the drain time
  local home pid
  home=$(dirname "$pgdir")
  [ -f "$home/api.pid" ] || return 0
  pid=$(cat "$home/api.pid")
  if kill -TERM "$pid" 2>/dev/null; then
    for _ in $(seq 1 175); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
  fi
  rm -f "$home/api.pid"
}

stop() {
  pgdir=$(data_home)
  [ -d "$pgdir/data" ] || { echo "nothing to stop"; return 0; }
  api_stop
  nx_cluster_stop "$pgdir"
  echo "stopped"
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  *) echo "usage: $0 start|stop" >&2; exit 2 ;;
esac
