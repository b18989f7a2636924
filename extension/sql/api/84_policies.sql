-- Policies: approvals per risk level, freeze windows, change windows and
-- blast-radius limits, each enforced or only warned about, for the whole
-- tenant, one connector or one asset.

CREATE FUNCTION nexplane._freeze_hit(spec jsonb, at timestamptz) RETURNS boolean
    LANGUAGE sql IMMUTABLE SET search_path = pg_catalog, pg_temp AS $$
    SELECT at >= (spec->>'from')::timestamptz AND at < (spec->>'until')::timestamptz
$$;

-- Outside the allowed days (ISO, 1 = Monday) and hours, in the window's zone.
CREATE FUNCTION nexplane._window_miss(spec jsonb, at timestamptz) RETURNS boolean
    LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
    SELECT NOT (extract(isodow FROM at AT TIME ZONE (spec->>'timezone'))::int IN
                    (SELECT jsonb_array_elements_text(spec->'days')::int)
                AND (at AT TIME ZONE (spec->>'timezone'))::time >= (spec->>'start')::time
                AND (at AT TIME ZONE (spec->>'timezone'))::time < (spec->>'end')::time)
$$;

-- The helpers below run in every transition (state_machine.c) and are
-- PL/pgSQL, whose statements are planned once per session: a SQL function
-- with SET search_path is parsed and planned again at every call.  For
-- the same reason each writes out whether policy p governs the change (a
-- tenant policy, or one on its connector or on one of its assets); risk.c
-- has the same predicate (nx_policy_hit).

-- Approvals a change needs: the strictest enforced approvals policy that
-- applies, or the defaults 0/1/2/2 with an admin among them for critical.
-- C (policy_scope.c), the one definition: submit calls it at the level it
-- is about to store, without a statement.
CREATE FUNCTION nexplane._required_approvals(cr nexplane.change_requests) RETURNS jsonb
    AS 'MODULE_PATHNAME', 'nx_required_approvals_sql' LANGUAGE C STABLE
    SET search_path = pg_catalog, pg_temp;

-- Approvals given: how many, and whether an admin is among them.  An
-- approval by a user disabled since no longer counts.
CREATE FUNCTION nexplane._approvals_given(cr nexplane.change_requests) RETURNS jsonb
    LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    RETURN (SELECT jsonb_build_object('count', count(*),
                              'admin', coalesce(bool_or(nexplane._role_in(a.approver_role, 'admin')), false))
      FROM nexplane.approvals a
      JOIN nexplane.users u ON u.tenant_id = a.tenant_id AND u.id = a.approver_id
     WHERE a.tenant_id = cr.tenant_id AND a.change_request_id = cr.id AND a.decision = 'approve'
       AND u.status = 'active');
END
$$;

-- Every applicable policy the change breaks at this phase ('submit' or
-- 'execute'), enforced or warned: [{policy_id, kind, mode, message}].
-- At submit only max_blast_radius is checked: state_machine.c skips the
-- call for a tenant with no policy of the kinds in its submit_policy_kinds,
-- which must name any kind this checks at submit.
CREATE FUNCTION nexplane._policy_violations(cr nexplane.change_requests, phase text)
    RETURNS jsonb LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    RETURN (SELECT coalesce(jsonb_agg(jsonb_build_object('policy_id', p.id, 'kind', p.kind,
                                                 'mode', p.mode, 'message', v.message)
                              ORDER BY p.created_at, p.id), '[]')
      FROM nexplane.policies p
     CROSS JOIN LATERAL (SELECT CASE
        WHEN p.kind = 'max_blast_radius'
             AND cardinality(cr.asset_ids) > (p.spec->>'max_assets')::int
            THEN format('the change touches %s assets; at most %s are allowed',
                        cardinality(cr.asset_ids), p.spec->>'max_assets')
        WHEN phase = 'execute' AND p.kind = 'freeze_window'
             AND nexplane._freeze_hit(p.spec, coalesce(cr.scheduled_for, now()))
            THEN format('a change freeze is in effect until %s%s', p.spec->>'until',
                        coalesce(': ' || (p.spec->>'reason'), ''))
        WHEN phase = 'execute' AND p.kind = 'change_window'
             AND nexplane._window_miss(p.spec, coalesce(cr.scheduled_for, now()))
            THEN format('outside the change window (days %s, %s-%s %s)', p.spec->'days',
                        p.spec->>'start', p.spec->>'end', p.spec->>'timezone')
        WHEN phase = 'execute' AND p.kind = 'approvals' AND p.mode = 'warn'
             AND (nexplane._approvals_given(cr)->>'count')::int
                 < coalesce((p.spec->>cr.risk_level)::int, 0)
            THEN format('%s approvals given; the policy asks for %s',
                        nexplane._approvals_given(cr)->>'count', p.spec->>cr.risk_level)
        END AS message) v
     WHERE p.tenant_id = cr.tenant_id AND v.message IS NOT NULL
       AND (p.target_type = 'tenant'
            OR (p.target_type = 'connector' AND p.target_id = cr.connector_id)
            OR (p.target_type = 'asset' AND p.target_id = ANY (cr.asset_ids))));
END
$$;

-- A policy's spec, checked per kind; raises NX422 with what is wrong.
CREATE FUNCTION nexplane._policy_check_spec(kind text, spec jsonb) RETURNS void
    LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    k text;
    problem text;
BEGIN
    IF spec IS NULL OR jsonb_typeof(spec) <> 'object' THEN
        PERFORM nexplane._raise('NX422', 'spec must be a JSON object');
    END IF;
    BEGIN
        CASE kind
        WHEN 'approvals' THEN
            FOR k IN SELECT jsonb_object_keys(spec) LOOP
                IF k IN ('low', 'medium', 'high', 'critical') THEN
                    IF (spec->>k)::int NOT BETWEEN 0 AND 10 THEN
                        problem := k || ' must be between 0 and 10';
                    END IF;
                ELSIF k = 'admin_for_critical' THEN
                    PERFORM (spec->>k)::boolean;
                ELSE
                    problem := 'unknown key ' || k;
                END IF;
            END LOOP;
        WHEN 'freeze_window' THEN
            IF (spec->>'from')::timestamptz IS NULL OR (spec->>'until')::timestamptz IS NULL
               OR (spec->>'until')::timestamptz <= (spec->>'from')::timestamptz THEN
                problem := 'from and until are timestamps, until after from';
            END IF;
        WHEN 'change_window' THEN
            PERFORM now() AT TIME ZONE (spec->>'timezone');
            IF spec->>'timezone' IS NULL OR (spec->>'start')::time IS NULL
               OR (spec->>'end')::time IS NULL OR (spec->>'end')::time <= (spec->>'start')::time
               OR jsonb_typeof(spec->'days') <> 'array' OR jsonb_array_length(spec->'days') = 0
               OR EXISTS (SELECT 1 FROM jsonb_array_elements_text(spec->'days') d
                           WHERE d::int NOT BETWEEN 1 AND 7) THEN
                problem := 'timezone, days (1 = Monday to 7), start and end (HH:MM, end after start) are required';
            END IF;
        WHEN 'max_blast_radius' THEN
            IF (spec->>'max_assets')::int IS NULL OR (spec->>'max_assets')::int < 1 THEN
                problem := 'max_assets must be a positive integer';
            END IF;
        END CASE;
    EXCEPTION WHEN data_exception OR invalid_parameter_value THEN
        problem := SQLERRM;
    END;
    IF problem IS NOT NULL THEN
        PERFORM nexplane._raise('NX422', format('invalid %s policy', kind), problem);
    END IF;
END
$$;

CREATE FUNCTION nexplane._policy_json(p nexplane.policies) RETURNS jsonb
    LANGUAGE sql IMMUTABLE SET search_path = pg_catalog, pg_temp AS $$
    SELECT jsonb_build_object('id', p.id, 'kind', p.kind, 'target_type', p.target_type,
        'target_id', p.target_id, 'mode', p.mode, 'spec', p.spec,
        'created_by', p.created_by, 'created_at', p.created_at)
$$;

CREATE FUNCTION nexplane.policy_create(kind text, target_type text DEFAULT 'tenant',
                                       target_id uuid DEFAULT NULL, mode text DEFAULT 'enforce',
                                       spec jsonb DEFAULT NULL) RETURNS jsonb
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
#variable_conflict use_variable
DECLARE
    p nexplane.policies;
BEGIN
    PERFORM nexplane._require_role('admin');
    IF kind IS NULL OR kind NOT IN ('approvals', 'freeze_window', 'change_window',
                                    'max_blast_radius') THEN
        PERFORM nexplane._raise('NX422', 'invalid policy kind', NULL,
            'Use approvals, freeze_window, change_window or max_blast_radius.');
    END IF;
    target_type := coalesce(target_type, 'tenant');
    mode := coalesce(mode, 'enforce');
    IF target_type NOT IN ('tenant', 'connector', 'asset') THEN
        PERFORM nexplane._raise('NX422', 'target_type must be tenant, connector or asset');
    END IF;
    IF mode NOT IN ('enforce', 'warn') THEN
        PERFORM nexplane._raise('NX422', 'mode must be enforce or warn');
    END IF;
    IF (target_type = 'tenant') <> (target_id IS NULL) THEN
        PERFORM nexplane._raise('NX422', 'a tenant policy has no target_id; the others need one');
    END IF;
    IF target_type = 'connector' AND NOT EXISTS (SELECT 1 FROM nexplane.connectors c
            WHERE c.tenant_id = nexplane.current_tenant_id() AND c.id = target_id) THEN
        PERFORM nexplane._raise('NX404', format('connector %s not found', target_id));
    END IF;
    IF target_type = 'asset' AND NOT EXISTS (SELECT 1 FROM nexplane.assets a
            WHERE a.tenant_id = nexplane.current_tenant_id() AND a.id = target_id) THEN
        PERFORM nexplane._raise('NX404', format('asset %s not found', target_id));
    END IF;
    PERFORM nexplane._policy_check_spec(kind, spec);
    INSERT INTO nexplane.policies AS x (tenant_id, kind, target_type, target_id, mode, spec,
                                        created_by)
    VALUES (nexplane.current_tenant_id(), kind, target_type, target_id, mode, spec,
            nexplane.current_user_id())
    RETURNING x.* INTO p;
    RETURN nexplane._policy_json(p);
END
$$;

CREATE FUNCTION nexplane.policy_list() RETURNS jsonb
    LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
    SELECT nexplane._require_auth();
    SELECT coalesce(jsonb_agg(nexplane._policy_json(p) ORDER BY p.created_at, p.id), '[]')
      FROM nexplane.policies p WHERE p.tenant_id = nexplane.current_tenant_id();
$$;

CREATE FUNCTION nexplane.policy_delete(id uuid) RETURNS jsonb
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
#variable_conflict use_variable
DECLARE
    p nexplane.policies;
BEGIN
    PERFORM nexplane._require_role('admin');
    PERFORM nexplane._require_id(id);
    DELETE FROM nexplane.policies x
     WHERE x.tenant_id = nexplane.current_tenant_id() AND x.id = id
    RETURNING x.* INTO p;
    IF NOT FOUND THEN
        PERFORM nexplane._raise('NX404', format('policy %s not found', id));
    END IF;
    RETURN nexplane._policy_json(p) || '{"deleted": true}';
END
$$;
