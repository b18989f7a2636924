-- authenticate() with access tokens; refresh() and logout().
SET ROLE nexplane_api;
SELECT l->>'access_token' AS tok, l->>'refresh_token' AS rtok
  FROM (SELECT nexplane.login('admin@globex.test', 'globex-admin-pass-1', NULL, false) AS l) s
\gset

-- The token's header and claims.
SELECT test.jwt_part(:'tok', 1) - 'kid' AS header,
       test.jwt_part(:'tok', 1)->>'kid' = nexplane.jwks()->'keys'->0->>'kid' AS kid_in_jwks;
SELECT array_agg(k ORDER BY k) AS claims FROM jsonb_object_keys(test.jwt_part(:'tok', 2)) k;
SELECT (test.jwt_part(:'tok', 2)->>'exp')::bigint - (test.jwt_part(:'tok', 2)->>'iat')::bigint
       AS lifetime_seconds, test.jwt_part(:'tok', 2)->>'iss' AS iss,
       test.jwt_part(:'tok', 2)->>'aud' AS aud, test.jwt_part(:'tok', 2)->>'role' AS role;
SELECT jsonb_object_keys(nexplane.jwks()->'keys'->0) AS jwk_member ORDER BY 1;

-- A good token gives a context for its transaction only.
BEGIN;
SELECT nexplane.authenticate(:'tok', 'req-1') - 'tenant_id' - 'user_id' AS ctx;
SELECT nexplane.me()->'tenant'->>'slug' AS tenant, nexplane.me()->>'request_id' AS request_id;
COMMIT;
SELECT nexplane.current_role() IS NULL AS cleared_at_commit;
SELECT test.try($$SELECT nexplane.authenticate('x', 'bad request id!')$$);
SELECT test.try($$SELECT nexplane.authenticate('x', 'r1', 'not-a-trace-id')$$);
SELECT test.try($$SELECT nexplane.authenticate('x', 'r1', '00000000000000000000000000000000')$$);

-- Forgeries.
SELECT test.try(format('SELECT nexplane.authenticate(%L)',           -- claims edited
    split_part(:'tok', '.', 1) || '.' ||
    test.b64url_encode(convert_to(jsonb_set(test.jwt_part(:'tok', 2), '{role}', '"superadmin"')::text, 'UTF8'))
    || '.' || split_part(:'tok', '.', 3)));
SELECT test.try(format('SELECT nexplane.authenticate(%L)',           -- signature edited
    split_part(:'tok', '.', 1) || '.' || split_part(:'tok', '.', 2) || '.' ||
    translate(split_part(:'tok', '.', 3), 'ABCabc', 'BCAbca')));
SELECT test.try(format('SELECT nexplane.authenticate(%L)',           -- alg none, no signature
    test.jwt_make('{"alg":"none","typ":"JWT"}', test.jwt_part(:'tok', 2), '')));
SELECT test.try(format('SELECT nexplane.authenticate(%L)',           -- alg none, old signature
    test.jwt_make('{"alg":"none","typ":"JWT"}', test.jwt_part(:'tok', 2), split_part(:'tok', '.', 3))));
SELECT test.try(format('SELECT nexplane.authenticate(%L)',           -- HS256 confusion
    test.jwt_make(jsonb_set(test.jwt_part(:'tok', 1), '{alg}', '"HS256"'),
                  test.jwt_part(:'tok', 2), split_part(:'tok', '.', 3))));
SELECT test.try($$SELECT nexplane.authenticate('')$$);
SELECT test.try($$SELECT nexplane.authenticate('a.b')$$);
SELECT test.try($$SELECT nexplane.authenticate('a.b.c.d')$$);
SELECT test.try($$SELECT nexplane.authenticate('!!!.???.***')$$);
SELECT test.try(format('SELECT nexplane.authenticate(%L)', repeat('x', 9000)));
SELECT test.try($$SELECT nexplane.authenticate(NULL)$$);
RESET ROLE;

-- Tokens signed by another key, expired, or for another audience.  The
-- other key is made here, by the server in its data directory, so the
-- suite needs nothing from whoever started the server.
COPY (SELECT) TO PROGRAM 'openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out other_jwt.pem 2>/dev/null';
SET nexplane.jwt_private_key_file = 'other_jwt.pem';
SELECT nexplane.login('admin@globex.test', 'globex-admin-pass-1', NULL, false)->>'access_token' AS other_tok
\gset
RESET nexplane.jwt_private_key_file;
SET nexplane.access_token_ttl = -120;
SELECT nexplane.login('admin@globex.test', 'globex-admin-pass-1', NULL, false)->>'access_token' AS old_tok
\gset
RESET nexplane.access_token_ttl;
SET nexplane.jwt_audience = 'someone-else';
SELECT nexplane.login('admin@globex.test', 'globex-admin-pass-1', NULL, false)->>'access_token' AS aud_tok
\gset
RESET nexplane.jwt_audience;
SET ROLE nexplane_api;
SELECT test.try(format('SELECT nexplane.authenticate(%L)', :'other_tok'));
SELECT test.try(format('SELECT nexplane.authenticate(%L)',           -- other key, our kid
    test.jwt_make(test.jwt_part(:'tok', 1), test.jwt_part(:'other_tok', 2),
                  split_part(:'other_tok', '.', 3))));
SELECT test.try(format('SELECT nexplane.authenticate(%L)', :'old_tok'));
SELECT test.try(format('SELECT nexplane.authenticate(%L)', :'aud_tok'));

-- Refresh tokens rotate: each works once.
SELECT r->>'access_token' AS tok2, r->>'refresh_token' AS rtok2
  FROM (SELECT nexplane.refresh(:'rtok') AS r) s
\gset
SELECT :'rtok2' <> :'rtok' AS rotated, :'tok2' <> :'tok' AS new_access;
SELECT test.try(format('SELECT nexplane.authenticate(%L)', :'tok2')) AS refreshed_token_works;
SELECT test.try($$SELECT nexplane.refresh('nxr_not-a-real-token')$$);
SELECT test.try($$SELECT nexplane.refresh(NULL)$$);

-- Logout revokes the session: its access and refresh tokens stop at once.
BEGIN;
SELECT nexplane.authenticate(:'tok2')->>'role' AS role;
SELECT nexplane.logout();
COMMIT;
SELECT test.try(format('SELECT nexplane.authenticate(%L)', :'tok2')) AS revoked_access;
SELECT test.try(format('SELECT nexplane.authenticate(%L)', :'tok')) AS same_session_access;
SELECT test.try(format('SELECT nexplane.refresh(%L)', :'rtok2')) AS revoked_refresh;
SELECT test.try($$SELECT nexplane.logout()$$) AS logout_without_login;
-- A token of an ended session, presented again, is refused (no event: the
-- session has ended already).
SELECT test.try(format('SELECT nexplane.refresh(%L)', :'rtok')) AS reused_after_logout;

-- A refresh token presented after its use was copied: it is refused like
-- any bad token, and its whole session ends, the new tokens too.  The
-- failing call rolls back, so a background worker ends the session.
SELECT l->>'refresh_token' AS stolen, l->>'session_id' AS sid
  FROM (SELECT nexplane.login('admin@globex.test', 'globex-admin-pass-1', NULL, false) AS l) s
\gset
SELECT r->>'access_token' AS tok3, r->>'refresh_token' AS rtok3
  FROM (SELECT nexplane.refresh(:'stolen') AS r) s
\gset
SELECT test.try(format('SELECT nexplane.authenticate(%L)', :'tok3')) AS before_reuse;
SELECT test.try(format('SELECT nexplane.refresh(%L)', :'stolen')) AS reused;
RESET ROLE;
SET test.sid = :'sid';
DO $$
BEGIN
    FOR i IN 1..200 LOOP
        EXIT WHEN EXISTS (SELECT 1 FROM nexplane.sessions
                           WHERE id = current_setting('test.sid')::uuid AND revoked_at IS NOT NULL);
        PERFORM pg_sleep(0.05);
    END LOOP;
END
$$;
RESET test.sid;
SELECT revoked_at IS NOT NULL AS session_ended FROM nexplane.sessions WHERE id = :'sid';
SELECT count(*) FILTER (WHERE used_at IS NULL) AS live_refresh_tokens
  FROM nexplane.refresh_tokens WHERE session_id = :'sid';
SELECT action, actor_kind, target_id = :'sid' AS names_session, after
  FROM nexplane.audit_events WHERE action = 'session.refresh_token_reused';
SET ROLE nexplane_api;
SELECT test.try(format('SELECT nexplane.authenticate(%L)', :'tok3')) AS access_after_reuse;
SELECT test.try(format('SELECT nexplane.refresh(%L)', :'rtok3')) AS refresh_after_reuse;
RESET ROLE;
