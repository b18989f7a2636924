-- No setting moves a session into a tenant: the context is not a GUC.
SET ROLE nexplane_api;
SELECT nexplane.current_tenant_id(), nexplane.current_user_id(), nexplane.current_role();

-- The nexplane prefix is reserved: no new nexplane.* placeholder settings.
SELECT test.try($$SET nexplane.tenant_id = '00000000-0000-0000-0000-000000000001'$$);
SELECT test.try($$SELECT set_config('nexplane.current_tenant', 'x', false)$$);
SELECT test.try($$SET nexplane.jwt_private_key_file = '/tmp/evil.pem'$$);
-- The usual hole: an app.* setting that policies would trust.  Ours ignore it.
SELECT set_config('app.current_tenant', (SELECT '00000000-0000-0000-0000-000000000001'), false);
SELECT nexplane.current_tenant_id() IS NULL AS still_no_tenant;
SELECT test.try($$SELECT nexplane.user_list()$$);
RESET ROLE;

-- Superuser-only settings are hidden from nexplane_api.
SET ROLE nexplane_api;
SELECT test.try($$SHOW nexplane.jwt_private_key_file$$);
RESET ROLE;

-- Login in a transaction that aborts leaves no context behind.
BEGIN;
SELECT (nexplane.login('admin@acme.test', 'acme-admin-pass-1') ? 'access_token') AS logged_in;
SELECT nexplane.current_role();
ROLLBACK;
SELECT nexplane.current_tenant_id() IS NULL AS cleared_by_abort;

-- A context set inside a subtransaction that aborts is cleared too.
BEGIN;
SAVEPOINT s;
SELECT (nexplane.login('admin@acme.test', 'acme-admin-pass-1') ? 'access_token') AS logged_in;
ROLLBACK TO SAVEPOINT s;
SELECT nexplane.current_tenant_id() IS NULL AS cleared_by_subabort;
COMMIT;

-- A transaction-scoped login (what the shim asks for) ends at commit.
BEGIN;
SELECT (nexplane.login('admin@acme.test', 'acme-admin-pass-1', NULL, false) ? 'access_token') AS logged_in;
SELECT nexplane.current_role();
COMMIT;
SELECT nexplane.current_role() IS NULL AS cleared_by_commit;

-- A session-scoped login (psql) outlives its transaction.
SELECT (nexplane.login('admin@acme.test', 'acme-admin-pass-1') ? 'access_token') AS logged_in;
SELECT nexplane.current_role(), (nexplane.me()->'tenant'->>'slug') AS tenant;
SELECT nexplane.logout();
SELECT nexplane.current_role() IS NULL AS cleared_by_logout;
