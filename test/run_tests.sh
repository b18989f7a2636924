#!/usr/bin/env bash
# make test: run every kind of suite and end with one line of its own,
# "N passed, N failed".  The SQL suites, the isolation specs and the TAP
# tests are the Makefile's (installcheck-regress, -isolation, -tap), run
# on temporary instances; the end-to-end scripts start their own clusters.
#
# PostgreSQL refuses to run as root, and pg_regress --temp-instance and
# PostgreSQL::Test::Cluster start servers themselves, so those three run
# as the postgres user, in a copy of the tree it can read and write.
# Every server is stopped on any exit: pg_regress and Cluster.pm stop
# theirs, the e2e scripts' traps stop theirs.
# KEEP=1 keeps the work directory (results, diffs, logs) for a look.
set -uo pipefail
cd "$(dirname "$0")/.."
. scripts/cluster.sh

tmp=$(mktemp -d /tmp/nexplane-test.XXXXXX)
chmod 755 "$tmp"
cleanup() {
  if [ -n "${KEEP:-}" ]; then echo "kept $tmp"; else rm -rf "$tmp"; fi
}
trap cleanup EXIT

passed=0
failed=0
count() { passed=$((passed + $1)); failed=$((failed + $2)); }

# The tree as the postgres user sees it, and the configuration every
# temporary instance starts with: the libraries preloaded, and keys made
# for this run only.
tar --exclude=.git --exclude=.nexplane -cf - . | (mkdir "$tmp/tree" && tar -xf - -C "$tmp/tree")
mkdir "$tmp/keys"
openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$tmp/keys/jwt.pem" 2>/dev/null
(umask 077; openssl rand -base64 48 >"$tmp/keys/master.key")
chmod 600 "$tmp/keys/jwt.pem" "$tmp/keys/master.key"
sed -e "s|@KEYS@|$tmp/keys|g" test/temp_instance.conf >"$tmp/temp_instance.conf"
chown -R postgres: "$tmp"

as_postgres_make() { # target, log
  runuser -u postgres -- make -C "$tmp/tree" --no-print-directory "$1" \
    TEMP_INSTANCE="$tmp/instance" TEMP_CONFIG="$tmp/temp_instance.conf" 2>&1 | tee "$2"
}

# pg_regress and pg_isolation_regress: one "... ok" or "... FAILED" line
# per test; no line at all (the instance did not start) counts as a failure.
tally_regress() { # log, diffs
  local p f
  p=$(grep -cE '\.\.\. ok( |$)' "$1")
  f=$(grep -cE '\.\.\. FAILED' "$1")
  [ "$p" -eq 0 ] && [ "$f" -eq 0 ] && f=1
  [ "$f" -gt 0 ] && [ -f "$2" ] && head -n 400 "$2"
  count "$p" "$f"
}

echo "== pg_regress"
as_postgres_make installcheck-regress "$tmp/regress.log"
tally_regress "$tmp/regress.log" "$tmp/tree/regression.diffs"

echo "== isolation"
as_postgres_make installcheck-isolation "$tmp/isolation.log"
tally_regress "$tmp/isolation.log" "$tmp/tree/output_iso/regression.diffs"

# prove --verbose prints every assertion as "ok N - ..." or "not ok N - ...";
# a test file that dies or plans more than it ran is one more failure.
echo "== TAP"
as_postgres_make installcheck-tap "$tmp/tap.log"
p=$(grep -cE '^\s*ok [0-9]+' "$tmp/tap.log")
f=$(grep -cE '^\s*not ok [0-9]+' "$tmp/tap.log")
grep -qE '^Result: PASS' "$tmp/tap.log" || f=$((f + 1))
count "$p" "$f"

echo "== end-to-end"
for t in test/e2e/*.sh; do
  case $(basename "$t") in *lib.sh) continue ;; esac
  echo "-- $t"
  TMPDIR=$tmp bash "$t" 2>&1 | tee "$tmp/e2e.log"
  p=$(grep -c '^ok ' "$tmp/e2e.log")
  f=$(grep -c '^not ok ' "$tmp/e2e.log")
  [ "$p" -eq 0 ] && [ "$f" -eq 0 ] && f=1   # a script that checked nothing failed
  count "$p" "$f"
done

echo
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
