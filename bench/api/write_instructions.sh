#!/usr/bin/env bash
# bench/api/write_instructions.sh: the server's instructions per step of the
# write path, which, unlike time on a shared VM, are the same from run to
# run: for comparing two builds of the extension.  Needs valgrind; not
# part of `make bench`.  PG_CONFIG picks the build (a sandbox's install).
#
# A cluster with the bench's tenant, admin, approver and approvals policy,
# and SIZE change requests (generate.sql; 10,000 by default); then, with
# the cluster stopped, a standalone backend (postgres --single) under
# callgrind runs N rounds of a step from a PL/pgSQL loop, each round its
# own transactions (synchronous_commit off), for N = ROUNDS (20) and 3 x
# ROUNDS; the difference over 2 x ROUNDS is one round's instructions,
# start-up cancelled out.
# Steps: auth (authenticate alone), create (authenticate + cr_create),
# submit, approve, list (each after authenticate, on a change created in
# the round), mix (all four).  Server side only: no client, no protocol, no
# WAL writer, no event sequencer (a standalone backend starts none, so each
# writer sends its own NOTIFY, as where no sequencer runs).
# PROFILE=DIR keeps callgrind's profiles of each step's two runs as
# DIR/STEP.N.callgrind (callgrind_annotate --inclusive=yes reads them;
# bench/callgrind_diff.py gives one round's share of each function).
. "$(dirname "$0")/../lib.sh"
command -v valgrind >/dev/null || { echo "valgrind is needed: apt-get install -y valgrind" >&2; exit 1; }
size=${SIZE:-10000}
steps=${STEPS:-auth create submit approve list}
rounds=${ROUNDS:-20}
sql -c "CREATE EXTENSION nexplane" -c "SET client_min_messages = warning" \
    -c "SELECT nexplane.tenant_create('bench', 'Bench', 'admin@bench.test', 'bench-admin-pass') IS NOT NULL" \
    -c "INSERT INTO nexplane.connectors (tenant_id, id, type, name)
        SELECT id, '10000000-0000-0000-0000-00000000000a', 'postgresql', 'pg' FROM nexplane.tenants" >/dev/null
token=$(sql -c "SELECT nexplane.login('admin@bench.test', 'bench-admin-pass', NULL, false)->>'access_token'" | tail -n 1)
sql -c "SELECT nexplane.authenticate('$token') IS NOT NULL;
        SELECT nexplane.user_create('approver@bench.test', 'bench-approver-pass', 'approver') IS NOT NULL;
        SELECT nexplane.policy_create('approvals', spec => '{\"low\": 1, \"medium\": 1, \"high\": 1, \"critical\": 1, \"admin_for_critical\": false}') IS NOT NULL" >/dev/null
token2=$(sql -c "SELECT nexplane.login('approver@bench.test', 'bench-approver-pass', NULL, false)->>'access_token'" | tail -n 1)
sql -v n="$size" -f "$(dirname "$0")/generate.sql" >/dev/null
nx_cluster_stop "$BENCH_DIR/pg"

# the body of one round of a step (id: a change request made in the round)
body() {
  local auth="PERFORM nexplane.authenticate('$token');" auth2="PERFORM nexplane.authenticate('$token2');"
  local create="id := (nexplane.cr_create('10000000-0000-0000-0000-00000000000a', 'create_role', '{\"role\": \"bench\"}', 'bench')->>'id')::uuid; COMMIT;"
  case $1 in
    auth) echo "$auth COMMIT;" ;;
    create) echo "$auth $create" ;;
    submit) echo "$auth $create $auth PERFORM nexplane.cr_submit(id); COMMIT;" ;;
    approve) echo "$auth $create $auth PERFORM nexplane.cr_submit(id); COMMIT; $auth2 PERFORM nexplane.cr_approve(id); COMMIT;" ;;
    list) echo "$auth $create $auth PERFORM nexplane.cr_submit(id); COMMIT; $auth2 PERFORM nexplane.cr_approve(id); COMMIT; $auth PERFORM nexplane.cr_list('{\"state\": \"pending_approval\", \"limit\": \"20\"}'); COMMIT;" ;;
  esac
}
# instructions STEP N [OUT]: callgrind's count for the whole run (profile in OUT)
instructions() {
  echo "DO \$\$ DECLARE id uuid; BEGIN FOR i IN 1..$2 LOOP $(body "$1") END LOOP; END \$\$;" |
    nx_callgrind_count "${3:-/dev/null}" -c synchronous_commit=off
}
declare -A per
for s in $steps; do
  a=$(instructions "$s" "$rounds" ${PROFILE:+"$PROFILE/$s.$rounds.callgrind"})
  b=$(instructions "$s" $((3 * rounds)) ${PROFILE:+"$PROFILE/$s.$((3 * rounds)).callgrind"})
  per[$s]=$(( (b - a) / (2 * rounds) ))
done
echo "instructions per round, server side, $size change requests loaded ($(basename "$(dirname "$(dirname "$NX_PGBIN")")")):"
prev=0
for s in $steps; do
  printf '  %-8s %12d   (minus the round before: %d)\n' "$s" "${per[$s]}" "$(( per[$s] - prev ))"
  prev=${per[$s]}
done
echo "(a round authenticates before each of its steps; a round is the one before it plus one"
echo " step: create is authenticate + cr_create, then submit, approve and list each add"
echo " authenticate and their function)"
