-- Schedules: a connector's discovery or connection test on a cron
-- expression, in the schedule's IANA zone (cron.c evaluates it), and the
-- clock tick pg_cron calls every minute to enqueue every run that is due.
-- The DST policy, catch-up and overlap rules are in docs/schedules.md.

CREATE FUNCTION nexplane._cron_zone(timezone text) RETURNS text
    AS 'MODULE_PATHNAME', 'nx_cron_zone_sql' LANGUAGE C STABLE;
CREATE FUNCTION nexplane._cron_next(cron text, timezone text, after timestamptz, n integer)
    RETURNS timestamptz[]
    AS 'MODULE_PATHNAME', 'nx_cron_next_sql' LANGUAGE C STABLE;
-- For the tick: the latest slot from since to now, and the first after now.
CREATE FUNCTION nexplane._cron_slots(cron text, timezone text, since timestamptz,
                                     now timestamptz, OUT due timestamptz,
                                     OUT next timestamptz)
    AS 'MODULE_PATHNAME', 'nx_cron_slots_sql' LANGUAGE C STABLE STRICT;

-- cron_next(cron, timezone, after, n): preview the next n runs of an
-- expression, for any authenticated caller.
CREATE FUNCTION nexplane.cron_next(cron text, timezone text DEFAULT 'UTC',
                                   after timestamptz DEFAULT now(), n integer DEFAULT 5)
    RETURNS timestamptz[]
    LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    PERFORM nexplane._require_auth();
    RETURN nexplane._cron_next(cron, timezone, after, n);
END
$$;

CREATE FUNCTION nexplane._schedule_json(s nexplane.schedules) RETURNS jsonb
    LANGUAGE sql IMMUTABLE SET search_path = pg_catalog, pg_temp AS $$
    SELECT to_jsonb(s) - 'tenant_id'
$$;

-- The first run of an expression after now, checking it and the zone.
CREATE FUNCTION nexplane._schedule_first_run(cron text, timezone text) RETURNS timestamptz
    LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
    SELECT (nexplane._cron_next(cron, timezone, now(), 1))[1]
$$;

-- At most this many schedules per tenant (checked at creation): the tick
-- evaluates every due one each minute.
CREATE FUNCTION nexplane._schedule_limit() RETURNS integer
    LANGUAGE sql IMMUTABLE SET search_path = pg_catalog, pg_temp AS $$ SELECT 1000 $$;

CREATE FUNCTION nexplane.schedule_create(connector_id uuid, job_kind text, cron text,
                                         timezone text DEFAULT 'UTC') RETURNS jsonb
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
#variable_conflict use_variable
DECLARE
    s nexplane.schedules;
    zone text;
    first_run timestamptz;
BEGIN
    PERFORM nexplane._require_role('operator', 'admin');
    IF connector_id IS NULL THEN
        PERFORM nexplane._raise('NX400', 'connector_id is required');
    END IF;
    IF job_kind IS NULL OR job_kind NOT IN ('discover', 'test_connection') THEN
        PERFORM nexplane._raise('NX422', 'job_kind must be discover or test_connection');
    END IF;
    zone := nexplane._cron_zone(coalesce(timezone, 'UTC'));
    first_run := nexplane._schedule_first_run(cron, zone);
    IF NOT EXISTS (SELECT 1 FROM nexplane.connectors c
                    WHERE c.tenant_id = nexplane.current_tenant_id() AND c.id = connector_id) THEN
        PERFORM nexplane._raise('NX404', format('connector %s not found', connector_id));
    END IF;
    IF (SELECT count(*) FROM nexplane.schedules x
         WHERE x.tenant_id = nexplane.current_tenant_id()) >= nexplane._schedule_limit() THEN
        PERFORM nexplane._raise('NX409',
            format('the tenant has %s schedules, the most allowed', nexplane._schedule_limit()),
            NULL, 'Delete a schedule first.');
    END IF;
    INSERT INTO nexplane.schedules AS x (tenant_id, connector_id, job_kind, cron, timezone,
                                         next_run_at, created_by)
    VALUES (nexplane.current_tenant_id(), connector_id, job_kind,
            regexp_replace(btrim(cron, E' \t\n\r'), '\s+', ' ', 'g'), zone, first_run,
            nexplane.current_user_id())
    RETURNING x.* INTO s;
    RETURN nexplane._schedule_json(s);
END
$$;

CREATE FUNCTION nexplane.schedule_list() RETURNS jsonb
    LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
    SELECT nexplane._require_auth();
    SELECT coalesce(jsonb_agg(nexplane._schedule_json(s) ORDER BY s.created_at, s.id), '[]')
      FROM nexplane.schedules s WHERE s.tenant_id = nexplane.current_tenant_id();
$$;

CREATE FUNCTION nexplane.schedule_get(id uuid) RETURNS jsonb
    LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
#variable_conflict use_variable
DECLARE
    result jsonb;
BEGIN
    PERFORM nexplane._require_auth();
    PERFORM nexplane._require_id(id);
    SELECT nexplane._schedule_json(s) INTO result FROM nexplane.schedules s
     WHERE s.tenant_id = nexplane.current_tenant_id() AND s.id = id;
    IF result IS NULL THEN
        PERFORM nexplane._raise('NX404', format('schedule %s not found', id));
    END IF;
    RETURN result;
END
$$;

-- The caller's tenant's schedule, locked, or NX404.
CREATE FUNCTION nexplane._schedule_lock(id uuid) RETURNS nexplane.schedules
    LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
#variable_conflict use_variable
DECLARE
    s nexplane.schedules;
BEGIN
    PERFORM nexplane._require_id(id);
    SELECT * INTO s FROM nexplane.schedules x
     WHERE x.tenant_id = nexplane.current_tenant_id() AND x.id = id FOR UPDATE;
    IF NOT FOUND THEN
        PERFORM nexplane._raise('NX404', format('schedule %s not found', id));
    END IF;
    RETURN s;
END
$$;

-- schedule_update(id, cron, timezone): a new expression or zone (or both);
-- the next run is counted afresh from now.
CREATE FUNCTION nexplane.schedule_update(id uuid, cron text DEFAULT NULL,
                                         timezone text DEFAULT NULL) RETURNS jsonb
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
#variable_conflict use_variable
DECLARE
    s nexplane.schedules;
    new_cron text;
    zone text;
    first_run timestamptz;
BEGIN
    PERFORM nexplane._require_role('operator', 'admin');
    PERFORM nexplane._require_id(id);
    IF cron IS NULL AND timezone IS NULL THEN
        PERFORM nexplane._raise('NX400', 'nothing to change', NULL, 'Give cron, timezone or both.');
    END IF;
    s := nexplane._schedule_lock(id);
    new_cron := coalesce(regexp_replace(btrim(cron, E' \t\n\r'), '\s+', ' ', 'g'), s.cron);
    zone := nexplane._cron_zone(coalesce(timezone, s.timezone));
    first_run := nexplane._schedule_first_run(coalesce(cron, s.cron), zone);
    UPDATE nexplane.schedules x
       SET cron = new_cron, timezone = zone,
           next_run_at = CASE WHEN x.enabled THEN first_run END
     WHERE x.tenant_id = s.tenant_id AND x.id = s.id
    RETURNING x.* INTO s;
    RETURN nexplane._schedule_json(s);
END
$$;

-- schedule_toggle(id, enabled): a disabled schedule has no next run; one
-- enabled again counts its next run from now (it does not catch up on the
-- runs it missed while disabled).
CREATE FUNCTION nexplane.schedule_toggle(id uuid, enabled boolean) RETURNS jsonb
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
#variable_conflict use_variable
DECLARE
    s nexplane.schedules;
BEGIN
    PERFORM nexplane._require_role('operator', 'admin');
    PERFORM nexplane._require_id(id);
    IF enabled IS NULL THEN
        PERFORM nexplane._raise('NX400', 'enabled is required');
    END IF;
    s := nexplane._schedule_lock(id);
    IF s.enabled IS DISTINCT FROM enabled THEN
        UPDATE nexplane.schedules x
           SET enabled = enabled,
               next_run_at = CASE WHEN enabled
                                  THEN nexplane._schedule_first_run(x.cron, x.timezone) END
         WHERE x.tenant_id = s.tenant_id AND x.id = s.id
        RETURNING x.* INTO s;
    END IF;
    RETURN nexplane._schedule_json(s);
END
$$;

-- schedule_delete(id): the schedule goes; the jobs it enqueued stay.
CREATE FUNCTION nexplane.schedule_delete(id uuid) RETURNS jsonb
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
#variable_conflict use_variable
DECLARE
    s nexplane.schedules;
BEGIN
    PERFORM nexplane._require_role('operator', 'admin');
    PERFORM nexplane._require_id(id);
    DELETE FROM nexplane.schedules x
     WHERE x.tenant_id = nexplane.current_tenant_id() AND x.id = id
    RETURNING x.* INTO s;
    IF NOT FOUND THEN
        PERFORM nexplane._raise('NX404', format('schedule %s not found', id));
    END IF;
    RETURN nexplane._schedule_json(s) || '{"deleted": true}';
END
$$;

-- The clock.  pg_cron (a superuser, so every tenant's rows) calls it once
-- a minute; 'now' may be given for tests.  In one statement, for each
-- enabled schedule whose next run is due:
-- - one job for the latest slot due (after downtime: one run for all it
--   missed, its payload saying since when);
-- - 'skipped' instead of 'queued' when a run of the schedule is still
--   queued or running, the skip kept as the record;
-- - no job while its connector is disabled (as connector_test refuses);
-- - the next run after now.
-- Its jobs may be tried three times, like connector_test's and
-- connector_discover's (they change nothing).
-- The (tenant, schedule, slot) key makes a second tick for the same slot
-- insert nothing; a schedule locked by another tick is left to it.
CREATE FUNCTION nexplane._schedules_tick(now timestamptz DEFAULT now()) RETURNS jsonb
    LANGUAGE sql SET search_path = pg_catalog, pg_temp AS $$
    WITH due AS MATERIALIZED (
        SELECT s.tenant_id, s.id, s.connector_id, s.job_kind, s.next_run_at,
               coalesce(x.due, s.next_run_at) AS slot, x.next,
               x.next IS NOT NULL AND c.status <> 'disabled' AS runs,
               (SELECT j.id FROM nexplane.jobs j
                 WHERE j.tenant_id = s.tenant_id AND j.schedule_id = s.id
                   AND j.state IN ('queued', 'running')
                 ORDER BY j.created_at LIMIT 1) AS going
          FROM nexplane.schedules s
          JOIN nexplane.connectors c ON c.tenant_id = s.tenant_id AND c.id = s.connector_id
         CROSS JOIN LATERAL nexplane._cron_slots(s.cron, s.timezone, s.next_run_at,
                                                 _schedules_tick.now) x
         WHERE s.enabled AND s.next_run_at <= _schedules_tick.now
           FOR UPDATE OF s SKIP LOCKED
    ), enqueued AS (
        INSERT INTO nexplane.jobs (tenant_id, kind, state, connector_id, schedule_id,
                                   scheduled_for, payload, error, finished_at, max_attempts)
        SELECT d.tenant_id, d.job_kind, CASE WHEN d.going IS NULL THEN 'queued' ELSE 'skipped' END,
               d.connector_id, d.id, d.slot,
               jsonb_strip_nulls(jsonb_build_object(
                   'missed_since', CASE WHEN d.slot > d.next_run_at
                                        THEN to_char(d.next_run_at AT TIME ZONE 'UTC',
                                                     'YYYY-MM-DD"T"HH24:MI:SS"Z"') END,
                   'still_going', d.going)),
               CASE WHEN d.going IS NOT NULL
                    THEN format('skipped: job %s of this schedule was still queued or running',
                                d.going) END,
               CASE WHEN d.going IS NOT NULL THEN now() END,
               CASE WHEN d.going IS NULL THEN 3 ELSE 1 END
          FROM due d
         WHERE d.runs
        ON CONFLICT (tenant_id, schedule_id, scheduled_for) WHERE schedule_id IS NOT NULL
        DO NOTHING
        RETURNING state
    ), moved AS (
        UPDATE nexplane.schedules s
           SET next_run_at = d.next,
               last_run_at = CASE WHEN d.runs THEN d.slot ELSE s.last_run_at END
          FROM due d
         WHERE s.tenant_id = d.tenant_id AND s.id = d.id
        RETURNING 1
    )
    SELECT jsonb_build_object(
        'due', (SELECT count(*) FROM moved),
        'queued', (SELECT count(*) FROM enqueued WHERE state = 'queued'),
        'skipped', (SELECT count(*) FROM enqueued WHERE state = 'skipped'))
$$;
