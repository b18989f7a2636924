#!/usr/bin/env bash
# The redis connector through the whole engine, against Debian's
# redis-server: every change type created by an operator, approved by an
# approver, executed by the job workers, checked with redis-cli logged in
# as the account, then rolled back (a change request of its own, approved
# and run the same way) and checked again; the rotation's new secret only
# in the vault; no secret in any log, result, evidence or audit event.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/../servers/redis.sh"
. "$(dirname "$0")/engine_lib.sh"

R=$E2E_DIR/redis
trap 'nx_redis_stop "$R"; nx_cluster_stop "$E2E_DIR/pg"; [ -n "${KEEP:-}" ] || rm -rf "$E2E_DIR"' EXIT
eng_setup

pw() { echo "canary-$1-$(openssl rand -hex 8)"; }
ADMIN=$(pw admin) OLD=$(pw old) P2=$(pw app2)
port=$(nx_free_port 26379)
nx_redis_init "$R" "$port" aclfile
h() { echo "#$(nx_redis_hash "$1")"; }
nx_redis_user "$R" default off
nx_redis_user "$R" nxadmin on "$(h "$ADMIN")" resetchannels -@all +acl +client\|list +client\|kill +config\|get
nx_redis_user "$R" app1 on "$(h "$OLD")" '~app1:*' resetchannels -@all +@read +ping
nx_redis_user "$R" app2 on "$(h "$P2")" resetchannels -@all +ping
nx_redis_start "$R" || { echo "not ok - redis server starts"; exit 1; }

rc() { # USER PASSWORD COMMAND...
  local u=$1 p=$2
  shift 2
  REDISCLI_AUTH=$p redis-cli --no-auth-warning --user "$u" -h 127.0.0.1 -p "$port" "$@" 2>&1
}
# (answers are read whole: grep -q on a pipe would end redis-cli with
# SIGPIPE, which pipefail counts as a failure)
pong() { [ "$(rc "$1" "$2" PING)" = PONG ]; }
refused() { local a; a=$(rc "$1" "$2" PING); grep -q -e WRONGPASS -e NOAUTH <<<"$a"; }
user_exists() { local a; a=$(rc nxadmin "$ADMIN" ACL USERS); grep -qx "$1" <<<"$a"; }
state_is() { [ "$(eng_state "$1")" = "$2" ]; }
state_like() { local s; s=$(eng_state "$1"); grep -qE "$2" <<<"$s"; }
no() { ! "$@"; }
refused_rollback() { local a; a=$(eng_as "$ENG_OP" "SELECT nexplane.cr_rollback('$1')" 2>&1); grep -q "$2" <<<"$a"; }

eng_secret admin "{\"username\": \"nxadmin\", \"password\": \"$ADMIN\"}"
eng_secret app1 "{\"username\": \"app1\", \"password\": \"$OLD\"}"
ADMIN_CRED=$(eng_credential redis-admin admin)
APP1=$(eng_credential redis-app1 app1)
CONN=$(eng_connector redis cache "{\"host\": \"127.0.0.1\", \"port\": $port}" "$ADMIN_CRED")
check "a redis connector is made, its credential checked" test -n "$CONN"
# the vault's current app1 password logs in; its versions are just
# "previous" (nothing pending); a rotation's rollback state is pre_check's
app1_current() { eng_works "$CONN" "$APP1" '{"username": "app1"}'; }
only_previous() { test "$(sql -c "SELECT string_agg(status, ',') FROM nexplane.credential_versions WHERE credential_id = '$APP1'")" = previous; }
no_pending() { test "$(sql -c "SELECT count(*) FROM nexplane.credential_versions WHERE credential_id = '$APP1' AND status = 'pending'")" = 0; }
rot_state_kept() { eng_rollback_state_is "$1" '{"credential_id": "'"$APP1"'", "connector": {"username": "app1", "passwords_before": 1, "nopass_before": false}}'; }

# test and discover, as jobs
check "connector_test: the job succeeds" test "$(eng_job "$CONN" test_connection)" = succeeded
check "... and the connector's health is ok" \
  test "$(eng_as "$ENG_OP" "SELECT nexplane.connector_get('$CONN')->'health'->>'state'")" = ok
check "connector_discover: the job succeeds" test "$(eng_job "$CONN" discover)" = succeeded
check "... and the users are assets, in the connector's environment" \
  test "$(eng_as "$ENG_OP" "SELECT count(*) FROM jsonb_array_elements(nexplane.asset_list('{\"connector_id\": \"$CONN\"}')) a
                           WHERE a->>'name' IN ('app1', 'app2') AND a->>'environment' = 'production'")" = 2

# rotate_password: a new secret only the vault knows
CR=$(eng_change "$CONN" rotate_password "{\"username\": \"app1\", \"credential_id\": \"$APP1\"}")
check "rotate_password: completed through approval and the workers" state_is "$CR" completed
check "... the old password is refused by redis" refused app1 "$OLD"
check "... the vault's new password logs in" app1_current
check "... the vault keeps the old one as previous, nothing pending" only_previous
check "... evidence of the pre-check, the execution and the verification" \
  test "$(sql -c "SELECT string_agg(kind, ',' ORDER BY created_at, kind) FROM nexplane.evidence WHERE change_request_id = '$CR'")" = "execution,pre_check,verification"
check "... each with the SHA-256 of its content" \
  test "$(sql -c "SELECT bool_and(sha256 = sha256(convert_to(content::text, 'UTF8'))) FROM nexplane.evidence WHERE change_request_id = '$CR'")" = t
RB=$(eng_rollback "$CR")
check "its rollback: a change request of its own, completed" state_is "$RB" completed
check "... the original is rolled back" state_is "$CR" rolled_back
check "... the old password logs in again" pong app1 "$OLD"
check "... and it is the vault's current one again" app1_current

# create_user, then its rollback (the user is gone)
CR=$(eng_change "$CONN" create_user '{"username": "app5", "key_patterns": "app5:*", "categories": "+@read"}')
check "create_user: completed" state_is "$CR" completed
check "... the user exists on the server" user_exists app5
RB=$(eng_rollback "$CR")
check "its rollback completed" state_is "$RB" completed
check "... redis no longer has app5" no user_exists app5

# disable_user ends logins; its rollback lets them in again
CR=$(eng_change "$CONN" disable_user '{"username": "app2"}')
check "disable_user: completed" state_is "$CR" completed
check "... app2 can no longer log in" refused app2 "$P2"
RB=$(eng_rollback "$CR")
check "its rollback completed" state_is "$CR" rolled_back
check "... app2 logs in again" pong app2 "$P2"

# A worker lost in the middle of a change (killed with SIGKILL once
# execute's ACL changes are made and saved, before verify;
# eng_change_lost): the change fails as outcome unknown, the rollback
# state pre_check gave (stored before execute) is kept since the
# recovery's verify finds the change in effect, and rolled back through
# cr_rollback (approved by someone else) it restores the user on redis.
CR=$(eng_change_lost "$CONN" disable_user '{"username": "app2"}' "ACL SAVE")
check "a lost disable_user: failed, outcome unknown" state_is "$CR" "$ENG_LOST"
check "... it reached redis: app2 can no longer log in" refused app2 "$P2"
check "... the recovery found it in effect and kept the rollback state" test "$(eng_recovery "$CR")" = "true kept"
check "... pre_check's rollback state, as execute gives it" \
  eng_rollback_state_is "$CR" '{"username": "app2", "enabled_before": true}'
RB=$(eng_rollback "$CR")
check "... its rollback, approved by another user, completed" state_is "$RB" completed
check "... the lost change is rolled back" state_like "$CR" "^rolled_back"
check "... app2 logs in again" pong app2 "$P2"

CR=$(eng_change_lost "$CONN" rotate_password "{\"username\": \"app1\", \"credential_id\": \"$APP1\"}" "ACL SAVE")
check "a lost rotate_password: failed, outcome unknown" state_is "$CR" "$ENG_LOST"
check "... it reached redis: the old password is refused" refused app1 "$OLD"
check "... the recovery logged in with the pending version and promoted it" only_previous
check "... the vault's current password logs in" app1_current
check "... the rollback state is kept" test "$(eng_recovery "$CR")" = "true kept"
check "... pre_check's, wrapped with the credential, as execute gives it" rot_state_kept "$CR"
RB=$(eng_rollback "$CR")
check "... its rollback, approved by another user, completed" state_is "$RB" completed
check "... the lost change is rolled back" state_like "$CR" "^rolled_back"
check "... the old password logs in again" pong app1 "$OLD"
check "... and it is the vault's current one again" app1_current

# A rotation lost inside its overlap: held once the new password is added
# (its next step, "logging in as the account", waits) and killed there, so
# both passwords log in and the old is not yet removed.  The recovery
# finishes the rotation: it removes the old password, promotes the pending
# version and keeps the rollback state; the change still fails as outcome
# unknown, and its rollback (a human's decision) brings the old one back.
npasswords() { rc nxadmin "$ADMIN" ACL GETUSER "$1" | grep -cE '^[0-9a-f]{64}$'; }
acl_line_hashes() { grep "^user $1 " "$R/users.acl" | grep -oE '#[0-9a-f]{64}' | wc -l; }
evidence_of() { # CR KIND JQ: the JQ test holds for that evidence's content
  local c
  c=$(sql -c "SELECT content FROM nexplane.evidence WHERE change_request_id = '$1' AND kind = '$2'")
  [ -n "$c" ] && jq -e "$3" >/dev/null <<<"$c"   # (jq -e passes on no input)
}
ROT="{\"username\": \"app1\", \"credential_id\": \"$APP1\"}"
CR=$(eng_change_lost "$CONN" rotate_password "$ROT" "adding the new password")
check "a rotation lost inside its overlap: failed, outcome unknown" state_is "$CR" "$ENG_LOST"
check "... the recovery found the old password still logging in beside the pending one" \
  evidence_of "$CR" recovery_verification '.ok == false and (.error | contains("old password"))'
check "... and finished the rotation: both logged in, the old one removed" \
  evidence_of "$CR" recovery_completion '.ok and .checked.login_with_new_password and .checked.login_with_old_password and .checked.passwords_before == 2 and .checked.passwords_after == 1 and .result.passwords_removed == 1'
check "... then proved the pending version, the old one refused" \
  evidence_of "$CR" recovery_verification_after_completion '.ok and .checked.old_password_refused'
check "... its evidence: the recovery's three steps (the lost worker recorded none)" \
  test "$(eng_evidence_kinds "$CR")" = "recovery_completion,recovery_verification,recovery_verification_after_completion"
check "... the decision recorded: in effect, rollback state kept, pending version finished" \
  test "$(eng_recovery_rotation "$CR")" = "true kept finished"
check "... redis refuses the old password" refused app1 "$OLD"
check "... exactly one password is left on the account" test "$(npasswords app1)" = 1
check "... and in the ACL file" test "$(acl_line_hashes app1)" = 1
check "... it is the vault's current one" app1_current
check "... the pending version promoted, the old one kept as previous" only_previous
check "... pre_check's rollback state kept" rot_state_kept "$CR"
RB=$(eng_rollback "$CR")
check "... its rollback, approved by another user, completed" state_is "$RB" completed
check "... the lost change is rolled back" state_like "$CR" "^rolled_back"
check "... the old password logs in again" pong app1 "$OLD"
check "... it is the vault's current one again" app1_current
check "... and the only password on the account" test "$(npasswords app1)" = 1

# Lost inside the overlap, then the new password taken away on the server
# before the recovery (someone reset app1 to its old password): nothing to
# finish, so the recovery changes nothing, finds the old one in effect and
# drops the pending version and the rollback state.
CR=$(eng_change_lost "$CONN" rotate_password "$ROT" "adding the new password" \
  "rc nxadmin '$ADMIN' ACL SETUSER app1 resetpass '$(h "$OLD")'")
check "a rotation lost in its overlap whose new password went meanwhile: failed, outcome unknown" state_is "$CR" "$ENG_LOST"
check "... the recovery found nothing to finish and left redis alone" \
  evidence_of "$CR" recovery_completion '.ok == false and (.error | contains("does not log in: nothing to finish"))'
check "... the decision recorded: not in effect, rollback state dropped, pending version dropped" \
  test "$(eng_recovery_rotation "$CR")" = "false dropped dropped"
check "... the old password still logs in, the only one" eval 'pong app1 "$OLD" && test "$(npasswords app1)" = 1'
check "... it is still the vault's current one, nothing pending" \
  eval 'app1_current && no_pending'
check "... and its rollback is refused: it did not land" refused_rollback "$CR" "nothing to roll back"

# A rotation whose ACL SAVE fails once the old password is removed (the
# worker held before it while the ACL file's directory is made read-only):
# execute fails saying the change is made but not saved; redis takes only
# the new password, so the vault must keep it (promoted), never drop it.
CR=$(eng_change_held "$CONN" rotate_password "$ROT" "removing the old password" 'chmod 500 "$R"' '')
chmod 700 "$R"
check "a rotation whose ACL SAVE fails: failed, saying the change is made but not saved" \
  state_like "$CR" "^failed: .*made but ACL SAVE failed"
check "... redis refuses the old password" refused app1 "$OLD"
check "... the password redis takes is the vault's current one (promoted, not dropped)" \
  app1_current
check "... the old one kept as previous, nothing pending" only_previous
check "... execute's rollback state kept" rot_state_kept "$CR"
check "... execute's result and evidence say what it did: removed the old password, not persisted" \
  evidence_of "$CR" execution '.ok == false and .result.passwords_removed == 1 and .result.persisted == false and .checked.login_with_new_password'
RB=$(eng_rollback "$CR")
check "... its rollback completed, and saved the ACL file again" \
  eval 'state_is "$RB" completed && grep -q "$(nx_redis_hash "$OLD")" "$R/users.acl"'
check "... the old password logs in again, the only one, the vault's current" \
  eval 'pong app1 "$OLD" && test "$(npasswords app1)" = 1 && app1_current'

# A rotation whose removal of the old password fails (redis stopped while
# the worker is held after its login with the new one, so execute's next
# command runs out of time; started again before verify): both passwords
# log in, as in a lost worker's overlap, and the worker finishes it the
# same way, so the account keeps only the vault's current password.
CR=$(ENG_TIMEOUT=2 eng_change_held "$CONN" rotate_password "$ROT" "logging in as the account" \
  'kill -STOP "$(cat "$R/redis.pid")"; sleep 3' 'sleep 1; kill -CONT "$(cat "$R/redis.pid")"')
check "a rotation whose removal of the old password times out: failed with the timeout" \
  state_like "$CR" "^failed: .*within the timeout"
check "... the worker found both passwords logging in and removed the old one" \
  evidence_of "$CR" completion '.ok and .checked.login_with_old_password and .result.passwords_removed == 1'
check "... then proved the pending version" evidence_of "$CR" verification_after_completion '.ok and .checked.old_password_refused'
check "... and its failure says so" state_like "$CR" "took both the new and the old password, so the old one was removed"
check "... redis refuses the old password" refused app1 "$OLD"
check "... exactly one password is left, the vault's current one" \
  eval 'test "$(npasswords app1)" = 1 && app1_current'
check "... the pending version promoted, the old one previous" only_previous
check "... pre_check's rollback state kept" rot_state_kept "$CR"
RB=$(eng_rollback "$CR")
check "... its rollback completed: the old password the only one again" \
  eval 'state_is "$RB" completed && pong app1 "$OLD" && test "$(npasswords app1)" = 1 && app1_current'

# A rotation's rollback whose worker is lost (docs/jobs.md, "A lost
# rollback of a rotation"): the recovery asks redis which version it takes
# and the vault follows, so the credential is never lost.  The rollback's
# change request fails as outcome unknown in every case.
app1_previous() { eng_works "$CONN" "$APP1" '{"username": "app1"}' previous; }
# killed once the rollback's ACL changes are made and saved: redis takes
# only the previous password, so the vault swaps as a finished rollback does
CR=$(eng_change "$CONN" rotate_password "$ROT")
check "(a rotation to roll back: completed, the old password refused)" \
  eval 'state_is "$CR" completed && refused app1 "$OLD"'
RB=$(eng_rollback_lost "$CR" "ACL SAVE")
check "a rollback of a rotation lost once it landed: failed, outcome unknown" state_is "$RB" "$ENG_RB_LOST"
check "... the recovery found the previous password alone and swapped the versions" \
  test "$(eng_recovery_unrotate "$RB")" = "true restored"
check "... it logged in with the previous password, the rotated one refused" \
  evidence_of "$RB" recovery_verification '.ok and .checked.old_password_refused'
check "... the vault's current version is the previous password: it logs in on redis" \
  eval 'app1_current && pong app1 "$OLD"'
check "... and the rotated one, kept as previous, does not" no app1_previous
check "... exactly one password on the account, nothing pending" \
  eval 'test "$(npasswords app1)" = 1 && only_previous'
# killed inside the rollback's own overlap (the previous password added
# back beside the rotated one): finished, then swapped
CR=$(eng_change "$CONN" rotate_password "$ROT")
RB=$(eng_rollback_lost "$CR" "adding the new password")
check "a rollback of a rotation lost inside its overlap: failed, outcome unknown" state_is "$RB" "$ENG_RB_LOST"
check "... the recovery found both passwords logging in and removed the rotated one" \
  evidence_of "$RB" recovery_completion '.ok and .checked.login_with_new_password and .checked.login_with_old_password and .result.passwords_removed == 1 and .result.password == "restored"'
check "... then proved the previous one, the rotated one refused" \
  evidence_of "$RB" recovery_verification_after_completion '.ok and .checked.old_password_refused'
check "... the decision recorded: in effect, finished (and swapped)" \
  test "$(eng_recovery_unrotate "$RB")" = "true finished"
check "... the vault's current version is the previous password: it logs in on redis" \
  eval 'app1_current && pong app1 "$OLD"'
check "... the rotated one does not" no app1_previous
check "... exactly one password on the account, and in the ACL file" \
  eval 'test "$(npasswords app1)" = 1 && test "$(acl_line_hashes app1)" = 1'
# killed before its rollback step touched redis: it did not land
CR=$(eng_change "$CONN" rotate_password "$ROT")
RB=$(eng_rollback_lost "$CR" "rolling back")
check "a rollback of a rotation lost before it touched redis: failed, outcome unknown" state_is "$RB" "$ENG_RB_LOST"
check "... the decision recorded: not in effect, the vault unchanged" \
  test "$(eng_recovery_unrotate "$RB")" = "false unchanged"
check "... the vault's current (rotated) password still logs in, the only one" \
  eval 'app1_current && test "$(npasswords app1)" = 1'
check "... the previous one is still refused, and still the vault's previous" \
  eval 'refused app1 "$OLD" && no app1_previous && only_previous'
# a rollback whose ACL SAVE fails once the rotated password is removed:
# redis takes only the previous one, so the vault swaps (it follows
# verify, not the rollback step), and the result says it is not persisted
RB=$(eng_rollback_held "$(eng_change "$CONN" rotate_password "$ROT")" "removing the old password" 'chmod 500 "$R"' '')
chmod 700 "$R"
check "a rollback whose ACL SAVE fails: failed, saying the change is made but not saved" \
  state_like "$RB" "^failed: .*made but ACL SAVE failed"
check "... its result says what it did: the previous password restored, not persisted" \
  evidence_of "$RB" rollback '.ok == false and .result.password == "restored" and .result.passwords_removed == 1 and .result.persisted == false'
check "... its verify passed, so the vault swapped: its current one logs in, the rotated one does not" \
  eval 'app1_current && no app1_previous' 
check "... and it is the only password on the account" test "$(npasswords app1)" = 1
# lost inside its overlap, then the user turned off before the recovery:
# neither password logs in, so nobody can tell; both versions stay in
# the vault (current and previous) and the reason says so
CR=$(eng_change "$CONN" rotate_password "$ROT")
RB=$(eng_rollback_lost "$CR" "adding the new password" "rc nxadmin '$ADMIN' ACL SETUSER app1 off")
check "a rollback lost in its overlap whose user went off meanwhile: failed, outcome unknown, saying neither logs in" \
  state_is "$RB" "$ENG_RB_LOST; the target takes neither the current nor the previous password: both are kept in the vault"
check "... the decision recorded: cannot tell, both versions kept" test "$(eng_recovery_unrotate "$RB")" = "null kept"
check "... nothing finished: the user is off" \
  evidence_of "$RB" recovery_completion '.ok == false and (.error | contains("is off"))'
rc nxadmin "$ADMIN" ACL SETUSER app1 on >/dev/null
check "... turned on again, both passwords log in, and both are in the vault (current and previous)" \
  eval 'test "$(npasswords app1)" = 2 && app1_current && app1_previous && only_previous'
CR=$(eng_change "$CONN" rotate_password "$ROT")
check "... the next rotation leaves one password, the vault's current one" \
  eval 'state_is "$CR" completed && test "$(npasswords app1)" = 1 && app1_current && no app1_previous'
# lost inside its overlap, and the ACL file's directory made read-only
# before the recovery: finish_rotation removes the old password but
# cannot save that; its result says persisted false, and verify then
# proves the pending version, so it is promoted all the same (the vault
# follows verify); a rollback the same way, then swapped
CR=$(eng_change_lost "$CONN" rotate_password "$ROT" "adding the new password" 'chmod 500 "$R"')
chmod 700 "$R"
check "a rotation lost in its overlap whose recovery cannot save the ACL file: failed, outcome unknown" \
  state_is "$CR" "$ENG_LOST"
check "... finish_rotation removed the old password, and its result says not persisted" \
  evidence_of "$CR" recovery_completion '.ok == false and .result.passwords_removed == 1 and .result.persisted == false'
check "... verify then proved the pending version: finished, promoted" \
  test "$(eng_recovery_rotation "$CR")" = "true kept finished"
check "... the vault's current password logs in, alone" \
  eval 'app1_current && no app1_previous && test "$(npasswords app1)" = 1 && only_previous'
CR=$(eng_change "$CONN" rotate_password "$ROT")
RB=$(eng_rollback_lost "$CR" "adding the new password" 'chmod 500 "$R"')
chmod 700 "$R"
check "a rollback lost in its overlap whose recovery cannot save the ACL file: failed, outcome unknown" \
  state_is "$RB" "$ENG_RB_LOST"
check "... finish_rotation removed the rotated password, and its result says not persisted" \
  evidence_of "$RB" recovery_completion '.ok == false and .result.password == "restored" and .result.passwords_removed == 1 and .result.persisted == false'
check "... verify then proved the previous version: finished, swapped" \
  test "$(eng_recovery_unrotate "$RB")" = "true finished"
check "... the vault's current password logs in, alone; the rotated one does not" \
  eval 'app1_current && no app1_previous && test "$(npasswords app1)" = 1'

# delete_user has no rollback
CR=$(eng_change "$CONN" delete_user '{"username": "app2"}')
check "delete_user: completed" state_is "$CR" completed
check "... redis no longer has app2" no user_exists app2
check "... and a rollback of it is refused" refused_rollback "$CR" "cannot be rolled back"

# a change that fails on the target: failed with the connector's reason,
# the rotation's pending secret dropped, the old credential kept
CR=$(eng_change "$CONN" rotate_password "{\"username\": \"nobody\", \"credential_id\": \"$APP1\"}")
check "a rotation of a user redis does not have fails, saying why" state_like "$CR" "^failed: .*nobody"
check "... no pending version is left" no_pending
check "... the vault's credential still logs in" app1_current

# Lost inside the overlap, then the account turned off before the
# recovery: no password logs in, so nothing is finished and nobody can tell
# which version the target takes: both stay in the vault, the rollback
# state too, and its rollback fails while the pending one is there.
CR=$(eng_change_lost "$CONN" rotate_password "$ROT" "adding the new password" \
  "rc nxadmin '$ADMIN' ACL SETUSER app1 off")
check "a rotation lost in its overlap whose user went off meanwhile: failed, outcome unknown" state_is "$CR" "$ENG_LOST"
check "... the recovery did not finish it" \
  evidence_of "$CR" recovery_completion '.ok == false and (.error | contains("is off"))'
check "... the decision recorded: cannot tell, rollback state kept, pending version kept" \
  test "$(eng_recovery_rotation "$CR")" = "null kept kept"
check "... both passwords are still on the account" test "$(npasswords app1)" = 2
check "... both versions stay in the vault (current and pending)" \
  test "$(sql -c "SELECT count(*) FROM nexplane.credential_versions WHERE credential_id = '$APP1' AND status = 'pending'")" = 1
RB=$(eng_rollback "$CR")
check "... its rollback fails while the pending version is unresolved" state_like "$RB" "^failed: .*unresolved pending version"
check "... and changes nothing on redis" test "$(npasswords app1)" = 2

check "no password in the server log, results, evidence, jobs or audit events" eng_no_secrets "$ADMIN" "$OLD" "$P2"
# the engine's generated passwords (the lost rotations' ones included) are
# known to the vault alone: look for their shape (32 of A-Z a-z 0-9 with
# both cases), as engine_mariadb.sh does, tokens masked first (a JWT's
# base64url holds runs of that shape by chance)
gen='(?<![A-Za-z0-9])(?=[A-Za-z0-9]*[a-z])(?=[A-Za-z0-9]*[A-Z])[A-Za-z0-9]{32}(?![A-Za-z0-9])'
check "(the shape is found in a line holding one)" grep -qP "$gen" <<<"AUTH app1 aB3dE5gH7jK9mN1pQ3sT5vW7yZ9bC1dE"
check "nothing of a generated password's shape in the redis log, the nexplane log or the results" \
  bash -c "! cat '$R/redis.log' '$E2E_DIR/pg/server.log' '$E2E_DIR/dump.txt' |
           sed -E 's/eyJ[A-Za-z0-9_-]+\\.[A-Za-z0-9_-]+\\.[A-Za-z0-9_-]+/<jwt>/g' | grep -qaP '$gen'"
