#!/usr/bin/env bash
# Every route of nexplane-api over HTTPS: the success path of each route
# whose SQL function exists, 501 for each whose function has not landed,
# and a route that starts working when its function appears.
. "$(dirname "$0")/api_lib.sh"
api_setup
api_start

TOKEN=
call GET /health
check "GET /health answers 200 without the database" test "$STATUS" = 200
call GET /ready
check "GET /ready: database reachable, extension version matches" test "$(field .status)" = ready
call GET /.well-known/jwks.json
check "GET /.well-known/jwks.json lists an RSA key" test "$(field '.keys[0].kty')" = RSA
call GET /v1/openapi.json
check "GET /v1/openapi.json is OpenAPI 3.1" test "$(field .openapi)" = 3.1.0
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

# change requests, through a whole lifecycle
conn=10000000-0000-0000-0000-00000000000a
cr_body="{\"connector_id\": \"$conn\", \"change_type\": \"create_role\",
          \"params\": {\"role\": \"alice\"}, \"title\": \"add alice\"}"
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
TOKEN=$OP call POST "/v1/change-requests/$cr/submit"
check "POST .../submit" test "$STATUS" = 200
state=$(field .state)
if [ "$state" = pending_approval ]; then
  TOKEN=$APPR call POST "/v1/change-requests/$cr/approve" '{"comment": "fine"}'
  state=$(field .state)
fi
check "POST .../approve (or no approval needed): approved" test "$state" = approved
TOKEN=$OP call POST "/v1/change-requests/$cr/execute"
check "POST .../execute: executing" test "$(field .state)" = executing
sql -c "SELECT nexplane._cr_complete(tenant_id, id) FROM nexplane.change_requests WHERE id = '$cr'" >/dev/null
TOKEN=$OP call POST "/v1/change-requests/$cr/rollback" '{"reason": "test"}'
check "POST .../rollback: rolling_back" test "$(field .state)" = rolling_back
call GET "/v1/change-requests/$cr/events"
check "GET .../events: every transition" test "$(field length)" -ge 4
TOKEN=$OP call POST /v1/change-requests "$cr_body"
cr2=$(field .id)
TOKEN=$OP call POST "/v1/change-requests/$cr2/cancel" '{"reason": "not needed"}'
check "POST .../cancel" test "$(field .state)" = cancelled
TOKEN=$OP call POST /v1/change-requests "${cr_body/create_role/drop_role}"
cr3=$(field .id)
TOKEN=$OP call POST "/v1/change-requests/$cr3/submit"
TOKEN=$APPR call POST "/v1/change-requests/$cr3/reject" '{"reason": "too risky"}'
check "POST .../reject" test "$(field .state)" = rejected

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

call GET /v1/connectors/types
check "GET /v1/connectors/types: the registry's types" \
  test "$STATUS:$(field '[.[].type] | sort | join(",")')" = 200:ldap,mariadb,postgresql,redis

# Routes whose functions have not landed answer 501, clearly.
x=00000000-0000-0000-0000-000000000001
not_yet=(
  "GET /v1/agents/$x" "POST /v1/agents/$x/revoke" "POST /v1/enrollment-tokens"
)
ok501=0
for r in "${not_yet[@]}"; do
  call ${r% *} "${r#* }"
  [ "$STATUS" = 501 ] && grep -q 'not available yet' <<<"$BODY" && ok501=$((ok501 + 1))
done
check "${#not_yet[@]} routes without a function answer 501 with a clear message" test "$ok501" = ${#not_yet[@]}

# ... and work as soon as the function exists, with no change to the shim.
sql -c "CREATE FUNCTION nexplane.agent_list() RETURNS jsonb LANGUAGE sql
        AS \$\$ SELECT '[\"agent-1\"]'::jsonb \$\$" \
    -c "GRANT EXECUTE ON FUNCTION nexplane.agent_list() TO nexplane_api" >/dev/null
call GET /v1/agents
check "a route starts working when its function lands" test "$STATUS:$(field '.[0]')" = 200:agent-1

call POST /v1/auth/logout
check "POST /v1/auth/logout" test "$STATUS" = 200
call GET /v1/auth/me
check "the logged-out token is refused" test "$STATUS" = 401

api_sanitizer_check
