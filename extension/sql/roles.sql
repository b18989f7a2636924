-- Nexplane install script, assembled by the Makefile from extension/sql/:
-- roles.sql, context.sql, schema/*.sql, api/*.sql, privileges.sql.
\echo Use "CREATE EXTENSION nexplane" to load this file. \quit

-- Roles.  nexplane_owner owns every table and function: it is not a
-- superuser and has no BYPASSRLS, so forced row-level security binds the
-- SECURITY DEFINER functions too.  nexplane_api is the shim's role, which
-- no person logs in as (its password is only in the shim's passfile);
-- nexplane_user is how people come in at psql.  Both own nothing and may
-- only call the API functions, and neither can see or signal another
-- session (docs/security.md, finding 3).
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
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'nexplane_user') THEN
        CREATE ROLE nexplane_user LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE
            NOBYPASSRLS NOINHERIT;
    END IF;
END
$$;

-- Settings of both login roles, which they cannot change (superuser-only
-- settings, and utility_hook.c refuses ALTER ROLE on nexplane's roles):
-- secrets travel as bound parameters, so parameter values stay out of the
-- server log, in statement and in error lines alike; and no session's
-- statement text is reported where another session could read it
-- (pg_stat_activity shows members of one role each other's queries).
ALTER ROLE nexplane_api SET log_parameter_max_length = 0;
ALTER ROLE nexplane_api SET log_parameter_max_length_on_error = 0;
ALTER ROLE nexplane_api SET track_activities = off;
ALTER ROLE nexplane_user SET log_parameter_max_length = 0;
ALTER ROLE nexplane_user SET log_parameter_max_length_on_error = 0;
ALTER ROLE nexplane_user SET track_activities = off;
