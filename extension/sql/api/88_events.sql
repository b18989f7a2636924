-- The live event feed: the deferred trigger that numbers transitions and
-- job state changes per tenant, events_since() and the prune job's function.
-- Tables and why commit order holds: schema/88_events.sql.

CREATE FUNCTION nexplane._stream_event() RETURNS trigger
    AS 'MODULE_PATHNAME', 'nx_stream_event' LANGUAGE C
    SECURITY DEFINER SET search_path = pg_catalog, pg_temp;

CREATE CONSTRAINT TRIGGER stream_event AFTER INSERT ON nexplane.change_request_events
    DEFERRABLE INITIALLY DEFERRED
    FOR EACH ROW EXECUTE FUNCTION nexplane._stream_event();
CREATE CONSTRAINT TRIGGER stream_event
    AFTER INSERT OR UPDATE OF state, progress_percent, progress_step ON nexplane.jobs
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
               'actor_id', e.actor_id, 'at', e.created_at)
               || CASE WHEN e.kind = 'job' THEN jsonb_build_object('progress',
                      jsonb_build_object('percent', e.progress_percent, 'step', e.progress_step))
                  ELSE '{}' END ORDER BY e.seq), '[]'),
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
