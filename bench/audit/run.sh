#!/usr/bin/env bash
# bench/audit: single-row INSERT and UPDATE throughput (pgbench, prepared
# statements) on one table three ways, in one run on one cluster:
#   plain      no audit
#   c_audit    nexplane._audit_trigger(), writing nexplane.audit_events
#   plpgsql    a straightforward PL/pgSQL trigger writing to_jsonb(OLD/NEW)
#              into a copy of audit_events (same columns and indexes)
# Target: the C trigger costs at most 15% over the plain table.
# Commits run with synchronous_commit = off: with a WAL flush per commit the
# disk's latency swamps (and on a shared VM randomizes) what is measured
# here, the CPU and write cost of the trigger itself.
# One client (CLIENTS), so the server backend has a core of its own on a
# small machine; SECONDS_EACH (default 8) sets each measurement; ROUNDS (default 3)
# repeats the whole set and keeps each variant's best round.
. "$(dirname "$0")/../lib.sh"
SECONDS_EACH=${SECONDS_EACH:-8}
ROUNDS=${ROUNDS:-3}
CLIENTS=${CLIENTS:-1}

sql -c "CREATE EXTENSION nexplane" >/dev/null
tenant=$(sql -c "SELECT nexplane.tenant_create('bench', 'Bench', 'admin@bench.test', 'bench-admin-password')->'tenant'->>'id'")
sql >/dev/null <<SQL
CREATE SCHEMA bench;
CREATE TABLE bench.plain (tenant_id uuid NOT NULL, id bigint GENERATED ALWAYS AS IDENTITY,
                          name text NOT NULL, value integer NOT NULL,
                          updated_at timestamptz NOT NULL DEFAULT now(), PRIMARY KEY (tenant_id, id));
-- INCLUDING IDENTITY gives each copy its own sequence, so ids 1..10000 in each
CREATE TABLE bench.c_audit (LIKE bench.plain INCLUDING ALL);
CREATE TABLE bench.plpgsql (LIKE bench.plain INCLUDING ALL);
CREATE TRIGGER audit AFTER INSERT OR UPDATE OR DELETE ON bench.c_audit
    FOR EACH ROW EXECUTE FUNCTION nexplane._audit_trigger();
CREATE TABLE bench.audit_log (LIKE nexplane.audit_events INCLUDING DEFAULTS INCLUDING IDENTITY INCLUDING INDEXES);
CREATE FUNCTION bench.plpgsql_audit() RETURNS trigger LANGUAGE plpgsql AS \$\$
BEGIN
    INSERT INTO bench.audit_log (tenant_id, actor_kind, action, target_table, target_id, before, after)
    VALUES (coalesce(NEW.tenant_id, OLD.tenant_id), 'postgres', TG_TABLE_NAME || '.' || lower(TG_OP),
            TG_TABLE_NAME, coalesce(NEW.id, OLD.id)::text,
            CASE WHEN TG_OP <> 'INSERT' THEN to_jsonb(OLD) END,
            CASE WHEN TG_OP <> 'DELETE' THEN to_jsonb(NEW) END);
    RETURN NULL;
END \$\$;
CREATE TRIGGER audit AFTER INSERT OR UPDATE OR DELETE ON bench.plpgsql
    FOR EACH ROW EXECUTE FUNCTION bench.plpgsql_audit();
SQL
for t in plain c_audit plpgsql; do
  sql -c "INSERT INTO bench.$t (tenant_id, name, value) SELECT '$tenant', 'item', 1 FROM generate_series(1, 10000)" >/dev/null
  printf "INSERT INTO bench.%s (tenant_id, name, value) VALUES ('%s', 'item', 1);\n" "$t" "$tenant" >"$BENCH_DIR/insert_$t.sql"
  printf '\\set id random(1, 10000)\nUPDATE bench.%s SET value = value + 1 WHERE tenant_id = '"'"'%s'"'"' AND id = :id;\n' "$t" "$tenant" >"$BENCH_DIR/update_$t.sql"
done
sql -c "VACUUM ANALYZE" >/dev/null

declare -A best
for round in $(seq 1 "$ROUNDS"); do
  for op in insert update; do
    for t in plain c_audit plpgsql; do
      tps=$(PGOPTIONS='-c synchronous_commit=off' pgbench -n -M prepared -c "$CLIENTS" -j "$CLIENTS" -T "$SECONDS_EACH" -d postgres \
              -f "$BENCH_DIR/${op}_$t.sql" 2>/dev/null | sed -nE 's/^tps = ([0-9.]+) .*/\1/p')
      key=${op}_$t
      if [ -z "${best[$key]:-}" ] || awk -v a="$tps" -v b="${best[$key]}" 'BEGIN { exit !(a > b) }'; then
        best[$key]=$tps
      fi
    done
  done
done

printf '\naudit benchmark: single-row statements per second, %d clients, best of %d x %ds, synchronous_commit=off\n' \
  "$CLIENTS" "$ROUNDS" "$SECONDS_EACH"
printf '%-10s %14s %14s %16s %12s %14s\n' op "plain" "C trigger" "PL/pgSQL trigger" "C overhead" "PL/pgSQL overhead"
for op in insert update; do
  awk -v op="$op" -v p="${best[${op}_plain]}" -v c="${best[${op}_c_audit]}" -v s="${best[${op}_plpgsql]}" \
    'BEGIN { printf "%-10s %14.0f %14.0f %16.0f %11.1f%% %13.1f%%\n", op, p, c, s, (p / c - 1) * 100, (p / s - 1) * 100 }'
done
awk -v pi="${best[insert_plain]}" -v ci="${best[insert_c_audit]}" -v pu="${best[update_plain]}" -v cu="${best[update_c_audit]}" \
  'BEGIN { w = (pi / ci > pu / cu ? pi / ci : pu / cu) - 1;
           printf "C trigger, worst case: %.1f%% over unaudited (target <= 15%%): %s\n", w * 100, (w <= 0.15 ? "met" : "NOT met") }'
