-- The live event feed: events_since() numbers each tenant's change-request
-- transitions and job state changes in commit order, shows a tenant only
-- its own, and refuses bad arguments; the tables are not reachable directly.
SET ROLE nexplane_api;
BEGIN;
SELECT test.as('op');
SELECT (nexplane.events_since()->>'last')::bigint AS head \gset
SELECT jsonb_array_length(nexplane.events_since(:head)->'events') AS nothing_new;
SELECT (nexplane.cr_create('10000000-0000-0000-0000-000000000001', 'create_role',
                           '{"role": "feed"}', 'feed')->>'id') AS cr \gset
COMMIT;
BEGIN;
SELECT test.as('op');
SELECT nexplane.cr_submit(:'cr')->>'state' AS state;
COMMIT;
BEGIN;
SELECT test.as('viewer');
-- a viewer reads the feed; ids follow on from the head, in order
SELECT e->>'id' = (:head + n)::text AS numbered, e->>'kind' AS kind, e->>'action' AS action,
       e->>'from' AS from_state, e->>'to' AS to_state, e->>'actor_kind' AS actor_kind,
       e->>'subject_id' = :'cr' AS subject
  FROM jsonb_array_elements(nexplane.events_since(:head)->'events') WITH ORDINALITY AS x(e, n);
SELECT (nexplane.events_since(:head, 1)->>'last')::bigint = :head + 1 AS paged_by_max_events;
SELECT (nexplane.events_since()->>'last')::bigint = :head + 2 AS head_moved;
SELECT test.try($$SELECT nexplane.events_since(-1)$$);
SELECT test.try($$SELECT nexplane.events_since(0, 0)$$);
SELECT test.try($$SELECT nexplane.events_since(0, 1001)$$);
COMMIT;
-- globex sees none of acme's events
SELECT nexplane.login('admin@globex.test', 'globex-admin-pass-1') IS NOT NULL AS globex;
SELECT count(*) AS acme_events_seen_by_globex
  FROM jsonb_array_elements(nexplane.events_since(0, 1000)->'events') e
 WHERE e->>'subject_id' = :'cr';
SELECT nexplane.logout() IS NOT NULL AS out;
-- no context, no feed; no direct access to the tables or the trigger
SELECT test.try($$SELECT nexplane.events_since(0)$$);
SELECT test.try($$SELECT * FROM nexplane.stream_events$$);
SELECT test.try($$SELECT * FROM nexplane.event_heads$$);
SELECT test.try($$SELECT * FROM nexplane.stream_events_pending$$);
SELECT test.try($$SELECT nexplane._stream_events_number()$$);
SELECT test.try($$INSERT INTO nexplane.stream_events (tenant_id, seq, kind, subject_id, to_state)
                  VALUES (gen_random_uuid(), 1, 'job', gen_random_uuid(), 'queued')$$);
SELECT test.try($$SELECT nexplane._stream_events_prune()$$);
RESET ROLE;
-- a rolled-back transition leaves no event and no gap
SELECT (SELECT seq FROM nexplane.event_heads h JOIN nexplane.tenants t ON t.id = h.tenant_id
         WHERE t.slug = 'acme') AS before_rollback \gset
SET ROLE nexplane_api;
BEGIN;
SELECT test.as('op');
SELECT nexplane.cr_cancel(:'cr', 'changed my mind')->>'state' AS state;
ROLLBACK;
RESET ROLE;
SELECT seq = :before_rollback AS no_gap FROM nexplane.event_heads h
  JOIN nexplane.tenants t ON t.id = h.tenant_id WHERE t.slug = 'acme';
-- job state changes are events too (enqueued ones are, from cr_execute);
-- an update that keeps the state is not.  The tables are read directly
-- here: what is staged is numbered first, as the sequencer would (it
-- serves another database in these tests).
SELECT nexplane._stream_events_number() >= 0 AS numbered;
SELECT count(*) AS job_events FROM nexplane.stream_events WHERE kind = 'job' \gset
SELECT :job_events > 0 AS enqueued_jobs_are_events;
UPDATE nexplane.jobs SET priority = priority WHERE change_request_id IS NOT NULL;
SELECT count(*) AS staged FROM nexplane.stream_events_pending;
SELECT count(*) = :job_events AS same_state_no_event FROM nexplane.stream_events WHERE kind = 'job';
SELECT id AS job FROM nexplane.jobs WHERE state = 'queued' ORDER BY created_at LIMIT 1 \gset
UPDATE nexplane.jobs SET state = 'cancelled' WHERE id = :'job';
SELECT count(*) AS staged, min(to_state) AS to_state FROM nexplane.stream_events_pending;
SELECT nexplane._stream_events_number() AS numbered;
SELECT kind, from_state, to_state, change_request_id IS NOT NULL AS for_a_change
  FROM nexplane.stream_events WHERE subject_id = :'job' ORDER BY seq;
