-- bench/api/generate.sql: load :n change requests into the bench tenant
-- directly, not through the API (psql -v n=1000000 -f generate.sql, as a
-- superuser).  The write mix then runs against a table of that size.
--
-- What is loaded: :n change requests spread over the bench connector and
-- three more of the tenant's (so a quarter are on the connector the mix
-- writes to), created over the past year by the bench's admin, in final
-- and open states (70% completed, 8% failed, 2% rolled back, 10%
-- cancelled, 5% rejected, 3% pending approval, 2% draft; a few hundred of
-- the failures in the last 7 days), each with its 'create' event in
-- change_request_events.
--
-- The audit trail stays consistent: the audit trigger stays on, so every
-- loaded change request has its audit event, written by the same C
-- trigger as in production, and its cost is part of the load's time.
-- What is switched off for the load (and on again after it):
-- - the state guard, which admits only drafts to INSERT: the rows go in
--   in their final states, so their audit event is one insert in that
--   state rather than a history of transitions, and change_request_events
--   holds only their creation;
-- - with session_replication_role = replica, the triggers that are not
--   ENABLE ALWAYS: the foreign-key checks (the rows refer only to the
--   tenant, its connectors and its admin, and the events to the rows
--   just loaded, so the keys hold by construction) and the live feed's
--   trigger (the feed is derived data for the clients connected now,
--   pruned after 7 days, not a record of history).  The audit trigger is
--   ENABLE ALWAYS and fires.
\set ON_ERROR_STOP 1
SET client_min_messages = warning;
SET synchronous_commit = off;
SET maintenance_work_mem = '256MB';
SET session_replication_role = replica;
BEGIN;
INSERT INTO nexplane.connectors (tenant_id, id, type, name)
SELECT t.id, ('10000000-0000-0000-0000-00000000000' || c)::uuid, 'postgresql', 'pg-' || c
  FROM nexplane.tenants t, unnest(ARRAY['b', 'c', 'd']) c
 WHERE t.slug = 'bench'
ON CONFLICT DO NOTHING;
ALTER TABLE nexplane.change_requests DISABLE TRIGGER state_guard;
CREATE TEMP TABLE gen ON COMMIT DROP AS
SELECT t.id AS tenant_id, gen_random_uuid() AS id,
       ('10000000-0000-0000-0000-00000000000' || substr('abcd', 1 + i % 4, 1))::uuid AS connector_id,
       u.id AS requester_id,
       CASE WHEN r < 0.70 THEN 'completed' WHEN r < 0.78 THEN 'failed'
            WHEN r < 0.80 THEN 'rolled_back' WHEN r < 0.90 THEN 'cancelled'
            WHEN r < 0.95 THEN 'rejected' WHEN r < 0.98 THEN 'pending_approval'
            ELSE 'draft' END AS state,
       now() - (365 * (1 - i::float8 / :n)) * interval '1 day' AS created_at,
       i
  FROM nexplane.tenants t
  JOIN nexplane.users u ON u.tenant_id = t.id AND u.email = 'admin@bench.test',
       generate_series(1, :n) i,
       LATERAL (SELECT (hashint4(i) & 1023) / 1024.0 AS r) x
 WHERE t.slug = 'bench';
INSERT INTO nexplane.change_requests
    (tenant_id, id, connector_id, change_type, params, title, state, requester_id,
     risk_score, risk_level, risk_factors, created_at, updated_at, submitted_at,
     executed_at, completed_at, result, rollback_state)
SELECT g.tenant_id, g.id, g.connector_id, 'create_role', jsonb_build_object('role', 'app_' || g.i),
       'generated ' || g.i, g.state, g.requester_id,
       10, 'low', '[{"name": "additive", "weight": 5, "reason": "create_role is a additive change"}]',
       g.created_at, g.created_at + interval '1 hour',
       CASE WHEN g.state <> 'draft' THEN g.created_at + interval '1 minute' END,
       CASE WHEN g.state IN ('completed', 'failed', 'rolled_back') THEN g.created_at + interval '30 minutes' END,
       CASE WHEN g.state IN ('completed', 'failed', 'rolled_back', 'cancelled', 'rejected')
            THEN g.created_at + interval '1 hour' END,
       CASE WHEN g.state IN ('completed', 'rolled_back') THEN '{"created": true}'::jsonb END,
       CASE WHEN g.state IN ('completed', 'rolled_back') THEN '{"existed": false}'::jsonb END
  FROM gen g;
INSERT INTO nexplane.change_request_events
    (tenant_id, change_request_id, action, from_state, to_state, actor_kind, actor_id, payload,
     created_at)
SELECT g.tenant_id, g.id, 'create', NULL, 'draft', 'user', g.requester_id, '{}', g.created_at
  FROM gen g;
ALTER TABLE nexplane.change_requests ENABLE ALWAYS TRIGGER state_guard;
COMMIT;
RESET session_replication_role;
VACUUM ANALYZE nexplane.change_requests;
VACUUM ANALYZE nexplane.change_request_events;
VACUUM ANALYZE nexplane.audit_events;
CHECKPOINT;
