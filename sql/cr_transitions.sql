-- The state machine: every action from every state, roles, self-approval,
-- approvals per risk level, the event history, and the table guard.
SELECT id AS acme FROM nexplane.tenants WHERE slug = 'acme' \gset

-- test.cr_in(state): a fresh medium-risk change request (rotate_password by
-- an operator: one approval needed) brought to that state through the API.
CREATE FUNCTION test.cr_in(state text) RETURNS uuid LANGUAGE plpgsql AS $$
DECLARE
    acme uuid := (SELECT id FROM nexplane.tenants WHERE slug = 'acme');
    id uuid;
BEGIN
    PERFORM test.as('op');
    id := (nexplane.cr_create('10000000-0000-0000-0000-000000000001', 'rotate_password',
                              '{}', 'matrix ' || state, NULL, '{}',
                              CASE WHEN state = 'scheduled' THEN '2030-01-16 10:00Z'::timestamptz END)->>'id')::uuid;
    IF state = 'draft' THEN RETURN id; END IF;
    IF state = 'cancelled' THEN PERFORM nexplane.cr_cancel(id); RETURN id; END IF;
    PERFORM nexplane.cr_submit(id);
    IF state = 'pending_approval' THEN RETURN id; END IF;
    PERFORM test.as('appr');
    IF state = 'rejected' THEN PERFORM nexplane.cr_reject(id, 'not now'); RETURN id; END IF;
    PERFORM nexplane.cr_approve(id, 'fine');
    IF state = 'approved' THEN RETURN id; END IF;
    PERFORM test.as('op');
    PERFORM nexplane.cr_execute(id);
    IF state IN ('scheduled', 'executing') THEN RETURN id; END IF;
    IF state = 'failed' THEN
        PERFORM nexplane._cr_fail(acme, id, 'connection refused');
        RETURN id;
    END IF;
    PERFORM nexplane._cr_complete(acme, id, '{"rotated": true}', '{"previous": "kept"}');
    IF state = 'completed' THEN RETURN id; END IF;
    -- its rollback (a change request of its own) started running
    PERFORM nexplane._cr_rollback_start(acme, id);
    IF state = 'rolling_back' THEN RETURN id; END IF;
    IF state = 'rolled_back' THEN
        PERFORM nexplane._cr_rollback_complete(acme, id, '{"restored": true}');
    ELSE
        PERFORM nexplane._cr_rollback_fail(acme, id, 'restore failed');
    END IF;
    RETURN id;
END
$$;

-- Try one action on a request in one state; 'state -> new state' or the error.
CREATE FUNCTION test.try_action(state text, action text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
    acme uuid := (SELECT id FROM nexplane.tenants WHERE slug = 'acme');
    id uuid := test.cr_in(state);
    r jsonb;
BEGIN
    PERFORM test.as(CASE WHEN action IN ('approve', 'reject') THEN 'appr' ELSE 'op' END);
    r := CASE action
        WHEN 'submit' THEN nexplane.cr_submit(id)
        WHEN 'approve' THEN nexplane.cr_approve(id)
        WHEN 'reject' THEN nexplane.cr_reject(id, 'no')
        WHEN 'cancel' THEN nexplane.cr_cancel(id)
        WHEN 'execute' THEN nexplane.cr_execute(id)
        WHEN 'rollback' THEN nexplane.cr_rollback(id)
        WHEN 'worker:start' THEN nexplane._cr_start(acme, id)
        WHEN 'worker:complete' THEN nexplane._cr_complete(acme, id, '{}')
        WHEN 'worker:fail' THEN nexplane._cr_fail(acme, id, 'x')
        WHEN 'worker:rollback_start' THEN nexplane._cr_rollback_start(acme, id)
        WHEN 'worker:rollback_complete' THEN nexplane._cr_rollback_complete(acme, id, '{}')
        WHEN 'worker:rollback_fail' THEN nexplane._cr_rollback_fail(acme, id, 'x')
    END;
    RETURN '-> ' || (r->>'state');
EXCEPTION WHEN OTHERS THEN
    RETURN SQLSTATE;
END
$$;

BEGIN;
CREATE TEMP TABLE matrix AS
SELECT s.state, a.action, test.try_action(s.state, a.action) AS outcome
  FROM unnest(ARRAY['draft', 'pending_approval', 'approved', 'scheduled', 'executing',
                    'completed', 'failed', 'rejected', 'cancelled', 'rolling_back',
                    'rolled_back', 'rollback_failed']) WITH ORDINALITY s(state, n),
       unnest(ARRAY['submit', 'approve', 'reject', 'cancel', 'execute', 'rollback',
                    'worker:start', 'worker:complete', 'worker:fail', 'worker:rollback_start',
                    'worker:rollback_complete', 'worker:rollback_fail']) WITH ORDINALITY a(action, m)
 ORDER BY s.n, a.m;
COMMIT;
-- Allowed moves, one line per state; every other action answered NX409.
SELECT state, string_agg(action || ' ' || outcome, ', ') FILTER (WHERE outcome LIKE '->%') AS allowed,
       count(*) FILTER (WHERE outcome = 'NX409') AS refused_409,
       count(*) FILTER (WHERE outcome NOT LIKE '->%' AND outcome <> 'NX409') AS other_errors
  FROM matrix GROUP BY state ORDER BY min(ctid);
SELECT count(*) AS attempts FROM matrix;

-- An invalid transition says where the request is and what it may do.
BEGIN;
SELECT test.try(format('SELECT nexplane.cr_approve(%L)', test.cr_in('draft'))) AS approve_a_draft;
SELECT test.as('op');
SELECT test.try(format('SELECT nexplane.cr_rollback(%L)', test.cr_in('rolled_back'))) AS rollback_twice;
COMMIT;
-- The whole error: message, detail and hint.
CREATE FUNCTION test.try_full(q text) RETURNS TABLE (sqlstate text, message text, detail text, hint text)
    LANGUAGE plpgsql AS $$
DECLARE
    d text;
    h text;
BEGIN
    EXECUTE q;
EXCEPTION WHEN OTHERS THEN
    GET STACKED DIAGNOSTICS d = PG_EXCEPTION_DETAIL, h = PG_EXCEPTION_HINT;
    RETURN QUERY SELECT SQLSTATE::text,
        regexp_replace(SQLERRM, '[0-9a-f]{8}-[0-9a-f-]{27}', '<id>'), d, h;
END
$$;
BEGIN;
SELECT test.cr_in('draft') AS draft_id, test.cr_in('executing') AS running_id \gset
SELECT test.as('appr');
SELECT * FROM test.try_full(format('SELECT nexplane.cr_approve(%L)', :'draft_id'));
SELECT * FROM test.try_full(format('SELECT nexplane.cr_approve(%L)', :'running_id'));
ROLLBACK;

-- Roles: who may do what.
BEGIN;
SELECT test.cr_in('draft') AS d, test.cr_in('pending_approval') AS p, test.cr_in('approved') AS a \gset
SELECT test.as('viewer');
SELECT test.try(format('SELECT nexplane.cr_submit(%L)', :'d')) AS viewer_submits;
SELECT test.try(format('SELECT nexplane.cr_approve(%L)', :'p')) AS viewer_approves;
SELECT nexplane.cr_get(:'d')->>'state' AS viewer_reads;
SELECT test.as('op');
SELECT test.try(format('SELECT nexplane.cr_approve(%L)', :'p')) AS operator_approves;
SELECT test.as('appr');
SELECT test.try(format('SELECT nexplane.cr_execute(%L)', :'a')) AS approver_executes;
SELECT test.try(format('SELECT nexplane.cr_reject(%L, NULL)', :'p')) AS reject_without_reason;
SELECT test.try($$SELECT nexplane.cr_approve(NULL)$$) AS null_id;
SELECT test.try($$SELECT nexplane._cr_complete(NULL, NULL)$$) AS worker_null_ids;
COMMIT;
SET ROLE nexplane_api;
SELECT test.try(format('SELECT nexplane._cr_complete(%L, %L)', :'acme', :'a')) AS api_calls_worker;
RESET ROLE;

-- The requester never decides on their own request; one person counts once.
BEGIN;
SELECT test.as('admin');
SELECT c->>'id' AS own, c->>'risk_level' AS level
  FROM nexplane.cr_create('10000000-0000-0000-0000-000000000001', 'rotate_password', '{}',
                          'admin asks', NULL, '{20000000-0000-0000-0000-000000000001}',
                          '2030-01-16 10:00Z') c \gset
SELECT :'level' AS level, nexplane.cr_submit(:'own')->>'state' AS state;
SELECT test.try(format('SELECT nexplane.cr_approve(%L)', :'own')) AS self_approval;
SELECT test.try(format('SELECT nexplane.cr_reject(%L, %L)', :'own', 'hmm')) AS self_rejection;
COMMIT;
SELECT test.try(format($$INSERT INTO nexplane.approvals (tenant_id, change_request_id, approver_id,
                          decision, approver_role) SELECT tenant_id, id, requester_id, 'approve', 'admin'
                          FROM nexplane.change_requests WHERE id = %L$$, :'own')) AS self_approval_by_dml;

-- Approvals per risk level: 0 / 1 / 2 / 2 with an admin for critical.
BEGIN;
SELECT test.as('admin');
SELECT c->>'risk_level' AS level, nexplane.cr_submit((c->>'id')::uuid)->>'state' AS after_submit
  FROM nexplane.cr_create('10000000-0000-0000-0000-000000000001', 'create_role', '{"role": "app"}',
                          'low', NULL, '{}', '2030-01-16 10:00Z') c;
SELECT test.as('op');
SELECT c->>'id' AS high, c->>'risk_level' AS level
  FROM test.cr('rotate_password', '{20000000-0000-0000-0000-000000000001}') c \gset
SELECT :'level' AS level, nexplane.cr_submit(:'high')->>'state' AS after_submit;
SELECT test.as('appr');
SELECT nexplane.cr_approve(:'high')->>'state' AS after_first;
SELECT test.try(format('SELECT nexplane.cr_approve(%L)', :'high')) AS same_person_again;
SELECT test.as('appr2');
SELECT nexplane.cr_approve(:'high')->>'state' AS after_second;
SELECT test.as('op');
SELECT c->>'id' AS crit, c->>'risk_level' AS level
  FROM test.cr('drop_role', (SELECT array_agg(('30000000-0000-0000-0000-' || lpad(i::text, 12, '0'))::uuid)
                                   FROM generate_series(1, 25) i)) c \gset
SELECT :'level' AS level, nexplane.cr_submit(:'crit')->>'state' AS after_submit;
SELECT test.as('appr');
SELECT nexplane.cr_approve(:'crit')->>'state' AS after_approver;
SELECT test.as('appr2');
SELECT nexplane.cr_approve(:'crit')->>'state' AS after_second_approver;
SELECT test.as('admin2');
SELECT nexplane.cr_approve(:'crit')->>'state' AS after_admin;
SELECT jsonb_array_length(nexplane.cr_get(:'crit')->'approvals') AS approvals_recorded;
SELECT test.as('op');
SELECT nexplane.cr_execute(:'crit')->>'state' AS executed;
SELECT e->>'action' AS action, e->>'from_state' AS from_state, e->>'to_state' AS to_state,
       e->>'actor_kind' AS actor
  FROM jsonb_array_elements(nexplane.cr_events(:'crit')) e;
SELECT count(*) AS jobs_queued FROM nexplane.jobs
 WHERE change_request_id = :'crit' AND kind = 'execute_change' AND state = 'queued';
COMMIT;

-- Scheduled requests wait; cancelling one cancels its job.
BEGIN;
SELECT test.cr_in('scheduled') AS sched \gset
SELECT state, run_after FROM nexplane.jobs WHERE change_request_id = :'sched';
SELECT test.as('op');
SELECT nexplane.cr_cancel(:'sched', 'plans changed')->>'state' AS cancelled;
SELECT state FROM nexplane.jobs WHERE change_request_id = :'sched';
COMMIT;

-- Direct DML cannot skip the state machine, even as a superuser.
SELECT test.try($$UPDATE nexplane.change_requests SET state = 'completed' WHERE state = 'draft'$$);
SELECT test.try($$DELETE FROM nexplane.change_requests$$);
SELECT test.try(format($$INSERT INTO nexplane.change_requests (tenant_id, connector_id, change_type,
                          title, requester_id, state) SELECT tenant_id, connector_id, 'x', 'x',
                          requester_id, 'approved' FROM nexplane.change_requests WHERE id = %L$$, :'crit'));
SELECT test.try($$UPDATE nexplane.change_request_events SET action = 'edited'$$);
SELECT test.try($$DELETE FROM nexplane.approvals$$);
-- ... nor the rules on its values (domains: 40_change_requests.sql).
SELECT test.try(format($$UPDATE nexplane.change_requests SET %s WHERE id = %L$$, v, :'crit')) AS bad_value
  FROM unnest(ARRAY['state = ''bogus''', 'risk_score = 101', 'risk_level = ''extreme''',
                    'params = ''[]''', 'risk_factors = ''{}''', 'change_type = ''Bad Type''',
                    'title = ''''', 'idempotency_key = ''''']) v;
-- a change type: 1 to 64 lower-case letters, digits, '_' and '.', a letter first
SELECT length(v) AS len, test.try(format('SELECT %L::nexplane.change_type', v)) AS change_type
  FROM unnest(ARRAY['a', 'rotate_password', 'db.lock_role2', 'a' || repeat('b', 63),
                    'a' || repeat('b', 64), '', '2fa', '_x', 'Rotate', 'rotate-password',
                    'rot ate', 'rotate_password' || chr(10), 'caf' || chr(233)]) v;
SELECT test.try(format($$INSERT INTO nexplane.change_request_events (tenant_id, change_request_id,
                          action, to_state, actor_kind) VALUES (%L, %L, 'note', 'draft', 'robot')$$,
                       :'acme', :'crit')) AS bad_actor_kind;
SELECT test.try(format($$INSERT INTO nexplane.approvals (tenant_id, change_request_id, approver_id,
                          decision, approver_role) SELECT tenant_id, id, requester_id, 'maybe', 'admin'
                          FROM nexplane.change_requests WHERE id = %L$$, :'crit')) AS bad_decision;
SELECT state, risk_score, risk_level FROM nexplane.change_requests WHERE id = :'crit';

-- Listing: filters and keyset pages.
BEGIN;
SELECT test.as('viewer');
SELECT jsonb_array_length(nexplane.cr_list('{"state": "rolled_back"}')) AS rolled_back;
SELECT jsonb_array_length(nexplane.cr_list('{"limit": 5}')) AS page_size;
SELECT (SELECT count(*) FROM (SELECT DISTINCT x->>'id' FROM (
          SELECT jsonb_array_elements(nexplane.cr_list('{"limit": 7}')) x
          UNION ALL
          SELECT jsonb_array_elements(nexplane.cr_list(jsonb_build_object('limit', 7,
                 'after', nexplane.cr_list('{"limit": 7}')->6->>'cursor')))) p) q) AS distinct_over_two_pages;
COMMIT;
