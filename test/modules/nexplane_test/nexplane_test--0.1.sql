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

-- connector_call: one connector operation, run directly (the connector
-- tests drive real servers with it).
CREATE FUNCTION connector_call(type text, op text, config jsonb, credential jsonb,
                               change_type text DEFAULT NULL, params jsonb DEFAULT NULL,
                               new_secret jsonb DEFAULT NULL, old_secret jsonb DEFAULT NULL,
                               rollback_state jsonb DEFAULT NULL, undoing boolean DEFAULT false,
                               timeout_ms integer DEFAULT 10000) RETURNS jsonb
    AS 'MODULE_PATHNAME', 'nxt_connector_call' LANGUAGE C VOLATILE
    SET search_path = pg_catalog, pg_temp;
REVOKE ALL ON FUNCTION connector_call(text, text, jsonb, jsonb, text, jsonb, jsonb, jsonb,
                                      jsonb, boolean, integer) FROM PUBLIC;

-- credential_works: does the connector's target take the stored credential
-- (its current version, or another the vault keeps: 'previous')?
CREATE FUNCTION credential_works(connector_id uuid, credential_id uuid,
                                 params jsonb DEFAULT '{}', version text DEFAULT 'current') RETURNS boolean
    AS 'MODULE_PATHNAME', 'nxt_credential_works' LANGUAGE C VOLATILE
    SET search_path = pg_catalog, pg_temp;
REVOKE ALL ON FUNCTION credential_works(uuid, uuid, jsonb, text) FROM PUBLIC;

-- jwt_cache_stats: this backend's cache of verified JWT signatures
-- (hits, misses, entries), for the suite that proves what it may skip.
CREATE FUNCTION jwt_cache_stats() RETURNS jsonb
    AS 'MODULE_PATHNAME', 'nxt_jwt_cache_stats' LANGUAGE C VOLATILE
    SET search_path = pg_catalog, pg_temp;
REVOKE ALL ON FUNCTION jwt_cache_stats() FROM PUBLIC;
