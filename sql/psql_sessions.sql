-- Break-in: a psql login session outlives what should end it.  Each
-- attack below was possible before: the session kept its context and its
-- old role.  Now the context is checked again in every transaction.
SELECT id AS acme FROM nexplane.tenants WHERE slug = 'acme' \gset
SET ROLE nexplane_api;
SELECT nexplane.login('admin@acme.test', 'acme-admin-pass-1') IS NOT NULL AS admin;
SELECT count(nexplane.user_create(e, 'psql-session-pass-1', 'approver'))
  FROM (VALUES ('disabled@acme.test'), ('revoked@acme.test'),
               ('idle@acme.test'), ('old@acme.test'), ('pooled@acme.test')) v(e);
SELECT nexplane.user_create('demoted@acme.test', 'psql-session-pass-1', 'admin')->>'role' AS role;
SELECT nexplane.logout() IS NOT NULL AS out;

-- Demoted while logged in: the next transaction acts with the new role.
SELECT nexplane.login('demoted@acme.test', 'psql-session-pass-1')->'user'->>'role' AS role_at_login;
RESET ROLE;
UPDATE nexplane.users SET role = 'viewer' WHERE tenant_id = :'acme' AND email = 'demoted@acme.test';
SET ROLE nexplane_api;
SELECT nexplane.current_role() AS role_now;
SELECT test.try($$SELECT nexplane.user_create('x@acme.test', 'long-enough-pass', 'admin')$$) AS admin_work;
SELECT nexplane.logout() IS NOT NULL AS out;

-- Disabled while logged in: the context is gone, RLS shows nothing.
SELECT nexplane.login('disabled@acme.test', 'psql-session-pass-1') IS NOT NULL AS logged_in;
RESET ROLE;
UPDATE nexplane.users SET status = 'disabled' WHERE tenant_id = :'acme' AND email = 'disabled@acme.test';
SET ROLE nexplane_api;
SELECT nexplane.current_tenant_id() IS NULL AS no_tenant, nexplane.current_role() IS NULL AS no_role;
SELECT test.try($$SELECT nexplane.me()$$) AS me;
SELECT count(*) AS users_seen FROM nexplane.user_list() u;

-- Its session revoked elsewhere (logout in another client, disable, reuse).
SELECT nexplane.login('revoked@acme.test', 'psql-session-pass-1') IS NOT NULL AS logged_in;
RESET ROLE;
UPDATE nexplane.sessions s SET revoked_at = now()
  FROM nexplane.users u
 WHERE u.tenant_id = s.tenant_id AND u.id = s.user_id AND u.email = 'revoked@acme.test';
SET ROLE nexplane_api;
SELECT test.try($$SELECT nexplane.me()$$) AS me;

-- Idle too long.
RESET ROLE;
SET nexplane.session_idle_timeout = 2;
SET ROLE nexplane_api;
SELECT nexplane.login('idle@acme.test', 'psql-session-pass-1') IS NOT NULL AS logged_in;
SELECT nexplane.current_role() AS still_in;
SELECT pg_sleep(2.5);
SELECT test.try($$SELECT nexplane.me()$$) AS me;
RESET ROLE;
RESET nexplane.session_idle_timeout;

-- Older than the absolute limit, however busy (the limit is lowered after
-- the login, so the login's own time does not count against it).
SET ROLE nexplane_api;
SELECT nexplane.login('old@acme.test', 'psql-session-pass-1') IS NOT NULL AS logged_in;
RESET ROLE;
SET nexplane.session_max_age = 1;
SET ROLE nexplane_api;
SELECT pg_sleep(1.2);
SELECT test.try($$SELECT nexplane.me()$$) AS me;
RESET ROLE;
RESET nexplane.session_max_age;

-- Behind a pooler: DISCARD ALL and RESET ALL leave nothing for the next client.
SET ROLE nexplane_api;
SELECT nexplane.login('pooled@acme.test', 'psql-session-pass-1') IS NOT NULL AS logged_in;
DISCARD ALL;
SELECT nexplane.current_tenant_id() IS NULL AS cleared_by_discard_all;
SET ROLE nexplane_api;
SELECT nexplane.login('pooled@acme.test', 'psql-session-pass-1') IS NOT NULL AS logged_in;
RESET ALL;
SELECT nexplane.current_tenant_id() IS NULL AS cleared_by_reset_all;

-- The roles cannot alter themselves (only a superuser may).
SET ROLE nexplane_api;
SELECT test.try($$ALTER ROLE nexplane_api PASSWORD 'taken-over'$$) AS own_password;
SELECT test.try($$ALTER ROLE CURRENT_USER SET statement_timeout = '1ms'$$) AS own_setting;
SELECT test.try($$ALTER ROLE nexplane_api SET default_transaction_read_only = on$$) AS read_only;
SELECT test.try($$ALTER ROLE nexplane_api RENAME TO gone$$) AS rename;
RESET ROLE;
SELECT rolconfig FROM pg_roles WHERE rolname = 'nexplane_api';
