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
