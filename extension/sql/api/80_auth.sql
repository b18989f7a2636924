-- Authentication: the only functions that set the tenant context.

-- client_addr: the client's address, passed by the shim only; it keys the
-- lock-out with the email.  Without it, the connection's own peer is used.
CREATE FUNCTION nexplane.login(email text, password text, tenant text DEFAULT NULL,
                               session_scope boolean DEFAULT true,
                               client_addr text DEFAULT NULL) RETURNS jsonb
    AS 'MODULE_PATHNAME', 'nx_login' LANGUAGE C VOLATILE
    SECURITY DEFINER SET search_path = pg_catalog, pg_temp;
CREATE FUNCTION nexplane.authenticate(token text, request_id text DEFAULT NULL,
                                      trace_id text DEFAULT NULL) RETURNS jsonb
    AS 'MODULE_PATHNAME', 'nx_authenticate' LANGUAGE C VOLATILE
    SECURITY DEFINER SET search_path = pg_catalog, pg_temp;
CREATE FUNCTION nexplane.refresh(refresh_token text) RETURNS jsonb
    AS 'MODULE_PATHNAME', 'nx_refresh' LANGUAGE C VOLATILE
    SECURITY DEFINER SET search_path = pg_catalog, pg_temp;
CREATE FUNCTION nexplane.logout() RETURNS jsonb
    AS 'MODULE_PATHNAME', 'nx_logout' LANGUAGE C VOLATILE
    SECURITY DEFINER SET search_path = pg_catalog, pg_temp;
CREATE FUNCTION nexplane.me() RETURNS jsonb
    AS 'MODULE_PATHNAME', 'nx_me' LANGUAGE C STABLE
    SECURITY DEFINER SET search_path = pg_catalog, pg_temp;
CREATE FUNCTION nexplane.jwks() RETURNS jsonb
    AS 'MODULE_PATHNAME', 'nx_jwks' LANGUAGE C STABLE;

-- Platform operations that cross tenants.
CREATE FUNCTION nexplane.tenant_create(slug text, name text, admin_email text,
                                       admin_password text) RETURNS jsonb
    AS 'MODULE_PATHNAME', 'nx_tenant_create' LANGUAGE C VOLATILE
    SECURITY DEFINER SET search_path = pg_catalog, pg_temp;
CREATE FUNCTION nexplane.act_as_tenant(tenant_id uuid) RETURNS jsonb
    AS 'MODULE_PATHNAME', 'nx_act_as_tenant' LANGUAGE C VOLATILE
    SECURITY DEFINER SET search_path = pg_catalog, pg_temp;
CREATE FUNCTION nexplane.superadmin_grant(tenant_slug text, email text) RETURNS jsonb
    AS 'MODULE_PATHNAME', 'nx_superadmin_grant' LANGUAGE C VOLATILE
    SECURITY DEFINER SET search_path = pg_catalog, pg_temp;
