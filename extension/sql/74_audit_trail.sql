-- The audit trail: a C trigger on every mutable tenant table, append-only
-- guards, the per-tenant SHA-256 chain, verification and query.

CREATE FUNCTION nexplane._audit_trigger() RETURNS trigger
    AS 'MODULE_PATHNAME', 'nx_audit_trigger' LANGUAGE C;
CREATE FUNCTION nexplane._append_only() RETURNS trigger
    AS 'MODULE_PATHNAME', 'nx_append_only' LANGUAGE C;

-- Every tenant table is audited, except the audit trail's own tables.
DO $$
DECLARE
    t regclass;
BEGIN
    FOR t IN SELECT c.oid::regclass FROM pg_class c
              WHERE c.relnamespace = 'nexplane'::regnamespace AND c.relkind = 'r'
                AND c.relname NOT IN ('audit_events', 'audit_chain', 'audit_chain_heads',
                                      'audit_time_ranges', 'change_request_events')
    LOOP
        EXECUTE format('CREATE TRIGGER audit AFTER INSERT OR UPDATE OR DELETE ON %s'
                       ' FOR EACH ROW EXECUTE FUNCTION nexplane._audit_trigger()', t);
    END LOOP;
END
$$;

-- Append-only, for the owner too.
CREATE TRIGGER append_only BEFORE UPDATE OR DELETE ON nexplane.audit_events
    FOR EACH ROW EXECUTE FUNCTION nexplane._append_only();
CREATE TRIGGER append_only_truncate BEFORE TRUNCATE ON nexplane.audit_events
    FOR EACH STATEMENT EXECUTE FUNCTION nexplane._append_only();
CREATE TRIGGER append_only BEFORE UPDATE OR DELETE ON nexplane.audit_chain
    FOR EACH ROW EXECUTE FUNCTION nexplane._append_only();
CREATE TRIGGER append_only_truncate BEFORE TRUNCATE ON nexplane.audit_chain
    FOR EACH STATEMENT EXECUTE FUNCTION nexplane._append_only();
CREATE TRIGGER append_only BEFORE UPDATE OR DELETE ON nexplane.change_request_events
    FOR EACH ROW EXECUTE FUNCTION nexplane._append_only();
CREATE TRIGGER append_only_truncate BEFORE TRUNCATE ON nexplane.change_request_events
    FOR EACH STATEMENT EXECUTE FUNCTION nexplane._append_only();

-- What a link hashes: every column of the event and the link's place in
-- the chain, as canonical jsonb text (time as epoch microseconds,
-- independent of settings).
CREATE FUNCTION nexplane._audit_content(e nexplane.audit_events, chain_seq bigint) RETURNS bytea
    LANGUAGE sql IMMUTABLE SET search_path = pg_catalog, pg_temp AS $$
    SELECT convert_to(jsonb_build_array(e.tenant_id, e.id, chain_seq,
        (extract(epoch FROM e.occurred_at) * 1000000)::bigint, e.actor_kind, e.actor_id,
        e.action, e.target_table, e.target_id, e.before, e.after, e.request_id,
        e.trace_id)::text, 'UTF8')
$$;

-- The next transaction id to be assigned (for the sealer).
CREATE FUNCTION nexplane._next_xid() RETURNS xid8
    AS 'MODULE_PATHNAME', 'nx_next_xid' LANGUAGE C VOLATILE;

CREATE FUNCTION nexplane._audit_genesis() RETURNS bytea
    LANGUAGE sql IMMUTABLE AS $$ SELECT decode(repeat('00', 32), 'hex') $$;

-- Chain one tenant's committed events that are not chained yet, in id
-- order.  One sealer per tenant at a time (advisory lock); writers are
-- never blocked, they only ever insert.  The events still to chain are
-- found from the tenant's scan_from on, through the primary key, and
-- scan_from moves up as described at audit_chain_heads: only under read
-- committed, where each statement below takes a fresh snapshot.
CREATE FUNCTION nexplane._audit_seal_tenant(tenant uuid, max_rows integer DEFAULT 10000)
    RETURNS integer LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    head nexplane.audit_chain_heads;
    e nexplane.audit_events;
    seq bigint;
    prev bytea;
    link_hash bytea;
    scan_from bigint;
    pending_upto bigint;
    pending_horizon xid8;
    pending_done boolean;
    read_committed boolean := current_setting('transaction_isolation') = 'read committed';
    last_id bigint;
    min_id bigint;
    first_at timestamptz;
    last_at timestamptz;
    n integer := 0;
BEGIN
    PERFORM pg_advisory_xact_lock(hashtextextended('nexplane.audit_seal:' || tenant, 0));
    SELECT * INTO head FROM nexplane.audit_chain_heads h WHERE h.tenant_id = tenant;
    seq := coalesce(head.last_seq, 0);
    prev := coalesce(head.last_hash, nexplane._audit_genesis());
    scan_from := coalesce(head.scan_from, 0);
    pending_upto := head.pending_upto;
    pending_horizon := head.pending_horizon;
    -- Has every transaction that could hold an id up to pending_upto ended?
    -- (A snapshot's xmin is its oldest running transaction.)
    pending_done := read_committed AND pending_upto IS NOT NULL
        AND pg_snapshot_xmin(pg_current_snapshot()) >= pending_horizon;
    FOR e IN SELECT * FROM nexplane.audit_events x
              WHERE x.tenant_id = tenant AND x.id >= scan_from
                AND NOT EXISTS (SELECT 1 FROM nexplane.audit_chain c
                                 WHERE c.tenant_id = tenant AND c.event_id = x.id)
              ORDER BY x.id LIMIT max_rows
    LOOP
        seq := seq + 1;
        link_hash := sha256(prev || nexplane._audit_content(e, seq));
        INSERT INTO nexplane.audit_chain (tenant_id, chain_seq, event_id, prev_hash, hash)
        VALUES (tenant, seq, e.id, prev, link_hash);
        prev := link_hash;
        last_id := e.id;
        min_id := coalesce(min_id, e.id);
        first_at := least(first_at, e.occurred_at);
        last_at := greatest(last_at, e.occurred_at);
        n := n + 1;
    END LOOP;
    IF n > 0 THEN
        PERFORM nexplane._audit_note_time_range(tenant, min_id, last_id, first_at, last_at, n);
    END IF;
    IF pending_done THEN
        -- Every event up to pending_upto is visible to the scan above, and
        -- every visible one was chained (up to last_id, when max_rows cut
        -- the scan short).
        scan_from := greatest(scan_from, CASE WHEN n < max_rows THEN pending_upto
                                              ELSE least(pending_upto, last_id) END + 1);
        IF scan_from > pending_upto THEN
            pending_upto := NULL;
        END IF;
    END IF;
    IF read_committed AND pending_upto IS NULL THEN
        SELECT CASE WHEN s.is_called THEN s.last_value ELSE s.last_value - 1 END
          INTO pending_upto FROM nexplane.audit_events_id_seq s;
        pending_horizon := nexplane._next_xid();	-- read after that
    END IF;
    IF n > 0 OR head.tenant_id IS NULL OR scan_from <> head.scan_from
       OR pending_upto IS DISTINCT FROM head.pending_upto THEN
        INSERT INTO nexplane.audit_chain_heads AS h
               (tenant_id, last_seq, last_hash, scan_from, pending_upto, pending_horizon)
        VALUES (tenant, seq, prev, scan_from, pending_upto, pending_horizon)
        ON CONFLICT (tenant_id) DO UPDATE
            SET last_seq = excluded.last_seq, last_hash = excluded.last_hash,
                scan_from = excluded.scan_from, pending_upto = excluded.pending_upto,
                pending_horizon = excluded.pending_horizon, sealed_at = now();
    END IF;
    RETURN n;
END
$$;

-- Record where in id order the events just chained are (audit_time_ranges):
-- into the tenant's newest row while it stays under 10,000 events, else a
-- new row.  A row's span only ever grows, so it keeps covering its events.
CREATE FUNCTION nexplane._audit_note_time_range(tenant uuid, min_id bigint, max_id bigint,
                                                min_at timestamptz, max_at timestamptz,
                                                n integer)
    RETURNS void LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    r nexplane.audit_time_ranges;
BEGIN
    SELECT * INTO r FROM nexplane.audit_time_ranges t
     WHERE t.tenant_id = tenant ORDER BY t.first_id DESC LIMIT 1;
    IF r.tenant_id IS NOT NULL AND r.events + n <= 10000 AND min_id >= r.first_id THEN
        UPDATE nexplane.audit_time_ranges t
           SET last_id = greatest(t.last_id, max_id), first_at = least(t.first_at, min_at),
               last_at = greatest(t.last_at, max_at), events = t.events + n
         WHERE t.tenant_id = tenant AND t.first_id = r.first_id;
    ELSE
        INSERT INTO nexplane.audit_time_ranges (tenant_id, first_id, last_id, first_at, last_at, events)
        VALUES (tenant, min_id, max_id, min_at, max_at, n);
    END IF;
END
$$;

-- For pg_cron (a superuser): seal every tenant.
CREATE FUNCTION nexplane._audit_seal_all(max_rows integer DEFAULT 10000) RETURNS integer
    LANGUAGE sql SET search_path = pg_catalog, pg_temp AS $$
    SELECT coalesce(sum(nexplane._audit_seal_tenant(t.id, max_rows)), 0)::integer
      FROM nexplane.tenants t
$$;

-- Recompute one tenant's chain; report the first broken link, then a cut
-- tail, then an event the chain skipped.
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
    SELECT * INTO head FROM nexplane.audit_chain_heads h WHERE h.tenant_id = tenant;
    WITH c AS (
        SELECT l.chain_seq, l.event_id, l.prev_hash, l.hash, e.id IS NOT NULL AS present,
               lag(l.hash) OVER w AS prev_link_hash, lag(l.chain_seq) OVER w AS prev_seq,
               sha256(l.prev_hash || nexplane._audit_content(e, l.chain_seq)) AS recomputed
          FROM nexplane.audit_chain l
          LEFT JOIN nexplane.audit_events e ON e.tenant_id = l.tenant_id AND e.id = l.event_id
         WHERE l.tenant_id = tenant
        WINDOW w AS (ORDER BY l.chain_seq)
    ), problems AS (
        SELECT chain_seq, event_id,
               CASE WHEN chain_seq <> coalesce(prev_seq, 0) + 1
                        THEN 'events are missing before this one'
                    WHEN prev_hash IS DISTINCT FROM coalesce(prev_link_hash, nexplane._audit_genesis())
                        THEN 'this event does not follow the one before it'
                    WHEN NOT present
                        THEN 'this event is missing'
                    WHEN hash IS DISTINCT FROM recomputed
                        THEN 'this event was altered'
               END AS problem
          FROM c
    )
    SELECT (SELECT count(*) FROM c),
           (SELECT jsonb_build_object('chain_seq', chain_seq, 'event_id', event_id, 'problem', problem)
              FROM problems WHERE problem IS NOT NULL ORDER BY chain_seq LIMIT 1),
           (SELECT coalesce(max(chain_seq), 0) FROM c),
           (SELECT coalesce((SELECT hash FROM c ORDER BY chain_seq DESC LIMIT 1),
                            nexplane._audit_genesis()))
      INTO checked, broken, last_seq, last_hash;
    IF broken IS NULL AND head.tenant_id IS NOT NULL
       AND (last_seq <> head.last_seq OR last_hash <> head.last_hash) THEN
        broken := jsonb_build_object('chain_seq', head.last_seq, 'event_id', NULL,
                                     'problem', 'events are missing at the end of the chain');
    END IF;
    IF broken IS NULL THEN
        SELECT jsonb_build_object('chain_seq', NULL, 'event_id', e.id,
                                  'problem', 'this event was left out of the chain')
          INTO broken
          FROM nexplane.audit_events e
         WHERE e.tenant_id = tenant AND e.id < coalesce(head.scan_from, 0)
           AND NOT EXISTS (SELECT 1 FROM nexplane.audit_chain l
                            WHERE l.tenant_id = tenant AND l.event_id = e.id)
         ORDER BY e.id LIMIT 1;
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
--
-- Events are read backwards along the primary key, one id span after
-- another from the newest: without a time range, one span of all ids; with
-- one, the events from the tenant's scan_from on (the sealer may not have
-- chained them yet, whatever their time) and the spans of the rows of
-- audit_time_ranges whose times overlap the range, overlapping spans
-- joined, so that each event is read once and in order.
CREATE FUNCTION nexplane.audit_query(filter jsonb DEFAULT '{}') RETURNS jsonb
    LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    f jsonb := coalesce(filter, '{}');
    tenant uuid;
    lim integer;
    t_from timestamptz;
    t_to timestamptz;
    by_time boolean;
    below bigint;		-- ids up to this one (before_id - 1)
    tail_from bigint;
    span record;
    page jsonb;
    k integer;
    result jsonb := '[]';
BEGIN
    PERFORM nexplane._require_role('admin');
    tenant := nexplane.current_tenant_id();
    lim := nexplane._filter_limit(f, ARRAY['from', 'to', 'actor_id', 'actor_kind', 'action',
                                           'target_table', 'target_id', 'request_id',
                                           'trace_id', 'before_id'], 100, 500);
    BEGIN
        t_from := (f->>'from')::timestamptz;
        t_to := (f->>'to')::timestamptz;
        below := (f->>'before_id')::bigint;
        PERFORM (f->>'actor_id')::uuid;
    EXCEPTION WHEN data_exception THEN
        PERFORM nexplane._raise('NX400', 'invalid filter value', SQLERRM);
    END;
    by_time := t_from IS NOT NULL OR t_to IS NOT NULL;
    -- (greatest() would take 1 over a null, and keeps before_id - 1 in range)
    below := CASE WHEN below IS NULL THEN 9223372036854775807 ELSE greatest(below, 1) - 1 END;
    SELECT coalesce(max(h.scan_from), 0) INTO tail_from
      FROM nexplane.audit_chain_heads h WHERE h.tenant_id = tenant;
    FOR span IN
        WITH s AS (
            SELECT CASE WHEN by_time THEN tail_from ELSE 0 END AS lo, below AS hi
            UNION ALL
            SELECT r.first_id, least(r.last_id, below) FROM nexplane.audit_time_ranges r
             WHERE by_time AND r.tenant_id = tenant AND r.first_id <= below
               AND (t_to IS NULL OR r.first_at < t_to)
               AND (t_from IS NULL OR r.last_at >= t_from)),
        starts AS (	-- a span that begins past every span before it starts an island
            SELECT lo, hi, CASE WHEN lo <= max(hi) OVER (ORDER BY lo, hi ROWS BETWEEN
                                 UNBOUNDED PRECEDING AND 1 PRECEDING) + 1 THEN 0 ELSE 1 END AS new
              FROM s WHERE lo <= hi),
        islands AS (SELECT lo, hi, sum(new) OVER (ORDER BY lo, hi) AS island FROM starts)
        SELECT min(lo) AS lo, max(hi) AS hi FROM islands GROUP BY island ORDER BY 2 DESC
    LOOP
        SELECT coalesce(jsonb_agg(to_jsonb(e) || jsonb_build_object('chain_seq',
                                      (SELECT l.chain_seq FROM nexplane.audit_chain l
                                        WHERE l.tenant_id = e.tenant_id AND l.event_id = e.id))
                                  ORDER BY e.id DESC), '[]'), count(*)
          INTO page, k
          FROM (SELECT * FROM nexplane.audit_events e
                 WHERE e.tenant_id = tenant AND e.id >= span.lo AND e.id <= span.hi
                   AND (t_from IS NULL OR e.occurred_at >= t_from)
                   AND (t_to IS NULL OR e.occurred_at < t_to)
                   AND (f->>'actor_id' IS NULL OR e.actor_id = (f->>'actor_id')::uuid)
                   AND (f->>'actor_kind' IS NULL OR e.actor_kind = f->>'actor_kind')
                   AND (f->>'action' IS NULL OR e.action = f->>'action'
                        OR (right(f->>'action', 1) = '*'
                            AND starts_with(e.action, rtrim(f->>'action', '*'))))
                   AND (f->>'target_table' IS NULL OR e.target_table = f->>'target_table')
                   AND (f->>'target_id' IS NULL OR e.target_id = f->>'target_id')
                   AND (f->>'request_id' IS NULL OR e.request_id = f->>'request_id')
                   AND (f->>'trace_id' IS NULL OR e.trace_id = f->>'trace_id')
                 ORDER BY e.id DESC LIMIT lim) e;
        result := result || page;
        lim := lim - k;
        EXIT WHEN lim = 0;
    END LOOP;
    RETURN result;
END
$$;
