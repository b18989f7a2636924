-- The audit trail: an event for every change, secrets redacted, request
-- ids carried, append-only, and a hash chain that notices tampering.
SELECT (nexplane.tenant_create('ledger', 'Ledger', 'admin@ledger.test', 'ledger-admin-pass')
        ->'tenant'->>'id') AS ledger \gset
SELECT l->>'access_token' AS tok
  FROM nexplane.login('admin@ledger.test', 'ledger-admin-pass', NULL, false) l \gset

SET ROLE nexplane_api;
BEGIN;
SELECT nexplane.authenticate(:'tok', 'req-ledger-1', '4bf92f3577b34da6a3ce929d0e0e4736')->>'role' AS role;
SELECT nexplane.user_create('clerk@ledger.test', 'ledger-clerk-pass', 'viewer')->>'role';
SELECT nexplane.credential_create('books', 'postgresql', '{"password": "Ledger-Secret-1"}')->>'mode';
SELECT nexplane.api_key_create('export')->>'name';
SELECT nexplane.policy_create('max_blast_radius', 'tenant', NULL, 'warn', '{"max_assets": 9}')->>'kind';
COMMIT;
RESET ROLE;

-- One event per row change, each naming actor, target and request.
SELECT action, actor_kind, target_table, request_id, trace_id, count(*)
  FROM nexplane.audit_events WHERE tenant_id = :'ledger'
 GROUP BY 1, 2, 3, 4, 5 ORDER BY min(id);
-- Updates carry only what changed.
SELECT before, array(SELECT jsonb_object_keys(after)) AS after_keys FROM nexplane.audit_events
 WHERE tenant_id = :'ledger' AND action = 'users.update' ORDER BY id LIMIT 1;
SELECT after - 'id' - 'created_at' - 'updated_at' - 'tenant_id' AS user_insert
  FROM nexplane.audit_events WHERE tenant_id = :'ledger' AND action = 'users.insert'
   AND after->>'email' = 'clerk@ledger.test';
-- Times are written in UTC whatever the session's TimeZone (this suite
-- runs in PST8PDT): the same change reads the same.
SELECT current_setting('TimeZone') <> 'UTC' AS session_not_utc, count(*) AS user_inserts,
       count(*) FILTER (WHERE after->>'created_at' LIKE '%+00:00') AS in_utc
  FROM nexplane.audit_events WHERE tenant_id = :'ledger' AND action = 'users.insert';
-- Secrets never reach the trail.
SELECT count(*) FILTER (WHERE e::text LIKE '%$2b$%') AS password_hashes,
       count(*) FILTER (WHERE e::text LIKE '%Ledger-Secret%') AS plaintext,
       count(*) FILTER (WHERE e.after ? 'secret_blob' AND e.after->>'secret_blob' <> '[redacted]') AS blobs,
       count(*) FILTER (WHERE e.after ? 'key_hash' AND e.after->>'key_hash' <> '[redacted]') AS key_hashes,
       count(*) FILTER (WHERE e.after ? 'token_hash' AND e.after->>'token_hash' <> '[redacted]') AS token_hashes,
       count(*) FILTER (WHERE e.after ? 'wrapped_key' AND e.after->>'wrapped_key' <> '[redacted]') AS wrapped_keys
  FROM nexplane.audit_events e;

-- Append-only, for the owner and a superuser too.
BEGIN;
SELECT nexplane.authenticate(:'tok')->>'role' AS role;   -- rows visible to the owner
SET LOCAL ROLE nexplane_owner;
SELECT count(*) > 0 AS owner_sees_rows FROM nexplane.audit_events;
SELECT test.try($$UPDATE nexplane.audit_events SET action = 'x'$$) AS owner_update;
SELECT test.try($$DELETE FROM nexplane.audit_events$$) AS owner_delete;
COMMIT;
SELECT test.try($$UPDATE nexplane.audit_events SET action = 'x'$$) AS superuser_update;
SELECT test.try($$DELETE FROM nexplane.audit_events$$) AS superuser_delete;
SELECT test.try($$TRUNCATE nexplane.audit_events$$) AS superuser_truncate;
SELECT test.try($$TRUNCATE nexplane.change_request_events$$) AS events_truncate;

-- Sealing chains the events; verification recomputes the chain.
SELECT nexplane._audit_verify_tenant(:'ledger') - 'tenant_id' - 'sealed_now' - 'head' AS sealed_and_verified;
SELECT count(*) FILTER (WHERE l.event_id IS NULL) AS unsealed, count(*) AS events
  FROM nexplane.audit_events e
  LEFT JOIN nexplane.audit_chain l ON l.tenant_id = e.tenant_id AND l.event_id = e.id
 WHERE e.tenant_id = :'ledger';
-- The links are append-only too, and an event is chained once.
SELECT test.try($$UPDATE nexplane.audit_chain SET hash = NULL$$) AS chain_update;
SELECT test.try($$DELETE FROM nexplane.audit_chain$$) AS chain_delete;
SELECT test.try($$TRUNCATE nexplane.audit_chain$$) AS chain_truncate;
SELECT left(test.try(format($$INSERT INTO nexplane.audit_chain SELECT tenant_id, 1000, event_id, prev_hash, hash
                          FROM nexplane.audit_chain WHERE tenant_id = %L AND chain_seq = 1$$, :'ledger')), 5)
    AS chained_twice;
-- A second seal finds nothing new.
SELECT nexplane._audit_seal_tenant(:'ledger') AS sealed_again;
-- Once the transactions that were running at a seal have ended, the next
-- seal moves the tenant's scan start past everything it chained.  (A few
-- tries: an autoanalyze running elsewhere may hold it back for a moment.)
SELECT nexplane._audit_seal_tenant(:'ledger') AS nothing_new;
SELECT pg_sleep(0.1), nexplane._audit_seal_tenant(:'ledger') AS nothing_new;
SELECT pg_sleep(0.1), nexplane._audit_seal_tenant(:'ledger') AS nothing_new;
SELECT h.scan_from > max(e.id) AS scan_moved_on
  FROM nexplane.audit_chain_heads h, nexplane.audit_events e
 WHERE h.tenant_id = :'ledger' AND e.tenant_id = :'ledger' GROUP BY h.scan_from;

-- Tampering, with the guards switched off as only a superuser can.
ALTER TABLE nexplane.audit_events DISABLE TRIGGER append_only;
ALTER TABLE nexplane.audit_chain DISABLE TRIGGER append_only;
CREATE TEMP TABLE kept AS
SELECT l.chain_seq, e.* FROM nexplane.audit_events e
  JOIN nexplane.audit_chain l ON l.tenant_id = e.tenant_id AND l.event_id = e.id
 WHERE e.tenant_id = :'ledger';
CREATE TEMP TABLE kept_links AS SELECT * FROM nexplane.audit_chain WHERE tenant_id = :'ledger';
-- 1. an event altered
UPDATE nexplane.audit_events SET action = 'users.nothing_to_see'
 WHERE id = (SELECT id FROM kept WHERE chain_seq = 3);
SELECT nexplane._audit_verify_tenant(:'ledger')->'first_broken' AS altered;
UPDATE nexplane.audit_events e SET action = k.action FROM kept k WHERE e.id = k.id AND k.chain_seq = 3;
SELECT nexplane._audit_verify_tenant(:'ledger')->'ok' AS restored;
-- 2. two events reordered in the chain
DELETE FROM nexplane.audit_chain WHERE tenant_id = :'ledger' AND chain_seq IN (4, 5);
INSERT INTO nexplane.audit_chain
SELECT tenant_id, 9 - chain_seq, event_id, prev_hash, hash FROM kept_links WHERE chain_seq IN (4, 5);
SELECT nexplane._audit_verify_tenant(:'ledger')->'first_broken' AS reordered;
DELETE FROM nexplane.audit_chain WHERE tenant_id = :'ledger' AND chain_seq IN (4, 5);
INSERT INTO nexplane.audit_chain SELECT * FROM kept_links WHERE chain_seq IN (4, 5);
SELECT nexplane._audit_verify_tenant(:'ledger')->'ok' AS restored;
-- 3. an event deleted from the middle ...
DELETE FROM nexplane.audit_events WHERE id = (SELECT id FROM kept WHERE chain_seq = 6);
SELECT nexplane._audit_verify_tenant(:'ledger')->'first_broken' AS deleted;
--    ... and its link too
DELETE FROM nexplane.audit_chain WHERE tenant_id = :'ledger' AND chain_seq = 6;
SELECT nexplane._audit_verify_tenant(:'ledger')->'first_broken' AS deleted_with_link;
INSERT INTO nexplane.audit_events OVERRIDING SYSTEM VALUE
SELECT tenant_id, id, occurred_at, actor_kind, actor_id, action, target_table, target_id,
       before, after, request_id, trace_id, mac FROM kept WHERE chain_seq = 6;
INSERT INTO nexplane.audit_chain SELECT * FROM kept_links WHERE chain_seq = 6;
SELECT nexplane._audit_verify_tenant(:'ledger')->'ok' AS restored;
-- 4. the newest event deleted, with its link
DELETE FROM nexplane.audit_events WHERE id = (SELECT id FROM kept ORDER BY chain_seq DESC LIMIT 1);
DELETE FROM nexplane.audit_chain
 WHERE tenant_id = :'ledger' AND chain_seq = (SELECT max(chain_seq) FROM kept_links);
SELECT (nexplane._audit_verify_tenant(:'ledger')->'first_broken') - 'chain_seq' AS tail_deleted;
INSERT INTO nexplane.audit_events OVERRIDING SYSTEM VALUE
SELECT tenant_id, id, occurred_at, actor_kind, actor_id, action, target_table, target_id,
       before, after, request_id, trace_id, mac FROM kept ORDER BY chain_seq DESC LIMIT 1;
INSERT INTO nexplane.audit_chain SELECT * FROM kept_links ORDER BY chain_seq DESC LIMIT 1;
SELECT nexplane._audit_verify_tenant(:'ledger')->'ok' AS restored;
-- 5. an event slipped in behind the sealer, with an id it has passed
INSERT INTO nexplane.audit_events (tenant_id, id, actor_kind, action) OVERRIDING SYSTEM VALUE
SELECT :'ledger', min(id) - 1, 'user', 'users.forged' FROM kept;
-- (named by its time and action: it has no chain_seq, and ids are not shown)
SELECT (nexplane._audit_verify_tenant(:'ledger')->'first_broken') - 'occurred_at' AS slipped_in;
DELETE FROM nexplane.audit_events WHERE action = 'users.forged';
SELECT nexplane._audit_verify_tenant(:'ledger')->'ok' AS restored;
ALTER TABLE nexplane.audit_events ENABLE ALWAYS TRIGGER append_only;
ALTER TABLE nexplane.audit_chain ENABLE ALWAYS TRIGGER append_only;

-- audit_events keeps to plain indexes (events go straight into them): with
-- another kind, audited writes stop with a clear error and write nothing.
CREATE INDEX audit_events_partial ON nexplane.audit_events (action) WHERE actor_id IS NULL;
SELECT test.try(format($$UPDATE nexplane.tenants SET name = 'Ledger Two' WHERE id = %L$$, :'ledger'))
    AS with_partial_index;
SELECT name FROM nexplane.tenants WHERE id = :'ledger';
DROP INDEX nexplane.audit_events_partial;
SELECT test.try(format($$UPDATE nexplane.tenants SET name = 'Ledger Two' WHERE id = %L$$, :'ledger'))
    AS plain_indexes_again;
SELECT before, after FROM nexplane.audit_events WHERE action = 'tenants.update' AND tenant_id = :'ledger';
SELECT test.try(format($$UPDATE nexplane.tenants SET name = 'Ledger' WHERE id = %L$$, :'ledger'))
    AS restored;

-- audit_verify() and audit_query() for the tenant's admin.
SET ROLE nexplane_api;
BEGIN;
SELECT nexplane.authenticate(:'tok')->>'role' AS role;
SELECT nexplane.audit_verify() - 'tenant_id' - 'sealed_now' - 'checked' - 'head' AS verify;
SELECT jsonb_array_length(nexplane.audit_query('{"action": "users.*"}')) AS user_events,
       jsonb_array_length(nexplane.audit_query('{"target_table": "credentials"}')) AS credential_events,
       jsonb_array_length(nexplane.audit_query('{"request_id": "req-ledger-1"}')) AS by_request,
       jsonb_array_length(nexplane.audit_query('{"trace_id": "4bf92f3577b34da6a3ce929d0e0e4736"}')) AS by_trace,
       jsonb_array_length(nexplane.audit_query(jsonb_build_object('from', now() + interval '1 day'))) AS future;
-- keyset pages: the cursor of a page's last event gives the next, older one
SELECT jsonb_array_length(nexplane.audit_query('{"limit": 2}')) AS page,
       (nexplane.audit_query('{"limit": 2}')->1->>'occurred_at')::timestamptz
       >= (nexplane.audit_query(jsonb_build_object('limit', 1,
           'before', nexplane.audit_query('{"limit": 2}')->1->>'cursor'))->0->>'occurred_at')::timestamptz
       AS next_page_older,
       (nexplane.audit_query(jsonb_build_object('limit', 1,
           'before', nexplane.audit_query('{"limit": 2}')->0->>'cursor'))->0)
       = nexplane.audit_query('{"limit": 2}')->1 AS pages_follow_on;
-- an event shows its chain_seq and cursor; not its id, MAC or hashes
SELECT array(SELECT jsonb_object_keys(nexplane.audit_query('{"limit": 1}')->0)) AS event_keys;
SELECT test.try($$SELECT nexplane.audit_query('{"before_id": 5}')$$) AS old_cursor_key;
SELECT test.try($$SELECT nexplane.audit_query('{"limit": 1000}')$$);
SELECT test.try($$SELECT nexplane.audit_query('{"from": "not a time"}')$$);
SELECT test.try($$SELECT nexplane.audit_query('{"who": "me"}')$$);
SELECT test.try($$SELECT nexplane.audit_query('[]')$$);
COMMIT;
BEGIN;
SELECT nexplane.authenticate((SELECT token FROM test.tokens WHERE who = 'viewer'))->>'role' AS role;
SELECT test.try($$SELECT nexplane.audit_query()$$) AS viewer_queries;
SELECT test.try($$SELECT nexplane.audit_verify()$$) AS viewer_verifies;
COMMIT;
RESET ROLE;

-- audit_query by time range.  The sealer notes where in id order the
-- events it chains lie in time (audit_time_ranges); a query reads the
-- spans whose times overlap, and every event the sealer has not passed
-- yet, whatever its time.  Events with chosen times, written as the
-- superuser the way audit.c writes them.
SELECT (nexplane.tenant_create('clock', 'Clock', 'admin@clock.test', 'clock-admin-pass')
        ->'tenant'->>'id') AS clock \gset
SELECT l->>'access_token' AS clock_tok
  FROM nexplane.login('admin@clock.test', 'clock-admin-pass', NULL, false) l \gset
INSERT INTO nexplane.audit_events (tenant_id, occurred_at, actor_kind, action)
SELECT :'clock', t, 'system', 'clock.tick'
  FROM unnest('{2020-01-01 10:00+00, 2020-01-02 10:00+00, 2020-01-03 10:00+00}'::timestamptz[]) t;
SELECT nexplane._audit_seal_tenant(:'clock') > 0 AS sealed;
SELECT nexplane._audit_seal_tenant(:'clock') AS sealed_again;	-- moves the scan start
SELECT h.scan_from > max(e.id) AS ticks_below_scan_start
  FROM nexplane.audit_chain_heads h, nexplane.audit_events e
 WHERE h.tenant_id = :'clock' AND e.tenant_id = :'clock' AND e.action = 'clock.tick' GROUP BY h.scan_from;
SELECT events, first_at, last_at > '2020-01-03' AS up_to_now
  FROM nexplane.audit_time_ranges WHERE tenant_id = :'clock';
-- a late event with an old time, not chained yet
INSERT INTO nexplane.audit_events (tenant_id, occurred_at, actor_kind, action)
VALUES (:'clock', '2020-01-02 12:00+00', 'system', 'clock.tick');
CREATE FUNCTION test.ticks(filter jsonb) RETURNS text LANGUAGE sql AS $$
    SELECT coalesce(string_agg(to_char((e->>'occurred_at')::timestamptz AT TIME ZONE 'UTC',
                                       'MM-DD HH24:MI'), ', '), '-')
      FROM jsonb_array_elements(nexplane.audit_query(filter || '{"action": "clock.tick"}')) e
$$;
GRANT EXECUTE ON FUNCTION test.ticks(jsonb) TO nexplane_api;
SET ROLE nexplane_api;
BEGIN;
SELECT nexplane.authenticate(:'clock_tok')->>'role' AS role;
SELECT test.ticks('{"from": "2020-01-02T00:00:00Z", "to": "2020-01-03T00:00:00Z"}') AS second_day,
       test.ticks('{"to": "2020-01-02T10:00:00Z"}') AS before_second_day_10,
       test.ticks('{"from": "2020-01-02T10:00:00Z"}') AS from_second_day_10,
       test.ticks('{}') AS all_ticks,
       test.ticks('{"from": "2021-01-01T00:00:00Z"}') AS none_later;
SELECT test.ticks('{"from": "2020-01-01T00:00:00Z", "limit": 1}') AS page_1,
       test.ticks(jsonb_build_object('from', '2020-01-01T00:00:00Z', 'limit', 2, 'before',
           nexplane.audit_query('{"from": "2020-01-01T00:00:00Z", "action": "clock.tick", "limit": 1}')->0->>'cursor'))
           AS pages_2_and_3,
       test.ticks(jsonb_build_object('before', nexplane.audit_query('{"action": "tenants.insert"}')->0->>'cursor'))
           AS before_the_first;
SELECT test.try($$SELECT count(*) FROM nexplane.audit_time_ranges$$) AS api_reads_ranges;
COMMIT;
RESET ROLE;
-- once chained, the late event is found through its span
SELECT nexplane._audit_seal_tenant(:'clock') AS sealed_late;
SELECT nexplane._audit_seal_tenant(:'clock') AS again;
SELECT count(*) AS ranges, sum(events) AS events, min(first_at) AS first_at
  FROM nexplane.audit_time_ranges WHERE tenant_id = :'clock';
-- spans that overlap (a run that chained a late event with a low id) are
-- read as one: every event once, newest first
INSERT INTO nexplane.audit_time_ranges (tenant_id, first_id, last_id, first_at, last_at, events)
SELECT :'clock', min(id) + 1, max(id), '2020-01-01', '2020-01-04', 1
  FROM nexplane.audit_events WHERE tenant_id = :'clock' AND action = 'clock.tick';
SET ROLE nexplane_api;
BEGIN;
SELECT nexplane.authenticate(:'clock_tok')->>'role' AS role;
SELECT test.ticks('{"from": "2020-01-02T00:00:00Z", "to": "2020-01-03T00:00:00Z"}') AS second_day,
       test.ticks('{"from": "2020-01-01T00:00:00Z", "to": "2020-01-04T00:00:00Z"}') AS three_days,
       test.ticks('{"from": "2020-01-01T00:00:00Z", "to": "2020-01-04T00:00:00Z", "limit": 2}') AS newest_two;
COMMIT;
RESET ROLE;
-- a row takes runs until it holds 10,000 events, then a new row starts
SELECT nexplane._audit_note_time_range(:'clock', 9000000000, 9000000009, '2030-01-01', '2030-01-02', 9900);
SELECT nexplane._audit_note_time_range(:'clock', 9000000010, 9000000019, '2030-01-03', '2030-01-04', 200);
SELECT first_id >= 9000000000 AS new_row,
       CASE WHEN last_id < 9000000000 THEN 'the real events' ELSE last_id::text END AS last_id, first_at::date >= '2030-01-01' AS starts_2030,
       CASE WHEN last_at < '2030-01-01' THEN 'before 2030' ELSE last_at::date::text END AS last_at,
       events > 9900 AS over_9900
  FROM nexplane.audit_time_ranges WHERE tenant_id = :'clock' ORDER BY first_id;
