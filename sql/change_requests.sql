-- Change requests: creation, validation, idempotency and risk scores.
-- Fixtures: a connector and assets in acme, more users, and one access
-- token per user so later suites switch users without bcrypt's cost.
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
SELECT count(nexplane.user_create(e, 'change-user-pass-1', r))
  FROM (VALUES ('appr2@acme.test', 'approver'), ('admin2@acme.test', 'admin')) v(e, r);
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
CREATE FUNCTION test.cr(change_type text, assets uuid[] DEFAULT '{}',
                        at timestamptz DEFAULT '2030-01-16 10:00Z') RETURNS jsonb
    LANGUAGE sql AS $$
    SELECT nexplane.cr_create('10000000-0000-0000-0000-000000000001', change_type,
                              '{"user": "app"}', 'test ' || change_type, NULL, assets, at)
$$;
GRANT EXECUTE ON FUNCTION test.cr(text, uuid[], timestamptz) TO PUBLIC;

BEGIN;
SET LOCAL ROLE nexplane_api;
SELECT test.as('op');
SELECT c - 'id' - 'requester_id' - 'created_at' - 'updated_at' - 'cursor' - 'risk_factors' AS created
  FROM test.cr('rotate_password') c;
-- Bad input.
SELECT test.try($$SELECT nexplane.cr_create('10000000-0000-0000-0000-0000000000ff', 'rotate_password', '{}', 't')$$);
SELECT test.try($$SELECT nexplane.cr_create(NULL, 'rotate_password', '{}', 't')$$);
SELECT test.try($$SELECT nexplane.cr_create('10000000-0000-0000-0000-000000000001', 'Rotate Password', '{}', 't')$$);
SELECT test.try($$SELECT nexplane.cr_create('10000000-0000-0000-0000-000000000001', 'x', '[1]', 't')$$);
SELECT test.try($$SELECT nexplane.cr_create('10000000-0000-0000-0000-000000000001', 'x', '{}', '')$$);
SELECT test.try($$SELECT nexplane.cr_create('10000000-0000-0000-0000-000000000001', 'x', '{}', NULL)$$);
SELECT test.try($$SELECT nexplane.cr_create('10000000-0000-0000-0000-000000000001', 'x', '{}', 't', NULL,
                                            '{20000000-0000-0000-0000-0000000000ff}')$$);
SELECT test.try($$SELECT nexplane.cr_create('10000000-0000-0000-0000-000000000001', 'x', '{}', 't', NULL,
                                            ARRAY[NULL]::uuid[])$$);
SELECT test.try(format('SELECT nexplane.cr_create(%L, %L, %L, %L)', '10000000-0000-0000-0000-000000000001',
                       'x', jsonb_build_object('big', repeat('x', 70000)), 't'));
SELECT test.try($$SELECT nexplane.cr_get('00000000-0000-0000-0000-000000000000')$$);
SELECT test.try($$SELECT nexplane.cr_list('{"limit": 0}')$$);
SELECT test.try($$SELECT nexplane.cr_list('{"colour": "red"}')$$);
SELECT test.try($$SELECT nexplane.cr_list('{"after": "yesterday"}')$$);
SELECT test.as('viewer');
SELECT test.try($$SELECT test.cr('rotate_password')$$) AS viewer_creates;
COMMIT;

-- Idempotency: a retry returns the first request; another request under
-- the same key is a conflict.
BEGIN;
SET LOCAL ROLE nexplane_api;
SELECT test.as('op');
SELECT (a->>'id') = (b->>'id') AS same_request, a->>'state' AS state
  FROM (SELECT nexplane.cr_create('10000000-0000-0000-0000-000000000001', 'rotate_password',
                                  '{"user": "app"}', 'idem', NULL, '{}', NULL, 'key-1') AS a) x,
       (SELECT nexplane.cr_create('10000000-0000-0000-0000-000000000001', 'rotate_password',
                                  '{"user": "app"}', 'idem', NULL, '{}', NULL, 'key-1') AS b) y;
SELECT test.try($$SELECT nexplane.cr_create('10000000-0000-0000-0000-000000000001', 'rotate_password',
                  '{"user": "other"}', 'idem', NULL, '{}', NULL, 'key-1')$$) AS reused_key;
SELECT count(*) AS requests_with_key FROM jsonb_array_elements(nexplane.cr_list()) c
 WHERE c->>'idempotency_key' = 'key-1';
COMMIT;

-- Risk: fixed scenarios (planned for a Wednesday, 10:00 UTC).
BEGIN;
SET LOCAL ROLE nexplane_api;
SELECT test.as('op');
CREATE TEMP TABLE scenarios AS
SELECT name, nexplane.risk_score('10000000-0000-0000-0000-000000000001', ct, assets,
                                 '2030-01-16 10:00Z') AS r
  FROM (VALUES ('add a user, no assets', 'create_user', '{}'::uuid[]),
               ('rotate on staging', 'rotate_password', '{20000000-0000-0000-0000-000000000002}'),
               ('rotate on production', 'rotate_password', '{20000000-0000-0000-0000-000000000001}'),
               ('drop 25 pci hosts', 'drop_database',
                (SELECT array_agg(('30000000-0000-0000-0000-' || lpad(i::text, 12, '0'))::uuid)
                   FROM generate_series(1, 25) i))) v(name, ct, assets);
SELECT name, r->>'score' AS score, r->>'level' AS level,
       (SELECT string_agg(f->>'name' || ' ' || (f->>'weight'), ', ') FROM jsonb_array_elements(r->'factors') f) AS factors
  FROM scenarios;
SELECT r->'factors'->0 AS explained FROM scenarios WHERE name = 'drop 25 pci hosts';
SELECT nexplane.risk_score('10000000-0000-0000-0000-000000000001', 'create_user', '{}',
                           '2030-01-19 10:00Z')->'factors' @> '[{"name": "weekend"}]' AS saturday_counts;
SELECT test.as('admin');
SELECT nexplane.risk_score('10000000-0000-0000-0000-000000000001', 'rotate_password', '{}',
                           '2030-01-16 10:00Z')->>'score' AS admin_requester_score;
COMMIT;
