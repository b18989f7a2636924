-- The tenant context, read from backend memory that only C code writes.
-- PARALLEL RESTRICTED: a parallel worker does not share the context.
CREATE FUNCTION nexplane.current_tenant_id() RETURNS uuid
    AS 'MODULE_PATHNAME', 'nx_current_tenant_id' LANGUAGE C STABLE PARALLEL RESTRICTED;
CREATE FUNCTION nexplane.current_user_id() RETURNS uuid
    AS 'MODULE_PATHNAME', 'nx_current_user_id' LANGUAGE C STABLE PARALLEL RESTRICTED;
CREATE FUNCTION nexplane.current_role() RETURNS text
    AS 'MODULE_PATHNAME', 'nx_current_role' LANGUAGE C STABLE PARALLEL RESTRICTED;
-- How the caller authenticated, and the session (or API key) it used.
CREATE FUNCTION nexplane._auth_kind() RETURNS text
    AS 'MODULE_PATHNAME', 'nx_auth_kind' LANGUAGE C STABLE PARALLEL RESTRICTED;
CREATE FUNCTION nexplane._auth_session_id() RETURNS uuid
    AS 'MODULE_PATHNAME', 'nx_auth_session_id' LANGUAGE C STABLE PARALLEL RESTRICTED;
CREATE FUNCTION nexplane.current_request_id() RETURNS text
    AS 'MODULE_PATHNAME', 'nx_current_request_id' LANGUAGE C STABLE PARALLEL RESTRICTED;
-- True only while C code runs a fixed cross-tenant lookup (login by email,
-- key by hash); no SQL function can turn it on.
CREATE FUNCTION nexplane.system_access() RETURNS boolean
    AS 'MODULE_PATHNAME', 'nx_system_access' LANGUAGE C STABLE PARALLEL RESTRICTED;

-- Internal helpers for the PL/pgSQL functions; not granted to nexplane_api.
CREATE FUNCTION nexplane._require_role(VARIADIC roles text[]) RETURNS void
    AS 'MODULE_PATHNAME', 'nx_require_role_sql' LANGUAGE C VOLATILE;
-- _role_in(role, VARIADIC roles): is role one of them?  A superadmin is
-- every role (the one rule, in roles.c).
CREATE FUNCTION nexplane._role_in(role text, VARIADIC roles text[]) RETURNS boolean
    AS 'MODULE_PATHNAME', 'nx_role_in_sql' LANGUAGE C STABLE;
-- _require_auth(): any authenticated role; C, so no SQL body to plan per call.
CREATE FUNCTION nexplane._require_auth() RETURNS void
    AS 'MODULE_PATHNAME', 'nx_require_auth_sql' LANGUAGE C VOLATILE;
-- Refuse a secret where the server log would keep it (secret_params.c).
CREATE FUNCTION nexplane._secret_guard() RETURNS void
    AS 'MODULE_PATHNAME', 'nx_secret_guard_sql' LANGUAGE C VOLATILE;
CREATE FUNCTION nexplane._password_hash(password text) RETURNS text
    AS 'MODULE_PATHNAME', 'nx_password_hash_sql' LANGUAGE C VOLATILE;
CREATE FUNCTION nexplane._random_token(prefix text) RETURNS text
    AS 'MODULE_PATHNAME', 'nx_random_token_sql' LANGUAGE C VOLATILE;

-- Raise an NX error from PL/pgSQL: one place for the shape of errors.
CREATE FUNCTION nexplane._raise(code text, message text, detail text DEFAULT NULL,
                                hint text DEFAULT NULL) RETURNS void
    AS 'MODULE_PATHNAME', 'nx_raise' LANGUAGE C VOLATILE;

-- The common part of list filters: a JSON object with only the allowed
-- keys and a limit from 1 to max_limit; answers the limit (NX400 otherwise).
CREATE FUNCTION nexplane._filter_limit(f jsonb, allowed text[], default_limit integer,
                                       max_limit integer) RETURNS integer
    LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    unknown text;
    lim integer;
BEGIN
    IF jsonb_typeof(f) <> 'object' THEN
        PERFORM nexplane._raise('NX400', 'filter must be a JSON object');
    END IF;
    SELECT string_agg(k, ', ') INTO unknown FROM jsonb_object_keys(f) k
     WHERE k <> ALL (allowed) AND k <> 'limit';
    IF unknown IS NOT NULL THEN
        PERFORM nexplane._raise('NX400', 'unknown filter keys: ' || unknown);
    END IF;
    BEGIN
        lim := coalesce((f->>'limit')::integer, default_limit);
    EXCEPTION WHEN data_exception THEN
        PERFORM nexplane._raise('NX400', 'invalid filter value', SQLERRM);
    END;
    IF lim NOT BETWEEN 1 AND max_limit THEN
        PERFORM nexplane._raise('NX400', format('limit must be between 1 and %s', max_limit));
    END IF;
    RETURN lim;
END
$$;
