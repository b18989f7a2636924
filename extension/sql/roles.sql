-- Nexplane install script, assembled by the Makefile from extension/sql/:
-- roles.sql, context.sql, schema/*.sql, api/*.sql, privileges.sql.
\echo Use "CREATE EXTENSION nexplane" to load this file. \quit

-- Roles.  nexplane_owner owns every table and function: it is not a
-- superuser and has no BYPASSRLS, so forced row-level security binds the
-- SECURITY DEFINER functions too.  nexplane_api is what the shim, the
-- agents and people at psql log in as: it owns nothing and may only call
-- the API functions.
DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'nexplane_owner') THEN
        CREATE ROLE nexplane_owner NOLOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE
            NOBYPASSRLS NOINHERIT;
    END IF;
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'nexplane_api') THEN
        CREATE ROLE nexplane_api LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE
            NOBYPASSRLS NOINHERIT;
    END IF;
END
$$;

-- Secrets travel as bound parameters; keep parameter values of the API
-- role out of the server log, in statement and in error lines alike.
ALTER ROLE nexplane_api SET log_parameter_max_length = 0;
ALTER ROLE nexplane_api SET log_parameter_max_length_on_error = 0;
