-- The audit trail: a C trigger on every mutable tenant table, append-only
-- guards, the per-tenant SHA-256 chain, verification and query.

CREATE FUNCTION nexplane._audit_trigger() RETURNS trigger
    AS 'MODULE_PATHNAME', 'nx_audit_trigger' LANGUAGE C;
CREATE FUNCTION nexplane._append_only() RETURNS trigger
    AS 'MODULE_PATHNAME', 'nx_append_only' LANGUAGE C;

-- Every tenant table is audited, except the append-only ones themselves.
DO $$
DECLARE
    t regclass;
BEGIN
    FOR t IN SELECT c.oid::regclass FROM pg_class c
              WHERE c.relnamespace = 'nexplane'::regnamespace AND c.relkind = 'r'
                AND c.relname NOT IN ('audit_events', 'change_request_events',
                                      'audit_chain_heads')
    LOOP
        EXECUTE format('CREATE TRIGGER audit AFTER INSERT OR UPDATE OR DELETE ON %s'
                       ' FOR EACH ROW EXECUTE FUNCTION nexplane._audit_trigger()', t);
    END LOOP;
END
$$;

-- Append-only, for the owner too.  The sealer may fill the chain columns
-- of an audit event once; nothing else is ever updated.
CREATE TRIGGER append_only BEFORE UPDATE OR DELETE ON nexplane.audit_events
    FOR EACH ROW EXECUTE FUNCTION nexplane._append_only('chain_seq', 'prev_hash', 'hash');
CREATE TRIGGER append_only_truncate BEFORE TRUNCATE ON nexplane.audit_events
    FOR EACH STATEMENT EXECUTE FUNCTION nexplane._append_only();
CREATE TRIGGER append_only BEFORE UPDATE OR DELETE ON nexplane.change_request_events
    FOR EACH ROW EXECUTE FUNCTION nexplane._append_only();
CREATE TRIGGER append_only_truncate BEFORE TRUNCATE ON nexplane.change_request_events
    FOR EACH STATEMENT EXECUTE FUNCTION nexplane._append_only();

-- What the chain hashes: every column but the chain's own, as canonical
-- jsonb text (time as epoch microseconds, independent of settings).
CREATE FUNCTION nexplane._audit_content(e nexplane.audit_events) RETURNS bytea
    LANGUAGE sql IMMUTABLE SET search_path = pg_catalog, pg_temp AS $$
    SELECT convert_to(jsonb_build_array(e.tenant_id, e.id, e.chain_seq,
        (extract(epoch FROM e.occurred_at) * 1000000)::bigint, e.actor_kind, e.actor_id,
        e.action, e.target_table, e.target_id, e.before, e.after, e.request_id,
        e.trace_id)::text, 'UTF8')
$$;

CREATE FUNCTION nexplane._audit_genesis() RETURNS bytea
    LANGUAGE sql IMMUTABLE AS $$ SELECT decode(repeat('00', 32), 'hex') $$;

-- Seal one tenant's committed, unsealed events in id order: chain_seq,
-- prev_hash, hash.  One sealer per tenant at a time (advisory lock); the
-- writers are never blocked, they only ever insert.
CREATE FUNCTION nexplane._audit_seal_tenant(tenant uuid, max_rows integer DEFAULT 10000)
    RETURNS integer LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    head nexplane.audit_chain_heads;
    e nexplane.audit_events;
    seq bigint;
    prev bytea;
    n integer := 0;
BEGIN
    PERFORM pg_advisory_xact_lock(hashtextextended('nexplane.audit_seal:' || tenant, 0));
    SELECT * INTO head FROM nexplane.audit_chain_heads h WHERE h.tenant_id = tenant;
    seq := coalesce(head.last_seq, 0);
    prev := coalesce(head.last_hash, nexplane._audit_genesis());
    FOR e IN SELECT * FROM nexplane.audit_events x
              WHERE x.tenant_id = tenant AND x.chain_seq IS NULL
              ORDER BY x.id LIMIT max_rows
    LOOP
        seq := seq + 1;
        e.chain_seq := seq;
        e.prev_hash := prev;
        prev := sha256(prev || nexplane._audit_content(e));
        UPDATE nexplane.audit_events x SET chain_seq = seq, prev_hash = e.prev_hash, hash = prev
         WHERE x.tenant_id = tenant AND x.id = e.id;
        n := n + 1;
    END LOOP;
    IF n > 0 THEN
        INSERT INTO nexplane.audit_chain_heads AS h (tenant_id, last_seq, last_hash)
        VALUES (tenant, seq, prev)
        ON CONFLICT (tenant_id) DO UPDATE
            SET last_seq = excluded.last_seq, last_hash = excluded.last_hash, sealed_at = now();
    END IF;
    RETURN n;
END
$$;

-- For pg_cron (a superuser): seal every tenant.
CREATE FUNCTION nexplane._audit_seal_all(max_rows integer DEFAULT 10000) RETURNS integer
    LANGUAGE sql SET search_path = pg_catalog, pg_temp AS $$
    SELECT coalesce(sum(nexplane._audit_seal_tenant(t.id, max_rows)), 0)::integer
      FROM nexplane.tenants t
$$;

-- Recompute one tenant's chain; report the first broken link.
CREATE FUNCTION nexplane._audit_verify_tenant(tenant uuid) RETURNS jsonb
    LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    sealed integer;
    checked bigint;
    broken jsonb;
    head nexplane.audit_chain_heads;
    last_seq bigint;
    last_hash bytea;
BEGIN
    sealed := nexplane._audit_seal_tenant(tenant);
    WITH c AS (
        SELECT e.chain_seq, e.id, e.prev_hash, e.hash,
               lag(e.hash) OVER w AS prev_row_hash, lag(e.chain_seq) OVER w AS prev_seq,
               sha256(e.prev_hash || nexplane._audit_content(e)) AS recomputed
          FROM nexplane.audit_events e
         WHERE e.tenant_id = tenant AND e.chain_seq IS NOT NULL
        WINDOW w AS (ORDER BY e.chain_seq)
    ), problems AS (
        SELECT chain_seq, id,
               CASE WHEN chain_seq <> coalesce(prev_seq, 0) + 1
                        THEN 'events are missing before this one'
                    WHEN prev_hash IS DISTINCT FROM coalesce(prev_row_hash, nexplane._audit_genesis())
                        THEN 'this event does not follow the one before it'
                    WHEN hash IS DISTINCT FROM recomputed
                        THEN 'this event was altered'
               END AS problem
          FROM c
    )
    SELECT (SELECT count(*) FROM c),
           (SELECT jsonb_build_object('chain_seq', chain_seq, 'event_id', id, 'problem', problem)
              FROM problems WHERE problem IS NOT NULL ORDER BY chain_seq LIMIT 1),
           (SELECT max(chain_seq) FROM c),
           (SELECT hash FROM c ORDER BY chain_seq DESC LIMIT 1)
      INTO checked, broken, last_seq, last_hash;
    SELECT * INTO head FROM nexplane.audit_chain_heads h WHERE h.tenant_id = tenant;
    IF broken IS NULL AND head.tenant_id IS NOT NULL
       AND (last_seq IS DISTINCT FROM head.last_seq OR last_hash IS DISTINCT FROM head.last_hash) THEN
        broken := jsonb_build_object('chain_seq', head.last_seq, 'event_id', NULL,
                                     'problem', 'events are missing at the end of the chain');
    END IF;
    RETURN jsonb_build_object('ok', broken IS NULL, 'tenant_id', tenant, 'checked', checked,
                              'sealed_now', sealed, 'first_broken', broken);
END
$$;

-- audit_seal() and audit_verify(): the caller's tenant, admins.
CREATE FUNCTION nexplane.audit_seal() RETURNS jsonb
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    PERFORM nexplane._require_role('admin');
    RETURN jsonb_build_object('sealed', nexplane._audit_seal_tenant(nexplane.current_tenant_id()));
END
$$;

CREATE FUNCTION nexplane.audit_verify() RETURNS jsonb
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    PERFORM nexplane._require_role('admin');
    RETURN nexplane._audit_verify_tenant(nexplane.current_tenant_id());
END
$$;

-- audit_query(filter): newest first.  Filter keys: from, to (timestamps),
-- actor_id, actor_kind, action (exact, or a prefix ending in '*'),
-- target_table, target_id, request_id, trace_id, before_id (keyset cursor: the id of
-- the last event of the previous page), limit (1 to 500, default 100).
CREATE FUNCTION nexplane.audit_query(filter jsonb DEFAULT '{}') RETURNS jsonb
    LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    f jsonb := coalesce(filter, '{}');
    lim integer;
    result jsonb;
BEGIN
    PERFORM nexplane._require_role('admin');
    lim := nexplane._filter_limit(f, ARRAY['from', 'to', 'actor_id', 'actor_kind', 'action',
                                           'target_table', 'target_id', 'request_id',
                                           'trace_id', 'before_id'], 100, 500);
    BEGIN
        PERFORM (f->>'from')::timestamptz, (f->>'to')::timestamptz,
                (f->>'actor_id')::uuid, (f->>'before_id')::bigint;
    EXCEPTION WHEN data_exception THEN
        PERFORM nexplane._raise('NX400', 'invalid filter value', SQLERRM);
    END;
    SELECT coalesce(jsonb_agg(to_jsonb(e) - 'prev_hash' - 'hash'
                              || jsonb_build_object('sealed', e.chain_seq IS NOT NULL)
                              ORDER BY e.id DESC), '[]')
      INTO result
      FROM (SELECT * FROM nexplane.audit_events e
             WHERE e.tenant_id = nexplane.current_tenant_id()
               AND (f->>'from' IS NULL OR e.occurred_at >= (f->>'from')::timestamptz)
               AND (f->>'to' IS NULL OR e.occurred_at < (f->>'to')::timestamptz)
               AND (f->>'actor_id' IS NULL OR e.actor_id = (f->>'actor_id')::uuid)
               AND (f->>'actor_kind' IS NULL OR e.actor_kind = f->>'actor_kind')
               AND (f->>'action' IS NULL OR e.action = f->>'action'
                    OR (right(f->>'action', 1) = '*'
                        AND starts_with(e.action, rtrim(f->>'action', '*'))))
               AND (f->>'target_table' IS NULL OR e.target_table = f->>'target_table')
               AND (f->>'target_id' IS NULL OR e.target_id = f->>'target_id')
               AND (f->>'request_id' IS NULL OR e.request_id = f->>'request_id')
               AND (f->>'trace_id' IS NULL OR e.trace_id = f->>'trace_id')
               AND (f->>'before_id' IS NULL OR e.id < (f->>'before_id')::bigint)
             ORDER BY e.id DESC LIMIT lim) e;
    RETURN result;
END
$$;
