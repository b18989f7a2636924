-- The command queue: the allowlist's checks when a command is queued, the
-- poll that sends it (again, until it is reported), the reports' state
-- machine, dead-man confirmations, and another tenant's ids.

-- Two agents of acme, enrolled with keys of this suite's own (openssl req, EC P-256).
CREATE TEMP TABLE csr (name text PRIMARY KEY, pem text NOT NULL);
GRANT SELECT ON csr TO PUBLIC;
INSERT INTO csr VALUES
('c1', $pem$-----BEGIN CERTIFICATE REQUEST-----
MIHGMG8CAQAwDTELMAkGA1UEAwwCYzEwWTATBgcqhkjOPQIBBggqhkjOPQMBBwNC
AAStN/q95dytOmj1nkvUyyp/akzLPjF4yvyj7lTQCIWF3LIaWaBno/iC8oJdXfEX
XHbKj7KpgonQQ8lqpqrP9mc9oAAwCgYIKoZIzj0EAwIDRwAwRAIgUfRrjRWAUQgM
hiriyeEAqokNaiV/7moMspavU8jN+wICIBsfTXJxuEPPO46aBDWGP/KxFJPkDzv2
uPiBAPIa02c0
-----END CERTIFICATE REQUEST-----
$pem$),
('c2', $pem$-----BEGIN CERTIFICATE REQUEST-----
MIHHMG8CAQAwDTELMAkGA1UEAwwCYzIwWTATBgcqhkjOPQIBBggqhkjOPQMBBwNC
AATremuPF7xQGMcVu0qGW0rEhYh5keLw1kMpLHBJZ4IqvV3bahNigCQJByqDp4EX
tsh8C8/Vhan7xkbBx7atDEMRoAAwCgYIKoZIzj0EAwIDSAAwRQIgXzKfzckmsawG
zluXRnoZ86BDnLnPKx8M3riDA52BQsICIQC6QgO6ykeXK3jH6FmoOebZ0LgKOsZv
c063iX5uEcRlTA==
-----END CERTIFICATE REQUEST-----
$pem$),
('c3', $pem$-----BEGIN CERTIFICATE REQUEST-----
MIHHMG8CAQAwDTELMAkGA1UEAwwCYzMwWTATBgcqhkjOPQIBBggqhkjOPQMBBwNC
AARmjHkbvLkyZIsuRK6TfpdTGNy7/lZ9k+qbYbTWiMDRVFzyR9gP6Il/fS4C/5Ad
Qna+uOPInXFAjjVmq/4NiagDoAAwCgYIKoZIzj0EAwIDSAAwRQIgRgsz2nvip8wO
EMd9ZlsXIISi9TYhRjcmbtS1FMeBU3UCIQD2uhQD7DkKuYNHIQMcnG3L6rFEuTky
cxM/vU9lzWZMew==
-----END CERTIFICATE REQUEST-----
$pem$);
BEGIN;
SELECT test.as('admin');
CREATE TEMP TABLE tok AS SELECT n, nexplane.enrollment_token_create()->>'token' AS t
  FROM generate_series(1, 2) n;
COMMIT;
GRANT SELECT ON tok TO PUBLIC;
SET ROLE nexplane_api;
CREATE TEMP TABLE ag AS
SELECT n, (nexplane.agent_enroll(t, (SELECT pem FROM csr WHERE name = 'c' || n),
                                 jsonb_build_object('hostname', 'cmd-host-' || n))->>'agent_id')::uuid AS id
  FROM tok;
RESET ROLE;
ALTER TABLE ag ADD COLUMN fp text;
UPDATE ag SET fp = a.cert_fingerprint FROM nexplane.agents a WHERE a.id = ag.id;
GRANT SELECT ON ag TO PUBLIC;
SELECT id AS a1, fp AS fp1 FROM ag WHERE n = 1 \gset
SELECT id AS a2, fp AS fp2 FROM ag WHERE n = 2 \gset

-- ---------- the allowlist ----------
BEGIN;
SELECT test.as('viewer');
SELECT c->>'command' AS command, c->'changes_host' AS changes_host, c->'can_revert' AS can_revert,
       (SELECT string_agg(p->>'name' || CASE WHEN (p->>'required')::boolean THEN '' ELSE '?' END, ', ')
          FROM jsonb_array_elements(c->'params') p) AS params
  FROM jsonb_array_elements(nexplane.agent_command_types()) c;
ROLLBACK;

-- ---------- queueing: every refusal names what is wrong ----------
BEGIN;
SELECT test.as('admin');
SELECT test.try(format('SELECT nexplane.agent_command_create(%L, %L, %L)', :'a1', c, p)) AS refusal
  FROM (VALUES
    ('shell.exec', '{"cmd": "id"}'),                                  -- not in the allowlist
    ('user.lock', '{}'),                                              -- required param missing
    ('user.lock', '{"user": "alice", "shell": "/bin/sh"}'),           -- unknown param
    ('user.lock', '{"user": "alice; rm -rf /"}'),                     -- bad shape
    ('user.lock', '{"user": 7}'),                                     -- wrong type
    ('user.lock', '{"user": "-oProxyCommand"}'),                      -- an option
    ('user.set_password', '{"user": "alice", "hash": "plaintext-password"}'),
    ('ssh.authorized_key.add', '{"user": "alice", "key": "ssh-ed25519 AAAA\nssh-rsa"}'),
    ('service.restart', '{"unit": "../../etc/passwd"}'),
    ('file.write', '{"path": "/etc/../etc/shadow", "content": "eA==", "expected_sha256": "absent"}'),
    ('file.write', '{"path": "/etc/motd", "content": "not base64!", "expected_sha256": "absent"}'),
    ('file.write', '{"path": "/etc/motd", "content": "eA==", "expected_sha256": "absent", "mode": "4755"}'),
    ('user.lock', '[]')) v(c, p);
SELECT test.try(format('SELECT nexplane.agent_command_create(%L, %L, %L, %L)', :'a1', 'service.restart',
                       '{"unit": "nginx.service"}', '1 minute')) AS confirm_on_no_undo,
       test.try(format('SELECT nexplane.agent_command_create(%L, %L, %L, %L)', :'a1', 'user.lock',
                       '{"user": "alice"}', '5 seconds')) AS confirm_too_short,
       test.try(format('SELECT nexplane.agent_command_create(%L, %L, %L, %L)', :'a1', 'user.lock',
                       '{"user": "alice"}', '2 hours')) AS confirm_too_long,
       test.try(format('SELECT nexplane.agent_command_create(%L, %L, %L)',
                       '00000000-0000-0000-0000-0000000000aa', 'facts.collect', '{}')) AS unknown_agent,
       test.try(format('SELECT nexplane.agent_command_create(%L, NULL)', :'a1')) AS no_command;
SELECT count(*) AS queued_by_refusals FROM nexplane.agent_commands WHERE agent_id = :'a1';
ROLLBACK;
-- who may queue: admins anything, operators only read-only commands
BEGIN;
SELECT test.as('op');
SELECT test.try(format('SELECT nexplane.agent_command_create(%L, %L, %L)', :'a1', 'user.lock',
                       '{"user": "alice"}')) AS operator_host_change,
       nexplane.agent_command_create(:'a1', 'service.status', '{"unit": "ssh.service"}')->>'state'
       AS operator_status;
ROLLBACK;
BEGIN;
SELECT test.as('viewer');
SELECT test.try(format('SELECT nexplane.agent_command_create(%L, %L)', :'a1', 'facts.collect'))
       AS viewer_queues;
ROLLBACK;

-- ---------- queue, poll, report ----------
BEGIN;
SELECT test.as('admin');
CREATE TEMP TABLE cmd AS
SELECT name, nexplane.agent_command_create(a, c, p::jsonb, w::interval) AS c
  FROM (VALUES ('lock', :'a1'::uuid, 'user.lock', '{"user": "alice"}', NULL),
               ('facts', :'a1', 'facts.collect', '{}', NULL),
               ('key', :'a1', 'ssh.authorized_key.add',
                '{"user": "alice", "key": "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl alice@laptop"}', NULL),
               ('motd', :'a1', 'file.write',
                '{"path": "/etc/motd", "content": "aGVsbG8K", "expected_sha256": "absent", "mode": "0644"}',
                '30 seconds'),
               ('unlock', :'a1', 'user.unlock', '{"user": "bob"}', '10 seconds'),
               ('other', :'a2', 'facts.collect', '{}', NULL)) v(name, a, c, p, w);
COMMIT;
GRANT SELECT ON cmd TO PUBLIC;
SELECT name, c->>'state' AS state, c->>'command' AS command, c->'timeout_s' AS timeout_s,
       c->'confirm_within_s' AS confirm_within_s,
       (SELECT array_agg(k ORDER BY k) FROM jsonb_object_keys(c) k) = (SELECT array_agg(k ORDER BY k)
           FROM unnest(ARRAY['id', 'agent_id', 'command', 'params', 'timeout_s', 'confirm_within_s',
                             'state', 'progress', 'result', 'error', 'change_request_id',
                             'created_by', 'created_at', 'sent_at', 'applied_at', 'finished_at']) k)
       AS fields
  FROM cmd ORDER BY name;
SET ROLE nexplane_api;
-- the first poll sends agent 1's five commands, as the agent receives them
SELECT jsonb_array_length(p->'commands') AS sent, p->'confirm' AS confirm,
       (SELECT c - 'id' FROM jsonb_array_elements(p->'commands') c
         WHERE c->>'command' = 'file.write') AS file_write,
       (SELECT array_agg(k ORDER BY k) FROM jsonb_object_keys(p->'commands'->0) k) AS fields
  FROM (SELECT nexplane.agent_poll(:'fp1') AS p) x;
-- sent but not reported: sent again
SELECT jsonb_array_length(nexplane.agent_poll(:'fp1')->'commands') AS sent_again;
RESET ROLE;
SELECT name, state, sent_at IS NOT NULL AS sent FROM nexplane.agent_commands a JOIN cmd
    ON a.id = (cmd.c->>'id')::uuid ORDER BY name;
SET ROLE nexplane_api;
-- reports: the refusals change nothing
SELECT what, test.try(format('SELECT nexplane.agent_result(%L, %L, %L)', f, (SELECT c->>'id' FROM cmd WHERE name = n), r))
  FROM (VALUES
    ('unknown state', :'fp1', 'lock', '{"state": "done"}'),
    ('no state', :'fp1', 'lock', '{}'),
    ('unknown field', :'fp1', 'lock', '{"state": "succeeded", "output": {}, "stdout": "x"}'),
    ('field of another state', :'fp1', 'lock', '{"state": "running", "error": "x"}'),
    ('output not an object', :'fp1', 'lock', '{"state": "succeeded", "output": "x"}'),
    ('progress out of range', :'fp1', 'lock', '{"state": "running", "progress": 101}'),
    ('confirmed before applied', :'fp1', 'lock', '{"state": "confirmed"}'),
    ('reverted before applied', :'fp1', 'lock', '{"state": "reverted", "error": "x"}'),
    ('another agent''s command', :'fp2', 'lock', '{"state": "succeeded", "output": {}}'),
    ('a command never sent', :'fp2', 'other', '{"state": "succeeded", "output": {}}'),
    ('an unknown command', :'fp1', NULL, '{"state": "succeeded", "output": {}}')) v(what, f, n, r);
SELECT test.try(format('SELECT nexplane.agent_result(%L, %L, %L)', :'fp1', '00000000-0000-0000-0000-0000000000aa',
                       '{"state": "succeeded", "output": {}}')) AS unknown_command_id,
       test.try(format('SELECT nexplane.agent_result(%L, %L, %L)', :'fp1', (SELECT c->>'id' FROM cmd WHERE name = 'lock'),
                       jsonb_build_object('state', 'succeeded', 'output', jsonb_build_object('x', repeat('x', 70000))))) AS over_64k,
       test.try(format('SELECT nexplane.agent_result(%L, %L, %L)', :'fp1', (SELECT c->>'id' FROM cmd WHERE name = 'lock'),
                       jsonb_build_object('state', 'succeeded', 'output', jsonb_build_object('x', repeat('x', 40000))))) AS output_over_32k,
       test.try(format('SELECT nexplane.agent_result(%L, %L, %L)', :'fp1', (SELECT c->>'id' FROM cmd WHERE name = 'lock'),
                       '"succeeded"')) AS scalar_report;
RESET ROLE;
SELECT state, result, error FROM nexplane.agent_commands WHERE id = (SELECT (c->>'id')::uuid FROM cmd WHERE name = 'lock');
SET ROLE nexplane_api;
-- running, then succeeded; after that, nothing more
SELECT nexplane.agent_result(:'fp1', (SELECT (c->>'id')::uuid FROM cmd WHERE name = 'lock'),
                             '{"state": "running", "progress": 40}') AS running,
       nexplane.agent_result(:'fp1', (SELECT (c->>'id')::uuid FROM cmd WHERE name = 'lock'),
                             '{"state": "succeeded", "output": {"locked": true}}') AS succeeded;
SELECT test.try(format('SELECT nexplane.agent_result(%L, %L, %L)', :'fp1', (SELECT c->>'id' FROM cmd WHERE name = 'lock'), r))
       AS after_final
  FROM (VALUES ('{"state": "failed", "error": "x"}'), ('{"state": "running"}')) v(r);
-- failed and refused
SELECT nexplane.agent_result(:'fp1', (SELECT (c->>'id')::uuid FROM cmd WHERE name = 'key'),
                             '{"state": "failed", "error": "usermod exited with 6", "exit_code": 6}') AS failed,
       nexplane.agent_result(:'fp1', (SELECT (c->>'id')::uuid FROM cmd WHERE name = 'facts'),
                             '{"state": "refused", "error": "not in the allowlist"}') AS refused;
-- reported commands are not sent again; the dead-man ones are still out
SELECT jsonb_agg(c->>'command' ORDER BY c->>'command') AS resent
  FROM jsonb_array_elements(nexplane.agent_poll(:'fp1')->'commands') c;

-- ---------- dead-man: applied, then confirmed ----------
SELECT nexplane.agent_result(:'fp1', (SELECT (c->>'id')::uuid FROM cmd WHERE name = 'motd'),
         '{"state": "applied", "check": {"ok": true, "what": "file written, sha256 matches"},
           "revert_at": "2030-01-01T00:00:00Z",
           "output": {"previous_content": null, "sha256": "5891b5b522d5df086d0ff0b110fbd9d21bb4fc7163af34d08286a2e846f6be03"}}') AS applied,
       nexplane.agent_result(:'fp1', (SELECT (c->>'id')::uuid FROM cmd WHERE name = 'unlock'),
         '{"state": "applied", "check": {"ok": false, "what": "the account is still locked"}}') AS applied_check_failed;
-- the agent cannot confirm itself before the control plane does
SELECT test.try(format('SELECT nexplane.agent_result(%L, %L, %L)', :'fp1', (SELECT c->>'id' FROM cmd WHERE name = 'motd'),
                       '{"state": "confirmed"}')) AS self_confirmed;
-- the next poll (the agent still reaches us) confirms the one whose check passed
SELECT p->'commands' AS commands, p->'confirm' = jsonb_build_array(cmd.c->'id') AS confirms_motd
  FROM (SELECT nexplane.agent_poll(:'fp1') AS p) x, cmd WHERE cmd.name = 'motd';
-- again until the agent says it has it
SELECT jsonb_array_length(nexplane.agent_poll(:'fp1')->'confirm') AS confirmed_again;
SELECT nexplane.agent_result(:'fp1', (SELECT (c->>'id')::uuid FROM cmd WHERE name = 'motd'),
                             '{"state": "confirmed"}') AS confirmed;
SELECT nexplane.agent_poll(:'fp1')->'confirm' AS no_more_confirm;
-- the one never confirmed: the agent reverts it and says so
SELECT nexplane.agent_result(:'fp1', (SELECT (c->>'id')::uuid FROM cmd WHERE name = 'unlock'),
                             '{"state": "reverted", "error": "no confirmation within 10 s"}') AS reverted;
RESET ROLE;

-- ---------- reading them back ----------
BEGIN;
SELECT test.as('viewer');
SELECT name, r->>'state' AS state, r->'result' AS result, r->>'error' AS error,
       r->>'finished_at' IS NOT NULL AS finished
  FROM cmd, LATERAL (SELECT nexplane.agent_command_get((cmd.c->>'id')::uuid) AS r) x ORDER BY name;
SELECT (SELECT count(*) FROM jsonb_array_elements(nexplane.agent_command_list()) x
         WHERE x->>'id' IN (SELECT c->>'id' FROM cmd)) AS all_commands,
       jsonb_array_length(nexplane.agent_command_list(:'a2')) AS agent_2,
       jsonb_array_length(nexplane.agent_command_list(NULL, 'confirmed')) AS confirmed,
       test.try($$SELECT nexplane.agent_command_list(NULL, 'lost')$$) AS unknown_state,
       test.try($$SELECT nexplane.agent_command_get('00000000-0000-0000-0000-0000000000aa')$$) AS unknown_id;
ROLLBACK;
-- another tenant sees none of it
SET ROLE nexplane_api;
SELECT nexplane.login('admin@globex.test', 'globex-admin-pass-1') IS NOT NULL AS globex_admin;
SELECT (SELECT count(*) FROM jsonb_array_elements(nexplane.agent_command_list()) x
         WHERE x->>'id' IN (SELECT c->>'id' FROM cmd)) AS globex_sees_acme_commands,
       test.try(format('SELECT nexplane.agent_command_get(%L)', (SELECT c->>'id' FROM cmd WHERE name = 'lock')))
       AS globex_get,
       test.try(format('SELECT nexplane.agent_command_create(%L, %L)', :'a1', 'facts.collect'))
       AS globex_queues_for_acme_agent;
SELECT nexplane.logout() IS NOT NULL AS out;
RESET ROLE;

-- ---------- revoking an agent cancels what it has not yet taken ----------
BEGIN;
SELECT test.as('admin');
SELECT nexplane.agent_command_create(:'a2', 'facts.collect')->>'state' AS queued;
SELECT nexplane.agent_revoke(:'a2')->>'status' AS revoked;
SELECT test.try(format('SELECT nexplane.agent_command_create(%L, %L)', :'a2', 'facts.collect'))
       AS queue_for_revoked;
COMMIT;
SELECT state, count(*), min(error) FROM nexplane.agent_commands WHERE agent_id = :'a2' GROUP BY 1;

-- ---------- the tables hold the invariants too ----------
SELECT test.try(format($$UPDATE nexplane.agent_commands SET state = 'queued', finished_at = NULL
                         WHERE id = %L$$, (SELECT c->>'id' FROM cmd WHERE name = 'lock'))) AS reopen_finished,
       test.try(format($$UPDATE nexplane.agents SET status = 'online', revoked_at = NULL
                         WHERE id = %L$$, :'a2')) AS unrevoke;

-- ---------- retention ----------
UPDATE nexplane.agent_commands SET finished_at = now() - interval '40 days'
 WHERE id = (SELECT (c->>'id')::uuid FROM cmd WHERE name = 'lock');
SELECT nexplane._agent_commands_prune() AS pruned;
SELECT count(*) AS evidence_of_it_in_audit FROM nexplane.audit_events
 WHERE target_table = 'agent_commands' AND target_id = (SELECT c->>'id' FROM cmd WHERE name = 'lock');
