-- Policies: each kind, enforced and warned, on tenant, connector and asset.
BEGIN;
SET LOCAL ROLE nexplane_api;
SELECT test.as('admin');
-- Bad input.
SELECT test.try($$SELECT nexplane.policy_create('speed_limit', 'tenant', NULL, 'enforce', '{}')$$);
SELECT test.try($$SELECT nexplane.policy_create('approvals', 'tenant', NULL, 'sometimes', '{}')$$);
SELECT test.try($$SELECT nexplane.policy_create('approvals', 'planet', NULL, 'enforce', '{}')$$);
SELECT test.try($$SELECT nexplane.policy_create('approvals', 'tenant', '10000000-0000-0000-0000-000000000001', 'enforce', '{}')$$);
SELECT test.try($$SELECT nexplane.policy_create('approvals', 'connector', NULL, 'enforce', '{}')$$);
SELECT test.try($$SELECT nexplane.policy_create('approvals', 'connector', '10000000-0000-0000-0000-0000000000ff', 'enforce', '{}')$$);
SELECT test.try($$SELECT nexplane.policy_create('approvals', 'tenant', NULL, 'enforce', '{"medium": 11}')$$);
SELECT test.try($$SELECT nexplane.policy_create('approvals', 'tenant', NULL, 'enforce', '{"urgent": 1}')$$);
SELECT test.try($$SELECT nexplane.policy_create('approvals', 'tenant', NULL, 'enforce', '{"medium": "two"}')$$);
SELECT test.try($$SELECT nexplane.policy_create('freeze_window', 'tenant', NULL, 'enforce', '{"from": "2030-01-02", "until": "2030-01-01"}')$$);
SELECT test.try($$SELECT nexplane.policy_create('change_window', 'tenant', NULL, 'enforce', '{"timezone": "Mars/Olympus", "days": [1], "start": "09:00", "end": "17:00"}')$$);
SELECT test.try($$SELECT nexplane.policy_create('change_window', 'tenant', NULL, 'enforce', '{"timezone": "UTC", "days": [8], "start": "09:00", "end": "17:00"}')$$);
SELECT test.try($$SELECT nexplane.policy_create('max_blast_radius', 'tenant', NULL, 'enforce', '{"max_assets": 0}')$$);
SELECT test.try($$SELECT nexplane.policy_create('max_blast_radius', 'tenant', NULL, 'enforce', '[]')$$);
SELECT test.try($$SELECT nexplane.policy_delete('00000000-0000-0000-0000-000000000000')$$);
SELECT test.as('op');
SELECT test.try($$SELECT nexplane.policy_create('max_blast_radius', 'tenant', NULL, 'enforce', '{"max_assets": 5}')$$) AS operator_creates;
SELECT jsonb_array_length(nexplane.policy_list()) AS operator_lists;
COMMIT;

-- test.policy(kind, target, mode, spec): create as admin, return its id.
CREATE FUNCTION test.policy(kind text, target uuid, mode text, spec jsonb) RETURNS uuid
    LANGUAGE plpgsql AS $$
BEGIN
    PERFORM test.as('admin');
    RETURN (nexplane.policy_create(kind, CASE WHEN target IS NULL THEN 'tenant'
                                              WHEN target::text LIKE '1%' THEN 'connector'
                                              ELSE 'asset' END,
                                   target, mode, spec)->>'id')::uuid;
END
$$;
CREATE FUNCTION test.drop_policy(id uuid) RETURNS void LANGUAGE sql AS $$
    SELECT test.as('admin'); SELECT nexplane.policy_delete(id); SELECT NULL::void
$$;
-- A request approved by as many approvers as its risk needs (policies
-- raise risk too), ready to execute.
CREATE FUNCTION test.approved_cr(assets uuid[] DEFAULT '{}') RETURNS uuid
    LANGUAGE plpgsql AS $$
DECLARE
    id uuid;
    who text;
BEGIN
    PERFORM test.as('op');
    id := (nexplane.cr_create('10000000-0000-0000-0000-000000000001', 'rotate_password', '{}',
                              'policy test', NULL, assets)->>'id')::uuid;
    PERFORM nexplane.cr_submit(id);
    FOREACH who IN ARRAY ARRAY['appr', 'appr2', 'admin2'] LOOP
        EXIT WHEN nexplane.cr_get(id)->>'state' = 'approved';
        PERFORM test.as(who);
        PERFORM nexplane.cr_approve(id);
    END LOOP;
    PERFORM test.as('op');
    RETURN id;
END
$$;
CREATE FUNCTION test.warnings(cr uuid) RETURNS jsonb LANGUAGE sql AS $$
    SELECT jsonb_path_query_array(nexplane.cr_events(cr), '$[*].payload.policy_warnings[*].kind')
$$;

-- approvals, enforced: the tenant's medium changes need two approvals.
BEGIN;
SELECT test.policy('approvals', NULL, 'enforce', '{"medium": 2}') AS p \gset
SELECT test.as('op');
SELECT c->>'id' AS cr FROM test.cr('rotate_password') c \gset
SELECT nexplane.cr_submit(:'cr')->>'state' AS submitted;
SELECT test.as('appr');
SELECT nexplane.cr_approve(:'cr')->>'state' AS after_one;
SELECT test.as('appr2');
SELECT nexplane.cr_approve(:'cr')->>'state' AS after_two;
SELECT test.drop_policy(:'p');
-- approved under the defaults, executed under a stricter rule: refused
SELECT test.approved_cr() AS older \gset
SELECT test.policy('approvals', '10000000-0000-0000-0000-000000000001', 'enforce',
                   '{"low": 9, "medium": 9, "high": 9, "critical": 9}') AS p2 \gset
SELECT test.as('op');
SELECT test.try(format('SELECT nexplane.cr_execute(%L)', :'older')) AS execute_short_of_approvals;
SELECT test.drop_policy(:'p2');
COMMIT;

-- approvals, warned: execution goes ahead and the event says why it might not.
BEGIN;
SELECT test.policy('approvals', NULL, 'warn', '{"low": 9, "medium": 9, "high": 9, "critical": 9}') AS p \gset
SELECT test.approved_cr() AS cr \gset
SELECT nexplane.cr_execute(:'cr')->>'state' AS executed;
SELECT test.warnings(:'cr') AS warnings;
SELECT test.drop_policy(:'p');
COMMIT;

-- freeze_window: enforced refuses execution, warned records it.
BEGIN;
SELECT test.policy('freeze_window', NULL, 'enforce',
                   jsonb_build_object('from', now() - interval '1 hour', 'until', now() + interval '1 hour',
                                      'reason', 'year-end close')) AS p \gset
SELECT test.approved_cr() AS cr \gset
SELECT regexp_replace(test.try(format('SELECT nexplane.cr_execute(%L)', :'cr')), 'until \S+: ', 'until <t>: ')
    AS frozen;
SELECT test.drop_policy(:'p');
SELECT test.approved_cr() AS cr \gset
SELECT test.policy('freeze_window', NULL, 'warn',
                   jsonb_build_object('from', now() - interval '1 hour', 'until', now() + interval '1 hour')) AS p \gset
SELECT nexplane.cr_execute(:'cr')->>'state' AS executed;
SELECT test.warnings(:'cr') AS warnings;
SELECT test.drop_policy(:'p');
COMMIT;

-- change_window: a window that now is outside of, on the connector.
BEGIN;
SELECT CASE WHEN extract(hour FROM now() AT TIME ZONE 'UTC') < 12
            THEN '{"timezone": "UTC", "days": [1,2,3,4,5,6,7], "start": "13:00", "end": "14:00"}'
            ELSE '{"timezone": "UTC", "days": [1,2,3,4,5,6,7], "start": "01:00", "end": "02:00"}'
       END AS window \gset
SELECT test.policy('change_window', '10000000-0000-0000-0000-000000000001', 'enforce', :'window') AS p \gset
SELECT test.approved_cr() AS cr \gset
SELECT regexp_replace(test.try(format('SELECT nexplane.cr_execute(%L)', :'cr')), '\d\d:00-\d\d:00', 'hh:00-hh:00')
    AS outside_window;
SELECT 'outside_change_window' IN (SELECT f->>'name' FROM jsonb_array_elements(nexplane.cr_get(:'cr')->'risk_factors') f)
    AS scored_as_risk;
SELECT test.drop_policy(:'p');
SELECT test.approved_cr() AS cr \gset
SELECT test.policy('change_window', '10000000-0000-0000-0000-000000000001', 'warn', :'window') AS p \gset
SELECT nexplane.cr_execute(:'cr')->>'state' AS executed;
SELECT test.warnings(:'cr') AS warnings;
SELECT test.drop_policy(:'p');
-- a change window on another connector does not apply
SELECT test.policy('change_window', '10000000-0000-0000-0000-000000000002', 'enforce', :'window') AS p \gset
SELECT nexplane.cr_execute(test.approved_cr())->>'state' AS other_connector_unaffected;
SELECT test.drop_policy(:'p');
COMMIT;

-- max_blast_radius on an asset: enforced at submit, warned otherwise.
BEGIN;
SELECT test.policy('max_blast_radius', '20000000-0000-0000-0000-000000000002', 'enforce', '{"max_assets": 1}') AS p \gset
SELECT test.as('op');
SELECT c->>'id' AS cr FROM test.cr('rotate_password', '{20000000-0000-0000-0000-000000000001,
                                                         20000000-0000-0000-0000-000000000002}') c \gset
SELECT test.try(format('SELECT nexplane.cr_submit(%L)', :'cr')) AS too_wide;
SELECT c->>'id' AS narrow FROM test.cr('rotate_password', '{20000000-0000-0000-0000-000000000002}') c \gset
SELECT nexplane.cr_submit(:'narrow')->>'state' AS narrow_enough;
SELECT test.drop_policy(:'p');
SELECT test.policy('max_blast_radius', '20000000-0000-0000-0000-000000000002', 'warn', '{"max_assets": 1}') AS p \gset
SELECT test.as('op');
SELECT nexplane.cr_submit(:'cr')->>'state' AS submitted;
SELECT test.warnings(:'cr') AS warnings;
SELECT test.drop_policy(:'p');
SELECT jsonb_array_length(nexplane.policy_list()) AS policies_left;
COMMIT;

-- A scheduled change whose time has come is held to the windows and the
-- approvals of that moment (nexplane._cr_start_refusal, which the worker
-- asks before it starts one): a freeze set after it was scheduled, or its
-- approver disabled since, keeps it from starting.  All rolled back.
BEGIN;
SELECT test.as('op');
SELECT c->>'id' AS sch FROM test.cr('rotate_password') c \gset
SELECT nexplane.cr_submit(:'sch')->>'state' AS submitted;
SELECT test.as('appr');
SELECT nexplane.cr_approve(:'sch')->>'state' AS approved;
SELECT test.as('op');
SELECT nexplane.cr_execute(:'sch')->>'state' AS scheduled;
SELECT nexplane._cr_start_refusal(nexplane.current_tenant_id(), :'sch') AS nothing_in_the_way;
SELECT test.policy('freeze_window', NULL, 'enforce',
                   jsonb_build_object('from', now() - interval '1 hour', 'until', now() + interval '1 hour',
                                      'reason', 'incident')) AS p \gset
SELECT regexp_replace(nexplane._cr_start_refusal(nexplane.current_tenant_id(), :'sch'),
                      'until \S+: ', 'until <t>: ') AS frozen_since;
SELECT test.policy('freeze_window', NULL, 'warn',
                   jsonb_build_object('from', now() - interval '1 hour', 'until', now() + interval '1 hour')) AS w \gset
SELECT test.drop_policy(:'p');
SELECT nexplane._cr_start_refusal(nexplane.current_tenant_id(), :'sch') AS a_warned_freeze_does_not_hold_it;
SELECT test.as('admin');
SELECT nexplane.user_disable(u.id)->>'status' AS approver_disabled
  FROM jsonb_to_recordset(nexplane.user_list()) u(id uuid, email text) WHERE u.email = 'appr@acme.test';
SELECT nexplane._cr_start_refusal(nexplane.current_tenant_id(), :'sch') AS approval_lost;
ROLLBACK;
