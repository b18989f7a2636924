-- Change requests: creation, validation, idempotency and risk scores, on
-- the fixtures of setup.sql (pg-main, its assets, test.as, test.cr).
SELECT id AS acme FROM nexplane.tenants WHERE slug = 'acme' \gset

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
SELECT test.try($$SELECT nexplane.cr_create('10000000-0000-0000-0000-000000000001', 'rotate_password', '{}', 't', NULL,
                                            '{20000000-0000-0000-0000-0000000000ff}')$$);
SELECT test.try($$SELECT nexplane.cr_create('10000000-0000-0000-0000-000000000001', 'rotate_password', '{}', 't', NULL,
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
                                  '{"credential_id": "00000000-0000-0000-0000-0000000000c1"}', 'idem', NULL, '{}', NULL, 'key-1') AS a) x,
       (SELECT nexplane.cr_create('10000000-0000-0000-0000-000000000001', 'rotate_password',
                                  '{"credential_id": "00000000-0000-0000-0000-0000000000c1"}', 'idem', NULL, '{}', NULL, 'key-1') AS b) y;
SELECT test.try($$SELECT nexplane.cr_create('10000000-0000-0000-0000-000000000001', 'rotate_password',
                  '{"credential_id": "00000000-0000-0000-0000-0000000000c2"}', 'idem', NULL, '{}', NULL, 'key-1')$$) AS reused_key;
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
  FROM (VALUES ('add a user, no assets', 'create_role', '{}'::uuid[]),
               ('rotate on staging', 'rotate_password', '{20000000-0000-0000-0000-000000000002}'),
               ('rotate on production', 'rotate_password', '{20000000-0000-0000-0000-000000000001}'),
               ('drop 25 pci hosts', 'drop_role',
                (SELECT array_agg(('30000000-0000-0000-0000-' || lpad(i::text, 12, '0'))::uuid)
                   FROM generate_series(1, 25) i))) v(name, ct, assets);
SELECT name, r->>'score' AS score, r->>'level' AS level,
       (SELECT string_agg(f->>'name' || ' ' || (f->>'weight'), ', ') FROM jsonb_array_elements(r->'factors') f) AS factors
  FROM scenarios;
SELECT r->'factors'->0 AS explained FROM scenarios WHERE name = 'drop 25 pci hosts';
SELECT nexplane.risk_score('10000000-0000-0000-0000-000000000001', 'create_role', '{}',
                           '2030-01-19 10:00Z')->'factors' @> '[{"name": "weekend"}]' AS saturday_counts;
SELECT test.as('admin');
SELECT nexplane.risk_score('10000000-0000-0000-0000-000000000001', 'rotate_password', '{}',
                           '2030-01-16 10:00Z')->>'score' AS admin_requester_score;
COMMIT;
