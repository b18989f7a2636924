-- The per-backend cache of verified JWT signatures (jwt_cache.c).  A token
-- this backend verified before skips its signature check, and only that:
-- the session, the user and the tenant are read on every call, and the
-- claims checked against the settings of the moment, so a logout, a
-- revoked session, a disabled user or tenant, a new signing key or another
-- audience refuse a cached token at once.  A token that differs in any
-- byte is verified in full, and a refused one is never stored.
-- Everything here is rolled back: the suite leaves no users or sessions.

-- cache(): this backend's hits and misses since the last call.  What it
-- saw last is kept in sequences, which a rollback does not undo.
CREATE TEMP SEQUENCE seen_hits MINVALUE 0;
CREATE TEMP SEQUENCE seen_misses MINVALUE 0;
CREATE FUNCTION pg_temp.cache() RETURNS text LANGUAGE plpgsql AS $$
DECLARE
    s jsonb := nexplane_test.jwt_cache_stats();
    answer text;
BEGIN
    answer := format('hits +%s, misses +%s',
                     (s->>'hits')::bigint - (SELECT last_value FROM seen_hits),
                     (s->>'misses')::bigint - (SELECT last_value FROM seen_misses));
    PERFORM setval('seen_hits', (s->>'hits')::bigint), setval('seen_misses', (s->>'misses')::bigint);
    RETURN answer;
END
$$;
SELECT pg_temp.cache() IS NOT NULL AS started;

BEGIN;
SET LOCAL ROLE nexplane_api;
SELECT test.as('admin');
SELECT nexplane.user_create('cache@acme.test', 'cache-user-pass-1', 'operator')->>'id' AS uid \gset
SELECT nexplane.login('cache@acme.test', 'cache-user-pass-1', NULL, false)->>'access_token' AS tok \gset
SELECT nexplane.login('cache@acme.test', 'cache-user-pass-1', NULL, false)->>'access_token' AS tok2 \gset
SELECT nexplane.login('cache@acme.test', 'cache-user-pass-1', NULL, false)->>'access_token' AS tok3 \gset
RESET ROLE;
SELECT pg_temp.cache() IS NOT NULL AS reset;

-- The first call verifies the signature and stores the token; the second
-- is served from the cache.
SET LOCAL ROLE nexplane_api;
SELECT nexplane.authenticate(:'tok')->>'role' AS first_call;
SELECT nexplane.authenticate(:'tok')->>'role' AS second_call;
RESET ROLE;
SELECT pg_temp.cache() AS two_calls;

-- A role change shows at once: the role comes from the users row.
SET LOCAL ROLE nexplane_api;
SELECT test.as('admin');
SELECT nexplane.user_set_role(:'uid', 'viewer')->>'role' AS set_to;
SELECT nexplane.authenticate(:'tok')->>'role' AS role_after_change;
RESET ROLE;
SELECT pg_temp.cache() AS role_change;

-- Tampered tokens differ from the cached one: verified in full, refused,
-- and not stored (the second try is a miss again).
SET LOCAL ROLE nexplane_api;
SELECT test.try(format('SELECT nexplane.authenticate(%L)',           -- signature edited
    split_part(:'tok', '.', 1) || '.' || split_part(:'tok', '.', 2) || '.' ||
    translate(split_part(:'tok', '.', 3), 'ABCabc', 'BCAbca'))) AS signature_edited;
SELECT test.try(format('SELECT nexplane.authenticate(%L)',           -- claims edited
    split_part(:'tok', '.', 1) || '.' ||
    test.b64url_encode(convert_to(jsonb_set(test.jwt_part(:'tok', 2), '{role}', '"superadmin"')::text, 'UTF8'))
    || '.' || split_part(:'tok', '.', 3))) AS claims_edited;
SELECT test.try(format('SELECT nexplane.authenticate(%L)', :'tok' || 'A')) AS one_more_byte;
-- The same length and the same signature (the bytes the cache hashes), one
-- byte of the claims changed: the whole token is compared, so a miss.
SELECT test.try(format('SELECT nexplane.authenticate(%L)',
    overlay(:'tok' placing (CASE WHEN substr(:'tok', length(split_part(:'tok', '.', 1)) + 6, 1) = 'A'
                                 THEN 'B' ELSE 'A' END)
            from length(split_part(:'tok', '.', 1)) + 6 for 1))) AS one_byte_of_claims;
SELECT test.try(format('SELECT nexplane.authenticate(%L)',
    split_part(:'tok', '.', 1) || '.' || split_part(:'tok', '.', 2) || '.' ||
    translate(split_part(:'tok', '.', 3), 'ABCabc', 'BCAbca'))) AS signature_edited_again;
RESET ROLE;
SELECT pg_temp.cache() AS tampered;

-- A logged-out session: its cached token is refused.
SET LOCAL ROLE nexplane_api;
SELECT nexplane.authenticate(:'tok2')->>'role' AS tok2_cached;
SELECT nexplane.logout()->>'session_revoked' AS logged_out;
SELECT test.try(format('SELECT nexplane.authenticate(%L)', :'tok2')) AS after_logout;
RESET ROLE;
SELECT pg_temp.cache() AS logout;

-- A session revoked in the table (as an administrator would): refused.
SET LOCAL ROLE nexplane_api;
SELECT nexplane.authenticate(:'tok3')->>'role' AS tok3_cached;
RESET ROLE;
UPDATE nexplane.sessions SET revoked_at = now()
 WHERE id = (test.jwt_part(:'tok3', 2)->>'sid')::uuid;
SET LOCAL ROLE nexplane_api;
SELECT test.try(format('SELECT nexplane.authenticate(%L)', :'tok3')) AS after_revoke;
RESET ROLE;
SELECT pg_temp.cache() AS revoked;

-- A suspended tenant, then a disabled user (which also ends its sessions):
-- refused.
UPDATE nexplane.tenants SET status = 'suspended' WHERE slug = 'acme';
SET LOCAL ROLE nexplane_api;
SELECT test.try(format('SELECT nexplane.authenticate(%L)', :'tok')) AS tenant_suspended;
RESET ROLE;
UPDATE nexplane.tenants SET status = 'active' WHERE slug = 'acme';
SET LOCAL ROLE nexplane_api;
SELECT nexplane.authenticate(:'tok')->>'role' AS tenant_active_again;
SELECT test.as('admin');
SELECT nexplane.user_disable(:'uid')->>'status' AS user_disabled;
SELECT test.try(format('SELECT nexplane.authenticate(%L)', :'tok')) AS after_user_disable;
RESET ROLE;
SELECT pg_temp.cache() AS disabled;
ROLLBACK;

-- Another audience or another signing key refuse a cached token.
BEGIN;
SET LOCAL ROLE nexplane_api;
SELECT test.as('viewer');
SELECT test.as('viewer');
RESET ROLE;
SELECT pg_temp.cache() AS viewer_cached;
SET LOCAL nexplane.jwt_audience = 'someone-else';
SELECT test.try($$SELECT test.as('viewer')$$) AS other_audience;
RESET nexplane.jwt_audience;
COPY (SELECT) TO PROGRAM 'openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out cache_other_jwt.pem 2>/dev/null';
SET LOCAL nexplane.jwt_private_key_file = 'cache_other_jwt.pem';
SELECT test.try($$SELECT test.as('viewer')$$) AS other_key;
RESET nexplane.jwt_private_key_file;
SELECT test.as('viewer') AS first_key_again;
SELECT pg_temp.cache() AS audience_and_key;
ROLLBACK;

-- An expired token is refused and never stored.
BEGIN;
SET LOCAL nexplane.access_token_ttl = -120;
SELECT nexplane.login('view@acme.test', 'viewer-pass-1x', NULL, false)->>'access_token' AS old_tok \gset
RESET nexplane.access_token_ttl;
SELECT pg_temp.cache() IS NOT NULL AS reset;
SELECT test.try(format('SELECT nexplane.authenticate(%L)', :'old_tok')) AS expired;
SELECT test.try(format('SELECT nexplane.authenticate(%L)', :'old_tok')) AS expired_again;
SELECT pg_temp.cache() AS expired;
ROLLBACK;
