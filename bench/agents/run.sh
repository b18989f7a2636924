#!/usr/bin/env bash
# bench/agents: AGENTS enrolled agents (default 10,000) long-polling one
# shim's agent listener over mutual TLS, each on its own connection with
# its own certificate (bench/agents/sim*.c, built here).  Prints:
#   memory   the shim's VmRSS (/proc) before the agents, holding them all,
#            and its peak (VmHWM);
#   idle     the shim's CPU (and the cluster's) over IDLE_SECONDS (10) of
#            holding every poll, with the re-polls the window saw (a poll
#            is answered empty after WAIT seconds, 30, and made again);
#            then over WAIT seconds, in which every poll expires once;
#   latency  for CMDS commands (1,000, facts.collect) queued by
#            agent_command_create on random agents, GAP_MS (10) apart,
#            from each command's commit (psql reads clock_timestamp()
#            right after COMMIT returns) to its receipt by the simulated
#            agent (CLOCK_REALTIME when the answer is parsed), p50 and p99;
#   floor    the same commits' NOTIFY on nexplane_agents as a plain libpq
#            LISTEN session receives it, in the same run.
# Targets (issue 16): p99 under 100 ms, shim memory under 1 GiB.
# The keys and CSRs are made by the simulator (EC P-256); the agents are
# enrolled by the real agent_enroll() in one SQL session, not through
# POST /v1/agents/enroll (enroll is rate-limited per client address).
. "$(dirname "$0")/../lib.sh"
root=$(cd "$(dirname "$0")/../.." && pwd)
here=$root/bench/agents
AGENTS=${AGENTS:-10000}
CMDS=${CMDS:-1000}
GAP_MS=${GAP_MS:-10}
WAIT=${WAIT:-30}
IDLE_SECONDS=${IDLE_SECONDS:-10}
. "$root/scripts/tls.sh"
KEEP=${KEEP:-}   # a directory to copy the raw files (received, committed, ramp.log) to

# each agent is a descriptor in the simulator and one in the shim
ulimit -n "$(ulimit -Hn)"
[ "$(ulimit -n)" -gt $((AGENTS + 200)) ] ||
  { echo "bench/agents: the open-file limit $(ulimit -n) is too low for $AGENTS agents" >&2; exit 1; }
make -s -C "$here" agentsim PG_CONFIG="${PG_CONFIG:-/usr/lib/postgresql/15/bin/pg_config}"
shim=${NEXPLANE_API:-$root/api/nexplane-api}
[ -x "$shim" ] || make -s -C "$root/api" nexplane-api
sim=${AGENTSIM:-$here/agentsim}
W=$BENCH_DIR/work
mkdir -p "$W"

ms() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.1f", (b - a) / 1000 }'; }
now_us() { date +%s%6N; }
kv() { tr ' ' '\n' <"$W/status" | sed -n "s/^$1=//p"; }
rss() { awk -v k="$2:" '$1 == k {print $2}' "/proc/$1/status"; }
ticks() { awk '{print $14 + $15}' "/proc/$1/stat" 2>/dev/null || echo 0; }
cluster_ticks() {
  local pm t=0 p
  pm=$(head -n 1 "$BENCH_DIR/pg/data/postmaster.pid")
  for p in $pm $(pgrep -P "$pm"); do t=$((t + $(ticks "$p"))); done
  echo $t
}
hz=$(getconf CLK_TCK)
load_start=$(cut -d' ' -f1-3 /proc/loadavg)

# ---- the tenant, an admin token, and AGENTS enrolled agents
sql -c "CREATE EXTENSION nexplane" -c "SET client_min_messages = warning" \
    -c "SELECT nexplane.tenant_create('bench', 'Bench', 'admin@bench.test', 'bench-admin-pass') IS NOT NULL" >/dev/null
token=$(sql -c "SELECT nexplane.login('admin@bench.test', 'bench-admin-pass', NULL, false)->>'access_token'" | tail -n 1)

t0=$(now_us)
"$sim" gen "$AGENTS" "$W"
t1=$(now_us)
# The tokens are made by the admin (one transaction: authenticate's
# context lasts that long); the enrollments use them, as the agents would.
sql -v tok="$token" >/dev/null <<SQL
CREATE TABLE bench_csr (i int PRIMARY KEY, csr text NOT NULL);
\\copy bench_csr FROM '$W/csrs.tsv'
CREATE TABLE bench_token (i int PRIMARY KEY, token text NOT NULL);
BEGIN;
SELECT nexplane.authenticate(:'tok') IS NOT NULL;
INSERT INTO bench_token
  SELECT i, nexplane.enrollment_token_create('1 hour')->>'token' FROM bench_csr;
COMMIT;
CREATE TABLE bench_agent (i int PRIMARY KEY, agent_id text NOT NULL, cert text NOT NULL);
SQL
# two sessions (the machine has two cores), each enrolling half the agents
for k in 0 1; do
  sql -c "INSERT INTO bench_agent
          SELECT c.i, e->>'agent_id', e->>'certificate_pem'
          FROM bench_csr c JOIN bench_token t USING (i),
               LATERAL nexplane.agent_enroll(t.token, c.csr,
                         jsonb_build_object('hostname', 'bench-' || c.i)) e
          WHERE c.i % 2 = $k" >/dev/null &
done
wait
sql >/dev/null <<SQL
\\copy (SELECT i, agent_id, cert FROM bench_agent ORDER BY i) TO '$W/certs.tsv'
SQL
t2=$(now_us)
sql -c "SELECT nexplane.agent_ca()->>'ca_pem'" >"$W/agent-ca.pem"
[ "$(wc -l <"$W/certs.tsv")" -eq "$AGENTS" ] ||
  { echo "bench/agents: enrolled $(wc -l <"$W/certs.tsv") agents, not $AGENTS" >&2; exit 1; }

# ---- the shim, with its agent listener
nx_tls_make "$BENCH_DIR/tls"
port=$(nx_free_port 18643)
aport=$(nx_free_port $((port + 1)))
"$shim" --listen "127.0.0.1:$port" --tls-cert "$BENCH_DIR/tls/server.crt" \
  --tls-key "$BENCH_DIR/tls/server.key" --agent-listen "127.0.0.1:$aport" \
  --agent-max-connections $((AGENTS + 1000)) ${SHIM_ARGS:-} \
  --db "host=$PGHOST port=$PGPORT dbname=postgres user=nexplane_api" >/dev/null 2>"$BENCH_DIR/api.err" &
api=$!
simpid= lisn=
cleanup() {
  [ -z "$simpid" ] || kill "$simpid" 2>/dev/null
  [ -z "$lisn" ] || kill "$lisn" 2>/dev/null
  kill $api 2>/dev/null
  wait 2>/dev/null
  nx_cluster_stop "$BENCH_DIR/pg"
  rm -rf "$BENCH_DIR"
}
trap cleanup EXIT
for _ in $(seq 1 100); do
  curl -sk -o /dev/null "https://127.0.0.1:$port/ready" && break
  kill -0 $api 2>/dev/null || { echo "bench/agents: the shim did not start" >&2; tail -n 20 "$BENCH_DIR/api.err" >&2; exit 1; }
  sleep 0.1
done
for _ in $(seq 1 100); do
  curl -s --cacert "$W/agent-ca.pem" -o /dev/null "https://127.0.0.1:$aport/v1/agent/ca" && break
  sleep 0.1
done
curl -s --cacert "$W/agent-ca.pem" -o /dev/null "https://127.0.0.1:$aport/v1/agent/ca" ||
  { echo "bench/agents: the agent listener does not answer" >&2; tail -n 20 "$BENCH_DIR/api.err" >&2; exit 1; }
rss_before=$(rss $api VmRSS)

# ---- the floor's listener, then the agents
"$sim" listen "host=$PGHOST port=$PGPORT dbname=postgres user=postgres" nexplane_agents "$W/notified.tsv" &
lisn=$!
t3=$(now_us)
"$sim" run --host 127.0.0.1 --port "$aport" --ca "$W/agent-ca.pem" --keys "$W/keys.tsv" \
  --certs "$W/certs.tsv" --out "$W/received.tsv" --status "$W/status" --wait "$WAIT" \
  2>"$W/sim.err" &
simpid=$!
# held: every agent's handshake done, its poll out and unanswered, and the
# database has had a call from each (new_cert_used: its certificate used)
deadline=$((SECONDS + 900)) t_hs=
while :; do
  sleep 0.5
  [ -f "$W/status" ] || continue
  echo "$(now_us) $(cat "$W/status")" >>"$W/ramp.log"
  [ -n "$t_hs" ] || [ "$(kv handshakes)" -lt "$AGENTS" ] || t_hs=$(now_us)
  if [ -n "$t_hs" ] && [ "$(kv polling)" -ge "$AGENTS" ]; then
    seen=$(sql -c "SELECT count(*) FROM nexplane.agents WHERE new_cert_used" 2>/dev/null | tail -n 1 || echo "?")
    [ "$seen" = "$AGENTS" ] && break
  fi
  if [ $SECONDS -gt $deadline ] || ! kill -0 $simpid 2>/dev/null || ! kill -0 $api 2>/dev/null; then
    echo "bench/agents: the agents were not all held after 900 s: $(cat "$W/status")" >&2
    tail -n 5 "$W/sim.err" "$BENCH_DIR/api.err" >&2
    exit 1
  fi
done
t4=$(now_us)
sleep 2
rss_held=$(rss $api VmRSS)
c0=$(ticks $api) p0=$(cluster_ticks) e0=$(kv answers_empty)
sleep "$IDLE_SECONDS"
c1=$(ticks $api) p1=$(cluster_ticks) e1=$(kv answers_empty)
rss_idle=$(rss $api VmRSS)
# a whole wait period: every held poll expires once, is answered empty and
# made again (the steady cost of a fleet with nothing to do)
c4=$(ticks $api) p4=$(cluster_ticks) e4=$(kv answers_empty)
sleep "$WAIT"
c5=$(ticks $api) p5=$(cluster_ticks) e5=$(kv answers_empty)

# ---- the commands
grep -q '^# listening' "$W/notified.tsv"
cut -f2 "$W/certs.tsv" | shuf -r -n "$CMDS" >"$W/targets"
gap=$(awk -v g="$GAP_MS" 'BEGIN { printf "%.3f", g / 1000 }')
while read -r aid; do
  cat <<SQL
BEGIN;
SELECT nexplane.authenticate(:'tok') IS NOT NULL AS ok \gset
SELECT nexplane.agent_command_create('$aid', 'facts.collect')->>'id' AS cid \gset
COMMIT;
SELECT :'cid', '$aid', (extract(epoch FROM clock_timestamp()) * 1000000)::bigint;
SELECT pg_sleep($gap) \gset
SQL
done <"$W/targets" >"$W/driver.sql"
c2=$(ticks $api)
t5=$(now_us)
sql -v tok="$token" -F $'\t' -f "$W/driver.sql" >"$W/committed.tsv"
t6=$(now_us)
for _ in $(seq 1 300); do
  [ "$(cut -f1 "$W/received.tsv" | sort -u | wc -l)" -ge "$CMDS" ] && break
  sleep 0.1
done
c3=$(ticks $api)
rss_end=$(rss $api VmRSS)
hwm=$(rss $api VmHWM)
kill "$simpid" "$lisn"
wait "$simpid" "$lisn" 2>/dev/null || true
simpid= lisn=
status=$(cat "$W/status")   # rewritten by the simulator as it exits

[ -z "$KEEP" ] || { mkdir -p "$KEEP"; cp "$W"/*.tsv "$W/ramp.log" "$W/sim.err" "$BENCH_DIR/api.err" "$KEEP/"; rm -f "$KEEP/keys.tsv"; }

# ---- figures
# nearest-rank percentiles of a column of milliseconds
pct() {
  sort -n | awk '{ v[NR] = $1 } END {
    if (NR == 0) { print "n=0"; exit }
    i50 = int(NR * 0.50); if (i50 < NR * 0.50) i50++
    i99 = int(NR * 0.99); if (i99 < NR * 0.99) i99++
    printf "p50 %7.2f ms   p99 %7.2f ms   max %7.2f ms   (n=%d)", v[i50], v[i99], v[NR], NR }'
}
latency=$(awk -F'\t' 'NR == FNR { if (!($1 in r)) r[$1] = $3; next }
  ($1 in r) { printf "%.3f\n", (r[$1] - $3) / 1000 }' "$W/received.tsv" "$W/committed.tsv" | pct)
floor=$(awk -F'\t' 'NR == FNR { if ($0 !~ /^#/) { k = $1 SUBSEP (++seen[$1]); n[k] = $2 }; next }
  { k = $2 SUBSEP (++used[$2]); if (k in n) printf "%.3f\n", (n[k] - $3) / 1000 }' \
  "$W/notified.tsv" "$W/committed.tsv" | pct)
got=$(awk -F'\t' 'NR == FNR { r[$1] = 1; next } ($1 in r) { k++ } END { print k + 0 }' \
  "$W/received.tsv" "$W/committed.tsv")
mib() { awk -v k="$1" 'BEGIN { printf "%.1f MiB", k / 1024 }'; }
pcpu() { awk -v t="$1" -v hz="$hz" -v s="$2" 'BEGIN { printf "%.1f%%", 100 * t / hz / s }'; }

echo "bench/agents: $AGENTS agents (EC P-256 client certificates, TLS to 127.0.0.1), wait=$WAIT s;"
echo "  $CMDS facts.collect commands ${GAP_MS} ms apart; the shim, PostgreSQL and the simulator share $(nproc) cores"
printf '%-34s %s\n' "keys + CSRs (simulator)" "$(ms "$t0" "$t1") ms"
printf '%-34s %s\n' "enrollment (agent_enroll in SQL)" "$(ms "$t1" "$t2") ms for $AGENTS"
printf '%-34s %s\n' "all connected and held" "$(ms "$t3" "$t4") ms (TLS handshakes all done after $(ms "$t3" "$t_hs") ms)"
printf '%-34s %s\n' "shim memory (VmRSS)" "before $(mib "$rss_before"), holding $(mib "$rss_held") ($(awk -v a="$rss_before" -v b="$rss_held" -v n="$AGENTS" 'BEGIN { printf "%.1f KiB", (b - a) / n }') a poll), after the commands $(mib "$rss_end"), peak $(mib "$hwm")   target < 1 GiB"
printf '%-34s %s\n' "idle CPU over ${IDLE_SECONDS} s" "shim $(pcpu $((c1 - c0)) "$IDLE_SECONDS") of a core, PostgreSQL $(pcpu $((p1 - p0)) "$IDLE_SECONDS"); $((e1 - e0)) polls expired and were made again in the window"
printf '%-34s %s\n' "steady CPU over ${WAIT} s" "shim $(pcpu $((c5 - c4)) "$WAIT"), PostgreSQL $(pcpu $((p5 - p4)) "$WAIT"); $((e5 - e4)) polls expired and were made again"
printf '%-34s %s\n' "commit -> agent receipt" "$latency   target p99 < 100 ms"
printf '%-34s %s\n' "baseline: commit -> libpq LISTEN" "$floor"
printf '%-34s %s\n' "received" "$got of $CMDS commands; the driver took $(ms "$t5" "$t6") ms; shim CPU $(pcpu $((c3 - c2)) "$(awk -v a="$t5" -v b="$t6" 'BEGIN { print (b - a) / 1e6 }')") while it ran"
echo "  simulator: $status"
echo "  load average at the start $load_start, at the end $(cut -d' ' -f1-3 /proc/loadavg)"
errs=$(grep -c '"level": *"error"\|error' "$BENCH_DIR/api.err" || true)
[ "$errs" = 0 ] || { echo "  the shim logged $errs error lines, the first:"; grep -m 3 error "$BENCH_DIR/api.err"; }
