# Sourced by bench/audit/*.sh after bench/lib.sh: the tenant, the three tables
# (plain, c_audit, plpgsql) with 10,000 rows each, and the pgbench scripts
# $BENCH_DIR/{insert,update}_<variant>.sql.
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
variants="plain c_audit plpgsql"
for t in $variants; do
  sql -c "INSERT INTO bench.$t (tenant_id, name, value) SELECT '$tenant', 'item', 1 FROM generate_series(1, 10000)" >/dev/null
  printf "INSERT INTO bench.%s (tenant_id, name, value) VALUES ('%s', 'item', 1);\n" "$t" "$tenant" >"$BENCH_DIR/insert_$t.sql"
  printf '\\set id random(1, 10000)\nUPDATE bench.%s SET value = value + 1 WHERE tenant_id = '"'"'%s'"'"' AND id = :id;\n' "$t" "$tenant" >"$BENCH_DIR/update_$t.sql"
done
