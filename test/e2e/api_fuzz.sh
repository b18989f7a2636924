#!/usr/bin/env bash
# The shim's untrusted-input path under libFuzzer (with ASan and UBSan):
# routing and argument binding fed arbitrary methods, paths, queries,
# headers and bodies for a fixed time, from the seed corpus.  Also: the
# shim's three builds (api/Makefile: all, asan, fuzz_route) are warning-free
# (they build with -Werror).  All three are rebuilt: the api_*.sh scripts
# that run after this one start nexplane-api-asan.
set -uo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
work=$(mktemp -d "${TMPDIR:-/tmp}/nexplane-fuzz.XXXXXX")
trap 'rm -rf "$work"' EXIT
check() { local what=$1; shift; if "$@" >/dev/null 2>&1; then echo "ok - $what"; else echo "not ok - $what"; fi; }

make -s -C "$root/api" clean >/dev/null
make -C "$root/api" all asan fuzz_route >"$work/build.log" 2>&1
check "the shim, its sanitizer build and the fuzz target build" \
  test -x "$root/api/fuzz_route" -a -x "$root/api/nexplane-api" -a -x "$root/api/nexplane-api-asan"
check "the builds have no compiler warnings (-Wall -Wextra ... -Werror)" bash -c "! grep -q 'warning:' '$work/build.log'"
mkdir -p "$work/corpus"
"$root/api/fuzz_route" -max_total_time="${FUZZ_SECONDS:-20}" -rss_limit_mb=1024 -print_final_stats=1 \
  "$work/corpus" "$root/test/fuzz/corpus" >"$work/fuzz.log" 2>&1
rc=$?
check "libFuzzer: routing and binding survive ${FUZZ_SECONDS:-20} s of arbitrary input" test "$rc" = 0
grep -E '^stat::number_of_executed_units|^Done' "$work/fuzz.log" | head -2
[ "$rc" = 0 ] || tail -n 40 "$work/fuzz.log"
