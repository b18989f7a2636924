#!/usr/bin/env bash
# Bad input and refusals through nexplane-api: each gets the right status,
# one JSON error shape, and loses nothing; request ids reach the audit
# trail; the access log holds no token or password; a database outage is a
# 503 that heals by itself.
. "$(dirname "$0")/api_lib.sh"
api_setup
api_start --login-burst 3 --login-rate 6 --max-body 65536

ADMIN=$(login admin@acme.test acme-admin-pass-1)
VIEW=$(login view@acme.test acme-user-pass-1)
OTHER=$(login admin@other.test other-admin-pass-1)
TOKEN=$ADMIN
conn=10000000-0000-0000-0000-00000000000a
is_error() { # status: the answer has it, and the error shape
  test "$STATUS" = "$1" -a "$(field .error.status)" = "$1" -a "$(field '.error.message | length > 0')" = true
}

# 400: the shim's own checks, before any SQL
call POST /v1/change-requests '{"connector_id": '
check "400 on malformed JSON, saying where" bash -c "[ $STATUS = 400 ] && grep -q 'malformed JSON body at line 1' <<<'$BODY'"
call POST /v1/change-requests '[1, 2]'
check "400 when the body is not an object" is_error 400
call POST /v1/change-requests "{\"connector_id\": \"$conn\", \"change_type\": \"create_role\", \"params\": {\"role\": \"app\"}, \"title\": \"t\", \"titel\": \"x\"}"
check "400 on an unknown field (a typo is not ignored)" bash -c "[ $STATUS = 400 ] && grep -q titel <<<'$BODY'"
call POST /v1/change-requests '{"connector_id": "not-a-uuid", "change_type": "create_role", "params": {"role": "app"}, "title": "t"}'
check "400 on a malformed UUID field" is_error 400
call POST /v1/change-requests "{\"connector_id\": \"$conn\", \"change_type\": 7, \"params\": {}, \"title\": \"t\"}"
check "400 on a wrong JSON type" is_error 400
call POST /v1/change-requests "{\"connector_id\": \"$conn\", \"params\": {}, \"title\": \"t\"}"
check "400 when a required field is missing" bash -c "[ $STATUS = 400 ] && grep -q change_type <<<'$BODY'"
call POST /v1/users '{"email": "a@acme.test", "email": "b@acme.test", "password": "x", "role": "viewer"}'
check "400 on duplicate keys" is_error 400
call POST /v1/users '{"email": "nul@acme.test", "password": "pa\u0000ss-word-1", "role": "viewer"}'
check "400 on a NUL byte in a string" is_error 400
call GET "/v1/change-requests?state=draft&state=approved"
check "400 on a repeated query parameter" is_error 400
call GET "/v1/change-requests?colour=red"
check "400 from the database on an unknown filter key (NX400)" bash -c "[ $STATUS = 400 ] && grep -q NX400 <<<'$BODY'"
call GET "/v1/users?x=1"
check "400 on a query parameter a route does not take" is_error 400
call GET "/v1/change-requests/12345"
check "400 on a malformed id in the path" is_error 400
call POST /v1/api-keys '{"name": "k", "expires_at": "not a time"}'
check "400 on invalid input syntax from PostgreSQL (22007)" is_error 400

# 415, 413
CT=application/x-www-form-urlencoded call POST /v1/users 'email=a'
check "415 when the body is not JSON" is_error 415
head -c 70000 /dev/zero | tr '\0' 'a' >"$E2E_DIR/big"
call POST /v1/users '' --data-binary @"$E2E_DIR/big" -H 'Content-Type: application/json'
check "413 when the body is over --max-body (got $STATUS)" test "$STATUS" = 413
check "... in the shim's JSON shape, not libevent's page (more in api_error_pages.sh)" is_error 413
check "... with the security headers" grep -qi '^Strict-Transport-Security:' <<<"$HEADERS"

# 401, 403, 404, 405, 409
TOKEN= call GET /v1/auth/me
check "401 without a token" bash -c "[ $STATUS = 401 ] && grep -qi 'WWW-Authenticate: Bearer' <<<'$HEADERS'"
TOKEN=garbage call GET /v1/auth/me
check "401 with a bad token (NX401)" bash -c "[ $STATUS = 401 ] && grep -q NX401 <<<'$BODY'"
TOKEN=$VIEW call POST /v1/users '{"email": "v2@acme.test", "password": "viewer-made-1", "role": "admin"}'
check "403 for a role without the right" is_error 403
TOKEN=$OTHER call POST /v1/change-requests '{"connector_id": "10000000-0000-0000-0000-00000000000b", "change_type": "create_role", "params": {"role": "app"}, "title": "theirs"}'
theirs=$(field .id)
call GET "/v1/change-requests/$theirs"
check "404 for another tenant's change request" is_error 404
call POST "/v1/change-requests/$theirs/submit"
check "404 when acting on another tenant's change request" is_error 404
call GET "/v1/users/$(sql -c "SELECT id FROM nexplane.users WHERE email = 'admin@other.test'")"
check "404 for another tenant's user" is_error 404
TOKEN=$OTHER call GET "/v1/change-requests/$theirs"
check "... which its own tenant still sees" test "$STATUS" = 200
TOKEN=$OTHER call POST /v1/schedules '{"connector_id": "10000000-0000-0000-0000-00000000000b", "job_kind": "discover", "cron": "@daily"}'
their_schedule=$(field .id)
call GET "/v1/schedules/$their_schedule"
check "404 for another tenant's schedule" is_error 404
call POST "/v1/schedules/$their_schedule/toggle" '{"enabled": false}'
check "404 when toggling another tenant's schedule" is_error 404
call DELETE "/v1/schedules/$their_schedule"
check "404 when deleting another tenant's schedule" is_error 404
TOKEN=$OTHER call GET "/v1/schedules/$their_schedule"
check "... which is still there and enabled" test "$STATUS:$(field .enabled)" = 200:true
call POST /v1/schedules "{\"connector_id\": \"$conn\", \"job_kind\": \"discover\", \"cron\": \"0 25 * * *\"}"
check "422 on a bad cron expression, naming the field" \
  bash -c "[ $STATUS = 422 ] && grep -q 'hour field: 25 is out of range' <<<'$BODY'"
call POST /v1/schedules "{\"connector_id\": \"$conn\", \"job_kind\": \"discover\", \"cron\": \"@daily\", \"timezone\": \"UTC+3\"}"
check "422 on a time zone that is not the tz database's" \
  bash -c "[ $STATUS = 422 ] && grep -q 'unknown time zone' <<<'$BODY'"
TOKEN=$VIEW call POST /v1/schedules "{\"connector_id\": \"$conn\", \"job_kind\": \"discover\", \"cron\": \"@daily\"}"
check "403 when a viewer creates a schedule" is_error 403
call GET /v1/nothing-here
check "404 for an unknown route" is_error 404
call DELETE /v1/auth/me
check "405 with Allow for a known path" bash -c "[ $STATUS = 405 ] && grep -q 'Allow: GET' <<<'$HEADERS'"
call POST /v1/change-requests "{\"connector_id\": \"$conn\", \"change_type\": \"create_role\", \"params\": {\"role\": \"app\"}, \"title\": \"mine\"}" \
  -H 'X-Request-Id: e2e-req-42' -H 'traceparent: 00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01'
mine=$(field .id)
check "X-Request-Id is echoed" grep -qi 'X-Request-Id: e2e-req-42' <<<"$HEADERS"
call POST "/v1/change-requests/$mine/approve"
check "409 on an invalid transition, naming the state" bash -c "[ $STATUS = 409 ] && grep -q NX409 <<<'$BODY' && grep -q draft <<<'$BODY'"
call POST /v1/users '{"email": "op@acme.test", "password": "another-pass-1", "role": "viewer"}'
check "409 on a duplicate" is_error 409
call GET /v1/auth/me '' -H 'X-Request-Id: bad id with spaces'
check "an unusable X-Request-Id is replaced by a generated one" \
  grep -qiE 'X-Request-Id: [0-9a-f]{32}' <<<"$HEADERS"

# request and trace ids reach the audit trail
check "the request id reaches audit_events" test "$(sql -c "SELECT count(*) > 0 FROM nexplane.audit_events WHERE request_id = 'e2e-req-42'")" = t
check "the trace id reaches audit_events" test "$(sql -c "SELECT count(*) > 0 FROM nexplane.audit_events WHERE request_id = 'e2e-req-42' AND trace_id = '4bf92f3577b34da6a3ce929d0e0e4736'")" = t
check "a failed request left nothing behind" test "$(sql -c "SELECT count(*) FROM nexplane.change_requests WHERE title = 'titel'")" = 0

# 429: a login flood from one address
# (the three logins above drew on the same burst of 3)
codes=
for _ in 1 2 3 4 5 6; do
  TOKEN= call POST /v1/auth/login '{"email": "nobody@acme.test", "password": "wrong-password-1"}'
  codes="$codes $STATUS"
done
check "429 on a login flood, and nothing but 429 once it starts ($codes)" \
  bash -c "grep -qE '^( 401){0,2}( 429){4,}$' <<<'$codes'"
check "429 carries Retry-After" grep -qiE 'Retry-After: [0-9]+' <<<"$HEADERS"

# the access log: one JSON line per request, no tokens, no passwords
check "one access-log line per request, in JSON" \
  bash -c "jq -se 'map(select(.request_id == \"e2e-req-42\")) | length == 1 and .[0].status == 201' '$E2E_DIR/api.out'"
check "the access log holds no token" bash -c "! grep -qF '${ADMIN:0:40}' '$E2E_DIR/api.out' '$E2E_DIR/api.err'"
check "the access log holds no password" bash -c "! grep -q 'pass-1' '$E2E_DIR/api.out' '$E2E_DIR/api.err'"

# the database goes away and comes back
nx_cluster_stop "$E2E_DIR/pg"
call GET /v1/auth/me
check "503 with Retry-After while the database is down" bash -c "[ $STATUS = 503 ] && grep -qi Retry-After <<<'$HEADERS'"
call GET /health
check "/health still answers while the database is down" test "$STATUS" = 200
call GET /ready
check "/ready says 503 while the database is down" test "$STATUS" = 503
nx_cluster_start "$E2E_DIR/pg"
for _ in $(seq 1 50); do
  call GET /v1/auth/me
  [ "$STATUS" = 200 ] && break
  sleep 0.2
done
check "the pool reconnects by itself" test "$STATUS" = 200

# configuration: --help tells, a bad flag is refused
check "--help lists the flags and exits 0" bash -c "'$API_BIN' --help | grep -q -- '--max-body'"
"$API_BIN" --pool-size 0 --tls-cert x --tls-key y >/dev/null 2>&1
check "an out-of-range flag is refused with exit code 2" test $? = 2

# lock-out per source (issue 15, finding 7): the shim passes its TCP peer,
# so five bad logins through it lock 127.0.0.1 out of view's account, while
# the owner at psql (a Unix socket: "local") still gets in
api_stop
api_start --login-burst 20
for _ in 1 2 3 4 5; do
  TOKEN= call POST /v1/auth/login '{"email": "view@acme.test", "password": "wrong-password-1"}'
done
TOKEN= call POST /v1/auth/login '{"email": "view@acme.test", "password": "acme-user-pass-1"}'
check "five bad logins through the shim lock its client's address out (right password: $STATUS)" \
  test "$STATUS" = 401
check "the owner still logs in from another source (psql)" \
  test "$(sql -Atc "SELECT nexplane.login('view@acme.test', 'acme-user-pass-1') IS NOT NULL")" = t
check "the shim's role may name the client's address" \
  test "$(sql -Atc "SET ROLE nexplane_api" -c "SELECT nexplane.login('view@acme.test', 'acme-user-pass-1', client_addr => '192.0.2.1') IS NOT NULL")" = t

# slow clients: a request whose headers never finish is dropped at --timeout
api_stop
api_start --timeout 1
t0=$(date +%s%N)
timeout 8 openssl s_client -quiet -connect "127.0.0.1:$API_PORT" >/dev/null 2>&1 \
  < <(printf 'GET /health HTTP/1.1\r\nHost: x\r\n'; sleep 5)
held=$(( ($(date +%s%N) - t0) / 1000000 ))
check "unfinished headers are dropped after the timeout (held ${held} ms)" test "$held" -lt 4000

api_sanitizer_check
