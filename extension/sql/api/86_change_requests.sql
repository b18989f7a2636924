-- Change requests: the API over the C state machine (state_machine.c),
-- creation (cr_create.c) and risk (risk.c).

-- The definition of a change request's document, read by cr_get
-- (cr_read.c) and cr_list.  The writes' answers (cr_create.c,
-- state_machine.c) are built in C from the row they wrote, as this builds
-- it (cr_document.c: a change here is a change there; the cr_document
-- suite compares the two), except those of change requests with approvals,
-- which read this view.
-- A view, so that its expression is planned once into each caller's cached
-- plan (a SQL function with SET search_path is parsed and planned again on
-- every call).  security_invoker: it grants nothing; the callers run as
-- nexplane_owner, which forced RLS binds to the current tenant.  The
-- columns beside doc are the ones cr_list filters and orders on.
CREATE VIEW nexplane.change_request_documents WITH (security_invoker = true) AS
SELECT c.tenant_id, c.id, c.created_at, c.state, c.risk_level, c.connector_id, c.requester_id,
       -- Every column but tenant_id (the cr_document suite checks that none is
       -- missing), built in one pass: to_jsonb(c), two deletes and a concat
       -- cost twice as much.  rollback_state is for those who may roll back
       -- or approve it, not viewers.
       jsonb_build_object(
           'id', c.id, 'connector_id', c.connector_id, 'change_type', c.change_type,
           'params', c.params, 'title', c.title, 'description', c.description,
           'state', c.state, 'requester_id', c.requester_id, 'risk_score', c.risk_score,
           'risk_level', c.risk_level, 'risk_factors', c.risk_factors,
           'asset_ids', c.asset_ids, 'scheduled_for', c.scheduled_for,
           'idempotency_key', c.idempotency_key, 'result', c.result,
           'rollback_state', c.rollback_state, 'error', c.error, 'version', c.version,
           'created_at', c.created_at, 'updated_at', c.updated_at,
           'submitted_at', c.submitted_at, 'executed_at', c.executed_at,
           'completed_at', c.completed_at, 'rollback_of', c.rollback_of,
           'approvals', (SELECT coalesce(jsonb_agg(jsonb_build_object(
                             'approver_id', a.approver_id, 'decision', a.decision,
                             'role', a.approver_role, 'comment', a.comment,
                             'created_at', a.created_at) ORDER BY a.created_at), '[]')
                           FROM nexplane.approvals a
                          WHERE a.tenant_id = c.tenant_id AND a.change_request_id = c.id),
           'cursor', to_char(c.created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')
                     || '/' || c.id)
       - CASE WHEN nexplane._role_in(nexplane.current_role(), 'operator', 'approver')
              THEN '' ELSE 'rollback_state' END AS doc
  FROM nexplane.change_requests c;

-- A stored row's document (its key is all it reads of c).
CREATE FUNCTION nexplane._cr_json(c nexplane.change_requests) RETURNS jsonb
    LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
    SELECT d.doc FROM nexplane.change_request_documents d
     WHERE d.tenant_id = c.tenant_id AND d.id = c.id
$$;

CREATE FUNCTION nexplane.cr_create(connector_id uuid, change_type text, params jsonb,
                                   title text, description text DEFAULT NULL,
                                   asset_ids uuid[] DEFAULT '{}',
                                   scheduled_for timestamptz DEFAULT NULL,
                                   idempotency_key text DEFAULT NULL) RETURNS jsonb
    AS 'MODULE_PATHNAME', 'nx_cr_create' LANGUAGE C VOLATILE
    SECURITY DEFINER SET search_path = pg_catalog, pg_temp;
CREATE FUNCTION nexplane.cr_submit(id uuid) RETURNS jsonb
    AS 'MODULE_PATHNAME', 'nx_cr_submit' LANGUAGE C VOLATILE
    SECURITY DEFINER SET search_path = pg_catalog, pg_temp;
CREATE FUNCTION nexplane.cr_approve(id uuid, comment text DEFAULT NULL) RETURNS jsonb
    AS 'MODULE_PATHNAME', 'nx_cr_approve' LANGUAGE C VOLATILE
    SECURITY DEFINER SET search_path = pg_catalog, pg_temp;
CREATE FUNCTION nexplane.cr_reject(id uuid, reason text) RETURNS jsonb
    AS 'MODULE_PATHNAME', 'nx_cr_reject' LANGUAGE C VOLATILE
    SECURITY DEFINER SET search_path = pg_catalog, pg_temp;
CREATE FUNCTION nexplane.cr_cancel(id uuid, reason text DEFAULT NULL) RETURNS jsonb
    AS 'MODULE_PATHNAME', 'nx_cr_cancel' LANGUAGE C VOLATILE
    SECURITY DEFINER SET search_path = pg_catalog, pg_temp;
CREATE FUNCTION nexplane.cr_execute(id uuid) RETURNS jsonb
    AS 'MODULE_PATHNAME', 'nx_cr_execute' LANGUAGE C VOLATILE
    SECURITY DEFINER SET search_path = pg_catalog, pg_temp;
CREATE FUNCTION nexplane.risk_score(connector_id uuid, change_type text,
                                    asset_ids uuid[] DEFAULT '{}',
                                    scheduled_for timestamptz DEFAULT NULL,
                                    params jsonb DEFAULT NULL) RETURNS jsonb
    AS 'MODULE_PATHNAME', 'nx_risk_score' LANGUAGE C VOLATILE
    SECURITY DEFINER SET search_path = pg_catalog, pg_temp;

-- Why a scheduled change must not start now, or NULL: its time has come,
-- but a freeze or change window may have been set since it was approved
-- (enforced ones are checked at the moment it would run, not at the
-- scheduled time cr_execute saw), or an approval may no longer count (its
-- approver disabled since).  The worker fails such a change without
-- touching the target.
CREATE FUNCTION nexplane._cr_start_refusal(tenant uuid, cr_id uuid) RETURNS text
    LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    cr nexplane.change_requests;
    required jsonb;
    given jsonb;
    why text;
BEGIN
    SELECT * INTO cr FROM nexplane.change_requests c WHERE c.tenant_id = tenant AND c.id = cr_id;
    IF NOT FOUND THEN
        RETURN 'the change request does not exist';
    END IF;
    cr.scheduled_for := now();
    SELECT string_agg(v->>'message', '; ') INTO why
      FROM jsonb_array_elements(nexplane._policy_violations(cr, 'execute')) v
     WHERE v->>'mode' = 'enforce' AND v->>'kind' IN ('freeze_window', 'change_window');
    IF why IS NOT NULL THEN
        RETURN 'not started at its scheduled time, and nothing was changed: ' || why;
    END IF;
    required := nexplane._required_approvals(cr);
    given := nexplane._approvals_given(cr);
    IF (given->>'count')::int < (required->>'count')::int
       OR ((required->>'admin')::boolean AND NOT (given->>'admin')::boolean) THEN
        RETURN format('not started at its scheduled time, and nothing was changed: '
                      '%s approvals still count (an approver was disabled since); it needs %s%s',
                      given->>'count', required->>'count',
                      CASE WHEN (required->>'admin')::boolean THEN ', one of them an admin' ELSE '' END);
    END IF;
    RETURN NULL;
END
$$;

-- The worker's transitions: the extension owner and superusers only.
CREATE FUNCTION nexplane._cr_start(tenant_id uuid, id uuid) RETURNS jsonb
    AS 'MODULE_PATHNAME', 'nx_cr_start' LANGUAGE C VOLATILE
    SECURITY DEFINER SET search_path = pg_catalog, pg_temp;
CREATE FUNCTION nexplane._cr_complete(tenant_id uuid, id uuid, result jsonb DEFAULT NULL,
                                      rollback_state jsonb DEFAULT NULL) RETURNS jsonb
    AS 'MODULE_PATHNAME', 'nx_cr_complete' LANGUAGE C VOLATILE
    SECURITY DEFINER SET search_path = pg_catalog, pg_temp;
CREATE FUNCTION nexplane._cr_rollback_start(tenant_id uuid, id uuid) RETURNS jsonb
    AS 'MODULE_PATHNAME', 'nx_cr_rollback_start' LANGUAGE C VOLATILE
    SECURITY DEFINER SET search_path = pg_catalog, pg_temp;
CREATE FUNCTION nexplane._cr_fail(tenant_id uuid, id uuid, error text) RETURNS jsonb
    AS 'MODULE_PATHNAME', 'nx_cr_fail' LANGUAGE C VOLATILE
    SECURITY DEFINER SET search_path = pg_catalog, pg_temp;
CREATE FUNCTION nexplane._cr_rollback_complete(tenant_id uuid, id uuid, result jsonb DEFAULT NULL)
    RETURNS jsonb
    AS 'MODULE_PATHNAME', 'nx_cr_rollback_complete' LANGUAGE C VOLATILE
    SECURITY DEFINER SET search_path = pg_catalog, pg_temp;
CREATE FUNCTION nexplane._cr_rollback_fail(tenant_id uuid, id uuid, error text) RETURNS jsonb
    AS 'MODULE_PATHNAME', 'nx_cr_rollback_fail' LANGUAGE C VOLATILE
    SECURITY DEFINER SET search_path = pg_catalog, pg_temp;

-- The state machine's invariants hold for direct DML too.
CREATE FUNCTION nexplane._cr_state_guard() RETURNS trigger
    AS 'MODULE_PATHNAME', 'nx_cr_state_guard' LANGUAGE C;
CREATE TRIGGER state_guard BEFORE INSERT OR UPDATE OR DELETE ON nexplane.change_requests
    FOR EACH ROW EXECUTE FUNCTION nexplane._cr_state_guard();

CREATE FUNCTION nexplane._approval_guard() RETURNS trigger
    LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    IF TG_OP <> 'INSERT' THEN
        RAISE EXCEPTION USING ERRCODE = 'NX403', MESSAGE = 'approvals are never changed or removed';
    END IF;
    IF EXISTS (SELECT 1 FROM nexplane.change_requests c
                WHERE c.tenant_id = NEW.tenant_id AND c.id = NEW.change_request_id
                  AND c.requester_id = NEW.approver_id) THEN
        RAISE EXCEPTION USING ERRCODE = 'NX403',
            MESSAGE = 'a requester never decides on their own change request';
    END IF;
    RETURN NEW;
END
$$;
CREATE TRIGGER approval_guard BEFORE INSERT OR UPDATE OR DELETE ON nexplane.approvals
    FOR EACH ROW EXECUTE FUNCTION nexplane._approval_guard();
-- in session_replication_role = replica too
ALTER TABLE nexplane.change_requests ENABLE ALWAYS TRIGGER state_guard;
ALTER TABLE nexplane.approvals ENABLE ALWAYS TRIGGER approval_guard;

-- cr_get(id): one change request, by primary key, in C (cr_read.c).
CREATE FUNCTION nexplane.cr_get(id uuid) RETURNS jsonb
    AS 'MODULE_PATHNAME', 'nx_cr_get' LANGUAGE C STABLE
    SECURITY DEFINER SET search_path = pg_catalog, pg_temp;

-- cr_list(filter): newest first, keyset-paginated.  Filter keys: state,
-- connector_id, requester_id, risk_level, limit (1 to 200, default 50) and
-- after (the "cursor" of the last item of the previous page).  One
-- statement per index that can serve the page (state, connector, neither),
-- each planned once per session (force_generic_plan: no planning per call)
-- with its key and the cursor in the index condition, so a page reads its
-- rows and stops; the other filters are checked on the rows read.
CREATE FUNCTION nexplane.cr_list(filter jsonb DEFAULT '{}') RETURNS jsonb
    LANGUAGE plpgsql STABLE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp SET plan_cache_mode = force_generic_plan AS $$
DECLARE
    f jsonb := coalesce(filter, '{}');
    lim integer;
    st text := f->>'state';
    rl text := f->>'risk_level';
    cn uuid;
    rq uuid;
    -- before the first page: after everything
    after_at timestamptz := 'infinity';
    after_id uuid := 'ffffffff-ffff-ffff-ffff-ffffffffffff';
    t uuid;
    result jsonb;
BEGIN
    PERFORM nexplane._require_auth();
    t := nexplane.current_tenant_id();
    lim := nexplane._filter_limit(f, ARRAY['state', 'connector_id', 'requester_id',
                                           'risk_level', 'after'], 50, 200);
    BEGIN
        cn := (f->>'connector_id')::uuid;
        rq := (f->>'requester_id')::uuid;
        IF f ? 'after' THEN
            after_at := split_part(f->>'after', '/', 1)::timestamptz;
            after_id := split_part(f->>'after', '/', 2)::uuid;
        END IF;
    EXCEPTION WHEN data_exception THEN
        PERFORM nexplane._raise('NX400', 'invalid filter value', SQLERRM);
    END;
    IF st IS NOT NULL THEN
        SELECT coalesce(jsonb_agg(c.doc ORDER BY c.created_at DESC, c.id DESC), '[]') INTO result
          FROM (SELECT c.created_at, c.id, c.doc FROM nexplane.change_request_documents c
                 WHERE c.tenant_id = t AND c.state = st
                   AND (c.created_at, c.id) < (after_at, after_id)
                   AND (rl IS NULL OR c.risk_level = rl)
                   AND (cn IS NULL OR c.connector_id = cn)
                   AND (rq IS NULL OR c.requester_id = rq)
                 ORDER BY c.created_at DESC, c.id DESC LIMIT lim) c;
    ELSIF cn IS NOT NULL THEN
        SELECT coalesce(jsonb_agg(c.doc ORDER BY c.created_at DESC, c.id DESC), '[]') INTO result
          FROM (SELECT c.created_at, c.id, c.doc FROM nexplane.change_request_documents c
                 WHERE c.tenant_id = t AND c.connector_id = cn
                   AND (c.created_at, c.id) < (after_at, after_id)
                   AND (rl IS NULL OR c.risk_level = rl)
                   AND (rq IS NULL OR c.requester_id = rq)
                 ORDER BY c.created_at DESC, c.id DESC LIMIT lim) c;
    ELSE
        SELECT coalesce(jsonb_agg(c.doc ORDER BY c.created_at DESC, c.id DESC), '[]') INTO result
          FROM (SELECT c.created_at, c.id, c.doc FROM nexplane.change_request_documents c
                 WHERE c.tenant_id = t
                   AND (c.created_at, c.id) < (after_at, after_id)
                   AND (rl IS NULL OR c.risk_level = rl)
                   AND (rq IS NULL OR c.requester_id = rq)
                 ORDER BY c.created_at DESC, c.id DESC LIMIT lim) c;
    END IF;
    RETURN result;
END
$$;

CREATE FUNCTION nexplane.cr_events(id uuid) RETURNS jsonb
    LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
#variable_conflict use_variable
BEGIN
    PERFORM nexplane._require_auth();
    PERFORM nexplane._require_id(id);
    IF NOT EXISTS (SELECT 1 FROM nexplane.change_requests c
                    WHERE c.tenant_id = nexplane.current_tenant_id() AND c.id = id) THEN
        PERFORM nexplane._raise('NX404', format('change request %s not found', id));
    END IF;
    -- numbered within the change request: the table's id is a sequence
    -- shared by every tenant, whose gaps would tell another's activity
    RETURN (SELECT coalesce(jsonb_agg(to_jsonb(e) - 'tenant_id' - 'id'
                                      || jsonb_build_object('seq', e.seq) ORDER BY e.seq), '[]')
              FROM (SELECT x.*, row_number() OVER (ORDER BY x.id) AS seq
                      FROM nexplane.change_request_events x
                     WHERE x.tenant_id = nexplane.current_tenant_id()
                       AND x.change_request_id = id) e);
END
$$;

-- cr_rollback(id, reason): a rollback is a change too.  It asks for a new
-- change request (rollback_of = id) of the same connector, change type and
-- parameters, submitted at once: scored at the same class, needing the
-- approvals of that class and obeying freeze and change windows like any
-- change, then executed by someone (cr_execute).  When it runs, the
-- connector's rollback undoes what id's execution stored; id moves to
-- rolling_back, then rolled_back or rollback_failed.  One open rollback
-- per change; a rollback itself is not rolled back.
CREATE FUNCTION nexplane.cr_rollback(id uuid, reason text DEFAULT NULL) RETURNS jsonb
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
#variable_conflict use_variable
DECLARE
    o nexplane.change_requests;
    rb uuid;
BEGIN
    PERFORM nexplane._require_role('admin', 'operator');
    PERFORM nexplane._require_id(id);
    IF length(reason) > 2000 THEN
        PERFORM nexplane._raise('NX422', 'reason is at most 2000 characters');
    END IF;
    SELECT * INTO o FROM nexplane.change_requests c
     WHERE c.tenant_id = nexplane.current_tenant_id() AND c.id = id FOR UPDATE;
    IF NOT FOUND THEN
        PERFORM nexplane._raise('NX404', format('change request %s not found', id));
    END IF;
    IF o.state NOT IN ('completed', 'failed') THEN
        PERFORM nexplane._raise('NX409', format('change request %s cannot rollback', id),
            format('It is in state "%s".', o.state),
            'Only a completed or failed change is rolled back.');
    END IF;
    IF o.rollback_of IS NOT NULL THEN
        PERFORM nexplane._raise('NX409', 'a rollback is not rolled back', NULL,
            'Request the original change again instead.');
    END IF;
    IF NOT coalesce((SELECT (t->>'rollback')::boolean
                       FROM nexplane.connectors n,
                            jsonb_array_elements(nexplane._connector_types()) ct,
                            jsonb_array_elements(ct->'change_types') t
                      WHERE n.tenant_id = o.tenant_id AND n.id = o.connector_id
                        AND ct->>'type' = n.type AND t->>'name' = o.change_type), false) THEN
        PERFORM nexplane._raise('NX409', format('a %s cannot be rolled back', o.change_type));
    END IF;
    IF o.rollback_state IS NULL AND o.error LIKE 'outcome unknown%' THEN
        -- a lost change's recovery says whether it dropped the rollback
        -- state stored before execute (the target showed the change had
        -- not landed), or found none stored
        IF (SELECT e.content->>'rollback_state' FROM nexplane.evidence e
             WHERE e.tenant_id = o.tenant_id AND e.change_request_id = o.id
               AND e.kind = 'recovery_verification'
             ORDER BY e.created_at DESC LIMIT 1) = 'dropped' THEN
            PERFORM nexplane._raise('NX409', format('change request %s has nothing to roll back', id),
                'Its worker was lost during the change, and the recovery found the target as it '
                'was before the change: it did not land, so there is nothing to undo.',
                'Its verification (in evidence_list) shows what the target is now; request the '
                'change again if it is still wanted.');
        END IF;
        PERFORM nexplane._raise('NX409', format('change request %s has nothing to roll back', id),
            'Its worker was lost during the change, and nothing was stored that a rollback needs '
            '(lost before its pre-check was done, or its connector gives it only from execute); '
            'its verification (in evidence_list) shows what the target is now.',
            'If the change did land, request the opposite change as a change request of its own.');
    END IF;
    IF o.rollback_state IS NULL THEN
        PERFORM nexplane._raise('NX409', format('change request %s has nothing to roll back', id),
            'Its execution stored no rollback state: its execute did not succeed, or it left '
            'nothing that could be restored.',
            'Its evidence (evidence_list) shows what each step saw on the target.');
    END IF;
    IF EXISTS (SELECT 1 FROM nexplane.change_requests r
                WHERE r.tenant_id = o.tenant_id AND r.rollback_of = o.id
                  AND r.state NOT IN ('rejected', 'cancelled', 'failed')) THEN
        PERFORM nexplane._raise('NX409', format('change request %s already has a rollback', id));
    END IF;
    rb := (nexplane.cr_create(o.connector_id, o.change_type, o.params,
                              left('Roll back: ' || o.title, 200),
                              coalesce(reason, format('Rollback of change request %s', o.id)),
                              o.asset_ids)->>'id')::uuid;
    UPDATE nexplane.change_requests c SET rollback_of = o.id
     WHERE c.tenant_id = o.tenant_id AND c.id = rb;
    RETURN nexplane.cr_submit(rb);
END
$$;
