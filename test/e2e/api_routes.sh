#!/usr/bin/env bash
# Every route of nexplane-api over HTTPS: the success path of each route,
# 501 for a route whose function is missing, and the route working again
# when the function is back.  Jobs are
# run by the cluster's job workers, against this very cluster: connector
# tests and discovery, and a change request executed and rolled back.  The
# connector, asset, job, schedule, evidence and agent routes also get their
# refusals here (403 for a viewer's writes, 404 for another tenant's ids,
# 422 and 400 for bad fields and filters); the access log then shows
# every route of those groups answered with success and none with 501.
# No answer, log or stream of the run may hold a secret given to it.
. "$(dirname "$0")/api_lib.sh"
api_setup
api_start --login-burst 20  # the rate limit is api_errors.sh's business

# Every answer is kept, to look for secrets in at the end.
eval "api_lib_$(declare -f call)"
call() { api_lib_call "$@"; printf '%s\n' "$BODY" >>"$E2E_DIR/bodies"; }
is_error() { # status: the answer has it, and the error shape
  test "$STATUS" = "$1" -a "$(field .error.status)" = "$1" -a "$(field '.error.message | length > 0')" = true
}
says() { # status text: the answer has the status, and its message says text
  is_error "$1" && grep -qF -- "$2" <<<"$(field .error.message)"
}

TOKEN=
call GET /health
check "GET /health answers 200 without the database" test "$STATUS" = 200
call GET /ready
check "GET /ready: database reachable, extension version matches" test "$(field .status)" = ready
call GET /.well-known/jwks.json
check "GET /.well-known/jwks.json lists an RSA key" test "$(field '.keys[0].kty')" = RSA
call GET /v1/openapi.json
check "GET /v1/openapi.json is OpenAPI 3.1" test "$(field .openapi)" = 3.1.0
cp "$E2E_DIR/body" "$E2E_DIR/openapi.json"
check "the OpenAPI document has every path of the route table" \
  test "$(field '.paths | keys | length')" = "$(grep -o '"/[^"]*"' "$(dirname "$0")/../../api/routes.c" | sort -u | wc -l)"
check "the OpenAPI document names each route's SQL function" \
  test "$(field '.paths["/v1/change-requests/{id}/approve"].post["x-sql-function"]')" = nexplane.cr_approve

# auth
call POST /v1/auth/login '{"email": "admin@acme.test", "password": "acme-admin-pass-1"}'
check "POST /v1/auth/login: 200 with an access token" test "$STATUS:$(field .token_type)" = 200:Bearer
ADMIN=$(field .access_token)
REFRESH=$(field .refresh_token)
call POST /v1/auth/refresh "{\"refresh_token\": \"$REFRESH\"}"
check "POST /v1/auth/refresh: new tokens" test "$STATUS" = 200 -a "$(field .access_token)" != null
TOKEN=$ADMIN
call GET /v1/auth/me
check "GET /v1/auth/me: the caller" test "$(field .user.email)" = admin@acme.test
call GET /v1/tenant
check "GET /v1/tenant: the caller's tenant" test "$(field .slug)" = acme
OP=$(login op@acme.test acme-user-pass-1)
APPR=$(login appr@acme.test acme-user-pass-1)
VIEW=$(login view@acme.test acme-user-pass-1)
OTHER=$(login admin@other.test other-admin-pass-1)
check "an operator, an approver, a viewer and another tenant's admin log in" \
  bash -c 'for t; do [ "${#t}" -gt 100 ] || exit 1; done' - "$OP" "$APPR" "$VIEW" "$OTHER"

# expect_each STATUS TOKEN WHAT "METHOD PATH [BODY]"...: one check each
expect_each() {
  local want=$1 who=$2 what=$3 r m p b
  shift 3
  for r in "$@"; do
    read -r m p b <<<"$r"
    TOKEN=$who call "$m" "$p" "$b"
    check "$want $what: $m $(sed -E 's/[0-9a-f]{8}-[0-9a-f-]{27}/{id}/g' <<<"$p") (got $STATUS)" \
      is_error "$want"
  done
}

# users
call GET /v1/users
check "GET /v1/users lists the tenant's users" test "$STATUS:$(field length)" = 200:4
call POST /v1/users '{"email": "new@acme.test", "password": "new-user-pass-1", "role": "viewer"}'
check "POST /v1/users: 201" test "$STATUS" = 201
uid=$(field .id)
call GET "/v1/users/$uid"
check "GET /v1/users/{id}" test "$(field .email)" = new@acme.test
call PUT "/v1/users/$uid/role" '{"role": "operator"}'
check "PUT /v1/users/{id}/role" test "$(field .role)" = operator
call POST "/v1/users/$uid/disable"
check "POST /v1/users/{id}/disable" test "$STATUS" = 200

# API keys
call POST /v1/api-keys '{"name": "ci", "scopes": ["read", "write"]}'
check "POST /v1/api-keys: 201 and the key, once" test "$STATUS:$(field '.key | startswith("nxp_")')" = 201:true
kid=$(field .id)
key=$(field .key)
call GET /v1/api-keys
check "GET /v1/api-keys" test "$(field length)" = 1
TOKEN=$key call GET /v1/auth/me
check "an API key authenticates" test "$STATUS:$(field .auth)" = 200:api_key
call DELETE "/v1/api-keys/$kid"
check "DELETE /v1/api-keys/{id}" test "$STATUS" = 200
TOKEN=$key call GET /v1/auth/me
check "a revoked API key no longer authenticates" test "$STATUS" = 401

# credentials
call POST /v1/credentials '{"name": "db", "provider": "postgresql", "secret": {"password": "api-canary-1"}}'
check "POST /v1/credentials: 201" test "$STATUS" = 201
cid=$(field .id)
check "the answer carries no secret" bash -c "! grep -q api-canary-1 <<<'$BODY'"
call GET /v1/credentials
check "GET /v1/credentials" test "$(field length)" = 1
call GET "/v1/credentials/$cid"
check "GET /v1/credentials/{id}: metadata" test "$(field .name)" = db
call POST "/v1/credentials/$cid/rotate" '{"secret": {"password": "api-canary-2"}}'
check "POST /v1/credentials/{id}/rotate" test "$STATUS" = 200
call DELETE "/v1/credentials/$cid"
check "DELETE /v1/credentials/{id}" test "$STATUS" = 200

conn=10000000-0000-0000-0000-00000000000a

# policies, audit
call POST /v1/policies '{"kind": "max_blast_radius", "target_type": "tenant", "mode": "warn", "spec": {"max_assets": 10}}'
check "POST /v1/policies: 201" test "$STATUS" = 201
pid=$(field .id)
call GET /v1/policies
check "GET /v1/policies" test "$(field length)" = 1
call DELETE "/v1/policies/$pid"
check "DELETE /v1/policies/{id}" test "$STATUS" = 200
call GET "/v1/audit?limit=5"
check "GET /v1/audit with a limit" test "$STATUS:$(field length)" = 200:5
fifth=$(field '.[4].cursor')
call GET "/v1/audit?limit=2&before=$fifth"
check "GET /v1/audit?before=<cursor>: the next page, chain_seq and cursors, no global ids" \
  test "$STATUS:$(field length):$(field 'map(has("cursor") and has("chain_seq") and (has("id") | not)) | all')" = 200:2:true
call GET "/v1/audit?before=not-a-cursor"
check "GET /v1/audit?before=<not a cursor>: 400" test "$STATUS" = 400
sql -c "SELECT nexplane._audit_seal_all()" >/dev/null
call GET /v1/audit/verify
check "GET /v1/audit/verify: the chain holds" test "$STATUS:$(field .ok)" = 200:true
call GET /v1/audit/checkpoint
check "GET /v1/audit/checkpoint: a signed head" test "$STATUS:$(field .algorithm)" = 200:Ed25519
cp=$BODY
call GET /v1/audit/checkpoint-key
check "GET /v1/audit/checkpoint-key: its public key" test "$STATUS:$(field .key_id)" = "200:$(jq -r .key_id <<<"$cp")"
call POST /v1/audit/verify "{\"checkpoint\": $cp}"
check "POST /v1/audit/verify: the trail extends the checkpoint" \
  test "$STATUS:$(field .checkpoint.extended)" = 200:true
call POST /v1/audit/verify "{\"checkpoint\": $(jq -c '.chain_seq = 1' <<<"$cp")}"
check "POST /v1/audit/verify: a changed checkpoint does not verify" \
  test "$STATUS:$(field .ok):$(field .checkpoint.extended)" = 200:false:false

# schedules (the tick that enqueues their runs is pg_cron's: schedule_tick)
TOKEN=$OP call POST /v1/schedules "{\"connector_id\": \"$conn\", \"job_kind\": \"discover\", \"cron\": \"30 2 * * mon-fri\", \"timezone\": \"europe/berlin\"}"
check "POST /v1/schedules: 201, the zone as the tz database spells it, a next run" \
  test "$STATUS:$(field .timezone):$(field '.next_run_at != null')" = 201:Europe/Berlin:true
sid=$(field .id)
TOKEN=$OP call POST /v1/schedules "{\"connector_id\": \"$conn\", \"job_kind\": \"test_connection\", \"cron\": \"@hourly\"}"
check "POST /v1/schedules without a zone: UTC" test "$STATUS:$(field .timezone)" = 201:UTC
sid2=$(field .id)
call GET /v1/schedules
check "GET /v1/schedules" test "$STATUS:$(field length)" = 200:2
call GET "/v1/schedules/$sid"
check "GET /v1/schedules/{id}" test "$STATUS:$(field .cron)" = "200:30 2 * * mon-fri"
TOKEN=$OP call PATCH "/v1/schedules/$sid" '{"cron": "0 6 * * *"}'
check "PATCH /v1/schedules/{id}: a new expression, the zone kept" \
  test "$STATUS:$(field .cron):$(field .timezone)" = "200:0 6 * * *:Europe/Berlin"
TOKEN=$OP call PATCH "/v1/schedules/$sid" '{"timezone": "Asia/Kolkata"}'
check "PATCH /v1/schedules/{id}: a new zone" test "$STATUS:$(field .timezone)" = 200:Asia/Kolkata
TOKEN=$OP call POST "/v1/schedules/$sid/toggle" '{"enabled": false}'
check "POST /v1/schedules/{id}/toggle: disabled, no next run" \
  test "$STATUS:$(field .enabled):$(field .next_run_at)" = 200:false:null
TOKEN=$OP call POST "/v1/schedules/$sid/toggle" '{"enabled": true}'
check "POST /v1/schedules/{id}/toggle: enabled, a next run" \
  test "$STATUS:$(field .enabled):$(field '.next_run_at != null')" = 200:true:true
TOKEN=$OP call DELETE "/v1/schedules/$sid"
check "DELETE /v1/schedules/{id}" test "$STATUS:$(field .deleted)" = 200:true
TOKEN=$OP call DELETE "/v1/schedules/$sid2"
call GET "/v1/schedules/$sid"
check "a deleted schedule is gone" test "$STATUS" = 404

# ... every role reads them, operators and admins change them, and
# another tenant's are out of reach as if they did not exist
theirs_conn=10000000-0000-0000-0000-00000000000b
TOKEN=$OTHER call POST /v1/schedules "{\"connector_id\": \"$theirs_conn\", \"job_kind\": \"discover\", \"cron\": \"@daily\"}"
their_sid=$(field .id)
TOKEN=$OP call POST /v1/schedules "{\"connector_id\": \"$conn\", \"job_kind\": \"discover\", \"cron\": \"@daily\"}"
sid=$(field .id)
TOKEN=$VIEW call GET /v1/schedules
check "GET /v1/schedules as a viewer: the tenant's own only" \
  test "$STATUS:$(field "map(.id) == [\"$sid\"]")" = 200:true
TOKEN=$VIEW call GET "/v1/schedules/$sid"
check "GET /v1/schedules/{id} as a viewer" test "$STATUS:$(field .id)" = "200:$sid"
expect_each 403 "$VIEW" "for a viewer's write" \
  "POST /v1/schedules {\"connector_id\": \"$conn\", \"job_kind\": \"discover\", \"cron\": \"@daily\"}" \
  "PATCH /v1/schedules/$sid {\"cron\": \"@weekly\"}" \
  "POST /v1/schedules/$sid/toggle {\"enabled\": false}" \
  "DELETE /v1/schedules/$sid"
expect_each 404 "$ADMIN" "for another tenant's schedule" \
  "GET /v1/schedules/$their_sid" \
  "PATCH /v1/schedules/$their_sid {\"cron\": \"@weekly\"}" \
  "POST /v1/schedules/$their_sid/toggle {\"enabled\": false}" \
  "DELETE /v1/schedules/$their_sid"
expect_each 404 "$OP" "for a schedule of another tenant's connector" \
  "POST /v1/schedules {\"connector_id\": \"$theirs_conn\", \"job_kind\": \"discover\", \"cron\": \"@daily\"}"
TOKEN=$OTHER call GET "/v1/schedules/$their_sid"
check "... which its tenant still has, unchanged and enabled" \
  test "$STATUS:$(field .cron):$(field .enabled)" = 200:@daily:true
expect_each 422 "$OP" "for a bad field" \
  "POST /v1/schedules {\"connector_id\": \"$conn\", \"job_kind\": \"execute_change\", \"cron\": \"@daily\"}" \
  "POST /v1/schedules {\"connector_id\": \"$conn\", \"job_kind\": \"discover\", \"cron\": \"61 * * * *\"}" \
  "PATCH /v1/schedules/$sid {\"cron\": \"* * * * * *\"}" \
  "PATCH /v1/schedules/$sid {\"timezone\": \"Mars/Olympus_Mons\"}"
TOKEN=$OP call PATCH "/v1/schedules/$sid" '{"cron": "61 * * * *"}'
check "... the error names the field" grep -q 'minute field' <<<"$BODY"
TOKEN=$OP call PATCH "/v1/schedules/$sid" '{}'
check "PATCH /v1/schedules/{id} with nothing to change: 400" is_error 400
TOKEN=$OP call GET "/v1/schedules/$sid"
check "... and the refused changes left it as it was" \
  test "$(field '[.cron, .timezone, .enabled] | map(tostring) | join(" ")')" = "@daily UTC true"
TOKEN=$OP call DELETE "/v1/schedules/$sid"

# connectors, assets, jobs and evidence.  The target is this very cluster,
# over TCP with a password (SCRAM), as a CREATEROLE role whose password is
# a canary, in a database of its own (in the extension's database no role
# but a superuser may end sessions, as a rollback of create_role does); a
# second connector points at a port nothing listens on.
canary="conn-canary-$(openssl rand -hex 8)"
other_canary="other-canary-$(openssl rand -hex 8)"
sql -c "CREATE ROLE nx_target LOGIN CREATEROLE IN ROLE pg_signal_backend PASSWORD '$canary'" \
    -c "CREATE DATABASE nx_target_db" >/dev/null
call GET /v1/connectors/types
check "GET /v1/connectors/types: the registry's types" \
  test "$STATUS:$(field '[.[].type] | sort | join(",")')" = 200:agent,ldap,mariadb,postgresql,redis
call POST /v1/credentials "{\"name\": \"pg-target\", \"provider\": \"postgresql\", \"secret\": {\"username\": \"nx_target\", \"password\": \"$canary\"}}"
tcred=$(field .id)
TOKEN=$OTHER call POST /v1/credentials "{\"name\": \"theirs\", \"provider\": \"postgresql\", \"secret\": {\"username\": \"nx_target\", \"password\": \"$other_canary\"}}"
their_cred=$(field .id)
closed=$(nx_free_port 47000)
pg_config() { echo "{\"host\": \"127.0.0.1\", \"port\": $1, \"database\": \"nx_target_db\"}"; }
call POST /v1/connectors "{\"type\": \"postgresql\", \"name\": \"pg-target\", \"config\": $(pg_config "$PGPORT"),
  \"credential_id\": \"$tcred\", \"environment\": \"staging\", \"tags\": [\"team:db\", \"tier.1\"]}"
check "POST /v1/connectors: 201 with the connector, its credential by id and health" \
  test "$STATUS:$(field "[.type, .name, .environment, (.tags | join(\",\")), .status, .health.state,
    .credential_id == \"$tcred\", .config.port, (.id | length), (.created_at != null)] | map(tostring) | join(\" \")")" \
  = "201:postgresql pg-target staging team:db,tier.1 active unknown true $PGPORT 36 true"
tconn=$(field .id)
call POST /v1/connectors "{\"type\": \"postgresql\", \"name\": \"pg-closed\", \"config\": $(pg_config "$closed"),
  \"credential_id\": \"$tcred\", \"environment\": \"development\"}"
check "POST /v1/connectors: defaults for what is left out (no tags)" \
  test "$STATUS:$(field '.tags | length')" = 201:0
cconn=$(field .id)
call GET /v1/connectors
check "GET /v1/connectors: the tenant's, by name" \
  test "$STATUS:$(field 'map(.name) | join(",")')" = 200:pg-closed,pg-main,pg-target
TOKEN=$VIEW call GET "/v1/connectors/$tconn"
check "GET /v1/connectors/{id} as a viewer" test "$STATUS:$(field .name)" = 200:pg-target
call PATCH "/v1/connectors/$tconn" '{"environment": "production", "tags": ["team:db"]}'
check "PATCH /v1/connectors/{id}: the fields given change, the others stay" \
  test "$STATUS:$(field '[.environment, (.tags | join(",")), .name, (.updated_at >= .created_at)] | map(tostring) | join(" ")')" \
  = "200:production team:db pg-target true"
call PATCH "/v1/connectors/$tconn" '{"status": "disabled"}'
check "PATCH /v1/connectors/{id}: disabled" test "$STATUS:$(field .status):$(field .health.state)" = 200:disabled:disabled
TOKEN=$OP call POST "/v1/connectors/$tconn/test"
check "a disabled connector queues no test: 409" is_error 409
call PATCH "/v1/connectors/$tconn" '{"status": "active"}'
check "PATCH /v1/connectors/{id}: active again" test "$STATUS:$(field .status)" = 200:active

wait_job() { # id jq-condition: polls GET /v1/jobs/{id} for up to 30 s
  for _ in $(seq 1 150); do
    call GET "/v1/jobs/$1"
    [ "$(field "$2")" = true ] && return 0
    sleep 0.2
  done
  return 1
}
TOKEN=$OP call POST "/v1/connectors/$tconn/test"
check "POST /v1/connectors/{id}/test: 202 and the job, queued, three attempts allowed" \
  test "$STATUS:$(field '[.kind, .state, .attempts, .max_attempts, .connector_id] | map(tostring) | join(" ")')" \
  = "202:test_connection queued 0 3 $tconn"
tjob=$(field .id)
check "the job workers run the test: succeeded as the connector's role" \
  wait_job "$tjob" '.state == "succeeded"'
check "... with the target's answer, in one attempt" \
  test "$(field '[.result.user, .result.createrole, .attempts, .error, (.finished_at != null)] | map(tostring) | join(" ")')" \
  = "nx_target true 1 null true"
TOKEN=$OP call POST "/v1/connectors/$tconn/discover"
check "POST /v1/connectors/{id}/discover: 202 and the job" \
  test "$STATUS:$(field .kind):$(field .state)" = 202:discover:queued
djob=$(field .id)
check "the job workers run the discovery: succeeded, assets counted" \
  wait_job "$djob" '.state == "succeeded" and .result.assets > 0'
call GET "/v1/connectors/$tconn"
check "the connector's health: ok after success" \
  test "$(field '[.health.state, .health.consecutive_failures, (.health.last_success_at != null)] | map(tostring) | join(" ")')" \
  = "ok 0 true"
TOKEN=$VIEW call GET "/v1/assets?connector_id=$tconn"
check "GET /v1/assets?connector_id=: what discovery found (the role among them), as a viewer" \
  test "$STATUS:$(field 'map(select(.kind == "role" and .external_id == "nx_target")) | .[0].attributes.createrole')" = 200:true
check "... each with its connector's environment" test "$(field 'map(.environment) | unique | join(",")')" = production
aid=$(field 'map(select(.external_id == "nx_target")) | .[0].id')
call GET "/v1/assets?kind=database&limit=2"
check "GET /v1/assets?kind=&limit=: filtered and limited" \
  test "$STATUS:$(field 'length'):$(field 'map(.kind) | unique | join(",")')" = 200:2:database
call GET "/v1/assets/$aid"
check "GET /v1/assets/{id}" \
  test "$STATUS:$(field '[.name, .kind, .connector_id, (.discovered_at != null)] | map(tostring) | join(" ")')" \
  = "200:nx_target role $tconn true"
call GET "/v1/evidence?job_id=$tjob"
check "GET /v1/evidence?job_id=: the test's evidence, with its digest" \
  test "$STATUS:$(field '[length, .[0].kind, .[0].content.ok, (.[0].sha256 | test("^[0-9a-f]{64}$"))] | map(tostring) | join(" ")')" \
  = "200:1 connection_test true true"
eid=$(field '.[0].id')
TOKEN=$VIEW call GET "/v1/evidence/$eid"
check "GET /v1/evidence/{id} as a viewer" test "$STATUS:$(field .job_id):$(field .content.step)" = "200:$tjob:connection_test"

# A test of the connector whose port is closed: each attempt fails with a
# clear error and leaves evidence; the event stream shows the job's states.
curl -s -N --max-time 90 --cacert "$E2E_DIR/tls/ca.crt" -H "Authorization: Bearer $ADMIN" \
  "$API/v1/events" >"$E2E_DIR/sse" 2>/dev/null &
sse_pid=$!
for _ in $(seq 1 50); do grep -q '^retry:' "$E2E_DIR/sse" && break; sleep 0.1; done
TOKEN=$OP call POST "/v1/connectors/$cconn/test"
check "POST /v1/connectors/{id}/test of a closed port: 202" test "$STATUS:$(field .state)" = 202:queued
cjob=$(field .id)
check "its first attempt fails and the job waits to be tried again, saying why" \
  wait_job "$cjob" '.attempts >= 1 and .error != null'
cerr=$(field .error)
check "... the error names the target and the cause ($cerr)" \
  bash -c 'grep -q "could not connect to 127.0.0.1 port $1 as nx_target" <<<"$0" && grep -qi refused <<<"$0"' \
  "$cerr" "$closed"
call GET "/v1/evidence?job_id=$cjob"
check "GET /v1/evidence?job_id=: the failed attempt's evidence" \
  test "$STATUS:$(field '[.[0].kind, .[0].content.ok, (.[0].content.error | test("could not connect"))] | map(tostring) | join(" ")')" \
  = "200:connection_test false true"
# The backoff (2 s, then 4 s) is the workers' business: bring the retries
# forward rather than wait through it.
for _ in $(seq 1 100); do
  sql -c "UPDATE nexplane.jobs SET run_after = now() WHERE id = '$cjob' AND state = 'queued'" \
      -c "SELECT nexplane._jobs_wake_now()" >/dev/null
  call GET "/v1/jobs/$cjob"
  [ "$(field .state)" = failed ] && break
  sleep 0.2
done
check "after its three attempts the job has failed, with the error and an end" \
  test "$(field '[.state, .attempts, .max_attempts, (.error | test("could not connect")), (.finished_at != null)] | map(tostring) | join(" ")')" \
  = "failed 3 3 true true"
call GET "/v1/evidence?job_id=$cjob"
check "... and evidence of each attempt" test "$STATUS:$(field 'map(select(.content.ok == false)) | length')" = 200:3
call GET "/v1/connectors/$cconn"
check "the connector's health: failing, three failures, the last error" \
  test "$(field '[.health.state, .health.consecutive_failures, (.health.last_error | test("could not connect"))] | map(tostring) | join(" ")')" \
  = "failing 3 true"
sse_states() { # the states the stream showed for job $1, in order
  sed -n 's/^data: //p' "$E2E_DIR/sse" | jq -sr --arg j "$1" 'map(select(.subject_id == $j) | .to) | join(",")'
}
for _ in $(seq 1 50); do sse_states "$cjob" | grep -q 'failed$' && break; sleep 0.1; done
check "GET /v1/events shows the job's states: queued, running three times, failed ($(sse_states "$cjob"))" \
  test "$(sse_states "$cjob")" = queued,running,queued,running,queued,running,failed
kill "$sse_pid" 2>/dev/null
wait "$sse_pid" 2>/dev/null

# job lists, pages and cancellation
call GET "/v1/jobs?connector_id=$tconn"
check "GET /v1/jobs?connector_id=: the connector's jobs, newest first, with cursors" \
  test "$STATUS:$(field 'map(.id) | join(",")'):$(field 'map(.cursor != null) | all')" = "200:$djob,$tjob:true"
call GET "/v1/jobs?connector_id=$tconn&kind=discover&state=succeeded"
check "GET /v1/jobs?kind=&state=: filtered" test "$STATUS:$(field 'map(.id) | join(",")')" = "200:$djob"
call GET "/v1/jobs?connector_id=$tconn&limit=1"
check "GET /v1/jobs?limit=1: one" test "$STATUS:$(field '.[0].id')" = "200:$djob"
call GET "/v1/jobs?connector_id=$tconn&limit=1&after=$(field '.[0].cursor | @uri')"
check "GET /v1/jobs?after=<cursor>: the next page" test "$STATUS:$(field 'map(.id) | join(",")')" = "200:$tjob"
TOKEN=$VIEW call GET /v1/jobs
check "GET /v1/jobs as a viewer: the tenant's jobs" test "$STATUS:$(field 'length >= 3')" = 200:true
call GET "/v1/tasks/$tjob"
check "GET /v1/tasks/{id}: the same job" test "$STATUS:$(field .id):$(field .state)" = "200:$tjob:succeeded"
TOKEN=$OP call POST "/v1/connectors/$cconn/discover"
kjob=$(field .id)
TOKEN=$OP call POST "/v1/jobs/$kjob/cancel"
check "POST /v1/jobs/{id}/cancel: 200, cancelled (or asked to stop when already running)" \
  test "$STATUS:$(field '.state == "cancelled" or .cancel_requested')" = 200:true
check "... and the job ends cancelled, not retried" wait_job "$kjob" '.state == "cancelled"'
TOKEN=$OP call POST "/v1/jobs/$kjob/cancel"
check "cancelling a job that has ended: 409" is_error 409
TOKEN=$OP call POST "/v1/jobs/$tjob/cancel"
check "cancelling a succeeded job: 409" is_error 409
call GET "/v1/evidence?kind=connection_test&limit=2"
check "GET /v1/evidence?kind=&limit=: filtered and limited" \
  test "$STATUS:$(field 'length'):$(field 'map(.kind) | unique | join(",")')" = 200:2:connection_test

# Another tenant's connector, credential, job, evidence and asset (this
# one written by SQL: that tenant's connector has nothing to discover) are
# out of reach, as if they did not exist; lists filtered on them are empty.
TOKEN=$OTHER call POST "/v1/connectors/$theirs_conn/test"
their_job=$(field .id)
TOKEN=$OTHER wait_job "$their_job" '.attempts >= 1 and .error != null'
TOKEN=$OTHER call GET "/v1/evidence?job_id=$their_job"
their_ev=$(field '.[0].id')
their_asset=$(sql -c "INSERT INTO nexplane.assets (tenant_id, connector_id, kind, external_id, name)
                      SELECT tenant_id, id, 'role', 'theirs', 'theirs' FROM nexplane.connectors
                       WHERE id = '$theirs_conn' RETURNING id")
check "the other tenant has a job, evidence and an asset" \
  test "${#their_job}:${#their_ev}:${#their_asset}" = 36:36:36
expect_each 404 "$ADMIN" "for another tenant's id" \
  "GET /v1/connectors/$theirs_conn" \
  "PATCH /v1/connectors/$theirs_conn {\"name\": \"mine-now\"}" \
  "DELETE /v1/connectors/$theirs_conn" \
  "POST /v1/connectors/$theirs_conn/test" \
  "POST /v1/connectors/$theirs_conn/discover" \
  "GET /v1/jobs/$their_job" \
  "GET /v1/tasks/$their_job" \
  "POST /v1/jobs/$their_job/cancel" \
  "GET /v1/evidence/$their_ev" \
  "GET /v1/assets/$their_asset"
expect_each 404 "$ADMIN" "for another tenant's credential" \
  "POST /v1/connectors {\"type\": \"postgresql\", \"name\": \"pg-x\", \"config\": {\"host\": \"h\"}, \"credential_id\": \"$their_cred\"}" \
  "PATCH /v1/connectors/$tconn {\"credential_id\": \"$their_cred\"}"
call GET "/v1/jobs?connector_id=$theirs_conn"
check "GET /v1/jobs filtered on another tenant's connector: empty" test "$STATUS:$(field length)" = 200:0
call GET "/v1/evidence?job_id=$their_job"
check "GET /v1/evidence filtered on another tenant's job: empty" test "$STATUS:$(field length)" = 200:0
call GET "/v1/assets?connector_id=$theirs_conn"
check "GET /v1/assets filtered on another tenant's connector: empty" test "$STATUS:$(field length)" = 200:0
TOKEN=$OTHER call GET "/v1/jobs/$their_job"
check "... which its tenant still has, not cancelled" test "$STATUS:$(field .cancel_requested)" = 200:false
TOKEN=$OTHER call GET "/v1/connectors/$theirs_conn"
check "... with its connector unchanged" test "$STATUS:$(field .name)" = 200:pg-main

# writes need the right role: admins change connectors, operators (and
# admins) queue and cancel jobs; a viewer does none of it
expect_each 403 "$VIEW" "for a viewer's write" \
  "POST /v1/connectors {\"type\": \"postgresql\", \"name\": \"pg-v\", \"config\": {\"host\": \"h\"}}" \
  "PATCH /v1/connectors/$tconn {\"name\": \"renamed\"}" \
  "DELETE /v1/connectors/$tconn" \
  "POST /v1/connectors/$tconn/test" \
  "POST /v1/connectors/$tconn/discover" \
  "POST /v1/jobs/$cjob/cancel"
expect_each 403 "$OP" "for an operator's connector change" \
  "POST /v1/connectors {\"type\": \"postgresql\", \"name\": \"pg-o\", \"config\": {\"host\": \"h\"}}" \
  "PATCH /v1/connectors/$tconn {\"name\": \"renamed\"}" \
  "DELETE /v1/connectors/$cconn"
call GET "/v1/connectors/$tconn"
check "... which left the connector as it was" test "$(field .name):$(field .environment)" = pg-target:production

# 422: fields the type does not take, or bad values, named in the error
bad_create() { # one field of the body changed: jq expression
  jq -c "$1" <<<"{\"type\": \"postgresql\", \"name\": \"pg-bad\", \"config\": $(pg_config 5432)}"
}
call POST /v1/connectors "$(bad_create '.config.sslmod = "require"')"
check "422 for an unknown config field, naming it" says 422 'config field "sslmod" is not one'
call POST /v1/connectors "$(bad_create 'del(.config.host)')"
check "422 for a missing required config field, naming it" says 422 'config field "host" is required'
call POST /v1/connectors "$(bad_create '.config.port = "5432"')"
check "422 for a config field of the wrong type" says 422 'config field "port" must be an integer'
call POST /v1/connectors "$(bad_create '.environment = "prod"')"
check "422 for a bad environment, listing the good ones" says 422 'environment must be one of production, staging'
call POST /v1/connectors "$(bad_create '.tags = ["Has Space"]')"
check "422 for a bad tag" is_error 422
call POST /v1/connectors "$(bad_create '.type = "oracle"')"
check "422 for an unknown connector type" says 422 'unknown connector type "oracle"'
call POST /v1/connectors "$(bad_create '.name = ""')"
check "422 for an empty name" is_error 422
call POST /v1/credentials '{"name": "half", "provider": "postgresql", "secret": {"password": "half-canary-1"}}'
half=$(field .id)
call POST /v1/connectors "$(bad_create ".credential_id = \"$half\"")"
check "422 for a credential without the type's fields, naming the field" \
  says 422 'credential field "username" is required'
call PATCH "/v1/connectors/$tconn" '{"config": {"host": "127.0.0.1", "sslmod": "require"}}'
check "422 for an unknown config field in a PATCH" says 422 'config field "sslmod" is not one'
call PATCH "/v1/connectors/$tconn" '{"environment": "qa"}'
check "422 for a bad environment in a PATCH" is_error 422
call PATCH "/v1/connectors/$tconn" '{"status": "error"}'
check "422 for a status other than active or disabled" is_error 422
call POST /v1/connectors "$(bad_create '.configg = {}')"
check "400 for a body field the route does not take (the shim's check)" \
  says 400 configg
call POST /v1/connectors "{\"type\": \"postgresql\", \"name\": \"pg-target\", \"config\": $(pg_config 5432)}"
check "409 for a name the tenant has" is_error 409
call GET "/v1/connectors/$tconn"
check "... and the connector is as it was" \
  test "$(field '[.config.port, .environment, .status] | map(tostring) | join(" ")')" = "$PGPORT production active"

# 400: bad filters on the list routes
for q in "jobs?colour=red" "jobs?connector_id=not-a-uuid" "jobs?limit=0" "jobs?limit=201" \
         "jobs?after=not-a-cursor" "evidence?job=x" "evidence?job_id=not-a-uuid" \
         "evidence?limit=lots" "assets?owner=me" "assets?connector_id=12345" "assets?limit=501"; do
  call GET "/v1/$q"
  check "400 for a bad filter: GET /v1/$q (got $STATUS)" is_error 400
done

# delete: only a connector nothing refers to
call DELETE "/v1/connectors/$cconn"
check "DELETE of a connector with jobs: 409, with a hint to disable it" \
  bash -c '[ "$0" = 409 ] && grep -q "Disable it instead" <<<"$1"' "$STATUS" "$(field .error.hint)"
call POST /v1/connectors "{\"type\": \"postgresql\", \"name\": \"pg-spare\", \"config\": $(pg_config 5432)}"
spare=$(field .id)
call DELETE "/v1/connectors/$spare"
check "DELETE /v1/connectors/{id}" test "$STATUS:$(field .deleted):$(field .id)" = "200:true:$spare"
call GET "/v1/connectors/$spare"
check "a deleted connector is gone" is_error 404

# change requests, through a whole lifecycle: the job workers execute
# and roll back a real change on a connector to this cluster
call POST /v1/connectors "{\"type\": \"postgresql\", \"name\": \"pg-cr\", \"config\": $(pg_config "$PGPORT"),
  \"credential_id\": \"$tcred\", \"environment\": \"development\"}"
crconn=$(field .id)
cr_body="{\"connector_id\": \"$crconn\", \"change_type\": \"create_role\",
          \"params\": {\"role\": \"nx_alice\"}, \"title\": \"add alice\"}"
TOKEN=$OP call POST /v1/change-requests "$cr_body" -H 'Idempotency-Key: api-1'
check "POST /v1/change-requests: 201, a draft" test "$STATUS:$(field .state)" = 201:draft
cr=$(field .id)
TOKEN=$OP call POST /v1/change-requests "$cr_body" -H 'Idempotency-Key: api-1'
check "an Idempotency-Key retry returns the first request" test "$(field .id)" = "$cr"
call GET "/v1/change-requests?state=draft&limit=10"
check "GET /v1/change-requests with a filter" test "$(field length)" = 1
call GET "/v1/change-requests/$cr"
check "GET /v1/change-requests/{id}" test "$(field .title)" = "add alice"
call POST /v1/risk-score "{\"connector_id\": \"$conn\", \"change_type\": \"drop_role\"}"
check "POST /v1/risk-score" test "$(field '.factors | length > 0')" = true
approve() { # change request: submitted by the operator, approved by the approver if it must be
  TOKEN=$OP call POST "/v1/change-requests/$1/submit"
  [ "$(field .state)" != pending_approval ] || TOKEN=$APPR call POST "/v1/change-requests/$1/approve" '{"comment": "fine"}'
}
wait_cr() { # id state: polls GET /v1/change-requests/{id} for up to 30 s
  for _ in $(seq 1 150); do
    call GET "/v1/change-requests/$1"
    [ "$(field .state)" = "$2" ] && return 0
    sleep 0.2
  done
  return 1
}
approve "$cr"
check "POST .../submit, .../approve (or no approval needed): approved" test "$STATUS:$(field .state)" = 200:approved
TOKEN=$OP call POST "/v1/change-requests/$cr/execute"
check "POST .../execute: executing" test "$STATUS:$(field .state)" = 200:executing
check "the job workers complete it" wait_cr "$cr" completed
check "... on the target: the role exists" test "$(sql -c "SELECT count(*) FROM pg_roles WHERE rolname = 'nx_alice'")" = 1
TOKEN=$OP call POST "/v1/change-requests/$cr/rollback" '{"reason": "test"}'
check "POST .../rollback: a rollback request of its own, submitted" \
  test "$STATUS:$(field .rollback_of):$(field '.state | IN("pending_approval", "approved")')" = "200:$cr:true"
rb=$(field .id)
[ "$(field .state)" != pending_approval ] || TOKEN=$APPR call POST "/v1/change-requests/$rb/approve" '{"comment": "undo"}'
TOKEN=$OP call POST "/v1/change-requests/$rb/execute"
check "the job workers roll it back: rolled_back" wait_cr "$cr" rolled_back
check "... on the target: the role is gone" test "$(sql -c "SELECT count(*) FROM pg_roles WHERE rolname = 'nx_alice'")" = 0
call GET "/v1/change-requests/$cr/events"
check "GET .../events: every transition" \
  test "$(field 'map(.action) - ["approve"] | join(",")')" = create,submit,execute,complete,rollback,rollback_complete
call GET "/v1/evidence?change_request_id=$cr"
check "GET /v1/evidence?change_request_id=: the change's steps" \
  test "$STATUS:$(field 'map(.kind) | sort | join(",")')" = 200:execution,pre_check,verification
TOKEN=$OP call POST /v1/change-requests "$cr_body"
cr2=$(field .id)
TOKEN=$OP call POST "/v1/change-requests/$cr2/cancel" '{"reason": "not needed"}'
check "POST .../cancel" test "$(field .state)" = cancelled
TOKEN=$OP call POST /v1/change-requests "${cr_body/create_role/drop_role}"
cr3=$(field .id)
TOKEN=$OP call POST "/v1/change-requests/$cr3/submit"
TOKEN=$APPR call POST "/v1/change-requests/$cr3/reject" '{"reason": "too risky"}'
check "POST .../reject" test "$(field .state)" = rejected

# agents (the admin side; what agents call is on the agent listener:
# test/e2e/agent_listener.sh).  An agent enrolls through SQL here, with a
# CSR made by openssl.
call POST /v1/agents/enrollment-tokens '{"ttl": "30 minutes"}'
check "POST /v1/agents/enrollment-tokens: 201, a one-time token and the CA pin" \
  test "$STATUS:$(field '.token | startswith("nxe_")'):$(field '.ca_pin | startswith("sha256:")')" = 201:true:true
etok=$(field .token)
call GET /v1/agent-command-types
check "GET /v1/agent-command-types: the allowlist" \
  test "$STATUS:$(field 'map(.command) | index("user.lock") != null')" = 200:true
openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj /CN=web-1 \
  -keyout "$E2E_DIR/agent.key" -out "$E2E_DIR/agent.csr" >/dev/null 2>&1
aid=$(sql -c "SELECT nexplane.agent_enroll('$etok', \$\$$(cat "$E2E_DIR/agent.csr")\$\$,
              '{\"hostname\": \"web-1\"}')->>'agent_id'")
call GET /v1/agents
check "GET /v1/agents: the enrolled agent" test "$STATUS:$(field '.[0].id')" = "200:$aid"
call GET "/v1/agents/$aid"
check "GET /v1/agents/{id}" test "$STATUS:$(field .hostname)" = 200:web-1
call POST /v1/agent-commands "{\"agent_id\": \"$aid\", \"command\": \"facts.collect\"}"
check "POST /v1/agent-commands: 201, queued" test "$STATUS:$(field .state)" = 201:queued
acmd=$(field .id)
call GET "/v1/agent-commands?agent_id=$aid&state=queued"
check "GET /v1/agent-commands?agent_id=&state=" test "$STATUS:$(field 'map(.id) | join(",")')" = "200:$acmd"
call GET /v1/agent-commands
check "GET /v1/agent-commands" test "$STATUS:$(field length)" = 200:1
call GET "/v1/agent-commands/$acmd"
check "GET /v1/agent-commands/{id}" test "$STATUS:$(field .command)" = 200:facts.collect
expect_each 403 "$VIEW" "for a viewer" "POST /v1/agents/enrollment-tokens {}" \
  "POST /v1/agent-commands {\"agent_id\":\"$aid\",\"command\":\"facts.collect\"}" \
  "POST /v1/agents/$aid/revoke"
expect_each 404 "$OTHER" "for another tenant's ids" "GET /v1/agents/$aid" \
  "GET /v1/agent-commands/$acmd" "POST /v1/agents/$aid/revoke" "GET /v1/agent-commands?agent_id=$aid"
for q in "agent-commands?agent_id=12345" "agent-commands?colour=red" "agent-commands?state=a&state=b"; do
  call GET "/v1/$q"
  check "400 for a bad filter: GET /v1/$q (got $STATUS)" is_error 400
done
call POST "/v1/agents/$aid/revoke"
check "POST /v1/agents/{id}/revoke" test "$STATUS:$(field .status)" = 200:revoked
call GET "/v1/agent-commands/$acmd"
check "... and its queued command is cancelled" test "$(field .state)" = cancelled

# A route whose function is missing (an older extension under a newer
# shim) answers 501, clearly, and works as soon as the function is back,
# with no change to the shim.  agent_get is taken away for the check.
x=00000000-0000-0000-0000-000000000001
sql -c "ALTER EXTENSION nexplane DROP FUNCTION nexplane.agent_get(uuid)" \
    -c "ALTER FUNCTION nexplane.agent_get(uuid) RENAME TO agent_get_away" >/dev/null
call GET "/v1/agents/$x"
check "a route without its function answers 501 with a clear message" \
  bash -c '[ "$0" = 501 ] && grep -q "not available yet" <<<"$1"' "$STATUS" "$BODY"
sql -c "ALTER FUNCTION nexplane.agent_get_away(uuid) RENAME TO agent_get" \
    -c "ALTER EXTENSION nexplane ADD FUNCTION nexplane.agent_get(uuid)" >/dev/null
call GET "/v1/agents/$x"
check "a route starts working when its function lands (404 for an unknown agent: $STATUS)" is_error 404

call POST /v1/auth/logout
check "POST /v1/auth/logout" test "$STATUS" = 200
call GET /v1/auth/me
check "the logged-out token is refused" test "$STATUS" = 401

# No secret given to the run reached an answer, the stream, the shim's
# logs or the server's log.
api_stop
check "$(wc -l <"$E2E_DIR/bodies") answers kept, and job states from the stream" \
  test "$(wc -l <"$E2E_DIR/bodies")" -gt 150 -a -s "$E2E_DIR/sse"
for secret in "the target's password:$canary" "the other tenant's:$other_canary" \
              "a credential's without a username:half-canary-1" \
              "a credential's:api-canary-1" "its rotated one:api-canary-2"; do
  check "no answer, stream or log holds ${secret%%:*}" \
    bash -c '! grep -qF -- "$0" "$1"/bodies "$1"/sse "$1"/api.out "$1"/api.err "$1"/pg/server.log' \
    "${secret#*:}" "$E2E_DIR"
done
# The access log: every route of the connector, asset, job, schedule,
# evidence and agent groups answered with success at least once, and none
# with 501 (but the one made to, above).
jq -r '.paths | to_entries[] | .key as $p | .value | to_entries[]
       | select(.value.tags[0] | IN("connectors", "assets", "jobs", "schedules", "evidence", "agents"))
       | "\(.key | ascii_upcase) \($p)"' "$E2E_DIR/openapi.json" | sort -u >"$E2E_DIR/group_routes"
jq -r 'select(.route != null and .status < 300) | "\(.method) \(.route)"' "$E2E_DIR/api.out" |
  sort -u | comm -23 "$E2E_DIR/group_routes" - >"$E2E_DIR/never_ok"
jq -r 'select(.status == 501 and .route != "/v1/agents/{id}") | "\(.method) \(.route)"' "$E2E_DIR/api.out" |
  sort -u | comm -12 "$E2E_DIR/group_routes" - >"$E2E_DIR/got_501"
check "all $(wc -l <"$E2E_DIR/group_routes") connector, asset, job, schedule, evidence and agent routes succeeded$(tr '\n' ',' <"$E2E_DIR/never_ok" | sed 's/^./ but: &/')" \
  test ! -s "$E2E_DIR/never_ok" -a "$(wc -l <"$E2E_DIR/group_routes")" -ge 28
check "... and none of them answered 501$(tr '\n' ',' <"$E2E_DIR/got_501" | sed 's/^./ but: &/')" \
  test ! -s "$E2E_DIR/got_501"

api_sanitizer_check
