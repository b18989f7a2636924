-- Audit payloads are jsonb built straight from the row (audit_trigger.c):
-- typed values, secrets redacted, and the keys in jsonb's own order, which
-- lookups rely on.  A table of up to 64 columns without a jsonb column has
-- its keys sorted once per backend and its payloads built already sorted;
-- any other table's are built by pushJsonbValue(), which sorts.  Both must
-- read back exactly as their own text parsed again.
SELECT (nexplane.tenant_create('payloads', 'Payloads', 'admin@payloads.test', 'payloads-admin-pass')
        ->'tenant'->>'id') AS tenant \gset
CREATE TABLE test.narrow (tenant_id uuid NOT NULL, id bigint PRIMARY KEY, "a key" text,
                          zz boolean, n numeric, small smallint, ref uuid, day date,
                          at timestamptz, password_hash text, tags text[]);
CREATE TABLE test.doc (tenant_id uuid NOT NULL, id int PRIMARY KEY, body jsonb, b boolean,
                       key_hash text);
DO $$ BEGIN
  EXECUTE 'CREATE TABLE test.wide (tenant_id uuid NOT NULL, id int PRIMARY KEY, '
       || (SELECT string_agg(format('c%s int DEFAULT %s', g, g), ', ') FROM generate_series(1, 70) g) || ')';
END $$;
CREATE TRIGGER audit AFTER INSERT OR UPDATE OR DELETE ON test.narrow
    FOR EACH ROW EXECUTE FUNCTION nexplane._audit_trigger();
CREATE TRIGGER audit AFTER INSERT OR UPDATE OR DELETE ON test.doc
    FOR EACH ROW EXECUTE FUNCTION nexplane._audit_trigger();
CREATE TRIGGER audit AFTER INSERT OR UPDATE OR DELETE ON test.wide
    FOR EACH ROW EXECUTE FUNCTION nexplane._audit_trigger();

INSERT INTO test.narrow VALUES (:'tenant', 9007199254740993, 'quote " and \ back', true, 1.50, -2,
                                'A0EEBC99-9C0B-4EF8-BB6D-6BB9BD380A11', '2026-02-28',
                                '2026-11-23 10:00:00.5+01', 'secret-hash', '{x,"y z"}');
UPDATE test.narrow SET zz = NULL, n = 2, "a key" = 'é' WHERE id = 9007199254740993;
UPDATE test.narrow SET n = 2 WHERE id = 9007199254740993;	-- changes nothing: no event
INSERT INTO test.doc VALUES (:'tenant', 1, '{"b": [1, {"x": null}], "a": "s", "aa": 1}', false, 'h');
UPDATE test.doc SET body = '{}', b = true WHERE id = 1;
DELETE FROM test.doc;
INSERT INTO test.wide (tenant_id, id) VALUES (:'tenant', 1);
UPDATE test.wide SET c70 = 0, c3 = 0 WHERE id = 1;
-- (a column dropped and one renamed: the sorted order is learned again)
ALTER TABLE test.narrow DROP COLUMN small;
ALTER TABLE test.narrow RENAME COLUMN zz TO a;
UPDATE test.narrow SET a = false, n = 3 WHERE id = 9007199254740993;

SELECT action, target_id, before - 'tenant_id' AS before, after - 'tenant_id' AS after,
       coalesce(before, after)->>'tenant_id' = :'tenant' AS tenant_id_in_payload
  FROM nexplane.audit_events
 WHERE tenant_id = :'tenant' AND target_table IN ('narrow', 'doc') ORDER BY id;
SELECT action, after->'c1' AS c1, after->'c70' AS c70, after->'id' AS id,
       (SELECT count(*) FROM jsonb_object_keys(after)) AS keys, before
  FROM nexplane.audit_events WHERE tenant_id = :'tenant' AND target_table = 'wide' ORDER BY id;
-- keys in jsonb's order: every payload equals its text parsed again, and
-- every key is found by lookup (a binary search over the sorted keys)
SELECT target_table, count(*) AS events,
       bool_and(coalesce(before = (before::text)::jsonb, true)
                AND coalesce(after = (after::text)::jsonb, true)) AS reparse_same,
       bool_and((SELECT bool_and(after ? k) FROM jsonb_object_keys(after) k) IS NOT FALSE
                AND (SELECT bool_and(before ? k) FROM jsonb_object_keys(before) k) IS NOT FALSE) AS keys_found
  FROM nexplane.audit_events WHERE tenant_id = :'tenant' GROUP BY 1 ORDER BY 1;
-- and so does every other event of the whole trail so far
SELECT count(*) FILTER (WHERE NOT (coalesce(before = (before::text)::jsonb, true)
                                   AND coalesce(after = (after::text)::jsonb, true))) AS misordered
  FROM nexplane.audit_events;
-- Each event's MAC covers its payloads' stored bytes: they are the same
-- when parsed again from their text, as a dump and restore stores them,
-- so no MAC of the trail breaks by it.
SELECT count(*) FILTER (WHERE nexplane._audit_mac_ok(e)) = count(*) AS this_tenant_macs_hold
  FROM nexplane.audit_events e WHERE e.tenant_id = :'tenant';
SELECT count(*) FILTER (WHERE nexplane._audit_mac_ok(e) AND NOT nexplane._audit_mac_ok(
           jsonb_populate_record(e, jsonb_build_object('before', (e.before::text)::jsonb,
                                                       'after', (e.after::text)::jsonb))))
       AS broken_by_reparsing
  FROM nexplane.audit_events e;
DROP TABLE test.narrow, test.doc, test.wide;
