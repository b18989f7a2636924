#!/usr/bin/env bash
# A local certificate authority and a server certificate for the API shim,
# for `make run` and the tests: nx_tls_make DIR [OWNER] writes ca.crt,
# ca.key, server.crt and server.key (for 127.0.0.1 and localhost) into DIR,
# once.  Keys are 0600 and belong to OWNER (default: the caller).
nx_tls_make() {
  local dir=$1 owner=${2:-}
  [ -f "$dir/server.crt" ] && return 0
  mkdir -p "$dir"
  (
    umask 077
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 825 \
      -subj "/CN=Nexplane local CA" -keyout "$dir/ca.key" -out "$dir/ca.crt" \
      -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" &&
    openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=localhost" \
      -keyout "$dir/server.key" -out "$dir/server.csr" &&
    openssl x509 -req -in "$dir/server.csr" -CA "$dir/ca.crt" -CAkey "$dir/ca.key" \
      -CAcreateserial -days 825 -out "$dir/server.crt" \
      -extfile <(printf '%s\n' "subjectAltName=IP:127.0.0.1,DNS:localhost" \
                 "extendedKeyUsage=serverAuth" "keyUsage=critical,digitalSignature")
  ) >/dev/null 2>&1 || { echo "could not make TLS certificates in $dir" >&2; return 1; }
  rm -f "$dir/server.csr" "$dir/ca.srl"
  chmod 644 "$dir/ca.crt" "$dir/server.crt"
  [ -n "$owner" ] && chown "$owner": "$dir" "$dir"/*
  return 0
}
