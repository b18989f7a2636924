#!/usr/bin/env bash
# A real MariaDB server for the tests, from Debian's mariadb-server: a
# fresh data directory, run by the unprivileged postgres user, listening
# on 127.0.0.1 only, with the general log, the slow log (every statement)
# and the binary log on, so that a test can grep all three for secrets.
# Grants are real (no --skip-grant-tables): the connector's admin
# account is made after the first start with the privileges
# docs/connectors/mariadb.md says it needs, and nothing more.
#
#   nx_mariadb_init DIR PORT     install into DIR/data, to listen on PORT
#   nx_mariadb_start DIR [ARGS...]
#                         start it (ARGS: more mariadbd options, such as
#                         --ssl-cert) and wait until it answers
#   nx_mariadb_admin DIR ADMIN PASSWORD
#                         make the connector's login 'ADMIN'@'127.0.0.1'
#                         (its password written as its hash, never in clear)
#   nx_mariadb_stop DIR   stop it (by the pid it wrote); harmless if not running
#   nx_mariadb_root DIR ARGS...  the mariadb client over the socket as the
#                         account of the caller's OS user (root or
#                         postgres: unix_socket authentication)
#   nx_mariadb_hash PASSWORD     mysql_native_password's stored form
# Needs scripts/cluster.sh (nx_as_postgres).

NX_MARIADBD=${NX_MARIADBD:-/usr/sbin/mariadbd}

nx_mariadb_hash() {
  printf '*%s' "$(printf '%s' "$1" | openssl sha1 -binary | openssl sha1 -r | cut -d' ' -f1 | tr a-f A-F)"
}

nx_mariadb_init() {
  local dir=$1 port=$2
  mkdir -p "$dir"
  chown postgres: "$dir"
  chmod 755 "$dir"
  echo "$port" >"$dir/port"
  # mariadb-install-db exits 0 even when its bootstrap fails: read its log
  nx_as_postgres mariadb-install-db --no-defaults --datadir="$dir/data" \
    --auth-root-authentication-method=socket --skip-test-db --skip-name-resolve \
    >"$dir/install.log" 2>&1 && ! grep -q 'ERROR' "$dir/install.log" ||
    { tail -n 30 "$dir/install.log" >&2; return 1; }
}

# The connector's login, made by root outside the logs (sql_log_off,
# sql_log_bin): CREATE USER to make, alter and drop accounts, PROCESS and
# CONNECTION ADMIN to see and end a locked account's sessions, SELECT on
# the three grant tables it reads.  The privileges it hands on are the
# caller's to grant, WITH GRANT OPTION.
nx_mariadb_admin() {
  local dir=$1 admin=$2 password=$3
  nx_mariadb_root "$dir" <<SQL
SET SESSION sql_log_off = 1, SESSION sql_log_bin = 0;
CREATE USER '$admin'@'127.0.0.1' IDENTIFIED BY PASSWORD '$(nx_mariadb_hash "$password")';
GRANT CREATE USER ON *.* TO '$admin'@'127.0.0.1';
GRANT PROCESS, CONNECTION ADMIN ON *.* TO '$admin'@'127.0.0.1';
GRANT SELECT ON mysql.global_priv TO '$admin'@'127.0.0.1';
GRANT SELECT ON mysql.db TO '$admin'@'127.0.0.1';
GRANT SELECT ON mysql.tables_priv TO '$admin'@'127.0.0.1';
SQL
}

nx_mariadb_start() {
  local dir=$1 port i
  shift
  port=$(cat "$dir/port")
  # setsid: the server is its own process group, out of the test's way
  nx_as_postgres setsid "$NX_MARIADBD" --no-defaults --datadir="$dir/data" \
    --socket="$dir/mysqld.sock" --port="$port" --bind-address=127.0.0.1 \
    --skip-name-resolve --pid-file="$dir/mariadbd.pid" --log-error="$dir/error.log" \
    --general-log=1 --general-log-file="$dir/general.log" \
    --slow-query-log=1 --long-query-time=0 --slow-query-log-file="$dir/slow.log" \
    --log-bin="$dir/binlog" --server-id=1 \
    --innodb-buffer-pool-size=16M --performance-schema=0 "$@" </dev/null >"$dir/stdout.log" 2>&1 &
  for i in $(seq 1 300); do
    if [ -s "$dir/mariadbd.pid" ] &&
      mariadb-admin --no-defaults --socket="$dir/mysqld.sock" -u "$(id -un)" ping >/dev/null 2>&1; then
      return 0
    fi
    sleep 0.1
  done
  tail -n 30 "$dir/error.log" >&2
  return 1
}

nx_mariadb_stop() {
  local dir=$1 pid i
  [ -s "$dir/mariadbd.pid" ] || return 0
  pid=$(cat "$dir/mariadbd.pid")
  kill -CONT "$pid" 2>/dev/null # a test may have stopped it
  kill -TERM "$pid" 2>/dev/null || { rm -f "$dir/mariadbd.pid"; return 0; }
  for i in $(seq 1 200); do
    kill -0 "$pid" 2>/dev/null || { rm -f "$dir/mariadbd.pid"; return 0; }
    sleep 0.1
  done
  kill -KILL "$pid" 2>/dev/null
  rm -f "$dir/mariadbd.pid"
}

nx_mariadb_root() {
  local dir=$1
  shift
  mariadb --no-defaults --socket="$dir/mysqld.sock" -u "$(id -un)" -N -B "$@"
}
