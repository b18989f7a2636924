-- The live event feed behind GET /v1/events: one row per change-request
-- transition and per job state change, numbered per tenant in commit order,
-- so that a client resuming with Last-Event-ID misses nothing.
--
-- Why commit order holds: the number is taken from the tenant's row in
-- event_heads by a deferred trigger, that is at commit, as the last lock
-- the transaction takes (so it cannot deadlock with the row locks of the
-- transitions), and the row lock is held until the commit that makes the
-- event visible.  A later number therefore never becomes visible before an
-- earlier one.  The table is derived data: it is not audited (the source
-- rows are) and old rows may be pruned.

CREATE TABLE nexplane.event_heads (
    tenant_id uuid PRIMARY KEY REFERENCES nexplane.tenants (id),
    seq       bigint NOT NULL CHECK (seq > 0)
);
ALTER TABLE nexplane.event_heads ENABLE ROW LEVEL SECURITY;
ALTER TABLE nexplane.event_heads FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON nexplane.event_heads
    USING (tenant_id = nexplane.current_tenant_id() OR nexplane.system_access())
    WITH CHECK (tenant_id = nexplane.current_tenant_id() OR nexplane.system_access());

CREATE TABLE nexplane.stream_events (
    tenant_id         uuid NOT NULL REFERENCES nexplane.tenants (id),
    seq               bigint NOT NULL,
    kind              text NOT NULL CHECK (kind IN ('change_request', 'job')),
    subject_id        uuid NOT NULL,
    change_request_id uuid,
    action            text,
    from_state        text,
    to_state          text NOT NULL,
    actor_kind        text,
    actor_id          uuid,
    created_at        timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, seq)
);
CREATE INDEX stream_events_created_idx ON nexplane.stream_events USING brin (created_at);
ALTER TABLE nexplane.stream_events ENABLE ROW LEVEL SECURITY;
ALTER TABLE nexplane.stream_events FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON nexplane.stream_events
    USING (tenant_id = nexplane.current_tenant_id() OR nexplane.system_access())
    WITH CHECK (tenant_id = nexplane.current_tenant_id() OR nexplane.system_access());

-- The trigger is C (stream_events.c): at commit a worker's system access and
-- the caller's context may be gone, so it appends with system access, for
-- the tenant of the row that fired it.
CREATE FUNCTION nexplane._stream_event() RETURNS trigger
    AS 'MODULE_PATHNAME', 'nx_stream_event' LANGUAGE C
    SECURITY DEFINER SET search_path = pg_catalog, pg_temp;

CREATE CONSTRAINT TRIGGER stream_event AFTER INSERT ON nexplane.change_request_events
    DEFERRABLE INITIALLY DEFERRED
    FOR EACH ROW EXECUTE FUNCTION nexplane._stream_event();
CREATE CONSTRAINT TRIGGER stream_event AFTER INSERT OR UPDATE OF state ON nexplane.jobs
    DEFERRABLE INITIALLY DEFERRED
    FOR EACH ROW EXECUTE FUNCTION nexplane._stream_event();

-- events_since(after, max_events): the caller's tenant's events numbered
-- after `after`, oldest first, as {"last": n, "events": [...]}; "last" is
-- the number to resume from.  With after NULL: no events, and the current
-- number, so that a new subscriber starts from now.
CREATE FUNCTION nexplane.events_since(after bigint DEFAULT NULL, max_events integer DEFAULT 100)
    RETURNS jsonb
    LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
#variable_conflict use_variable
DECLARE
    evs jsonb;
    last bigint;
BEGIN
    PERFORM nexplane._require_auth();
    IF after IS NULL THEN
        SELECT h.seq INTO last FROM nexplane.event_heads h
         WHERE h.tenant_id = nexplane.current_tenant_id();
        RETURN jsonb_build_object('last', coalesce(last, 0), 'events', '[]'::jsonb);
    END IF;
    IF after < 0 THEN
        PERFORM nexplane._raise('NX400', 'the event number to resume after must not be negative');
    END IF;
    IF max_events IS NULL OR max_events NOT BETWEEN 1 AND 1000 THEN
        PERFORM nexplane._raise('NX400', 'max_events must be between 1 and 1000');
    END IF;
    SELECT coalesce(jsonb_agg(jsonb_build_object(
               'id', e.seq, 'kind', e.kind, 'subject_id', e.subject_id,
               'change_request_id', e.change_request_id, 'action', e.action,
               'from', e.from_state, 'to', e.to_state, 'actor_kind', e.actor_kind,
               'actor_id', e.actor_id, 'at', e.created_at) ORDER BY e.seq), '[]'),
           max(e.seq)
      INTO evs, last
      FROM (SELECT * FROM nexplane.stream_events s
             WHERE s.tenant_id = nexplane.current_tenant_id() AND s.seq > after
             ORDER BY s.seq LIMIT max_events) e;
    RETURN jsonb_build_object('last', coalesce(last, after), 'events', evs);
END
$$;

-- Retention for the derived feed (pg_cron calls it); the sources stay.
CREATE FUNCTION nexplane._stream_events_prune(keep interval DEFAULT '7 days') RETURNS bigint
    LANGUAGE sql SET search_path = pg_catalog, pg_temp AS $$
    WITH gone AS (DELETE FROM nexplane.stream_events WHERE created_at < now() - keep
                  RETURNING 1)
    SELECT count(*) FROM gone
$$;
