-- Install the extension and the helpers and fixtures the other suites use:
-- two tenants, acme and globex, each with an admin.
CREATE EXTENSION nexplane;
-- The test-only instruments (test/modules/nexplane_test): vault checks.
CREATE EXTENSION nexplane_test;

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

-- The fixtures of acme every suite may use: one user per role (and a
-- second approver and admin), a connector with assets, and an access token
-- per user so suites switch users without bcrypt's cost: test.as(who).
SELECT id AS acme FROM nexplane.tenants WHERE slug = 'acme' \gset
INSERT INTO nexplane.connectors (tenant_id, id, type, name)
VALUES (:'acme', '10000000-0000-0000-0000-000000000001', 'postgresql', 'pg-main'),
       (:'acme', '10000000-0000-0000-0000-000000000002', 'ldap', 'ldap-main');
INSERT INTO nexplane.assets (tenant_id, id, connector_id, kind, external_id, name, environment, tags)
VALUES (:'acme', '20000000-0000-0000-0000-000000000001', '10000000-0000-0000-0000-000000000001',
        'database', 'prod-db', 'prod-db', 'production', '{}'),
       (:'acme', '20000000-0000-0000-0000-000000000002', '10000000-0000-0000-0000-000000000001',
        'database', 'stage-db', 'stage-db', 'staging', '{}');
INSERT INTO nexplane.assets (tenant_id, id, connector_id, kind, external_id, name, environment, tags)
SELECT :'acme', ('30000000-0000-0000-0000-' || lpad(i::text, 12, '0'))::uuid,
       '10000000-0000-0000-0000-000000000001', 'host', 'card-' || i, 'card-' || i,
       'production', '{pci}'
  FROM generate_series(1, 25) i;

SET ROLE nexplane_api;
SELECT nexplane.login('admin@acme.test', 'acme-admin-pass-1') IS NOT NULL AS acme_admin;
SELECT count(nexplane.user_create(e, pw, r))
  FROM (VALUES ('op@acme.test', 'operator-pass-1', 'operator'),
               ('appr@acme.test', 'approver-pass-1', 'approver'),
               ('view@acme.test', 'viewer-pass-1x', 'viewer'),
               ('appr2@acme.test', 'change-user-pass-1', 'approver'),
               ('admin2@acme.test', 'change-user-pass-1', 'admin')) v(e, pw, r);
SELECT nexplane.logout() IS NOT NULL AS out;
RESET ROLE;
CREATE TABLE test.tokens (who text PRIMARY KEY, token text NOT NULL);
GRANT SELECT ON test.tokens TO PUBLIC;
INSERT INTO test.tokens
SELECT who, nexplane.login(email, pw, NULL, false)->>'access_token'
  FROM (VALUES ('admin', 'admin@acme.test', 'acme-admin-pass-1'),
               ('admin2', 'admin2@acme.test', 'change-user-pass-1'),
               ('op', 'op@acme.test', 'operator-pass-1'),
               ('appr', 'appr@acme.test', 'approver-pass-1'),
               ('appr2', 'appr2@acme.test', 'change-user-pass-1'),
               ('viewer', 'view@acme.test', 'viewer-pass-1x')) v(who, email, pw);
-- test.as(who): switch the context to that user for this transaction.
CREATE FUNCTION test.as(who text) RETURNS text LANGUAGE sql AS $$
    SELECT nexplane.authenticate((SELECT token FROM test.tokens t WHERE t.who = $1))->>'role'
$$;
GRANT EXECUTE ON FUNCTION test.as(text) TO PUBLIC;
-- test.params(change_type): params the postgresql connector's change type
-- takes (cr_create checks them against its table).
CREATE FUNCTION test.params(change_type text) RETURNS jsonb LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE WHEN change_type = 'rotate_password' THEN '{}'::jsonb
                WHEN change_type IN ('grant_role', 'revoke_role')
                THEN '{"role": "readers", "member": "app"}'
                ELSE '{"role": "app"}' END
$$;
GRANT EXECUTE ON FUNCTION test.params(text) TO PUBLIC;
CREATE FUNCTION test.cr(change_type text, assets uuid[] DEFAULT '{}',
                        at timestamptz DEFAULT '2030-01-16 10:00Z') RETURNS jsonb
    LANGUAGE sql AS $$
    SELECT nexplane.cr_create('10000000-0000-0000-0000-000000000001', change_type,
                              test.params(change_type), 'test ' || change_type, NULL, assets, at)
$$;
GRANT EXECUTE ON FUNCTION test.cr(text, uuid[], timestamptz) TO PUBLIC;


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
