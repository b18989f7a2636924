#!/usr/bin/env bash
# The agent's own tests (test/agent/unit.c) under AddressSanitizer and
# UndefinedBehaviorSanitizer: the command parser, the config file, the
# executor, file handling, every command against real parts of this host
# (a throwaway account, usermod, chpasswd, sshd -t, files in /run) and the
# dead-man revert, with the agent offline.  Also: the agent's builds
# (agent/Makefile: all, asan) are warning-free, and the program's command
# line refuses bad input with a clear message.  Runs as root.
set -uo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
work=$(mktemp -d "${TMPDIR:-/tmp}/nexplane-agent-unit.XXXXXX")
trap 'rm -rf "$work"' EXIT
check() { local what=$1; shift; if "$@" >/dev/null 2>&1; then echo "ok - $what"; else echo "not ok - $what"; fi; }

make -s -C "$root/agent" clean >/dev/null
make -C "$root/agent" all asan >"$work/build.log" 2>&1
check "the agent, its sanitizer build and its unit tests build" \
  test -x "$root/agent/nexplane-agent" -a -x "$root/agent/nexplane-agent-asan" -a -x "$root/agent/agent-unit-asan"
check "the builds have no compiler warnings (-Wall -Wextra ... -Werror)" bash -c "! grep -q 'warning:' '$work/build.log'"

export ASAN_OPTIONS=detect_leaks=1:abort_on_error=0:exitcode=99
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
"$root/agent/agent-unit-asan" 2>"$work/unit.err"
rc=$?
check "the unit tests end cleanly: no sanitizer report, no leak" test "$rc" -lt 99
if grep -qE 'ERROR: (Address|Leak)Sanitizer|runtime error:' "$work/unit.err"; then
  echo "not ok - sanitizer report in the unit tests"
  grep -A30 -E 'ERROR: (Address|Leak)Sanitizer|runtime error:' "$work/unit.err" | head -60
fi

a="$root/agent/nexplane-agent-asan"
out() { "$a" "$@" 2>&1; }
check "enroll refuses a pin that is not sha256:HEX" \
  bash -c "out=\$('$a' enroll --url https://127.0.0.1:9 --token t --ca-pin md5:00 --state-dir '$work/s' 2>&1); [ \$? -ne 0 ] && grep -q 'ca-pin' <<<\"\$out\""
check "enroll refuses a plain-http url" \
  bash -c "out=\$('$a' enroll --url http://127.0.0.1:9 --token t --ca-pin sha256:$(printf '0%.0s' {1..64}) --state-dir '$work/s' 2>&1); [ \$? -ne 0 ] && grep -q 'https' <<<\"\$out\""
check "enroll says so when the shim cannot be reached, and leaves no key behind" \
  bash -c "! '$a' enroll --url https://127.0.0.1:9 --token t --ca-pin sha256:$(printf '0%.0s' {1..64}) --state-dir '$work/s' && test ! -e '$work/s/key.pem'"
printf 'url = https://127.0.0.1:9\nstate_dir = %s/s\nmanaged_file = /etc/x\n' "$work" >"$work/bad.conf"
check "run refuses a config file with an unknown key, naming the line" \
  bash -c "out=\$('$a' run --config '$work/bad.conf' 2>&1); [ \$? -eq 2 ] && grep -q 'line 3' <<<\"\$out\""
printf 'url = https://127.0.0.1:9\nstate_dir = %s/s\n' "$work" >"$work/good.conf"
check "run refuses to start before enrollment" \
  bash -c "out=\$('$a' run --config '$work/good.conf' 2>&1); [ \$? -eq 2 ] && grep -q 'enroll first' <<<\"\$out\""
check "the shipped agent.conf parses (run gets as far as the missing identity)" \
  bash -c "sed 's|^state_dir.*|state_dir = $work/s|' '$root/agent/agent.conf' >'$work/shipped.conf'; out=\$('$a' run --config '$work/shipped.conf' 2>&1); grep -q 'enroll first' <<<\"\$out\""
check "--help tells the commands" bash -c "'$a' --help | grep -q 'nexplane-agent enroll'"
check "the systemd unit runs the agent as a service" \
  bash -c "grep -q '^ExecStart=/usr/local/bin/nexplane-agent run' '$root/agent/nexplane-agent.service' && grep -q '^Restart=always' '$root/agent/nexplane-agent.service'"
