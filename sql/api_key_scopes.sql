-- Break-in: a credential never mints one stronger than itself.  A read
-- key cannot create keys at all; a write key's keys expire no later than
-- it does; no key lives longer than a year; NULL expiry is the default.
-- (In globex: acme's keys are the api_keys suite's.)
SET ROLE nexplane_api;
SELECT nexplane.login('admin@globex.test', 'globex-admin-pass-1') IS NOT NULL AS globex_admin;
SELECT k->>'key' AS read_key FROM nexplane.api_key_create('scopes read', ARRAY['read']) k \gset
SELECT k->>'key' AS write_key
  FROM nexplane.api_key_create('scopes write', ARRAY['write'], now() + interval '10 days') k \gset
SELECT (k->>'expires_at')::timestamptz BETWEEN now() + interval '89 days' AND now() + interval '91 days'
       AS null_expiry_is_90_days
  FROM nexplane.api_key_create('scopes null expiry', ARRAY['read'], NULL) k;
SELECT test.try($$SELECT nexplane.api_key_create('forever', ARRAY['read'], 'infinity')$$) AS forever;
SELECT test.try($$SELECT nexplane.api_key_create('two years', ARRAY['read'],
                                                 now() + interval '2 years')$$) AS two_years;
SELECT nexplane.logout() IS NOT NULL AS out;

-- The attack: authenticated with the read key, ask for a write key.
BEGIN;
SELECT nexplane.authenticate(:'read_key')->>'role' AS read_key_acts_as;
SELECT test.try($$SELECT nexplane.api_key_create('escalate', ARRAY['write'])$$) AS read_makes_write;
SELECT test.try($$SELECT nexplane.api_key_create('copy', ARRAY['read'])$$) AS read_makes_read;
COMMIT;

-- A write key makes keys, but none outliving it.
BEGIN;
SELECT nexplane.authenticate(:'write_key')->>'role' AS write_key_acts_as;
SELECT (k->>'expires_at')::timestamptz <= now() + interval '10 days' AS child_expires_with_parent,
       k->'scopes' AS scopes
  FROM nexplane.api_key_create('child', ARRAY['read', 'write'], now() + interval '300 days') k;
COMMIT;
RESET ROLE;

-- Whatever made it, a key row without an expiry, or beyond a year, cannot exist.
SELECT left(test.try(format($$INSERT INTO nexplane.api_keys (tenant_id, user_id, name, key_prefix,
                         key_hash, scopes, expires_at)
                  SELECT tenant_id, id, 'raw', 'nxp_raw', sha256('raw'), '{read}', NULL
                    FROM nexplane.users WHERE email = 'admin@globex.test'$$)), 5) AS null_expiry_row;
SELECT left(test.try(format($$INSERT INTO nexplane.api_keys (tenant_id, user_id, name, key_prefix,
                         key_hash, scopes, expires_at)
                  SELECT tenant_id, id, 'raw', 'nxp_raw', sha256('raw'), '{read}', now() + interval '13 months'
                    FROM nexplane.users WHERE email = 'admin@globex.test'$$)), 5) AS long_row;
SELECT count(*) AS keys_without_expiry FROM nexplane.api_keys WHERE expires_at IS NULL;

-- Leave globex as setup made it (rls_break_in probes every id it has).
DELETE FROM nexplane.api_keys
 WHERE tenant_id = (SELECT id FROM nexplane.tenants WHERE slug = 'globex');
