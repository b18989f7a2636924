#!/usr/bin/env bash
# bench/audit/instructions.sh: the audit trigger's cost in instructions,
# which, unlike time on a shared VM, is the same from run to run (to a few
# tenths of a percent): for checking a change to the trigger's own code.
# Needs valgrind (apt-get install valgrind); not part of `make bench`.
#
# The tables of run.sh; then, with the cluster stopped, a standalone
# backend (postgres --single) under callgrind runs N single-row statements
# from a PL/pgSQL loop, each its own transaction (synchronous_commit off),
# for N = 1000 and 3000; the difference over 2000 is one statement's
# instructions, start-up and loop set-up cancelled out.  Only the server's
# own work is counted: no client, no protocol, no parsing, no WAL writer,
# no system calls' kernel side, no cache misses; and no audit space worker
# (a standalone backend starts none), so the audited statements extend
# audit_events and its index themselves.  So the ratio printed is of the
# server's instructions alone and far above what a client sees (run.sh);
# the trigger's own figure is what to compare between builds.
. "$(dirname "$0")/../lib.sh"
command -v valgrind >/dev/null || { echo "valgrind is needed: apt-get install -y valgrind" >&2; exit 1; }
. "$(dirname "$0")/tables.sh"
nx_cluster_stop "$BENCH_DIR/pg"

# instructions VARIANT OP N: callgrind's instruction count for the whole run
instructions() {
  local body
  if [ "$2" = insert ]; then
    body="INSERT INTO bench.$1 (tenant_id, name, value) VALUES ('$tenant', 'item', 1);"
  else
    body="UPDATE bench.$1 SET value = value + 1 WHERE tenant_id = '$tenant' AND id = 1 + (i * 7919) % 10000;"
  fi
  echo "DO \$\$ BEGIN FOR i IN 1..$3 LOOP $body COMMIT; END LOOP; END \$\$;" |
    nx_callgrind_count /dev/null -c synchronous_commit=off
}
printf '%-8s %12s %12s %12s %14s %14s\n' op plain "C trigger" "PL/pgSQL" "C trigger's" "PL/pgSQL's"
for op in insert update; do
  declare -A per
  for t in $variants; do
    a=$(instructions "$t" "$op" 1000)
    b=$(instructions "$t" "$op" 3000)
    per[$t]=$(( (b - a) / 2000 ))
  done
  printf '%-8s %12d %12d %12d %14s %14s\n' "$op" "${per[plain]}" "${per[c_audit]}" "${per[plpgsql]}" \
    "$(( per[c_audit] - per[plain] )) (+$(( 100 * (per[c_audit] - per[plain]) / per[plain] ))%)" \
    "$(( per[plpgsql] - per[plain] )) (+$(( 100 * (per[plpgsql] - per[plain]) / per[plain] ))%)"
  unset per
done
echo "(instructions per single-row statement, server side only, from a PL/pgSQL loop; see the header)"
