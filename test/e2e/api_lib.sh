#!/usr/bin/env bash
# Shared by the api_*.sh scripts: a cluster with two tenants and fixtures,
# the shim built with AddressSanitizer and UndefinedBehaviorSanitizer on a
# free port over HTTPS, and helpers to call it with curl.  Sanitizer
# reports go to files that api_sanitizer_check counts.
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
. "$(dirname "${BASH_SOURCE[0]}")/../../scripts/tls.sh"

API_BIN=$(cd "$(dirname "${BASH_SOURCE[0]}")/../../api" && pwd)/nexplane-api-asan
trap 'api_stop; nx_cluster_stop "$E2E_DIR/pg"; [ -n "${KEEP:-}" ] || rm -rf "$E2E_DIR"' EXIT

export ASAN_OPTIONS="log_path=$E2E_DIR/asan:detect_leaks=1:abort_on_error=0"
export UBSAN_OPTIONS="log_path=$E2E_DIR/ubsan:print_stacktrace=1"

api_setup() { # cluster, extension, tenants acme and other, a connector each
  e2e_cluster </dev/null || { echo "not ok - cluster starts"; exit 1; }
  nx_tls_make "$E2E_DIR/tls" || { echo "not ok - TLS certificates"; exit 1; }
  sql -c "CREATE EXTENSION nexplane" -c "SET client_min_messages = warning" \
      -c "SELECT nexplane.tenant_create('acme', 'Acme', 'admin@acme.test', 'acme-admin-pass-1') IS NOT NULL" \
      -c "SELECT nexplane.tenant_create('other', 'Other', 'admin@other.test', 'other-admin-pass-1') IS NOT NULL" \
      -c "INSERT INTO nexplane.connectors (tenant_id, id, type, name)
          SELECT id, CASE slug WHEN 'acme' THEN '10000000-0000-0000-0000-00000000000a'::uuid
                               ELSE '10000000-0000-0000-0000-00000000000b'::uuid END,
                 'postgresql', 'pg-main' FROM nexplane.tenants" >/dev/null
  sql -c "SELECT nexplane.login('admin@acme.test', 'acme-admin-pass-1') IS NOT NULL" \
      -c "SELECT count(nexplane.user_create(e, 'acme-user-pass-1', r)) FROM (VALUES
            ('op@acme.test', 'operator'), ('appr@acme.test', 'approver'),
            ('view@acme.test', 'viewer')) v(e, r)" >/dev/null
}

api_start() { # extra flags for the shim
  API_PORT=$(nx_free_port 18443)
  API="https://127.0.0.1:$API_PORT"
  "$API_BIN" --listen "127.0.0.1:$API_PORT" --tls-cert "$E2E_DIR/tls/server.crt" \
    --tls-key "$E2E_DIR/tls/server.key" --pool-size 4 \
    --db "host=$PGHOST port=$PGPORT dbname=postgres user=nexplane_api" "$@" \
    >>"$E2E_DIR/api.out" 2>>"$E2E_DIR/api.err" &
  API_PID=$!
  for _ in $(seq 1 100); do
    curl -s -o /dev/null --cacert "$E2E_DIR/tls/ca.crt" "$API/ready" && return 0
    sleep 0.1
  done
  echo "not ok - the shim starts"; cat "$E2E_DIR/api.err"; exit 1
}

api_stop() {
  [ -n "${API_PID:-}" ] || return 0
  kill -TERM "$API_PID" 2>/dev/null
  wait "$API_PID" 2>/dev/null
  API_PID=
}

# call METHOD PATH [BODY] [curl options...]: sets STATUS, BODY, HEADERS;
# sends $TOKEN when set, and a body as $CT (default application/json).
call() {
  local method=$1 path=$2 body=${3:-}
  shift 3 2>/dev/null || shift $#
  local args=(-s -X "$method" --cacert "$E2E_DIR/tls/ca.crt" -o "$E2E_DIR/body"
              -D "$E2E_DIR/headers" -w '%{http_code}')
  [ -n "${TOKEN:-}" ] && args+=(-H "Authorization: Bearer $TOKEN")
  [ -n "$body" ] && args+=(-H "Content-Type: ${CT:-application/json}" --data-binary "$body")
  STATUS=$(curl "${args[@]}" "$@" "$API$path")
  BODY=$(cat "$E2E_DIR/body")
  HEADERS=$(cat "$E2E_DIR/headers")
}

field() { jq -r "$1" <<<"$BODY"; }

login() { # email password: prints the access token
  local saved=${TOKEN:-}
  TOKEN= call POST /v1/auth/login "{\"email\": \"$1\", \"password\": \"$2\"}"
  TOKEN=$saved
  field .access_token
}

api_sanitizer_check() {
  api_stop
  check "no AddressSanitizer or UndefinedBehaviorSanitizer reports" \
    bash -c "! ls '$E2E_DIR'/asan.* '$E2E_DIR'/ubsan.* 2>/dev/null | grep -q ."
  if ls "$E2E_DIR"/asan.* "$E2E_DIR"/ubsan.* >/dev/null 2>&1; then
    head -n 40 "$E2E_DIR"/asan.* "$E2E_DIR"/ubsan.* 2>/dev/null
  fi
}
