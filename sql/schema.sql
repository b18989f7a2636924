-- The schema's security invariants, checked from the catalogs so that a
-- table or function added later without them fails this suite.

-- Every table, its row-level security and its policies.
SELECT c.relname, c.relrowsecurity AS rls, c.relforcerowsecurity AS forced,
       (SELECT count(*) FROM pg_policy p WHERE p.polrelid = c.oid) AS policies
  FROM pg_class c
 WHERE c.relnamespace = 'nexplane'::regnamespace AND c.relkind IN ('r', 'p')
 ORDER BY 1;

-- The guard: a table with a tenant_id column and without forced RLS.
SELECT c.relname AS tenant_table_without_forced_rls
  FROM pg_class c
  JOIN pg_attribute a ON a.attrelid = c.oid AND a.attname = 'tenant_id' AND NOT a.attisdropped
 WHERE c.relnamespace = 'nexplane'::regnamespace AND c.relkind IN ('r', 'p')
   AND NOT (c.relrowsecurity AND c.relforcerowsecurity
            AND EXISTS (SELECT 1 FROM pg_policy p WHERE p.polrelid = c.oid));

-- Citus-ready: tenant_id leads every primary and foreign key that has it.
SELECT con.conrelid::regclass AS rel, con.conname
  FROM pg_constraint con
  JOIN pg_attribute a ON a.attrelid = con.conrelid AND a.attname = 'tenant_id'
 WHERE con.connamespace = 'nexplane'::regnamespace AND con.contype IN ('p', 'f')
   AND con.conkey[1] <> a.attnum
   AND NOT (con.contype = 'f' AND con.confrelid = 'nexplane.tenants'::regclass);

-- Owned by nexplane_owner, which is neither superuser nor BYPASSRLS.
SELECT count(*) AS objects_not_owned_by_nexplane_owner FROM (
    SELECT relowner AS owner FROM pg_class
     WHERE relnamespace = 'nexplane'::regnamespace AND relkind IN ('r', 'p', 'v')
    UNION ALL
    SELECT proowner FROM pg_proc WHERE pronamespace = 'nexplane'::regnamespace
) o WHERE o.owner <> 'nexplane_owner'::regrole;

-- nexplane_api can touch no table or sequence directly.
SELECT c.relname AS api_can_touch
  FROM pg_class c
 WHERE c.relnamespace = 'nexplane'::regnamespace AND c.relkind IN ('r', 'p', 'v', 'S')
   AND (has_table_privilege('nexplane_api', c.oid,
            'SELECT, INSERT, UPDATE, DELETE, TRUNCATE, REFERENCES, TRIGGER')
        OR (c.relkind = 'S' AND has_sequence_privilege('nexplane_api', c.oid, 'USAGE, UPDATE')));

-- Every SECURITY DEFINER function pins search_path.
SELECT p.oid::regprocedure AS definer_without_search_path
  FROM pg_proc p
 WHERE p.pronamespace = 'nexplane'::regnamespace AND p.prosecdef
   AND NOT coalesce(p.proconfig @> ARRAY['search_path=pg_catalog, pg_temp'], false);

-- Internal helpers are out of nexplane_api's reach; the API is within it.
SELECT p.proname, has_function_privilege('nexplane_api', p.oid, 'EXECUTE') AS api_may_call
  FROM pg_proc p
 WHERE p.pronamespace = 'nexplane'::regnamespace
 ORDER BY left(p.proname, 1) = '_', p.proname;

-- Every mutable tenant table carries the audit trigger (but the audit
-- tables themselves, and the live feed, which is derived from audited rows) ...
SELECT c.relname AS tenant_table_without_audit_trigger
  FROM pg_class c
 WHERE c.relnamespace = 'nexplane'::regnamespace AND c.relkind = 'r'
   AND c.relname NOT IN ('audit_events', 'audit_chain', 'audit_chain_heads', 'audit_time_ranges',
                         'audit_keys', 'change_request_events', 'agent_ca',
                         'stream_events', 'stream_events_pending', 'event_heads')
   AND NOT EXISTS (SELECT 1 FROM pg_trigger t WHERE t.tgrelid = c.oid AND t.tgname = 'audit');
-- ... and the append-only tables their guards.
SELECT t.tgrelid::regclass AS append_only_table, t.tgname
  FROM pg_trigger t
 WHERE t.tgname LIKE 'append_only%' ORDER BY 1, 2;
