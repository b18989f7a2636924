#!/usr/bin/env bash
# The agent's command parser under libFuzzer (with ASan and UBSan): a
# poll's command objects, arbitrary bytes, for a fixed time, from the seed
# corpus in test/fuzz/corpus_command.  The target re-checks every command
# the parser accepts against the table and aborts on any disagreement.
set -uo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
work=$(mktemp -d "${TMPDIR:-/tmp}/nexplane-agent-fuzz.XXXXXX")
trap 'rm -rf "$work"' EXIT
check() { local what=$1; shift; if "$@" >/dev/null 2>&1; then echo "ok - $what"; else echo "not ok - $what"; fi; }

rm -f "$root/agent/fuzz_command"
make -C "$root/agent" fuzz >"$work/build.log" 2>&1
check "the agent's fuzz target builds without warnings" \
  bash -c "test -x '$root/agent/fuzz_command' && ! grep -q 'warning:' '$work/build.log'"
mkdir -p "$work/corpus"
"$root/agent/fuzz_command" -max_total_time="${FUZZ_SECONDS:-20}" -rss_limit_mb=1024 -print_final_stats=1 \
  "$work/corpus" "$root/test/fuzz/corpus_command" >"$work/fuzz.log" 2>&1
rc=$?
check "libFuzzer: the command parser survives ${FUZZ_SECONDS:-20} s of arbitrary input" test "$rc" = 0
grep -E '^stat::number_of_executed_units|^Done' "$work/fuzz.log" | head -2
[ "$rc" = 0 ] || tail -n 40 "$work/fuzz.log"
