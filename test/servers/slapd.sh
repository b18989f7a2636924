#!/usr/bin/env bash
# A private OpenLDAP slapd for the ldap connector's tests: Debian's slapd,
# run as the unprivileged postgres user, from a slapd.d that slapadd makes
# in a temporary directory, on loopback only.  One mdb database with the
# ppolicy overlay (OpenLDAP 2.5 builds its schema into the module) and a
# default policy, so that a locked account's bind fails.  Also a TLS
# listener (ldaps) and StartTLS, with a CA made for the run.
#
#   nx_slapd_init DIR PORT TLSPORT SUFFIX MANAGER_DN
#       write DIR/slapd.d; MANAGER_DN is the connector's login: the ACLs
#       and limits give it exactly what docs/connectors/ldap.md says it
#       needs (write on userPassword, pwdAccountLockedTime, member and
#       uniqueMember; read elsewhere; paged searches past the size limit)
#   nx_slapd_load DIR LDIF        add entries (offline, with slapadd)
#   nx_slapd_start DIR            start it and wait until it answers
#   nx_slapd_stop DIR             stop it (its own pid); harmless if down
#   nx_slapd_hash PASSWORD_FILE   an {SSHA} hash of the file's first line
# The log (loglevel stats) is DIR/slapd.log; the CA is DIR/tls/ca.pem.

NX_SLAPD=/usr/sbin/slapd
NX_SLAPADD=/usr/sbin/slapadd

nx_slapd_as_postgres() {
  if [ "$(id -un)" = postgres ]; then "$@"; else runuser -u postgres -- "$@"; fi
}

nx_slapd_hash() {
  /usr/sbin/slappasswd -h '{SSHA}' -T "$1"
}

# A CA and a server certificate for 127.0.0.1, valid for a day.
nx_slapd_tls() {
  local t=$1/tls
  mkdir -p "$t"
  openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj "/CN=nexplane test CA" \
    -keyout "$t/ca.key" -out "$t/ca.pem" >/dev/null 2>&1 &&
    openssl req -newkey rsa:2048 -nodes -subj "/CN=127.0.0.1" \
      -keyout "$t/server.key" -out "$t/server.csr" >/dev/null 2>&1 &&
    printf 'subjectAltName = IP:127.0.0.1\n' >"$t/ext.cnf" &&
    openssl x509 -req -in "$t/server.csr" -CA "$t/ca.pem" -CAkey "$t/ca.key" \
      -CAcreateserial -days 1 -extfile "$t/ext.cnf" -out "$t/server.pem" >/dev/null 2>&1
}

nx_slapd_init() {
  local dir=$1 port=$2 tlsport=$3 suffix=$4 manager=$5
  mkdir -p "$dir/slapd.d" "$dir/db"
  nx_slapd_tls "$dir" || return 1
  echo "ldap://127.0.0.1:$port/ ldaps://127.0.0.1:$tlsport/" >"$dir/urls"
  cat >"$dir/config.ldif" <<EOF
dn: cn=config
objectClass: olcGlobal
cn: config
olcPidFile: $dir/slapd.pid
olcArgsFile: $dir/slapd.args
olcLogLevel: stats
olcTLSCACertificateFile: $dir/tls/ca.pem
olcTLSCertificateFile: $dir/tls/server.pem
olcTLSCertificateKeyFile: $dir/tls/server.key

dn: cn=module{0},cn=config
objectClass: olcModuleList
cn: module{0}
olcModulePath: /usr/lib/ldap
olcModuleLoad: back_mdb
olcModuleLoad: ppolicy

dn: cn=schema,cn=config
objectClass: olcSchemaConfig
cn: schema

include: file:///etc/ldap/schema/core.ldif
include: file:///etc/ldap/schema/cosine.ldif
include: file:///etc/ldap/schema/inetorgperson.ldif
include: file:///etc/ldap/schema/nis.ldif

dn: olcDatabase={-1}frontend,cn=config
objectClass: olcDatabaseConfig
objectClass: olcFrontendConfig
olcDatabase: {-1}frontend

dn: olcDatabase={0}config,cn=config
objectClass: olcDatabaseConfig
olcDatabase: {0}config
olcAccess: {0}to * by * none

dn: olcDatabase={1}mdb,cn=config
objectClass: olcDatabaseConfig
objectClass: olcMdbConfig
olcDatabase: {1}mdb
olcSuffix: $suffix
olcDbDirectory: $dir/db
olcDbMaxSize: 67108864
olcDbIndex: objectClass eq
olcDbIndex: uid,cn eq
olcDbIndex: member,uniqueMember eq
olcLimits: dn.exact="$manager" size.prtotal=unlimited
olcAccess: {0}to attrs=userPassword by dn.exact="$manager" write by self write by anonymous auth by * none
olcAccess: {1}to attrs=pwdAccountLockedTime by dn.exact="$manager" write by * read
olcAccess: {2}to attrs=member,uniqueMember by dn.exact="$manager" write by users read
olcAccess: {3}to * by dn.exact="$manager" read by users read by * none

dn: olcOverlay={0}ppolicy,olcDatabase={1}mdb,cn=config
objectClass: olcOverlayConfig
objectClass: olcPPolicyConfig
olcOverlay: {0}ppolicy
olcPPolicyDefault: cn=default,ou=policies,$suffix
EOF
  chmod 600 "$dir/tls/ca.key" "$dir/tls/server.key"
  chown -R postgres: "$dir"
  nx_slapd_as_postgres $NX_SLAPADD -n 0 -F "$dir/slapd.d" -l "$dir/config.ldif" >"$dir/slapadd.log" 2>&1 ||
    { cat "$dir/slapadd.log" >&2; return 1; }
}

nx_slapd_load() {
  local dir=$1 ldif=$2
  nx_slapd_as_postgres $NX_SLAPADD -n 1 -F "$dir/slapd.d" -l "$ldif" >>"$dir/slapadd.log" 2>&1 ||
    { cat "$dir/slapadd.log" >&2; return 1; }
}

nx_slapd_start() {
  local dir=$1 i
  # -d stats keeps slapd in the foreground, logging to stderr: our log file.
  # setpriv execs it (runuser would stay its parent, and stop itself for
  # good when a test stops slapd with SIGSTOP), so $! is slapd itself.
  if [ "$(id -un)" = postgres ]; then
    $NX_SLAPD -F "$dir/slapd.d" -h "$(cat "$dir/urls")" -d stats >>"$dir/slapd.log" 2>&1 &
  else
    setpriv --reuid=postgres --regid=postgres --init-groups -- \
      $NX_SLAPD -F "$dir/slapd.d" -h "$(cat "$dir/urls")" -d stats >>"$dir/slapd.log" 2>&1 &
  fi
  echo $! >"$dir/runner.pid"
  for i in $(seq 1 100); do
    if ldapsearch -x -LLL -o nettimeout=1 -H "$(cut -d' ' -f1 "$dir/urls")" \
      -s base -b "" namingContexts >/dev/null 2>&1; then
      return 0
    fi
    sleep 0.1
  done
  tail -n 30 "$dir/slapd.log" >&2
  return 1
}

nx_slapd_stop() {
  local dir=$1 pid i
  [ -f "$dir/slapd.pid" ] || [ -f "$dir/runner.pid" ] || return 0
  pid=$(cat "$dir/slapd.pid" 2>/dev/null || cat "$dir/runner.pid")
  # a test may have stopped it (SIGSTOP) to make it hang
  kill "$pid" 2>/dev/null || { rm -f "$dir/slapd.pid" "$dir/runner.pid"; return 0; }
  kill -CONT "$pid" 2>/dev/null
  for i in $(seq 1 50); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  kill -9 "$pid" 2>/dev/null
  rm -f "$dir/slapd.pid" "$dir/runner.pid"
  return 0
}

# nx_slapd_base_ldif SUFFIX: the tree every test directory starts from:
# the suffix's entry, ou=system, policies, people and groups, and the
# default password policy (lockout on, no failure limit).
nx_slapd_base_ldif() {
  local S=$1
  cat <<EOF
dn: $S
objectClass: dcObject
objectClass: organization
dc: nexplane
o: Nexplane test

dn: ou=system,$S
objectClass: organizationalUnit
ou: system

dn: ou=policies,$S
objectClass: organizationalUnit
ou: policies

dn: ou=people,$S
objectClass: organizationalUnit
ou: people

dn: ou=groups,$S
objectClass: organizationalUnit
ou: groups

dn: cn=default,ou=policies,$S
objectClass: device
objectClass: pwdPolicy
cn: default
pwdAttribute: userPassword
pwdLockout: TRUE
pwdMaxFailure: 0

EOF
}
