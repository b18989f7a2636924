#!/usr/bin/env bash
# GET /v1/events: a state change reaches the stream of its tenant and no
# other; Last-Event-ID resumes with exactly what was missed; bad resumes
# and missing tokens are refused; a stream whose session ends says so.
. "$(dirname "$0")/api_lib.sh"
api_setup
api_start --sse-heartbeat 1

ADMIN=$(login admin@acme.test acme-admin-pass-1)
OTHER=$(login admin@other.test other-admin-pass-1)
TOKEN=$ADMIN
conn=10000000-0000-0000-0000-00000000000a
cr_body="{\"connector_id\": \"$conn\", \"change_type\": \"create_role\", \"params\": {\"role\": \"app\"}, \"title\": \"sse\"}"

stream() { # token output-file seconds [curl options]: a stream in the background
  local token=$1 out=$2 secs=$3
  shift 3
  curl -s -N --max-time "$secs" --cacert "$E2E_DIR/tls/ca.crt" \
    -H "Authorization: Bearer $token" "$@" "$API/v1/events" >"$out" 2>/dev/null &
  streams+=($!)
}
wait_streams() { wait "${streams[@]}"; streams=(); }
streams=()
wait_for() { # file pattern: up to 5 s
  for _ in $(seq 1 50); do grep -q "$2" "$1" 2>/dev/null && return 0; sleep 0.1; done
  return 1
}

# Another session LISTENs on the channel, as any session may.
psql -X -d postgres -c "LISTEN nexplane_events" -c "SELECT pg_sleep(3)" -c "SELECT 1" \
  >"$E2E_DIR/listener" 2>&1 &
listener=$!
stream "$ADMIN" "$E2E_DIR/s1" 6
stream "$OTHER" "$E2E_DIR/s_other" 6
wait_for "$E2E_DIR/s1" '^retry:'
wait_for "$E2E_DIR/s_other" '^retry:'
call POST /v1/change-requests "$cr_body"
cr=$(field .id)
call POST "/v1/change-requests/$cr/submit"
check "the stream delivers the creation" wait_for "$E2E_DIR/s1" '"action":"create"'
check "the stream delivers the submission" wait_for "$E2E_DIR/s1" '"action":"submit"'
check "events carry ids and a type" bash -c "grep -q '^id: [0-9]' '$E2E_DIR/s1' && grep -q '^event: change_request' '$E2E_DIR/s1'"
check "heartbeats keep the stream alive" wait_for "$E2E_DIR/s1" '^:$'
check "another tenant's stream sees none of it" bash -c "! grep -q '$cr' '$E2E_DIR/s_other'"
wait "$listener"
check "a listener hears a cue for each commit" grep -q 'Asynchronous notification "nexplane_events" received' "$E2E_DIR/listener"
check "... and nothing else: no tenant, no count" bash -c "! grep -q 'with payload' '$E2E_DIR/listener'"
# A forged cue, as any session may send: a recheck, nothing more.
for i in $(seq 20); do psql -X -q -d postgres -c "NOTIFY nexplane_events, 'forged $i 999999'"; done
call GET /v1/auth/me
check "forged notifications leave the shim serving" test "$STATUS" = 200
first=$(grep -m1 '^id:' "$E2E_DIR/s1" | cut -d' ' -f2)
wait_streams

# Events while nobody listens, then a resume from the first id seen.
call POST "/v1/change-requests/$cr/cancel" '{"reason": "missed while away"}'
stream "$ADMIN" "$E2E_DIR/s2" 3 -H "Last-Event-ID: $first"
wait_streams
check "a resume sends what came after Last-Event-ID" grep -q '"action":"cancel"' "$E2E_DIR/s2"
check "a resume does not repeat the event it resumed from" bash -c "! grep -q '^id: $first\$' '$E2E_DIR/s2'"
check "a resume keeps the order (ids ascending)" bash -c \
  "grep '^id:' '$E2E_DIR/s2' | cut -d' ' -f2 | sort -nc"
stream "$ADMIN" "$E2E_DIR/s3" 2
wait_streams
check "a new stream without Last-Event-ID starts from now" bash -c "! grep -q '^id:' '$E2E_DIR/s3'"

call GET /v1/events '' -H 'Last-Event-ID: -5'
check "400 for a malformed Last-Event-ID" test "$STATUS" = 400
TOKEN= call GET /v1/events
check "401 for a stream without a token" test "$STATUS" = 401
TOKEN=bad call GET /v1/events
check "401 for a stream with a bad token" test "$STATUS" = 401

# The session ends (logout) while streaming: the next event says so and
# the stream closes, so the client logs in again.
S=$(login admin@acme.test acme-admin-pass-1)
stream "$S" "$E2E_DIR/s4" 6
wait_for "$E2E_DIR/s4" '^retry:'
TOKEN=$S call POST /v1/auth/logout
call POST /v1/change-requests "$cr_body"
check "a stream whose session ended gets an error event" wait_for "$E2E_DIR/s4" '^event: error'
wait_streams

# SIGTERM with only streams open: each is told before the process goes.
for i in 1 2 3; do stream "$ADMIN" "$E2E_DIR/last$i" 10; done
for i in 1 2 3; do wait_for "$E2E_DIR/last$i" '^retry:'; done
api_stop
wait_streams
check "every open stream gets the shutdown event" \
  test "$(cat "$E2E_DIR"/last[123] | grep -c '^event: shutdown')" = 3

api_sanitizer_check
