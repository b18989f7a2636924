#!/usr/bin/env bash
# SIGTERM drains: requests in flight finish with their answers, new
# connections are refused, open streams are told, and the process exits 0.
# Before that: requests waiting in the database do not block the others.
. "$(dirname "$0")/api_lib.sh"
api_setup
api_start --sse-heartbeat 1 --drain-timeout 25 --pool-size 4 --queue-max 20

TOKEN=$(login admin@acme.test acme-admin-pass-1)
call POST /v1/change-requests '{"connector_id": "10000000-0000-0000-0000-00000000000a",
  "change_type": "create_role", "params": {"role": "app"}, "title": "slow"}'
cr=$(field .id)

# A load whose clients vanish mid-answer when wrk stops (and which overflows
# the wait queue): nothing of it may stay counted as in flight, or the
# drain below would wait for its timeout.
wrk -t2 -c60 -d2s -H "Authorization: Bearer $TOKEN" "$API/v1/change-requests/$cr" >"$E2E_DIR/wrk" 2>&1
check "under overload the shim answers (200s, and 503s past --queue-max)" \
  grep -q 'Requests/sec' "$E2E_DIR/wrk"

# Hold the change request's row so that the requests below wait inside the
# database, in flight, when SIGTERM arrives.
psql -X -q -d postgres -c "BEGIN" \
  -c "SELECT 1 FROM nexplane.change_requests WHERE id = '$cr' FOR UPDATE" \
  -c "SELECT pg_sleep(3)" -c "COMMIT" >/dev/null 2>&1 &
holder=$!
sleep 0.5
clients=()
for i in 1 2 3; do
  curl -s -o "$E2E_DIR/inflight$i" -w '%{http_code}' --cacert "$E2E_DIR/tls/ca.crt" \
    -H "Authorization: Bearer $TOKEN" -X POST "$API/v1/change-requests/$cr/cancel" \
    >"$E2E_DIR/code$i" &
  clients+=($!)
done
curl -s -N --max-time 10 --cacert "$E2E_DIR/tls/ca.crt" -H "Authorization: Bearer $TOKEN" \
  "$API/v1/events" >"$E2E_DIR/stream" &
clients+=($!)
sleep 1
check "three requests are waiting in the database" \
  test "$(sql -c "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'nexplane-api' AND wait_event_type = 'Lock'")" -ge 1
t0=$(date +%s%N)
call GET /v1/auth/me
took=$(( ($(date +%s%N) - t0) / 1000000 ))
check "requests stuck in the database hold up no other (answered in ${took} ms)" \
  test "$STATUS" = 200 -a "$took" -lt 1000
kill -TERM "$API_PID"
t_term=$(date +%s)
sleep 0.3
curl -s -o /dev/null --max-time 2 --cacert "$E2E_DIR/tls/ca.crt" "$API/health"
check "new connections are refused while draining" test $? -eq 7
check "the shim is still running, draining" kill -0 "$API_PID"
wait "$holder"
wait "$API_PID"
rc=$?
drained=$(( $(date +%s) - t_term ))
API_PID=
wait "${clients[@]}"
codes="$(cat "$E2E_DIR/code1") $(cat "$E2E_DIR/code2") $(cat "$E2E_DIR/code3")"
check "no in-flight request was lost (one cancels, two find it cancelled: $codes)" \
  test "$(tr ' ' '\n' <<<"$codes" | sort | tr '\n' ' ')" = "200 409 409 "
check "the shim exits 0 after draining" test "$rc" = 0
check "the drain ended with the last answer, not at its timeout (${drained} s)" test "$drained" -lt 10
check "open streams are told before the end" grep -q '^event: shutdown' "$E2E_DIR/stream"
check "the drain is logged" grep -q '"draining' "$E2E_DIR/api.err"

api_sanitizer_check
