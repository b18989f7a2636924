-- A rollback is a change too: cr_rollback asks for a change request of
-- its own (rollback_of), scored at the change's class, approved by
-- someone else like any change, and run as the connector's rollback once
-- executed; the original moves only when that runs.
SELECT id AS acme FROM nexplane.tenants WHERE slug = 'acme' \gset
BEGIN;
SET LOCAL ROLE nexplane_api;
SELECT test.as('op');
SELECT c->>'id' AS cr FROM nexplane.cr_create('10000000-0000-0000-0000-000000000001', 'revoke_role',
       '{"role": "reporting", "member": "app"}', 'revoke reporting from app') c \gset
SELECT nexplane.cr_submit(:'cr')->>'state' AS submitted;
SELECT test.as('appr');
SELECT nexplane.cr_approve(:'cr')->>'state' AS approved;
SELECT test.as('op');
SELECT test.try(format('SELECT nexplane.cr_rollback(%L)', :'cr')) AS before_it_ran;
SELECT nexplane.cr_execute(:'cr')->>'state' AS executing;
RESET ROLE;
SELECT nexplane._cr_complete(:'acme', :'cr', '{"revoked": true}', '{"granted_before": true}')->>'state' AS worker_completed;
SET LOCAL ROLE nexplane_api;

-- viewers and approvers do not ask for rollbacks; operators do
SELECT test.as('viewer');
SELECT test.try(format('SELECT nexplane.cr_rollback(%L)', :'cr')) AS viewer;
SELECT test.as('appr');
SELECT test.try(format('SELECT nexplane.cr_rollback(%L)', :'cr')) AS approver;
SELECT test.as('op');
SELECT test.try(format('SELECT nexplane.cr_rollback(%L, %L)', :'cr', repeat('x', 2001))) AS long_reason;
SELECT r->>'id' AS rb, r->>'state' AS state, r->>'rollback_of' = :'cr' AS links_original,
       r->>'change_type' AS change_type, r->>'title' AS title, r->>'risk_level' AS risk
  FROM nexplane.cr_rollback(:'cr', 'the report broke') r \gset
SELECT :'state' AS state, :'links_original' AS links_original, :'change_type' AS change_type,
       :'title' AS title, :'risk' AS risk;
SELECT nexplane.cr_get(:'cr')->>'state' AS original_still;
SELECT test.try(format('SELECT nexplane.cr_rollback(%L)', :'cr')) AS second_rollback;
-- the requester of the rollback never approves it
SELECT test.try(format('SELECT nexplane.cr_approve(%L)', :'rb')) AS own_approval;
SELECT test.as('appr');
SELECT nexplane.cr_approve(:'rb')->>'state' AS rollback_approved;
SELECT test.as('op');
SELECT nexplane.cr_execute(:'rb')->>'state' AS rollback_executing;
COMMIT;

-- executing it queued the connector's rollback, on the rollback's own request
SELECT kind, state FROM nexplane.jobs WHERE change_request_id = :'rb';
SELECT state FROM nexplane.change_requests WHERE id = :'cr';
-- the worker's moves: the original rolls back when the rollback runs
SELECT nexplane._cr_rollback_start(:'acme', :'cr')->>'state' AS original_when_run;
SELECT nexplane._cr_complete(:'acme', :'rb', '{"granted": true}')->>'state' AS rollback_done;
SELECT nexplane._cr_rollback_complete(:'acme', :'cr', '{"granted": true}')->>'state' AS original_done;
BEGIN;
SET LOCAL ROLE nexplane_api;
SELECT test.as('op');
SELECT test.try(format('SELECT nexplane.cr_rollback(%L)', :'rb')) AS rollback_of_a_rollback;
SELECT test.try(format('SELECT nexplane.cr_rollback(%L)', :'cr')) AS rolled_back_again;
COMMIT;
-- a change type that cannot be rolled back
BEGIN;
SET LOCAL ROLE nexplane_api;
SELECT test.as('op');
SELECT c->>'id' AS dr FROM nexplane.cr_create('10000000-0000-0000-0000-000000000001', 'drop_role',
       '{"role": "old"}', 'drop old') c \gset
SELECT nexplane.cr_submit(:'dr') IS NOT NULL AS submitted;
SELECT test.as('appr');
SELECT nexplane.cr_approve(:'dr') IS NOT NULL AS approved;
SELECT test.as('admin');
SELECT nexplane.cr_approve(:'dr') IS NOT NULL AS approved_again;
SELECT test.as('op');
SELECT test.try(format('SELECT nexplane.cr_execute(%L)', :'dr')) AS executed;
RESET ROLE;
SELECT nexplane._cr_complete(:'acme', :'dr', '{}', '{"note": "nothing"}')->>'state' AS completed;
SET LOCAL ROLE nexplane_api;
SELECT test.as('op');
SELECT test.try(format('SELECT nexplane.cr_rollback(%L)', :'dr')) AS drop_role_rollback;
COMMIT;
