-- The credential vault: envelope encryption, tamper detection, rotation.
SET ROLE nexplane_api;
SELECT nexplane.login('admin@acme.test', 'acme-admin-pass-1') IS NOT NULL AS acme_admin;

-- A stored credential answers with metadata only.
SELECT c->>'id' AS db_cred FROM (SELECT nexplane.credential_create('prod-db', 'postgresql',
    '{"username": "app", "password": "Vault-Secret-acme-1"}') AS c) s \gset
SELECT array_agg(k ORDER BY k) AS fields FROM jsonb_object_keys(nexplane.credential_get(:'db_cred')) k;
SELECT nexplane.credential_get(:'db_cred') - 'id' - 'created_at' AS meta;
SELECT c->>'id' AS ldap_cred FROM (SELECT nexplane.credential_create('ldap-bind', 'ldap',
    '{"dn": "cn=admin", "password": "Vault-Secret-acme-2"}') AS c) s \gset
SELECT nexplane.credential_create('aws-prod', 'aws', NULL, 'arn:aws:secretsmanager:eu-west-1:1:secret:prod')
       - 'id' - 'created_at' AS external;
SELECT jsonb_path_query_array(nexplane.credential_list(), '$[*].name') AS names,
       nexplane.credential_list()::text ~ 'Vault-Secret|secret_blob' AS leaked;

-- Bad input.
SELECT test.try($$SELECT nexplane.credential_create('x', 'aws')$$);
SELECT test.try($$SELECT nexplane.credential_create('x', 'aws', '{"a": 1}', 'arn:x')$$);
SELECT test.try($$SELECT nexplane.credential_create('x', 'aws', '"just a string"')$$);
SELECT test.try($$SELECT nexplane.credential_create('x', 'aws', '[1, 2]')$$);
SELECT test.try($$SELECT nexplane.credential_create('x', 'Bad Provider!', '{"a": 1}')$$);
SELECT test.try($$SELECT nexplane.credential_create('', 'aws', '{"a": 1}')$$);
SELECT test.try($$SELECT nexplane.credential_create(NULL, 'aws', '{"a": 1}')$$);
SELECT test.try($$SELECT nexplane.credential_create('prod-db', 'aws', '{"a": 1}')$$);
SELECT test.try(format('SELECT nexplane.credential_create(%L, %L, %L)', 'big', 'aws',
                       jsonb_build_object('blob', repeat('x', 20000))));
SELECT test.try($$SELECT nexplane.credential_get('00000000-0000-0000-0000-000000000000')$$);
SELECT test.try($$SELECT nexplane.credential_rotate(NULL, '{"a": 1}')$$);
SELECT test.try((SELECT format('SELECT nexplane.credential_rotate(%L, %L)', c->>'id', '{"a": 1}')
                   FROM jsonb_array_elements(nexplane.credential_list()) c
                  WHERE c->>'name' = 'aws-prod'));

-- Only admins write; every role reads metadata; nobody reads secrets.
SELECT nexplane.user_create('vault-op@acme.test', 'vault-operator-1', 'operator')->>'role';
SELECT nexplane.login('vault-op@acme.test', 'vault-operator-1') IS NOT NULL AS operator;
SELECT test.try($$SELECT nexplane.credential_create('x', 'aws', '{"a": 1}')$$);
SELECT test.try(format('SELECT nexplane.credential_rotate(%L, %L)', :'db_cred', '{"a": 1}'));
SELECT test.try(format('SELECT nexplane.credential_delete(%L)', :'db_cred'));
SELECT test.try($$SELECT nexplane.rotate_tenant_key()$$);
SELECT test.try($$SELECT nexplane.rotate_master_key()$$);
SELECT nexplane.credential_get(:'db_cred')->>'name' AS operator_reads_metadata;
SELECT test.try(format('SELECT nexplane_test.vault_verify(%L, %L)', :'db_cred', '{}'));
SELECT test.try($$SELECT nexplane_test.vault_bench(nexplane.current_tenant_id(), 1)$$);
SELECT p.proname AS api_callable_vault_function
  FROM pg_proc p
 WHERE p.pronamespace IN ('nexplane'::regnamespace, 'nexplane_test'::regnamespace)
   AND has_function_privilege('nexplane_api', p.oid, 'EXECUTE')
   AND p.prosrc IN ('nxt_vault_verify', 'nxt_vault_bench');
RESET ROLE;

-- Round trip (checked inside the server, never returned).
SELECT nexplane_test.vault_verify(:'db_cred', '{"username": "app", "password": "Vault-Secret-acme-1"}') AS round_trip,
       nexplane_test.vault_verify(:'db_cred', '{"username": "app", "password": "wrong"}') AS wrong_guess;
-- The stored form: format 1, key version 1, IV, ciphertext, tag.
SELECT get_byte(b, 0) AS format, (get_byte(b, 1) << 24) | (get_byte(b, 4)) AS key_version,
       length(b) - 1 - 4 - 12 - 16 = length('{"password": "Vault-Secret-acme-1", "username": "app"}') AS sizes_add_up
  FROM (SELECT decode(secret_blob, 'base64') AS b FROM nexplane.credentials WHERE id = :'db_cred') s;
SELECT count(*) AS plaintext_in_tables FROM nexplane.credentials
 WHERE secret_blob LIKE '%Vault-Secret%' OR secret_blob IS NULL AND mode = 'stored';
SELECT count(*) AS secret_in_audit FROM nexplane.audit_events WHERE after::text LIKE '%Vault-Secret%';
SELECT action, count(*) FROM nexplane.audit_events
 WHERE action LIKE 'credential.%' AND tenant_id = (SELECT id FROM nexplane.tenants WHERE slug = 'acme')
 GROUP BY 1 ORDER BY 1;

-- Tampering: every kind fails, and nothing is returned.
CREATE TEMP TABLE saved AS SELECT id, secret_blob, key_version FROM nexplane.credentials;
CREATE FUNCTION pg_temp.flip(blob text, pos int) RETURNS text LANGUAGE sql AS $$
    SELECT replace(encode(set_byte(decode(blob, 'base64'), pos,
                   get_byte(decode(blob, 'base64'), pos) # 1), 'base64'), E'\n', '')
$$;
UPDATE nexplane.credentials SET secret_blob = pg_temp.flip(secret_blob, 5) WHERE id = :'db_cred';
SELECT test.try(format('SELECT nexplane_test.vault_verify(%L, %L)', :'db_cred', '{}')) AS iv_flipped;
UPDATE nexplane.credentials c SET secret_blob = pg_temp.flip(s.secret_blob, 20)
  FROM saved s WHERE c.id = s.id AND c.id = :'db_cred';
SELECT test.try(format('SELECT nexplane_test.vault_verify(%L, %L)', :'db_cred', '{}')) AS ciphertext_flipped;
UPDATE nexplane.credentials c SET secret_blob = pg_temp.flip(s.secret_blob, length(decode(s.secret_blob, 'base64')) - 1)
  FROM saved s WHERE c.id = s.id AND c.id = :'db_cred';
SELECT test.try(format('SELECT nexplane_test.vault_verify(%L, %L)', :'db_cred', '{}')) AS tag_flipped;
UPDATE nexplane.credentials c SET secret_blob = 'bm90IGEgYmxvYg==' WHERE c.id = :'db_cred';
SELECT test.try(format('SELECT nexplane_test.vault_verify(%L, %L)', :'db_cred', '{}')) AS not_a_blob;
-- swapped between two credentials of one tenant
UPDATE nexplane.credentials c SET secret_blob = s.secret_blob
  FROM saved s WHERE c.id = :'db_cred' AND s.id = :'ldap_cred';
SELECT test.try(format('SELECT nexplane_test.vault_verify(%L, %L)', :'db_cred', '{}')) AS swapped;
-- copied into another tenant's credential
SET ROLE nexplane_api;
SELECT nexplane.login('admin@globex.test', 'globex-admin-pass-1') IS NOT NULL AS globex_admin;
SELECT c->>'id' AS gx_cred FROM (SELECT nexplane.credential_create('gx-db', 'postgresql',
    '{"password": "Vault-Secret-globex-1"}') AS c) s \gset
SELECT nexplane.logout() IS NOT NULL AS out;
RESET ROLE;
UPDATE nexplane.credentials c SET secret_blob = s.secret_blob
  FROM saved s WHERE c.id = :'gx_cred' AND s.id = :'ldap_cred';
SELECT test.try(format('SELECT nexplane_test.vault_verify(%L, %L)', :'gx_cred', '{}')) AS other_tenant;
-- an altered wrapped data key
UPDATE nexplane.credentials c SET secret_blob = s.secret_blob
  FROM saved s WHERE c.id = s.id AND c.id = :'db_cred';
UPDATE nexplane.tenant_keys SET wrapped_key = set_byte(wrapped_key, 20, get_byte(wrapped_key, 20) # 1)
 WHERE tenant_id = (SELECT id FROM nexplane.tenants WHERE slug = 'acme');
SELECT test.try(format('SELECT nexplane_test.vault_verify(%L, %L)', :'db_cred', '{}')) AS wrapped_key_flipped;
UPDATE nexplane.tenant_keys SET wrapped_key = set_byte(wrapped_key, 20, get_byte(wrapped_key, 20) # 1)
 WHERE tenant_id = (SELECT id FROM nexplane.tenants WHERE slug = 'acme');
SELECT nexplane_test.vault_verify(:'db_cred', '{"username": "app", "password": "Vault-Secret-acme-1"}') AS restored;

-- IVs never repeat: 500 rotations of one secret, 500 distinct IVs and blobs.
SELECT nexplane.login('admin@acme.test', 'acme-admin-pass-1') IS NOT NULL AS acme_admin;
CREATE TEMP TABLE blobs (blob text);
DO $$
DECLARE
    cred uuid := (SELECT id FROM nexplane.credentials WHERE name = 'ldap-bind');
BEGIN
    FOR i IN 1..500 LOOP
        PERFORM nexplane.credential_rotate(cred, '{"dn": "cn=admin", "password": "Vault-Secret-acme-2"}');
        INSERT INTO blobs SELECT secret_blob FROM nexplane.credentials WHERE id = cred;
    END LOOP;
END
$$;
SELECT count(*) AS rotations, count(DISTINCT substring(decode(blob, 'base64') FROM 6 FOR 12)) AS distinct_ivs,
       count(DISTINCT blob) AS distinct_blobs FROM blobs;

-- Tenant key rotation, in batches, resumable; everything still decrypts.
SELECT nexplane.credential_create('c' || i, 'postgresql', jsonb_build_object('password', 'Vault-Secret-r' || i))->>'key_version'
  FROM generate_series(1, 3) i;
SELECT nexplane.rotate_tenant_key(2) AS first_call;
SELECT nexplane.rotate_tenant_key(2) AS second_call;
SELECT nexplane.rotate_tenant_key(2) AS third_call;
SELECT test.try($$SELECT nexplane.rotate_tenant_key(0)$$);
SELECT version, status, retired_at IS NOT NULL AS retired FROM nexplane.tenant_keys
 WHERE tenant_id = nexplane.current_tenant_id() ORDER BY version;
SELECT name, key_version FROM nexplane.credentials
 WHERE tenant_id = nexplane.current_tenant_id() AND mode = 'stored' ORDER BY name;
SELECT bool_and(nexplane_test.vault_verify(id, jsonb_build_object('password', 'Vault-Secret-r' || substr(name, 2))))
       AS rotated_still_decrypt
  FROM nexplane.credentials WHERE name IN ('c1', 'c2', 'c3');
-- The old key cannot read a re-encrypted blob: point its version byte at 1.
UPDATE nexplane.credentials SET secret_blob = replace(encode(set_byte(decode(secret_blob, 'base64'), 4, 1), 'base64'), E'\n', '')
 WHERE name = 'c1';
SELECT test.try((SELECT format('SELECT nexplane_test.vault_verify(%L, %L)', id, '{}')
                   FROM nexplane.credentials WHERE name = 'c1')) AS old_key_on_new_blob;
SELECT nexplane.rotate_master_key() - 'master_key_id' AS master_rotation_noop;
SELECT action, count(*) FROM nexplane.audit_events
 WHERE action LIKE 'vault.%' AND tenant_id = (SELECT id FROM nexplane.tenants WHERE slug = 'acme')
 GROUP BY 1 ORDER BY 1;

-- Deleting: refused while a connector uses it.
INSERT INTO nexplane.connectors (tenant_id, type, name, credential_id)
SELECT tenant_id, 'postgresql', 'uses prod-db', id FROM nexplane.credentials WHERE id = :'db_cred';
SELECT test.try(format('SELECT nexplane.credential_delete(%L)', :'db_cred'));
SELECT nexplane.credential_delete(:'ldap_cred')->>'deleted' AS deleted;
SELECT nexplane.logout() IS NOT NULL AS out;
