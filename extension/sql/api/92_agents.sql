-- Host agents (docs/agent.md): the agent CA, enrollment, the agents'
-- admin functions, the command queue, and the calls the shim makes for an
-- agent over mutual TLS (agent_poll, agent_result, agent_heartbeat,
-- agent_renew), which only the shim's own role may make.

-- The CA and certificates (pki.c).
CREATE FUNCTION nexplane.agent_ca() RETURNS jsonb
    AS 'MODULE_PATHNAME', 'nx_agent_ca' LANGUAGE C VOLATILE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp;
CREATE FUNCTION nexplane._agent_csr_check(csr_pem text) RETURNS jsonb
    AS 'MODULE_PATHNAME', 'nx_agent_csr_check' LANGUAGE C IMMUTABLE;
CREATE FUNCTION nexplane._agent_sign(csr_pem text, agent_id uuid, tenant_id uuid) RETURNS jsonb
    AS 'MODULE_PATHNAME', 'nx_agent_sign' LANGUAGE C VOLATILE;
CREATE FUNCTION nexplane._agent_listener_certificate(csr_pem text, names text[]) RETURNS jsonb
    AS 'MODULE_PATHNAME', 'nx_agent_listener_certificate' LANGUAGE C VOLATILE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp;
-- NX403 unless the caller is nexplane_api itself.
CREATE FUNCTION nexplane._require_shim() RETURNS void
    AS 'MODULE_PATHNAME', 'nx_require_shim_sql' LANGUAGE C VOLATILE;
-- Agent contexts (agents.c).
CREATE FUNCTION nexplane._agent_auth(fingerprint text) RETURNS uuid
    AS 'MODULE_PATHNAME', 'nx_agent_auth' LANGUAGE C VOLATILE;
CREATE FUNCTION nexplane._agent_token_claim(token text) RETURNS jsonb
    AS 'MODULE_PATHNAME', 'nx_agent_token_claim' LANGUAGE C VOLATILE;
-- The allowlist (agent/command_table.c, compiled in).
CREATE FUNCTION nexplane.agent_command_types() RETURNS jsonb
    AS 'MODULE_PATHNAME', 'nx_agent_command_types' LANGUAGE C STABLE;
CREATE FUNCTION nexplane._agent_command_check(command text, params jsonb,
                                              confirm_within_s integer) RETURNS integer
    AS 'MODULE_PATHNAME', 'nx_agent_command_check_sql' LANGUAGE C IMMUTABLE;
CREATE FUNCTION nexplane._agent_command_changes_host(command text) RETURNS boolean
    AS 'MODULE_PATHNAME', 'nx_agent_command_changes_host' LANGUAGE C IMMUTABLE STRICT;

CREATE FUNCTION nexplane._agent_json(a nexplane.agents) RETURNS jsonb
    LANGUAGE sql IMMUTABLE SET search_path = pg_catalog, pg_temp AS $$
    SELECT jsonb_build_object('id', a.id, 'hostname', a.hostname, 'status', a.status,
        'status_reason', a.status_reason, 'facts', a.facts, 'generation', a.generation,
        'cert_serial', a.cert_serial, 'cert_fingerprint', a.cert_fingerprint,
        'cert_not_after', a.cert_not_after, 'last_seen_at', a.last_seen_at,
        'enrolled_at', a.enrolled_at, 'revoked_at', a.revoked_at)
$$;

CREATE FUNCTION nexplane._agent_command_json(c nexplane.agent_commands) RETURNS jsonb
    LANGUAGE sql IMMUTABLE SET search_path = pg_catalog, pg_temp AS $$
    -- a password's hash goes to the agent (agent_poll), not to readers
    SELECT jsonb_build_object('id', c.id, 'agent_id', c.agent_id, 'command', c.command,
        'params', CASE WHEN c.params ? 'hash' THEN jsonb_set(c.params, '{hash}', '"[redacted]"')
                       ELSE c.params END,
        'timeout_s', c.timeout_s, 'confirm_within_s', c.confirm_within_s,
        'state', c.state, 'progress', c.progress, 'result', c.result, 'error', c.error,
        'change_request_id', c.change_request_id, 'created_by', c.created_by,
        'created_at', c.created_at, 'sent_at', c.sent_at, 'applied_at', c.applied_at,
        'finished_at', c.finished_at)
$$;

-- Facts an agent sends: an object under 16 kB.
CREATE FUNCTION nexplane._agent_facts(facts jsonb) RETURNS jsonb
    LANGUAGE plpgsql IMMUTABLE SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    IF facts IS NULL THEN
        RETURN '{}';
    END IF;
    IF jsonb_typeof(facts) <> 'object' THEN
        PERFORM nexplane._raise('NX422', 'facts must be a JSON object');
    END IF;
    IF octet_length(facts::text) > 16384 THEN
        PERFORM nexplane._raise('NX413', 'facts are too large', 'At most 16 kB are accepted.');
    END IF;
    RETURN facts;
END
$$;

CREATE FUNCTION nexplane._agent_hostname(facts jsonb) RETURNS text
    LANGUAGE sql IMMUTABLE SET search_path = pg_catalog, pg_temp AS $$
    SELECT CASE WHEN jsonb_typeof(facts->'hostname') = 'string'
                     AND length(facts->>'hostname') BETWEEN 1 AND 253
                THEN facts->>'hostname' ELSE 'unknown' END
$$;

-- ---------- enrollment ----------

CREATE FUNCTION nexplane.enrollment_token_create(ttl interval DEFAULT '1 hour') RETURNS jsonb
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    token text;
    t nexplane.enrollment_tokens;
BEGIN
    PERFORM nexplane._require_role('admin');
    IF ttl IS NULL OR ttl < interval '1 minute' OR ttl > interval '7 days' THEN
        PERFORM nexplane._raise('NX422', 'ttl must be between 1 minute and 7 days');
    END IF;
    token := nexplane._random_token('nxe_');
    INSERT INTO nexplane.enrollment_tokens AS x (tenant_id, token_hash, expires_at, created_by)
    VALUES (nexplane.current_tenant_id(), sha256(convert_to(token, 'UTF8')), now() + ttl,
            nexplane.current_user_id())
    RETURNING x.* INTO t;
    RETURN jsonb_build_object('id', t.id, 'token', token, 'expires_at', t.expires_at,
                              'ca_pin', nexplane.agent_ca()->>'ca_pin');
END
$$;

-- Remember a public key for good; NX409 if any agent ever had it.
CREATE FUNCTION nexplane._agent_key_once(agent_id uuid, key_sha256 text) RETURNS void
    LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    INSERT INTO nexplane.agent_keys (tenant_id, key_sha256, agent_id)
    VALUES (nexplane.current_tenant_id(), decode(key_sha256, 'hex'), agent_id);
EXCEPTION WHEN unique_violation THEN
    PERFORM nexplane._raise('NX409', 'this key was enrolled before',
        'A key is enrolled once; a revoked agent cannot come back with its key.',
        'Make a new key pair on the host.');
END
$$;

CREATE FUNCTION nexplane.agent_enroll(token text, csr_pem text, facts jsonb DEFAULT '{}')
    RETURNS jsonb
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    claim jsonb;
    csr jsonb;
    cert jsonb;
    f jsonb;
    agent uuid;
BEGIN
    PERFORM nexplane._secret_guard();   -- first: no error may log the token
    IF token IS NULL OR csr_pem IS NULL THEN
        PERFORM nexplane._raise('NX400', 'token and csr_pem are required');
    END IF;
    claim := nexplane._agent_token_claim(token);    -- NX401, or the tenant's context
    agent := (claim->>'agent_id')::uuid;
    csr := nexplane._agent_csr_check(csr_pem);      -- NX422: signature, key
    f := nexplane._agent_facts(facts);
    INSERT INTO nexplane.agents (tenant_id, id, hostname, facts, generation, status, last_seen_at)
    VALUES (nexplane.current_tenant_id(), agent, nexplane._agent_hostname(f), f, 1, 'online',
            now());
    PERFORM nexplane._agent_key_once(agent, csr->>'key_sha256');
    cert := nexplane._agent_sign(csr_pem, agent, nexplane.current_tenant_id());
    UPDATE nexplane.agents
       SET cert_serial = cert->>'serial', cert_fingerprint = cert->>'fingerprint',
           cert_not_after = (cert->>'not_after')::timestamptz
     WHERE tenant_id = nexplane.current_tenant_id() AND id = agent;
    UPDATE nexplane.enrollment_tokens SET used_at = now(), agent_id = agent
     WHERE tenant_id = nexplane.current_tenant_id() AND id = (claim->>'token_id')::uuid;
    RETURN jsonb_build_object('agent_id', agent, 'certificate_pem', cert->>'certificate_pem',
                              'ca_pem', cert->>'ca_pem', 'generation', 1,
                              'not_after', (cert->>'not_after')::timestamptz);
END
$$;

-- ---------- the agent's side (shim only) ----------

-- Lock an identity two hosts use: every later call is NX403.
CREATE FUNCTION nexplane._agent_lock(agent uuid, reason text) RETURNS jsonb
    LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    UPDATE nexplane.agents SET status = 'locked', status_reason = reason
     WHERE tenant_id = nexplane.current_tenant_id() AND id = agent;
    UPDATE nexplane.agent_commands
       SET state = 'cancelled', error = 'the agent was locked', finished_at = now()
     WHERE tenant_id = nexplane.current_tenant_id() AND agent_id = agent
       AND state IN ('queued', 'sent');
    PERFORM pg_notify('nexplane_agents', agent::text);
    RETURN jsonb_build_object('locked', true);
END
$$;

-- The calling agent by its certificate's fingerprint, checked: NX403 when
-- none, revoked, locked or expired.  A call with the previous certificate
-- after the renewed one was used is a clone: the agent is locked and the
-- row comes back with status 'locked' (the caller answers {"locked": true},
-- which the shim turns into 403; the lock must commit, so it is no error).
CREATE FUNCTION nexplane._agent_checked(fingerprint text) RETURNS nexplane.agents
    LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    a nexplane.agents;
    agent uuid;
BEGIN
    agent := nexplane._agent_auth(fingerprint);     -- NX403, or the agent's context
    SELECT * INTO a FROM nexplane.agents x
     WHERE x.tenant_id = nexplane.current_tenant_id() AND x.id = agent;
    IF NOT FOUND OR a.status IN ('revoked', 'locked') THEN
        PERFORM nexplane._raise('NX403', 'agent not allowed');
    END IF;
    IF a.prev_fingerprint = fingerprint THEN
        IF a.new_cert_used THEN
            PERFORM nexplane._agent_lock(a.id,
                'the previous certificate was used after the renewed one: two hosts hold this identity');
            a.status := 'locked';
            RETURN a;
        END IF;
        IF a.prev_not_after <= now() THEN
            PERFORM nexplane._raise('NX403', 'agent not allowed');
        END IF;
    ELSIF a.cert_not_after <= now() THEN
        PERFORM nexplane._raise('NX403', 'agent not allowed');
    END IF;
    IF a.cert_fingerprint = fingerprint AND NOT a.new_cert_used THEN
        UPDATE nexplane.agents SET new_cert_used = true, last_seen_at = now(), status = 'online'
         WHERE tenant_id = a.tenant_id AND id = a.id;
    ELSIF a.status = 'offline' OR a.last_seen_at IS NULL
          OR a.last_seen_at < now() - current_setting('nexplane.agent_offline_after')::interval / 2 THEN
        -- At most one write per agent every half of agent_offline_after,
        -- not one per call: an idle fleet's re-polls (10,000 agents, one
        -- poll each per 30 s wait) are then reads, and an agent still
        -- shows online, since it is seen well within agent_offline_after.
        UPDATE nexplane.agents SET last_seen_at = now(), status = 'online'
         WHERE tenant_id = a.tenant_id AND id = a.id;
    END IF;
    RETURN a;
END
$$;

CREATE FUNCTION nexplane.agent_poll(fingerprint text) RETURNS jsonb
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    a nexplane.agents;
    cmds jsonb;
    confirm jsonb;
BEGIN
    PERFORM nexplane._require_shim();
    a := nexplane._agent_checked(fingerprint);
    IF a.status = 'locked' THEN
        RETURN jsonb_build_object('locked', true);
    END IF;
    -- dead-man commands: this poll shows the agent still reaches us after
    -- the change; those whose check passed are confirmed (again, until the
    -- agent reports confirmed)
    UPDATE nexplane.agent_commands SET applied_polled = true
     WHERE tenant_id = a.tenant_id AND agent_id = a.id AND state = 'applied'
       AND NOT applied_polled;
    WITH c AS (
        UPDATE nexplane.agent_commands SET confirm_sent_at = coalesce(confirm_sent_at, now())
         WHERE tenant_id = a.tenant_id AND agent_id = a.id AND state = 'applied'
           AND applied_polled AND check_passed
        RETURNING id, applied_at)
    SELECT coalesce(jsonb_agg(id ORDER BY applied_at), '[]') INTO confirm FROM c;
    -- queued and sent-but-unreported commands, oldest first
    WITH s AS (
        SELECT x.id FROM nexplane.agent_commands x
         WHERE x.tenant_id = a.tenant_id AND x.agent_id = a.id AND x.state IN ('queued', 'sent')
         ORDER BY x.created_at LIMIT 50 FOR UPDATE SKIP LOCKED),
    u AS (
        UPDATE nexplane.agent_commands x
           SET state = 'sent', sent_at = coalesce(x.sent_at, now())
          FROM s WHERE x.tenant_id = a.tenant_id AND x.id = s.id
        RETURNING x.*)
    SELECT coalesce(jsonb_agg(jsonb_build_object('id', u.id, 'command', u.command,
                                                 'params', u.params, 'timeout_s', u.timeout_s,
                                                 'confirm_within_s', u.confirm_within_s)
                              ORDER BY u.created_at), '[]')
      INTO cmds FROM u;
    RETURN jsonb_build_object('agent_id', a.id, 'commands', cmds, 'confirm', confirm);
END
$$;

-- Which fields each report state may carry (docs/agent.md).
CREATE FUNCTION nexplane._agent_report_fields(state text) RETURNS text[]
    LANGUAGE sql IMMUTABLE SET search_path = pg_catalog, pg_temp AS $$
    SELECT CASE state
        WHEN 'running' THEN ARRAY['state', 'progress']
        WHEN 'applied' THEN ARRAY['state', 'check', 'revert_at', 'output']
        WHEN 'succeeded' THEN ARRAY['state', 'output']
        WHEN 'failed' THEN ARRAY['state', 'error', 'exit_code']
        WHEN 'refused' THEN ARRAY['state', 'error']
        WHEN 'reverted' THEN ARRAY['state', 'error']
        WHEN 'confirmed' THEN ARRAY['state', 'output']
    END
$$;

CREATE FUNCTION nexplane.agent_result(fingerprint text, command_id uuid, report jsonb)
    RETURNS jsonb
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    a nexplane.agents;
    c nexplane.agent_commands;
    st text;
    allowed text[];
    unknown text;
    ok_from text[];
    final boolean;
BEGIN
    PERFORM nexplane._require_shim();
    IF report IS NOT NULL AND octet_length(report::text) > 65536 THEN
        PERFORM nexplane._raise('NX413', 'the report is too large', 'At most 64 kB are accepted.');
    END IF;
    a := nexplane._agent_checked(fingerprint);
    IF a.status = 'locked' THEN
        RETURN jsonb_build_object('locked', true);
    END IF;
    IF command_id IS NULL OR report IS NULL OR jsonb_typeof(report) <> 'object' THEN
        PERFORM nexplane._raise('NX422', 'a report is a JSON object with a command id');
    END IF;
    st := report->>'state';
    allowed := nexplane._agent_report_fields(st);
    IF allowed IS NULL THEN
        PERFORM nexplane._raise('NX422', format('unknown report state %s', coalesce(st, 'null')),
            'A report''s state is one of running, applied, succeeded, failed, refused, reverted, confirmed.');
    END IF;
    SELECT string_agg(k, ', ' ORDER BY k) INTO unknown
      FROM jsonb_object_keys(report) k WHERE k <> ALL (allowed);
    IF unknown IS NOT NULL THEN
        PERFORM nexplane._raise('NX422', format('unknown field in a %s report: %s', st, unknown),
            format('A %s report may carry %s.', st, array_to_string(allowed, ', ')));
    END IF;
    IF report ? 'output' AND jsonb_typeof(report->'output') <> 'object' THEN
        PERFORM nexplane._raise('NX422', 'output must be a JSON object');
    END IF;
    IF octet_length(coalesce(report->'output', '{}')::text) > 32768 THEN
        PERFORM nexplane._raise('NX413', 'the report''s output is too large',
            'At most 32 kB of output are accepted.');
    END IF;
    IF report ? 'progress' AND (jsonb_typeof(report->'progress') <> 'number'
        OR (report->>'progress')::numeric NOT BETWEEN 0 AND 100) THEN
        PERFORM nexplane._raise('NX422', 'progress must be a number from 0 to 100');
    END IF;
    IF report ? 'exit_code' AND jsonb_typeof(report->'exit_code') <> 'number' THEN
        PERFORM nexplane._raise('NX422', 'exit_code must be a number');
    END IF;
    IF report ? 'error' AND (jsonb_typeof(report->'error') <> 'string'
        OR length(report->>'error') > 2000) THEN
        PERFORM nexplane._raise('NX422', 'error must be a sentence of at most 2000 characters');
    END IF;
    IF report ? 'revert_at' AND jsonb_typeof(report->'revert_at') <> 'string' THEN
        PERFORM nexplane._raise('NX422', 'revert_at must be a timestamp');
    END IF;

    SELECT * INTO c FROM nexplane.agent_commands x
     WHERE x.tenant_id = a.tenant_id AND x.id = command_id FOR UPDATE;
    IF NOT FOUND OR c.agent_id <> a.id THEN
        PERFORM nexplane._raise('NX409', 'this agent has no such command',
            'A report must be for a command this agent was sent.');
    END IF;
    ok_from := CASE st
        WHEN 'running' THEN ARRAY['sent', 'running']
        WHEN 'applied' THEN ARRAY['sent', 'running']
        WHEN 'succeeded' THEN ARRAY['sent', 'running']
        WHEN 'failed' THEN ARRAY['sent', 'running', 'applied']
        WHEN 'refused' THEN ARRAY['sent', 'running']
        WHEN 'reverted' THEN ARRAY['applied']
        WHEN 'confirmed' THEN ARRAY['applied']
    END;
    IF c.state <> ALL (ok_from) OR (st = 'confirmed' AND c.confirm_sent_at IS NULL) THEN
        PERFORM nexplane._raise('NX409', format('command %s cannot take a %s report', c.id, st),
            format('It is %s.', c.state),
            CASE WHEN c.finished_at IS NOT NULL THEN 'It has finished: reports for it are over.' END);
    END IF;
    final := st IN ('succeeded', 'failed', 'refused', 'reverted', 'confirmed');
    UPDATE nexplane.agent_commands x
       SET state = st,
           progress = CASE WHEN st = 'running' THEN (report->>'progress')::numeric::int
                           WHEN final THEN NULL ELSE x.progress END,
           result = CASE WHEN st = 'succeeded' THEN coalesce(report->'output', '{}')
                         WHEN st = 'applied' THEN coalesce(report->'output', '{}')
                              || jsonb_build_object('check', report->'check',
                                                    'revert_at', report->'revert_at')
                         WHEN st = 'confirmed' AND report ? 'output'
                         THEN coalesce(x.result, '{}') || (report->'output')
                         ELSE x.result END,
           error = CASE WHEN st IN ('failed', 'refused', 'reverted')
                        THEN coalesce(report->>'error', st) ELSE x.error END,
           applied_at = CASE WHEN st = 'applied' THEN now() ELSE x.applied_at END,
           check_passed = CASE WHEN st = 'applied'
                               THEN coalesce((report->'check'->>'ok')::boolean, true)
                               ELSE x.check_passed END,
           finished_at = CASE WHEN final THEN now() ELSE NULL END
     WHERE x.tenant_id = c.tenant_id AND x.id = c.id;
    RETURN jsonb_build_object('ok', true);
END
$$;

CREATE FUNCTION nexplane.agent_heartbeat(fingerprint text, facts jsonb) RETURNS jsonb
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    a nexplane.agents;
    f jsonb;
BEGIN
    PERFORM nexplane._require_shim();
    a := nexplane._agent_checked(fingerprint);
    IF a.status = 'locked' THEN
        RETURN jsonb_build_object('locked', true);
    END IF;
    f := nexplane._agent_facts(facts);
    IF f IS DISTINCT FROM a.facts AND f <> '{}' THEN
        UPDATE nexplane.agents SET facts = f, hostname = nexplane._agent_hostname(f)
         WHERE tenant_id = a.tenant_id AND id = a.id;
    END IF;
    RETURN jsonb_build_object('ok', true);
END
$$;

-- A new certificate for a new key, generation n+1.  A renewal naming a
-- generation that is not current is a clone (locked), except the retry of
-- a renewal whose answer was lost: the previous certificate, generation
-- n-1, before the new certificate was ever used, gets generation n again.
CREATE FUNCTION nexplane.agent_renew(fingerprint text, csr_pem text, generation integer)
    RETURNS jsonb
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
#variable_conflict use_variable
DECLARE
    a nexplane.agents;
    csr jsonb;
    cert jsonb;
    retry boolean;
    gen integer;
BEGIN
    PERFORM nexplane._require_shim();
    a := nexplane._agent_checked(fingerprint);
    IF a.status = 'locked' THEN
        RETURN jsonb_build_object('locked', true);
    END IF;
    IF csr_pem IS NULL OR generation IS NULL THEN
        PERFORM nexplane._raise('NX400', 'csr_pem and generation are required');
    END IF;
    retry := a.prev_fingerprint = fingerprint AND NOT a.new_cert_used
             AND generation = a.generation - 1;
    IF generation <> a.generation AND NOT retry THEN
        RETURN nexplane._agent_lock(a.id, format(
            'a renewal named generation %s, the current one is %s: two hosts hold this identity',
            generation, a.generation));
    END IF;
    csr := nexplane._agent_csr_check(csr_pem);
    PERFORM nexplane._agent_key_once(a.id, csr->>'key_sha256');
    cert := nexplane._agent_sign(csr_pem, a.id, a.tenant_id);
    gen := CASE WHEN retry THEN a.generation ELSE a.generation + 1 END;
    UPDATE nexplane.agents x
       SET prev_fingerprint = CASE WHEN retry THEN x.prev_fingerprint ELSE x.cert_fingerprint END,
           prev_not_after = CASE WHEN retry THEN x.prev_not_after ELSE x.cert_not_after END,
           cert_serial = cert->>'serial', cert_fingerprint = cert->>'fingerprint',
           cert_not_after = (cert->>'not_after')::timestamptz,
           generation = gen, new_cert_used = false
     WHERE x.tenant_id = a.tenant_id AND x.id = a.id;
    RETURN jsonb_build_object('certificate_pem', cert->>'certificate_pem',
                              'ca_pem', cert->>'ca_pem', 'generation', gen,
                              'not_after', (cert->>'not_after')::timestamptz);
END
$$;

-- ---------- admin ----------

CREATE FUNCTION nexplane.agent_list() RETURNS jsonb
    LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    result jsonb;
BEGIN
    PERFORM nexplane._require_role('admin', 'operator', 'approver', 'viewer');
    SELECT coalesce(jsonb_agg(nexplane._agent_json(a) ORDER BY a.hostname, a.id), '[]')
      INTO result FROM nexplane.agents a WHERE a.tenant_id = nexplane.current_tenant_id();
    RETURN result;
END
$$;

CREATE FUNCTION nexplane.agent_get(id uuid) RETURNS jsonb
    LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
#variable_conflict use_variable
DECLARE
    a nexplane.agents;
BEGIN
    PERFORM nexplane._require_role('admin', 'operator', 'approver', 'viewer');
    PERFORM nexplane._require_id(id);
    SELECT * INTO a FROM nexplane.agents x
     WHERE x.tenant_id = nexplane.current_tenant_id() AND x.id = id;
    IF NOT FOUND THEN
        PERFORM nexplane._raise('NX404', format('agent %s not found', id));
    END IF;
    RETURN nexplane._agent_json(a);
END
$$;

CREATE FUNCTION nexplane.agent_revoke(id uuid) RETURNS jsonb
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
#variable_conflict use_variable
DECLARE
    a nexplane.agents;
BEGIN
    PERFORM nexplane._require_role('admin');
    PERFORM nexplane._require_id(id);
    SELECT * INTO a FROM nexplane.agents x
     WHERE x.tenant_id = nexplane.current_tenant_id() AND x.id = id FOR UPDATE;
    IF NOT FOUND THEN
        PERFORM nexplane._raise('NX404', format('agent %s not found', id));
    END IF;
    IF a.status = 'revoked' THEN
        PERFORM nexplane._raise('NX409', format('agent %s is already revoked', id));
    END IF;
    UPDATE nexplane.agents x SET status = 'revoked', revoked_at = now(),
           status_reason = 'revoked by an admin'
     WHERE x.tenant_id = a.tenant_id AND x.id = a.id
    RETURNING x.* INTO a;
    UPDATE nexplane.agent_commands x
       SET state = 'cancelled', error = 'the agent was revoked', finished_at = now()
     WHERE x.tenant_id = a.tenant_id AND x.agent_id = a.id AND x.state IN ('queued', 'sent');
    PERFORM pg_notify('nexplane_agents', a.id::text);
    RETURN nexplane._agent_json(a);
END
$$;

-- ---------- commands ----------

-- Queue a checked command for an agent of the caller's tenant; the shim's
-- held poll for that agent is woken at commit.  For agent_command_create
-- and the agent connector's jobs (which pass change_request).
CREATE FUNCTION nexplane._agent_command_queue(agent uuid, command text, params jsonb,
                                              confirm_within_s integer, change_request uuid,
                                              created_by uuid)
    RETURNS nexplane.agent_commands
    LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    timeout integer;
    st text;
    c nexplane.agent_commands;
BEGIN
    IF command IS NULL THEN
        PERFORM nexplane._raise('NX400', 'command is required');
    END IF;
    IF params IS NOT NULL AND octet_length(params::text) > 400000 THEN
        PERFORM nexplane._raise('NX413', 'params are too large');
    END IF;
    timeout := nexplane._agent_command_check(command, coalesce(params, '{}'), confirm_within_s);
    SELECT a.status INTO st FROM nexplane.agents a
     WHERE a.tenant_id = nexplane.current_tenant_id() AND a.id = agent;
    IF NOT FOUND THEN
        PERFORM nexplane._raise('NX404', format('agent %s not found', agent));
    END IF;
    IF st IN ('revoked', 'locked') THEN
        PERFORM nexplane._raise('NX409', format('agent %s is %s', agent, st),
            'Commands go only to agents that may still call in.');
    END IF;
    INSERT INTO nexplane.agent_commands AS x
        (tenant_id, agent_id, command, params, timeout_s, confirm_within_s, change_request_id,
         created_by)
    VALUES (nexplane.current_tenant_id(), agent, command, coalesce(params, '{}'), timeout,
            confirm_within_s, change_request, created_by)
    RETURNING x.* INTO c;
    PERFORM pg_notify('nexplane_agents', agent::text);
    RETURN c;
END
$$;

-- Admins may queue any command; operators only the read-only ones: host
-- changes by anyone else go through a change request (connector agent).
CREATE FUNCTION nexplane.agent_command_create(agent_id uuid, command text,
                                              params jsonb DEFAULT '{}',
                                              confirm_within interval DEFAULT NULL)
    RETURNS jsonb
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
#variable_conflict use_variable
DECLARE
    secs integer;
BEGIN
    PERFORM nexplane._require_role('admin', 'operator');
    PERFORM nexplane._require_id(agent_id);
    IF command IS NOT NULL AND nexplane._agent_command_changes_host(command)
       AND NOT nexplane._role_in(nexplane.current_role(), 'admin') THEN
        PERFORM nexplane._raise('NX403', format('role "%s" may not queue command %s',
                                                nexplane.current_role(), command),
            'Only admins queue host changes directly.',
            'Ask for the change with a change request on an agent connector.');
    END IF;
    IF confirm_within IS NOT NULL THEN
        secs := extract(epoch FROM confirm_within)::integer;
    END IF;
    RETURN nexplane._agent_command_json(nexplane._agent_command_queue(
        agent_id, command, params, secs, NULL, nexplane.current_user_id()));
END
$$;

CREATE FUNCTION nexplane.agent_command_get(id uuid) RETURNS jsonb
    LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
#variable_conflict use_variable
DECLARE
    c nexplane.agent_commands;
BEGIN
    PERFORM nexplane._require_role('admin', 'operator', 'approver', 'viewer');
    PERFORM nexplane._require_id(id);
    SELECT * INTO c FROM nexplane.agent_commands x
     WHERE x.tenant_id = nexplane.current_tenant_id() AND x.id = id;
    IF NOT FOUND THEN
        PERFORM nexplane._raise('NX404', format('agent command %s not found', id));
    END IF;
    RETURN nexplane._agent_command_json(c);
END
$$;

CREATE FUNCTION nexplane.agent_command_list(agent_id uuid DEFAULT NULL, state text DEFAULT NULL)
    RETURNS jsonb
    LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
#variable_conflict use_variable
DECLARE
    result jsonb;
BEGIN
    PERFORM nexplane._require_role('admin', 'operator', 'approver', 'viewer');
    IF state IS NOT NULL AND state NOT IN ('queued', 'sent', 'running', 'applied', 'succeeded',
                                           'failed', 'refused', 'confirmed', 'reverted',
                                           'expired', 'cancelled') THEN
        PERFORM nexplane._raise('NX422', format('unknown command state %s', state));
    END IF;
    IF agent_id IS NOT NULL AND NOT EXISTS (
        SELECT 1 FROM nexplane.agents a
         WHERE a.tenant_id = nexplane.current_tenant_id() AND a.id = agent_id) THEN
        PERFORM nexplane._raise('NX404', format('agent %s not found', agent_id));
    END IF;
    SELECT coalesce(jsonb_agg(nexplane._agent_command_json(c) ORDER BY c.created_at DESC, c.id),
                    '[]')
      INTO result
      FROM (SELECT * FROM nexplane.agent_commands x
             WHERE x.tenant_id = nexplane.current_tenant_id()
               AND (agent_id IS NULL OR x.agent_id = agent_id)
               AND (state IS NULL OR x.state = state)
             ORDER BY x.created_at DESC, x.id LIMIT 1000) c;
    RETURN result;
END
$$;

-- ---------- maintenance (pg_cron) ----------

-- Agents not heard from for nexplane.agent_offline_after show as offline.
CREATE FUNCTION nexplane._agents_mark_offline() RETURNS bigint
    LANGUAGE sql SET search_path = pg_catalog, pg_temp AS $$
    WITH o AS (
        UPDATE nexplane.agents SET status = 'offline'
         WHERE status = 'online'
           AND last_seen_at < now() - current_setting('nexplane.agent_offline_after')::interval
        RETURNING 1)
    SELECT count(*) FROM o
$$;

-- Finished commands older than nexplane.job_retention days go, like jobs.
CREATE FUNCTION nexplane._agent_commands_prune() RETURNS bigint
    LANGUAGE sql SET search_path = pg_catalog, pg_temp AS $$
    WITH d AS (
        DELETE FROM nexplane.agent_commands
         WHERE finished_at < now() - current_setting('nexplane.job_retention')::integer
                                     * interval '1 day'
        RETURNING 1)
    SELECT count(*) FROM d
$$;

-- Presence is not history: an agent's calls move last_seen_at (and the
-- clock moves status between online and offline) every few seconds, which
-- the audit trail need not repeat.  Every other change of an agent's row
-- is audited as on every tenant table.
DROP TRIGGER audit ON nexplane.agents;
CREATE TRIGGER audit AFTER INSERT OR DELETE ON nexplane.agents
    FOR EACH ROW EXECUTE FUNCTION nexplane._audit_trigger();
CREATE TRIGGER audit_update AFTER UPDATE ON nexplane.agents
    FOR EACH ROW
    WHEN ((to_jsonb(OLD) - 'last_seen_at' - 'status') IS DISTINCT FROM
          (to_jsonb(NEW) - 'last_seen_at' - 'status')
          OR NEW.status IN ('revoked', 'locked') AND OLD.status IS DISTINCT FROM NEW.status)
    EXECUTE FUNCTION nexplane._audit_trigger();
ALTER TABLE nexplane.agents ENABLE ALWAYS TRIGGER audit;
ALTER TABLE nexplane.agents ENABLE ALWAYS TRIGGER audit_update;

-- The invariants hold in the tables too, not only in the functions: a
-- finished command never changes state again, and a revoked agent stays
-- revoked (direct DML by the owner or a superuser included).
CREATE FUNCTION nexplane._agent_command_finished_guard() RETURNS trigger
    LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    IF OLD.finished_at IS NOT NULL
       AND (NEW.state IS DISTINCT FROM OLD.state OR NEW.result IS DISTINCT FROM OLD.result) THEN
        PERFORM nexplane._raise('NX409', format('command %s has finished', OLD.id),
            format('It is %s; a finished command does not change.', OLD.state));
    END IF;
    RETURN NEW;
END
$$;
CREATE FUNCTION nexplane._agent_revoked_guard() RETURNS trigger
    LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    IF OLD.status = 'revoked' AND NEW.status <> 'revoked' THEN
        PERFORM nexplane._raise('NX409', format('agent %s is revoked', OLD.id),
            'A revoked agent stays revoked; enroll the host again.');
    END IF;
    RETURN NEW;
END
$$;
CREATE TRIGGER state_guard BEFORE UPDATE ON nexplane.agent_commands
    FOR EACH ROW EXECUTE FUNCTION nexplane._agent_command_finished_guard();
CREATE TRIGGER state_guard BEFORE UPDATE ON nexplane.agents
    FOR EACH ROW EXECUTE FUNCTION nexplane._agent_revoked_guard();
ALTER TABLE nexplane.agent_commands ENABLE ALWAYS TRIGGER state_guard;
ALTER TABLE nexplane.agents ENABLE ALWAYS TRIGGER state_guard;
