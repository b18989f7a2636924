#!/usr/bin/env bash
# Slow clients (issue 15, finding 8): a client trickling header lines is cut
# off at --header-timeout however often it sends; connections past
# --max-connections are refused with 503 and Retry-After while an ordinary
# request succeeds once they go.  (HEAD, OPTIONS and libevent's own
# refusals: api_error_pages.sh.)  Loopback only; every loop is bounded.
. "$(dirname "$0")/api_lib.sh"
api_setup

# tls_hold SECONDS: a TLS connection to the shim that sends nothing
tls_hold() {
  timeout "$(( $1 + 5 ))" openssl s_client -quiet -connect "127.0.0.1:$API_PORT" \
    >/dev/null 2>&1 < <(sleep "$1")
}

# a trickle: a header line every second for 8 s, well inside --timeout 5
api_start --header-timeout 2 --timeout 5
t0=$(date +%s%N)
timeout 15 openssl s_client -quiet -connect "127.0.0.1:$API_PORT" >/dev/null 2>&1 \
  < <(printf 'GET /health HTTP/1.1\r\nHost: x\r\n'
      for i in 1 2 3 4 5 6 7 8; do sleep 1; printf 'X-Trickle-%d: y\r\n' "$i"; done
      sleep 2)
held=$(( ($(date +%s%N) - t0) / 1000000 ))
check "a client trickling header lines is cut off at the deadline (held ${held} ms of 10000)" \
  test "$held" -ge 1500 -a "$held" -lt 5000

# the deadline starts again after each answer: a kept-alive connection
# that trickles its second request is cut off too
t0=$(date +%s%N)
timeout 15 openssl s_client -quiet -connect "127.0.0.1:$API_PORT" >"$E2E_DIR/keepalive" 2>/dev/null \
  < <(printf 'GET /health HTTP/1.1\r\nHost: x\r\n\r\n'
      printf 'GET /health HTTP/1.1\r\nHost: x\r\n'
      for i in 1 2 3 4 5 6 7 8; do sleep 1; printf 'X-Trickle-%d: y\r\n' "$i"; done
      sleep 2)
held=$(( ($(date +%s%N) - t0) / 1000000 ))
check "the first request on the connection was answered" grep -q '"status":"ok"' "$E2E_DIR/keepalive"
check "a trickled second request is cut off too (held ${held} ms)" \
  test "$held" -ge 1500 -a "$held" -lt 5000

call GET /health
check "an ordinary request is served (a deadline of seconds is plenty)" test "$STATUS" = 200

# a flood past the cap: 4 idle connections fill --max-connections 4
api_stop
api_start --max-connections 4 --header-timeout 30
pids=()
for _ in 1 2 3 4; do tls_hold 3 & pids+=($!); done
for _ in $(seq 1 50); do   # until all four are open on the server side
  [ "$(ss -Htn state established "( sport = :$API_PORT )" | wc -l)" -ge 4 ] && break
  sleep 0.1
done
call GET /health
check "past --max-connections a request gets 503 ($STATUS)" test "$STATUS" = 503
check "... with Retry-After" grep -qi '^Retry-After: 1' <<<"$HEADERS"
check "... and Connection: close" grep -qi '^Connection: close' <<<"$HEADERS"
check "... in the shim's JSON shape with its request id" \
  test "$(field .error.request_id)" = "$(grep -i '^X-Request-Id:' <<<"$HEADERS" | tr -d '\r' | cut -d' ' -f2)"
wait "${pids[@]}" 2>/dev/null   # they hang up after 3 s
status=0
for _ in $(seq 1 50); do   # the server sees them go
  call GET /health; status=$STATUS
  [ "$status" = 200 ] && break
  sleep 0.1
done
check "once they go, an ordinary request succeeds ($status)" test "$status" = 200

check "the file limit was raised to the hard limit" \
  test "$(awk '/Max open files/ {print $4}' /proc/"$API_PID"/limits)" = "$(ulimit -Hn)"

api_sanitizer_check
