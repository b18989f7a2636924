-- audit_query(filter): newest first.  Filter keys: from, to (timestamps),
-- actor_id, actor_kind, action (exact, or a prefix ending in '*'),
-- target_table, target_id, request_id, trace_id, before (keyset cursor:
-- the "cursor" of the last event of the previous page), limit (1 to 500,
-- default 100).
--
-- An event shows its chain_seq, the tenant's own count (null until
-- sealed), and an opaque cursor, never its id: ids come from the sequence
-- all tenants share, so the gap between two of them would tell another
-- tenant's activity.  The cursor is the id encrypted under the tenant's
-- audit key (audit_mac.c); another tenant's cursor is refused.  It pages
-- by id, not chain_seq, because an event is listed before it is sealed.
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
    below bigint;		-- ids up to this one (the id of before, less 1)
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
                                           'trace_id', 'before'], 100, 500);
    BEGIN
        t_from := (f->>'from')::timestamptz;
        t_to := (f->>'to')::timestamptz;
        PERFORM (f->>'actor_id')::uuid;
    EXCEPTION WHEN data_exception THEN
        PERFORM nexplane._raise('NX400', 'invalid filter value', SQLERRM);
    END;
    by_time := t_from IS NOT NULL OR t_to IS NOT NULL;
    below := 9223372036854775807;
    IF f ? 'before' THEN
        IF jsonb_typeof(f->'before') IS DISTINCT FROM 'string' THEN
            PERFORM nexplane._raise('NX400', 'invalid cursor',
                                    'A cursor is a string, the "cursor" of an event audit_query() returned.');
        END IF;
        below := nexplane._audit_cursor_id(tenant, f->>'before') - 1;
    END IF;
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
        SELECT coalesce(jsonb_agg(to_jsonb(e) - 'id' - 'mac' || jsonb_build_object(
                                      'chain_seq', (SELECT l.chain_seq FROM nexplane.audit_chain l
                                                     WHERE l.tenant_id = e.tenant_id AND l.event_id = e.id),
                                      'cursor', nexplane._audit_cursor(e.tenant_id, e.id))
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
