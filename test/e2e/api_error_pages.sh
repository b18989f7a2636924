#!/usr/bin/env bash
# Every answer is the shim's (issue 15, finding 8): what libevent refuses by
# itself -- a malformed request line or header, headers over --max-headers,
# a body over --max-body, a corrupt chunked body, an unknown Expect, an
# unknown method -- goes out as the shim's JSON error with the security
# headers, a request id (also in the body and the access log) and
# Connection: close, not as libevent's HTML page.  HEAD is GET without the
# body, OPTIONS gets 204 with Allow, TRACE and CONNECT the shim's errors.
# Sent with curl and as raw bytes over TLS (openssl s_client).
. "$(dirname "$0")/api_lib.sh"
api_setup
api_start --max-body 65536 --max-headers 8192

# raw: stdin goes to the shim over TLS as is; the answers land in $E2E_DIR/raw
raw() {
  timeout 20 openssl s_client -quiet -connect "127.0.0.1:$API_PORT" >"$E2E_DIR/raw" 2>/dev/null
  cat "$E2E_DIR/raw" >>"$E2E_DIR/raw.all"
}

# last_answer: STATUS, HEADERS and BODY of the last answer in $E2E_DIR/raw
last_answer() {
  awk '/^HTTP\/1\.[01] [0-9][0-9][0-9] / { n = "" } { n = n $0 "\n" } END { printf "%s", n }' \
    "$E2E_DIR/raw" >"$E2E_DIR/last"
  STATUS=$(head -n 1 "$E2E_DIR/last" | cut -d' ' -f2)
  HEADERS=$(sed -n '1,/^\r$/p' "$E2E_DIR/last" | tr -d '\r')
  BODY=$(sed -n '/^\r$/,$p' "$E2E_DIR/last" | sed 1d)
}

header() { grep -i "^$1:" <<<"$HEADERS" | head -n 1 | cut -d' ' -f2- | tr -d '\r'; }

# shim_shaped: the security headers, and a request id that the body repeats
shim_shaped() {
  test "$(header Strict-Transport-Security)" = max-age=31536000 &&
    test "$(header X-Content-Type-Options)" = nosniff &&
    test "$(header Cache-Control)" = no-store &&
    grep -qE '^[0-9a-f]{32}$|^[A-Za-z0-9._:-]{1,64}$' <<<"$(header X-Request-Id)"
}
json_error() { # status: a JSON error document with that status and the header's request id
  shim_shaped && test "$(header Content-Type)" = application/json &&
    test "$(jq -r .error.status <<<"$BODY")" = "$1" &&
    test "$(jq -r .error.request_id <<<"$BODY")" = "$(header X-Request-Id)" &&
    test "$(header Content-Length)" = "$(printf '%s\n' "$BODY" | wc -c)" &&
    ! grep -qi '<html' <<<"$BODY"
}
# curl writes the body file only when a body comes; with -I it holds the headers
no_body() { test ! -s "$E2E_DIR/body" || cmp -s "$E2E_DIR/body" "$E2E_DIR/headers"; }
shaped_no_body() { shim_shaped && no_body; }
refused() { # name status: libevent's refusal, in the shim's shape, closing the connection
  last_answer
  check "$1: $2 ($STATUS)" test "$STATUS" = "$2"
  check "$1: JSON error with HSTS, nosniff, no-store and a request id, no HTML" json_error "$2"
  check "$1: Connection: close" test "$(header Connection)" = close
  REFUSED_IDS+=("$(header X-Request-Id)")
}
REFUSED_IDS=()
big=$(head -c 9000 /dev/zero | tr '\0' a)

printf 'GARBAGE\r\n\r\n' | raw
refused "a malformed request line" 400
printf 'GET /health HTTP/7.1\r\nHost: x\r\n\r\n' | raw
refused "an unknown HTTP version" 400
printf 'GET /health HTTP/1.1\r\nHost: x\r\nNo colon here\r\n\r\n' | raw
refused "a header line without a colon" 400
printf 'GET /health HTTP/1.1\r\nHost: x\r\nX-Big: %s\r\n\r\n' "$big" | raw
refused "headers over --max-headers" 400
printf 'GET /health?%s HTTP/1.1\r\nHost: x\r\n\r\n' "$big" | raw
refused "a request line over --max-headers" 400
printf 'POST /v1/auth/login HTTP/1.1\r\nHost: x\r\nContent-Length: ten\r\n\r\n' | raw
refused "a malformed Content-Length" 400
{ printf 'POST /v1/auth/login HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 70000\r\n\r\n'
  head -c 70000 /dev/zero | tr '\0' ' '; } | raw
refused "a body over --max-body" 413
check "... the message names the limit" grep -q 'max-body (65536 bytes)' <<<"$BODY"
printf 'POST /v1/auth/login HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n' | raw
refused "a corrupt chunked body" 413
printf 'POST /v1/auth/login HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\nExpect: tea\r\n\r\n{}' | raw
refused "an Expect other than 100-continue" 417
printf 'BREW /health HTTP/1.1\r\nHost: x\r\n\r\n' | raw
refused "a method HTTP does not define" 501
printf 'GET /health HTTP/1.0\r\nNo colon here\r\n\r\n' | raw
refused "an HTTP/1.0 request with a bad header line" 400

# a refusal after an answer on a kept-alive connection: the first is intact
printf 'GET /health HTTP/1.1\r\nHost: x\r\n\r\nGARBAGE\r\n\r\n' | raw
first_intact() { test "$(grep -c '^HTTP/1.1 ' "$E2E_DIR/raw")" = 2 && grep -q '"status":"ok"' "$E2E_DIR/raw"; }
check "kept alive: the first answer is untouched" first_intact
refused "kept alive: the malformed second request" 400

# 100 Continue is libevent's too, and passes; the answer after it is the shim's
{ printf 'POST /v1/auth/login HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n'
  printf 'Content-Length: 2\r\nExpect: 100-continue\r\nConnection: close\r\n\r\n'
  sleep 1; printf '{}'; } | raw
check "100 Continue passes untouched" grep -qx $'HTTP/1.1 100 Continue\r' "$E2E_DIR/raw"
last_answer
check "... and the answer after it is the shim's 400" json_error 400

# the access log has a line for each refusal, under the id it answered with
sleep 0.2
missing=0
for id in "${REFUSED_IDS[@]}"; do
  grep -q "\"request_id\":\"$id\",\"method\":\"-\",\"path\":\"-\"" "$E2E_DIR/api.out" || missing=$((missing + 1))
done
check "every refusal has an access-log line under its request id (${#REFUSED_IDS[@]}, $missing missing)" \
  test "$missing" = 0 -a "${#REFUSED_IDS[@]}" -ge 12

# with curl: an oversized body and an oversized header
head -c 70000 /dev/zero | tr '\0' ' ' >"$E2E_DIR/big"
call POST /v1/auth/login '' --data-binary @"$E2E_DIR/big" -H 'Content-Type: application/json'
check "curl: a body over --max-body gets 413 ($STATUS)" test "$STATUS" = 413
check "curl: ... a JSON error with the security headers and request id" json_error 413
call GET /health '' -H "X-Big: $big"
check "curl: headers over --max-headers get 400 ($STATUS)" test "$STATUS" = 400
check "curl: ... a JSON error with the security headers and request id" json_error 400
call BREW /health
check "curl: a method HTTP does not define gets 501 ($STATUS)" test "$STATUS" = 501
check "curl: ... a JSON error with the security headers and request id" json_error 501

# HEAD: GET without the body
rm -f "$E2E_DIR/body"; call HEAD /health '' -I
check "HEAD of a GET route: 200 like GET ($STATUS)" test "$STATUS" = 200
check "... with the security headers and a request id, no body" shaped_no_body
check "... and GET's Content-Length" test "$(header Content-Length)" = 16
rm -f "$E2E_DIR/body"; call HEAD /v1/auth/me '' -I
check "HEAD of an authenticated GET route without a token: 401 ($STATUS), no body" \
  bash -c "test $STATUS = 401 && $(declare -f no_body); no_body"
TOKEN=$(login admin@acme.test acme-admin-pass-1)
rm -f "$E2E_DIR/body"; call HEAD /v1/auth/me '' -I
check "... with one: 200 ($STATUS), no body" bash -c "test $STATUS = 200 && $(declare -f no_body); no_body"
TOKEN=
rm -f "$E2E_DIR/body"; call HEAD /v1/auth/login '' -I
check "HEAD of a POST-only route: 405 ($STATUS) with Allow: POST, OPTIONS" \
  test "$STATUS" = 405 -a "$(header Allow)" = "POST, OPTIONS"
check "... with the security headers and a request id, no body" shaped_no_body
rm -f "$E2E_DIR/body"; call HEAD /v1/events '' -I
check "HEAD of the event stream: 405 with Allow: GET, OPTIONS ($STATUS)" \
  test "$STATUS" = 405 -a "$(header Allow)" = "GET, OPTIONS"
# HEAD answers carry no body: on one connection, three HEADs (200, 401,
# 405) and a GET are four answers, and the GET's body is the first
{ for p in /health /v1/auth/me /v1/auth/login; do printf 'HEAD %s HTTP/1.1\r\nHost: x\r\n\r\n' "$p"; done
  printf 'GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n'; } | raw
check "HEAD, HEAD, HEAD, GET on one connection: 200, 401, 405, 200" \
  test "$(grep -o '^HTTP/1.1 [0-9]*' "$E2E_DIR/raw" | cut -d' ' -f2 | tr '\n' ' ')" = "200 401 405 200 "
check "... and the only body is the GET's" test "$(grep -c '^{' "$E2E_DIR/raw")" = 1
last_answer
check "... answered in full" test "$STATUS" = 200 -a "$BODY" = '{"status":"ok"}'

# OPTIONS: 204 with Allow
rm -f "$E2E_DIR/body"; call OPTIONS /v1/change-requests
check "OPTIONS on a route: 204 ($STATUS)" test "$STATUS" = 204
check "... with Allow: GET, POST, HEAD, OPTIONS" test "$(header Allow)" = "GET, POST, HEAD, OPTIONS"
check "... with the security headers and a request id, no body" shaped_no_body
call OPTIONS /v1/nothing-here
check "OPTIONS on an unknown path: 404 JSON error" json_error 404

# TRACE and CONNECT: the shim's errors
call TRACE /health
check "TRACE on a route: 405 ($STATUS) with Allow: GET, HEAD, OPTIONS" \
  test "$STATUS" = 405 -a "$(header Allow)" = "GET, HEAD, OPTIONS"
check "... a JSON error with the security headers and request id" json_error 405
printf 'CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\nConnection: close\r\n\r\n' | raw
last_answer
check "CONNECT: 400 ($STATUS), a JSON error with the security headers and request id" json_error 400

check "no raw answer at all was libevent's HTML" bash -c "! grep -qi '<html' '$E2E_DIR/raw.all'"
api_sanitizer_check
