-- Cron expressions (cron.c): every field form, every refusal, the zones,
-- the bounds of cron_next, and the DST policy in New York, Berlin, Lord
-- Howe Island (a half-hour shift, southern hemisphere) and Santiago (a
-- transition at midnight).

-- Not anonymously.
SET ROLE nexplane_api;
SELECT test.try($$SELECT nexplane.cron_next('* * * * *')$$) AS anonymous;
RESET ROLE;

-- runs(cron, zone, after, n): each run in UTC and as the zone's wall clock.
CREATE FUNCTION pg_temp.runs(cron text, zone text, after timestamptz, n integer DEFAULT 6)
    RETURNS SETOF text LANGUAGE plpgsql AS $$
DECLARE
    t timestamptz;
BEGIN
    PERFORM set_config('timezone', zone, true);
    FOR t IN SELECT unnest(nexplane.cron_next(cron, zone, after, n)) LOOP
        RETURN NEXT to_char(t AT TIME ZONE 'UTC', 'MM-DD HH24:MI"Z"') || '   '
                    || to_char(t, 'Dy YYYY-MM-DD HH24:MI TZ');
    END LOOP;
END
$$;
-- in UTC, on one line
CREATE FUNCTION pg_temp.utc(cron text, after timestamptz DEFAULT '2030-01-01 00:00Z',
                            n integer DEFAULT 4)
    RETURNS text LANGUAGE sql AS $$
    SELECT string_agg(to_char(t AT TIME ZONE 'UTC', 'Dy YYYY-MM-DD HH24:MI'), ', ')
      FROM unnest(nexplane.cron_next(cron, 'UTC', after, n)) t
$$;

BEGIN;
SELECT test.as('viewer');

-- Every field form, from Tuesday 2030-01-01 00:00 UTC (exclusive).
SELECT e AS cron, pg_temp.utc(e) AS runs FROM (VALUES
    ('* * * * *'), ('5 * * * *'), ('5,10 * * * *'), ('10-12 * * * *'), ('*/20 * * * *'),
    ('10-40/15 * * * *'), ('50/5 * * * *'), ('1,5-6,*/30 * * * *'), ('007 * * * *'),
    ('0 */6 * * *'), ('0 22-23 * * *'), ('0 0 15 * *'), ('0 0 1,15 * *'), ('0 0 */10 * *'),
    ('0 0 1 jan,Jul *'), ('0 0 1 JAN-MAR/2 *'), ('0 0 1 6-12/3 *'), ('0 0 1 feb/4 *'),
    ('0 9 * * mon-fri'), ('0 9 * * 1-5'), ('0 9 * * 0'), ('0 9 * * 7'), ('0 9 * * sun,SAT'),
    ('0 9 * * 5-7'), ('0 9 * * */3'), ('0 9 * * wed/2'),
    ('@yearly'), ('@annually'), ('@monthly'), ('@weekly'), ('@daily'), ('@midnight'),
    ('@hourly'), ('@DAILY'), ('  0   12 * *  *  '), (E'0\t12\t*\t*\t*')) v(e);

-- Day of month and day of week: either, when both are restricted; both,
-- when one starts with '*' (Vixie cron's rule, as pg_cron has it).
SELECT e AS cron, pg_temp.utc(e, '2030-01-01 00:00Z', 6) AS runs FROM (VALUES
    ('0 0 13 * 5'), ('0 0 13 * fri'), ('0 0 * 2 fri'), ('0 0 */7 * 1'), ('0 0 1-7 * */2'),
    ('0 0 31 2 mon'), ('0 0 29 2 *')) v(e);
SELECT pg_temp.utc('0 0 29 2 *', '2030-01-01 00:00Z', 3) AS leap_days;
SELECT pg_temp.utc('0 0 29 2 *', '2096-03-01 00:00Z', 2) AS leap_days_past_2100;

-- 'after' is exclusive; seconds in it do not matter.
SELECT pg_temp.utc('0 * * * *', '2030-01-01 10:00:00Z', 1) AS on_the_slot,
       pg_temp.utc('0 * * * *', '2030-01-01 09:59:59.999999Z', 1) AS just_before,
       pg_temp.utc('* * * * *', '2030-01-01 10:00:30Z', 1) AS mid_minute;

-- n: 1 to 1000; fewer only where the year 10000 ends the list.
SELECT cardinality(nexplane.cron_next('* * * * *', 'UTC', '2030-01-01Z', 1000)) AS n_1000,
       cardinality(nexplane.cron_next('* * * * *', 'UTC', '2030-01-01Z', 1)) AS n_1;
SELECT pg_temp.utc('0 0 1 1 *', '9997-06-01Z', 5) AS at_the_end,
       cardinality(nexplane.cron_next('0 0 1 1 *', 'UTC', '9999-06-01Z', 5)) AS none_left;
SELECT pg_temp.utc('0 0 * * *', '1900-01-01 00:00Z', 2) AS from_1900;
COMMIT;

-- Every refusal names what is wrong: NX422 for the expression or zone.
BEGIN;
SELECT test.as('viewer');
SELECT e AS cron, test.try(format('SELECT nexplane.cron_next(%L)', e)) AS refused FROM (VALUES
    (''), ('   '), ('* * * *'), ('0 * * * * *'), ('0 0 * * * * 2030'), ('hello'),
    ('60 * * * *'), ('* 24 * * *'), ('* * 0 * *'), ('* * 32 * *'), ('* * * 0 *'),
    ('* * * 13 *'), ('* * * * 8'), ('99999999999999999999 * * * *'),
    ('5-1 * * * *'), ('* * * dec-jan *'), ('* * * * fri-mon'), ('*/0 * * * *'),
    ('*/60 * * * *'), ('* */24 * * *'), ('* * * * */8'), ('1-5/ * * * *'), ('*/x * * * *'),
    (',5 * * * *'), ('5,,6 * * * *'), ('5, * * * *'), ('-5 * * * *'), ('5- * * * *'),
    ('a * * * *'), ('* * mon * *'), ('* * * foo *'), ('* * * * funday'), ('* * * * mo'),
    ('* * * january *'), ('* * ? * *'), ('* * L * *'), ('0 0 15W * *'), ('0 0 * * 5#3'),
    ('0 0 * * 5L'), ('**/5 * * * *'), ('*-5 * * * *'), ('1.5 * * * *'),
    ('0 0 30 2 *'), ('0 0 31 4,6,9,11 *'), ('0 0 30,31 feb *'), ('0 0 31 2 */1'),
    ('@reboot'), ('@every 5m'), ('@daily *'), ('@'), (repeat('1,', 50) || '1 * * * *'),
    (E'5\u00e9 * * * *'), (E'\u00e9 * * * *')) v(e);
SELECT test.try($$SELECT nexplane.cron_next(NULL)$$) AS null_cron;

-- Zones: the tz database's names, whatever their case; no POSIX rules
-- ("UTC+3" is three hours behind UTC), no paths, no leap-second zones.
SELECT z AS timezone, test.try(format('SELECT nexplane.cron_next(%L, %L)', '0 0 * * *', z))
       AS result FROM (VALUES
    ('UTC'), ('Europe/Berlin'), ('america/new_york'), ('Etc/GMT-3'), ('Asia/Kolkata'),
    (''), ('Mars/Olympus'), ('UTC+3'), ('EST5'), ('+03:00'), ('CET-1CEST,M3.5.0,M10.5.0/3'),
    ('../../etc/passwd'), ('/etc/passwd'), ('America/'), ('America'), ('America//New_York'),
    ('zone.tab'), ('leapseconds'), ('right/UTC'), (repeat('A', 65)), (E'Europe/Berl\u00efn'))
    v(z);
SELECT test.try($$SELECT nexplane.cron_next('0 0 * * *', NULL)$$) AS null_zone;
SELECT nexplane._cron_zone('america/new_york') AS canonical, nexplane._cron_zone('utc') AS utc;

-- The other arguments: NX400.
SELECT a AS call, test.try('SELECT nexplane.cron_next(''* * * * *'', ''UTC'', ' || a || ')')
       AS refused FROM (VALUES
    ('NULL, 5'), ('''infinity'', 5'), ('''-infinity'', 5'), ('''1899-12-31 23:59Z'', 5'),
    ('''10000-01-01Z'', 5'), ('now(), NULL'), ('now(), 0'), ('now(), -1'), ('now(), 1001'))
    v(a);
COMMIT;

-- With the hint a caller sees.
BEGIN;
SELECT test.as('viewer');
SELECT nexplane.cron_next('0 25 * * *');
ROLLBACK;

-- DST, America/New_York, 2024: 02:00 EST becomes 03:00 EDT on March 10;
-- 02:00 EDT becomes 01:00 EST on November 3.
BEGIN;
SELECT test.as('viewer');
-- a fixed time in the skipped hour runs once, at the first valid instant after it
SELECT pg_temp.runs('30 2 * * *', 'America/New_York', '2024-03-08 12:00Z', 4);
-- ... once, however many of its times the gap swallows
SELECT pg_temp.runs('0,15,45 2 * * *', 'America/New_York', '2024-03-09 12:00Z', 5);
SELECT pg_temp.runs('0,30 2,3 * * *', 'America/New_York', '2024-03-10 05:00Z', 4);
-- a fixed time in the repeated hour runs once, at its first occurrence
SELECT pg_temp.runs('30 1 * * *', 'America/New_York', '2024-11-01 12:00Z', 4);
SELECT pg_temp.runs('0,30 1 * * *', 'America/New_York', '2024-11-02 12:00Z', 4);
-- ... also asked from inside the second pass of that hour
SELECT pg_temp.runs('30 1 * * *', 'America/New_York', '2024-11-03 06:10Z', 2);
-- wildcards and steps keep real-time cadence: none in the gap, both passes
-- of the repeated hour
SELECT pg_temp.runs('*/30 * * * *', 'America/New_York', '2024-03-10 05:45Z', 4);
SELECT pg_temp.runs('*/30 * * * *', 'America/New_York', '2024-11-03 04:15Z', 6);
SELECT pg_temp.runs('*/30 * * * *', 'America/New_York', '2024-11-03 06:10Z', 2);
SELECT pg_temp.runs('0 * * * *', 'America/New_York', '2024-03-10 05:30Z', 3);
SELECT pg_temp.runs('0 * * * *', 'America/New_York', '2024-11-03 03:30Z', 4);
SELECT pg_temp.runs('*/20 1 * * *', 'America/New_York', '2024-11-03 04:30Z', 7);
SELECT pg_temp.runs('*/20 2 * * *', 'America/New_York', '2024-03-09 12:00Z', 4);
-- rules past 2037 come from the zone's POSIX rule: March 11, 2040
SELECT pg_temp.runs('30 2 * * *', 'America/New_York', '2040-03-10 00:00Z', 2);
COMMIT;

-- DST, Europe/Berlin, 2024: 02:00 CET becomes 03:00 CEST on March 31;
-- 03:00 CEST becomes 02:00 CET on October 27.
BEGIN;
SELECT test.as('viewer');
SELECT pg_temp.runs('30 2 * * *', 'Europe/Berlin', '2024-03-29 12:00Z', 4);
SELECT pg_temp.runs('0 2 * * 0', 'Europe/Berlin', '2024-03-20 12:00Z', 3);
SELECT pg_temp.runs('30 2 * * *', 'Europe/Berlin', '2024-10-25 12:00Z', 4);
SELECT pg_temp.runs('*/30 2 * * *', 'Europe/Berlin', '2024-03-30 12:00Z', 3);
SELECT pg_temp.runs('*/30 2 * * *', 'Europe/Berlin', '2024-10-26 12:00Z', 5);
SELECT pg_temp.runs('15 * * * *', 'Europe/Berlin', '2024-03-30 23:30Z', 3);
COMMIT;

-- DST, Australia/Lord_Howe, 2024 (southern hemisphere, a half-hour shift):
-- 02:00 +1030 becomes 02:30 +11 on October 6; 02:00 +11 becomes 01:30
-- +1030 on April 7.
BEGIN;
SELECT test.as('viewer');
SELECT pg_temp.runs('15 2 * * *', 'Australia/Lord_Howe', '2024-10-04 00:00Z', 4);
SELECT pg_temp.runs('45 1 * * *', 'Australia/Lord_Howe', '2024-04-05 00:00Z', 4);
SELECT pg_temp.runs('*/15 * * * *', 'Australia/Lord_Howe', '2024-10-05 15:00Z', 4);
SELECT pg_temp.runs('*/15 * * * *', 'Australia/Lord_Howe', '2024-04-06 14:15Z', 6);
COMMIT;

-- DST at midnight, America/Santiago, 2024: 00:00 -04 becomes 01:00 -03 on
-- September 8, so that day's midnight runs at 01:00.
BEGIN;
SELECT test.as('viewer');
SELECT pg_temp.runs('0 0 * * *', 'America/Santiago', '2024-09-06 12:00Z', 4);
SELECT pg_temp.runs('0 0 8 9 *', 'America/Santiago', '2024-01-01 00:00Z', 2);
COMMIT;
