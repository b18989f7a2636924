#!/usr/bin/env bash
# The agent connector through the whole engine, with a simulated agent: a
# host enrolled with a real CSR (openssl), then change requests of
# connector type agent created by an operator, approved by a second user,
# executed by the real job workers; the "agent" is this script, calling
# agent_poll and agent_result as the shim's role (nexplane_api) with the
# certificate's fingerprint, as the shim would.  Paths: success (and its
# rollback), failure, dead-man confirmed (and its rollback to the
# reported backup), dead-man not confirmed (reverted by the agent), a
# password rotation that sends only a yescrypt hash, and revocation.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/engine_lib.sh"

eng_setup
A=$E2E_DIR/agent
mkdir -p "$A"

# as the shim: the nexplane_api role itself
api() { psql -X -q -tA -v ON_ERROR_STOP=1 -U nexplane_api -d postgres -c "$1"; }
state_is() { [ "$(eng_state "$1")" = "$2" ]; }
state_like() { local s; s=$(eng_state "$1"); grep -qE "$2" <<<"$s"; }

# ---------- enrollment ----------
TOKEN=$(eng_as "$ENG_ADMIN" "SELECT nexplane.enrollment_token_create('10 minutes')->>'token'")
PIN=$(sql -c "SELECT nexplane.agent_ca()->>'ca_pin'")
sql -c "SELECT nexplane.agent_ca()->>'ca_pem'" >"$A/ca.pem"
check "the pin is the CA certificate's public key's SHA-256" \
  test "$PIN" = "sha256:$(openssl x509 -in "$A/ca.pem" -pubkey -noout | openssl pkey -pubin -outform DER | sha256sum | cut -c1-64)"
openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$A/key.pem" \
  -subj "/CN=root/O=someone-else" -addext "basicConstraints=critical,CA:TRUE" -out "$A/csr.pem" 2>/dev/null
ENROLL=$(api "SELECT nexplane.agent_enroll('$TOKEN', \$csr\$$(cat "$A/csr.pem")\$csr\$, '{\"hostname\": \"e2e-host\"}')")
AGENT=$(jq -r .agent_id <<<"$ENROLL")
jq -r .certificate_pem <<<"$ENROLL" >"$A/cert.pem"
FP=$(openssl x509 -in "$A/cert.pem" -outform DER | sha256sum | cut -c1-64)
check "an agent enrolls with a one-time token and a CSR" test -n "$AGENT"
check "its certificate verifies against the agent CA for client use" \
  openssl verify -CAfile "$A/ca.pem" -purpose sslclient "$A/cert.pem"
check "... with the server's subject (CN = agent id), not the CSR's" \
  bash -c "openssl x509 -in '$A/cert.pem' -noout -subject | grep -q 'CN = $AGENT' &&
           ! openssl x509 -in '$A/cert.pem' -noout -subject | grep -q someone-else"
check "... and CA:FALSE, whatever the CSR asked" \
  bash -c "openssl x509 -in '$A/cert.pem' -noout -ext basicConstraints | grep -q CA:FALSE"
check "the fingerprint openssl computes is the one on the agent's row" \
  test "$(sql -c "SELECT cert_fingerprint FROM nexplane.agents WHERE id = '$AGENT'")" = "$FP"
check "the token does not work twice" \
  bash -c "! psql -X -q -tA -U nexplane_api -d postgres -c \"SELECT nexplane.agent_enroll('$TOKEN', 'x')\" 2>/dev/null"

CONN=$(eng_as "$ENG_ADMIN" "SELECT nexplane.connector_create('agent', 'e2e-host', '{\"agent_id\": \"$AGENT\"}'::jsonb, NULL, 'production')->>'id'")
check "an agent connector is made" test -n "$CONN"
check "connector_test: the agent is online" test "$(eng_job "$CONN" test_connection)" = succeeded

# ---------- the simulated agent ----------
# poll until a command comes; prints it (one JSON object)
next_command() {
  local i c
  for i in $(seq 1 100); do
    c=$(api "SELECT c FROM jsonb_array_elements(nexplane.agent_poll('$FP')->'commands') c LIMIT 1")
    [ -n "$c" ] && { echo "$c"; return 0; }
    sleep 0.2
  done
  return 1
}
report() { api "SELECT nexplane.agent_result('$FP', '$1', '$2'::jsonb)->>'ok'"; }
confirms() { # ID: does a poll confirm it?
  local i
  for i in $(seq 1 20); do
    api "SELECT nexplane.agent_poll('$FP')->'confirm' ? '$1'" | grep -qx t && return 0
    sleep 0.2
  done
  return 1
}
# start a change request in the background (create, submit, approve by a
# second user, execute); the worker then waits for our reports
start() { # TYPE PARAMS: the CR id goes to $E2E_DIR/cr
  (eng_change "$CONN" "$1" "$2" >"$E2E_DIR/cr") &
  BG=$!
}
start_rollback() { (eng_rollback "$1" >"$E2E_DIR/cr") & BG=$!; }
# (in this shell, not a $(...) one: only the parent may wait for the job)
finish() { wait "$BG"; CR=$(cat "$E2E_DIR/cr"); }

# ---------- success: ssh_key_add, then its rollback ----------
KEY='ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl e2e@test'
psql -X -q -tA -d postgres -c "LISTEN nexplane_agents" -c "SELECT pg_sleep(6)" >"$A/listen.txt" 2>&1 &
LISTENER=$!
start ssh_key_add "{\"user\": \"alice\", \"key\": \"$KEY\"}"
CMD=$(next_command)
ID=$(jq -r .id <<<"$CMD")
check "ssh_key_add: the agent is sent ssh.authorized_key.add with the approved params" \
  test "$(jq -c '[.command, .params.user, .params.key]' <<<"$CMD")" = "$(jq -nc --arg k "$KEY" '["ssh.authorized_key.add", "alice", $k]')"
check "... and the change request waits for the agent, executing" \
  test "$(sql -c "SELECT c.state FROM nexplane.change_requests c JOIN nexplane.agent_commands a ON a.change_request_id = c.id WHERE a.id = '$ID'")" = executing
report "$ID" '{"state": "running", "progress": 50}' >/dev/null
report "$ID" '{"state": "succeeded", "output": {"added": true}}' >/dev/null
finish
check "... completed once the agent reported success" state_is "$CR" completed
check "... its evidence holds the agent's report" \
  test "$(sql -c "SELECT count(*) FROM nexplane.evidence WHERE change_request_id = '$CR' AND content->'result'->>'state' = 'succeeded' AND content->'result'->'output'->>'added' = 'true'")" -ge 1
wait "$LISTENER"
check "queueing the command notified nexplane_agents with the agent's id" grep -q "payload \"$AGENT\"" "$A/listen.txt"
start_rollback "$CR"
CMD=$(next_command)
check "its rollback sends ssh.authorized_key.remove of the same key" \
  test "$(jq -c '[.command, .params.key]' <<<"$CMD")" = "$(jq -nc --arg k "$KEY" '["ssh.authorized_key.remove", $k]')"
report "$(jq -r .id <<<"$CMD")" '{"state": "succeeded", "output": {"removed": true}}' >/dev/null
ORIG=$CR; finish; RB=$CR; CR=$ORIG
check "... the rollback completes and the change is rolled_back" \
  bash -c "[ \"\$(psql -X -q -tA -d postgres -c \"SELECT string_agg(state, ',' ORDER BY rollback_of NULLS FIRST) FROM nexplane.change_requests WHERE id IN ('$CR', '$RB')\")\" = rolled_back,completed ]"

# ---------- failure: the agent reports failed ----------
start user_lock '{"user": "bob"}'
CMD=$(next_command)
check "user_lock: the agent is sent user.lock" test "$(jq -r .command <<<"$CMD")" = user.lock
report "$(jq -r .id <<<"$CMD")" '{"state": "failed", "error": "usermod: user bob does not exist", "exit_code": 6}' >/dev/null
finish
check "... failed with the agent's error" state_like "$CR" "^failed: .*usermod: user bob does not exist"
check "... and a failed change stores no rollback state" \
  test "$(sql -c "SELECT rollback_state IS NULL FROM nexplane.change_requests WHERE id = '$CR'")" = t

# ---------- dead-man, confirmed: file_write ----------
NEW=$(printf 'PermitRootLogin no\n' | base64 -w0)
OLDC=$(printf 'PermitRootLogin yes\n' | base64 -w0)
OLDSHA=$(printf 'PermitRootLogin yes\n' | sha256sum | cut -c1-64)
NEWSHA=$(printf 'PermitRootLogin no\n' | sha256sum | cut -c1-64)
start file_write "{\"path\": \"/run/nexplane-e2e/sshd_config\", \"content\": \"$NEW\", \"expected_sha256\": \"$OLDSHA\", \"mode\": \"0644\", \"confirm_within_s\": 10}"
CMD=$(next_command)
ID=$(jq -r .id <<<"$CMD")
check "file_write: the agent is sent file.write with its dead-man window" \
  test "$(jq -c '[.command, .confirm_within_s, .params.expected_sha256]' <<<"$CMD")" = "[\"file.write\",10,\"$OLDSHA\"]"
report "$ID" "{\"state\": \"applied\", \"check\": {\"ok\": true, \"what\": \"sshd -t\"}, \"revert_at\": \"2030-01-01T00:00:00Z\", \"output\": {\"previous_content\": \"$OLDC\", \"previous_mode\": \"0600\", \"sha256\": \"$NEWSHA\"}}" >/dev/null
check "... once applied, the agent's next poll confirms it" confirms "$ID"
check "... the change still waits for the confirmation to land" \
  test "$(sql -c "SELECT state FROM nexplane.change_requests WHERE id IN (SELECT change_request_id FROM nexplane.agent_commands WHERE id = '$ID')")" = executing
report "$ID" '{"state": "confirmed"}' >/dev/null
finish
check "... completed when the agent confirmed" state_is "$CR" completed
start_rollback "$CR"
CMD=$(next_command)
check "its rollback writes back the backup the agent reported, against the new content's checksum" \
  test "$(jq -c '[.command, .params.content, .params.expected_sha256, .params.mode]' <<<"$CMD")" = "[\"file.write\",\"$OLDC\",\"$NEWSHA\",\"0600\"]"
report "$(jq -r .id <<<"$CMD")" '{"state": "applied", "check": {"ok": true}}' >/dev/null
confirms "$(jq -r .id <<<"$CMD")" && report "$(jq -r .id <<<"$CMD")" '{"state": "confirmed"}' >/dev/null
ORIG=$CR; finish; RB=$CR; CR=$ORIG
check "... and completes" state_is "$RB" completed

# ---------- dead-man, never confirmed: the agent reverts ----------
start user_unlock '{"user": "carol", "confirm_within_s": 10}'
CMD=$(next_command)
ID=$(jq -r .id <<<"$CMD")
report "$ID" '{"state": "applied", "check": {"ok": true}, "revert_at": "2030-01-01T00:00:10Z"}' >/dev/null
# the connection is lost: no poll, so no confirmation; the agent's timer runs out
sleep 3
check "user_unlock (dead-man): no confirmation without a poll after the change" \
  test "$(sql -c "SELECT confirm_sent_at IS NULL AND state = 'applied' FROM nexplane.agent_commands WHERE id = '$ID'")" = t
report "$ID" '{"state": "reverted", "error": "no confirmation within 10 s: reverted"}' >/dev/null
finish
check "... reported reverted on reconnect: the change failed, saying so" state_like "$CR" "^failed: .*reverted"
check "... and the command's final state is reverted" \
  test "$(sql -c "SELECT state FROM nexplane.agent_commands WHERE id = '$ID'")" = reverted

# ---------- user_set_password: a rotation, only the hash travels ----------
OLDPW="e2e-canary-$(openssl rand -hex 8)"
eng_secret carol "{\"username\": \"carol\", \"password\": \"$OLDPW\"}"
CRED=$(eng_credential carol-pw carol)
start user_set_password "{\"user\": \"carol\", \"credential_id\": \"$CRED\"}"
CMD=$(next_command)
HASH=$(jq -r .params.hash <<<"$CMD")
check "user_set_password: the agent is sent a yescrypt hash" grep -q '^\$y\$' <<<"$HASH"
report "$(jq -r .id <<<"$CMD")" '{"state": "succeeded", "output": {}}' >/dev/null
finish
check "... completed, and the vault holds the new version with the previous kept" \
  test "$(sql -c "SELECT count(*) FROM nexplane.credential_versions WHERE credential_id = '$CRED' AND status = 'previous'")/$(eng_state "$CR")" = 1/completed
# libxcrypt (through Python's crypt) reads the hash; it is not the old password's
hash_of() { python3 -W ignore -c 'import crypt, sys; print(crypt.crypt(sys.argv[1], sys.argv[2]) == sys.argv[2])' "$1" "$2"; }
check "... a well-formed yescrypt hash (libxcrypt takes it as a salt)" \
  bash -c "python3 -W ignore -c 'import crypt, sys; sys.exit(0 if crypt.crypt(\"x\", sys.argv[1]).startswith(\"\$y\$\") else 1)' '$HASH'"
check "... and not of the old password" test "$(hash_of "$OLDPW" "$HASH")" = False
check "no password in any result, evidence, audit event or the server log" eng_no_secrets "$OLDPW"
# (after that check: this statement's text holds the old password)
check "... the vault no longer holds the old password as current" \
  test "$(sql -c "SELECT nexplane_test.vault_verify('$CRED', '{\"username\": \"carol\", \"password\": \"$OLDPW\"}')")" = f

# ---------- a change whose agent never takes the command ----------
# (the worker gives up after the command's timeout + grace; here: revoke)
start service_restart '{"unit": "nginx.service"}'
for i in $(seq 1 50); do
  [ -n "$(sql -c "SELECT id FROM nexplane.agent_commands WHERE command = 'service.restart'")" ] && break
  sleep 0.2
done
eng_as "$ENG_ADMIN" "SELECT nexplane.agent_revoke('$AGENT')->>'status'" >/dev/null
finish
check "revoking the agent cancels its queued command and fails the change" state_like "$CR" "^failed: .*cancelled"
check "... and the agent is refused from then on (NX403)" \
  bash -c "psql -X -q -tA -U nexplane_api -d postgres -c \"SELECT nexplane.agent_poll('$FP')\" 2>&1 | grep -q 'agent not allowed'"
