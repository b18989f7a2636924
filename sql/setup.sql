-- Install the extension and the helpers and fixtures the other suites use:
-- two tenants, acme and globex, each with an admin.
CREATE EXTENSION nexplane;

-- test.try(sql): run a statement and answer 'ok' or 'SQLSTATE: message
-- (detail)', so expected files show the error class the API shim would map.
-- UUIDs in messages are masked as <id>: they differ from run to run.
CREATE SCHEMA test;
GRANT USAGE ON SCHEMA test TO PUBLIC;
CREATE FUNCTION test.try(q text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
    detail text;
BEGIN
    EXECUTE q;
    RETURN 'ok';
EXCEPTION WHEN OTHERS THEN
    GET STACKED DIAGNOSTICS detail = PG_EXCEPTION_DETAIL;
    RETURN regexp_replace(SQLSTATE || ': ' || SQLERRM || coalesce(' (' || nullif(detail, '') || ')', ''),
                          '[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}', '<id>', 'g');
END
$$;
GRANT EXECUTE ON FUNCTION test.try(text) TO PUBLIC;

SELECT r.rolname, r.rolsuper, r.rolbypassrls, r.rolcanlogin
  FROM pg_roles r WHERE r.rolname LIKE 'nexplane%' ORDER BY 1;

-- Tenants are made by a PostgreSQL superuser (or a platform superadmin).
SELECT nexplane.tenant_create('acme', 'Acme Corp', 'admin@acme.test',
                              'acme-admin-pass-1') #- '{tenant,id}' #- '{admin,id}'
                              #- '{tenant,created_at}';
SELECT nexplane.tenant_create('globex', 'Globex', 'admin@globex.test',
                              'globex-admin-pass-1') #- '{tenant,id}' #- '{admin,id}'
                              #- '{tenant,created_at}';

-- base64url helpers for building forged tokens in auth_tokens.
CREATE FUNCTION test.b64url_decode(s text) RETURNS bytea LANGUAGE sql IMMUTABLE AS $$
    SELECT decode(translate(s, '-_', '+/') || repeat('=', (4 - length(s) % 4) % 4), 'base64')
$$;
CREATE FUNCTION test.b64url_encode(b bytea) RETURNS text LANGUAGE sql IMMUTABLE AS $$
    SELECT rtrim(translate(replace(encode(b, 'base64'), E'\n', ''), '+/', '-_'), '=')
$$;
CREATE FUNCTION test.jwt_part(tok text, n int) RETURNS jsonb LANGUAGE sql IMMUTABLE AS $$
    SELECT convert_from(test.b64url_decode(split_part(tok, '.', n)), 'UTF8')::jsonb
$$;
CREATE FUNCTION test.jwt_make(header jsonb, payload jsonb, sig text) RETURNS text
    LANGUAGE sql IMMUTABLE AS $$
    SELECT test.b64url_encode(convert_to(header::text, 'UTF8')) || '.' ||
           test.b64url_encode(convert_to(payload::text, 'UTF8')) || '.' || sig
$$;
GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA test TO PUBLIC;
