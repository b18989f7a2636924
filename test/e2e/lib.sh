#!/usr/bin/env bash
# Shared by the end-to-end scripts: each starts its own cluster (they
# restart it), prints one "ok - ..." or "not ok - ..." line per check, and
# stops the cluster on any exit.  The runner counts those lines.
set -uo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/../../scripts/cluster.sh"

E2E_DIR=$(mktemp -d "${TMPDIR:-/tmp}/nexplane-e2e.XXXXXX")
chmod 755 "$E2E_DIR"
trap 'nx_cluster_stop "$E2E_DIR/pg"; [ -n "${KEEP:-}" ] || rm -rf "$E2E_DIR"' EXIT

check() { # description, then a command that succeeds when the check holds
  local what=$1
  shift
  if "$@" >/dev/null 2>&1; then echo "ok - $what"; else echo "not ok - $what"; fi
}

e2e_cluster() { # start a fresh cluster; extra postgresql.conf lines on stdin
  nx_cluster_init "$E2E_DIR/pg" >/dev/null && nx_cluster_trust_local "$E2E_DIR/pg" &&
    cat >>"$E2E_DIR/pg/data/postgresql.conf" && nx_cluster_start "$E2E_DIR/pg"
}

e2e_conf() { echo "$1" >>"$E2E_DIR/pg/data/postgresql.conf"; }
e2e_restart() { nx_cluster_stop "$E2E_DIR/pg"; nx_cluster_start "$E2E_DIR/pg"; }
sql() { psql -X -q -tA -v ON_ERROR_STOP=1 -d postgres "$@"; }
