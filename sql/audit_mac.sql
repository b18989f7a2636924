-- Break-in as a PostgreSQL superuser: a forged approval slipped into the
-- trail with the triggers disabled is chained by the sealer like any
-- event, but it carries no valid MAC (audit_mac.c), so audit_verify()
-- reports it; genuine events verify, across key rotation too.
SELECT (nexplane.tenant_create('forge', 'Forge', 'admin@forge.test', 'forge-admin-pass')
        ->'tenant'->>'id') AS forge \gset
SELECT id AS acme FROM nexplane.tenants WHERE slug = 'acme' \gset
INSERT INTO nexplane.connectors (tenant_id, id, type, name)
VALUES (:'forge', '50000000-0000-0000-0000-000000000001', 'postgresql', 'forge-db');
SET ROLE nexplane_api;
SELECT nexplane.login('admin@forge.test', 'forge-admin-pass') IS NOT NULL AS admin;
SELECT count(nexplane.user_create(e, 'forge-user-pass-1', r))
  FROM (VALUES ('op@forge.test', 'operator'), ('appr@forge.test', 'approver')) v(e, r);
SELECT nexplane.logout() IS NOT NULL AS out;
SELECT nexplane.login('op@forge.test', 'forge-user-pass-1') IS NOT NULL AS operator;
SELECT c->>'id' AS cr FROM nexplane.cr_create('50000000-0000-0000-0000-000000000001',
       'rotate_password', '{}', 'forge change') c \gset
SELECT nexplane.cr_submit(:'cr')->>'state' AS submitted;
SELECT nexplane.logout() IS NOT NULL AS out;
-- The genuine trail verifies; the admin keeps a checkpoint of it.
SELECT nexplane.login('admin@forge.test', 'forge-admin-pass') IS NOT NULL AS admin;
SELECT v->'ok' AS ok, v->'mac_failures' AS mac_failures FROM nexplane.audit_verify() v;
SELECT nexplane.audit_checkpoint() AS cp \gset
SELECT nexplane.logout() IS NOT NULL AS out;
RESET ROLE;

-- Every event the writer wrote carries a MAC that holds.
SELECT count(*) AS events, count(*) FILTER (WHERE nexplane._audit_mac_ok(e)) AS macs_hold,
       min(length(e.mac)) AS mac_bytes
  FROM nexplane.audit_events e WHERE e.tenant_id = :'forge';

-- The forgery: with every user trigger disabled (so neither the approval
-- guard nor the audit trigger runs), the superuser records an approval
-- by the real approver and writes its event by hand, as audit.c would
-- have: the approver as actor, the row image, the request id of the
-- submission, and the MAC of a genuine event, copied.  A second forged
-- event has no MAC at all.
SELECT id AS appr FROM nexplane.users WHERE tenant_id = :'forge' AND email = 'appr@forge.test' \gset
ALTER TABLE nexplane.approvals DISABLE TRIGGER USER;
INSERT INTO nexplane.approvals (tenant_id, change_request_id, approver_id, decision, approver_role, comment)
VALUES (:'forge', :'cr', :'appr', 'approve', 'approver', 'looks good');
ALTER TABLE nexplane.approvals ENABLE ALWAYS TRIGGER approval_guard;
ALTER TABLE nexplane.approvals ENABLE ALWAYS TRIGGER audit;
SELECT tgname, tgenabled FROM pg_trigger
 WHERE tgrelid = 'nexplane.approvals'::regclass AND NOT tgisinternal ORDER BY 1;
INSERT INTO nexplane.audit_events (tenant_id, actor_kind, actor_id, action, target_table,
                                   target_id, after, request_id, mac)
SELECT :'forge', 'user', :'appr', 'approvals.insert', 'approvals', :'cr' || '/' || :'appr',
       to_jsonb(a), g.request_id, g.mac
  FROM nexplane.approvals a,
       (SELECT request_id, mac FROM nexplane.audit_events
         WHERE tenant_id = :'forge' AND action = 'change_requests.update'
         ORDER BY id DESC LIMIT 1) g
 WHERE a.tenant_id = :'forge' AND a.change_request_id = :'cr';
INSERT INTO nexplane.audit_events (tenant_id, actor_kind, actor_id, action, target_table, target_id, after)
VALUES (:'forge', 'user', :'appr', 'approvals.note', 'approvals', :'cr', '{"note": "approved on the phone"}');
-- The sealer (pg_cron's job) chains them like every other event.
SELECT nexplane._audit_seal_all() > 0 AS sealed;
SELECT e.action, l.chain_seq IS NOT NULL AS chained, nexplane._audit_mac_ok(e) AS mac_holds
  FROM nexplane.audit_events e
  LEFT JOIN nexplane.audit_chain l ON l.tenant_id = e.tenant_id AND l.event_id = e.id
 WHERE e.tenant_id = :'forge' AND e.target_table = 'approvals' ORDER BY e.id;

-- The tenant's admin: the chain holds, and extends the checkpoint, but
-- audit_verify names both forged events, by the tenant's own chain_seq,
-- which audit_query shows beside each event.
SET ROLE nexplane_api;
SELECT nexplane.login('admin@forge.test', 'forge-admin-pass') IS NOT NULL AS admin;
SELECT nexplane.audit_verify() AS v \gset
SELECT :'v'::jsonb->'ok' AS ok, :'v'::jsonb->'first_broken'->>'problem' AS problem,
       :'v'::jsonb->'mac_failures'->'count' AS mac_failures;
SELECT e->>'action' AS first_forged
  FROM jsonb_array_elements(nexplane.audit_query('{"target_table": "approvals"}')) e
 WHERE (e->>'chain_seq')::bigint = (:'v'::jsonb->'mac_failures'->>'first_chain_seq')::bigint;
SELECT (:'v'::jsonb->'first_broken'->'chain_seq') = (:'v'::jsonb->'mac_failures'->'first_chain_seq')
       AS first_broken_is_first_forged;
SELECT v->'ok' AS ok, v->'checkpoint'->'extended' AS checkpoint_extended
  FROM nexplane.audit_verify(:'cp') v;
-- Genuine events written after the forgery verify as they should.
SELECT nexplane.user_create('clerk@forge.test', 'forge-user-pass-1', 'viewer')->>'role' AS clerk;
SELECT v->'mac_failures' AS still_two FROM nexplane.audit_verify() v;
SELECT nexplane.logout() IS NOT NULL AS out;
RESET ROLE;
SELECT count(*) FILTER (WHERE NOT nexplane._audit_mac_ok(e)) AS failing,
       count(*) FILTER (WHERE NOT nexplane._audit_mac_ok(e) AND e.action LIKE 'approvals.%') AS forged
  FROM nexplane.audit_events e WHERE e.tenant_id = :'forge';

-- The MAC covers every column and binds the event to its tenant and id:
-- a genuine event changed in any one of them no longer verifies.
SELECT id AS genuine FROM nexplane.audit_events
 WHERE tenant_id = :'forge' AND action = 'users.insert' AND after->>'email' = 'clerk@forge.test' \gset
SELECT changed, nexplane._audit_mac_ok(jsonb_populate_record(e, change)) AS mac_holds
  FROM nexplane.audit_events e,
       (VALUES ('nothing', '{}'::jsonb),
               ('tenant_id (moved to acme)', jsonb_build_object('tenant_id', :'acme')),
               ('id', jsonb_build_object('id', :'genuine'::bigint + 1)),
               ('occurred_at', '{"occurred_at": "2020-01-01T00:00:00Z"}'),
               ('actor_kind', '{"actor_kind": "system"}'),
               ('actor_id', jsonb_build_object('actor_id', :'appr')),
               ('action', '{"action": "users.update"}'),
               ('target_table', '{"target_table": "approvals"}'),
               ('target_id', '{"target_id": "x"}'),
               ('before', '{"before": {}}'),
               ('after', '{"after": {"email": "clerk@forge.test"}}'),
               ('request_id', '{"request_id": "req-1"}'),
               ('trace_id', '{"trace_id": "4bf92f3577b34da6a3ce929d0e0e4736"}'),
               ('mac removed', '{"mac": null}'),
               ('mac cut short', '{"mac": "\\x00"}')) c(changed, change)
 WHERE e.tenant_id = :'forge' AND e.id = :'genuine';

-- rotate_tenant_key() rotates the credential data keys, not the audit
-- key: after it, and in a new backend that reads the key afresh, every
-- genuine event still verifies and the forged ones still do not.
-- (rotate_master_key() re-wraps the audit key: test/t/001_vault_master_key.pl.)
SET ROLE nexplane_api;
SELECT nexplane.login('admin@forge.test', 'forge-admin-pass') IS NOT NULL AS admin;
SELECT nexplane.rotate_tenant_key()->>'started' AS tenant_key_rotated;
SELECT nexplane.logout() IS NOT NULL AS out;
RESET ROLE;
\c -
SET ROLE nexplane_api;
SELECT nexplane.login('admin@forge.test', 'forge-admin-pass') IS NOT NULL AS admin;
SELECT v->'ok' AS ok, v->'mac_failures'->'count' AS mac_failures FROM nexplane.audit_verify() v;
SELECT nexplane.logout() IS NOT NULL AS out;
RESET ROLE;
SELECT count(*) FILTER (WHERE nexplane._audit_mac_ok(e)) = count(*) - 2 AS all_but_the_forged
  FROM nexplane.audit_events e WHERE e.tenant_id = :'forge';

-- The key stays out of SQL's reach: the API roles cannot read its table,
-- which holds it only wrapped, and no function returns a MAC.  Its row is
-- never removed or moved, for a superuser either.
SET ROLE nexplane_api;
SELECT test.try($$SELECT count(*) FROM nexplane.audit_keys$$) AS api_reads_keys;
SELECT test.try($$SELECT nexplane._audit_mac_ok((SELECT NULL::nexplane.audit_events))$$) AS api_checks_macs;
RESET ROLE;
SELECT length(wrapped_key) AS wrapped_bytes, master_key_id ~ '^[0-9a-f]{16}$' AS master_key_id
  FROM nexplane.audit_keys WHERE tenant_id = :'forge';
SELECT prorettype::regtype AS returns FROM pg_proc WHERE proname = '_audit_mac_ok';
SELECT test.try(format($$DELETE FROM nexplane.audit_keys WHERE tenant_id = %L$$, :'forge')) AS delete_key;
SELECT test.try(format($$UPDATE nexplane.audit_keys SET tenant_id = %L WHERE tenant_id = %L$$,
                       :'acme', :'forge')) AS move_key;
SELECT test.try($$TRUNCATE nexplane.audit_keys$$) AS truncate_keys;
SET session_replication_role = replica;
SELECT test.try(format($$DELETE FROM nexplane.audit_keys WHERE tenant_id = %L$$, :'forge')) AS replica_delete_key;
RESET session_replication_role;

-- What the MAC does not hide: a superuser's own write through the
-- triggers gets a genuine MAC, and names the superuser as its actor.
INSERT INTO nexplane.policies (tenant_id, kind, spec) VALUES (:'forge', 'approvals', '{"min": 1}');
SELECT actor_kind, actor_id, nexplane._audit_mac_ok(e) AS mac_holds
  FROM nexplane.audit_events e WHERE e.tenant_id = :'forge' AND e.action = 'policies.insert';
