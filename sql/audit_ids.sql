-- Break-in from one tenant at another's activity through the numbers the
-- audit API shows: no global sequence value leaves it.  Events show the
-- tenant's own chain_seq and an opaque cursor; another tenant's cursor,
-- or a changed one, is refused.
SELECT (nexplane.tenant_create('ids-a', 'Ids A', 'admin@ids-a.test', 'ids-a-admin-pass')
        ->'tenant'->>'id') AS ta \gset
SELECT (nexplane.tenant_create('ids-b', 'Ids B', 'admin@ids-b.test', 'ids-b-admin-pass')
        ->'tenant'->>'id') AS tb \gset
SELECT l->>'access_token' AS tok_a
  FROM nexplane.login('admin@ids-a.test', 'ids-a-admin-pass', NULL, false) l \gset
SELECT l->>'access_token' AS tok_b
  FROM nexplane.login('admin@ids-b.test', 'ids-b-admin-pass', NULL, false) l \gset

-- A writes, B writes a lot, A writes again: the events of A lie far
-- apart in the shared sequence.
SET ROLE nexplane_api;
BEGIN;
SELECT nexplane.authenticate(:'tok_a')->>'role' AS a;
SELECT nexplane.user_create('one@ids-a.test', 'ids-user-pass-1', 'viewer')->>'role' AS a_one;
COMMIT;
BEGIN;
SELECT nexplane.authenticate(:'tok_b')->>'role' AS b;
SELECT count(nexplane.policy_create('max_blast_radius', 'tenant', NULL, 'warn',
                                    jsonb_build_object('max_assets', g)))
  FROM generate_series(1, 40) g;
COMMIT;
BEGIN;
SELECT nexplane.authenticate(:'tok_a')->>'role' AS a;
SELECT nexplane.user_create('two@ids-a.test', 'ids-user-pass-1', 'viewer')->>'role' AS a_two;
COMMIT;
RESET ROLE;
SELECT nexplane._audit_seal_all() > 0 AS sealed;
-- (the superuser sees the gap that ids would have shown)
SELECT max(id) - min(id) + 1 > count(*) + 40 AS global_ids_have_gaps
  FROM nexplane.audit_events WHERE tenant_id = :'ta';

-- What A sees: its own numbers, 1 to n without a gap, and no id.
SET ROLE nexplane_api;
BEGIN;
SELECT nexplane.authenticate(:'tok_a')->>'role' AS a;
SELECT nexplane.audit_query() AS page_a \gset
SELECT count(*) AS events, min((e->>'chain_seq')::int) AS first_seq,
       max((e->>'chain_seq')::int) AS last_seq,
       count(*) FILTER (WHERE e ? 'id' OR e ? 'mac') AS with_id_or_mac,
       count(DISTINCT e->>'cursor') AS distinct_cursors,
       bool_and(length(e->>'cursor') = 34) AS cursor_chars,
       bool_and(e->>'cursor' ~ '^[A-Za-z0-9_-]+$') AS base64url
  FROM jsonb_array_elements(:'page_a'::jsonb) e;
-- The same event always has the same cursor.
SELECT nexplane.audit_query('{"limit": 1}')->0->>'cursor' = nexplane.audit_query('{"limit": 1}')->0->>'cursor'
       AS stable_cursor;
-- audit_verify and the checkpoint count in A's numbers too.
SELECT v->'head'->'chain_seq' = (SELECT to_jsonb(max((e->>'chain_seq')::int))
                                   FROM jsonb_array_elements(:'page_a'::jsonb) e) AS head_is_last_seq,
       array(SELECT jsonb_object_keys(v) ORDER BY 1) AS verify_keys
  FROM nexplane.audit_verify() v;
SELECT (nexplane.audit_checkpoint()->>'chain_seq')::int = jsonb_array_length(:'page_a'::jsonb)
       AS checkpoint_counts_own_events;
COMMIT;

-- B's cursor, fed to A, is refused as if it were garbage; so is A's own
-- cursor with one character changed, and anything not a cursor.
BEGIN;
SELECT nexplane.authenticate(:'tok_b')->>'role' AS b;
SELECT nexplane.audit_query('{"limit": 1}')->0->>'cursor' AS cursor_b \gset
SELECT jsonb_array_length(nexplane.audit_query(jsonb_build_object('before', :'cursor_b', 'limit', 500)))
       > 0 AS b_pages_with_it;
COMMIT;
BEGIN;
SELECT nexplane.authenticate(:'tok_a')->>'role' AS a;
SELECT nexplane.audit_query('{"limit": 2}')->0->>'cursor' AS cursor_a \gset
SELECT test.try(format($$SELECT nexplane.audit_query(%L)$$, jsonb_build_object('before', :'cursor_b')))
    AS b_cursor_to_a;
SELECT test.try(format($$SELECT nexplane.audit_query(%L)$$,
                       jsonb_build_object('before', overlay(:'cursor_a' PLACING
                           CASE WHEN substr(:'cursor_a', 10, 1) = 'A' THEN 'B' ELSE 'A' END FROM 10 FOR 1))))
    AS changed_cursor;
SELECT test.try($$SELECT nexplane.audit_query('{"before": "12345"}')$$) AS a_number;
SELECT test.try($$SELECT nexplane.audit_query('{"before": 12345}')$$) AS not_a_string;
SELECT test.try($$SELECT nexplane.audit_query('{"before": null}')$$) AS null_cursor;
SELECT test.try($$SELECT nexplane.audit_query('{"before": ""}')$$) AS empty_cursor;
SELECT test.try(format($$SELECT nexplane.audit_query(%L)$$, jsonb_build_object('before', repeat('A', 10000))))
    AS long_cursor;
SELECT test.try(format($$SELECT nexplane.audit_query(%L)$$, jsonb_build_object('before', :'cursor_a' || '==')))
    AS padded_cursor;
SELECT test.try($$SELECT nexplane.audit_query('{"before_id": 1}')$$) AS by_id;
-- A's own cursor works, and gives exactly the events older than its.
SELECT jsonb_array_length(nexplane.audit_query(jsonb_build_object('before', :'cursor_a')))
       = jsonb_array_length(nexplane.audit_query()) - 1 AS own_cursor_pages;
-- An event not sealed yet has no chain_seq, but a cursor that pages.
SELECT nexplane.user_create('three@ids-a.test', 'ids-user-pass-1', 'viewer')->>'role' AS a_three;
SELECT e->'chain_seq' AS unsealed_seq, e ? 'cursor' AS has_cursor,
       nexplane.audit_query(jsonb_build_object('before', e->>'cursor', 'limit', 1))->0->>'cursor' = :'cursor_a'
       AS next_is_the_newest_sealed
  FROM (SELECT nexplane.audit_query('{"limit": 1}')->0 AS e) x;
COMMIT;
-- A cursor made for B, presented with A's tenant to the decoder itself
-- (as the superuser could), does not open either.
RESET ROLE;
SELECT test.try(format($$SELECT nexplane._audit_cursor_id(%L, %L)$$, :'ta', :'cursor_b')) AS decoder_refuses;
SELECT nexplane._audit_cursor_id(:'tb', :'cursor_b') = (SELECT max(id) FROM nexplane.audit_events
                                                        WHERE tenant_id = :'tb') AS b_cursor_is_b_id;
