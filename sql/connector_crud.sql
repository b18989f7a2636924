-- Connectors through the API: admins write them, fields are checked
-- against the type's declarations, every role reads them, tenants never
-- see each other's; test and discover queue jobs users can follow and
-- cancel; evidence is append-only.  (The workers run elsewhere: this
-- database is not nexplane.database, so jobs stay queued here.)  One
-- transaction, rolled back: the other suites see none of it.
SELECT id AS acme FROM nexplane.tenants WHERE slug = 'acme' \gset
BEGIN;
SET LOCAL ROLE nexplane_api;

SELECT test.as('admin');
SELECT (nexplane.credential_create('pg-admin', 'postgresql',
        '{"username": "nexplane", "password": "s3cret-pg-admin"}')->>'id') AS cred \gset
SELECT (nexplane.credential_create('wrong-shape', 'postgresql', '{"user": "x"}')->>'id') AS badcred \gset

-- Who may create, and what is refused (NX422 names the field, never a value).
SELECT test.as('viewer');
SELECT test.try($$SELECT nexplane.connector_create('postgresql', 'v', '{"host": "h"}')$$) AS viewer;
SELECT test.as('op');
SELECT test.try($$SELECT nexplane.connector_create('postgresql', 'o', '{"host": "h"}')$$) AS operator;
SELECT test.as('admin');
SELECT v.what, test.try(v.q) AS refused FROM (VALUES
  ('unknown type', $$SELECT nexplane.connector_create('oracle', 'x', '{}')$$),
  ('unknown field', $$SELECT nexplane.connector_create('postgresql', 'x', '{"host": "h", "hots": 1}')$$),
  ('wrong type', $$SELECT nexplane.connector_create('postgresql', 'x', '{"host": 5}')$$),
  ('missing field', $$SELECT nexplane.connector_create('postgresql', 'x', '{"port": 5432}')$$),
  ('not an object', $$SELECT nexplane.connector_create('postgresql', 'x', '[1]')$$),
  ('bad environment', $$SELECT nexplane.connector_create('postgresql', 'x', '{"host": "h"}', NULL, 'prod')$$),
  ('bad tag', $$SELECT nexplane.connector_create('postgresql', 'x', '{"host": "h"}', NULL, 'test', '{"No Caps"}')$$),
  ('too many tags', format($$SELECT nexplane.connector_create('postgresql', 'x', '{"host": "h"}', NULL, 'test', %L)$$,
                           (SELECT array_agg('t' || i) FROM generate_series(1, 21) i))),
  ('empty name', $$SELECT nexplane.connector_create('postgresql', '', '{"host": "h"}')$$),
  ('credential of the wrong shape', format($$SELECT nexplane.connector_create('postgresql', 'x', '{"host": "h"}', %L)$$, :'badcred')),
  ('no such credential', $$SELECT nexplane.connector_create('postgresql', 'x', '{"host": "h"}', '99999999-0000-0000-0000-000000000000')$$),
  ('name taken', $$SELECT nexplane.connector_create('postgresql', 'pg-main', '{"host": "h"}')$$)
) v(what, q);
SELECT c->>'id' AS prod
  FROM nexplane.connector_create('postgresql', 'pg-prod', '{"host": "db.internal", "port": 5432}',
                                 :'cred', 'production', '{pci}') c \gset
SELECT c - 'id' - 'created_at' - 'updated_at' - 'credential_id' AS created
  FROM nexplane.connector_get(:'prod') c;

-- Every role reads them; the secret never shows.
SELECT test.as('viewer');
SELECT c->>'name' AS name, c->>'environment' AS env, c->'health'->>'state' AS health
  FROM jsonb_array_elements(nexplane.connector_list()) c ORDER BY 1;
SELECT position('s3cret' IN nexplane.connector_get(:'prod')::text) AS secret_shown;

-- Risk reads where the connector points: granting superuser on a
-- production connector is high risk with no asset named at all.
SELECT test.as('op');
SELECT r->>'level' AS level, (r->>'score')::int AS score,
       (SELECT array_agg(f->>'name' ORDER BY f->>'name') FROM jsonb_array_elements(r->'factors') f) AS factors
  FROM nexplane.risk_score(:'prod', 'grant_role', '{}', '2030-01-16 10:00Z',
                           '{"role": "superuser", "member": "app"}') r;
SELECT c->>'risk_level' AS cr_level
  FROM nexplane.cr_create(:'prod', 'grant_role', '{"role": "superuser", "member": "app"}',
                          'make app superuser') c;
-- a change type the connector type does not have
SELECT test.try(format($$SELECT nexplane.cr_create(%L, 'drop_database', '{}', 't')$$, :'prod')) AS unknown_change;
SELECT test.try(format($$SELECT nexplane.cr_create(%L, 'reset_password', '{}', 't')$$, :'prod')) AS ldaps_change;

-- Updates: NULL keeps a field; disabling refuses new changes and jobs.
SELECT test.as('op');
SELECT test.try(format($$SELECT nexplane.connector_update(%L, 'renamed')$$, :'prod')) AS operator_update;
SELECT test.as('admin');
SELECT test.try(format($$SELECT nexplane.connector_update(%L, config => '{"hots": "x"}')$$, :'prod')) AS bad_config;
SELECT test.try(format($$SELECT nexplane.connector_update(%L, status => 'broken')$$, :'prod')) AS bad_status;
SELECT c->>'name' AS name, c->>'environment' AS env, c->'tags' AS tags, c->>'status' AS status
  FROM nexplane.connector_update(:'prod', status => 'disabled', tags => '{pci,critical}') c;
SELECT test.try(format($$SELECT nexplane.cr_create(%L, 'lock_role', '{}', 't')$$, :'prod')) AS disabled_cr;
SELECT test.try(format($$SELECT nexplane.connector_test(%L)$$, :'prod')) AS disabled_test;
SELECT nexplane.connector_update(:'prod', status => 'active')->>'status' AS status;

-- Jobs: queued by operators and admins, read by all, cancelled while queued.
SELECT test.as('viewer');
SELECT test.try(format($$SELECT nexplane.connector_test(%L)$$, :'prod')) AS viewer_test;
SELECT test.as('op');
SELECT j->>'kind' AS kind, j->>'state' AS state, (j->>'max_attempts')::int AS max_attempts
  FROM nexplane.connector_test(:'prod') j;
SELECT nexplane.connector_discover(:'prod')->>'kind' AS kind;
SELECT j->>'kind' AS kind, j->>'state' AS state
  FROM jsonb_array_elements(nexplane.job_list(format('{"connector_id": "%s"}', :'prod')::jsonb)) j ORDER BY 1;
SELECT test.try($$SELECT nexplane.job_list('{"colour": "red"}')$$) AS bad_filter;
SELECT test.try($$SELECT nexplane.job_list('{"limit": 5000}')$$) AS big_limit;
SELECT j->>'id' AS testjob
  FROM jsonb_array_elements(nexplane.job_list(format('{"connector_id": "%s", "kind": "test_connection"}', :'prod')::jsonb)) j \gset
SELECT test.as('viewer');
SELECT test.try(format($$SELECT nexplane.job_cancel(%L)$$, :'testjob')) AS viewer_cancel;
SELECT test.as('op');
SELECT nexplane.job_get(:'testjob')->>'state' AS before;
SELECT nexplane.job_cancel(:'testjob')->>'state' AS after;
SELECT test.try(format($$SELECT nexplane.job_cancel(%L)$$, :'testjob')) AS again;

-- Another tenant sees none of it.
RESET ROLE;
INSERT INTO nexplane.evidence (tenant_id, job_id, kind, content, sha256)
VALUES (:'acme', :'testjob', 'connection_test', '{"ok": true}', sha256('{"ok": true}'));
SELECT id AS ev FROM nexplane.evidence WHERE job_id = :'testjob' \gset
SET LOCAL ROLE nexplane_api;
SELECT nexplane.login('admin@globex.test', 'globex-admin-pass-1') IS NOT NULL AS globex;
SELECT v.what, test.try(v.q) AS across_tenants FROM (VALUES
  ('connector_get', format($$SELECT nexplane.connector_get(%L)$$, :'prod')),
  ('connector_update', format($$SELECT nexplane.connector_update(%L, 'mine')$$, :'prod')),
  ('connector_delete', format($$SELECT nexplane.connector_delete(%L)$$, :'prod')),
  ('connector_test', format($$SELECT nexplane.connector_test(%L)$$, :'prod')),
  ('job_get', format($$SELECT nexplane.job_get(%L)$$, :'testjob')),
  ('job_cancel', format($$SELECT nexplane.job_cancel(%L)$$, :'testjob')),
  ('evidence_get', format($$SELECT nexplane.evidence_get(%L)$$, :'ev')),
  ('cr_create', format($$SELECT nexplane.cr_create(%L, 'lock_role', '{}', 't')$$, :'prod')),
  ('connector_create with acme''s credential',
   format($$SELECT nexplane.connector_create('postgresql', 'x', '{"host": "h"}', %L)$$, :'cred'))
) v(what, q);
SELECT jsonb_array_length(nexplane.connector_list()) AS connectors,
       jsonb_array_length(nexplane.job_list()) AS jobs,
       jsonb_array_length(nexplane.evidence_list()) AS evidence,
       jsonb_array_length(nexplane.asset_list()) AS assets;
SELECT nexplane.logout() IS NOT NULL AS out;

-- Evidence is append-only, for the owner and for a superuser too.
RESET ROLE;
SELECT test.try(format($$UPDATE nexplane.evidence SET content = '{}' WHERE id = %L$$, :'ev')) AS superuser_update;
SELECT test.try(format($$DELETE FROM nexplane.evidence WHERE id = %L$$, :'ev')) AS superuser_delete;
SELECT test.try($$TRUNCATE nexplane.evidence$$) AS superuser_truncate;
-- Evidence has no foreign key to tenants (schema/50_jobs.sql): its audit
-- event needs the tenant's audit key, whose foreign key refuses a tenant
-- that does not exist, and nothing of it stays.
SELECT test.try($$INSERT INTO nexplane.evidence (tenant_id, job_id, kind, content, sha256)
  VALUES ('00000000-0000-4000-8000-000000000000', gen_random_uuid(), 'noop', '{}', sha256('{}'))$$)
  AS unknown_tenant;
SELECT count(*) AS left_behind FROM nexplane.evidence
 WHERE tenant_id = '00000000-0000-4000-8000-000000000000';
SET LOCAL ROLE nexplane_api;
SELECT test.as('viewer');
SELECT e->>'kind' AS kind, e->>'sha256' = encode(sha256('{"ok": true}'), 'hex') AS hash_ok
  FROM nexplane.evidence_get(:'ev') e;

-- Deleting: not while change requests or jobs refer to it; disable instead.
SELECT test.as('admin');
SELECT test.try(format($$SELECT nexplane.connector_delete(%L)$$, :'prod')) AS in_use;
SELECT c->>'name' AS name, (c->>'deleted')::boolean AS deleted
  FROM nexplane.connector_delete((nexplane.connector_create('redis', 'cache', '{"host": "r"}')->>'id')::uuid) c;
-- Debian's hiredis has no TLS: a redis connector asking for it is refused,
-- never connected in clear.
SELECT test.try($$SELECT nexplane.connector_create('redis', 'cache-tls', '{"host": "r", "tls": true}')$$)
    AS redis_tls_refused;
RESET ROLE;
ROLLBACK;
