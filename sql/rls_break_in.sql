-- Break-in: from inside tenant acme, try every way at tenant globex's rows.
--   1. as nexplane_api (the shim, the agents, psql users): every table by
--      SELECT, INSERT, UPDATE, DELETE, TRUNCATE, LOCK, RETURNING, a view;
--   2. as nexplane_owner, the role every SECURITY DEFINER function runs as,
--      to show forced RLS binds the functions themselves;
--   3. every setting a session can change, then the tenant is re-checked;
--   4. every id-taking function with globex's ids: NX404, worded exactly as
--      for an id that never existed.
-- It prints how many attempts it made and how many leaked: 0.

-- Fixtures: at least one globex row in every tenant table.
SELECT id AS globex FROM nexplane.tenants WHERE slug = 'globex' \gset
SELECT id AS acme FROM nexplane.tenants WHERE slug = 'acme' \gset
SELECT id AS gx_user FROM nexplane.users WHERE tenant_id = :'globex' AND email = 'admin@globex.test' \gset
CREATE TEMP TABLE gx AS SELECT :'globex'::uuid AS t, :'gx_user'::uuid AS u;
-- A stored credential (and so globex's data key), made the way users make one.
SET ROLE nexplane_api;
SELECT nexplane.login('admin@globex.test', 'globex-admin-pass-1') IS NOT NULL AS globex_admin;
SELECT nexplane.credential_create('gx-break-in', 'postgresql', '{"password": "gx-break-in-1"}')
       IS NOT NULL AS gx_stored_credential;
SELECT nexplane.logout() IS NOT NULL AS out;
RESET ROLE;
WITH
  s AS (INSERT INTO nexplane.sessions (tenant_id, user_id, expires_at)
        SELECT t, u, now() + interval '1 day' FROM gx RETURNING tenant_id, id),
  r AS (INSERT INTO nexplane.refresh_tokens (tenant_id, session_id, token_hash, expires_at)
        SELECT tenant_id, id, sha256('gx-refresh'), now() + interval '1 day' FROM s RETURNING 1),
  k AS (INSERT INTO nexplane.api_keys (tenant_id, user_id, name, key_prefix, key_hash, scopes)
        SELECT t, u, 'gx key', 'nxp_gx', sha256('gx-key'), '{write}' FROM gx RETURNING id),
  tk AS (INSERT INTO nexplane.tenant_keys (tenant_id, version, wrapped_key, kek_salt,
                                           kek_iterations, master_key_id, status)
         SELECT t, 99, '\x00', '\x000102030405060708090a0b0c0d0e0f', 600000, 'test', 'retired'
           FROM gx
         RETURNING 1),
  c AS (INSERT INTO nexplane.credentials (tenant_id, name, provider, mode, external_ref)
        SELECT t, 'gx cred', 'aws', 'external', 'arn:aws:secretsmanager:gx' FROM gx RETURNING id),
  cn AS (INSERT INTO nexplane.connectors (tenant_id, type, name, credential_id)
         SELECT gx.t, 'postgresql', 'gx db', c.id FROM gx, c RETURNING tenant_id, id),
  a AS (INSERT INTO nexplane.assets (tenant_id, connector_id, kind, external_id, name)
        SELECT tenant_id, id, 'database', 'gx-db-1', 'gx db 1' FROM cn RETURNING 1),
  cr AS (INSERT INTO nexplane.change_requests (tenant_id, connector_id, change_type, title,
                                               requester_id)
         SELECT cn.tenant_id, cn.id, 'rotate_password', 'gx change', gx.u FROM cn, gx
         RETURNING tenant_id, id, connector_id),
  ev AS (INSERT INTO nexplane.change_request_events (tenant_id, change_request_id, action,
                                                     to_state, actor_kind)
         SELECT tenant_id, id, 'create', 'draft', 'user' FROM cr RETURNING 1),
  ap AS (INSERT INTO nexplane.approvals (tenant_id, change_request_id, approver_id, decision,
                                         approver_role)
         SELECT cr.tenant_id, cr.id, u.id, 'approve', 'viewer' FROM cr, nexplane.users u
          WHERE u.tenant_id = cr.tenant_id AND u.email = 'twin@example.test' RETURNING 1),
  po AS (INSERT INTO nexplane.policies (tenant_id, kind) SELECT t, 'approvals' FROM gx RETURNING 1),
  j AS (INSERT INTO nexplane.jobs (tenant_id, kind, change_request_id)
        SELECT tenant_id, 'execute_change', id FROM cr RETURNING tenant_id, id),
  sc AS (INSERT INTO nexplane.schedules (tenant_id, connector_id, job_kind, cron)
         SELECT tenant_id, id, 'discover', '0 * * * *' FROM cn RETURNING 1),
  e AS (INSERT INTO nexplane.evidence (tenant_id, job_id, kind, content, sha256)
        SELECT tenant_id, id, 'result', '{}', sha256('{}') FROM j RETURNING 1),
  ag AS (INSERT INTO nexplane.agents (tenant_id, hostname) SELECT t, 'gx-host' FROM gx
         RETURNING tenant_id, id),
  et AS (INSERT INTO nexplane.enrollment_tokens (tenant_id, token_hash, expires_at)
         SELECT t, sha256('gx-enroll'), now() + interval '1 hour' FROM gx RETURNING 1),
  ac AS (INSERT INTO nexplane.agent_commands (tenant_id, agent_id, command)
         SELECT tenant_id, id, 'user.lock' FROM ag RETURNING 1),
  ak AS (INSERT INTO nexplane.agent_keys (tenant_id, key_sha256, agent_id)
         SELECT tenant_id, sha256('gx-agent-key'), id FROM ag RETURNING 1)
SELECT (SELECT count(*) FROM r) + (SELECT count(*) FROM k) + (SELECT count(*) FROM tk)
     + (SELECT count(*) FROM a) + (SELECT count(*) FROM ev) + (SELECT count(*) FROM ap)
     + (SELECT count(*) FROM po) + (SELECT count(*) FROM sc) + (SELECT count(*) FROM e)
     + (SELECT count(*) FROM et) + (SELECT count(*) FROM ac) + (SELECT count(*) FROM ak)
     AS fixtures;
-- The live feed's rows came with those, staged by its trigger: number them
-- (stream_events, event_heads), as the sequencer would, and stage one more
-- (stream_events_pending).
SELECT nexplane._stream_events_number() > 0 AS feed_numbered;
INSERT INTO nexplane.stream_events_pending (tenant_id, n, kind, subject_ids, to_states)
SELECT t, 1, 'job', ARRAY[gen_random_uuid()], ARRAY['queued'] FROM gx;

-- The probes.  A probe "leaks" when its statement does not fail (for
-- statements that must fail) or touches a globex row (for those that may
-- run but must see nothing).  Every probe is rolled back.
CREATE TABLE test.probe_log (layer text, probe text, leaked boolean, outcome text);
GRANT INSERT, SELECT ON test.probe_log TO PUBLIC;

-- run one statement; 'error:SQLSTATE' or 'rows:N', always rolled back
CREATE FUNCTION test.probe(q text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
    n bigint := 0;
BEGIN
    BEGIN
        EXECUTE q;
        GET DIAGNOSTICS n = ROW_COUNT;
        RAISE EXCEPTION USING ERRCODE = 'XX999';
    EXCEPTION
        WHEN SQLSTATE 'XX999' THEN RETURN 'rows:' || n;
        WHEN OTHERS THEN RETURN 'error:' || SQLSTATE;
    END;
END
$$;

CREATE FUNCTION test.tenant_tables() RETURNS TABLE (rel regclass, col text)
    LANGUAGE sql STABLE AS $$
    SELECT c.oid::regclass, CASE WHEN c.relname = 'tenants' THEN 'id' ELSE 'tenant_id' END
      FROM pg_class c
     WHERE c.relnamespace = 'nexplane'::regnamespace AND c.relkind IN ('r', 'p')
       -- the agent CA is no tenant's (system access only; agents.sql tries it)
       AND c.relname <> 'agent_ca'
     ORDER BY c.relname
$$;

-- Layer 1: nexplane_api may not touch any table at all.
CREATE FUNCTION test.break_in_api(other uuid) RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    t record;
    q text;
    outcome text;
BEGIN
    FOR t IN SELECT * FROM test.tenant_tables() LOOP
        FOREACH q IN ARRAY ARRAY[
            format('SELECT * FROM %s', t.rel),
            format('SELECT * FROM %s WHERE %I = %L', t.rel, t.col, other),
            format('INSERT INTO %s (%I) VALUES (%L)', t.rel, t.col, other),
            format('UPDATE %s SET %I = %I RETURNING *', t.rel, t.col, t.col),
            format('DELETE FROM %s WHERE %I = %L RETURNING *', t.rel, t.col, other),
            format('TRUNCATE %s', t.rel),
            format('LOCK TABLE %s IN ACCESS SHARE MODE', t.rel),
            format('CREATE TEMP VIEW v_peek AS SELECT * FROM %s; SELECT * FROM v_peek', t.rel)]
        LOOP
            outcome := test.probe(q);
            INSERT INTO test.probe_log VALUES ('api', q, outcome NOT LIKE 'error:%', outcome);
        END LOOP;
    END LOOP;
END
$$;

-- Layer 2: as the definer role, RLS must hide and shield globex's rows.
CREATE FUNCTION test.break_in_owner(other uuid) RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    t record;
    q text;
    outcome text;
    visible bigint;
BEGIN
    FOR t IN SELECT * FROM test.tenant_tables() LOOP
        EXECUTE format('SELECT count(*) FROM %s WHERE %I IS DISTINCT FROM nexplane.current_tenant_id()',
                       t.rel, t.col) INTO visible;
        INSERT INTO test.probe_log VALUES ('owner', 'count other tenants in ' || t.rel,
                                           visible > 0, 'rows:' || visible);
        FOREACH q IN ARRAY ARRAY[
            format('UPDATE %s SET %I = %I WHERE %I = %L', t.rel, t.col, t.col, t.col, other),
            format('DELETE FROM %s WHERE %I = %L', t.rel, t.col, other),
            format('SELECT 1 FROM %s WHERE %I = %L FOR UPDATE', t.rel, t.col, other)]
        LOOP
            outcome := test.probe(q);
            INSERT INTO test.probe_log VALUES ('owner', q, outcome NOT IN ('rows:0')
                                               AND outcome NOT LIKE 'error:%', outcome);
        END LOOP;
        -- writing a row into, or moving our rows to, the other tenant
        FOREACH q IN ARRAY ARRAY[
            format('INSERT INTO %s (%I) VALUES (%L)', t.rel, t.col, other),
            format('UPDATE %s SET %I = %L', t.rel, t.col, other)]
        LOOP
            outcome := test.probe(q);
            INSERT INTO test.probe_log VALUES ('owner', q, outcome NOT IN ('rows:0')
                                               AND outcome NOT LIKE 'error:%', outcome);
        END LOOP;
    END LOOP;
END
$$;

-- Layer 3: change settings, then see whether the tenant moved.
CREATE FUNCTION test.break_in_settings(mine uuid, other uuid) RETURNS void
    LANGUAGE plpgsql AS $$
DECLARE
    s record;
    outcome text;
    moved boolean;
BEGIN
    FOR s IN
        SELECT name, setting AS value FROM pg_settings WHERE context = 'user'
        UNION ALL
        SELECT * FROM (VALUES ('role', 'nexplane_owner'), ('role', 'postgres'),
                              ('session_authorization', 'postgres'),
                              ('search_path', 'public, nexplane'), ('row_security', 'off'),
                              ('app.current_tenant', other::text), ('app.tenant_id', other::text),
                              ('request.jwt.claims', '{"tid":"' || other || '"}'),
                              ('nexplane.tenant_id', other::text),
                              ('nexplane.current_tenant_id', other::text)) v(name, value)
    LOOP
        moved := false;
        BEGIN
            PERFORM set_config(s.name, s.value, false);
            moved := nexplane.current_tenant_id() IS DISTINCT FROM mine;
            BEGIN
                moved := moved OR nexplane.user_list()::text LIKE '%globex%';
            EXCEPTION WHEN OTHERS THEN
                NULL;           -- refusing to run is not a leak
            END;
            RAISE EXCEPTION USING ERRCODE = 'XX999';
        EXCEPTION
            WHEN SQLSTATE 'XX999' THEN
                outcome := CASE WHEN moved THEN 'TENANT MOVED' ELSE 'allowed, no effect' END;
            WHEN OTHERS THEN
                outcome := 'error:' || SQLSTATE;
        END;
        INSERT INTO test.probe_log VALUES ('settings', s.name, moved, outcome);
    END LOOP;
END
$$;

-- Layer 4: the API functions with globex's ids.
CREATE FUNCTION test.break_in_ids() RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    f record;
    foreign_err text;
    unknown_err text;
BEGIN
    FOR f IN
        SELECT * FROM (VALUES
            ('user_get(%L)', 'users'),
            ('user_set_role(%L, ''viewer'')', 'users'),
            ('user_disable(%L)', 'users'),
            ('api_key_revoke(%L)', 'api_keys'),
            ('credential_get(%L)', 'credentials'),
            ('credential_rotate(%L, ''{"x": 1}'')', 'credentials'),
            ('credential_delete(%L)', 'credentials'),
            ('cr_get(%L)', 'change_requests'),
            ('cr_events(%L)', 'change_requests'),
            ('cr_submit(%L)', 'change_requests'),
            ('cr_approve(%L)', 'change_requests'),
            ('cr_reject(%L, ''no'')', 'change_requests'),
            ('cr_cancel(%L)', 'change_requests'),
            ('cr_execute(%L)', 'change_requests'),
            ('cr_rollback(%L)', 'change_requests'),
            ('policy_delete(%L)', 'policies'),
            ('schedule_get(%L)', 'schedules'),
            ('schedule_update(%L, ''@daily'')', 'schedules'),
            ('schedule_toggle(%L, false)', 'schedules'),
            ('schedule_delete(%L)', 'schedules'),
            ('agent_get(%L)', 'agents'),
            ('agent_revoke(%L)', 'agents'),
            ('agent_command_create(%L, ''facts.collect'')', 'agents'),
            ('agent_command_list(%L)', 'agents'),
            ('agent_command_get(%L)', 'agent_commands')) v(call, rel)
    LOOP
        FOR foreign_err, unknown_err IN
            SELECT test.try(format('SELECT nexplane.' || f.call, id)),
                   replace(test.try(format('SELECT nexplane.' || f.call,
                                           '00000000-0000-0000-0000-0000000000ff')),
                           '00000000-0000-0000-0000-0000000000ff', id::text)
              FROM test.globex_ids WHERE rel = f.rel
        LOOP
            INSERT INTO test.probe_log VALUES ('ids', f.call,
                foreign_err NOT LIKE 'NX404:%' OR foreign_err <> unknown_err,
                regexp_replace(foreign_err, '[0-9a-f-]{36}', '<id>'));
        END LOOP;
    END LOOP;
END
$$;
CREATE TABLE test.globex_ids AS
    SELECT 'users' AS rel, id FROM nexplane.users WHERE tenant_id = :'globex'
    UNION ALL SELECT 'api_keys', id FROM nexplane.api_keys WHERE tenant_id = :'globex'
    UNION ALL SELECT 'credentials', id FROM nexplane.credentials WHERE tenant_id = :'globex'
    UNION ALL SELECT 'change_requests', id FROM nexplane.change_requests WHERE tenant_id = :'globex'
    UNION ALL SELECT 'policies', id FROM nexplane.policies WHERE tenant_id = :'globex'
    UNION ALL SELECT 'schedules', id FROM nexplane.schedules WHERE tenant_id = :'globex'
    UNION ALL SELECT 'agents', id FROM nexplane.agents WHERE tenant_id = :'globex'
    UNION ALL SELECT 'agent_commands', id FROM nexplane.agent_commands WHERE tenant_id = :'globex';
GRANT SELECT ON test.globex_ids TO PUBLIC;
GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA test TO PUBLIC;

-- Go.  Connect as nexplane_api really does (session_user, not just SET
-- ROLE), log in as acme's admin (session context), then attack.
SET SESSION AUTHORIZATION nexplane_api;
SELECT nexplane.login('admin@acme.test', 'acme-admin-pass-1') IS NOT NULL AS acme_admin;
SELECT test.break_in_api(:'globex');
SELECT test.break_in_settings(:'acme', :'globex');
SELECT test.break_in_ids();
SELECT test.try(format('SELECT nexplane.act_as_tenant(%L)', :'globex')) AS act_as_globex;
RESET SESSION AUTHORIZATION;
SET ROLE nexplane_owner;
SELECT test.break_in_owner(:'globex');
RESET ROLE;
SELECT nexplane.logout() IS NOT NULL AS out;

-- How the attempts failed, by layer, and the verdict.
SELECT layer, outcome, count(*) FROM test.probe_log GROUP BY 1, 2 ORDER BY 1, 2;
SELECT layer, probe, outcome FROM test.probe_log WHERE leaked;
SELECT format('break-in: %s attempts, %s leaks', count(*), count(*) FILTER (WHERE leaked))
    AS verdict FROM test.probe_log;

-- The forged tenant key above was wrapped by no real master key: take it
-- out, so that later suites can rotate globex's keys.
DELETE FROM nexplane.tenant_keys WHERE tenant_id = :'globex' AND version = 99;
