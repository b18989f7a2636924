-- The sealer: chains each tenant's committed events into audit_chain
-- (per-tenant SHA-256 links) and notes the time spans for audit_query.

-- What a link hashes: every column of the event (its MAC too) and the
-- link's place in the chain, as canonical jsonb text (time as epoch
-- microseconds, independent of settings).  The sealer chains every event,
-- whatever its MAC: audit_verify() reports those whose MAC does not hold.
CREATE FUNCTION nexplane._audit_content(e nexplane.audit_events, chain_seq bigint) RETURNS bytea
    LANGUAGE sql IMMUTABLE SET search_path = pg_catalog, pg_temp AS $$
    SELECT convert_to(jsonb_build_array(e.tenant_id, e.id, chain_seq,
        (extract(epoch FROM e.occurred_at) * 1000000)::bigint, e.actor_kind, e.actor_id,
        e.action, e.target_table, e.target_id, e.before, e.after, e.request_id,
        e.trace_id, e.mac)::text, 'UTF8')
$$;

-- The next transaction id to be assigned (for the sealer).
CREATE FUNCTION nexplane._next_xid() RETURNS xid8
    AS 'MODULE_PATHNAME', 'nx_next_xid' LANGUAGE C VOLATILE;

CREATE FUNCTION nexplane._audit_genesis() RETURNS bytea
    LANGUAGE sql IMMUTABLE AS $$ SELECT decode(repeat('00', 32), 'hex') $$;

-- Chain one tenant's committed events that are not chained yet, in id
-- order.  One sealer per tenant at a time (a row lock); writers are
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
    -- One sealer per tenant: a row lock on the tenant's row, which no API
    -- role can take (an advisory key anyone can compute let any session
    -- stall another tenant's sealing).  NO KEY UPDATE leaves writers' foreign
    -- key checks (KEY SHARE) unblocked.
    PERFORM 1 FROM nexplane.tenants t WHERE t.id = tenant FOR NO KEY UPDATE;
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

-- audit_seal(): the caller's tenant, admins.
CREATE FUNCTION nexplane.audit_seal() RETURNS jsonb
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    PERFORM nexplane._require_role('admin');
    RETURN jsonb_build_object('sealed', nexplane._audit_seal_tenant(nexplane.current_tenant_id()));
END
$$;
