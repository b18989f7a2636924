-- Certificate signing requests made with openssl req: EC P-256 keys (p256_7
-- asks for CN=evil-7, O=other-tenant, CA:TRUE and a SAN, none of which the
-- certificate may take), P-384, RSA 2048, and the refused: RSA 1024, P-521,
-- Ed25519, a P-256 request with one bit of its signature flipped (badsig).
CREATE TEMP TABLE csr (name text PRIMARY KEY, pem text NOT NULL);
GRANT SELECT ON csr TO PUBLIC;
INSERT INTO csr VALUES
('p256_1', $pem$-----BEGIN CERTIFICATE REQUEST-----
MIHjMIGKAgEAMCgxDzANBgNVBAMMBmV2aWwtMTEVMBMGA1UECgwMb3RoZXItdGVu
YW50MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEOAJVJMARpyMiORInbeRw2Bef
6vvul/DSTSK25bsw6LAAQ15AFyFfUsDJtkwMRU/UCU52dNpK8NQgjEAdEVrR3qAA
MAoGCCqGSM49BAMCA0gAMEUCIQDUn6wzJiyqjlTRzlXtgGFHeJjI0QRo3CwP1en7
RA8GywIgFGl3Gg4zpz8/rel43F/d7HASgjh0jdEr/cxFBavW86Y=
-----END CERTIFICATE REQUEST-----
$pem$),
('p256_2', $pem$-----BEGIN CERTIFICATE REQUEST-----
MIHkMIGKAgEAMCgxDzANBgNVBAMMBmV2aWwtMjEVMBMGA1UECgwMb3RoZXItdGVu
YW50MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEjgGavth1WGvWmOzSTodhkHdv
bNBHcb6naEiXjvgY6pqHdUq7SOEwyQ4NQB1CFDDnROJ5kxbg4/WjAsTq2byNiaAA
MAoGCCqGSM49BAMCA0kAMEYCIQCOa6aEA1CFxBMAqRSIq0xMOXCCtBr7PU5iEXxv
BkJf9wIhAJx7fm6VnNXWmdtjJeJTagS5HLx3nR0kS0+ZyMl8W8lT
-----END CERTIFICATE REQUEST-----
$pem$),
('p256_3', $pem$-----BEGIN CERTIFICATE REQUEST-----
MIHjMIGKAgEAMCgxDzANBgNVBAMMBmV2aWwtMzEVMBMGA1UECgwMb3RoZXItdGVu
YW50MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE76YgpjGAyTnKsKeAkeMOmxwR
uDL5lCr+Lk2B3twqRmxyjNZUvnG4ZtYJcaVWzsUE807haMCj3TNuqZHVHxxLcaAA
MAoGCCqGSM49BAMCA0gAMEUCICg1PEJzMb4RuRbG635R8OTGNPwlrgdUllMK37y9
vhP0AiEAnLqRDTfKF0C2JH5DMPeSGt3THeid9tWA4VTQkYiyIsg=
-----END CERTIFICATE REQUEST-----
$pem$),
('p256_4', $pem$-----BEGIN CERTIFICATE REQUEST-----
MIHjMIGKAgEAMCgxDzANBgNVBAMMBmV2aWwtNDEVMBMGA1UECgwMb3RoZXItdGVu
YW50MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAERR4S/mVQ3WL49cbCtnM+VnDA
lFtWeCSB0WK95zTTmbQjKQupHauj0FnR+Lx+rJ6AV51TMxLXQgiAhOrDsvqtp6AA
MAoGCCqGSM49BAMCA0gAMEUCIQC2SitNqmtwvosneJ+9UaNLM5gYBmxQD6XlIWeh
i5drmAIgBy+Ro1qENfBOlJX/Q/q/i9uYOj8V985WAjVQbONMfjM=
-----END CERTIFICATE REQUEST-----
$pem$),
('p256_5', $pem$-----BEGIN CERTIFICATE REQUEST-----
MIHjMIGKAgEAMCgxDzANBgNVBAMMBmV2aWwtNTEVMBMGA1UECgwMb3RoZXItdGVu
YW50MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAERTsVV4Kpa/1ztMQTNZlc+sqb
+tQc9XBRmx+tj6mLsdsbP/jS9T3f8+BwedkGWVzGUArUOuPwTo17Ca5drTzHcKAA
MAoGCCqGSM49BAMCA0gAMEUCIQDD4SF1jvD9q+Barq1teGQy1SSz6ysJ+EgKrBTX
CKqoGgIgaY0f7O7UwRsdI7TkuH5kROup2fFytPIuRxup3XJFmCA=
-----END CERTIFICATE REQUEST-----
$pem$),
('p256_6', $pem$-----BEGIN CERTIFICATE REQUEST-----
MIHjMIGKAgEAMCgxDzANBgNVBAMMBmV2aWwtNjEVMBMGA1UECgwMb3RoZXItdGVu
YW50MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEyDhYoLgSlIkXWzOSXV77AalQ
3oOzBTDyjTyGW5HRDUIFB4xCywGeEIuDCIahJi5NBvc5fZkljMjeqqQr7Uo1UKAA
MAoGCCqGSM49BAMCA0gAMEUCIHumFxfKDeO0SxbYVFyVnKl4lExWq/Wh7lHUveDa
pg/+AiEA3VE5GnVfpYHjSt2LOlA59FKMYmSZ/govOpuvRc+NXcc=
-----END CERTIFICATE REQUEST-----
$pem$),
('p256_7', $pem$-----BEGIN CERTIFICATE REQUEST-----
MIIBHjCBxQIBADAoMQ8wDQYDVQQDDAZldmlsLTcxFTATBgNVBAoMDG90aGVyLXRl
bmFudDBZMBMGByqGSM49AgEGCCqGSM49AwEHA0IABBwQNvTrtZ7xN2akXYKyvDbG
r/j8zWLmJS09Q9orDpnVTBKZmAtwqY1be3IxXLJPK5DHfTYU/mCIHXP/0+P64j6g
OzA5BgkqhkiG9w0BCQ4xLDAqMA8GA1UdEwEB/wQFMAMBAf8wFwYDVR0RBBAwDoIM
YmFuay5leGFtcGxlMAoGCCqGSM49BAMCA0gAMEUCIQCuaVsJ8iH2d5eziQd4GAvc
6xvsCQJ1WO9bvwc7/Pf0XwIgV250KoYXAMmY9boqCzpFaQ5ICBJh0sektTXxEwYs
+5Q=
-----END CERTIFICATE REQUEST-----
$pem$),
('p256_8', $pem$-----BEGIN CERTIFICATE REQUEST-----
MIHkMIGKAgEAMCgxDzANBgNVBAMMBmV2aWwtODEVMBMGA1UECgwMb3RoZXItdGVu
YW50MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEqHTjIjHTCFeik2NqzqMVbxxm
t+DKX6r+d9JYTl1b6L9ZXzgtp5vvFbGaIhlzXrgBurpy+eHfm9c4qRAFrjdry6AA
MAoGCCqGSM49BAMCA0kAMEYCIQCED2Hr/Nw+fQ1fXTiM3yvWHyc56Y2YfVKAfGaF
iEFmrwIhAPcwMQp7sHGzfVS1ZGIBEsVaX8El0ytXJ0DWna+3X70j
-----END CERTIFICATE REQUEST-----
$pem$),
('p384', $pem$-----BEGIN CERTIFICATE REQUEST-----
MIIBBDCBiwIBADAMMQowCAYDVQQDDAFoMHYwEAYHKoZIzj0CAQYFK4EEACIDYgAE
6hbEXn8Tb/JEPnEcGwgUYF46cdw3craj2PgJx9Re7WB/lVxiloLGz2USl0X28z0A
IRJ7dT4DoxIqT0TEcIonxgtq9njBJQ0Fj3ifmHCKXvlJ8NlQKJvG1oun/IYJvBh5
oAAwCgYIKoZIzj0EAwIDaAAwZQIxAPFOqqZnkmi7F2ce5GpUlm/kp8QEZAMV3Nin
/QTgaQVuBhAEBxBvkhdCQtkk6wEfTAIwZibZs5SQ/rOXMJ2QLLfqgwO9mWL/dDRe
QAhIyXphake/VM5npQhefDtWQmiTdl3s
-----END CERTIFICATE REQUEST-----
$pem$),
('rsa2048', $pem$-----BEGIN CERTIFICATE REQUEST-----
MIICUTCCATkCAQAwDDEKMAgGA1UEAwwBaDCCASIwDQYJKoZIhvcNAQEBBQADggEP
ADCCAQoCggEBAMOHTnYKhOpvwl2GbbcePAFSsawl4Y8EeWbnu7RrVjChMq8zuhXg
DUFKM3UD0XJQHZVbG0DMepdpXYveERG48uxJSKf4/bZhC9MdRQFgLF8ZRe+JmnzY
3tkXrko1Qqo4EZrxShj2SmvMVWwr3HxaCzjytxphTDVXMGRB2zZrM66fmHw+zNeH
19gTedlm9SFjekrkN4KqTSpdRVcrEJfmWoB0TccfsWSRR7tfMiTHJMFxj9rhDtJp
5MARA0sxkEnbaSSg+xIztYrGc523qMkrFcQmtCMtmkRQN/FVuFjsawdZRocmpD8B
UQdFvsIXIUHE/ahSW9s9KKa+2m7suoRV3DsCAwEAAaAAMA0GCSqGSIb3DQEBCwUA
A4IBAQCvsH1US0dXudVTpO7l/8Ogi9gGD46eA52DDNeY0QBVruQ2jVbs0e8PkmNq
cBaPNQBJy48FvfPEF+vhuBbXI+DYjgbj/RbsFW3TZP4IP8cS2whaqzTBW2+DakzO
ugWb9qFsJEiw8UqefCFw+4g7SJ4/vHKCRwjSBh7kwbjFt93yvmj4lpbFLO8ztLDB
a1LMF/ntoez9WGqIRUQpAlHZL1Gb3XOK2FQgXTvNfwrnMcnb1+M7VH5a9dw77fAt
8LgkkgNoztbNmJ3+2l+WR9FoC2+SR1xCbYbC3KoTKecwkOm9FM5J/WaXMD5MYw7s
SFY+AxTDA7WiMjSu140tRxCqcpWW
-----END CERTIFICATE REQUEST-----
$pem$),
('rsa1024', $pem$-----BEGIN CERTIFICATE REQUEST-----
MIIBSzCBtQIBADAMMQowCAYDVQQDDAFoMIGfMA0GCSqGSIb3DQEBAQUAA4GNADCB
iQKBgQCeo1a1qW6JRTM5Zux2yNj9n12cj0oOyjU9C9I8pqZ53mL+dTGpRXeiq9CF
Xp4sZt2IudJpAz65lOHCaTCoRkdx90JqmmC0K7I4EsgZ2uztdpO3TN6mzkgh6a81
JKJDIkTh18W3hewl0Sh+ookGNdgDUzXPEYrgKTU/nWNB+C+NcQIDAQABoAAwDQYJ
KoZIhvcNAQELBQADgYEANuaOLNb9TotMb/yDe1dNkRuwpkkGXp0gzBvfnJHdlMCa
vya8mLcuD0xJFrPud+n/RvFMoWn+904ILPwvA5S03IqVR2u9dzxhIQppqwE61A79
hHxuJGYXh8Xb5busL/uUUsUG9EMxVLjjx+q/89pkbk5QIGJP4wlrny0xYGRH5rM=
-----END CERTIFICATE REQUEST-----
$pem$),
('p521', $pem$-----BEGIN CERTIFICATE REQUEST-----
MIIBTjCBsQIBADAMMQowCAYDVQQDDAFoMIGbMBAGByqGSM49AgEGBSuBBAAjA4GG
AAQAy8jvWl0ZRo+hdBOM3S9xTN6rpgulpSGTycdld9HTppXEkn9ACfXThhhKH4/t
SBb60UHPs4LZj11IBZRwXSh/rMsApaWGqEeq9qE2HFgCtrDqelLmlHnUlu1mWwq8
4f+uGihU9rFuzOf35Ozge9SH8vcaIMi2ogQjEXD8rCGw/0px5/CgADAKBggqhkjO
PQQDAgOBiwAwgYcCQQLNJY02eeJYNSekcl2+oP3+G/hN7g+t3lsLlNadVs16GLJ+
y54NqF8M11KniiL6HLVO4yBP8JF+sOPUESygSbhRAkIBv2GGW2csRBTPNNsmakoT
Yx8uKZR2oeuyPe5Ianp10wecAfE9p+UOHRbAs5HgoEaUG+SYRQBkKGfa0DtY/O31
OtQ=
-----END CERTIFICATE REQUEST-----
$pem$),
('ed', $pem$-----BEGIN CERTIFICATE REQUEST-----
MIGLMD8CAQAwDDEKMAgGA1UEAwwBaDAqMAUGAytlcAMhAJudllXbHRzoCPttf6iX
ipYA+OzrnazDQ4SLxdfWhzGEoAAwBQYDK2VwA0EAJx2cBpjdCNNlVZfZGfCHlsjh
TvDvRzpIm/Py8NqeTlBVEX9F9dLZygunx9Eq3Uaq6tY0ZbrxLDXobejJRqzxAw==
-----END CERTIFICATE REQUEST-----
$pem$),
('badsig', $pem$-----BEGIN CERTIFICATE REQUEST-----
MIHkMIGKAgEAMCgxDzANBgNVBAMMBmV2aWwtODEVMBMGA1UECgwMb3RoZXItdGVu
YW50MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEqHTjIjHTCFeik2NqzqMVbxxm
t+DKX6r+d9JYTl1b6L9ZXzgtp5vvFbGaIhlzXrgBurpy+eHfm9c4qRAFrjdry6AA
MAoGCCqGSM49BAMCA0kAMEYCIQCED2Hr/Nw+fQ1fXTiM3yvWHyc56Y2YfVKAfGaF
iEFmrwIhAPcwMQp7sHGzfVS1ZGIBEsVaX8El0ytXJ0DWna+3X70i
-----END CERTIFICATE REQUEST-----
$pem$);
-- der(pem): the DER bytes of a PEM block, to look inside a certificate.
CREATE FUNCTION pg_temp.der(pem text) RETURNS bytea LANGUAGE sql IMMUTABLE AS $$
    SELECT decode(regexp_replace(pem, '-----[A-Z ]+-----|\s', '', 'g'), 'base64')
$$;
SELECT id AS acme FROM nexplane.tenants WHERE slug = 'acme' \gset

-- ---------- the agent CA ----------
-- Made on first need; public: its certificate and its pin, never its key.
SET ROLE nexplane_api;
SELECT nexplane.agent_ca() ?& ARRAY['ca_pem', 'ca_pin'] AS has_both,
       (SELECT count(*) FROM jsonb_object_keys(nexplane.agent_ca())) AS keys,
       nexplane.agent_ca()->>'ca_pin' ~ '^sha256:[0-9a-f]{64}$' AS pin_shape,
       nexplane.agent_ca()->>'ca_pem' LIKE '-----BEGIN CERTIFICATE-----%' AS pem;
-- the shim's role reads no table of it
SELECT test.try('SELECT * FROM nexplane.agent_ca') AS api_reads_ca;
RESET ROLE;
-- the owner sees no row without system access (C code only)
SET ROLE nexplane_owner;
SELECT count(*) AS owner_sees_ca FROM nexplane.agent_ca;
RESET ROLE;
-- stored: one row, the key wrapped (not PEM, not DER of a key in clear)
SELECT count(*) AS ca_rows, bool_and(position(convert_to('PRIVATE', 'UTF8') IN wrapped_key) = 0)
       AS no_pem_key, bool_and(octet_length(wrapped_key) > 100) AS wrapped
  FROM nexplane.agent_ca;

-- ---------- enrollment tokens ----------
BEGIN;
SELECT test.as('op');
SELECT test.try('SELECT nexplane.enrollment_token_create()') AS operator_makes_token;
ROLLBACK;
BEGIN;
SELECT test.as('admin');
SELECT test.try($$SELECT nexplane.enrollment_token_create('30 seconds')$$) AS too_short,
       test.try($$SELECT nexplane.enrollment_token_create('8 days')$$) AS too_long,
       test.try($$SELECT nexplane.enrollment_token_create(NULL)$$) AS null_ttl;
CREATE TEMP TABLE tok AS
SELECT n, nexplane.enrollment_token_create() AS t FROM generate_series(1, 6) n;
GRANT SELECT ON tok TO PUBLIC;
SELECT (SELECT array_agg(k ORDER BY k) FROM jsonb_object_keys(t) k) AS fields,
       t->>'token' ~ '^nxe_[A-Za-z0-9_-]{43}$' AS token_shape,
       t->>'ca_pin' = nexplane.agent_ca()->>'ca_pin' AS pin_is_the_cas,
       (t->>'expires_at')::timestamptz - now() BETWEEN interval '59 minutes' AND interval '1 hour'
       AS one_hour
  FROM tok WHERE n = 1;
COMMIT;
-- stored only as its hash
SELECT count(*) AS stored_as_hash FROM nexplane.enrollment_tokens e JOIN tok
    ON e.token_hash = sha256(convert_to(tok.t->>'token', 'UTF8'));
SELECT count(*) AS token_in_clear_anywhere FROM nexplane.audit_events a, tok
 WHERE a.after::text LIKE '%' || (tok.t->>'token') || '%';

-- ---------- enrollment ----------
SET ROLE nexplane_api;
-- refusals first, each with token 1, which none of them uses up
SELECT name, test.try(format('SELECT nexplane.agent_enroll(%L, %L, %L)',
                             (SELECT t->>'token' FROM tok WHERE n = 1), pem, '{"hostname": "h"}'))
  FROM csr WHERE name IN ('rsa1024', 'p521', 'ed', 'badsig') ORDER BY name;
SELECT test.try(format('SELECT nexplane.agent_enroll(%L, %L)',
                       (SELECT t->>'token' FROM tok WHERE n = 1), 'not a csr')) AS garbage,
       test.try(format('SELECT nexplane.agent_enroll(%L, %L, %L)',
                       (SELECT t->>'token' FROM tok WHERE n = 1),
                       (SELECT pem FROM csr WHERE name = 'p256_1'), '[1]')) AS facts_array,
       test.try(format('SELECT nexplane.agent_enroll(%L, %L, %L)',
                       (SELECT t->>'token' FROM tok WHERE n = 1),
                       (SELECT pem FROM csr WHERE name = 'p256_1'),
                       jsonb_build_object('x', repeat('x', 17000)))) AS facts_too_large,
       test.try(format('SELECT nexplane.agent_enroll(%L, %L)', 'nxe_' || repeat('A', 43),
                       (SELECT pem FROM csr WHERE name = 'p256_1'))) AS unknown_token,
       test.try(format('SELECT nexplane.agent_enroll(NULL, %L)',
                       (SELECT pem FROM csr WHERE name = 'p256_1'))) AS no_token;
RESET ROLE;
SELECT count(*) AS agents_after_refusals FROM nexplane.agents WHERE tenant_id = :'acme'
   AND hostname = 'h';
SELECT used_at IS NULL AS token_1_unused FROM nexplane.enrollment_tokens e JOIN tok
    ON e.token_hash = sha256(convert_to(tok.t->>'token', 'UTF8')) WHERE tok.n = 1;

-- the CSR of p256_7 asks for another subject, CA:TRUE and a SAN
SET ROLE nexplane_api;
CREATE TEMP TABLE enrolled AS
SELECT 'p256_7'::text AS csr, nexplane.agent_enroll((SELECT t->>'token' FROM tok WHERE n = 1),
           (SELECT pem FROM csr WHERE name = 'p256_7'),
           '{"hostname": "web-1", "os": "debian 12"}') AS e;
RESET ROLE;
GRANT SELECT, INSERT ON enrolled TO PUBLIC;
SELECT (SELECT array_agg(k ORDER BY k) FROM jsonb_object_keys(e) k) AS fields,
       e->'generation' AS generation,
       (e->>'not_after')::timestamptz - now() > interval '364 days' AS one_year,
       e->>'ca_pem' = nexplane.agent_ca()->>'ca_pem' AS ca_pem_is_the_cas,
       position(convert_to(e->>'agent_id', 'UTF8') IN pg_temp.der(e->>'certificate_pem')) > 0
       AS cn_is_agent_id,
       position(convert_to(:'acme', 'UTF8') IN pg_temp.der(e->>'certificate_pem')) > 0
       AS o_is_tenant_id,
       position(convert_to('evil', 'UTF8') IN pg_temp.der(e->>'certificate_pem')) = 0
       AS no_subject_from_csr,
       position(convert_to('bank.example', 'UTF8') IN pg_temp.der(e->>'certificate_pem')) = 0
       AS no_san_from_csr,
       position(convert_to('other-tenant', 'UTF8') IN pg_temp.der(e->>'certificate_pem')) = 0
       AS no_org_from_csr
  FROM enrolled;
-- the row: fingerprint = SHA-256 of the certificate's DER, serial, generation
SELECT a.hostname, a.status, a.generation, a.facts->>'os' AS os,
       a.cert_fingerprint = encode(sha256(pg_temp.der(e.e->>'certificate_pem')), 'hex') AS fingerprint,
       a.cert_serial ~ '^[0-9a-f]{32}$' AS serial_128_bits,
       a.cert_not_after = (e.e->>'not_after')::timestamptz AS not_after
  FROM nexplane.agents a JOIN enrolled e ON a.id = (e.e->>'agent_id')::uuid;
-- a token works once, even with another key
SET ROLE nexplane_api;
SELECT test.try(format('SELECT nexplane.agent_enroll(%L, %L)', (SELECT t->>'token' FROM tok WHERE n = 1),
                       (SELECT pem FROM csr WHERE name = 'p256_1'))) AS reused_token;
-- a key enrolls once, even with a fresh token (which stays unused)
SELECT test.try(format('SELECT nexplane.agent_enroll(%L, %L)', (SELECT t->>'token' FROM tok WHERE n = 2),
                       (SELECT pem FROM csr WHERE name = 'p256_7'))) AS key_seen_before;
-- P-384 and RSA 2048 are accepted (token 2 was not used up by the refusal)
INSERT INTO enrolled
SELECT name, nexplane.agent_enroll((SELECT t->>'token' FROM tok WHERE n = k), pem,
                                   jsonb_build_object('hostname', 'host-' || name))
  FROM (VALUES ('p384', 2), ('rsa2048', 3), ('p256_1', 4)) v(name, k) JOIN csr USING (name);
RESET ROLE;
SELECT csr, e->'generation' AS generation FROM enrolled ORDER BY csr;
-- an expired token: refused like an unknown one
UPDATE nexplane.enrollment_tokens e SET created_at = now() - interval '2 hours',
       expires_at = now() - interval '1 second'
  FROM tok WHERE e.token_hash = sha256(convert_to(tok.t->>'token', 'UTF8')) AND tok.n = 5;
SET ROLE nexplane_api;
SELECT test.try(format('SELECT nexplane.agent_enroll(%L, %L)', (SELECT t->>'token' FROM tok WHERE n = 5),
                       (SELECT pem FROM csr WHERE name = 'p256_2'))) AS expired_token;
RESET ROLE;
-- the enrollment is audited as the agent's doing
SELECT a.action, a.actor_kind, a.actor_id = (e.e->>'agent_id')::uuid AS actor_is_agent
  FROM nexplane.audit_events a JOIN enrolled e ON e.csr = 'p256_7'
 WHERE a.target_table IN ('agents', 'agent_keys', 'enrollment_tokens') AND a.actor_kind = 'agent'
   AND a.tenant_id = :'acme'
   AND a.occurred_at >= (SELECT enrolled_at FROM nexplane.agents WHERE id = (e.e->>'agent_id')::uuid)
 ORDER BY a.id LIMIT 4;

CREATE TEMP TABLE fp AS
SELECT e.csr, a.id, a.cert_fingerprint AS fp FROM enrolled e JOIN nexplane.agents a
    ON a.id = (e.e->>'agent_id')::uuid;
GRANT SELECT, UPDATE ON fp TO PUBLIC;

-- ---------- who may act for an agent ----------
-- the shim's role only: not a psql user, not the owner, not a superuser
SET ROLE nexplane_user;
SELECT test.try(format('SELECT nexplane.agent_poll(%L)', fp)) AS psql_user_poll,
       test.try(format('SELECT nexplane.agent_result(%L, %L, %L)', fp, id, '{"state": "running"}'))
       AS psql_user_result,
       test.try(format('SELECT nexplane.agent_heartbeat(%L, %L)', fp, '{}')) AS psql_user_heartbeat,
       test.try(format('SELECT nexplane.agent_renew(%L, %L, 1)', fp, 'x')) AS psql_user_renew,
       test.try(format('SELECT nexplane._agent_listener_certificate(%L, %L)', 'x', '{localhost}'))
       AS psql_user_listener_cert,
       test.try(format('SELECT nexplane._agent_auth(%L)', fp)) AS psql_user_auth
  FROM fp WHERE csr = 'p256_7';
RESET ROLE;
SET ROLE nexplane_owner;
SELECT test.try(format('SELECT nexplane.agent_poll(%L)', fp)) AS owner_poll,
       test.try(format('SELECT nexplane._agent_auth(%L)', fp)) AS owner_auth
  FROM fp WHERE csr = 'p256_7';
RESET ROLE;
SELECT test.try(format('SELECT nexplane.agent_poll(%L)', fp)) AS superuser_poll,
       test.try(format('SELECT nexplane._agent_listener_certificate(%L, %L)', 'x', '{localhost}'))
       AS superuser_listener_cert
  FROM fp WHERE csr = 'p256_7';
-- the shim: a known fingerprint works; anything else is one NX403
SET ROLE nexplane_api;
SELECT nexplane.agent_poll(fp) = jsonb_build_object('agent_id', id, 'commands', '[]'::jsonb,
                                                    'confirm', '[]'::jsonb) AS empty_poll
  FROM fp WHERE csr = 'p256_7';
SELECT test.try(format('SELECT nexplane.agent_poll(%L)', repeat('0', 64))) AS unknown_fp,
       test.try(format('SELECT nexplane.agent_poll(%L)', 'zz')) AS malformed_fp,
       test.try(format('SELECT nexplane.agent_poll(%L)', upper(fp))) AS uppercase_fp,
       test.try('SELECT nexplane.agent_poll(NULL)') AS null_fp
  FROM fp WHERE csr = 'p256_7';
-- the agent context opens nothing else
SELECT test.try(format($$SELECT nexplane.agent_poll(%L), nexplane.agent_list()$$, fp))
       AS agent_context_lists_agents,
       test.try(format($$SELECT nexplane.agent_poll(%L), nexplane.enrollment_token_create()$$, fp))
       AS agent_context_makes_token
  FROM fp WHERE csr = 'p256_7';

-- ---------- heartbeat and facts ----------
SELECT nexplane.agent_heartbeat(fp, '{"hostname": "web-1.example", "kernel": "6.1"}') AS heartbeat,
       test.try(format('SELECT nexplane.agent_heartbeat(%L, %L)', fp, '"x"')) AS facts_scalar
  FROM fp WHERE csr = 'p256_7';
RESET ROLE;
SELECT hostname, facts FROM nexplane.agents a JOIN fp USING (id) WHERE fp.csr = 'p256_7';

-- ---------- list, get: the tenant's agents, to every role ----------
BEGIN;
SELECT test.as('viewer');
SELECT (SELECT count(*) FROM jsonb_array_elements(nexplane.agent_list()) x
         WHERE x->>'id' IN (SELECT id::text FROM fp)) AS viewer_sees,
       (SELECT array_agg(k ORDER BY k) FROM jsonb_object_keys(nexplane.agent_list()->0) k) AS fields;
SELECT nexplane.agent_get(id)->>'hostname' AS got FROM fp WHERE csr = 'p256_7';
SELECT test.try($$SELECT nexplane.agent_get('00000000-0000-0000-0000-0000000000aa')$$) AS unknown_id;
SELECT test.try(format('SELECT nexplane.agent_revoke(%L)', id)) AS viewer_revokes
  FROM fp WHERE csr = 'p256_7';
ROLLBACK;
-- another tenant sees none of them: NX404 as for an id that never was
SET ROLE nexplane_api;
SELECT nexplane.login('admin@globex.test', 'globex-admin-pass-1') IS NOT NULL AS globex_admin;
SELECT count(*) AS globex_sees_acme_agents FROM jsonb_array_elements(nexplane.agent_list()) x
 WHERE x->>'id' IN (SELECT id::text FROM fp);
SELECT test.try(format('SELECT nexplane.agent_get(%L)', id)) AS globex_get,
       test.try(format('SELECT nexplane.agent_revoke(%L)', id)) AS globex_revoke,
       test.try(format('SELECT nexplane.agent_command_create(%L, %L)', id, 'facts.collect'))
       AS globex_command
  FROM fp WHERE csr = 'p256_7';
SELECT nexplane.logout() IS NOT NULL AS out;
RESET ROLE;

-- ---------- offline, by the clock ----------
UPDATE nexplane.agents SET last_seen_at = now() - interval '3 minutes'
 WHERE id = (SELECT id FROM fp WHERE csr = 'p384');
SELECT nexplane._agents_mark_offline() AS marked_offline;
SELECT status FROM nexplane.agents WHERE id = (SELECT id FROM fp WHERE csr = 'p384');
SELECT nexplane._agents_mark_offline() AS again;
-- the next call brings it back
SET ROLE nexplane_api;
SELECT nexplane.agent_poll(fp)->'commands' AS polled FROM fp WHERE csr = 'p384';
RESET ROLE;
SELECT status FROM nexplane.agents WHERE id = (SELECT id FROM fp WHERE csr = 'p384');
-- presence is not audited; the rest of an agent's changes are
SELECT count(*) AS presence_events FROM nexplane.audit_events
 WHERE target_table = 'agents' AND action = 'agents.update'
   AND target_id = (SELECT id::text FROM fp WHERE csr = 'p384')
   AND (after ? 'last_seen_at' OR after ? 'status');

-- ---------- renewal, and clones ----------
SET ROLE nexplane_api;
-- a renewal with the current generation: generation 2, a new key
CREATE TEMP TABLE renewed AS
SELECT nexplane.agent_renew(fp, (SELECT pem FROM csr WHERE name = 'p256_2'), 1) AS r
  FROM fp WHERE csr = 'p256_1';
SELECT r->'generation' AS generation, (SELECT array_agg(k ORDER BY k) FROM jsonb_object_keys(r) k)
       AS fields FROM renewed;
-- the same key again: NX409
SELECT test.try(format('SELECT nexplane.agent_renew(%L, %L, 2)', fp,
                       (SELECT pem FROM csr WHERE name = 'p256_2'))) AS renew_old_key,
       test.try(format('SELECT nexplane.agent_renew(%L, %L, 1)', fp, 'garbage')) AS renew_garbage
  FROM fp WHERE csr = 'p256_1';
RESET ROLE;
SELECT generation, new_cert_used, prev_fingerprint = fp.fp AS prev_is_old,
       cert_fingerprint = encode(sha256(pg_temp.der((SELECT r->>'certificate_pem' FROM renewed))), 'hex')
       AS current_is_new
  FROM nexplane.agents a JOIN fp USING (id) WHERE fp.csr = 'p256_1';
-- the answer was lost: the old certificate retries with generation 1, and
-- gets generation 2 again (the old one still works until the new is used)
SET ROLE nexplane_api;
SELECT nexplane.agent_poll(fp)->'commands' AS old_cert_still_works,
       nexplane.agent_renew(fp, (SELECT pem FROM csr WHERE name = 'p256_3'), 1)->'generation'
       AS retried_generation
  FROM fp WHERE csr = 'p256_1';
RESET ROLE;
UPDATE fp SET fp = a.cert_fingerprint FROM nexplane.agents a WHERE a.id = fp.id AND fp.csr = 'p256_1'
RETURNING fp.csr;
SET ROLE nexplane_api;
-- the new certificate is used ...
SELECT nexplane.agent_poll(fp)->'commands' AS new_cert_works FROM fp WHERE csr = 'p256_1';
RESET ROLE;
SELECT new_cert_used FROM nexplane.agents WHERE id = (SELECT id FROM fp WHERE csr = 'p256_1');
-- ... so the old one now means a second host: locked, and it says so once
SET ROLE nexplane_api;
RESET ROLE;
SELECT prev_fingerprint AS prev_fp FROM nexplane.agents WHERE id = (SELECT id FROM fp WHERE csr = 'p256_1') \gset
SET ROLE nexplane_api;
SELECT nexplane.agent_poll(:'prev_fp') AS clone_call;
SELECT test.try(format('SELECT nexplane.agent_poll(%L)', fp)) AS locked_new_cert,
       test.try(format('SELECT nexplane.agent_poll(%L)', :'prev_fp')) AS locked_old_cert,
       test.try(format('SELECT nexplane.agent_heartbeat(%L, %L)', fp, '{}')) AS locked_heartbeat
  FROM fp WHERE csr = 'p256_1';
RESET ROLE;
SELECT status, status_reason FROM nexplane.agents WHERE id = (SELECT id FROM fp WHERE csr = 'p256_1');
-- a renewal naming a generation that is not current: locked too
SET ROLE nexplane_api;
SELECT nexplane.agent_renew(fp, (SELECT pem FROM csr WHERE name = 'p256_4'), 7) AS wrong_generation
  FROM fp WHERE csr = 'rsa2048';
SELECT test.try(format('SELECT nexplane.agent_poll(%L)', fp)) AS after_wrong_generation
  FROM fp WHERE csr = 'rsa2048';
RESET ROLE;
SELECT status, status_reason FROM nexplane.agents WHERE id = (SELECT id FROM fp WHERE csr = 'rsa2048');
SELECT action, actor_kind FROM nexplane.audit_events
 WHERE target_table = 'agents' AND target_id = (SELECT id::text FROM fp WHERE csr = 'rsa2048')
   AND after->>'status' = 'locked';

-- ---------- revocation ----------
BEGIN;
SELECT test.as('op');
SELECT test.try(format('SELECT nexplane.agent_revoke(%L)', id)) AS operator_revokes
  FROM fp WHERE csr = 'p256_7';
ROLLBACK;
BEGIN;
SELECT test.as('admin');
SELECT r->>'status' AS status, r->>'revoked_at' IS NOT NULL AS revoked_at
  FROM (SELECT nexplane.agent_revoke(id) AS r FROM fp WHERE csr = 'p256_7') x;
SELECT test.try(format('SELECT nexplane.agent_revoke(%L)', id)) AS revoke_again
  FROM fp WHERE csr = 'p256_7';
COMMIT;
SET ROLE nexplane_api;
SELECT test.try(format('SELECT nexplane.agent_poll(%L)', fp)) AS revoked_poll,
       test.try(format('SELECT nexplane.agent_heartbeat(%L, %L)', fp, '{}')) AS revoked_heartbeat,
       test.try(format('SELECT nexplane.agent_renew(%L, %L, 1)', fp,
                       (SELECT pem FROM csr WHERE name = 'p256_5'))) AS revoked_renew,
       test.try(format('SELECT nexplane.agent_result(%L, %L, %L)', fp, id, '{"state": "running"}'))
       AS revoked_result
  FROM fp WHERE csr = 'p256_7';
-- and it cannot come back with its key
SELECT test.try(format('SELECT nexplane.agent_enroll(%L, %L)', (SELECT t->>'token' FROM tok WHERE n = 6),
                       (SELECT pem FROM csr WHERE name = 'p256_7'))) AS revoked_key_reenrolls;
RESET ROLE;

-- ---------- the listener's certificate ----------
SET ROLE nexplane_api;
SELECT (SELECT array_agg(k ORDER BY k) FROM jsonb_object_keys(c) k) AS fields,
       position(convert_to('agents.example.test', 'UTF8') IN pg_temp.der(c->>'certificate_pem')) > 0
       AS has_name,
       (c->>'not_after')::timestamptz - now() BETWEEN interval '6 days 23 hours' AND interval '7 days'
       AS seven_days
  FROM (SELECT nexplane._agent_listener_certificate((SELECT pem FROM csr WHERE name = 'p256_6'),
                                                    '{agents.example.test, 127.0.0.1, ::1}') AS c) x;
SELECT test.try(format('SELECT nexplane._agent_listener_certificate(%L, %L)',
                       (SELECT pem FROM csr WHERE name = 'p256_6'), '{"a,DNS:evil.test"}')) AS san_injection,
       test.try(format('SELECT nexplane._agent_listener_certificate(%L, %L)',
                       (SELECT pem FROM csr WHERE name = 'p256_6'), '{}')) AS no_names,
       test.try(format('SELECT nexplane._agent_listener_certificate(%L, %L)',
                       (SELECT pem FROM csr WHERE name = 'badsig'), '{localhost}')) AS bad_signature;
RESET ROLE;
