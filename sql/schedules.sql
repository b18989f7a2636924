-- Schedules: create, list, get, update, toggle, delete; who may; that
-- another tenant can neither see nor touch them; every bad input.
SELECT id AS acme FROM nexplane.tenants WHERE slug = 'acme' \gset
SELECT id AS globex FROM nexplane.tenants WHERE slug = 'globex' \gset
-- globex gets a connector as setup.sql gives acme its, and a token.
INSERT INTO nexplane.connectors (tenant_id, id, type, name)
VALUES (:'globex', '40000000-0000-0000-0000-000000000001', 'postgresql', 'gx-sched');
SELECT nexplane.login('admin@globex.test', 'globex-admin-pass-1', NULL, false)->>'access_token'
    AS gx_token \gset

-- Not anonymously.
SET ROLE nexplane_api;
SELECT test.try($$SELECT nexplane.schedule_list()$$) AS anonymous_list,
       test.try($$SELECT nexplane.schedule_create('10000000-0000-0000-0000-000000000001',
                                                  'discover', '@daily')$$) AS anonymous_create;
RESET ROLE;

-- An operator creates one: the zone as the tz database spells it, the
-- first run counted from now in that zone.
BEGIN;
SET LOCAL ROLE nexplane_api;
SELECT test.as('op');
SELECT nexplane.schedule_create('10000000-0000-0000-0000-000000000001', 'discover',
                                '0 3 * * mon-fri', 'europe/berlin') AS s1 \gset
SELECT :'s1'::jsonb - '{id,created_at,created_by,next_run_at}'::text[] AS created,
       (:'s1'::jsonb->>'created_by')::uuid = nexplane.current_user_id() AS created_by_op,
       (:'s1'::jsonb->>'next_run_at')::timestamptz
           = (nexplane.cron_next('0 3 * * mon-fri', 'Europe/Berlin', now(), 1))[1] AS next_run,
       (:'s1'::jsonb->>'next_run_at')::timestamptz > now() AS in_the_future;
SELECT :'s1'::jsonb->>'id' AS s1 \gset
COMMIT;
-- An admin too; no zone is UTC; white space is tidied.
BEGIN;
SET LOCAL ROLE nexplane_api;
SELECT test.as('admin');
SELECT nexplane.schedule_create('10000000-0000-0000-0000-000000000002', 'test_connection',
                                '@hourly') ->> 'id' AS s2 \gset
COMMIT;
BEGIN;
SET LOCAL ROLE nexplane_api;
SELECT test.as('admin');
SELECT nexplane.schedule_create('10000000-0000-0000-0000-000000000001', 'test_connection',
                                E'  */15   *\t* * *  ', NULL) ->> 'id' AS s3 \gset
COMMIT;

-- Anyone in the tenant lists and reads them, oldest first.
BEGIN;
SET LOCAL ROLE nexplane_api;
SELECT test.as('viewer');
SELECT s->>'job_kind' AS job_kind, s->>'cron' AS cron, s->>'timezone' AS timezone,
       s->>'enabled' AS enabled, s->>'id' = ANY (ARRAY[:'s1', :'s2', :'s3']) AS ours
  FROM jsonb_array_elements(nexplane.schedule_list()) s;
SELECT nexplane.schedule_get(:'s2') - '{id,created_at,created_by,next_run_at}'::text[] AS got;
SELECT test.try(format('SELECT nexplane.schedule_get(%L)', '00000000-0000-0000-0000-0000000000ff'))
       AS unknown, test.try('SELECT nexplane.schedule_get(NULL)') AS null_id;
COMMIT;

-- Who may change them: operators and admins; viewers and approvers not.
BEGIN;
SET LOCAL ROLE nexplane_api;
SELECT r AS role, test.as(r) IS NOT NULL AS acting,
       test.try(format('SELECT nexplane.schedule_create(%L, %L, %L)',
                       '10000000-0000-0000-0000-000000000001', 'discover', '@daily')) AS create,
       test.try(format('SELECT nexplane.schedule_update(%L, %L)', :'s1', '@daily')) AS update,
       test.try(format('SELECT nexplane.schedule_toggle(%L, false)', :'s1')) AS toggle,
       test.try(format('SELECT nexplane.schedule_delete(%L)', :'s1')) AS delete
  FROM unnest(ARRAY['viewer', 'appr']) r;
ROLLBACK;

-- Bad input, each refused with what is wrong.
BEGIN;
SET LOCAL ROLE nexplane_api;
SELECT test.as('op');
SELECT c AS call, test.try('SELECT nexplane.schedule_create(' || c || ')') AS refused FROM (VALUES
    ('NULL, ''discover'', ''@daily'''),
    ('''10000000-0000-0000-0000-000000000001'', NULL, ''@daily'''),
    ('''10000000-0000-0000-0000-000000000001'', ''execute_change'', ''@daily'''),
    ('''10000000-0000-0000-0000-000000000001'', ''Discover'', ''@daily'''),
    ('''10000000-0000-0000-0000-000000000001'', ''discover'', NULL'),
    ('''10000000-0000-0000-0000-000000000001'', ''discover'', '''''),
    ('''10000000-0000-0000-0000-000000000001'', ''discover'', ''0 25 * * *'''),
    ('''10000000-0000-0000-0000-000000000001'', ''discover'', ''0 0 31 2 *'''),
    ('''10000000-0000-0000-0000-000000000001'', ''discover'', ''0 0 * * * *'''),
    ('''10000000-0000-0000-0000-000000000001'', ''discover'', ''@daily'', ''Mars/Olympus'''),
    ('''10000000-0000-0000-0000-000000000001'', ''discover'', ''@daily'', ''UTC+3'''),
    ('''10000000-0000-0000-0000-000000000001'', ''discover'', ''@daily'', '''''),
    ('''10000000-0000-0000-0000-0000000000ff'', ''discover'', ''@daily'''),
    ('''40000000-0000-0000-0000-000000000001'', ''discover'', ''@daily''')) v(c);
SELECT replace(c, :'s1', '<s1>') AS call,
       test.try('SELECT nexplane.schedule_update(' || c || ')') AS refused FROM (VALUES
    ('NULL, ''@daily'''), (quote_literal(:'s1')), (quote_literal(:'s1') || ', NULL, NULL'),
    (quote_literal(:'s1') || ', ''61 * * * *'''), (quote_literal(:'s1') || ', NULL, ''Nowhere'''),
    ('''00000000-0000-0000-0000-0000000000ff'', ''@daily''')) v(c);
SELECT replace(c, :'s1', '<s1>') AS call,
       test.try('SELECT nexplane.schedule_toggle(' || c || ')') AS refused FROM (VALUES
    ('NULL, true'), (quote_literal(:'s1') || ', NULL'),
    ('''00000000-0000-0000-0000-0000000000ff'', true')) v(c);
SELECT test.try('SELECT nexplane.schedule_delete(NULL)') AS delete_null,
       test.try(format('SELECT nexplane.schedule_delete(%L)', '00000000-0000-0000-0000-0000000000ff'))
       AS delete_unknown;
-- the refused update left the schedule as it was
SELECT s->>'cron' AS cron, s->>'timezone' AS timezone FROM nexplane.schedule_get(:'s1') s;
COMMIT;

-- A tenant has at most 1000 schedules (acme has 3).
BEGIN;
INSERT INTO nexplane.schedules (tenant_id, connector_id, job_kind, cron)
SELECT :'acme', '10000000-0000-0000-0000-000000000001', 'discover', i || ' 0 * * *'
  FROM generate_series(1, 996) i;
SET LOCAL ROLE nexplane_api;
SELECT test.as('op');
SELECT test.try(format('SELECT nexplane.schedule_create(%L, %L, %L)',
                       '10000000-0000-0000-0000-000000000001', 'discover', '@daily')) AS the_1000th,
       test.try(format('SELECT nexplane.schedule_create(%L, %L, %L)',
                       '10000000-0000-0000-0000-000000000001', 'discover', '@daily')) AS the_1001st;
ROLLBACK;

-- Update: a new expression or zone; the next run counted afresh.
BEGIN;
SET LOCAL ROLE nexplane_api;
SELECT test.as('op');
SELECT s->>'cron' AS cron, s->>'timezone' AS timezone,
       (s->>'next_run_at')::timestamptz = (nexplane.cron_next('30 6 * * *', 'Europe/Berlin', now(), 1))[1]
           AS next_run
  FROM nexplane.schedule_update(:'s1', ' 30  6 * * * ') s;
SELECT s->>'cron' AS cron, s->>'timezone' AS timezone,
       (s->>'next_run_at')::timestamptz = (nexplane.cron_next('30 6 * * *', 'Asia/Kolkata', now(), 1))[1]
           AS next_run
  FROM nexplane.schedule_update(:'s1', NULL, 'asia/kolkata') s;
SELECT s->>'cron' AS cron, s->>'timezone' AS timezone
  FROM nexplane.schedule_update(:'s1', '0 4 * * *', 'America/New_York') s;
COMMIT;

-- Toggle: disabled, no next run (and so the tick passes it by); enabled
-- again, the next run from now, not the ones it missed.
BEGIN;
SET LOCAL ROLE nexplane_api;
SELECT test.as('op');
SELECT s->>'enabled' AS enabled, s->>'next_run_at' AS next_run_at
  FROM nexplane.schedule_toggle(:'s2', false) s;
SELECT s->>'enabled' AS enabled, s->>'next_run_at' AS next_run_at
  FROM nexplane.schedule_toggle(:'s2', false) s;
-- a disabled schedule's update keeps it without a next run
SELECT s->>'cron' AS cron, s->>'next_run_at' AS next_run_at
  FROM nexplane.schedule_update(:'s2', '5 * * * *') s;
SELECT s->>'enabled' AS enabled,
       (s->>'next_run_at')::timestamptz = (nexplane.cron_next('5 * * * *', 'UTC', now(), 1))[1]
           AS next_run
  FROM nexplane.schedule_toggle(:'s2', true) s;
COMMIT;

-- Another tenant: globex sees none of acme's schedules and reaches none by
-- id, with the words used for an id that never existed; acme's are as
-- they were.
BEGIN;
SET LOCAL ROLE nexplane_api;
SELECT nexplane.authenticate(:'gx_token')->>'role' AS globex_admin;
SELECT nexplane.schedule_create('40000000-0000-0000-0000-000000000001', 'discover', '@weekly')
    ->> 'id' AS gx1 \gset
SELECT bool_or(s->>'id' = :'gx1') AS its_own,
       bool_and(s->>'id' <> ALL (ARRAY[:'s1', :'s2', :'s3'])) AS none_of_acme
  FROM jsonb_array_elements(nexplane.schedule_list()) s;
SELECT f AS call, replace(test.try(format('SELECT nexplane.' || f, :'s1')), :'s1', '<acme id>') AS acme_id,
       replace(test.try(format('SELECT nexplane.' || f, '00000000-0000-0000-0000-0000000000ff')),
               '00000000-0000-0000-0000-0000000000ff', '<acme id>')
       = replace(test.try(format('SELECT nexplane.' || f, :'s1')), :'s1', '<acme id>') AS same_as_unknown
  FROM unnest(ARRAY['schedule_get(%L)', 'schedule_update(%L, ''@daily'')',
                    'schedule_toggle(%L, false)', 'schedule_delete(%L)']) f;
SELECT test.try(format('SELECT nexplane.schedule_create(%L, %L, %L)',
                       '10000000-0000-0000-0000-000000000001', 'discover', '@daily')) AS acme_connector;
COMMIT;
BEGIN;
SET LOCAL ROLE nexplane_api;
SELECT test.as('viewer');
SELECT count(*) AS acme_lists, bool_and(s->>'id' <> :'gx1') AS none_of_globex
  FROM jsonb_array_elements(nexplane.schedule_list()) s;
SELECT s->>'cron' AS cron, s->>'timezone' AS timezone, s->>'enabled' AS enabled
  FROM nexplane.schedule_get(:'s1') s;
COMMIT;

-- Every change is in the audit trail, by whom.
SELECT e.action, e.actor_kind, u.email
  FROM nexplane.audit_events e LEFT JOIN nexplane.users u ON u.id = e.actor_id
 WHERE e.target_table = 'schedules' AND e.target_id = :'s1' ORDER BY e.id;

-- Delete: gone for good.
BEGIN;
SET LOCAL ROLE nexplane_api;
SELECT test.as('op');
SELECT s->>'deleted' AS deleted, s->>'id' = :'s1' AS that_one FROM nexplane.schedule_delete(:'s1') s;
SELECT test.try(format('SELECT nexplane.schedule_get(%L)', :'s1')) AS get_deleted,
       test.try(format('SELECT nexplane.schedule_delete(%L)', :'s1')) AS delete_again;
SELECT nexplane.schedule_delete(:'s2') ->> 'deleted' AS deleted,
       nexplane.schedule_delete(:'s3') ->> 'deleted' AS deleted;
SELECT nexplane.schedule_list() AS none_left;
COMMIT;

-- Leave globex as setup made it.
DELETE FROM nexplane.schedules WHERE tenant_id = :'globex' AND id = :'gx1';
DELETE FROM nexplane.connectors WHERE tenant_id = :'globex'
   AND id = '40000000-0000-0000-0000-000000000001';
