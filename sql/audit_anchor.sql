-- Break-in as a PostgreSQL superuser at tenant anchor's audit trail.
-- What can be made impossible is (replica mode, rewinding the head); what
-- cannot (rewriting with triggers disabled) is made evident against a
-- signed checkpoint the tenant kept outside.
SELECT (nexplane.tenant_create('anchor', 'Anchor', 'admin@anchor.test', 'anchor-admin-pass')
        ->'tenant'->>'id') AS anchor \gset
INSERT INTO nexplane.connectors (tenant_id, id, type, name)
VALUES (:'anchor', '40000000-0000-0000-0000-000000000001', 'postgresql', 'anchor-db');
SET ROLE nexplane_api;
SELECT nexplane.login('admin@anchor.test', 'anchor-admin-pass') IS NOT NULL AS admin;
SELECT nexplane.user_create('clerk@anchor.test', 'anchor-clerk-pass', 'viewer')->>'role' AS clerk;
SELECT c->>'id' AS cr FROM nexplane.cr_create('40000000-0000-0000-0000-000000000001',
       'rotate_password', '{}', 'anchor change') c \gset

-- The checkpoint: tenant, position, hash, time, key id and an Ed25519
-- signature; the public key is for anyone to check it offline.
SELECT nexplane.audit_checkpoint() AS cp \gset
SELECT jsonb_object_keys(:'cp'::jsonb) AS checkpoint_field ORDER BY 1;
SELECT (:'cp'::jsonb->>'chain_seq')::int > 0 AS has_events,
       :'cp'::jsonb->>'tenant_id' = :'anchor' AS this_tenant,
       :'cp'::jsonb->>'key_id' = nexplane.audit_checkpoint_key()->>'key_id' AS key_published,
       length(nexplane.audit_checkpoint_key()->>'public_key') AS public_key_b64_len;
SELECT (nexplane.audit_verify(:'cp'::jsonb)->'checkpoint') - 'chain_seq' AS fresh;
-- The trail grows and still extends it.
SELECT nexplane.user_create('clerk2@anchor.test', 'anchor-clerk-pass', 'viewer')->>'role' AS clerk2;
SELECT v->>'ok' AS ok, v->'checkpoint'->>'extended' AS extended
  FROM nexplane.audit_verify(:'cp') v;
-- A checkpoint changed by hand, or not one, proves nothing.
SELECT nexplane.audit_verify(jsonb_set(:'cp'::jsonb, '{chain_seq}', '1'))->'checkpoint'->>'problem' AS seq_changed;
SELECT nexplane.audit_verify(jsonb_set(:'cp'::jsonb, '{hash}', to_jsonb(repeat('0', 64))))->'checkpoint'->>'problem' AS hash_changed;
SELECT test.try($$SELECT nexplane.audit_verify('{"chain_seq": 1}')$$) AS not_a_checkpoint;
SELECT test.try($$SELECT nexplane.audit_verify('[1]')$$) AS not_an_object;
-- A viewer may read the public key but neither take nor check checkpoints.
SELECT nexplane.logout() IS NOT NULL AS out;
SELECT nexplane.login('clerk@anchor.test', 'anchor-clerk-pass') IS NOT NULL AS clerk_in;
SELECT nexplane.audit_checkpoint_key() ? 'public_key' AS viewer_reads_key;
SELECT test.try($$SELECT nexplane.audit_checkpoint()$$) AS viewer_checkpoint;
SELECT nexplane.logout() IS NOT NULL AS out;
RESET ROLE;

-- Made impossible: replica mode skips ordinary triggers, not these.
SET session_replication_role = replica;
SELECT test.try(format($$UPDATE nexplane.change_requests SET state = 'completed' WHERE id = %L$$, :'cr')) AS replica_state_change;
SELECT test.try(format($$DELETE FROM nexplane.change_request_events WHERE change_request_id = %L$$, :'cr')) AS replica_delete_events;
SELECT test.try(format($$DELETE FROM nexplane.audit_events WHERE tenant_id = %L$$, :'anchor')) AS replica_delete_trail;
UPDATE nexplane.users SET display_name = 'edited in replica mode'
 WHERE tenant_id = :'anchor' AND email = 'clerk2@anchor.test';
SELECT count(*) AS replica_update_audited FROM nexplane.audit_events
 WHERE tenant_id = :'anchor' AND action = 'users.update';
RESET session_replication_role;
-- ... and the head never moves back or away.
SELECT nexplane._audit_seal_all() >= 0 AS sealed;
SELECT test.try(format($$UPDATE nexplane.audit_chain_heads SET last_seq = last_seq - 1 WHERE tenant_id = %L$$, :'anchor')) AS rewind_head;
SELECT test.try(format($$DELETE FROM nexplane.audit_chain_heads WHERE tenant_id = %L$$, :'anchor')) AS delete_head;
SELECT test.try($$TRUNCATE nexplane.audit_chain_heads$$) AS truncate_heads;

-- Made evident: with every user trigger disabled, the superuser deletes
-- the tenant's whole trail and its head, and moves a change request on.
ALTER TABLE nexplane.audit_events DISABLE TRIGGER USER;
ALTER TABLE nexplane.audit_chain DISABLE TRIGGER USER;
ALTER TABLE nexplane.audit_chain_heads DISABLE TRIGGER USER;
ALTER TABLE nexplane.change_requests DISABLE TRIGGER USER;
DELETE FROM nexplane.audit_chain WHERE tenant_id = :'anchor';
DELETE FROM nexplane.audit_chain_heads WHERE tenant_id = :'anchor';
DELETE FROM nexplane.audit_events WHERE tenant_id = :'anchor';
UPDATE nexplane.change_requests SET state = 'cancelled' WHERE id = :'cr';
ALTER TABLE nexplane.audit_events ENABLE ALWAYS TRIGGER append_only;
ALTER TABLE nexplane.audit_events ENABLE ALWAYS TRIGGER append_only_truncate;
ALTER TABLE nexplane.audit_chain ENABLE ALWAYS TRIGGER append_only;
ALTER TABLE nexplane.audit_chain ENABLE ALWAYS TRIGGER append_only_truncate;
ALTER TABLE nexplane.audit_chain_heads ENABLE ALWAYS TRIGGER head_forward;
ALTER TABLE nexplane.audit_chain_heads ENABLE ALWAYS TRIGGER head_forward_truncate;
ALTER TABLE nexplane.change_requests ENABLE ALWAYS TRIGGER state_guard;
ALTER TABLE nexplane.change_requests ENABLE ALWAYS TRIGGER audit;
SET ROLE nexplane_api;
SELECT nexplane.login('admin@anchor.test', 'anchor-admin-pass') IS NOT NULL AS admin;
-- Without the checkpoint the state no event explains still shows ...
SELECT v->>'ok' AS ok, v->'first_broken'->>'problem' AS problem FROM nexplane.audit_verify() v;
-- ... and against it, the rewrite does.
SELECT v->>'ok' AS ok, v->'checkpoint'->>'problem' AS problem FROM nexplane.audit_verify(:'cp') v;
SELECT nexplane.logout() IS NOT NULL AS out;
RESET ROLE;
