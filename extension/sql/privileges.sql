-- Ownership and privileges, last, once every object exists.
--
-- Everything in the schema moves to nexplane_owner, so SECURITY DEFINER
-- functions run as a role that forced RLS binds.  nexplane_api may use the
-- schema and call the public API functions (no leading underscore) and
-- nothing else: no table, sequence or internal helper.
DO $$
DECLARE
    r record;
BEGIN
    FOR r IN SELECT c.oid::regclass AS rel FROM pg_class c
              WHERE c.relnamespace = 'nexplane'::regnamespace AND c.relkind IN ('r', 'p', 'v')
    LOOP
        EXECUTE format('ALTER TABLE %s OWNER TO nexplane_owner', r.rel);
    END LOOP;
    FOR r IN SELECT t.oid::regtype AS typ FROM pg_type t
              WHERE t.typnamespace = 'nexplane'::regnamespace AND t.typtype = 'd'
    LOOP
        EXECUTE format('ALTER DOMAIN %s OWNER TO nexplane_owner', r.typ);
    END LOOP;
    FOR r IN SELECT p.oid::regprocedure AS fn, p.proname FROM pg_proc p
              WHERE p.pronamespace = 'nexplane'::regnamespace
    LOOP
        EXECUTE format('ALTER FUNCTION %s OWNER TO nexplane_owner', r.fn);
        EXECUTE format('REVOKE ALL ON FUNCTION %s FROM PUBLIC', r.fn);
        IF left(r.proname, 1) <> '_' THEN
            EXECUTE format('GRANT EXECUTE ON FUNCTION %s TO nexplane_api, nexplane_user', r.fn);
        END IF;
    END LOOP;
END
$$;
-- The calls the shim makes for an agent (over mutual TLS) are the shim's
-- role's alone, and each checks it is called by that role itself (pki.c).
REVOKE EXECUTE ON FUNCTION nexplane.agent_poll(text), nexplane.agent_result(text, uuid, jsonb),
    nexplane.agent_heartbeat(text, jsonb), nexplane.agent_renew(text, text, integer)
    FROM nexplane_user;
GRANT EXECUTE ON FUNCTION nexplane._agent_listener_certificate(text, text[]) TO nexplane_api;
REVOKE ALL ON ALL TABLES IN SCHEMA nexplane FROM PUBLIC;
REVOKE ALL ON ALL SEQUENCES IN SCHEMA nexplane FROM PUBLIC;
GRANT USAGE ON SCHEMA nexplane TO nexplane_owner, nexplane_api, nexplane_user;

-- No session of nexplane's may cancel or terminate another's backend
-- (PostgreSQL lets a role signal every backend of the same role, and all
-- psql users share nexplane_user); only superusers may, in this database.
REVOKE EXECUTE ON FUNCTION pg_catalog.pg_cancel_backend(integer),
    pg_catalog.pg_terminate_backend(integer, bigint) FROM PUBLIC;

-- Large objects live outside row-level security: no API role may make
-- one (a tenant could fill the database, or pass data to another tenant
-- through a guessable oid).  The grant is per database, so this touches
-- only the database that holds nexplane; a superuser keeps the functions.
REVOKE EXECUTE ON FUNCTION pg_catalog.lo_creat(integer), pg_catalog.lo_create(oid),
    pg_catalog.lo_from_bytea(oid, bytea), pg_catalog.lo_import(text),
    pg_catalog.lo_import(text, oid) FROM PUBLIC;
