-- The write path looks rows up, it does not scan a tenant's history: with
-- 3,000 change requests on one connector (half of them failed, ten of
-- those this week),
-- their events, approvals and jobs, each step of a change's life (create,
-- the risk score, submit, approve, execute) and a filtered list touch a
-- few rows of the tables that grow with the tenant.  "Touched" is counted
-- by PostgreSQL itself for this transaction: tuples returned by scans and
-- fetched through indexes, on those tables and their indexes
-- (pg_stat_get_xact_tuples_returned/fetched), so the guard is a count, not
-- a timing.  Before the risk score's failures became a bounded lookup, a
-- create or a submit here touched more than 3,000.  Everything is rolled
-- back at the end.
BEGIN;
SELECT id AS acme FROM nexplane.tenants WHERE slug = 'acme' \gset
SELECT id AS op_id FROM nexplane.users WHERE tenant_id = :'acme' AND email = 'op@acme.test' \gset
SELECT id AS appr_id FROM nexplane.users WHERE tenant_id = :'acme' AND email = 'appr2@acme.test' \gset
-- the history: loaded in its final states (the guard admits only drafts)
ALTER TABLE nexplane.change_requests DISABLE TRIGGER state_guard;
CREATE TEMP TABLE bulk ON COMMIT DROP AS
SELECT gen_random_uuid() AS id, i, CASE WHEN i % 2 = 0 THEN 'failed' ELSE 'completed' END AS state
  FROM generate_series(1, 3000) i;
INSERT INTO nexplane.change_requests (tenant_id, id, connector_id, change_type, params, title,
                                      state, requester_id, risk_score, risk_level,
                                      created_at, updated_at)
SELECT :'acme', b.id, '10000000-0000-0000-0000-000000000001', 'create_role', '{"role": "app"}',
       'bulk ' || b.i, b.state, :'op_id', 10, 'low',
       now() - interval '8 days' - b.i * interval '1 minute',
       CASE WHEN b.i <= 20 THEN now() - b.i * interval '1 minute'
            ELSE now() - interval '8 days' - b.i * interval '1 minute' END
  FROM bulk b;
ALTER TABLE nexplane.change_requests ENABLE ALWAYS TRIGGER state_guard;
INSERT INTO nexplane.change_request_events (tenant_id, change_request_id, action, from_state,
                                            to_state, actor_kind, actor_id)
SELECT :'acme', b.id, a.action, a.from_state, a.to_state, 'user', :'op_id'
  FROM bulk b, (VALUES ('create', NULL, 'draft'), ('submit', 'draft', 'pending_approval'),
                       ('approve', 'pending_approval', 'approved')) a(action, from_state, to_state);
INSERT INTO nexplane.approvals (tenant_id, change_request_id, approver_id, decision, approver_role)
SELECT :'acme', b.id, :'appr_id', 'approve', 'approver' FROM bulk b;
INSERT INTO nexplane.jobs (tenant_id, kind, change_request_id, connector_id, state)
SELECT :'acme', 'execute_change', b.id, '10000000-0000-0000-0000-000000000001', 'succeeded'
  FROM bulk b;
ANALYZE nexplane.change_requests, nexplane.change_request_events, nexplane.approvals,
        nexplane.jobs;
SELECT count(*) AS acme_change_requests,
       count(*) FILTER (WHERE state = 'failed') AS failed,
       count(*) FILTER (WHERE state = 'failed' AND updated_at > now() - interval '7 days')
         AS failed_this_week
  FROM nexplane.change_requests WHERE tenant_id = :'acme';

-- rows touched so far in this transaction, on the tables that grow with a
-- tenant's history and on their indexes
CREATE FUNCTION test.rows_touched() RETURNS bigint LANGUAGE sql AS $$
    SELECT sum(pg_stat_get_xact_tuples_returned(r.oid) + pg_stat_get_xact_tuples_fetched(r.oid))::bigint
      FROM (SELECT c.oid FROM pg_class c
             WHERE c.relnamespace = 'nexplane'::regnamespace
               AND c.relname IN ('change_requests', 'change_request_events', 'approvals',
                                 'assets', 'jobs', 'stream_events', 'stream_events_pending')
            UNION ALL
            SELECT i.indexrelid FROM pg_index i JOIN pg_class c ON c.oid = i.indrelid
             WHERE c.relnamespace = 'nexplane'::regnamespace
               AND c.relname IN ('change_requests', 'change_request_events', 'approvals',
                                 'assets', 'jobs', 'stream_events', 'stream_events_pending')) r
$$;
GRANT EXECUTE ON FUNCTION test.rows_touched() TO PUBLIC;
CREATE TEMP TABLE touched (step text, n bigint) ON COMMIT DROP;
GRANT ALL ON touched TO PUBLIC;

SET LOCAL ROLE nexplane_api;
SELECT test.as('op');
SELECT test.rows_touched() AS t0 \gset
SELECT nexplane.cr_create('10000000-0000-0000-0000-000000000001', 'create_role',
                          '{"role": "guard"}', 'rows touched')->>'id' AS cr \gset
INSERT INTO touched SELECT 'cr_create', test.rows_touched() - :t0;
SELECT test.rows_touched() AS t0 \gset
SELECT nexplane.risk_score('10000000-0000-0000-0000-000000000001', 'create_role') IS NOT NULL AS scored;
INSERT INTO touched SELECT 'risk_score', test.rows_touched() - :t0;
SELECT test.rows_touched() AS t0 \gset
SELECT nexplane.cr_submit(:'cr')->>'state' AS submitted;
INSERT INTO touched SELECT 'cr_submit', test.rows_touched() - :t0;
SELECT test.as('appr');
SELECT test.rows_touched() AS t0 \gset
SELECT nexplane.cr_approve(:'cr')->>'state' AS approved;
INSERT INTO touched SELECT 'cr_approve', test.rows_touched() - :t0;
SELECT test.as('op');
SELECT test.rows_touched() AS t0 \gset
SELECT nexplane.cr_execute(:'cr')->>'state' AS executing;
INSERT INTO touched SELECT 'cr_execute', test.rows_touched() - :t0;
SELECT test.rows_touched() AS t0 \gset
SELECT jsonb_array_length(p) AS failed_page, p->19->>'cursor' AS cursor
  FROM nexplane.cr_list('{"state": "failed", "limit": 20}') p \gset
INSERT INTO touched SELECT 'cr_list state', test.rows_touched() - :t0;
SELECT :failed_page AS failed_page;
SELECT test.rows_touched() AS t0 \gset
SELECT jsonb_array_length(nexplane.cr_list(jsonb_build_object('state', 'failed', 'limit', 20,
                                                              'after', :'cursor'))) AS next_page;
INSERT INTO touched SELECT 'cr_list state, next page', test.rows_touched() - :t0;
SELECT test.rows_touched() AS t0 \gset
SELECT jsonb_array_length(nexplane.cr_list(
         '{"connector_id": "10000000-0000-0000-0000-000000000001", "limit": 20}')) AS connector_page;
INSERT INTO touched SELECT 'cr_list connector', test.rows_touched() - :t0;

-- a few dozen rows at most per step (a list page reads its 20 and their approvals)
SELECT step, n < 100 AS bounded FROM touched ORDER BY step;
ROLLBACK;
