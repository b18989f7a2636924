-- Connectors: admins create, change and delete them; every role of the
-- tenant reads them; operators and admins queue their test and discover
-- jobs.  Config and credential are checked against the type's declared
-- fields (connectors/fields.c).

CREATE FUNCTION nexplane._connector_check_config(type text, config jsonb) RETURNS void
    AS 'MODULE_PATHNAME', 'nx_connector_check_config' LANGUAGE C STABLE;
CREATE FUNCTION nexplane._connector_check_credential(type text, credential_id uuid) RETURNS void
    AS 'MODULE_PATHNAME', 'nx_connector_check_credential' LANGUAGE C VOLATILE;
CREATE FUNCTION nexplane._change_params_check(type text, change_type text, params jsonb)
    RETURNS void
    AS 'MODULE_PATHNAME', 'nx_change_params_check' LANGUAGE C STABLE;

CREATE FUNCTION nexplane._connector_json(c nexplane.connectors) RETURNS jsonb
    LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
    SELECT jsonb_build_object('id', c.id, 'type', c.type, 'name', c.name, 'config', c.config,
        'credential_id', c.credential_id, 'environment', c.environment, 'tags', to_jsonb(c.tags),
        'status', c.status, 'created_at', c.created_at, 'updated_at', c.updated_at,
        'health', jsonb_build_object(
            'state', CASE WHEN c.status = 'disabled' THEN 'disabled'
                          WHEN c.breaker_until > now() THEN 'circuit_open'
                          WHEN c.failures > 0 THEN 'failing'
                          WHEN c.last_success_at IS NOT NULL THEN 'ok'
                          ELSE 'unknown' END,
            'consecutive_failures', c.failures,
            'circuit_open_until', CASE WHEN c.breaker_until > now() THEN c.breaker_until END,
            'last_run_at', c.last_run_at, 'last_success_at', c.last_success_at,
            'last_error', c.last_error))
$$;

CREATE FUNCTION nexplane._connector_check(type text, environment text, tags text[]) RETURNS void
    LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    IF environment IS NOT NULL AND environment NOT IN
       ('production', 'staging', 'development', 'test', 'unknown') THEN
        PERFORM nexplane._raise('NX422', 'environment must be one of production, staging,'
            ' development, test, unknown');
    END IF;
    IF tags IS NOT NULL AND (cardinality(tags) > 20 OR EXISTS
        (SELECT 1 FROM unnest(tags) t WHERE t IS NULL OR t !~ '^[a-z0-9][a-z0-9_.:-]{0,39}$')) THEN
        PERFORM nexplane._raise('NX422', 'tags: at most 20, each 1-40 characters of a-z, 0-9, _ . : -');
    END IF;
END
$$;

CREATE FUNCTION nexplane._connector_for(id uuid, lock boolean DEFAULT false)
    RETURNS nexplane.connectors
    LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
#variable_conflict use_variable
DECLARE
    c nexplane.connectors;
BEGIN
    PERFORM nexplane._require_id(id);
    IF lock THEN
        SELECT * INTO c FROM nexplane.connectors x
         WHERE x.tenant_id = nexplane.current_tenant_id() AND x.id = id FOR UPDATE;
    ELSE
        SELECT * INTO c FROM nexplane.connectors x
         WHERE x.tenant_id = nexplane.current_tenant_id() AND x.id = id;
    END IF;
    IF NOT FOUND THEN
        PERFORM nexplane._raise('NX404', format('connector %s not found', id));
    END IF;
    RETURN c;
END
$$;

CREATE FUNCTION nexplane.connector_create(type text, name text, config jsonb DEFAULT '{}',
                                          credential_id uuid DEFAULT NULL,
                                          environment text DEFAULT 'unknown',
                                          tags text[] DEFAULT '{}') RETURNS jsonb
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
#variable_conflict use_variable
DECLARE
    c nexplane.connectors;
BEGIN
    PERFORM nexplane._require_role('admin');
    IF name IS NULL OR length(name) NOT BETWEEN 1 AND 100 THEN
        PERFORM nexplane._raise('NX422', 'name must be 1 to 100 characters');
    END IF;
    PERFORM nexplane._connector_check_config(type, coalesce(config, '{}'));
    PERFORM nexplane._connector_check(type, environment, tags);
    PERFORM nexplane._connector_check_credential(type, credential_id);
    IF EXISTS (SELECT 1 FROM nexplane.connectors x
                WHERE x.tenant_id = nexplane.current_tenant_id() AND x.name = name) THEN
        PERFORM nexplane._raise('NX409', format('a connector named %s exists', name));
    END IF;
    INSERT INTO nexplane.connectors (tenant_id, type, name, config, credential_id, owner_id,
                                     environment, tags)
    VALUES (nexplane.current_tenant_id(), type, name, coalesce(config, '{}'), credential_id,
            nexplane.current_user_id(), coalesce(environment, 'unknown'), coalesce(tags, '{}'))
    RETURNING * INTO c;
    RETURN nexplane._connector_json(c);
END
$$;

-- connector_update: NULL leaves a field as it is; status is active or disabled.
CREATE FUNCTION nexplane.connector_update(id uuid, name text DEFAULT NULL, config jsonb DEFAULT NULL,
                                          credential_id uuid DEFAULT NULL,
                                          environment text DEFAULT NULL, tags text[] DEFAULT NULL,
                                          status text DEFAULT NULL) RETURNS jsonb
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
#variable_conflict use_variable
DECLARE
    c nexplane.connectors;
BEGIN
    PERFORM nexplane._require_role('admin');
    c := nexplane._connector_for(id, true);
    IF name IS NOT NULL AND length(name) NOT BETWEEN 1 AND 100 THEN
        PERFORM nexplane._raise('NX422', 'name must be 1 to 100 characters');
    END IF;
    IF status IS NOT NULL AND status NOT IN ('active', 'disabled') THEN
        PERFORM nexplane._raise('NX422', 'status must be active or disabled');
    END IF;
    IF config IS NOT NULL THEN
        PERFORM nexplane._connector_check_config(c.type, config);
    END IF;
    PERFORM nexplane._connector_check(c.type, environment, tags);
    IF credential_id IS NOT NULL THEN
        PERFORM nexplane._connector_check_credential(c.type, credential_id);
    END IF;
    IF name IS NOT NULL AND name <> c.name AND EXISTS (SELECT 1 FROM nexplane.connectors x
                WHERE x.tenant_id = c.tenant_id AND x.name = name) THEN
        PERFORM nexplane._raise('NX409', format('a connector named %s exists', name));
    END IF;
    UPDATE nexplane.connectors x
       SET name = coalesce(name, x.name), config = coalesce(config, x.config),
           credential_id = coalesce(credential_id, x.credential_id),
           environment = coalesce(environment, x.environment), tags = coalesce(tags, x.tags),
           status = coalesce(status, x.status),
           -- re-enabling closes the breaker: an admin has looked at it
           failures = CASE WHEN status = 'active' THEN 0 ELSE x.failures END,
           breaker_until = CASE WHEN status = 'active' THEN NULL ELSE x.breaker_until END,
           updated_at = now()
     WHERE x.tenant_id = c.tenant_id AND x.id = c.id
    RETURNING * INTO c;
    RETURN nexplane._connector_json(c);
END
$$;

-- connector_delete: only a connector nothing refers to (no change request,
-- job or schedule: their history stays whole); disable it otherwise.
-- Its discovered assets go with it.
CREATE FUNCTION nexplane.connector_delete(id uuid) RETURNS jsonb
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
#variable_conflict use_variable
DECLARE
    c nexplane.connectors;
BEGIN
    PERFORM nexplane._require_role('admin');
    c := nexplane._connector_for(id, true);
    IF EXISTS (SELECT 1 FROM nexplane.change_requests r
                WHERE r.tenant_id = c.tenant_id AND r.connector_id = c.id)
       OR EXISTS (SELECT 1 FROM nexplane.jobs j
                   WHERE j.tenant_id = c.tenant_id AND j.connector_id = c.id)
       OR EXISTS (SELECT 1 FROM nexplane.schedules s
                   WHERE s.tenant_id = c.tenant_id AND s.connector_id = c.id) THEN
        PERFORM nexplane._raise('NX409', 'this connector has change requests, jobs or schedules',
            NULL, 'Disable it instead: connector_update(id, status => ''disabled'').');
    END IF;
    DELETE FROM nexplane.assets a WHERE a.tenant_id = c.tenant_id AND a.connector_id = c.id;
    DELETE FROM nexplane.connectors x WHERE x.tenant_id = c.tenant_id AND x.id = c.id;
    RETURN nexplane._connector_json(c) || '{"deleted": true}';
END
$$;

CREATE FUNCTION nexplane.connector_get(id uuid) RETURNS jsonb
    LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    PERFORM nexplane._require_auth();
    RETURN nexplane._connector_json(nexplane._connector_for(id));
END
$$;

CREATE FUNCTION nexplane.connector_list() RETURNS jsonb
    LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
    SELECT nexplane._require_auth();
    SELECT coalesce(jsonb_agg(nexplane._connector_json(c) ORDER BY c.name), '[]')
      FROM nexplane.connectors c WHERE c.tenant_id = nexplane.current_tenant_id();
$$;

-- connector_test(id), connector_discover(id): queue the job; the answer is
-- the job (poll job_get, or watch the event stream).  Idempotent kinds are
-- retried with backoff: max_attempts 3.
CREATE FUNCTION nexplane._connector_job(id uuid, kind text) RETURNS jsonb
    LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
#variable_conflict use_variable
DECLARE
    c nexplane.connectors;
    j nexplane.jobs;
BEGIN
    PERFORM nexplane._require_role('admin', 'operator');
    c := nexplane._connector_for(id);
    IF c.status = 'disabled' THEN
        PERFORM nexplane._raise('NX409', format('connector %s is disabled', id));
    END IF;
    INSERT INTO nexplane.jobs (tenant_id, kind, connector_id, max_attempts)
    VALUES (c.tenant_id, kind, c.id, 3) RETURNING * INTO j;
    RETURN nexplane._job_json(j);
END
$$;

CREATE FUNCTION nexplane.connector_test(id uuid) RETURNS jsonb
    LANGUAGE sql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
    SELECT nexplane._connector_job(id, 'test_connection');
$$;

CREATE FUNCTION nexplane.connector_discover(id uuid) RETURNS jsonb
    LANGUAGE sql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
    SELECT nexplane._connector_job(id, 'discover');
$$;

-- Assets, as discovery left them.
CREATE FUNCTION nexplane._asset_json(a nexplane.assets) RETURNS jsonb
    LANGUAGE sql IMMUTABLE SET search_path = pg_catalog, pg_temp AS $$
    SELECT jsonb_build_object('id', a.id, 'connector_id', a.connector_id, 'kind', a.kind,
        'external_id', a.external_id, 'name', a.name, 'environment', a.environment,
        'tags', to_jsonb(a.tags), 'attributes', a.attributes,
        'discovered_at', a.discovered_at, 'last_seen_at', a.last_seen_at)
$$;

CREATE FUNCTION nexplane.asset_get(id uuid) RETURNS jsonb
    LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
#variable_conflict use_variable
DECLARE
    a nexplane.assets;
BEGIN
    PERFORM nexplane._require_auth();
    PERFORM nexplane._require_id(id);
    SELECT * INTO a FROM nexplane.assets x
     WHERE x.tenant_id = nexplane.current_tenant_id() AND x.id = id;
    IF NOT FOUND THEN
        PERFORM nexplane._raise('NX404', format('asset %s not found', id));
    END IF;
    RETURN nexplane._asset_json(a);
END
$$;

-- asset_list(filter): {"connector_id", "kind", "environment", "limit" (<= 500)}
CREATE FUNCTION nexplane.asset_list(filter jsonb DEFAULT '{}') RETURNS jsonb
    LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    f jsonb := coalesce(filter, '{}');
    lim integer;
BEGIN
    PERFORM nexplane._require_auth();
    lim := nexplane._filter_limit(f, ARRAY['connector_id', 'kind', 'environment'], 100, 500);
    BEGIN
        PERFORM (f->>'connector_id')::uuid;
    EXCEPTION WHEN data_exception THEN
        PERFORM nexplane._raise('NX400', 'invalid filter value', SQLERRM);
    END;
    RETURN (SELECT coalesce(jsonb_agg(nexplane._asset_json(a) ORDER BY a.name, a.id), '[]')
              FROM (SELECT * FROM nexplane.assets a
                     WHERE a.tenant_id = nexplane.current_tenant_id()
                       AND (f->>'connector_id' IS NULL
                            OR a.connector_id = (f->>'connector_id')::uuid)
                       AND (f->>'kind' IS NULL OR a.kind = f->>'kind')
                       AND (f->>'environment' IS NULL OR a.environment = f->>'environment')
                     ORDER BY a.name, a.id LIMIT lim) a);
END
$$;
