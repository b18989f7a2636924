#!/usr/bin/env bash
# A throwaway Redis server for the redis connector's tests: Debian's
# redis-server with a config of its own, on 127.0.0.1 and a given port,
# run as the unprivileged postgres user, logging everything it can (debug
# log, every command in SLOWLOG) so the tests can look there for secrets.
#
#   nx_redis_init DIR PORT MODE   write DIR/redis.conf; MODE aclfile keeps
#                                 users in DIR/users.acl, MODE conf in
#                                 redis.conf itself (no ACL file)
#   nx_redis_user DIR RULES...    add a user ("name on #<hash> ~* +@all")
#   nx_redis_hash PASSWORD        the SHA-256 hex Redis keeps ("#<hex>")
#   nx_redis_start DIR            start it and wait until it answers
#   nx_redis_stop DIR             stop it (also when paused); harmless if
#                                 not running
# Needs scripts/cluster.sh (nx_as_postgres) sourced first.

nx_redis_init() {
  local dir=$1 port=$2 mode=$3
  mkdir -p "$dir"
  chown postgres: "$dir"
  chmod 700 "$dir"
  echo "$port" >"$dir/port"
  echo "$mode" >"$dir/mode"
  cat >"$dir/redis.conf" <<CONF
bind 127.0.0.1
port $port
protected-mode yes
daemonize yes
pidfile $dir/redis.pid
dir $dir
logfile $dir/redis.log
loglevel debug
save ""
appendonly no
slowlog-log-slower-than 0
slowlog-max-len 100000
acllog-max-len 10000
CONF
  if [ "$mode" = aclfile ]; then
    echo "aclfile $dir/users.acl" >>"$dir/redis.conf"
    : >"$dir/users.acl"
  fi
  chown postgres: "$dir"/*
  chmod 600 "$dir"/*
}

nx_redis_user() {
  local dir=$1
  shift
  if [ "$(cat "$dir/mode")" = aclfile ]; then
    echo "user $*" >>"$dir/users.acl"
  else
    echo "user $*" >>"$dir/redis.conf"
  fi
}

nx_redis_hash() { printf %s "$1" | sha256sum | cut -d' ' -f1; }

# The pid of each server started, also kept here: a stop must work even if
# the directory (and its pidfile) is gone.
declare -gA NX_REDIS_PIDS=()

nx_redis_start() {
  local dir=$1 i
  nx_as_postgres redis-server "$dir/redis.conf" >"$dir/start.log" 2>&1 ||
    { cat "$dir/start.log" "$dir/redis.log" >&2; return 1; }
  for i in $(seq 50); do
    # any answer (NOAUTH included: the default user is off) means it is up;
    # the daemon writes its pidfile about when it starts listening
    if [ -s "$dir/redis.pid" ] && [ -n "$(redis-cli -h 127.0.0.1 -p "$(cat "$dir/port")" PING 2>/dev/null)" ]; then
      NX_REDIS_PIDS[$dir]=$(cat "$dir/redis.pid")
      return 0
    fi
    sleep 0.1
  done
  tail -n 20 "$dir/redis.log" >&2
  return 1
}

nx_redis_stop() {
  local dir=$1 pid i
  pid=$(cat "$dir/redis.pid" 2>/dev/null || echo "${NX_REDIS_PIDS[$dir]:-}")
  unset "NX_REDIS_PIDS[$dir]"
  [ -n "$pid" ] || return 0
  kill -CONT "$pid" 2>/dev/null
  kill -TERM "$pid" 2>/dev/null
  for i in $(seq 50); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  kill -KILL "$pid" 2>/dev/null
  rm -f "$dir/redis.pid"
  return 0
}
