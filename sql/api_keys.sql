-- API keys: shown once, stored hashed, scoped, expiring, revocable.
SET ROLE nexplane_api;
SELECT nexplane.login('admin@acme.test', 'acme-admin-pass-1') IS NOT NULL AS acme_admin;

SELECT k->>'key' AS wkey, k->>'id' AS wkey_id, k->>'key_prefix' AS wprefix,
       left(k->>'key', 4) AS scheme, length(k->>'key') AS len,
       k->>'key_prefix' = left(k->>'key', 12) AS prefix_matches, k->'scopes' AS scopes,
       k->>'expires_at' IS NOT NULL AS expires
  FROM (SELECT nexplane.api_key_create('ci deploys', ARRAY['write', 'read']) AS k) s
\gset
SELECT :'scheme' AS scheme, :len AS len, :'prefix_matches' AS prefix_matches, :'scopes' AS scopes;
SELECT k->>'key' AS rkey, k->>'id' AS rkey_id
  FROM (SELECT nexplane.api_key_create('dashboards') AS k) s
\gset

-- Bad input.
SELECT test.try($$SELECT nexplane.api_key_create('')$$);
SELECT test.try($$SELECT nexplane.api_key_create(NULL)$$);
SELECT test.try($$SELECT nexplane.api_key_create('x', ARRAY['admin'])$$);
SELECT test.try($$SELECT nexplane.api_key_create('x', ARRAY[]::text[])$$);
SELECT test.try($$SELECT nexplane.api_key_create('x', ARRAY[NULL]::text[])$$);
SELECT test.try($$SELECT nexplane.api_key_create('x', ARRAY['read'], now() - interval '1 day')$$);
SELECT test.try($$SELECT nexplane.api_key_create('x', ARRAY['read'], now() + interval '2 years')$$);

-- Listing never shows a key or its hash.
SELECT jsonb_path_query_array(nexplane.api_key_list(), '$[*].name') AS names,
       nexplane.api_key_list()::text LIKE '%' || :'wkey' || '%' AS key_listed,
       jsonb_path_exists(nexplane.api_key_list(), '$[*].key_hash') AS hash_listed;
SELECT nexplane.logout() IS NOT NULL AS out;

-- A write key acts with its user's role; a read key only as a viewer.
BEGIN;
SELECT nexplane.authenticate(:'wkey') - 'tenant_id' - 'user_id' AS write_key;
SELECT jsonb_array_length(nexplane.user_list()) > 0 AS can_list;
COMMIT;
BEGIN;
SELECT nexplane.authenticate(:'rkey') - 'tenant_id' - 'user_id' AS read_key;
SELECT test.try($$SELECT nexplane.user_create('x@acme.test', 'long-enough-pass', 'viewer')$$);
COMMIT;
RESET ROLE;
SELECT last_used_at IS NOT NULL AS last_used_recorded FROM nexplane.api_keys
 WHERE id = :'wkey_id';
SET ROLE nexplane_api;

-- Unknown, malformed and oversized keys.
SELECT test.try($$SELECT nexplane.authenticate('nxp_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA')$$);
SELECT test.try($$SELECT nexplane.authenticate('nxp_')$$);

-- Revocation is immediate; revoking twice is a conflict.
SELECT nexplane.login('admin@acme.test', 'acme-admin-pass-1') IS NOT NULL AS acme_admin;
SELECT nexplane.api_key_revoke(:'rkey_id')->>'revoked_at' IS NOT NULL AS revoked;
SELECT test.try(format('SELECT nexplane.api_key_revoke(%L)', :'rkey_id'));
SELECT test.try($$SELECT nexplane.api_key_revoke('00000000-0000-0000-0000-000000000000')$$);
SELECT test.try($$SELECT nexplane.api_key_revoke(NULL)$$);
SELECT nexplane.logout() IS NOT NULL AS out;
SELECT test.try(format('SELECT nexplane.authenticate(%L)', :'rkey'));

-- An expired key stops working.
RESET ROLE;
UPDATE nexplane.api_keys SET expires_at = now() - interval '1 second' WHERE id = :'wkey_id';
SET ROLE nexplane_api;
SELECT test.try(format('SELECT nexplane.authenticate(%L)', :'wkey'));

-- A viewer makes keys for itself and cannot revoke anyone else's.
SELECT nexplane.login('admin@acme.test', 'acme-admin-pass-1') IS NOT NULL AS acme_admin;
SELECT nexplane.user_create('viewer-keys@acme.test', 'viewer-keys-pass-1', 'viewer')->>'role';
SELECT k->>'id' AS admin_key_id
  FROM (SELECT nexplane.api_key_create('admin key', ARRAY['write']) AS k) s
\gset
SELECT nexplane.login('viewer-keys@acme.test', 'viewer-keys-pass-1') IS NOT NULL AS viewer;
SELECT nexplane.api_key_create('mine', ARRAY['write'])->'scopes' AS viewer_key;
SELECT jsonb_array_length(nexplane.api_key_list()) AS own_keys_listed;
SELECT test.try(format('SELECT nexplane.api_key_revoke(%L)', :'admin_key_id')) AS others_key;
SELECT nexplane.logout() IS NOT NULL AS out;
RESET ROLE;
