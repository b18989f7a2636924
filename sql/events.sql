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
SELECT test.try($$INSERT INTO nexplane.stream_events (tenant_id, seq_last, n, kind, subject_ids, to_states)
                  VALUES (gen_random_uuid(), 1, 1, 'job', ARRAY[gen_random_uuid()], ARRAY['queued'])$$);
SELECT test.try($$SELECT nexplane._stream_events_prune()$$);
RESET ROLE;
-- The tables hold one row per statement and tenant (pending) and one
-- range per numbered row: these views unfold them as events_since does.
CREATE VIEW test.staged AS
SELECT p.tenant_id, p.id, p.kind, u.*
  FROM nexplane.stream_events_pending p,
       unnest(p.subject_ids, p.change_request_ids, p.actions, p.from_states, p.to_states,
              p.progress_percents, p.progress_steps)
       WITH ORDINALITY AS u(subject_id, change_request_id, action, from_state, to_state,
                            progress_percent, progress_step, i);
CREATE VIEW test.numbered AS
SELECT s.tenant_id, s.seq_last - s.n + u.i AS seq, s.kind, u.*
  FROM nexplane.stream_events s,
       unnest(s.subject_ids, s.change_request_ids, s.actions, s.from_states, s.to_states,
              s.progress_percents, s.progress_steps)
       WITH ORDINALITY AS u(subject_id, change_request_id, action, from_state, to_state,
                            progress_percent, progress_step, i);
-- a rolled-back transition leaves no event and no gap
SELECT (SELECT seq FROM nexplane.event_heads h JOIN nexplane.tenants t ON t.id = h.tenant_id
         WHERE t.slug = 'acme') AS before_rollback \gset
SET ROLE nexplane_api;
BEGIN;
SELECT test.as('op');
SELECT nexplane.cr_cancel(:'cr', 'changed my mind')->>'state' AS state;
-- staged as the statement ended: the transaction's own feed numbers it,
-- and the number goes with the rollback
SELECT e->>'action' AS own_event, (e->>'id')::bigint = :before_rollback + 1 AS next_number
  FROM jsonb_array_elements(nexplane.events_since(:before_rollback)->'events') e;
ROLLBACK;
RESET ROLE;
SELECT seq = :before_rollback AS no_gap FROM nexplane.event_heads h
  JOIN nexplane.tenants t ON t.id = h.tenant_id WHERE t.slug = 'acme';
-- job state changes are events too (enqueued ones are, from cr_execute);
-- an update that keeps the state is not.  The tables are read directly
-- here: what is staged is numbered first, as the sequencer would (it
-- serves another database in these tests).
SELECT nexplane._stream_events_number() >= 0 AS numbered;
SELECT count(*) AS job_events FROM test.numbered WHERE kind = 'job' \gset
SELECT :job_events > 0 AS enqueued_jobs_are_events;
UPDATE nexplane.jobs SET priority = priority WHERE change_request_id IS NOT NULL;
SELECT count(*) AS staged FROM nexplane.stream_events_pending;
SELECT count(*) = :job_events AS same_state_no_event FROM test.numbered WHERE kind = 'job';
SELECT id AS job FROM nexplane.jobs WHERE state = 'queued' ORDER BY created_at LIMIT 1 \gset
UPDATE nexplane.jobs SET state = 'cancelled' WHERE id = :'job';
SELECT count(*) AS staged, min(to_state) AS to_state FROM test.staged;
SELECT nexplane._stream_events_number() AS numbered;
SELECT kind, from_state, to_state, change_request_id IS NOT NULL AS for_a_change
  FROM test.numbered WHERE subject_id = :'job' ORDER BY seq;
-- One statement stages its events of a tenant as one row: an update of several
-- jobs stages an event for each row that moved and none for the rest.  A
-- running job's progress moves when a step or percent is set to something
-- new, not when it is kept or cleared; a statement that touches no row, or
-- moves nothing, stages nothing.
INSERT INTO nexplane.jobs (tenant_id, kind, state, progress_percent, progress_step, payload)
SELECT t.id, 'noop', 'running', 10, 'step ' || n, jsonb_build_object('feed', n)
  FROM nexplane.tenants t, generate_series(1, 3) n WHERE t.slug = 'acme';
SELECT count(*) AS staged_by_one_insert, min(to_state) AS to_state,
       count(DISTINCT id) AS rows, array_agg(i ORDER BY i) AS positions FROM test.staged;
SELECT nexplane._stream_events_number() AS numbered;
UPDATE nexplane.jobs
   SET progress_percent = CASE payload->>'feed' WHEN '1' THEN 20 ELSE progress_percent END,
       state = CASE payload->>'feed' WHEN '3' THEN 'succeeded' ELSE state END
 WHERE payload ? 'feed';
SELECT p.action, p.from_state, p.to_state, p.progress_percent, j.payload->>'feed' AS job
  FROM test.staged p JOIN nexplane.jobs j ON j.id = p.subject_id
 ORDER BY job;
SELECT nexplane._stream_events_number() AS numbered;
UPDATE nexplane.jobs SET progress_step = progress_step, progress_percent = NULL,
       lease_until = now() WHERE payload ? 'feed';
UPDATE nexplane.jobs SET progress_step = NULL WHERE payload ? 'feed';
UPDATE nexplane.jobs SET state = 'failed' WHERE false;
SELECT count(*) AS kept_or_cleared_staged_nothing FROM nexplane.stream_events_pending;
UPDATE nexplane.jobs SET progress_step = 'new step' WHERE payload->>'feed' = '2';
SELECT action, from_state, to_state, progress_step FROM test.staged;
SELECT nexplane._stream_events_number() AS numbered;
-- Ranges: a statement's events of one tenant are one pending row and are
-- numbered as one range (seq_last, n); events_since unfolds it into one
-- object per event with its own number, and a resume or a page may begin
-- or end inside a range.
SELECT id AS acme FROM nexplane.tenants WHERE slug = 'acme' \gset
SELECT id AS globex FROM nexplane.tenants WHERE slug = 'globex' \gset
SELECT seq AS h FROM nexplane.event_heads WHERE tenant_id = :'acme' \gset
SELECT coalesce((SELECT seq FROM nexplane.event_heads WHERE tenant_id = :'globex'), 0) AS g \gset
INSERT INTO nexplane.jobs (tenant_id, kind, state, payload)
SELECT :'acme', 'noop', 'queued', jsonb_build_object('range', n::text) FROM generate_series(1, 5) n;
SELECT count(*) AS rows, sum(n) AS events, min(kind) AS kind FROM nexplane.stream_events_pending;
SELECT nexplane._stream_events_number() AS numbered;
SELECT seq_last - :h AS seq_last, n FROM nexplane.stream_events
 WHERE tenant_id = :'acme' AND seq_last > :h;
-- a statement over two tenants: one row (and range) per tenant, each in
-- the statement's order, numbered from its own tenant's head
INSERT INTO nexplane.jobs (tenant_id, kind, state, payload)
SELECT t, 'noop', 'queued', jsonb_build_object('range', 'mt' || n)
  FROM (VALUES (:'acme'::uuid, 1), (:'globex'::uuid, 2), (:'acme'::uuid, 3),
               (:'globex'::uuid, 4)) v(t, n);
SELECT tn.slug, s.i, j.payload->>'range' AS job
  FROM test.staged s JOIN nexplane.tenants tn ON tn.id = s.tenant_id
  JOIN nexplane.jobs j ON j.id = s.subject_id ORDER BY tn.slug, s.i;
SELECT count(DISTINCT id) AS rows FROM test.staged;
SELECT nexplane._stream_events_number() AS numbered;
SELECT tn.slug, h.seq - CASE tn.slug WHEN 'acme' THEN :h ELSE :g END AS head_moved_by
  FROM nexplane.event_heads h JOIN nexplane.tenants tn ON tn.id = h.tenant_id
 WHERE tn.slug IN ('acme', 'globex') ORDER BY tn.slug;
SELECT n.seq - :h AS seq, j.payload->>'range' AS job
  FROM test.numbered n JOIN nexplane.jobs j ON j.id = n.subject_id
 WHERE n.tenant_id = :'acme' AND n.seq > :h ORDER BY n.seq;
CREATE TABLE test.range_jobs AS
SELECT id, payload->>'range' AS job FROM nexplane.jobs WHERE payload ? 'range';
GRANT SELECT ON test.range_jobs TO PUBLIC;
SET ROLE nexplane_api;
BEGIN;
SELECT test.as('viewer');
-- resumed inside the first range (after its second event), two at a time
SELECT (e->>'id')::bigint - :h AS id, r.job
  FROM jsonb_array_elements(nexplane.events_since(:h + 2, 2)->'events') e
  JOIN test.range_jobs r ON r.id::text = e->>'subject_id' ORDER BY 1;
SELECT (nexplane.events_since(:h + 2, 2)->>'last')::bigint - :h AS last_of_page;
-- a page that ends one range and begins the next
SELECT (e->>'id')::bigint - :h AS id, r.job
  FROM jsonb_array_elements(nexplane.events_since(:h + 4, 2)->'events') e
  JOIN test.range_jobs r ON r.id::text = e->>'subject_id' ORDER BY 1;
-- to the end, and past it
SELECT jsonb_array_length(x->'events') AS rest, (x->>'last')::bigint - :h AS last
  FROM nexplane.events_since(:h + 5) x;
SELECT jsonb_array_length(x->'events') AS none_after, (x->>'last')::bigint - :h AS last
  FROM nexplane.events_since(:h + 7) x;
SELECT jsonb_array_length(x->'events') AS none_beyond, (x->>'last')::bigint - :h AS last
  FROM nexplane.events_since(:h + 1000) x;
-- an event unfolded from a range has every key it had before ranges
SELECT e - 'id' - 'subject_id' - 'at' AS event, (e->>'at')::timestamptz IS NOT NULL AS has_time
  FROM jsonb_array_elements(nexplane.events_since(:h + 2, 1)->'events') e;
-- bad input
SELECT test.try($$SELECT nexplane.events_since(0, NULL)$$);
SELECT test.try($$SELECT nexplane.events_since(-5, 10)$$);
SELECT test.try($$SELECT nexplane.events_since(0, -1)$$);
COMMIT;
RESET ROLE;
-- pruning removes whole ranges and says how many events went
BEGIN;
UPDATE nexplane.stream_events SET created_at = now() - interval '8 days'
 WHERE tenant_id = :'acme' AND seq_last = :h + 5;
SELECT nexplane._stream_events_prune() AS pruned_events;
SELECT seq_last - :h AS seq_last, n FROM nexplane.stream_events
 WHERE tenant_id = :'acme' AND seq_last > :h;
ROLLBACK;
DROP TABLE test.range_jobs;
-- the trigger function refuses to be anything but a statement trigger
-- with transition tables
CREATE TABLE test.feed_row (tenant_id uuid, id uuid);
CREATE TRIGGER feed AFTER INSERT ON test.feed_row
    FOR EACH ROW EXECUTE FUNCTION nexplane._stream_event();
SELECT test.try($$INSERT INTO test.feed_row VALUES (gen_random_uuid(), gen_random_uuid())$$);
DROP TRIGGER feed ON test.feed_row;
CREATE TRIGGER feed AFTER INSERT ON test.feed_row
    FOR EACH STATEMENT EXECUTE FUNCTION nexplane._stream_event();
SELECT test.try($$INSERT INTO test.feed_row VALUES (gen_random_uuid(), gen_random_uuid())$$);
-- why jobs has two triggers and no column list (88_events.sql)
SELECT test.try($$CREATE TRIGGER feed_cols AFTER UPDATE OF id ON test.feed_row
                  REFERENCING NEW TABLE AS n FOR EACH STATEMENT
                  EXECUTE FUNCTION nexplane._stream_event()$$);
SELECT test.try($$CREATE TRIGGER feed_both AFTER INSERT OR UPDATE ON test.feed_row
                  REFERENCING NEW TABLE AS n FOR EACH STATEMENT
                  EXECUTE FUNCTION nexplane._stream_event()$$);
DROP TABLE test.feed_row;
DROP VIEW test.staged, test.numbered;
