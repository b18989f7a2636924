-- A change request's document (the change_request_documents view, read by
-- cr_get, cr_list and every transition's answer) lists the table's columns
-- one by one: every column but tenant_id must be in it, plus approvals and
-- cursor; rollback_state only for operators and approvers.  A column added
-- to change_requests without the view fails here.
BEGIN;
SET LOCAL ROLE nexplane_api;
SELECT test.as('op');
SELECT c->>'id' AS cr FROM nexplane.cr_create('10000000-0000-0000-0000-000000000001', 'create_role',
       '{"role": "doc_probe"}', 'the document''s keys') c \gset
CREATE TEMP TABLE doc_columns AS
SELECT a.attname::text AS col FROM pg_attribute a
 WHERE a.attrelid = 'nexplane.change_requests'::regclass AND a.attnum > 0 AND NOT a.attisdropped;
SELECT array_agg(col ORDER BY col) AS missing_for_operator
  FROM (SELECT col FROM doc_columns WHERE col <> 'tenant_id'
        EXCEPT SELECT jsonb_object_keys(nexplane.cr_get(:'cr'))) m;
SELECT array_agg(k ORDER BY k) AS beyond_the_columns
  FROM (SELECT jsonb_object_keys(nexplane.cr_get(:'cr')) EXCEPT SELECT col FROM doc_columns) x(k);
SELECT nexplane.cr_get(:'cr') ? 'tenant_id' AS shows_tenant_id;
-- the same document from cr_get and cr_list
SELECT nexplane.cr_get(:'cr') = (SELECT d FROM jsonb_array_elements(nexplane.cr_list()) d
                                  WHERE d->>'id' = :'cr') AS list_agrees;
SELECT test.as('viewer');
SELECT array_agg(col ORDER BY col) AS missing_for_viewer
  FROM (SELECT col FROM doc_columns WHERE col <> 'tenant_id'
        EXCEPT SELECT jsonb_object_keys(nexplane.cr_get(:'cr'))) m;
ROLLBACK;

-- A write's answer is built in C from the row the write returned
-- (cr_document.c), not read back through the view: it must be the document
-- cr_get reads from the view, the same text, for each role that sees a
-- different one and with every kind of value filled in.
SELECT id AS acme FROM nexplane.tenants WHERE slug = 'acme' \gset
BEGIN;
SET LOCAL ROLE nexplane_api;
SELECT test.as('op');
SELECT nexplane.cr_create('10000000-0000-0000-0000-000000000001', 'grant_role',
       '{"role": "readers", "member": "app"}', 'every value', 'a "quoted" description',
       '{20000000-0000-0000-0000-000000000002, 20000000-0000-0000-0000-000000000001,
         20000000-0000-0000-0000-000000000002}', '2030-01-16 10:00:00.123456Z', 'doc-key-1') AS a \gset
SELECT :'a' = nexplane.cr_get(((:'a'::jsonb)->>'id')::uuid)::text AS create_agrees,
       (:'a'::jsonb) ? 'rollback_state' AS operator_sees_rollback_state,
       (:'a'::jsonb)->'asset_ids' AS assets;
-- a retry with the key answers the same document
SELECT nexplane.cr_create('10000000-0000-0000-0000-000000000001', 'grant_role',
       '{"role": "readers", "member": "app"}', 'every value', 'a "quoted" description',
       '{20000000-0000-0000-0000-000000000002, 20000000-0000-0000-0000-000000000001}',
       '2030-01-16 10:00:00.123456Z', 'doc-key-1')::text = :'a' AS retry_agrees;
SELECT nexplane.cr_submit(((:'a'::jsonb)->>'id')::uuid) AS s \gset
SELECT :'s' = nexplane.cr_get(((:'a'::jsonb)->>'id')::uuid)::text AS submit_agrees,
       (:'s'::jsonb)->>'state' AS state, (:'s'::jsonb)->'approvals' AS approvals;
SELECT test.as('appr');
SELECT nexplane.cr_approve(((:'a'::jsonb)->>'id')::uuid, 'fine') AS ap \gset
SELECT :'ap' = nexplane.cr_get(((:'a'::jsonb)->>'id')::uuid)::text AS approve_agrees,
       jsonb_array_length((:'ap'::jsonb)->'approvals') AS approvals;
SELECT test.as('op');
SELECT nexplane.cr_execute(((:'a'::jsonb)->>'id')::uuid) AS ex \gset
SELECT :'ex' = nexplane.cr_get(((:'a'::jsonb)->>'id')::uuid)::text AS execute_agrees,
       (:'ex'::jsonb)->>'state' AS state;
-- the worker's transitions: a result and a rollback state, a scalar one too
RESET ROLE;
SELECT nexplane._cr_start(:'acme', ((:'a'::jsonb)->>'id')::uuid)::text
       = nexplane.cr_get(((:'a'::jsonb)->>'id')::uuid)::text AS start_agrees;
SELECT nexplane._cr_complete(:'acme', ((:'a'::jsonb)->>'id')::uuid, '{"granted": [1, "two", null]}',
                             '"a scalar"') AS done \gset
SET LOCAL ROLE nexplane_api;
SELECT :'done' = nexplane.cr_get(((:'a'::jsonb)->>'id')::uuid)::text AS complete_agrees,
       (:'done'::jsonb)->'result' AS result, (:'done'::jsonb)->'rollback_state' AS rollback_state;
-- an admin's document has no rollback_state, as the view's
SELECT test.as('admin');
SELECT test.cr('rotate_password') AS b \gset
SELECT :'b' = nexplane.cr_get(((:'b'::jsonb)->>'id')::uuid)::text AS admin_create_agrees,
       (:'b'::jsonb) ? 'rollback_state' AS admin_sees_rollback_state;
SELECT nexplane.cr_submit(((:'b'::jsonb)->>'id')::uuid)::text
       = nexplane.cr_get(((:'b'::jsonb)->>'id')::uuid)::text AS admin_submit_agrees;
-- a draft with a decision on it (written directly: no action makes one)
-- answers with the decision, as the view shows it
SELECT test.as('op');
SELECT test.cr('create_role') AS c \gset
RESET ROLE;
INSERT INTO nexplane.approvals (tenant_id, change_request_id, approver_id, decision, approver_role)
SELECT :'acme', ((:'c'::jsonb)->>'id')::uuid, u.id, 'approve', 'approver'
  FROM nexplane.users u WHERE u.email = 'appr@acme.test';
SET LOCAL ROLE nexplane_api;
SELECT nexplane.cr_submit(((:'c'::jsonb)->>'id')::uuid) AS cs \gset
SELECT :'cs' = nexplane.cr_get(((:'c'::jsonb)->>'id')::uuid)::text AS decided_draft_agrees,
       jsonb_array_length((:'cs'::jsonb)->'approvals') AS approvals;
ROLLBACK;
