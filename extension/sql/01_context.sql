-- The tenant context, read from backend memory that only C code writes.
-- PARALLEL RESTRICTED: a parallel worker does not share the context.
CREATE FUNCTION nexplane.current_tenant_id() RETURNS uuid
    AS 'MODULE_PATHNAME', 'nx_current_tenant_id' LANGUAGE C STABLE PARALLEL RESTRICTED;
CREATE FUNCTION nexplane.current_user_id() RETURNS uuid
    AS 'MODULE_PATHNAME', 'nx_current_user_id' LANGUAGE C STABLE PARALLEL RESTRICTED;
CREATE FUNCTION nexplane.current_role() RETURNS text
    AS 'MODULE_PATHNAME', 'nx_current_role' LANGUAGE C STABLE PARALLEL RESTRICTED;
CREATE FUNCTION nexplane.current_request_id() RETURNS text
    AS 'MODULE_PATHNAME', 'nx_current_request_id' LANGUAGE C STABLE PARALLEL RESTRICTED;
-- True only while C code runs a fixed cross-tenant lookup (login by email,
-- key by hash); no SQL function can turn it on.
CREATE FUNCTION nexplane.system_access() RETURNS boolean
    AS 'MODULE_PATHNAME', 'nx_system_access' LANGUAGE C STABLE PARALLEL RESTRICTED;

-- Internal helpers for the PL/pgSQL functions; not granted to nexplane_api.
CREATE FUNCTION nexplane._require_role(VARIADIC roles text[]) RETURNS void
    AS 'MODULE_PATHNAME', 'nx_require_role_sql' LANGUAGE C VOLATILE;
CREATE FUNCTION nexplane._require_auth() RETURNS void
    LANGUAGE sql VOLATILE SET search_path = pg_catalog, pg_temp
    AS $$ SELECT nexplane._require_role(VARIADIC ARRAY[]::text[]) $$;
CREATE FUNCTION nexplane._password_hash(password text) RETURNS text
    AS 'MODULE_PATHNAME', 'nx_password_hash_sql' LANGUAGE C VOLATILE;
CREATE FUNCTION nexplane._random_token(prefix text) RETURNS text
    AS 'MODULE_PATHNAME', 'nx_random_token_sql' LANGUAGE C VOLATILE;

-- Raise an NX error from PL/pgSQL: one place for the shape of errors.
CREATE FUNCTION nexplane._raise(code text, message text, detail text DEFAULT NULL,
                                hint text DEFAULT NULL) RETURNS void
    AS 'MODULE_PATHNAME', 'nx_raise' LANGUAGE C VOLATILE;
