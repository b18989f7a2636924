-- The clock tick, _schedules_tick(now): one job per due slot; a second
-- tick for a slot inserts nothing; after downtime one run for all that was
-- missed; a run still queued or running when the next is due makes that
-- one 'skipped', kept as the record; disabled and broken schedules, and
-- those of a disabled connector, are passed by without stopping the others.
--
-- The tick is given 'now', in 2020, before any real schedule's next run,
-- and all the ticking happens in one transaction that is rolled back, so
-- that no job worker ever sees these jobs.  (Two ticks at once:
-- test/isolation/specs/schedule_tick.spec.)
BEGIN;
SELECT test.as('op');
SELECT nexplane.schedule_create('10000000-0000-0000-0000-000000000001', 'discover',
                                '*/5 * * * *') ->> 'id' AS a \gset
SELECT nexplane.schedule_create('10000000-0000-0000-0000-000000000002', 'test_connection',
                                '0 * * * *', 'Europe/Berlin') ->> 'id' AS b \gset
SELECT nexplane.schedule_create('10000000-0000-0000-0000-000000000001', 'test_connection',
                                '0 18 * * *') ->> 'id' AS c \gset
COMMIT;

-- As pg_cron calls it: a superuser, no tenant context.
BEGIN;
-- as if made early in 2020
UPDATE nexplane.schedules SET next_run_at = '2020-01-06 10:05Z' WHERE id = :'a';
UPDATE nexplane.schedules SET next_run_at = '2020-01-06 11:00Z' WHERE id = :'b';
UPDATE nexplane.schedules SET next_run_at = '2020-01-06 18:00Z' WHERE id = :'c';

-- what the tick left: the jobs of schedule s, and its next and last runs
CREATE FUNCTION pg_temp.jobs(s uuid) RETURNS TABLE (kind text, state text, slot text,
                                                     payload jsonb, error text, finished boolean)
    LANGUAGE sql AS $$
    SELECT j.kind, j.state, to_char(j.scheduled_for AT TIME ZONE 'UTC', 'MM-DD HH24:MI"Z"'),
           regexp_replace(j.payload::text, '[0-9a-f-]{36}', '<job>')::jsonb,
           regexp_replace(j.error, '[0-9a-f-]{36}', '<job>'), j.finished_at IS NOT NULL
      FROM nexplane.jobs j WHERE j.schedule_id = s ORDER BY j.scheduled_for
$$;
CREATE FUNCTION pg_temp.runs(s uuid) RETURNS TABLE (next_run text, last_run text)
    LANGUAGE sql AS $$
    SELECT to_char(x.next_run_at AT TIME ZONE 'UTC', 'MM-DD HH24:MI"Z"'),
           to_char(x.last_run_at AT TIME ZONE 'UTC', 'MM-DD HH24:MI"Z"')
      FROM nexplane.schedules x WHERE x.id = s
$$;

-- Not yet due; then due: one job for the slot, the next run five minutes on.
SELECT nexplane._schedules_tick('2020-01-06 10:04:59Z') AS before_the_slot;
SELECT nexplane._schedules_tick('2020-01-06 10:05:00.2Z') AS on_the_slot;
SELECT * FROM pg_temp.jobs(:'a');
SELECT * FROM pg_temp.runs(:'a');

-- A double tick in the same minute: nothing is due any more.
SELECT nexplane._schedules_tick('2020-01-06 10:05:40Z') AS double_tick;
-- A tick that read the schedule before the first moved it on (two clocks
-- at once): the slot's key lets no second job in, queued or skipped.
UPDATE nexplane.schedules SET next_run_at = '2020-01-06 10:05Z' WHERE id = :'a';
SELECT nexplane._schedules_tick('2020-01-06 10:05:30Z') AS same_slot_again;
SELECT * FROM pg_temp.jobs(:'a');
SELECT * FROM pg_temp.runs(:'a');

-- Overlap: the 10:05 run is still queued at 10:10, then running at 10:15:
-- those runs are skipped and recorded; once it has finished, 10:20 runs.
SELECT nexplane._schedules_tick('2020-01-06 10:10:01Z') AS still_queued;
UPDATE nexplane.jobs SET state = 'running', started_at = now()
 WHERE schedule_id = :'a' AND scheduled_for = '2020-01-06 10:05Z';
SELECT nexplane._schedules_tick('2020-01-06 10:15:00Z') AS still_running;
UPDATE nexplane.jobs SET state = 'succeeded', finished_at = now()
 WHERE schedule_id = :'a' AND scheduled_for = '2020-01-06 10:05Z';
SELECT nexplane._schedules_tick('2020-01-06 10:20:00Z') AS finished;
SELECT * FROM pg_temp.jobs(:'a');
UPDATE nexplane.jobs SET state = 'failed', finished_at = now()
 WHERE schedule_id = :'a' AND scheduled_for = '2020-01-06 10:20Z';

-- Downtime: the clock comes back at 17:30 after more than six hours.  Each
-- schedule runs once, for its latest slot, and says since when it missed
-- runs; the next run is the next slot after now.
SELECT nexplane._schedules_tick('2020-01-06 17:30:10Z') AS after_downtime;
SELECT * FROM pg_temp.jobs(:'a') WHERE slot > '01-06 10:20Z';
SELECT * FROM pg_temp.runs(:'a');
SELECT * FROM pg_temp.jobs(:'b');
SELECT * FROM pg_temp.runs(:'b');

-- Disabled: passed by, whatever its next run says.
UPDATE nexplane.schedules SET enabled = false, next_run_at = '2020-01-06 17:35Z' WHERE id = :'a';
-- Broken (an expression a newer parser refuses): a warning, no job, no
-- next run; the tick goes on with the others.
UPDATE nexplane.schedules SET cron = '61 * * * *' WHERE id = :'b';
SELECT nexplane._schedules_tick('2020-01-06 18:00:00Z') AS with_a_broken_one;
SELECT * FROM pg_temp.jobs(:'c');
SELECT * FROM pg_temp.jobs(:'b') WHERE slot > '01-06 17:00Z';
SELECT * FROM pg_temp.runs(:'b');
SELECT * FROM pg_temp.runs(:'a');

-- A disabled connector's schedules are passed by: no job (connector_test
-- would refuse one too), and no catch-up once it is enabled again.
UPDATE nexplane.schedules SET cron = '0 * * * *', next_run_at = '2020-01-06 19:00Z' WHERE id = :'b';
UPDATE nexplane.connectors SET status = 'disabled' WHERE id = '10000000-0000-0000-0000-000000000002';
SELECT nexplane._schedules_tick('2020-01-06 19:00:30Z') AS connector_disabled;
SELECT * FROM pg_temp.jobs(:'b') WHERE slot > '01-06 17:00Z';
SELECT * FROM pg_temp.runs(:'b');

-- Runs may be tried three times, like connector_test's; a skip is never tried.
SELECT state, max_attempts, count(*) FROM nexplane.jobs
 WHERE schedule_id IN (:'a', :'b', :'c') GROUP BY 1, 2 ORDER BY 1, 2;

-- The tick's changes to schedules are audited, as the server's own doing
-- (the job queue itself is not row-audited).
SELECT e.action, e.actor_kind, count(*)
  FROM nexplane.audit_events e
 WHERE e.target_table IN ('jobs', 'schedules')
   AND (e.after->>'schedule_id' IN (:'a', :'b', :'c') OR e.target_id IN (:'a', :'b', :'c'))
   AND e.actor_kind <> 'user'
 GROUP BY 1, 2 ORDER BY 1, 2;
-- The jobs stay when their schedule goes.
DELETE FROM nexplane.schedules WHERE id = :'a';
SELECT count(*) AS jobs_of_a_deleted_schedule FROM nexplane.jobs WHERE schedule_id = :'a';
ROLLBACK;
DELETE FROM nexplane.schedules WHERE id IN (:'a', :'b', :'c');
