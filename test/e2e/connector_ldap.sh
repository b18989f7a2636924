#!/usr/bin/env bash
# The ldap connector against a real OpenLDAP slapd (test/servers/slapd.sh:
# run as postgres, on loopback, mdb with the ppolicy overlay and a default
# policy that locks).  Through nexplane_test.connector_call: test,
# discover (past the server's size limit, by pages), and for every change
# type pre_check, execute, a check with slapd's own clients (ldapwhoami,
# ldapsearch), verify, rollback, the check again, verify with undoing.
# Then bad input, a wrong login, TLS, a server that is down or hangs.
# Secrets reach SQL only through pg_read_file of files, and none of them
# may be found in slapd's log (loglevel stats), the nexplane server log
# (log_statement = all) or any result.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/../servers/slapd.sh"

LD=$E2E_DIR/slapd
trap 'nx_slapd_stop "$LD"; nx_cluster_stop "$E2E_DIR/pg"; [ -n "${KEEP:-}" ] || rm -rf "$E2E_DIR"' EXIT

e2e_cluster <<'CONF' || { echo "not ok - cluster starts"; exit 1; }
log_statement = 'all'
log_min_messages = debug1
log_min_error_statement = debug1
CONF
sql -c "CREATE EXTENSION nexplane" -c "CREATE EXTENSION nexplane_test" >/dev/null

# The directory and its accounts.
S=dc=nexplane,dc=test
MGR=cn=nexplane,ou=system,$S
ALICE=uid=alice,ou=people,$S
BOB=uid=bob,ou=people,$S
CAROL=uid=carol,ou=people,$S
DAVE=uid=dave,ou=people,$S
ERIN=uid=erin,ou=people,$S
DEVS=cn=devs,ou=groups,$S
OPS=cn=ops,ou=groups,$S
SOLO=cn=solo,ou=groups,$S
POSIX=cn=posix,ou=groups,$S
port=$(nx_free_port $((40000 + RANDOM % 10000)))
tlsport=$(nx_free_port $((port + 1)))
URL=ldap://127.0.0.1:$port
TLSURL=ldaps://127.0.0.1:$tlsport
SEC=$E2E_DIR/secrets
mkdir -p "$LD" "$SEC"
chmod 700 "$SEC"

# name password: SEC/name.pw (for ldapwhoami -y) and, with a DN,
# SEC/name.json (a credential, for pg_read_file)
secret() { # name dn password
  (umask 077
    printf '%s' "$3" >"$SEC/$1.pw"
    printf '{"bind_dn": "%s", "password": "%s"}' "$2" "$3" >"$SEC/$1.json")
}
PASSWORDS=(canary-mgr-pw-1 canary-alice-old-2 canary-alice-new-3 canary-bob-pw-4 canary-carol-pw-5
  canary-dave-pw-6 canary-mgr-new-7 canary-wrong-8 canary-bulk-pw-9 canary-erin-pw-10 canary-erin-new-11)
secret mgr "$MGR" canary-mgr-pw-1
secret alice_old "$ALICE" canary-alice-old-2
secret alice_new "$ALICE" canary-alice-new-3
secret bob "$BOB" canary-bob-pw-4
secret carol "$CAROL" canary-carol-pw-5
secret dave "$DAVE" canary-dave-pw-6
secret mgr_new "$MGR" canary-mgr-new-7
secret erin "$ERIN" canary-erin-pw-10
secret erin_new "$ERIN" canary-erin-new-11
secret wrong "$MGR" canary-wrong-8
secret bulk "$S" canary-bulk-pw-9
chown -R postgres: "$SEC"
hash() { nx_slapd_hash "$SEC/$1.pw"; }

nx_slapd_init "$LD" "$port" "$tlsport" "$S" "$MGR" || { echo "not ok - slapd config"; exit 1; }
{
  nx_slapd_base_ldif "$S"
  cat <<EOF
dn: cn=nolock,ou=policies,$S
objectClass: device
objectClass: pwdPolicy
cn: nolock
pwdAttribute: userPassword
pwdLockout: FALSE

dn: cn=mustchange,ou=policies,$S
objectClass: device
objectClass: pwdPolicy
cn: mustchange
pwdAttribute: userPassword
pwdLockout: TRUE
pwdMustChange: TRUE

dn: $MGR
objectClass: applicationProcess
objectClass: simpleSecurityObject
cn: nexplane
userPassword: $(hash mgr)

EOF
  for u in alice:alice_old bob:bob carol:carol dave:dave erin:erin; do
    printf 'dn: uid=%s,ou=people,%s\nobjectClass: inetOrgPerson\nuid: %s\ncn: %s\nsn: %s\nmail: %s@nexplane.test\nuserPassword: %s\n' \
      "${u%%:*}" "$S" "${u%%:*}" "${u%%:*}" "${u%%:*}" "${u%%:*}" "$(hash "${u#*:}")"
    [ "${u%%:*}" = dave ] && echo "pwdPolicySubentry: cn=nolock,ou=policies,$S"
    [ "${u%%:*}" = erin ] && echo "pwdPolicySubentry: cn=mustchange,ou=policies,$S"
    echo
  done
  # Past slapd's default size limit (500): discover must page.
  h=$(hash bulk)
  for i in $(seq -w 1 520); do
    printf 'dn: uid=u%s,ou=people,%s\nobjectClass: inetOrgPerson\nuid: u%s\ncn: u%s\nsn: u\nuserPassword: %s\n\n' \
      "$i" "$S" "$i" "$i" "$h"
  done
  cat <<EOF
dn: $DEVS
objectClass: groupOfNames
cn: devs
member: $ALICE

dn: $OPS
objectClass: groupOfUniqueNames
cn: ops
uniqueMember: $ALICE
uniqueMember: $BOB

dn: $SOLO
objectClass: groupOfNames
cn: solo
member: $CAROL

dn: $POSIX
objectClass: posixGroup
cn: posix
gidNumber: 5000
memberUid: alice
EOF
} >"$LD/data.ldif"
chown postgres: "$LD/data.ldif"
nx_slapd_load "$LD" "$LD/data.ldif" || { echo "not ok - slapd data"; exit 1; }
nx_slapd_start "$LD" || { echo "not ok - slapd starts"; exit 1; }
echo "ok - slapd runs as postgres on $URL and $TLSURL"

CFG="{\"url\": \"$URL\", \"base_dn\": \"$S\"}"
OUT=$E2E_DIR/results.log

# cc op [change_type] [params] [new_secret] [old_secret] [rollback_state] [undoing]
# (secrets are names of SEC files); CRED, CONFIG and TIMEOUT may be set.
cc() {
  local op=$1 ct=${2:-} params=${3:-} new=NULL old=NULL state=${6:-} undo=${7:-false} r
  [ -n "${4:-}" ] && new="pg_read_file('$SEC/$4.json')::jsonb"
  [ -n "${5:-}" ] && old="pg_read_file('$SEC/$5.json')::jsonb"
  r=$(sql -v op="$op" -v ct="$ct" -v params="$params" -v state="$state" -v undo="$undo" \
    -v cfg="${CONFIG:-$CFG}" -v tmo="${TIMEOUT:-10000}" <<SQL
SELECT nexplane_test.connector_call('ldap', :'op', :'cfg'::jsonb,
         pg_read_file('$SEC/${CRED:-mgr}.json')::jsonb, nullif(:'ct', ''),
         nullif(:'params', '')::jsonb, $new, $old, nullif(:'state', '')::jsonb,
         :'undo'::boolean, :'tmo'::integer)
SQL
  )
  printf '%s\n' "$r" >>"$OUT"
  printf '%s\n' "$r"
}
not() { ! "$@"; }
# jq -e, but an empty input (psql failed) is false, not a pass
jqe() { local in; in=$(cat); [ -n "$in" ] && jq -e "$@" <<<"$in"; }
is_ok() { jqe '.ok == true' >/dev/null <<<"$1"; }
# pre_check gives the rollback state execute then gives (stored before
# execute, it is what a lost worker leaves): same_state PRE_CHECK EXECUTE
same_state() { jq -e -n --argjson p "$1" --argjson e "$2" '$p.ok and $e.ok and $p.rollback_state != null and $p.rollback_state == $e.rollback_state'; }
fails_with() { # result, then a fixed string its error holds
  jqe --arg s "$2" '.ok == false and (.error | contains($s))' >/dev/null <<<"$1"
}
binds() { ldapwhoami -x -o nettimeout=5 -H "$URL" -D "$1" -y "$SEC/$2.pw"; }
member_of() { # group attr member
  [ "$(ldapsearch -x -LLL -o ldif-wrap=no -H "$URL" -D "$MGR" -y "$SEC/mgr.pw" -b "$1" -s base \
    "($2=$3)" dn | grep -c '^dn:')" = 1 ]
}
locked_time() {
  ldapsearch -x -LLL -o ldif-wrap=no -H "$URL" -D "$MGR" -y "$SEC/mgr.pw" -b "$1" -s base \
    pwdAccountLockedTime | sed -n 's/^pwdAccountLockedTime: //p'
}

# test and discover
r=$(cc test)
check "test binds and reads the root DSE" is_ok "$r"
check "test reports the server, the login, password modify and ppolicy" \
  jqe --arg mgr "$MGR" '.result.server_version == "OpenLDAP" and .result.authorized_as == "dn:" + $mgr
    and .result.password_modify and .result.ppolicy and (.result.tls | not)' <<<"$r"
r=$(cc discover)
check "discover succeeds" is_ok "$r"
check "discover pages past the server's size limit: 526 users, 4 groups" \
  jqe '.result.count == 530 and .result.pages >= 3 and (.result.truncated | not)
    and ([.result.assets[] | select(.kind == "user")] | length) == 526
    and ([.result.assets[] | select(.kind == "group")] | length) == 4' <<<"$r"
check "discover describes users and groups" \
  jqe --arg a "$ALICE" --arg d "$DEVS" --arg o "$OPS" --arg p "$POSIX" '
    (.result.assets[] | select(.external_id == $a) | .name == "alice" and .attributes.mail == "alice@nexplane.test" and (.attributes.locked | not))
    and (.result.assets[] | select(.external_id == $d) | .attributes.member_attribute == "member" and .attributes.members == 1)
    and (.result.assets[] | select(.external_id == $o) | .attributes.member_attribute == "uniqueMember" and .attributes.members == 2)
    and (.result.assets[] | select(.external_id == $p) | .attributes.managed == false)' <<<"$r"
r=$(CRED=alice_old cc discover)
check "a login without the connector's size limit gets 500 entries, marked truncated" \
  jqe '.ok and .result.count == 500 and .result.truncated' <<<"$r"

# reset_password: alice, by the connector's login
r=$(cc pre_check reset_password '{}' alice_new alice_old)
check "reset_password pre_check" is_ok "$r"
pc=$r
check "before: alice's old password binds" binds "$ALICE" alice_old
r=$(cc execute reset_password '{}' alice_new alice_old)
check "reset_password execute" is_ok "$r"
check "reset_password: pre_check gave execute's rollback state" same_state "$pc" "$r"
state=$(jq -c .rollback_state <<<"$r")
check "reset_password: the new password binds (ldapwhoami)" binds "$ALICE" alice_new
check "reset_password: the old password no longer binds" not binds "$ALICE" alice_old
r=$(cc verify reset_password '{}' alice_new alice_old "$state")
check "reset_password verify binds as alice with the new password" \
  jqe --arg a "$ALICE" '.ok and .evidence.authorized_as == "dn:" + $a' <<<"$r"
r=$(cc verify reset_password '{}' alice_old alice_new "$state")
check "verify with a password that does not bind fails" fails_with "$r" "Invalid credentials"
r=$(cc rollback reset_password '{}' alice_old alice_new "$state" true)
check "reset_password rollback" is_ok "$r"
check "after rollback: the old password binds again" binds "$ALICE" alice_old
check "after rollback: the new one does not" not binds "$ALICE" alice_new
r=$(cc verify reset_password '{}' alice_old alice_new "$state" true)
check "reset_password verify (undoing) binds with the previous password" is_ok "$r"
r=$(cc execute reset_password '{}' alice_new bob)
check "reset_password refuses secrets that name two accounts" fails_with "$r" "name different accounts"
r=$(cc rollback reset_password '{}' bob "" "$state" true)
check "reset_password rollback refuses a secret for another account than the change's" \
  fails_with "$r" "but the change was made to"

# reset_password of the connector's own login, and back
r=$(cc execute reset_password '{}' mgr_new mgr)
check "reset_password of the connector's own login" is_ok "$r"
check "its new password binds" binds "$MGR" mgr_new
r=$(CRED=mgr_new cc verify reset_password '{}' mgr_new mgr)
check "verify of the connector's own rotation" is_ok "$r"
r=$(CRED=mgr_new cc rollback reset_password '{}' mgr mgr_new "{\"account_dn\": \"$MGR\"}" true)
check "its rollback, logged in with the new password" is_ok "$r"
check "the connector's old password binds again" binds "$MGR" mgr

# reset_password under a policy of its own with pwdMustChange
r=$(cc execute reset_password '{}' erin_new erin)
check "reset_password under a pwdMustChange policy" is_ok "$r"
r=$(cc verify reset_password '{}' erin_new erin)
check "its verify binds as erin with the new password" is_ok "$r"
check "erin's new password binds (ldapwhoami)" binds "$ERIN" erin_new

# add_to_group: bob to devs (groupOfNames)
P="{\"group_dn\": \"$DEVS\", \"member_dn\": \"$BOB\"}"
r=$(cc pre_check add_to_group "$P")
check "add_to_group pre_check" is_ok "$r"
pc=$r
r=$(cc execute add_to_group "$P")
check "add_to_group execute" jqe '.ok and .result.changed and .result.attribute == "member"' <<<"$r"
check "add_to_group: pre_check gave execute's rollback state" same_state "$pc" "$r"
state=$(jq -c .rollback_state <<<"$r")
check "add_to_group: ldapsearch finds bob in devs" member_of "$DEVS" member "$BOB"
r=$(cc verify add_to_group "$P" "" "" "$state")
check "add_to_group verify" is_ok "$r"
r=$(cc pre_check add_to_group "$P")
check "add_to_group pre_check refuses a member already there" fails_with "$r" "is already a member"
r=$(cc verify add_to_group "$P" "" "" "$state" true)
check "add_to_group verify (undoing) fails before the rollback" fails_with "$r" "is still a member"
r=$(cc rollback add_to_group "$P" "" "" "$state" true)
check "add_to_group rollback" is_ok "$r"
check "add_to_group: bob is out of devs again" not member_of "$DEVS" member "$BOB"
r=$(cc verify add_to_group "$P" "" "" "$state" true)
check "add_to_group verify (undoing)" is_ok "$r"
r=$(cc execute add_to_group "{\"group_dn\": \"$DEVS\", \"member_dn\": \"$ALICE\"}")
noop=$(jq -c .rollback_state <<<"$r")
check "add_to_group of a member already there changes nothing" jqe '.ok and (.result.changed | not)' <<<"$r"
r=$(cc rollback add_to_group "{\"group_dn\": \"$DEVS\", \"member_dn\": \"$ALICE\"}" "" "" "$noop" true)
check "and its rollback removes nothing" member_of "$DEVS" member "$ALICE"
r=$(cc pre_check add_to_group "{\"group_dn\": \"$DEVS\", \"member_dn\": \"uid=nobody,ou=people,$S\"}")
check "add_to_group pre_check refuses a member that does not exist" fails_with "$r" "does not exist"

# remove_from_group: bob from ops (groupOfUniqueNames)
P="{\"group_dn\": \"$OPS\", \"member_dn\": \"$BOB\"}"
r=$(cc pre_check remove_from_group "$P")
check "remove_from_group pre_check" is_ok "$r"
pc=$r
r=$(cc execute remove_from_group "$P")
check "remove_from_group execute (uniqueMember)" jqe '.ok and .result.changed and .result.attribute == "uniqueMember"' <<<"$r"
check "remove_from_group: pre_check gave execute's rollback state" same_state "$pc" "$r"
state=$(jq -c .rollback_state <<<"$r")
check "remove_from_group: ldapsearch no longer finds bob in ops" not member_of "$OPS" uniqueMember "$BOB"
r=$(cc verify remove_from_group "$P" "" "" "$state")
check "remove_from_group verify" is_ok "$r"
r=$(cc rollback remove_from_group "$P" "" "" "$state" true)
check "remove_from_group rollback" is_ok "$r"
check "remove_from_group: bob is in ops again" member_of "$OPS" uniqueMember "$BOB"
r=$(cc verify remove_from_group "$P" "" "" "$state" true)
check "remove_from_group verify (undoing)" is_ok "$r"
r=$(cc pre_check remove_from_group "{\"group_dn\": \"$SOLO\", \"member_dn\": \"$CAROL\"}")
check "remove_from_group pre_check refuses the last member of a groupOfNames" fails_with "$r" "last member"
r=$(cc pre_check remove_from_group "{\"group_dn\": \"$DEVS\", \"member_dn\": \"$CAROL\"}")
check "remove_from_group pre_check refuses a non-member" fails_with "$r" "is not a member"
r=$(cc pre_check remove_from_group "{\"group_dn\": \"$POSIX\", \"member_dn\": \"$ALICE\"}")
check "a posixGroup is refused (memberUid is not managed)" fails_with "$r" "is not a groupOfNames or a groupOfUniqueNames"
r=$(cc pre_check remove_from_group "{\"group_dn\": \"$DEVS\", \"member_dn\": \"uid=*)(objectClass=*,ou=people,$S\"}")
check "filter metacharacters in a member DN are escaped (not a member, not a filter error)" \
  fails_with "$r" "is not a member"

# lock_account: alice
P="{\"account_dn\": \"$ALICE\"}"
r=$(cc pre_check lock_account "$P")
check "lock_account pre_check" is_ok "$r"
pc=$r
r=$(cc execute lock_account "$P")
check "lock_account execute" jqe '.ok and .result.pwdAccountLockedTime == "000001010000Z" and .rollback_state.previous == null' <<<"$r"
check "lock_account: pre_check gave execute's rollback state" same_state "$pc" "$r"
state=$(jq -c .rollback_state <<<"$r")
check "lock_account: alice's password no longer binds" not binds "$ALICE" alice_old
r=$(cc verify lock_account "$P" "" "" "$state")
check "lock_account verify" is_ok "$r"
r=$(cc pre_check lock_account "$P")
check "lock_account pre_check refuses an account already locked" fails_with "$r" "is already locked"
r=$(cc rollback lock_account "$P" "" "" "$state" true)
check "lock_account rollback" is_ok "$r"
check "lock_account: alice binds again" binds "$ALICE" alice_old
r=$(cc verify lock_account "$P" "" "" "$state" true)
check "lock_account verify (undoing)" is_ok "$r"
r=$(cc pre_check lock_account "{\"account_dn\": \"$DAVE\"}")
check "lock_account pre_check refuses an account whose policy does not lock" fails_with "$r" "does not have pwdLockout TRUE"
r=$(cc pre_check unlock_account "$P")
check "unlock_account pre_check refuses an account that is not locked" fails_with "$r" "is not locked"

# unlock_account: carol, locked by hand first
ldapmodify -x -H "$URL" -D "$MGR" -y "$SEC/mgr.pw" >/dev/null <<EOF
dn: $CAROL
changetype: modify
replace: pwdAccountLockedTime
pwdAccountLockedTime: 000001010000Z
EOF
check "before: carol is locked" not binds "$CAROL" carol
P="{\"account_dn\": \"$CAROL\"}"
r=$(cc pre_check unlock_account "$P")
check "unlock_account pre_check" is_ok "$r"
pc=$r
r=$(cc execute unlock_account "$P")
check "unlock_account execute" jqe '.ok and .result.locked == false and .rollback_state.previous == "000001010000Z"' <<<"$r"
check "unlock_account: pre_check gave execute's rollback state" same_state "$pc" "$r"
state=$(jq -c .rollback_state <<<"$r")
check "unlock_account: carol binds" binds "$CAROL" carol
check "unlock_account: pwdAccountLockedTime is gone" test -z "$(locked_time "$CAROL")"
r=$(cc verify unlock_account "$P" "" "" "$state")
check "unlock_account verify" is_ok "$r"
r=$(cc rollback unlock_account "$P" "" "" "$state" true)
check "unlock_account rollback" is_ok "$r"
check "unlock_account: carol is locked again" test "$(locked_time "$CAROL")" = 000001010000Z
check "unlock_account: and cannot bind" not binds "$CAROL" carol
r=$(cc verify unlock_account "$P" "" "" "$state" true)
check "unlock_account verify (undoing)" is_ok "$r"
r=$(cc verify unlock_account "$P" "" "" "$state")
check "unlock_account verify fails while the account is locked" fails_with "$r" "still locked"

# Bad input: missing, oversized, malicious, outside the base DN.
r=$(cc execute add_to_group '{}')
check "missing params are refused" fails_with "$r" "params.group_dn is required"
r=$(cc execute add_to_group "{\"group_dn\": \"$DEVS\"}")
check "a missing member_dn is refused" fails_with "$r" "params.member_dn is required"
r=$(cc execute lock_account "{\"account_dn\": 42}")
check "a DN that is not a string is refused" fails_with "$r" "params.account_dn is required"
long=$(printf 'cn=%02000d,%s' 0 "$S")
r=$(cc execute lock_account "{\"account_dn\": \"$long\"}")
check "an oversized DN is refused" fails_with "$r" "longer than 1024 bytes"
r=$(cc execute lock_account '{"account_dn": "not a dn; DROP TABLE x --"}')
check "a malformed DN (semicolons) is refused" fails_with "$r" "is not a valid DN"
r=$(cc execute lock_account "{\"account_dn\": \"uid=a'\\\"b,ou=people,$S\"}")
check "a DN with unescaped quotes is refused" fails_with "$r" "is not a valid DN"
r=$(cc execute lock_account "{\"account_dn\": \"uid=x\\\\nfoo,ou=people,$S\"}")
check "a DN with a bad escape is refused" fails_with "$r" "is not a valid DN"
r=$(cc execute lock_account '{"account_dn": "uid=a\u0001b,dc=nexplane,dc=test"}')
check "a DN with a control character is refused" fails_with "$r" "is not a valid DN"
r=$(cc execute lock_account '{"account_dn": "uid=alice,ou=people,dc=other,dc=test"}')
check "a DN outside the base DN is refused" fails_with "$r" "is not under the connector's base DN"
r=$(cc execute remove_from_group "{\"group_dn\": \"cn=nope,ou=groups,$S\", \"member_dn\": \"$BOB\"}")
check "a group that does not exist" fails_with "$r" "does not exist"
r=$(cc execute lock_account "{\"account_dn\": \"uid=nobody,ou=people,$S\"}")
check "an account that does not exist" fails_with "$r" "does not exist"
r=$(cc execute reset_password '{}')
check "reset_password without new_secret is refused" fails_with "$r" "new_secret is required"
r=$(CONFIG='{"url": "ldapi:///var/run/slapd/ldapi", "base_dn": "dc=nexplane,dc=test"}' cc test)
check "an ldapi:// URL is refused" fails_with "$r" "must be one ldap:// or ldaps:// URL"
r=$(CONFIG="{\"url\": \"$URL/$(printf '%0600d' 0)\", \"base_dn\": \"$S\"}" cc test)
check "an oversized URL is refused" fails_with "$r" "config.url is longer than 512 bytes"
r=$(CONFIG="{\"url\": \"$URL $URL\", \"base_dn\": \"$S\"}" cc test)
check "a list of URLs is refused" fails_with "$r" "must be one ldap:// or ldaps:// URL"
r=$(CONFIG="{\"url\": \"ldap://192.0.2.1:$port\", \"base_dn\": \"$S\"}" cc test)
check "ldap:// in clear to a host that is not loopback is refused" fails_with "$r" "use ldaps:// or set starttls"
r=$(CONFIG="{\"url\": \"ldap:///\", \"base_dn\": \"$S\"}" cc test)
check "a URL without a host is refused" fails_with "$r" "must name the directory's host"
r=$(CONFIG="{\"url\": \"$URL\"}" cc test)
check "a config without base_dn is refused" fails_with "$r" "config.base_dn is required"
r=$(CRED=wrong cc test)
check "a wrong login password is refused by the directory" fails_with "$r" "Invalid credentials"
r=$(CRED=bulk cc test)
check "a login DN that has no password is refused" fails_with "$r" "Invalid credentials"
(umask 077; printf '{"bind_dn": "%s", "password": ""}' "$MGR" >"$SEC/empty.json")
chown postgres: "$SEC/empty.json"
r=$(CRED=empty cc test)
check "an empty password is refused before any anonymous bind" fails_with "$r" "would bind anonymously"
sql -At -c "SELECT nexplane_test.connector_call('ldap', 'execute', '{}', '{}', 'rotate_password')" \
  >/dev/null 2>&1
check "an unknown change type is an error" test $? -ne 0

# TLS: ldaps and StartTLS, verified against the run's CA, and refused without it.
r=$(CONFIG="{\"url\": \"$TLSURL\", \"base_dn\": \"$S\", \"tls_ca\": \"$LD/tls/ca.pem\"}" cc test)
check "ldaps:// with tls_ca" jqe '.ok and .result.tls' <<<"$r"
r=$(CONFIG="{\"url\": \"$URL\", \"base_dn\": \"$S\", \"starttls\": true, \"tls_ca\": \"$LD/tls/ca.pem\"}" cc test)
check "StartTLS with tls_ca" jqe '.ok and .result.tls' <<<"$r"
r=$(CONFIG="{\"url\": \"ldaps://localhost:$tlsport\", \"base_dn\": \"$S\", \"tls_ca\": \"$LD/tls/ca.pem\"}" cc test)
check "ldaps:// to a host its certificate does not name is refused" fails_with "$r" "check that its certificate"
r=$(CONFIG="{\"url\": \"$TLSURL\", \"base_dn\": \"$S\"}" cc test)
check "ldaps:// to a certificate no trusted CA signed is refused" fails_with "$r" "check that its certificate is signed by the CA of config.tls_ca"
r=$(CONFIG="{\"url\": \"$TLSURL\", \"base_dn\": \"$S\", \"tls_ca\": \"$LD/tls/none.pem\"}" cc test)
check "a tls_ca that cannot be read is refused" fails_with "$r" "cannot set up TLS: is config.tls_ca a PEM file"
r=$(CONFIG="{\"url\": \"$TLSURL\", \"base_dn\": \"$S\", \"tls_ca\": \"tls/ca.pem\"}" cc test)
check "a relative tls_ca is refused" fails_with "$r" "config.tls_ca must be the absolute path"
r=$(CONFIG="{\"url\": \"$TLSURL\", \"base_dn\": \"$S\", \"starttls\": true}" cc test)
check "starttls on an ldaps:// URL is refused" fails_with "$r" "an ldaps:// URL is TLS already"

# A server that hangs (stopped with SIGSTOP): a clear error within the timeout.
slapd_pid=$(cat "$LD/slapd.pid")
kill -STOP "$slapd_pid"
t0=$(date +%s%N)
r=$(TIMEOUT=1500 cc test)
ms=$((($(date +%s%N) - t0) / 1000000))
kill -CONT "$slapd_pid"
check "a hung server times out" fails_with "$r" "binding as $MGR: the directory did not answer before the call's deadline"
check "within the call's timeout (${ms} ms for 1500)" test "$ms" -lt 4000

# slapd's log: every operation logged, no password.
check "slapd's log holds the operations (PASSMOD, MOD, BIND)" \
  bash -c "grep -q PASSMOD '$LD/slapd.log' && grep -q ' MOD dn=' '$LD/slapd.log' && grep -q 'BIND dn=' '$LD/slapd.log'"

# A server that is down: a clear error at once.
nx_slapd_stop "$LD"
t0=$(date +%s%N)
r=$(cc test)
ms=$((($(date +%s%N) - t0) / 1000000))
check "a server that is down: Can't contact LDAP server, naming the URL" fails_with "$r" "cannot reach the directory at $URL (Can't contact LDAP server)"
check "at once (${ms} ms)" test "$ms" -lt 3000

for p in "${PASSWORDS[@]}"; do
  check "$p is in no result" bash -c "! grep -qF -- '$p' '$OUT'"
  check "$p is not in slapd's log" bash -c "! grep -qF -- '$p' '$LD/slapd.log'"
  check "$p is not in the nexplane server log" bash -c "! grep -qF -- '$p' '$E2E_DIR/pg/server.log'"
done
check "the nexplane server log has the calls (log_statement = all)" grep -q 'connector_call' "$E2E_DIR/pg/server.log"
