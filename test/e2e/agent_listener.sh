#!/usr/bin/env bash
# The shim's agent listener (--agent-listen), end to end: the real shim
# (ASan + UBSan build), a real cluster, and curl as the agent, with keys,
# CSRs and a foreign CA made by openssl.  An agent fetches the CA and
# checks its pin, enrolls, long-polls and is woken by agent_command_create,
# reports, heartbeats and renews; a revocation and a clone lock end its
# held poll with 403.  Refused: no client certificate (401), one from
# another CA (401), a body over 64 kB (413), a bad wait (400), enrollment
# past its rate (429).  Only the agent routes exist there, and none of
# them on the main listener.  The listener's certificate is renewed while
# it serves.  SIGTERM answers a held poll at once.  No sanitizer report.
. "$(dirname "$0")/api_lib.sh"
api_setup
AGENT_PORT=$(nx_free_port 19443)
AGENT="https://127.0.0.1:$AGENT_PORT"
# the listener's certificate is renewed every 10 s, so this run sees a
# renewal; the I/O and request timeouts are short, and a held poll outlives them
api_start --agent-listen "127.0.0.1:$AGENT_PORT" --agent-cert-refresh 10 --timeout 3 --header-timeout 3
A=$E2E_DIR/agent
mkdir -p "$A"

# acall METHOD PATH [BODY] [curl options...]: call the agent listener,
# verifying it against the agent CA once $A/ca.pem exists, with the client
# certificate $CERT and key $KEY when set.  Sets STATUS and BODY.
acall() {
  local method=$1 path=$2 body=${3:-}
  shift 3 2>/dev/null || shift $#
  local args=(-s -X "$method" -o "$A/body" -D "$A/headers" -w '%{http_code}' --max-time 40)
  if [ -f "$A/ca.pem" ]; then args+=(--cacert "$A/ca.pem"); else args+=(-k); fi
  [ -n "${CERT:-}" ] && args+=(--cert "$CERT" --key "$KEY")
  [ -n "$body" ] && args+=(-H "Content-Type: application/json" --data-binary "$body")
  STATUS=$(curl "${args[@]}" "$@" "$AGENT$path")
  BODY=$(cat "$A/body")
}
# poll_bg NAME WAIT: a long poll in the background with $CERT; its status,
# body and the time it ended land in $A/NAME.{status,body,end}
poll_bg() {
  local name=$1 wait=$2
  ( s=$(curl -s --max-time 40 --cacert "$A/ca.pem" --cert "$CERT" --key "$KEY" -o "$A/$1.body" -w '%{http_code}' \
        "$AGENT/v1/agent/commands?wait=$wait")
    date +%s%N >"$A/$name.end"; echo "$s" >"$A/$name.status" ) &
  POLL_PID=$!
}
ms_since() { echo $(( ($(cat "$1") - $2) / 1000000 )); }
keypair() { # NAME: NAME.key (EC P-256) and NAME.csr
  openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$A/$1.key" 2>/dev/null &&
    openssl req -new -key "$A/$1.key" -subj "/CN=$1" -out "$A/$1.csr" 2>/dev/null
}
json_of() { jq -Rs . <"$1"; } # a file as a JSON string
fp_of() { openssl x509 -in "$1" -outform DER | sha256sum | cut -c1-64; }

for _ in $(seq 1 100); do
  acall GET /v1/agent/ca '' --max-time 1
  [ "$STATUS" = 200 ] && break
  sleep 0.1
done
[ "$STATUS" = 200 ] || tail -n 3 "$E2E_DIR/api.err"
check "the agent listener starts once the database has issued its certificate" test "$STATUS" = 200

# trust: the CA and its pin, then the listener verified against it
jq -r .ca_pem <<<"$BODY" >"$A/ca.pem"
pin=$(jq -r .ca_pin <<<"$BODY")
check "GET /v1/agent/ca: the pin is sha256: of the CA's public key" \
  test "$pin" = "sha256:$(openssl x509 -in "$A/ca.pem" -pubkey -noout | openssl pkey -pubin -outform DER | sha256sum | cut -c1-64)"
acall GET /v1/agent/ca
check "the listener's certificate verifies against the agent CA, for 127.0.0.1" test "$STATUS" = 200
check "... and not against the main listener's CA" \
  bash -c '! curl -s -o /dev/null --cacert "$0" "$1/v1/agent/ca"' "$E2E_DIR/tls/ca.crt" "$AGENT"
serial0=$(openssl s_client -connect "127.0.0.1:$AGENT_PORT" </dev/null 2>/dev/null | openssl x509 -noout -serial)

# enrollment, through the main listener's admin route and the agent's
TOKEN=$(login admin@acme.test acme-admin-pass-1)
ADMIN=$TOKEN
call POST /v1/agents/enrollment-tokens '{"ttl": "10 minutes"}'
check "POST /v1/agents/enrollment-tokens (main listener): 201, a token and the same CA pin" \
  test "$STATUS:$(field '.token | startswith("nxe_")'):$(field .ca_pin)" = "201:true:$pin"
tok=$(field .token)
keypair a1
acall POST /v1/agents/enroll "{\"token\": \"$tok\", \"csr_pem\": $(json_of "$A/a1.csr"), \"facts\": {\"hostname\": \"host-a\"}}"
check "POST /v1/agents/enroll without a client certificate: 201 and a certificate" \
  test "$STATUS:$(jq -r '.generation' <<<"$BODY")" = 201:1
AID=$(jq -r .agent_id <<<"$BODY")
jq -r .certificate_pem <<<"$BODY" >"$A/a1.crt"
acall POST /v1/agents/enroll "{\"token\": \"$tok\", \"csr_pem\": $(json_of "$A/a1.csr")}"
check "the token works once: 401 the second time" test "$STATUS" = 401
CERT=$A/a1.crt KEY=$A/a1.key

# the long poll
CERT=$A/a1.crt KEY=$A/a1.key acall GET '/v1/agent/commands?wait=0'
check "GET /v1/agent/commands?wait=0: the empty answer at once" \
  test "$STATUS:$BODY" = '200:{"commands":[],"confirm":[]}'
call GET "/v1/agents/$AID"
check "the database saw the certificate's fingerprint (SHA-256 of its DER)" \
  test "$(field .cert_fingerprint):$(field .status)" = "$(fp_of "$A/a1.crt"):online"
CERT=$A/a1.crt KEY=$A/a1.key
t0=$(date +%s%N)
CERT=$A/a1.crt KEY=$A/a1.key acall GET '/v1/agent/commands?wait=1'
check "an empty poll with wait=1 is held for its wait, then answered empty ($(( ($(date +%s%N) - t0) / 1000000 )) ms)" \
  test "$STATUS:$BODY:$(( ($(date +%s%N) - t0) >= 1000000000 ))" = '200:{"commands":[],"confirm":[]}:1'
t0=$(date +%s%N)
CERT=$A/a1.crt KEY=$A/a1.key acall GET '/v1/agent/commands?wait=5'
check "a poll held 5 s outlives --timeout 3 and --header-timeout 3 ($(( ($(date +%s%N) - t0) / 1000000 )) ms)" \
  test "$STATUS:$BODY:$(( ($(date +%s%N) - t0) >= 5000000000 ))" = '200:{"commands":[],"confirm":[]}:1'
poll_bg p1 25
sleep 1
check "a poll with nothing to do is held" kill -0 "$POLL_PID"
t1=$(date +%s%N)
call POST /v1/agent-commands "{\"agent_id\": \"$AID\", \"command\": \"service.status\", \"params\": {\"unit\": \"ssh.service\"}}"
check "POST /v1/agent-commands (main listener): 201, queued" test "$STATUS:$(field .state)" = 201:queued
cid=$(field .id)
wait "$POLL_PID"
woke=$(ms_since "$A/p1.end" "$t1")
echo "# from the POST that queues the command to the held poll's answer: $woke ms"
check "the held poll is woken by the command and brings it, long before its wait ($woke ms)" \
  test "$(cat "$A/p1.status"):$(jq -r '.commands[0].id' "$A/p1.body"):$(jq -r '.commands[0].command' "$A/p1.body"):$((woke < 5000))" = "200:$cid:service.status:1"
check "... as docs/agent.md shows it (id, command, params, timeout_s, confirm_within_s; no agent_id)" \
  test "$(jq -c '.commands[0] | keys' "$A/p1.body"):$(jq -c 'keys' "$A/p1.body")" = '["command","confirm_within_s","id","params","timeout_s"]:["commands","confirm"]'
call GET "/v1/agent-commands/$cid"
check "GET /v1/agent-commands/{id}: sent" test "$STATUS:$(field .state)" = 200:sent

# reports, heartbeat
acall POST "/v1/agent/commands/$cid/result" '{"state": "running", "progress": 10}'
check "POST /v1/agent/commands/{id}/result: running" test "$STATUS:$(jq -r .ok <<<"$BODY")" = 200:true
acall POST "/v1/agent/commands/$cid/result" '{"state": "succeeded", "output": {"ActiveState": "active"}}'
check "... succeeded" test "$STATUS" = 200
call GET "/v1/agent-commands/$cid"
check "GET /v1/agent-commands/{id}: succeeded, with its output" \
  test "$(field .state):$(field .result.ActiveState)" = succeeded:active
acall POST "/v1/agent/commands/$cid/result" '{"state": "running"}'
check "a report for a finished command: 409 (the database's status)" test "$STATUS" = 409
acall POST "/v1/agent/commands/$cid/result" '{"state": "exploded"}'
check "an unknown report state: 422" test "$STATUS" = 422
acall POST "/v1/agent/commands/not-a-uuid/result" '{"state": "running"}'
check "a command id that is not a uuid: 400 before the database" test "$STATUS" = 400
acall POST /v1/agent/heartbeat '{"facts": {"hostname": "host-a", "kernel": "6.1"}}'
check "POST /v1/agent/heartbeat: ok" test "$STATUS:$(jq -r .ok <<<"$BODY")" = 200:true
acall POST /v1/agent/heartbeat '{"facts": {}, "extra": 1}'
check "an unknown body field: 400 before the database" test "$STATUS" = 400
call GET "/v1/agents/$AID"
check "the heartbeat's facts are on the agent" test "$(field .facts.kernel)" = 6.1

# renewal: a new key, generation 2; the new certificate works
keypair a2
acall POST /v1/agent/renew "{\"csr_pem\": $(json_of "$A/a2.csr"), \"generation\": 1}"
check "POST /v1/agent/renew: generation 2" test "$STATUS:$(jq -r .generation <<<"$BODY")" = 200:2
jq -r .certificate_pem <<<"$BODY" >"$A/a2.crt"
CERT=$A/a2.crt KEY=$A/a2.key
acall GET '/v1/agent/commands?wait=0'
check "the renewed certificate polls" test "$STATUS" = 200

# revocation ends the held poll with 403
poll_bg p2 25
sleep 1
check "a second poll is held" kill -0 "$POLL_PID"
t2=$(date +%s%N)
call POST "/v1/agents/$AID/revoke"
check "POST /v1/agents/{id}/revoke (main listener)" test "$STATUS:$(field .status)" = 200:revoked
wait "$POLL_PID"
ended=$(ms_since "$A/p2.end" "$t2")
echo "# from the POST that revokes to the held poll's 403: $ended ms"
check "the revocation ends the held poll with 403, long before its wait ($ended ms)" \
  test "$(cat "$A/p2.status"):$(jq -r .error.code "$A/p2.body"):$((ended < 5000))" = 403:NX403:1
for r in "GET /v1/agent/commands?wait=0" "POST /v1/agent/heartbeat {\"facts\":{}}"; do
  read -r m p b <<<"$r"
  acall "$m" "$p" "$b"
  check "a revoked agent: 403 for $m ${p%%\?*}" test "$STATUS" = 403
done
TOKEN=$ADMIN call POST /v1/agents/enrollment-tokens '{}'
acall POST /v1/agents/enroll "{\"token\": \"$(field .token)\", \"csr_pem\": $(json_of "$A/a2.csr")}"
check "a revoked agent's key cannot enroll again: 409" test "$STATUS" = 409

# a clone: the old certificate used after the renewed one locks the agent,
# and the lock ends the renewed one's held poll
call POST /v1/agents/enrollment-tokens '{}'
keypair b1
CERT= acall POST /v1/agents/enroll "{\"token\": \"$(field .token)\", \"csr_pem\": $(json_of "$A/b1.csr"), \"facts\": {\"hostname\": \"host-b\"}}"
BID=$(jq -r .agent_id <<<"$BODY")
jq -r .certificate_pem <<<"$BODY" >"$A/b1.crt"
keypair b2
CERT=$A/b1.crt KEY=$A/b1.key acall POST /v1/agent/renew "{\"csr_pem\": $(json_of "$A/b2.csr"), \"generation\": 1}"
jq -r .certificate_pem <<<"$BODY" >"$A/b2.crt"
CERT=$A/b2.crt KEY=$A/b2.key acall GET '/v1/agent/commands?wait=0'
check "a second agent enrolls, renews and polls with its new certificate" test "$STATUS" = 200
CERT=$A/b2.crt KEY=$A/b2.key poll_bg p3 25
sleep 1
t3=$(date +%s%N)
CERT=$A/b1.crt KEY=$A/b1.key acall POST /v1/agent/heartbeat '{"facts": {}}'
check "its previous certificate, used after the new one: 403 (a clone)" \
  test "$STATUS:$(jq -r .error.code <<<"$BODY")" = 403:NX403
wait "$POLL_PID"
check "the lock ends the new certificate's held poll with 403 ($(ms_since "$A/p3.end" "$t3") ms)" \
  test "$(cat "$A/p3.status"):$(( $(ms_since "$A/p3.end" "$t3") < 5000 ))" = 403:1
call GET "/v1/agents/$BID"
check "the agent is locked" test "$(field .status)" = locked

# refusals of the listener itself
call POST /v1/agents/enrollment-tokens '{}'
keypair c1
CERT= acall POST /v1/agents/enroll "{\"token\": \"$(field .token)\", \"csr_pem\": $(json_of "$A/c1.csr")}"
jq -r .certificate_pem <<<"$BODY" >"$A/c1.crt"
CID=$(jq -r .agent_id <<<"$BODY")
CERT=$A/c1.crt KEY=$A/c1.key
check "a third agent enrolls (no facts: the default)" test "$STATUS" = 201
x=00000000-0000-0000-0000-000000000001
for r in "GET /v1/agent/commands" "POST /v1/agent/heartbeat {\"facts\":{}}" \
         "POST /v1/agent/renew {\"csr_pem\":\"x\",\"generation\":1}" "POST /v1/agent/commands/$x/result {\"state\":\"running\"}"; do
  read -r m p b <<<"$r"
  CERT= acall "$m" "$p" "$b"
  idp="{id}"
  check "no client certificate: 401 for $m ${p/$x/$idp}" test "$STATUS:$(jq -r .error.status <<<"$BODY")" = 401:401
done
# a CA of our own, and an agent certificate from it that says all the right things
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 30 -subj "/CN=rogue CA" \
  -keyout "$A/rogue-ca.key" -out "$A/rogue-ca.crt" -addext "basicConstraints=critical,CA:TRUE" \
  -addext "keyUsage=critical,keyCertSign" >/dev/null 2>&1
keypair rogue
openssl x509 -req -in "$A/rogue.csr" -CA "$A/rogue-ca.crt" -CAkey "$A/rogue-ca.key" -days 30 \
  -set_serial 7 -out "$A/rogue.crt" -subj "/CN=$CID" \
  -extfile <(printf '%s\n' "extendedKeyUsage=clientAuth" "keyUsage=critical,digitalSignature") >/dev/null 2>&1
for r in "GET /v1/agent/commands?wait=0" "POST /v1/agent/heartbeat {\"facts\":{}}"; do
  read -r m p b <<<"$r"
  CERT=$A/rogue.crt KEY=$A/rogue.key acall "$m" "$p" "$b"
  check "a certificate from another CA: 401 for $m ${p%%\?*}" test "$STATUS" = 401
done
# the agent's own key in a self-signed certificate with its CN
openssl req -x509 -key "$A/c1.key" -subj "/CN=$CID" -days 30 -out "$A/self.crt" 2>/dev/null
CERT=$A/self.crt KEY=$A/c1.key acall GET '/v1/agent/commands?wait=0'
check "a self-signed certificate of the agent's own key: 401" test "$STATUS" = 401
head -c 70000 /dev/zero | tr '\0' a >"$A/big"
acall POST /v1/agent/heartbeat "{\"facts\": {\"x\": \"$(cat "$A/big")\"}}"
check "a body over 64 kB: 413, in the shim's error shape" \
  test "$STATUS:$(jq -r .error.status <<<"$BODY")" = 413:413
TOKEN=$ADMIN call POST /v1/agent-commands "{\"agent_id\": \"$CID\", \"command\": \"facts.collect\"}"
ccid=$(field .id)
acall GET '/v1/agent/commands?wait=90'
check "wait above 30 is taken (as 30): the queued command comes at once" \
  test "$STATUS:$(jq -r '.commands[0].id' <<<"$BODY")" = "200:$ccid"
acall POST "/v1/agent/commands/$ccid/result" "{\"state\": \"succeeded\", \"output\": {\"x\": \"$(head -c 40000 "$A/big")\"}}"
check "a report under 64 kB with output over 32 kB: refused by the database (got $STATUS)" \
  test "$STATUS" = 413 -o "$STATUS" = 422
acall POST "/v1/agent/commands/$ccid/result" '{"state": "succeeded", "output": {"hostname": "host-c"}}'
check "... and the same report with a small output is taken" test "$STATUS" = 200
for q in "wait=abc" "wait=-1" "wait=1&wait=2" "when=5"; do
  acall GET "/v1/agent/commands?$q"
  check "GET /v1/agent/commands?$q: 400" test "$STATUS" = 400
done
for p in /v1/auth/me /health /v1/openapi.json /v1/agents /v1/agent /v1/agent/commands/x; do
  acall GET "$p"
  check "only agent routes on the agent listener: GET $p is 404" test "$STATUS" = 404
done
acall DELETE /v1/agent/ca
check "a method an agent route does not take: 405 with Allow: GET" \
  test "$STATUS:$(grep -i '^allow:' "$A/headers" | tr -d '\r')" = "405:Allow: GET"
# the main listener has none of the agent routes
TOKEN=
for r in "GET /v1/agent/ca" "GET /v1/agent/commands" "POST /v1/agent/heartbeat" "POST /v1/agent/renew" \
         "POST /v1/agent/commands/$x/result"; do
  call ${r% *} "${r#* }"
  check "the main listener has no $r: 404" test "$STATUS" = 404
done
call POST /v1/agents/enroll '{}'
check "the main listener does not enroll: POST /v1/agents/enroll is no route there (got $STATUS)" \
  test "$STATUS" = 405

# flags: refused before anything starts, and a busy address stops the shim
check "--agent-name without --agent-listen: refused (exit 2)" \
  bash -c '"$0" --tls-cert x --tls-key y --agent-name a.example >/dev/null 2>&1; test $? = 2' "$API_BIN"
check "--agent-listen on the main listener's address: refused (exit 2)" \
  bash -c '"$0" --tls-cert x --tls-key y --listen 127.0.0.1:9 --agent-listen 127.0.0.1:9 >/dev/null 2>&1; test $? = 2' "$API_BIN"
"$API_BIN" --listen "127.0.0.1:$(nx_free_port 19600)" --tls-cert "$E2E_DIR/tls/server.crt" \
  --tls-key "$E2E_DIR/tls/server.key" --agent-listen "127.0.0.1:$AGENT_PORT" \
  --db "host=$PGHOST port=$PGPORT dbname=postgres user=nexplane_api" >/dev/null 2>"$A/busy.err"
check "an agent address in use: the shim does not start, and says why" \
  bash -c 'test $0 != 0 && grep -q "cannot listen for agents" "$1"' "$?" "$A/busy.err"

# an IPv6 address and a DNS name, certified as named by --agent-name
P6=$(nx_free_port 19700)
"$API_BIN" --listen "127.0.0.1:$(nx_free_port $((P6 + 1)))" --tls-cert "$E2E_DIR/tls/server.crt" \
  --tls-key "$E2E_DIR/tls/server.key" --agent-listen "[::1]:$P6" --agent-name "agents.test,::1" \
  --db "host=$PGHOST port=$PGPORT dbname=postgres user=nexplane_api" >/dev/null 2>"$A/v6.err" &
V6_PID=$!
for _ in $(seq 1 100); do
  curl -s -o /dev/null --max-time 1 --cacert "$A/ca.pem" "https://[::1]:$P6/v1/agent/ca" && break
  sleep 0.1
done
check "--agent-listen [::1]:PORT: the certificate names ::1" \
  curl -s -f -o /dev/null --max-time 5 --cacert "$A/ca.pem" "https://[::1]:$P6/v1/agent/ca"
check "... and the DNS name of --agent-name" \
  curl -s -f -o /dev/null --max-time 5 --cacert "$A/ca.pem" --resolve "agents.test:$P6:::1" \
  "https://agents.test:$P6/v1/agent/ca"
check "... and no other name" \
  bash -c '! curl -s -o /dev/null --max-time 5 --cacert "$0" --resolve "other.test:$1:::1" "https://other.test:$1/v1/agent/ca"' \
  "$A/ca.pem" "$P6"
kill -TERM "$V6_PID"
wait "$V6_PID"

# the listener's certificate was renewed while it served (every 10 s here)
for _ in $(seq 1 30); do
  serial1=$(openssl s_client -connect "127.0.0.1:$AGENT_PORT" </dev/null 2>/dev/null | openssl x509 -noout -serial)
  [ "$serial1" != "$serial0" ] && break
  sleep 1
done
check "the listener's certificate is renewed (a new key and serial)" test -n "$serial1" -a "$serial1" != "$serial0"
CERT=$A/c1.crt KEY=$A/c1.key acall GET '/v1/agent/commands?wait=0'
check "... and still verifies against the agent CA, with client certificates" test "$STATUS" = 200

# enrollment is rate-limited per client address (burst 5, 10 a minute)
n429=0
for _ in $(seq 1 8); do
  CERT= acall POST /v1/agents/enroll '{"token": "nxe_wrong", "csr_pem": "x"}'
  [ "$STATUS" = 429 ] && n429=$((n429 + 1))
done
check "enrollment attempts past the rate: 429 ($n429 of 8)" test "$n429" -gt 0

# the database restarts under a held poll: the poll stays held, the
# listening connection comes back, and a command still wakes it
CERT=$A/c1.crt KEY=$A/c1.key poll_bg p5 25
sleep 1
e2e_restart >/dev/null 2>&1
for _ in $(seq 1 100); do
  TOKEN= call GET /ready
  [ "$STATUS" = 200 ] && grep -q "LISTEN\|re-established" "$E2E_DIR/api.err" && break
  sleep 0.2
done
sleep 1   # the listening connection's back-off
check "the poll is still held after the database restarted" kill -0 "$POLL_PID"
ADMIN=$(login admin@acme.test acme-admin-pass-1)
t5=$(date +%s%N)
TOKEN=$ADMIN call POST /v1/agent-commands "{\"agent_id\": \"$CID\", \"command\": \"facts.collect\"}"
rcid=$(field .id)
wait "$POLL_PID"
check "... and is woken by a command queued after it ($(ms_since "$A/p5.end" "$t5") ms)" \
  test "$(cat "$A/p5.status"):$(jq -r '.commands[0].id' "$A/p5.body"):$(( $(ms_since "$A/p5.end" "$t5") < 5000 ))" = "200:$rcid:1"
CERT=$A/c1.crt KEY=$A/c1.key acall POST "/v1/agent/commands/$rcid/result" '{"state": "succeeded", "output": {}}'

# SIGTERM: the held poll is answered at once, empty
CERT=$A/c1.crt KEY=$A/c1.key poll_bg p4 25
sleep 1
t4=$(date +%s%N)
api_stop
wait "$POLL_PID"
check "SIGTERM answers a held poll at once with the empty answer ($(ms_since "$A/p4.end" "$t4") ms)" \
  test "$(cat "$A/p4.status"):$(cat "$A/p4.body"):$(( $(ms_since "$A/p4.end" "$t4") < 5000 ))" = '200:{"commands":[],"confirm":[]}:1'
check "the access log has a line per agent request, with the route" \
  bash -c 'jq -r "select(.route == \"/v1/agent/commands\") | .status" "$0" | grep -q 403' "$E2E_DIR/api.out"
check "no enrollment token or private key in the shim's logs" \
  bash -c '! grep -qE "nxe_[A-Za-z0-9_-]{20}|PRIVATE KEY" "$0"/api.out "$0"/api.err' "$E2E_DIR"

api_sanitizer_check
