-- Break-in, low findings: who may cancel, whose approvals count, and who
-- sees a change's rollback state.
SET ROLE nexplane_api;
SELECT nexplane.login('admin@acme.test', 'acme-admin-pass-1') IS NOT NULL AS acme_admin;
SELECT count(nexplane.user_create(e, 'who-decides-pass-1', r))
  FROM (VALUES ('op-other@acme.test', 'operator'), ('appr-gone@acme.test', 'approver')) v(e, r);
SELECT nexplane.logout() IS NOT NULL AS out;
SELECT nexplane.login('op-other@acme.test', 'who-decides-pass-1', NULL, false)->>'access_token' AS op_other
\gset
SELECT nexplane.login('appr-gone@acme.test', 'who-decides-pass-1', NULL, false)->>'access_token' AS appr_gone
\gset

-- A change by op, submitted; it needs one approval (medium risk).
BEGIN;
SELECT test.as('op');
SELECT c->>'id' AS cr FROM test.cr('rotate_password') c \gset
SELECT nexplane.cr_submit(:'cr')->>'state' AS submitted;
COMMIT;

-- Another operator may not cancel it; the requester and an admin may.
BEGIN;
SELECT nexplane.authenticate(:'op_other')->>'role' AS other_operator;
SELECT test.try(format('SELECT nexplane.cr_cancel(%L)', :'cr')) AS other_operator_cancels;
COMMIT;
BEGIN;
SELECT test.as('admin2');
SELECT c->>'id' AS cr2 FROM (SELECT nexplane.cr_cancel(id) c FROM (SELECT (test.cr('rotate_password')->>'id')::uuid AS id) x) y \gset
COMMIT;
BEGIN;
SELECT test.as('op');
SELECT c->>'id' AS cr3 FROM test.cr('rotate_password') c \gset
COMMIT;
BEGIN;
SELECT test.as('admin');
SELECT nexplane.cr_cancel(:'cr3')->>'state' AS admin_cancels;
COMMIT;

-- Approved by appr-gone, who is then disabled: the approval no longer counts.
BEGIN;
SELECT nexplane.authenticate(:'appr_gone')->>'role' AS approver;
SELECT nexplane.cr_approve(:'cr', 'fine')->>'state' AS approved;
COMMIT;
BEGIN;
SELECT test.as('admin');
SELECT nexplane.user_disable(u.id)->>'status' AS disabled
  FROM jsonb_to_recordset(nexplane.user_list()) u(id uuid, email text) WHERE u.email = 'appr-gone@acme.test';
COMMIT;
BEGIN;
SELECT test.as('op');
SELECT test.try(format('SELECT nexplane.cr_execute(%L)', :'cr')) AS execute_without_live_approval;
COMMIT;
-- A live approver's approval, added to the approved request, makes it whole.
BEGIN;
SELECT test.as('appr');
SELECT nexplane.cr_approve(:'cr', 'fine too')->>'state' AS still_approved;
COMMIT;
BEGIN;
SELECT test.as('op');
SELECT nexplane.cr_execute(:'cr')->>'state' AS executed;   -- scheduled: test.cr plans it for 2030
COMMIT;

-- rollback_state is shown to those who may roll back or approve, not viewers.
RESET ROLE;
SELECT nexplane._cr_start(tenant_id, id)->>'state' AS started
  FROM nexplane.change_requests WHERE id = :'cr';
SELECT nexplane._cr_complete(tenant_id, id, '{"done": true}', '{"old_password_version": 3}')->>'state' AS completed
  FROM nexplane.change_requests WHERE id = :'cr';
SET ROLE nexplane_api;
BEGIN;
SELECT test.as('viewer');
SELECT nexplane.cr_get(:'cr') ? 'rollback_state' AS viewer_sees_rollback_state,
       nexplane.cr_get(:'cr') ? 'result' AS viewer_sees_result;
SELECT bool_or(c ? 'rollback_state') AS viewer_list_shows_rollback_state
  FROM jsonb_array_elements(nexplane.cr_list('{}')) c;
COMMIT;
BEGIN;
SELECT test.as('op');
SELECT nexplane.cr_get(:'cr')->'rollback_state' AS operator_sees;
COMMIT;
RESET ROLE;

-- Large objects, which RLS does not cover, cannot be made by the API role.
SET ROLE nexplane_api;
SELECT test.try($$SELECT lo_from_bytea(0, 'tenant data')$$) AS lo_from_bytea;
SELECT test.try($$SELECT lo_creat(-1)$$) AS lo_creat;
SELECT test.try($$SELECT lo_create(0)$$) AS lo_create;
RESET ROLE;
SELECT count(*) AS large_objects FROM pg_largeobject_metadata;

-- A change request's events are numbered within it, not by the sequence
-- all tenants share (whose gaps would tell another tenant's activity).
SET ROLE nexplane_api;
BEGIN;
SELECT test.as('viewer');
SELECT bool_or(e ? 'id') AS global_id_shown, string_agg(e->>'seq', ',') AS seqs
  FROM jsonb_array_elements(nexplane.cr_events(:'cr')) e;
COMMIT;
RESET ROLE;
