#!/usr/bin/env bash
# The host agent end to end, against real things on this machine: a real
# sshd on loopback (its own config, started as root), a throwaway account,
# the shim with its agent listener, the agent (ASan+UBSan build) enrolled
# with a one-time token and the CA pin, and change requests of connector
# type agent created by an operator, approved by an approver and run by
# the real job workers:
#   - an SSH key added lets ssh log in with it; removed, the login fails;
#   - a user locked can log in neither by password nor by key; unlocked,
#     both work again;
#   - a risky file.write (the sshd's own sshd_config) that is confirmed
#     stays; one whose confirmation never comes, because the shim is
#     stopped during the window, is reverted by the agent, which reports
#     it when the shim is back.
# Runs as root (sshd, useradd, the agent).
. "$(dirname "$0")/api_lib.sh"
. "$(dirname "$0")/engine_lib.sh"
. "$(dirname "$0")/../servers/sshd.sh"

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
AGENT_BIN=$ROOT/agent/nexplane-agent-asan
# sshd and the managed file live under /run: every directory above a
# managed file must be root's and writable by no one else (/tmp is not).
RUN=$(mktemp -d /run/nxagent-e2e.XXXXXX)
chmod 755 "$RUN"
SSHD=$RUN/sshd
U=nxe2e$$
U_PW="pw-$(openssl rand -hex 8)"
AGENT_PID=

agent_stop() {
  [ -n "${AGENT_PID:-}" ] || return 0
  kill -TERM "$AGENT_PID" 2>/dev/null
  wait "$AGENT_PID" 2>/dev/null
  AGENT_PID=
}
cleanup() {
  agent_stop
  api_stop
  nx_sshd_stop "$SSHD"
  nx_ssh_user_del "$U"
  nx_cluster_stop "$E2E_DIR/pg"
  if [ -n "${KEEP:-}" ]; then echo "kept $E2E_DIR $RUN"; else rm -rf "$E2E_DIR" "$RUN"; fi
}
trap cleanup EXIT

eng_setup
nx_tls_make "$E2E_DIR/tls" || { echo "not ok - TLS certificates"; exit 1; }
# ports away from the range the api_*.sh scripts use: the agent listener's
# must still be free when the shim starts again after being stopped
API_PORT=$(nx_free_port $((30000 + RANDOM % 20000)))
AGENT_PORT=$(nx_free_port $((API_PORT + 1)))
API="https://127.0.0.1:$API_PORT"

shim_start() { # the agent listener on a fixed port, so that the agent finds it again after a restart
  (exec 3<>/dev/tcp/127.0.0.1/"$API_PORT") 2>/dev/null && API_PORT=$(nx_free_port $((API_PORT + 2)))
  "$API_BIN" --listen "127.0.0.1:$API_PORT" --tls-cert "$E2E_DIR/tls/server.crt" \
    --tls-key "$E2E_DIR/tls/server.key" --pool-size 4 \
    --agent-listen "127.0.0.1:$AGENT_PORT" \
    --db "host=$PGHOST port=$PGPORT dbname=postgres user=nexplane_api" \
    >>"$E2E_DIR/api.out" 2>>"$E2E_DIR/api.err" &
  API_PID=$!
  for _ in $(seq 1 100); do
    curl -s -o /dev/null -k "https://127.0.0.1:$AGENT_PORT/v1/agent/ca" && return 0
    sleep 0.1
  done
  return 1
}
shim_start || { echo "not ok - the shim starts with its agent listener"; tail -20 "$E2E_DIR/api.err"; exit 1; }

# sshd, the account, a key pair
nx_sshd_init "$SSHD" "$(nx_free_port 22022)"
SSH_PORT=$(cat "$SSHD/port")
nx_sshd_start "$SSHD" || { echo "not ok - sshd starts"; cat "$SSHD/sshd.log"; exit 1; }
nx_ssh_user "$U" "$U_PW" || { echo "not ok - a throwaway account"; exit 1; }
ssh-keygen -q -t ed25519 -N '' -C "e2e@nexplane" -f "$E2E_DIR/id" </dev/null
KEY=$(cat "$E2E_DIR/id.pub")
key_in() { nx_ssh_key "$SSHD" "$SSH_PORT" "$U" "$E2E_DIR/id"; }
pw_in() { nx_ssh_password "$SSHD" "$SSH_PORT" "$U" "$U_PW"; }
no() { ! "$@"; }
pw_not_key() { pw_in && no key_in; }
check "before anything: the password logs in, the key does not" pw_not_key

# enroll
TOK=$(eng_as "$ENG_ADMIN" "SELECT nexplane.enrollment_token_create('10 minutes')")
TOKEN_V=$(jq -r .token <<<"$TOK")
PIN=$(jq -r .ca_pin <<<"$TOK")
agent_san() { # the agent's sanitizer reports go to files of their own
  ASAN_OPTIONS="log_path=$E2E_DIR/agent-asan:detect_leaks=1:abort_on_error=0" \
    UBSAN_OPTIONS="log_path=$E2E_DIR/agent-ubsan:print_stacktrace=1" "$@"
}
STATE=$RUN/state
check "enroll with a wrong pin is refused, and nothing is stored" \
  bash -c "! ASAN_OPTIONS=log_path=$E2E_DIR/agent-asan '$AGENT_BIN' enroll --url https://127.0.0.1:$AGENT_PORT --token '$TOKEN_V' --ca-pin sha256:$(printf '0%.0s' {1..64}) --state-dir '$STATE' && test ! -e '$STATE/key.pem'"
agent_san "$AGENT_BIN" enroll --url "https://127.0.0.1:$AGENT_PORT" --token "$TOKEN_V" --ca-pin "$PIN" \
  --state-dir "$STATE" >"$E2E_DIR/enroll.out" 2>&1
check "enroll with the token and the pin" grep -q '^enrolled: agent' "$E2E_DIR/enroll.out"
AGENT_ID=$(jq -r .agent_id "$STATE/agent.json")
check "the key stays on the host, 0600" test "$(stat -c %a "$STATE/key.pem")" = 600
check "the token works once" \
  bash -c "! ASAN_OPTIONS=log_path=$E2E_DIR/agent-asan '$AGENT_BIN' enroll --url https://127.0.0.1:$AGENT_PORT --token '$TOKEN_V' --ca-pin '$PIN' --state-dir '$RUN/state2' >/dev/null 2>&1"

# RSA keys are accepted too (--key-type rsa makes RSA 3072)
TOK2=$(eng_as "$ENG_ADMIN" "SELECT nexplane.enrollment_token_create('10 minutes')->>'token'")
agent_san "$AGENT_BIN" enroll --url "https://127.0.0.1:$AGENT_PORT" --token "$TOK2" --ca-pin "$PIN" \
  --state-dir "$RUN/state-rsa" --key-type rsa >"$E2E_DIR/enroll-rsa.out" 2>&1
check "enroll --key-type rsa: an RSA 3072 key, enrolled" \
  bash -c "grep -q '^enrolled: agent' '$E2E_DIR/enroll-rsa.out' && openssl pkey -in '$RUN/state-rsa/key.pem' -noout -text | grep -q '3072 bit'"
# the agent trusts its pinned CA and nothing else: the main listener's
# certificate (another CA) is refused
cp -a "$STATE" "$RUN/state-copy"
printf 'url = https://127.0.0.1:%s\nstate_dir = %s\n' "$API_PORT" "$RUN/state-copy" >"$RUN/other-ca.conf"
agent_san "$AGENT_BIN" run --once --config "$RUN/other-ca.conf" >/dev/null 2>"$E2E_DIR/other-ca.err"
check "a server whose certificate is from another CA is refused (TLS verification against ca.pem)" \
  grep -q 'SSL certificate problem' "$E2E_DIR/other-ca.err"

# the agent, with sshd's own config as a managed, risky file; its check
# (sshd -t) goes through a wrapper that can be made slow, so the test
# knows when the agent is inside a change
cat >"$RUN/sshd-check" <<EOF
#!/bin/sh
if [ -e $RUN/slow ]; then touch $RUN/checking; sleep 3; fi
exec /usr/sbin/sshd "\$@"
EOF
chmod 755 "$RUN/sshd-check"
cat >"$RUN/agent.conf" <<EOF
url = https://127.0.0.1:$AGENT_PORT
state_dir = $STATE
managed_files = $SSHD/sshd_config
risky_files = $SSHD/sshd_config
poll_wait = 5
heartbeat = 10
sshd = $RUN/sshd-check
log_level = debug
EOF
agent_run() {
  ASAN_OPTIONS="log_path=$E2E_DIR/agent-asan:detect_leaks=1:abort_on_error=0" \
    UBSAN_OPTIONS="log_path=$E2E_DIR/agent-ubsan:print_stacktrace=1" \
    "$AGENT_BIN" run --config "$RUN/agent.conf" >>"$E2E_DIR/agent.out" 2>>"$E2E_DIR/agent.err" &
  AGENT_PID=$!
}
agent_run
agent_online() { [ "$(sql -c "SELECT status FROM nexplane.agents WHERE id = '$AGENT_ID'")" = online ]; }
for _ in $(seq 1 50); do agent_online && break; sleep 0.2; done
check "the agent polls over mutual TLS and shows online" agent_online

CONN=$(eng_as "$ENG_ADMIN" "SELECT nexplane.connector_create('agent', 'host-e2e', '{\"agent_id\": \"$AGENT_ID\"}'::jsonb, NULL, 'production')->>'id'")
check "a connector of type agent for it" test -n "$CONN"
state_is() { [ "$(eng_state "$1")" = "$2" ]; }
cmd_state() { sql -c "SELECT state FROM nexplane.agent_commands WHERE change_request_id = '$1' ORDER BY created_at DESC LIMIT 1"; }

# SSH keys
CR=$(eng_change "$CONN" ssh_key_add "{\"user\": \"$U\", \"key\": \"$KEY\"}")
check "ssh_key_add: the change request completes (operator, approver, job worker, agent)" state_is "$CR" completed
check "... and sshd lets the key in" key_in
CR=$(eng_change "$CONN" ssh_key_remove "{\"user\": \"$U\", \"key\": \"$KEY\"}")
check "ssh_key_remove: completed" state_is "$CR" completed
check "... and the key no longer logs in" no key_in
CR=$(eng_change "$CONN" ssh_key_add "{\"user\": \"$U\", \"key\": \"$KEY\"}")
check "the key added again: completed" state_is "$CR" completed
check "... and it logs in" key_in

# lock, unlock
CR=$(eng_change "$CONN" user_lock "{\"user\": \"$U\"}")
check "user_lock: completed" state_is "$CR" completed
check "... the password no longer logs in" no pw_in
check "... nor the key (the account is expired)" no key_in
CR=$(eng_change "$CONN" user_unlock "{\"user\": \"$U\"}")
check "user_unlock: completed" state_is "$CR" completed
check "... the password logs in again" pw_in
check "... and the key" key_in

# the risky file: confirmed, it stays
ORIG=$(cat "$SSHD/sshd_config")
sha() { sha256sum "$1" | cut -d' ' -f1; }
NEW1="$ORIG
MaxAuthTries 5"
CR=$(eng_change "$CONN" file_write "{\"path\": \"$SSHD/sshd_config\", \"content\": \"$(printf '%s\n' "$NEW1" | base64 -w0)\", \"expected_sha256\": \"$(sha "$SSHD/sshd_config")\", \"confirm_within_s\": 10}")
check "file_write of the risky sshd_config, confirmed: completed" state_is "$CR" completed
check "... the agent's command went applied -> confirmed" test "$(cmd_state "$CR")" = confirmed
sleep 11
check "... the new sshd_config stays past its 10 s window" grep -qx 'MaxAuthTries 5' "$SSHD/sshd_config"
check "... and sshd still takes logins" key_in
RB=$(eng_rollback "$CR")
check "its rollback (a change request of its own, from the reported previous_content): completed" \
  state_is "$RB" completed
check "... sshd_config is what it was before, byte for byte" test "$(cat "$SSHD/sshd_config")" = "$ORIG"

# the risky file: the shim goes away inside the window, the agent reverts
BEFORE=$(sha "$SSHD/sshd_config")
NEW2="$(cat "$SSHD/sshd_config")
MaxSessions 3"
risky_start() { # CONTENT: a risky file_write (10 s window) started, not waited for; the CR's id
  local cr
  rm -f "$RUN/checking"
  touch "$RUN/slow"
  cr=$(eng_as "$ENG_OP" "SELECT nexplane.cr_create('$CONN', 'file_write', '{\"path\": \"$SSHD/sshd_config\", \"content\": \"$(printf '%s\n' "$1" | base64 -w0)\", \"expected_sha256\": \"$(sha "$SSHD/sshd_config")\", \"confirm_within_s\": 10}'::jsonb, 'e2e risky')->>'id'")
  eng_as "$ENG_OP" "SELECT nexplane.cr_submit('$cr')->>'state'" >/dev/null
  eng_as "$ENG_APPR" "SELECT nexplane.cr_approve('$cr', 'ok')->>'state'" >/dev/null
  [ "$(sql -c "SELECT state FROM nexplane.change_requests WHERE id = '$cr'")" = approved ] ||
    eng_as "$ENG_ADMIN" "SELECT nexplane.cr_approve('$cr', 'agreed')->>'state'" >/dev/null
  eng_as "$ENG_OP" "SELECT nexplane.cr_execute('$cr')->>'state'" >/dev/null
  # the agent is inside the change when its check (sshd -t) starts
  for _ in $(seq 1 300); do [ -e "$RUN/checking" ] && break; sleep 0.1; done
  echo "$cr"
}
CR=$(risky_start "$NEW2")
api_stop
check "the agent applied the change while the shim was up" grep -qx 'MaxSessions 3' "$SSHD/sshd_config"
rm -f "$RUN/slow"
WINDOW=$(jq -r '.deadline' "$STATE"/pending/*.json 2>/dev/null | head -1)
check "... with its pending revert on disk" test -n "$WINDOW"
# the deadline passes with the shim away
for _ in $(seq 1 1500); do [ "$(sha "$SSHD/sshd_config")" = "$BEFORE" ] && break; sleep 0.1; done
check "no confirmation came: the agent reverted sshd_config by itself, the shim still down" \
  test "$(sha "$SSHD/sshd_config")" = "$BEFORE"
check "... and no pending revert is left" bash -c "! ls '$STATE'/pending/*.json >/dev/null 2>&1"
shim_start || echo "not ok - the shim starts again"
eng_wait "$CR"
for _ in $(seq 1 100); do [ "$(cmd_state "$CR")" = reverted ] && break; sleep 0.2; done
check "back online, the agent reported reverted" test "$(cmd_state "$CR")" = reverted
check "... and the change request did not complete" bash -c "[ '$(eng_state "$CR" | cut -d: -f1)' != completed ]"
check "sshd still takes logins after the revert" key_in

# the shim goes away and the agent itself dies (SIGKILL) inside the
# window, after its applied report was stored but before it could be
# sent; both come back after the deadline: the agent reverts at once at
# start, then reports applied and reverted, in that order
BEFORE=$(sha "$SSHD/sshd_config")
CR=$(risky_start "$(cat "$SSHD/sshd_config")
MaxStartups 20")
api_stop
for _ in $(seq 1 100); do ls "$STATE"/outbox/* >/dev/null 2>&1 && break; sleep 0.1; done
kill -KILL "$AGENT_PID"
wait "$AGENT_PID" 2>/dev/null
AGENT_PID=
rm -f "$RUN/slow"
sleep 12
check "an agent killed inside the window leaves the change, its pending revert and its unsent report" \
  bash -c "grep -qx 'MaxStartups 20' '$SSHD/sshd_config' && ls '$STATE'/pending/*.json '$STATE'/outbox/*"
shim_start || echo "not ok - the shim starts again"
agent_run
for _ in $(seq 1 50); do [ "$(sha "$SSHD/sshd_config")" = "$BEFORE" ] && break; sleep 0.1; done
check "... started again after the deadline, it reverts at once" test "$(sha "$SSHD/sshd_config")" = "$BEFORE"
eng_wait "$CR"
for _ in $(seq 1 100); do [ "$(cmd_state "$CR")" = reverted ] && break; sleep 0.2; done
check "... and reports applied, then reverted" test "$(cmd_state "$CR")" = reverted

# renewal over mutual TLS, beside the running service: a new key, generation 2
agent_san "$AGENT_BIN" renew --config "$RUN/agent.conf" >"$E2E_DIR/renew.out" 2>&1
check "renew: a new key and certificate, generation 2" grep -q 'generation 2$' "$E2E_DIR/renew.out"
check "... the key file is still 0600" test "$(stat -c %a "$STATE/key.pem")" = 600
direct() { # COMMAND PARAMS: queued by the admin, final state of the agent's report
  local id s
  id=$(eng_as "$ENG_ADMIN" "SELECT nexplane.agent_command_create('$AGENT_ID', '$1', '$2'::jsonb)->>'id'")
  for _ in $(seq 1 150); do
    s=$(sql -c "SELECT state FROM nexplane.agent_commands WHERE id = '${id:-00000000-0000-0000-0000-000000000000}'")
    case $s in queued|sent|running|applied) sleep 0.2 ;; *) break ;; esac
  done
  echo "$s"
}
check "... and the running agent carries on with the new certificate (facts.collect)" \
  test "$(direct facts.collect '{}')" = succeeded
check "... its heartbeat's facts reached the database" \
  test "$(sql -c "SELECT facts->>'agent_version' FROM nexplane.agents WHERE id = '$AGENT_ID'")" = 0.1

# revocation: the next call is refused, and the agent says so
eng_as "$ENG_ADMIN" "SELECT nexplane.agent_revoke('$AGENT_ID')" >/dev/null
for _ in $(seq 1 100); do grep -q 'refuses this agent (403)' "$E2E_DIR/agent.err" && break; sleep 0.2; done
check "revoked: the agent's next call is refused (403) and it logs why" \
  grep -q 'refuses this agent (403)' "$E2E_DIR/agent.err"

# the sanitizers saw nothing
agent_stop
check "the agent ran without an AddressSanitizer or UndefinedBehaviorSanitizer report" \
  bash -c "! ls '$E2E_DIR'/agent-asan.* '$E2E_DIR'/agent-ubsan.* 2>/dev/null | grep -q ."
ls "$E2E_DIR"/agent-asan.* "$E2E_DIR"/agent-ubsan.* >/dev/null 2>&1 && head -n 40 "$E2E_DIR"/agent-asan.* "$E2E_DIR"/agent-ubsan.*
api_sanitizer_check
