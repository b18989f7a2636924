#!/usr/bin/env bash
# The ldap connector through the whole engine, against a real OpenLDAP
# slapd (test/servers/slapd.sh: as postgres, on loopback, ppolicy with a
# default policy that locks): every change type created by an operator,
# approved by an approver, executed by the job workers, checked with
# ldapwhoami and ldapsearch bound as the account itself, then rolled back
# (a change request of its own, approved and run the same way) and checked
# again; the rotation's new password only in the vault; a reset the
# directory's password policy refuses; no secret in any log, result,
# evidence or audit event, nor in slapd's log.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/../servers/slapd.sh"
. "$(dirname "$0")/engine_lib.sh"

LD=$E2E_DIR/slapd
trap 'nx_slapd_stop "$LD"; nx_cluster_stop "$E2E_DIR/pg"; [ -n "${KEEP:-}" ] || rm -rf "$E2E_DIR"' EXIT
eng_setup

S=dc=nexplane,dc=test
MGR=cn=nexplane,ou=system,$S
ALICE=uid=alice,ou=people,$S
BOB=uid=bob,ou=people,$S
CAROL=uid=carol,ou=people,$S
DAVE=uid=dave,ou=people,$S
ERIN=uid=erin,ou=people,$S
DEVS=cn=devs,ou=groups,$S
OPS=cn=ops,ou=groups,$S
port=$(nx_free_port $((40000 + RANDOM % 10000)))
tlsport=$(nx_free_port $((port + 1)))
URL=ldap://127.0.0.1:$port

pw() { echo "canary-$1-$(openssl rand -hex 8)"; }
MGR_PW=$(pw mgr) OLD=$(pw alice) BOB_PW=$(pw bob) CAROL_PW=$(pw carol) DAVE_PW=$(pw dave) ERIN_PW=$(pw erin)
# name dn password: $SEC/name.pw for the clients (-y), $SEC/name.json
# for the vault (read by pg_read_file: no secret in SQL text)
account() {
  (umask 077; printf '%s' "$3" >"$SEC/$1.pw")
  chown postgres: "$SEC/$1.pw"
  eng_secret "$1" "{\"bind_dn\": \"$2\", \"password\": \"$3\"}"
}
account mgr "$MGR" "$MGR_PW"
account alice "$ALICE" "$OLD"
account bob "$BOB" "$BOB_PW"
account carol "$CAROL" "$CAROL_PW"
account dave "$DAVE" "$DAVE_PW"
account erin "$ERIN" "$ERIN_PW"
hash() { nx_slapd_hash "$SEC/$1.pw"; }

mkdir -p "$LD"
nx_slapd_init "$LD" "$port" "$tlsport" "$S" "$MGR" || { echo "not ok - slapd config"; exit 1; }
{
  nx_slapd_base_ldif "$S"
  cat <<EOF
dn: cn=long,ou=policies,$S
objectClass: device
objectClass: pwdPolicy
cn: long
pwdAttribute: userPassword
pwdLockout: TRUE
pwdCheckQuality: 2
pwdMinLength: 64

dn: $MGR
objectClass: applicationProcess
objectClass: simpleSecurityObject
cn: nexplane
userPassword: $(hash mgr)

EOF
  for u in alice bob carol dave erin; do
    printf 'dn: uid=%s,ou=people,%s\nobjectClass: inetOrgPerson\nuid: %s\ncn: %s\nsn: %s\nuserPassword: %s\n' \
      "$u" "$S" "$u" "$u" "$u" "$(hash "$u")"
    # dave is locked until an administrator unlocks him; erin's policy
    # wants passwords longer than the engine makes them
    [ "$u" = dave ] && echo "pwdAccountLockedTime: 000001010000Z"
    [ "$u" = erin ] && echo "pwdPolicySubentry: cn=long,ou=policies,$S"
    echo
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
EOF
} >"$LD/data.ldif"
chown postgres: "$LD/data.ldif"
nx_slapd_load "$LD" "$LD/data.ldif" || { echo "not ok - slapd data"; exit 1; }
nx_slapd_start "$LD" || { echo "not ok - slapd starts"; exit 1; }

# The clients' answers are read whole: grep -q on a pipe could end the
# client with SIGPIPE, which pipefail counts as a failure.
whoami() { ldapwhoami -x -o nettimeout=5 -H "$URL" -D "$1" -y "$SEC/$2.pw" 2>&1; }
binds() { [ "$(whoami "$1" "$2")" = "dn:$1" ]; }
refused() { local a; a=$(whoami "$1" "$2"); grep -qF "Invalid credentials (49)" <<<"$a"; }
# ACCOUNT, bound as itself, searches GROUP for itself as a value of ATTR:
# member_as prints "in" or "out", or ldapsearch's error
member_as() { # account name group attr
  local a
  a=$(ldapsearch -x -LLL -o ldif-wrap=no -o nettimeout=5 -H "$URL" -D "$1" -y "$SEC/$2.pw" \
    -b "$3" -s base "($4=$1)" dn 2>&1) || { echo "$a"; return; }
  case $a in "dn: $3") echo in ;; "") echo out ;; *) echo "$a" ;; esac
}
sees_itself_in() { [ "$(member_as "$@")" = in ]; }
sees_itself_out_of() { [ "$(member_as "$@")" = out ]; }
state_is() { [ "$(eng_state "$1")" = "$2" ]; }
state_like() { local s; s=$(eng_state "$1"); grep -qE "$2" <<<"$s"; }
refused_rollback() { local a; a=$(eng_as "$ENG_OP" "SELECT nexplane.cr_rollback('$1')" 2>&1); grep -qF "$2" <<<"$a"; }
versions() { sql -c "SELECT coalesce(string_agg(status, ',' ORDER BY status), '') FROM nexplane.credential_versions WHERE credential_id = '$1'"; }
no() { ! "$@"; }

check "before: alice's password binds" binds "$ALICE" alice
check "before: dave, locked by an administrator, is refused" refused "$DAVE" dave
MGR_CRED=$(eng_credential ldap-login mgr)
APP=$(eng_credential ldap-alice alice)
ERIN_CRED=$(eng_credential ldap-erin erin)
CONN=$(eng_connector ldap directory \
  "{\"url\": \"ldaps://127.0.0.1:$tlsport\", \"base_dn\": \"$S\", \"tls_ca\": \"$LD/tls/ca.pem\"}" "$MGR_CRED")
check "an ldap connector is made (ldaps, the run's CA)" test -n "$CONN"

# test and discover, as jobs
check "connector_test: the job succeeds" test "$(eng_job "$CONN" test_connection)" = succeeded
check "... over TLS, logged in as the connector's login" \
  test "$(sql -c "SELECT result->>'tls' || ' ' || (result->>'authorized_as') FROM nexplane.jobs WHERE connector_id = '$CONN' AND kind = 'test_connection'")" = "true dn:$MGR"
check "... and the connector's health is ok" \
  test "$(eng_as "$ENG_OP" "SELECT nexplane.connector_get('$CONN')->'health'->>'state'")" = ok
check "connector_discover: the job succeeds" test "$(eng_job "$CONN" discover)" = succeeded
check "... 6 users and 2 groups are assets, in the connector's environment" \
  test "$(eng_as "$ENG_OP" "SELECT string_agg(a->>'kind', ',' ORDER BY a->>'kind') || ' ' || bool_and(a->>'environment' = 'production')
                           FROM jsonb_array_elements(nexplane.asset_list('{\"connector_id\": \"$CONN\"}')) a")" \
  = "group,group,user,user,user,user,user,user true"
check "... dave's asset says he is locked" \
  test "$(eng_as "$ENG_OP" "SELECT a->'attributes'->>'locked' FROM jsonb_array_elements(nexplane.asset_list('{\"connector_id\": \"$CONN\"}')) a
                           WHERE a->>'external_id' = '$DAVE'")" = true

# reset_password: a new password only the vault knows
CR=$(eng_change "$CONN" reset_password "{\"credential_id\": \"$APP\"}")
check "reset_password: completed through approval and the workers" state_is "$CR" completed
check "... alice's old password is refused by slapd (ldapwhoami)" refused "$ALICE" alice
check "... the vault's new password binds as alice" eng_works "$CONN" "$APP"
check "... the vault keeps the old one as previous, nothing pending" test "$(versions "$APP")" = previous
check "... evidence of the pre-check, the execution and the verification" \
  test "$(sql -c "SELECT string_agg(kind, ',' ORDER BY created_at, kind) FROM nexplane.evidence WHERE change_request_id = '$CR'")" = "execution,pre_check,verification"
check "... the verification bound as alice" \
  test "$(sql -c "SELECT content->'checked'->>'authorized_as' FROM nexplane.evidence WHERE change_request_id = '$CR' AND kind = 'verification'")" = "dn:$ALICE"
check "... the connector's own login still binds" binds "$MGR" mgr
RB=$(eng_rollback "$CR")
check "its rollback: a change request of its own, completed" state_is "$RB" completed
check "... the original is rolled back" state_is "$CR" rolled_back
check "... alice's old password binds again (ldapwhoami)" binds "$ALICE" alice
check "... and it is the vault's current one again" eng_works "$CONN" "$APP"
check "... the rotated one kept as previous, nothing pending" test "$(versions "$APP")" = previous
check "a rolled-back change is not rolled back again" refused_rollback "$CR" "cannot rollback"
check "a rollback is not rolled back" refused_rollback "$RB" "a rollback is not rolled back"

# reset_password of the connector's own login (no credential_id): the
# workers log in with the vault's new password from then on, and the
# rollback logs in with it to set the old one back
CR=$(eng_change "$CONN" reset_password '{}')
check "reset_password of the connector's own login: completed" state_is "$CR" completed
check "... the login's old password is refused (ldapwhoami)" refused "$MGR" mgr
check "... the vault's new one binds as the login" eng_works "$CONN" "$MGR_CRED"
check "... the old one kept as previous, nothing pending" test "$(versions "$MGR_CRED")" = previous
check "... and connector_test, a job logging in with it, succeeds" test "$(eng_job "$CONN" test_connection)" = succeeded
RB=$(eng_rollback "$CR")
check "its rollback (logged in with the new password) completed" state_is "$RB" completed
check "... the login's old password binds again" binds "$MGR" mgr
check "... and is the vault's current one" eng_works "$CONN" "$MGR_CRED"

# add_to_group: bob into devs (groupOfNames), out again by the rollback
P="{\"group_dn\": \"$DEVS\", \"member_dn\": \"$BOB\"}"
check "before: bob, bound as himself, is not in devs" sees_itself_out_of "$BOB" bob "$DEVS" member
CR=$(eng_change "$CONN" add_to_group "$P")
check "add_to_group: completed" state_is "$CR" completed
check "... bob, bound as himself, finds himself in devs (ldapsearch)" sees_itself_in "$BOB" bob "$DEVS" member
check "... the member before and after, in the evidence" \
  test "$(sql -c "SELECT (content->'checked'->>'member_before') || ' ' || (content->'checked'->>'member_after') FROM nexplane.evidence WHERE change_request_id = '$CR' AND kind = 'execution'")" = "false true"
# the same add again while bob is in: it fails at the pre-check, stores
# no rollback state, and cr_rollback refuses it (every ldap change type
# has rollback: this is the refusal a change of this connector meets)
CR2=$(eng_change "$CONN" add_to_group "$P")
check "an add of a member already there fails at the pre-check, saying why" state_like "$CR2" "^failed: .*is already a member"
check "... its rollback is refused: it never reached the directory" refused_rollback "$CR2" "has nothing to roll back"
check "... bob is still in devs" sees_itself_in "$BOB" bob "$DEVS" member
RB=$(eng_rollback "$CR")
check "the completed add's rollback completed" state_is "$RB" completed
check "... the original is rolled back" state_is "$CR" rolled_back
check "... bob is out of devs again" sees_itself_out_of "$BOB" bob "$DEVS" member
check "... and alice is still in it" sees_itself_in "$ALICE" alice "$DEVS" member

# remove_from_group: bob out of ops (groupOfUniqueNames), back by the rollback
P="{\"group_dn\": \"$OPS\", \"member_dn\": \"$BOB\"}"
check "before: bob, bound as himself, is in ops" sees_itself_in "$BOB" bob "$OPS" uniqueMember
CR=$(eng_change "$CONN" remove_from_group "$P")
check "remove_from_group (destructive, two approvals): completed" state_is "$CR" completed
check "... approved by the approver and an admin, as its high risk wants" \
  test "$(sql -c "SELECT string_agg(approver_role, ',' ORDER BY approver_role) FROM nexplane.approvals
                  WHERE change_request_id = '$CR' AND decision = 'approve'")" = admin,approver
check "... bob no longer finds himself in ops (ldapsearch as bob)" sees_itself_out_of "$BOB" bob "$OPS" uniqueMember
check "... alice is still in ops" sees_itself_in "$ALICE" alice "$OPS" uniqueMember
RB=$(eng_rollback "$CR")
check "its rollback completed" state_is "$RB" completed
check "... the original is rolled back" state_is "$CR" rolled_back
check "... bob is in ops again" sees_itself_in "$BOB" bob "$OPS" uniqueMember

# lock_account: carol cannot bind; the rollback lets her in again
check "before: carol binds" binds "$CAROL" carol
CR=$(eng_change "$CONN" lock_account "{\"account_dn\": \"$CAROL\"}")
check "lock_account: completed" state_is "$CR" completed
check "... carol's password is refused (ldapwhoami)" refused "$CAROL" carol
check "... the execution read back pwdAccountLockedTime 000001010000Z" \
  test "$(sql -c "SELECT content->'result'->>'pwdAccountLockedTime' FROM nexplane.evidence WHERE change_request_id = '$CR' AND kind = 'execution'")" = 000001010000Z
RB=$(eng_rollback "$CR")
check "its rollback completed" state_is "$RB" completed
check "... the original is rolled back" state_is "$CR" rolled_back
check "... carol binds again" binds "$CAROL" carol

# unlock_account: dave, locked by an administrator, binds; the rollback
# locks him again
CR=$(eng_change "$CONN" unlock_account "{\"account_dn\": \"$DAVE\"}")
check "unlock_account: completed" state_is "$CR" completed
check "... dave binds (ldapwhoami)" binds "$DAVE" dave
RB=$(eng_rollback "$CR")
check "its rollback completed" state_is "$RB" completed
check "... the original is rolled back" state_is "$CR" rolled_back
check "... dave is refused again" refused "$DAVE" dave

# A worker lost in the middle of a change (killed with SIGKILL once
# execute's modify or password change reached slapd, before verify;
# eng_change_lost): the change fails as outcome unknown, the rollback
# state pre_check gave (stored before execute) is kept since the
# recovery's verify finds the change in effect, and rolled back through
# cr_rollback (approved by someone else) it restores the directory.
CR=$(eng_change_lost "$CONN" lock_account "{\"account_dn\": \"$CAROL\"}" locking)
check "a lost lock_account: failed, outcome unknown" state_is "$CR" "$ENG_LOST"
check "... it reached slapd: carol's password is refused" refused "$CAROL" carol
check "... the recovery found it in effect and kept the rollback state" test "$(eng_recovery "$CR")" = "true kept"
check "... pre_check's rollback state, as execute gives it" \
  eng_rollback_state_is "$CR" "{\"account_dn\": \"$CAROL\", \"previous\": null}"
RB=$(eng_rollback "$CR")
check "... its rollback, approved by another user, completed" state_is "$RB" completed
check "... the lost change is rolled back" state_like "$CR" "^rolled_back"
check "... carol binds again" binds "$CAROL" carol

P="{\"group_dn\": \"$DEVS\", \"member_dn\": \"$BOB\"}"
CR=$(eng_change_lost "$CONN" add_to_group "$P" "adding the member")
check "a lost add_to_group: failed, outcome unknown" state_is "$CR" "$ENG_LOST"
check "... it reached slapd: bob finds himself in devs" sees_itself_in "$BOB" bob "$DEVS" member
check "... the rollback state is kept" test "$(eng_recovery "$CR")" = "true kept"
check "... pre_check's, as execute gives it" \
  eng_rollback_state_is "$CR" "{\"group_dn\": \"$DEVS\", \"member_dn\": \"$BOB\", \"attribute\": \"member\", \"was_member\": false}"
RB=$(eng_rollback "$CR")
check "... its rollback completed" state_is "$RB" completed
check "... bob is out of devs again" sees_itself_out_of "$BOB" bob "$DEVS" member
check "... and alice is still in it" sees_itself_in "$ALICE" alice "$DEVS" member

CR=$(eng_change_lost "$CONN" reset_password "{\"credential_id\": \"$APP\"}" "setting the password")
check "a lost reset_password: failed, outcome unknown" state_is "$CR" "$ENG_LOST"
check "... it reached slapd: alice's old password is refused" refused "$ALICE" alice
check "... the recovery bound with the pending version and promoted it" test "$(versions "$APP")" = previous
check "... the vault's current password binds as alice" eng_works "$CONN" "$APP"
check "... the rollback state is kept" test "$(eng_recovery "$CR")" = "true kept"
check "... pre_check's, wrapped with the credential, as execute gives it" \
  eng_rollback_state_is "$CR" "{\"credential_id\": \"$APP\", \"connector\": {\"account_dn\": \"$ALICE\"}}"
RB=$(eng_rollback "$CR")
check "... its rollback, approved by another user, completed" state_is "$RB" completed
check "... the lost change is rolled back" state_like "$CR" "^rolled_back"
check "... alice's old password binds again" binds "$ALICE" alice
check "... and it is the vault's current one again" eng_works "$CONN" "$APP"

# A rotation's rollback whose worker is lost (docs/jobs.md, "A lost
# rollback of a rotation"): the recovery binds as alice to learn which
# version slapd takes, and the vault follows; the rollback fails as
# outcome unknown.
CR=$(eng_change "$CONN" reset_password "{\"credential_id\": \"$APP\"}")
check "(a reset to roll back: completed, the old password refused)" \
  eval 'state_is "$CR" completed && refused "$ALICE" alice'
RB=$(eng_rollback_lost "$CR" "setting the password")
check "a rollback of a reset lost once it landed: failed, outcome unknown" state_is "$RB" "$ENG_RB_LOST"
check "... the recovery found the previous password alone and swapped the versions" \
  test "$(eng_recovery_unrotate "$RB")" = "true restored"
check "... the vault's current version is the previous password: it binds as alice" \
  eval 'eng_works "$CONN" "$APP" && binds "$ALICE" alice'
check "... the reset one, kept as previous, does not" no eng_works "$CONN" "$APP" '{}' previous
check "... nothing pending" test "$(versions "$APP")" = previous
CR=$(eng_change "$CONN" reset_password "{\"credential_id\": \"$APP\"}")
RB=$(eng_rollback_lost "$CR" "rolling back")
check "a rollback of a reset lost before it touched slapd: failed, outcome unknown" state_is "$RB" "$ENG_RB_LOST"
check "... the decision recorded: not in effect, the vault unchanged" \
  test "$(eng_recovery_unrotate "$RB")" = "false unchanged"
check "... the vault's current (reset) password still binds" eng_works "$CONN" "$APP"
check "... the previous one is still refused, and still the vault's previous" \
  eval 'refused "$ALICE" alice && no eng_works "$CONN" "$APP" "{}" previous && test "$(versions "$APP")" = previous'

# a reset the directory refuses: erin's policy wants 64 characters, the
# engine makes 32.  Failed with slapd's reason, the pending version
# dropped (the old password still works), the old credential kept.
CR=$(eng_change "$CONN" reset_password "{\"credential_id\": \"$ERIN_CRED\"}")
check "a reset refused by the password policy fails, saying why" \
  state_like "$CR" "^failed: the directory refused to set the password of $ERIN: Constraint violation \(Password fails quality checking policy\)$"
check "... the workers found the old password still binding (evidence)" \
  test "$(sql -c "SELECT string_agg(kind || '=' || (content->>'ok'), ',' ORDER BY kind) FROM nexplane.evidence WHERE change_request_id = '$CR'")" \
  = "execution=false,pre_check=true,verification=false,verification_of_previous=true"
check "... no pending version is left, and no previous one" test "$(versions "$ERIN_CRED")" = ""
check "... the vault's credential still binds as erin" eng_works "$CONN" "$ERIN_CRED"
check "... erin's password binds (ldapwhoami)" binds "$ERIN" erin

check "no password in the server log, results, evidence, jobs or audit events" \
  eng_no_secrets "$MGR_PW" "$OLD" "$BOB_PW" "$CAROL_PW" "$DAVE_PW" "$ERIN_PW"
slapd_has_none() { local p; for p in "$@"; do ! grep -qF -- "$p" "$LD/slapd.log" || return 1; done; }
check "slapd's log holds the operations (PASSMOD, MOD, BIND)" \
  bash -c "grep -q PASSMOD '$LD/slapd.log' && grep -q ' MOD dn=' '$LD/slapd.log' && grep -q 'BIND dn=' '$LD/slapd.log'"
check "... and no password" slapd_has_none "$MGR_PW" "$OLD" "$BOB_PW" "$CAROL_PW" "$DAVE_PW" "$ERIN_PW"
