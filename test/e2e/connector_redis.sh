#!/usr/bin/env bash
# The redis connector against real Redis servers (Debian's redis-server as
# the postgres user on loopback): test, discover, and every change type's
# pre_check, execute, verify, rollback and verify-undone, each checked with
# redis-cli logged in as the account; bad input, a wrong admin password, a
# login without rights, a server down and a server that does not answer;
# a server without an ACL file; then no plaintext password anywhere: the
# redis logs, SLOWLOG, MONITOR, ACL LOG, the nexplane server log, results.
#
# Secrets reach connector_call() through pg_read_file() of files only
# postgres can read, so no SQL text holds one, and every statement is
# logged (log_statement = all) to prove the connector logs none either.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/../servers/redis.sh"

RA=$E2E_DIR/redis      # the target: users in an ACL file
RB=$E2E_DIR/redis-b    # a second one: users in redis.conf, no ACL file
mon_pid=
trap '[ -z "$mon_pid" ] || kill "$mon_pid" 2>/dev/null; nx_redis_stop "$RB"; nx_redis_stop "$RA";
      nx_cluster_stop "$E2E_DIR/pg"; [ -n "${KEEP:-}" ] || rm -rf "$E2E_DIR"' EXIT
trap '' PIPE   # writes to connections the server ended must not end the script

e2e_cluster <<'CONF' || { echo "not ok - cluster starts"; exit 1; }
log_statement = 'all'
log_min_messages = debug1
CONF
sql -c "CREATE EXTENSION nexplane" -c "CREATE EXTENSION nexplane_test" >/dev/null

# The passwords: random each run, so a find is never a coincidence.
pw() { echo "canary-$1-$(openssl rand -hex 8)"; }
ADMIN=$(pw admin) OBS=$(pw observer) OLD=$(pw old) NEW=$(pw new) P2=$(pw app2)
P3=$(pw app3) P9=$(pw app9) WEAK=$(pw weak) B_ADMIN=$(pw badmin) ADMIN2=$(pw admin2)
NOCFG=$(pw nocfg)
secrets=("$ADMIN" "$OBS" "$OLD" "$NEW" "$P2" "$P3" "$P9" "$WEAK" "$B_ADMIN" "$ADMIN2" "$NOCFG")

port=$(nx_free_port 16379)
nx_redis_init "$RA" "$port" aclfile
h() { echo "#$(nx_redis_hash "$1")"; }
nx_redis_user "$RA" default off
# the connector's login, with the least it needs (docs/connectors/redis.md)
nx_redis_user "$RA" nxadmin on "$(h "$ADMIN")" resetchannels -@all +acl +client\|list +client\|kill +config\|get
nx_redis_user "$RA" observer on "$(h "$OBS")" resetchannels -@all +slowlog +monitor +acl\|log +acl\|getuser +client\|list +ping
nx_redis_user "$RA" nocfg on "$(h "$NOCFG")" resetchannels -@all +acl +client\|list +client\|kill
nx_redis_user "$RA" weak on "$(h "$WEAK")" resetchannels -@all +ping
nx_redis_user "$RA" app1 on "$(h "$OLD")" '~app1:*' resetchannels -@all +@read +@write +ping
nx_redis_user "$RA" app2 on "$(h "$P2")" resetchannels -@all +ping
nx_redis_user "$RA" app3 on "$(h "$P3")" resetchannels -@all +ping
nx_redis_start "$RA" || { echo "not ok - redis server starts"; exit 1; }
check "the redis server runs as postgres" test "$(ps -o user= -p "$(cat "$RA/redis.pid")")" = postgres

# Every command anyone sends, as the server sees it.
REDISCLI_AUTH=$OBS redis-cli --no-auth-warning --user observer -h 127.0.0.1 -p "$port" MONITOR \
  >"$E2E_DIR/monitor.log" 2>&1 &
mon_pid=$!

# redis-cli logged in as an account: rc USER PASSWORD COMMAND...
rc() {
  local u=$1 p=$2
  shift 2
  REDISCLI_AUTH=$p redis-cli --no-auth-warning --user "$u" -h 127.0.0.1 -p "${RPORT:-$port}" "$@" 2>&1
}
adm() { rc observer "$OBS" "$@"; }
pong() { [ "$(rc "$1" "$2" PING)" = PONG ]; }
refused() { rc "$1" "$2" PING | grep -q -e WRONGPASS -e NOAUTH; }
# logged in, whether or not the account may run PING
logs_in() { rc "$1" "$2" PING | grep -qx -e PONG -e "NOPERM.*'ping' command"; }

# Secrets as files postgres reads: sec NAME JSON
SEC=$E2E_DIR/sec
mkdir -p "$SEC" && chown postgres: "$SEC" && chmod 700 "$SEC"
sec() { (umask 077; printf '%s' "$2" >"$SEC/$1.json"); chown postgres: "$SEC/$1.json"; }
sec admin "{\"username\": \"nxadmin\", \"password\": \"$ADMIN\"}"
sec admin2 "{\"username\": \"nxadmin\", \"password\": \"$ADMIN2\"}"
sec badpw "{\"username\": \"nxadmin\", \"password\": \"$ADMIN-x\"}"
sec nocfg "{\"username\": \"nocfg\", \"password\": \"$NOCFG\"}"
sec weak "{\"username\": \"weak\", \"password\": \"$WEAK\"}"
sec old "{\"username\": \"app1\", \"password\": \"$OLD\"}"
sec new "{\"username\": \"app1\", \"password\": \"$NEW\"}"
sec other "{\"username\": \"app2\", \"password\": \"$NEW\"}"
sec nopw "{\"username\": \"app1\"}"
sec app9 "{\"username\": \"app9\", \"password\": \"$P9\"}"
sec badmin "{\"username\": \"nxadmin\", \"password\": \"$B_ADMIN\"}"

# connector_call: rcall OP CHANGE_TYPE PARAMS [NEW OLD STATE UNDOING]; CFG,
# CRED and TMO may be set.  The answer is on stdout and in results.log.
CFG="{\"host\": \"127.0.0.1\", \"port\": $port}"
rcall() {
  sql -v op="$1" -v ct="${2:-}" -v params="${3:-}" -v new="${4:-}" -v old="${5:-}" \
    -v state="${6:-}" -v undo="${7:-false}" -v cfg="${CFG}" -v cred="$SEC/${CRED:-admin}.json" \
    -v tmo="${TMO:-5000}" <<'Q' | tee -a "$E2E_DIR/results.log"
SELECT nexplane_test.connector_call('redis', :'op', :'cfg'::jsonb, pg_read_file(:'cred')::jsonb,
  nullif(:'ct', ''), nullif(:'params', '')::jsonb,
  CASE WHEN :'new' <> '' THEN pg_read_file(:'new')::jsonb END,
  CASE WHEN :'old' <> '' THEN pg_read_file(:'old')::jsonb END,
  nullif(:'state', '')::jsonb, :'undo'::boolean, :'tmo'::int)
Q
}
ok() { jq -e '.ok == true' >/dev/null <<<"$1"; }
says() { jq -e --arg s "$2" '.ok == false and (.error | contains($s))' >/dev/null <<<"$1"; }
j() { jq -e "$2" >/dev/null <<<"$1"; }
no() { ! "$@"; }
# pre_check gives the rollback state execute then gives (stored before
# execute, it is what a lost worker leaves): same_state PRE_CHECK EXECUTE
same_state() { jq -e -n --argjson p "$1" --argjson e "$2" '$p.ok and $e.ok and $p.rollback_state != null and $p.rollback_state == $e.rollback_state'; }
nohash() { ! grep -qE '[0-9a-f]{64}' <<<"$1"; }
# a raw connection on fd 9 logged in as USER PASSWORD; alive answers a PING
open_as() {
  exec 9<>/dev/tcp/127.0.0.1/"$port"
  printf '*3\r\n$4\r\nAUTH\r\n$%d\r\n%s\r\n$%d\r\n%s\r\n' ${#1} "$1" ${#2} "$2" >&9
  line=
  read -r -t 2 line <&9
  [ "${line%$'\r'}" = +OK ]
}
alive() {
  printf '*1\r\n$4\r\nPING\r\n' >&9 2>/dev/null
  line=
  read -r -t 2 line <&9
  [ "${line%$'\r'}" = +PONG ]
}
close_conn() { exec 9>&-; }

# --- test -------------------------------------------------------------
r=$(rcall test)
check "test: logs in and says the version" j "$r" '.ok and (.result.server_version | startswith("7."))'
check "test: the login has every privilege the changes need" \
  j "$r" '.result.privileges | ."acl|setuser" and ."client|kill" and ."acl|save" and ."config|get"'
check "test: sees the ACL file" j "$r" '.result.aclfile == true and .result.username == "nxadmin"'
r=$(CRED=badpw rcall test)
check "test: a wrong admin password is refused clearly" says "$r" "refused the connector's login"
r=$(CRED=weak rcall test)
check "test: a login without ACL rights is refused clearly" says "$r" "may not run ACL commands"
r=$(CFG='{"host": "127.0.0.1", "port": 1}' rcall test)
check "test: a server that is down is a clear error" says "$r" "could not connect to the redis server at 127.0.0.1:1"
r=$(CFG='{"host": "127.0.0.1; FLUSHALL", "port": 6379}' rcall test)
check "test: a host that is no host name is refused" says "$r" "not a valid host name"
r=$(CFG='{"port": 6379}' rcall test)
check "test: a config without host is refused" says "$r" "needs a host"
r=$(CFG="{\"host\": \"127.0.0.1\", \"port\": 70000}" rcall test)
check "test: a port out of range is refused" says "$r" "port must be a number"
# A server that accepts connections but never answers: the call ends at its timeout.
kill -STOP "$(cat "$RA/redis.pid")"
t0=$(date +%s%N)
r=$(TMO=1500 rcall test)
t1=$(date +%s%N)
kill -CONT "$(cat "$RA/redis.pid")"
check "test: a server that does not answer fails with the timeout" says "$r" "within the timeout"
check "test: ... within about the timeout (1.5 s)" test $(((t1 - t0) / 1000000)) -lt 3500

# --- discover ---------------------------------------------------------
r=$(rcall discover)
check "discover: lists the users" j "$r" '[.result.assets[].external_id] | contains(["app1", "app2", "nxadmin", "default"])'
check "discover: with their attributes" \
  j "$r" '.result.assets[] | select(.external_id == "app1") | .kind == "redis_user" and .attributes.enabled and .attributes.passwords == 1 and .attributes.keys == "~app1:*"'
check "discover: marks the connector's login and a user that is off" \
  j "$r" '(.result.assets[] | select(.external_id == "nxadmin") | .attributes.connector_login) and (.result.assets[] | select(.external_id == "default") | .attributes.enabled == false)'
check "discover: no password hash in the result" nohash "$r"

# --- rotate_password --------------------------------------------------
P='{"username": "app1"}'
pc=$(rcall pre_check rotate_password "$P")
check "rotate: pre_check passes" ok "$pc"
# a client of app1 with the old password, open across the rotation
check "rotate: a client logs in as app1 with the old password" open_as app1 "$OLD"
r=$(rcall execute rotate_password "$P" "$SEC/new.json" "$SEC/old.json")
check "rotate: execute succeeds and removes the old password" j "$r" '.ok and .result.passwords_removed == 1 and .result.persisted'
check "rotate: execute keeps a rollback state without secrets" j "$r" '.rollback_state.username == "app1"'
check "rotate: pre_check gave execute's rollback state" same_state "$pc" "$r"
check "rotate: redis-cli logs in as app1 with the new password" pong app1 "$NEW"
check "rotate: the old password is refused" refused app1 "$OLD"
check "rotate: the client logged in before goes on working (overlap)" alive
close_conn
check "rotate: the ACL file holds the new hash" grep -q "$(nx_redis_hash "$NEW")" "$RA/users.acl"
check "rotate: ... not the old" no grep -q "$(nx_redis_hash "$OLD")" "$RA/users.acl"
r=$(rcall verify rotate_password "$P" "$SEC/new.json" "$SEC/old.json")
check "rotate: verify logs in with the new one and sees the old refused" j "$r" '.ok and .evidence.old_password_refused'
r=$(rcall verify rotate_password "$P" "$SEC/old.json" "$SEC/new.json")
check "rotate: verify with the wrong password fails" says "$r" "with the new password failed"
r=$(rcall rollback rotate_password "$P" "$SEC/old.json" "$SEC/new.json" '' true)
check "rotate: rollback restores the previous password" j "$r" '.ok and .result.password == "restored"'
check "rotate: after rollback the old password logs in" pong app1 "$OLD"
check "rotate: after rollback the new one is refused" refused app1 "$NEW"
check "rotate: verify after rollback (undoing)" ok "$(rcall verify rotate_password "$P" "$SEC/old.json" "$SEC/new.json" '' true)"
r=$(rcall execute rotate_password "$P" "$SEC/other.json" "$SEC/old.json")
check "rotate: new_secret of another user is refused" says "$r" "credential of another user"
r=$(rcall execute rotate_password "$P" "$SEC/nopw.json" "$SEC/old.json")
check "rotate: new_secret without a password is refused" says "$r" "has no password"
check "rotate: ... and app1's password is untouched" pong app1 "$OLD"
r=$(rcall pre_check rotate_password '{"username": "nosuch"}')
check "rotate: pre_check of a user that does not exist fails" says "$r" 'no user "nosuch"'
rc nxadmin "$ADMIN" ACL SETUSER app2 off >/dev/null
r=$(rcall pre_check rotate_password '{"username": "app2"}')
check "rotate: pre_check of a user that is off fails" says "$r" "is off"
rc nxadmin "$ADMIN" ACL SETUSER app2 on >/dev/null

# finish_rotation: the recovery's end of a rotation lost inside its overlap
# (the new password added, the old not yet removed), made here by hand.
in_overlap() { rc nxadmin "$ADMIN" ACL SETUSER app1 "$(h "$NEW")" >/dev/null && pong app1 "$OLD" && pong app1 "$NEW"; }
npasswords() { rc nxadmin "$ADMIN" ACL GETUSER app1 | grep -cE '^[0-9a-f]{64}$'; }
P='{"username": "app1"}'
check "finish: the overlap, by hand: both passwords log in" in_overlap
r=$(rcall finish_rotation rotate_password "$P" "$SEC/new.json" "$SEC/old.json")
check "finish: in the overlap it removes the old password" \
  j "$r" '.ok and .result.passwords_removed == 1 and .result.persisted and .evidence.login_with_old_password and .evidence.passwords_before == 2 and .evidence.passwords_after == 1'
check "finish: ... no hash in what it reports" nohash "$r"
check "finish: the new password logs in" pong app1 "$NEW"
check "finish: the old one is refused" refused app1 "$OLD"
check "finish: the account has exactly one password" test "$(npasswords)" = 1
check "finish: the ACL file holds the new hash, not the old" \
  eval 'grep -q "$(nx_redis_hash "$NEW")" "$RA/users.acl" && ! grep -q "$(nx_redis_hash "$OLD")" "$RA/users.acl"'
check "finish: then verify passes" ok "$(rcall verify rotate_password "$P" "$SEC/new.json" "$SEC/old.json")"
r=$(rcall finish_rotation rotate_password "$P" "$SEC/new.json" "$SEC/old.json")
check "finish: out of the overlap (the old one refused) it refuses" says "$r" "no longer logs in: not a rotation's overlap"
check "finish: ... and changes nothing" eval 'pong app1 "$NEW" && test "$(npasswords)" = 1'
r=$(rcall rollback rotate_password "$P" "$SEC/old.json" "$SEC/new.json" '' true)
check "finish: (back to the old password)" eval 'ok "$r" && pong app1 "$OLD" && refused app1 "$NEW"'
r=$(rcall finish_rotation rotate_password "$P" "$SEC/new.json" "$SEC/old.json")
check "finish: when the new password does not log in it refuses" says "$r" "does not log in: nothing to finish"
check "finish: ... and the old one still logs in, alone" eval 'pong app1 "$OLD" && test "$(npasswords)" = 1'
# a rollback's overlap (the previous password added back beside the
# current one), finished with undoing: new_secret (the previous) stays
check "finish: a rollback's overlap, by hand: both log in" in_overlap
r=$(rcall finish_rotation rotate_password "$P" "$SEC/old.json" "$SEC/new.json" '' true)
check "finish: a rollback's (undoing) keeps the previous password and removes the current one" \
  j "$r" '.ok and .result.password == "restored" and .result.passwords_removed == 1 and .result.persisted'
check "finish: ... the previous password logs in, alone" \
  eval 'pong app1 "$OLD" && refused app1 "$NEW" && test "$(npasswords)" = 1'
r=$(rcall finish_rotation rotate_password "$P" "$SEC/old.json" "$SEC/new.json" '' true)
check "finish: a rollback's out of its overlap refuses, naming the current password" \
  says "$r" "the current password of \"app1\" no longer logs in"
r=$(rcall finish_rotation rotate_password "$P" "$SEC/other.json" "$SEC/old.json")
check "finish: new_secret of another user is refused" says "$r" "credential of another user"
r=$(rcall finish_rotation rotate_password "$P" "$SEC/new.json" "$SEC/nopw.json")
check "finish: old_secret without a password is refused" says "$r" "old_secret has no password"
r=$(rcall finish_rotation rotate_password "$P" "$SEC/old.json" "$SEC/old.json")
check "finish: the same password twice is refused" says "$r" "hold the same password"
sec ghostnew "{\"username\": \"ghost\", \"password\": \"$NEW\"}"
sec ghostold "{\"username\": \"ghost\", \"password\": \"$OLD\"}"
r=$(rcall finish_rotation rotate_password '{"username": "ghost"}' "$SEC/ghostnew.json" "$SEC/ghostold.json")
check "finish: a user that does not exist is refused" says "$r" 'no user "ghost"'
r=$(rcall finish_rotation disable_user "$P")
check "finish: another change type has nothing to finish" says "$r" "has nothing to finish"
check "finish: the overlap again" in_overlap
rc nxadmin "$ADMIN" ACL SETUSER app1 off >/dev/null
r=$(rcall finish_rotation rotate_password "$P" "$SEC/new.json" "$SEC/old.json")
check "finish: a user that is off is refused" says "$r" "is off: not a rotation's overlap"
check "finish: ... and keeps both passwords" test "$(npasswords)" = 2
rc nxadmin "$ADMIN" ACL SETUSER app1 on "!$(nx_redis_hash "$NEW")" >/dev/null
check "finish: (back to the old password alone)" eval 'pong app1 "$OLD" && refused app1 "$NEW" && test "$(npasswords)" = 1'

# The connector's own login: verify may still get the replaced credential,
# rollback the rotated one; the connector logs in with the rotation's secrets.
P='{"username": "nxadmin"}'
r=$(rcall execute rotate_password "$P" "$SEC/admin2.json" "$SEC/admin.json")
check "rotate own login: execute succeeds" j "$r" '.ok and .result.passwords_removed == 1'
check "rotate own login: redis-cli logs in with the new password" logs_in nxadmin "$ADMIN2"
check "rotate own login: the old one is refused" refused nxadmin "$ADMIN"
check "rotate own login: verify, with the old credential" ok "$(rcall verify rotate_password "$P" "$SEC/admin2.json" "$SEC/admin.json")"
r=$(CRED=admin2 rcall rollback rotate_password "$P" "$SEC/admin.json" "$SEC/admin2.json" '' true)
check "rotate own login: rollback, with the new credential" j "$r" '.ok and .result.password == "restored"'
check "rotate own login: verify after rollback, with the new credential" \
  ok "$(CRED=admin2 rcall verify rotate_password "$P" "$SEC/admin.json" "$SEC/admin2.json" '' true)"
check "rotate own login: the old password logs in again" logs_in nxadmin "$ADMIN"
check "rotate own login: the new one is refused" refused nxadmin "$ADMIN2"
r=$(CRED=admin2 rcall execute disable_user '{"username": "app2"}')
check "rotate own login: other changes do not try the rotation's secrets" says "$r" "refused the connector's login"

# --- create_user ------------------------------------------------------
P='{"username": "app9", "key_patterns": "app9:* cache:*", "categories": "+@read +@write -@keyspace"}'
pc=$(rcall pre_check create_user "$P")
check "create: pre_check passes" ok "$pc"
r=$(rcall execute create_user "$P")
check "create: pre_check gave execute's rollback state" same_state "$pc" "$r"
check "create: execute succeeds" j "$r" '.ok and .result.created and .result.persisted and .rollback_state.created'
check "create: the server has the user with the key patterns" grep -qx '~app9:\* ~cache:\*' <(adm ACL GETUSER app9)
check "create: it may read" grep -qx OK <(rc nxadmin "$ADMIN" ACL DRYRUN app9 GET app9:x)
check "create: it may not run dangerous commands (FLUSHALL)" \
  grep -q 'no permissions' <(rc nxadmin "$ADMIN" ACL DRYRUN app9 FLUSHALL)
check "create: nor keyspace ones (-@keyspace)" grep -q 'no permissions' <(rc nxadmin "$ADMIN" ACL DRYRUN app9 DEL app9:x)
check "create: nor keys outside its patterns" grep -q 'no permissions' <(rc nxadmin "$ADMIN" ACL DRYRUN app9 GET other:x)
check "create: nobody logs in as it before it has a password" refused app9 anything
check "create: it is in the ACL file" grep -q '^user app9 on' "$RA/users.acl"
r=$(rcall verify create_user "$P")
check "create: verify sees it as created" j "$r" '.ok and .evidence.flushall_refused'
r=$(rcall execute rotate_password '{"username": "app9"}' "$SEC/app9.json")
check "create: then rotate_password gives it its first password" j "$r" '.ok and .result.passwords_removed == 0'
check "create: ... with which redis-cli logs in" logs_in app9 "$P9"
r=$(rcall verify create_user "$P")
check "create: verify fails once the user has changed (a password)" says "$r" "not as created"
check "create: a client is logged in as app9" open_as app9 "$P9"
r=$(rcall pre_check create_user "$P")
check "create: pre_check of an existing user fails" says "$r" "already exists"
r=$(rcall rollback create_user "$P" '' '' '{"username": "app9", "created": true}' true)
check "create: rollback deletes it" j "$r" '.ok and .result.deleted'
check "create: after rollback the server has no such user" test -z "$(adm ACL GETUSER app9)"
check "create: after rollback its connection is gone" no alive
close_conn
check "create: verify after rollback (undoing)" ok "$(rcall verify create_user "$P" '' '' '' true)"
check "create: it is gone from the ACL file" no grep -q '^user app9' "$RA/users.acl"
r=$(rcall rollback create_user "$P" '' '' '{"username": "app1", "created": true}' true)
check "create: rollback refuses a state about another user" says "$r" "not about user"
check "create: ... and app1 is still there" pong app1 "$OLD"
# bad input: nothing reaches the server
for bad in "a'b" 'a;b' 'a b' 'x"; FLUSHALL; "' '-rf' '$(id)' "$(printf 'u%.0s' {1..65})" ''; do
  r=$(rcall execute create_user "$(jq -nc --arg u "$bad" '{username: $u}')")
  check "create: the user name $(jq -Rc . <<<"${bad:0:20}") is refused" says "$r" "username"
done
check "create: refusals do not quote the bad name" no grep -qF 'FLUSHALL' "$E2E_DIR/results.log"
r=$(rcall execute create_user '{"key_patterns": "*"}')
check "create: a missing username is refused" says "$r" "needs a username"
r=$(rcall execute create_user '{"username": 42}')
check "create: a username that is not a string is refused" says "$r" "needs a username"
for cats in "+@admin" "+@dangerous" "+@all" "+@read +@nope" "+read" "+@read +flushall" "allcommands"; do
  r=$(rcall execute create_user "$(jq -nc --arg c "$cats" '{username: "evil", categories: $c}')")
  check "create: categories \"$cats\" are refused" j "$r" '.ok == false and (.error | test("categor"))'
done
for keys in 'a"b' "a\\\\b" 'a%R~b' '~x' 'k&'; do
  r=$(rcall execute create_user "$(jq -nc --arg k "$keys" '{username: "evil", key_patterns: $k}')")
  check "create: key pattern $(jq -Rc . <<<"$keys") is refused" says "$r" "key pattern"
done
r=$(rcall execute create_user "$(jq -nc --arg k "$(printf 'k%d ' {1..33})" '{username: "evil", key_patterns: $k}')")
check "create: more than 32 key patterns are refused" says "$r" "more than 32"
check "create: no refused user reached the server" test -z "$(adm ACL GETUSER evil)"

# --- disable_user -----------------------------------------------------
P='{"username": "app2"}'
check "disable: a client is logged in as app2" open_as app2 "$P2"
pc=$(rcall pre_check disable_user "$P")
check "disable: pre_check passes" ok "$pc"
r=$(rcall execute disable_user "$P")
check "disable: pre_check gave execute's rollback state" same_state "$pc" "$r"
check "disable: execute turns it off and ends its connection" j "$r" '.ok and .result.enabled == false and .result.connections_ended == 1'
check "disable: the open connection of app2 is gone" no alive
close_conn
check "disable: no connection of app2 in CLIENT LIST" no grep -q 'user=app2 ' <(adm CLIENT LIST)
check "disable: redis-cli cannot log in as app2" refused app2 "$P2"
check "disable: the ACL file says off" grep -q '^user app2 off' "$RA/users.acl"
check "disable: verify" ok "$(rcall verify disable_user "$P")"
check "disable: pre_check of a user already off fails" says "$(rcall pre_check disable_user "$P")" "already off"
r=$(rcall rollback disable_user "$P" '' '' '{"username": "app2", "enabled_before": true}' true)
check "disable: rollback turns it on" j "$r" '.ok and .result.enabled'
check "disable: after rollback app2 logs in" pong app2 "$P2"
check "disable: verify after rollback (undoing)" ok "$(rcall verify disable_user "$P" '' '' '' true)"
r=$(rcall rollback disable_user "$P" '' '' '{"username": "app2"}' true)
check "disable: rollback refuses a state that does not say what was" says "$r" "does not say whether"
check "disable: the connector's own login is refused" says "$(rcall pre_check disable_user '{"username": "nxadmin"}')" "own login"
check "disable: ... also by execute" says "$(rcall execute disable_user '{"username": "nxadmin"}')" "own login"
check "disable: the connector still logs in" ok "$(rcall test)"

# --- enable_user ------------------------------------------------------
rc nxadmin "$ADMIN" ACL SETUSER app2 off >/dev/null
pc=$(rcall pre_check enable_user "$P")
check "enable: pre_check passes" ok "$pc"
r=$(rcall execute enable_user "$P")
check "enable: pre_check gave execute's rollback state" same_state "$pc" "$r"
check "enable: execute turns it on" j "$r" '.ok and .result.enabled and .rollback_state.enabled_before == false'
check "enable: redis-cli logs in as app2" pong app2 "$P2"
check "enable: verify" ok "$(rcall verify enable_user "$P")"
check "enable: pre_check of a user already on fails" says "$(rcall pre_check enable_user "$P")" "already on"
check "enable: a client is logged in as app2" open_as app2 "$P2"
r=$(rcall rollback enable_user "$P" '' '' '{"username": "app2", "enabled_before": false}' true)
check "enable: rollback turns it off and ends its connection" j "$r" '.ok and .result.enabled == false and .result.connections_ended == 1'
check "enable: after rollback its open connection is gone" no alive
close_conn
check "enable: after rollback redis-cli cannot log in" refused app2 "$P2"
check "enable: verify after rollback (undoing)" ok "$(rcall verify enable_user "$P" '' '' '' true)"
check "enable: verify (not undoing) now fails" says "$(rcall verify enable_user "$P")" "is off"

# --- delete_user ------------------------------------------------------
P='{"username": "app3"}'
check "delete: a client is logged in as app3" open_as app3 "$P3"
pc=$(rcall pre_check delete_user "$P")
check "delete: pre_check passes" ok "$pc"
check "delete: ... with no rollback state (delete_user has no rollback)" j "$pc" ".rollback_state == null"
r=$(rcall execute delete_user "$P")
check "delete: execute deletes it" j "$r" '.ok and .result.deleted and .result.connections_ended == 1 and .result.before.passwords == 1'
check "delete: the result holds no password hash" nohash "$r"
check "delete: its open connection is gone" no alive
close_conn
check "delete: the server has no such user" test -z "$(adm ACL GETUSER app3)"
check "delete: redis-cli cannot log in as it" refused app3 "$P3"
check "delete: it is gone from the ACL file" no grep -q '^user app3' "$RA/users.acl"
check "delete: verify" ok "$(rcall verify delete_user "$P")"
check "delete: rollback is refused" says "$(rcall rollback delete_user "$P" '' '' '' true)" "cannot be rolled back"
check "delete: pre_check of a user that does not exist fails" says "$(rcall pre_check delete_user "$P")" "no user"
check "delete: the default user is refused" says "$(rcall pre_check delete_user '{"username": "default"}')" "default user"
check "delete: the connector's own login is refused" says "$(rcall execute delete_user '{"username": "nxadmin"}')" "own login"
check "a change type the connector does not have is refused" \
  grep -q 'no such change type' <(sql -c "SELECT nexplane_test.connector_call('redis', 'execute', '{}', '{}', 'drop_database', '{}', NULL, NULL, NULL, false, 1000)" 2>&1)
r=$(CFG='{"host": "127.0.0.1", "port": 1}' rcall execute disable_user '{"username": "app1"}')
check "a change against a server that is down fails clearly" says "$r" "could not connect"
r=$(CRED=badpw rcall execute disable_user '{"username": "app1"}')
check "a change with a wrong admin password fails clearly" says "$r" "refused the connector's login"
check "... and app1 is untouched" pong app1 "$OLD"

# A login without CONFIG GET cannot tell whether there is an ACL file: acl_save decides.
r=$(CRED=nocfg rcall test)
check "no CONFIG GET: test passes and says it cannot tell" j "$r" '.ok and .result.aclfile == null and .result.privileges."config|get" == false'
r=$(CRED=nocfg rcall execute disable_user '{"username": "app1"}')
check "no CONFIG GET: a change says its persistence is unknown" \
  j "$r" '.ok and .result.persisted == false and (.result.persistence | contains("set acl_save"))'
r=$(CFG="{\"host\": \"127.0.0.1\", \"port\": $port, \"acl_save\": true}" CRED=nocfg \
  rcall rollback disable_user '{"username": "app1"}' '' '' "$(jq -c .rollback_state <<<"$r")" true)
check "no CONFIG GET, acl_save true: the rollback is saved" j "$r" '.ok and .result.enabled and .result.persisted'
check "... in the ACL file" grep -q '^user app1 on' "$RA/users.acl"

# --- a server without an ACL file, briefly ----------------------------
bport=$(nx_free_port $((port + 1)))
nx_redis_init "$RB" "$bport" conf
nx_redis_user "$RB" default off
nx_redis_user "$RB" nxadmin on "$(h "$B_ADMIN")" resetchannels -@all +acl +client\|list +client\|kill +config\|get
nx_redis_start "$RB" || echo "not ok - the second redis server starts"
CFG="{\"host\": \"127.0.0.1\", \"port\": $bport}"
r=$(CRED=badmin rcall test)
check "no aclfile: test says so" j "$r" '.ok and .result.aclfile == false'
r=$(CRED=badmin rcall execute create_user '{"username": "tmp1", "categories": "+@read"}')
check "no aclfile: create_user works and says it is not persisted" \
  j "$r" '.ok and .result.persisted == false and (.result.persistence | contains("no aclfile"))'
check "no aclfile: the user is there" grep -qx tmp1 <(RPORT=$bport rc nxadmin "$B_ADMIN" ACL USERS)
CFG="{\"host\": \"127.0.0.1\", \"port\": $bport, \"acl_save\": true}"
r=$(CRED=badmin rcall execute create_user '{"username": "tmp2"}')
check "no aclfile, acl_save true: execute fails as ACL SAVE fails" says "$r" "ACL SAVE failed"
check "... with the rollback state to undo it" j "$r" '.rollback_state.username == "tmp2"'
CFG="{\"host\": \"127.0.0.1\", \"port\": $bport, \"acl_save\": false}"
r=$(CRED=badmin rcall rollback create_user '{"username": "tmp2"}' '' '' "$(jq -c .rollback_state <<<"$r")" true)
check "no aclfile, acl_save false: rollback deletes it without ACL SAVE" j "$r" '.ok and .result.deleted and .result.persisted == false'
nx_redis_stop "$RB"
CFG="{\"host\": \"127.0.0.1\", \"port\": $port}"

# --- no plaintext password anywhere -----------------------------------
kill "$mon_pid" 2>/dev/null
mon_pid=
adm SLOWLOG GET 100000 >"$E2E_DIR/slowlog.txt"
adm ACL LOG 10000 >"$E2E_DIR/acllog.txt"
check "SLOWLOG recorded the connector's commands" grep -qi setuser "$E2E_DIR/slowlog.txt"
# MONITOR leaves out administrative commands (ACL, CLIENT, CONFIG) but shows logins, redacted
check "MONITOR saw the connector's logins" grep -q '"AUTH" "(redacted)" "(redacted)"' "$E2E_DIR/monitor.log"
check "the ACL log recorded the refused logins" grep -q app1 "$E2E_DIR/acllog.txt"
places=("$RA/redis.log" "$RB/redis.log" "$E2E_DIR/slowlog.txt" "$E2E_DIR/monitor.log"
        "$E2E_DIR/acllog.txt" "$E2E_DIR/pg/server.log" "$E2E_DIR/results.log")
for s in "${secrets[@]}"; do
  found=
  for f in "${places[@]}"; do grep -qF -- "$s" "$f" && found="$found $(basename "$f")"; done
  check "${s%-*} is in no log, SLOWLOG, MONITOR, ACL LOG or result${found:+ (found in$found)}" test -z "$found"
  hash=$(nx_redis_hash "$s")
  check "${s%-*}'s hash is in no result or nexplane log" \
    no grep -qF "$hash" "$E2E_DIR/results.log" "$E2E_DIR/pg/server.log"
done
check "the nexplane server log shows the calls were logged" grep -q connector_call "$E2E_DIR/pg/server.log"
