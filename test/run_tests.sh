#!/usr/bin/env bash
# make test: run every suite against one temporary cluster and end with a
# single line "N passed, N failed".  The cluster lives in a temporary
# directory, runs as postgres on a free port, and is stopped on any exit.
# KEEP=1 keeps the directory (logs, diffs) for a look afterwards.
set -uo pipefail
cd "$(dirname "$0")/.."
. scripts/cluster.sh

PGXS_DIR=$(dirname "$(dirname "$(dirname "$(/usr/lib/postgresql/15/bin/pg_config --pgxs)")")")
PG_REGRESS=$PGXS_DIR/src/test/regress/pg_regress
PG_ISOLATION_REGRESS=$PGXS_DIR/src/test/isolation/pg_isolation_regress

tmp=$(mktemp -d /tmp/nexplane-test.XXXXXX)
chmod 755 "$tmp"
cleanup() {
  nx_cluster_stop "$tmp/pg"
  if [ -n "${KEEP:-}" ]; then echo "kept $tmp"; else rm -rf "$tmp"; fi
}
trap cleanup EXIT

passed=0
failed=0
# Tally a pg_regress-style log ("... ok" / "... FAILED") and show diffs.
tally() {
  local log=$1 diffs=$2 p f
  p=$(grep -cE '\.\.\. ok( |$)' "$log")
  f=$(grep -cE '\.\.\. FAILED' "$log")
  passed=$((passed + p))
  failed=$((failed + f))
  if [ "$f" -gt 0 ] || ! grep -q 'All [0-9]* tests passed' "$log"; then
    [ -f "$diffs" ] && head -n 400 "$diffs"
    [ "$p" -eq 0 ] && [ "$f" -eq 0 ] && failed=$((failed + 1))
  fi
}

if ! { nx_cluster_init "$tmp/pg" && nx_cluster_trust_local "$tmp/pg" && nx_cluster_start "$tmp/pg"; }; then
  echo "could not start the test cluster"
  echo "0 passed, 1 failed"
  exit 1
fi
# A second RSA key, for tokens "signed by another key".
runuser -u postgres -- openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 \
  -out "$tmp/pg/data/other_jwt.pem" 2>/dev/null

echo "== pg_regress"
"$PG_REGRESS" --inputdir=. --outputdir="$tmp/regress" --schedule=test/schedule \
  --dbname=nexplane_regress 2>&1 | tee "$tmp/regress.log"
psql -qX -d postgres -c 'DROP DATABASE IF EXISTS nexplane_regress' >/dev/null 2>&1
tally "$tmp/regress.log" "$tmp/regress/regression.diffs"

echo "== isolation"
"$PG_ISOLATION_REGRESS" --inputdir=test/isolation --outputdir="$tmp/isolation" \
  --schedule=test/isolation/schedule --dbname=nexplane_isolation 2>&1 | tee "$tmp/isolation.log"
tally "$tmp/isolation.log" "$tmp/isolation/regression.diffs"

echo "== end-to-end"
for t in test/e2e/*.sh; do
  case $(basename "$t") in *lib.sh) continue ;; esac
  echo "-- $t"
  TMPDIR=$tmp bash "$t" 2>&1 | tee "$tmp/e2e.log"
  p=$(grep -c '^ok ' "$tmp/e2e.log")
  f=$(grep -c '^not ok ' "$tmp/e2e.log")
  [ "$p" -eq 0 ] && [ "$f" -eq 0 ] && f=1   # a script that checked nothing failed
  passed=$((passed + p))
  failed=$((failed + f))
done

echo
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
