-- User management: roles checked, input validated, tenant-bound.
SET ROLE nexplane_api;
SELECT nexplane.login('admin@acme.test', 'acme-admin-pass-1') IS NOT NULL AS acme_admin;

-- op@, appr@ and view@acme.test come from setup.sql.
SELECT u - 'id' - 'created_at' - 'updated_at' AS created
  FROM (SELECT nexplane.user_create('olive@acme.test', 'operator-pass-1', 'operator', 'Olive Op') AS u) s;
SELECT (nexplane.user_create('gone@acme.test', 'gone-password-1', 'operator')->>'id') AS gone_id
\gset
SELECT (nexplane.me()->'user'->>'id') AS admin_id
\gset

-- Bad input.
SELECT test.try($$SELECT nexplane.user_create('x@acme.test', 'long-enough-pass', 'root')$$);
SELECT test.try($$SELECT nexplane.user_create('x@acme.test', 'long-enough-pass', 'superadmin')$$);
SELECT test.try($$SELECT nexplane.user_create('x@acme.test', 'long-enough-pass', NULL)$$);
SELECT test.try($$SELECT nexplane.user_create('no-at-sign', 'long-enough-pass', 'viewer')$$);
SELECT test.try($$SELECT nexplane.user_create('a b@acme.test', 'long-enough-pass', 'viewer')$$);
SELECT test.try($$SELECT nexplane.user_create('x@acme.test', 'short', 'viewer')$$);
SELECT test.try(format('SELECT nexplane.user_create(%L, %L, %L)', 'x@acme.test', repeat('p', 80), 'viewer'));
SELECT test.try($$SELECT nexplane.user_create(NULL, 'long-enough-pass', 'viewer')$$);
SELECT test.try($$SELECT nexplane.user_create('OP@acme.test', 'long-enough-pass', 'viewer')$$);
SELECT test.try(format('SELECT nexplane.user_create(%L, %L, %L, %L)', 'x@acme.test',
                       'long-enough-pass', 'viewer', repeat('n', 201)));
SELECT test.try($$SELECT nexplane.user_get('not-a-uuid')$$);

-- Listing and reading; the password hash never leaves.
-- (other suites add acme users too: only these, and no other tenant's)
SELECT string_agg(e, ', ' ORDER BY e) FILTER (WHERE e IN ('admin@acme.test', 'appr@acme.test',
           'gone@acme.test', 'olive@acme.test', 'op@acme.test', 'view@acme.test')) AS emails,
       count(*) FILTER (WHERE e NOT LIKE '%@acme.test' AND e NOT LIKE '%@example.test') AS others
  FROM jsonb_array_elements_text(jsonb_path_query_array(nexplane.user_list(), '$[*].email')) e;
SELECT nexplane.user_list()::text LIKE '%$2b$%' AS hash_leaked;
SELECT nexplane.user_get(:'gone_id')->>'email' AS got;
SELECT test.try($$SELECT nexplane.user_get('00000000-0000-0000-0000-000000000000')$$);

-- Role changes.
SELECT nexplane.user_set_role(:'gone_id', 'approver')->>'role' AS new_role;
SELECT test.try(format('SELECT nexplane.user_set_role(%L, %L)', :'gone_id', 'superadmin'));
SELECT test.try(format('SELECT nexplane.user_set_role(%L, %L)', :'admin_id', 'viewer'));
SELECT test.try($$SELECT nexplane.user_set_role('00000000-0000-0000-0000-000000000000', 'viewer')$$);
SELECT test.try(format('SELECT nexplane.user_disable(%L)', :'admin_id'));

-- Roles below admin may read but not manage.
SELECT nexplane.login('view@acme.test', 'viewer-pass-1x') IS NOT NULL AS viewer;
SELECT jsonb_array_length(nexplane.user_list()) > 0 AS viewer_can_list;
SELECT test.try($$SELECT nexplane.user_create('x@acme.test', 'long-enough-pass', 'viewer')$$);
SELECT test.try(format('SELECT nexplane.user_set_role(%L, %L)', :'gone_id', 'admin'));
SELECT test.try(format('SELECT nexplane.user_disable(%L)', :'gone_id'));
SELECT nexplane.login('op@acme.test', 'operator-pass-1') IS NOT NULL AS operator;
SELECT test.try($$SELECT nexplane.user_create('x@acme.test', 'long-enough-pass', 'viewer')$$);
SELECT nexplane.login('appr@acme.test', 'approver-pass-1') IS NOT NULL AS approver;
SELECT test.try(format('SELECT nexplane.user_disable(%L)', :'gone_id'));
SELECT nexplane.tenant_get() - 'id' - 'created_at' AS tenant;
SELECT nexplane.logout() IS NOT NULL AS out;

-- Disabling a user ends their login, their sessions and their keys at once.
SELECT l->>'access_token' AS gone_tok
  FROM (SELECT nexplane.login('gone@acme.test', 'gone-password-1', NULL, false) AS l) s
\gset
BEGIN;
SELECT nexplane.authenticate(:'gone_tok')->>'role' AS role;
SELECT nexplane.api_key_create('gone key', ARRAY['write'])->>'key' AS gone_key
\gset
COMMIT;
SELECT nexplane.login('admin@acme.test', 'acme-admin-pass-1') IS NOT NULL AS acme_admin;
SELECT nexplane.user_disable(:'gone_id')->>'status' AS status;
SELECT nexplane.logout() IS NOT NULL AS out;
SELECT test.try($$SELECT nexplane.login('gone@acme.test', 'gone-password-1')$$) AS disabled_login;
SELECT test.try(format('SELECT nexplane.authenticate(%L)', :'gone_tok')) AS disabled_token;
SELECT test.try(format('SELECT nexplane.authenticate(%L)', :'gone_key')) AS disabled_key;
RESET ROLE;
