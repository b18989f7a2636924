-- nexplane_test: superuser-only instruments for tests and benchmarks.
-- Each checks for a superuser itself; nobody else may even call them.
\echo Use "CREATE EXTENSION nexplane_test" to load this file. \quit

CREATE FUNCTION vault_verify(credential_id uuid, expected jsonb) RETURNS boolean
    AS 'MODULE_PATHNAME', 'nxt_vault_verify' LANGUAGE C VOLATILE
    SET search_path = pg_catalog, pg_temp;
CREATE FUNCTION vault_bench(tenant_id uuid, n integer) RETURNS jsonb
    AS 'MODULE_PATHNAME', 'nxt_vault_bench' LANGUAGE C VOLATILE
    SET search_path = pg_catalog, pg_temp;
REVOKE ALL ON FUNCTION vault_verify(uuid, jsonb), vault_bench(uuid, integer) FROM PUBLIC;
