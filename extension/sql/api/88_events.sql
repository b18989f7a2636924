-- The live event feed: the statement trigger that stages transitions and
-- job state changes, the numbering of what is staged, events_since() and
-- the prune job's function.  Tables and why numbers never go back:
-- schema/88_events.sql.

CREATE FUNCTION nexplane._stream_event() RETURNS trigger
    AS 'MODULE_PATHNAME', 'nx_stream_event' LANGUAGE C
    SECURITY DEFINER SET search_path = pg_catalog, pg_temp;

-- Once per statement, from its transition tables (stream_events.c reads
-- them by these names).  An update's trigger can name no columns: with
-- transition tables PostgreSQL allows no UPDATE OF list, nor one trigger
-- for INSERT and UPDATE both.
CREATE TRIGGER stream_event AFTER INSERT ON nexplane.change_request_events
    REFERENCING NEW TABLE AS nx_new_events
    FOR EACH STATEMENT EXECUTE FUNCTION nexplane._stream_event();
CREATE TRIGGER stream_event AFTER INSERT ON nexplane.jobs
    REFERENCING NEW TABLE AS nx_new_jobs
    FOR EACH STATEMENT EXECUTE FUNCTION nexplane._stream_event();
CREATE TRIGGER stream_event_update AFTER UPDATE ON nexplane.jobs
    REFERENCING OLD TABLE AS nx_old_jobs NEW TABLE AS nx_new_jobs
    FOR EACH STATEMENT EXECUTE FUNCTION nexplane._stream_event();

-- _stream_events_number(tenant): number the committed pending events of
-- the tenant (of every tenant when NULL, for the sequencer) from its
-- event_heads row, locked first, in pending-id order; returns how many
-- events.  A pending row (one statement's events of the tenant) becomes
-- one range of stream_events, its last number the head plus the events
-- of it and of every row numbered before it in the round.  Under read
-- committed each statement here sees what committed before it began, so
-- the DELETE, which comes after the lock, sees every row numbered by the
-- transaction that held the lock before as gone.
CREATE FUNCTION nexplane._stream_events_number(tenant uuid DEFAULT NULL) RETURNS bigint
    LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    t uuid := tenant;
    head bigint;
    moved_events bigint;
    total bigint := 0;
BEGIN
    LOOP
        IF tenant IS NULL THEN
            -- the next tenant with something pending, along the primary key
            SELECT p.tenant_id INTO t FROM nexplane.stream_events_pending p
             WHERE t IS NULL OR p.tenant_id > t ORDER BY p.tenant_id LIMIT 1;
            EXIT WHEN NOT FOUND;
        ELSIF NOT EXISTS (SELECT FROM nexplane.stream_events_pending p WHERE p.tenant_id = t) THEN
            EXIT;
        END IF;
        INSERT INTO nexplane.event_heads (tenant_id, seq) VALUES (t, 0)
        ON CONFLICT (tenant_id) DO NOTHING;
        IF tenant IS NULL THEN
            -- the sequencer: a tenant a reader is numbering waits for the next round
            SELECT h.seq INTO head FROM nexplane.event_heads h WHERE h.tenant_id = t
               FOR UPDATE SKIP LOCKED;
            CONTINUE WHEN NOT FOUND;
        ELSE
            SELECT h.seq INTO head FROM nexplane.event_heads h WHERE h.tenant_id = t FOR UPDATE;
        END IF;
        -- one statement: the rows out of pending, their ranges in, the head
        -- moved to the last range's end (no row moves it not at all)
        WITH moved AS (DELETE FROM nexplane.stream_events_pending p WHERE p.tenant_id = t
                       RETURNING p.*),
             ranges AS (INSERT INTO nexplane.stream_events (tenant_id, seq_last, n, kind,
                               created_at, subject_ids, change_request_ids, actions,
                               from_states, to_states, actor_kinds, actor_ids, ats,
                               progress_percents, progress_steps)
                        SELECT t, head + sum(m.n) OVER (ORDER BY m.id), m.n, m.kind,
                               m.created_at, m.subject_ids, m.change_request_ids, m.actions,
                               m.from_states, m.to_states, m.actor_kinds, m.actor_ids, m.ats,
                               m.progress_percents, m.progress_steps
                          FROM moved m
                        RETURNING stream_events.seq_last)
        UPDATE nexplane.event_heads h SET seq = r.last
          FROM (SELECT max(x.seq_last) AS last FROM ranges x) r
         WHERE h.tenant_id = t AND r.last IS NOT NULL
        RETURNING h.seq - head INTO moved_events;
        moved_events := coalesce(moved_events, 0);
        total := total + moved_events;
        EXIT WHEN tenant IS NOT NULL;
    END LOOP;
    RETURN total;
END
$$;

-- events_since(after, max_events): the caller's tenant's events numbered
-- after `after`, oldest first, as {"last": n, "events": [...]}; "last" is
-- the number to resume from.  With after NULL: no events, and the current
-- number, so that a new subscriber starts from now.  Events of the
-- tenant that committed but are not numbered yet (the sequencer is a
-- moment behind, or runs in another database) are numbered first, so a
-- reader sees every event committed before its call; in a read-only
-- transaction, or above read committed, it reads what is numbered.
-- The ranges are unfolded here, one object per event with its own
-- number: the first range read is the one holding after + 1 (the first
-- whose last number is above it), and ranges are read only while the
-- events before them (after `after`) are fewer than max_events, so a
-- resume or a page may begin or end inside a range.
CREATE FUNCTION nexplane.events_since(after bigint DEFAULT NULL, max_events integer DEFAULT 100)
    RETURNS jsonb
    LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
#variable_conflict use_variable
DECLARE
    evs jsonb;
    last bigint;
BEGIN
    PERFORM nexplane._require_auth();
    IF current_setting('transaction_isolation') = 'read committed'
       AND current_setting('transaction_read_only') = 'off' THEN
        PERFORM nexplane._stream_events_number(nexplane.current_tenant_id());
    END IF;
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
               'actor_id', e.actor_id, 'at', e.at)
               || CASE WHEN e.kind = 'job' THEN jsonb_build_object('progress',
                      jsonb_build_object('percent', e.progress_percent, 'step', e.progress_step))
                  ELSE '{}' END ORDER BY e.seq), '[]'),
           max(e.seq)
      INTO evs, last
      FROM (SELECT s.seq_last - s.n + u.i AS seq, s.kind, u.subject_id, u.change_request_id,
                   u.action, u.from_state, u.to_state, u.actor_kind, u.actor_id,
                   coalesce(u.at, s.created_at) AS at, u.progress_percent, u.progress_step
              FROM (SELECT r.*
                      FROM (SELECT r.*, sum(least(r.n, r.seq_last - after))
                                          OVER (ORDER BY r.seq_last) - least(r.n, r.seq_last - after)
                                          AS before
                              FROM (SELECT * FROM nexplane.stream_events x
                                     WHERE x.tenant_id = nexplane.current_tenant_id()
                                       AND x.seq_last > after
                                     ORDER BY x.seq_last LIMIT max_events) r) r
                     WHERE r.before < max_events) s
             CROSS JOIN LATERAL unnest(s.subject_ids, s.change_request_ids, s.actions,
                                       s.from_states, s.to_states, s.actor_kinds, s.actor_ids,
                                       s.ats, s.progress_percents, s.progress_steps)
                   WITH ORDINALITY AS u(subject_id, change_request_id, action, from_state,
                                        to_state, actor_kind, actor_id, at, progress_percent,
                                        progress_step, i)
             WHERE s.seq_last - s.n + u.i > after
             ORDER BY 1 LIMIT max_events) e;
    RETURN jsonb_build_object('last', coalesce(last, after), 'events', evs);
END
$$;

-- Retention for the derived feed (pg_cron calls it); the sources stay.
-- Whole ranges go, each once its last event is older than `keep`; the
-- answer is the events removed, as before ranges.
CREATE FUNCTION nexplane._stream_events_prune(keep interval DEFAULT '7 days') RETURNS bigint
    LANGUAGE sql SET search_path = pg_catalog, pg_temp AS $$
    WITH gone AS (DELETE FROM nexplane.stream_events WHERE created_at < now() - keep
                  RETURNING n)
    SELECT coalesce(sum(n), 0)::bigint FROM gone
$$;
