-- login(): passwords, uniform failures, lock-out, tenants sharing an email,
-- and the platform operations that cross tenants.
SET ROLE nexplane_api;

-- A good login answers with both tokens and who you are.
SELECT jsonb_object_keys(nexplane.login('admin@acme.test', 'acme-admin-pass-1')) AS key
 ORDER BY 1;
SELECT nexplane.current_role(), nexplane.me()->'tenant'->>'slug' AS tenant,
       nexplane.me()->>'auth' AS auth;
-- Email is matched without regard to case.
SELECT nexplane.login('ADMIN@Acme.Test', 'acme-admin-pass-1')->'user'->>'email' AS email;

-- Wrong password and unknown email give the same error.
SELECT test.try($$SELECT nexplane.login('admin@acme.test', 'wrong-password-1')$$);
SELECT test.try($$SELECT nexplane.login('nobody@acme.test', 'wrong-password-1')$$);
SELECT nexplane.current_role() AS earlier_login_still_in_force;

-- Bad input: missing, oversized.
SELECT test.try($$SELECT nexplane.login(NULL, 'x')$$);
SELECT test.try($$SELECT nexplane.login('admin@acme.test', NULL)$$);
SELECT test.try(format('SELECT nexplane.login(%L, %L)', repeat('a', 400) || '@acme.test', 'x'));
SELECT test.try(format('SELECT nexplane.login(%L, %L)', 'admin@acme.test', repeat('p', 2000)));
SELECT test.try($$SELECT nexplane.login('admin@acme.test', 'acme-admin-pass-1', 'no-such-tenant')$$);

-- Lock-out: five failures lock the account, even for the right password;
-- an unknown email locks the same way, so a lock reveals nothing.
SELECT nexplane.login('admin@acme.test', 'acme-admin-pass-1') IS NOT NULL AS admin;
SELECT nexplane.user_create('locky@acme.test', 'locky-password-1', 'viewer')->>'email';
SELECT test.try($$SELECT nexplane.login('locky@acme.test', 'bad-password-x')$$)
  FROM generate_series(1, 5);
SELECT test.try($$SELECT nexplane.login('locky@acme.test', 'locky-password-1')$$) AS locked;
SELECT test.try($$SELECT nexplane.login('ghost@acme.test', 'bad-password-x')$$)
  FROM generate_series(1, 5);
SELECT test.try($$SELECT nexplane.login('ghost@acme.test', 'bad-password-x')$$) AS ghost_locked;

-- One email in two tenants: the password decides; when both match, the
-- tenant must be named.
SELECT nexplane.login('admin@acme.test', 'acme-admin-pass-1') IS NOT NULL AS acme_admin;
SELECT nexplane.user_create('twin@example.test', 'twin-password-1', 'operator')->>'role';
SELECT nexplane.login('admin@globex.test', 'globex-admin-pass-1') IS NOT NULL AS globex_admin;
SELECT nexplane.user_create('twin@example.test', 'twin-password-2', 'viewer')->>'role';
SELECT nexplane.login('twin@example.test', 'twin-password-1')->'tenant'->>'slug' AS by_password;
SELECT nexplane.login('twin@example.test', 'twin-password-2')->'tenant'->>'slug' AS by_password;
SELECT nexplane.login('admin@globex.test', 'globex-admin-pass-1') IS NOT NULL AS globex_admin;
SELECT nexplane.user_create('same@example.test', 'same-password-1', 'viewer')->>'role';
SELECT nexplane.login('admin@acme.test', 'acme-admin-pass-1') IS NOT NULL AS acme_admin;
SELECT nexplane.user_create('same@example.test', 'same-password-1', 'viewer')->>'role';
SELECT test.try($$SELECT nexplane.login('same@example.test', 'same-password-1')$$);
SELECT nexplane.login('same@example.test', 'same-password-1', 'globex')->'tenant'->>'slug';

-- Tenants: only a PostgreSQL superuser or a platform superadmin.
SELECT nexplane.login('admin@acme.test', 'acme-admin-pass-1') IS NOT NULL AS acme_admin;
SELECT test.try($$SELECT nexplane.tenant_create('evil', 'Evil', 'e@evil.test', 'evil-password-1')$$);
SELECT nexplane.logout() IS NOT NULL AS out;
SELECT test.try($$SELECT nexplane.tenant_create('evil', 'Evil', 'e@evil.test', 'evil-password-1')$$);
SELECT test.try($$SELECT nexplane.superadmin_grant('acme', 'admin@acme.test')$$);
RESET ROLE;
SELECT test.try($$SELECT nexplane.tenant_create('Bad Slug', 'x', 'a@b.test', 'long-enough-pass')$$);
SELECT test.try($$SELECT nexplane.tenant_create('acme', 'Again', 'a@b.test', 'long-enough-pass')$$);
SELECT test.try($$SELECT nexplane.tenant_create('initech', 'Initech', 'not-an-email', 'long-enough-pass')$$);
SELECT test.try($$SELECT nexplane.tenant_create('initech', 'Initech', 'a@b.test', 'short')$$);
SELECT test.try($$SELECT nexplane.tenant_create('initech', '', 'a@b.test', 'long-enough-pass')$$);
SELECT test.try($$SELECT nexplane.tenant_create(NULL, 'x', 'a@b.test', 'long-enough-pass')$$);

-- A superadmin acts inside another tenant explicitly, and both tenants'
-- audit trails say so.
SET ROLE nexplane_api;
SELECT nexplane.login('admin@acme.test', 'acme-admin-pass-1') IS NOT NULL AS acme_admin;
SELECT nexplane.user_create('root@acme.test', 'platform-root-pass-1', 'admin')->>'role';
RESET ROLE;
SELECT nexplane.superadmin_grant('acme', 'root@acme.test')->>'role' AS granted;
SELECT test.try($$SELECT nexplane.superadmin_grant('acme', 'nobody@acme.test')$$);
SET ROLE nexplane_api;
SELECT nexplane.login('root@acme.test', 'platform-root-pass-1')->'user'->>'role' AS role;
SELECT (nexplane.act_as_tenant(t.id))->>'slug' AS acting_in
  FROM (SELECT (nexplane.tenant_create('initech', 'Initech', 'admin@initech.test',
                                       'initech-admin-pass-1')->'tenant'->>'id')::uuid AS id) t;
SELECT nexplane.me()->'tenant'->>'slug' AS tenant, nexplane.me()->'acting_as_tenant' AS acting;
SELECT jsonb_path_query(nexplane.user_list(), '$[*].email') AS initech_users;
SELECT test.try($$SELECT nexplane.act_as_tenant('00000000-0000-0000-0000-000000000000')$$);
SELECT nexplane.logout() IS NOT NULL AS out;
RESET ROLE;
-- ... and logging out there ends the session, which lives in the home tenant.
SELECT s.revoked_at IS NOT NULL AS root_session_ended
  FROM nexplane.sessions s JOIN nexplane.users u ON u.tenant_id = s.tenant_id AND u.id = s.user_id
 WHERE u.email = 'root@acme.test';
SELECT t.slug, a.action, a.actor_kind FROM nexplane.audit_events a
  JOIN nexplane.tenants t ON t.id = a.tenant_id
 WHERE a.action !~ '^[a-z_]+\.(insert|update|delete)$' AND t.slug IN ('acme', 'globex', 'initech')
   AND a.action LIKE ANY (ARRAY['tenant.%', 'superadmin.%'])
 ORDER BY a.id;
