-- Tenant, user and API key management.  Each function checks the caller's
-- role first; forced RLS then confines every statement to the caller's
-- tenant, so another tenant's id is simply "not found" (NX404).

CREATE FUNCTION nexplane._user_json(u nexplane.users) RETURNS jsonb
    LANGUAGE sql IMMUTABLE SET search_path = pg_catalog, pg_temp AS $$
    SELECT jsonb_build_object('id', u.id, 'email', u.email,
        'display_name', u.display_name, 'role', u.role, 'status', u.status,
        'last_login_at', u.last_login_at, 'created_at', u.created_at,
        'updated_at', u.updated_at)
$$;

CREATE FUNCTION nexplane._api_key_json(k nexplane.api_keys) RETURNS jsonb
    LANGUAGE sql IMMUTABLE SET search_path = pg_catalog, pg_temp AS $$
    SELECT jsonb_build_object('id', k.id, 'user_id', k.user_id, 'name', k.name,
        'key_prefix', k.key_prefix, 'scopes', to_jsonb(k.scopes),
        'expires_at', k.expires_at, 'revoked_at', k.revoked_at,
        'last_used_at', k.last_used_at, 'created_at', k.created_at)
$$;

-- NX422 unless an admin may give this role (the table is roles.c's).
CREATE FUNCTION nexplane._check_role_name(role text) RETURNS void
    AS 'MODULE_PATHNAME', 'nx_check_role_name' LANGUAGE C STABLE;

CREATE FUNCTION nexplane._require_id(id uuid) RETURNS void
    LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    IF id IS NULL THEN
        PERFORM nexplane._raise('NX400', 'id is required');
    END IF;
END
$$;

CREATE FUNCTION nexplane.tenant_get() RETURNS jsonb
    LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    result jsonb;
BEGIN
    PERFORM nexplane._require_auth();
    SELECT jsonb_build_object('id', t.id, 'slug', t.slug, 'name', t.name,
                              'status', t.status, 'created_at', t.created_at)
      INTO result
      FROM nexplane.tenants t WHERE t.id = nexplane.current_tenant_id();
    RETURN result;
END
$$;

CREATE FUNCTION nexplane.user_create(email text, password text, role text,
                                     display_name text DEFAULT NULL) RETURNS jsonb
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
#variable_conflict use_variable
DECLARE
    u nexplane.users;
BEGIN
    PERFORM nexplane._secret_guard();   -- first: no error may log the password
    PERFORM nexplane._require_role('admin');
    IF email IS NULL OR password IS NULL THEN
        PERFORM nexplane._raise('NX400', 'email and password are required');
    END IF;
    PERFORM nexplane._check_role_name(role);
    IF length(email) > 254
       OR email !~ '^[^@[:space:]<>"]+@[^@[:space:]<>"]+\.[^@[:space:]<>".]+$' THEN
        PERFORM nexplane._raise('NX422', 'invalid email address', NULL,
            'Use a plain address such as ops@example.com.');
    END IF;
    IF length(display_name) > 200 THEN
        PERFORM nexplane._raise('NX413', 'display_name is too long',
            'At most 200 characters are accepted.');
    END IF;
    BEGIN
        INSERT INTO nexplane.users AS x (tenant_id, email, password_hash, role, display_name)
        VALUES (nexplane.current_tenant_id(), email, nexplane._password_hash(password),
                role, display_name)
        RETURNING x.* INTO u;
    EXCEPTION WHEN unique_violation THEN
        PERFORM nexplane._raise('NX409', 'a user with this email already exists',
            NULL, 'Each email is used once per tenant.');
    END;
    RETURN nexplane._user_json(u);
END
$$;

CREATE FUNCTION nexplane.user_get(id uuid) RETURNS jsonb
    LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
#variable_conflict use_variable
DECLARE
    u nexplane.users;
BEGIN
    PERFORM nexplane._require_auth();
    PERFORM nexplane._require_id(id);
    SELECT * INTO u FROM nexplane.users x
     WHERE x.tenant_id = nexplane.current_tenant_id() AND x.id = id;
    IF NOT FOUND THEN
        PERFORM nexplane._raise('NX404', format('user %s not found', id));
    END IF;
    RETURN nexplane._user_json(u);
END
$$;

CREATE FUNCTION nexplane.user_list() RETURNS jsonb
    LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
    SELECT nexplane._require_auth();
    SELECT coalesce(jsonb_agg(nexplane._user_json(u) ORDER BY lower(u.email)), '[]')
      FROM nexplane.users u WHERE u.tenant_id = nexplane.current_tenant_id();
$$;

-- Another user of the caller's tenant, locked for an admin's change:
-- NX404 when there is none, NX409 when it is the caller (what_self says
-- what they may not do to themselves).
CREATE FUNCTION nexplane._other_user_for_update(id uuid, what_self text)
    RETURNS nexplane.users LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
#variable_conflict use_variable
DECLARE
    u nexplane.users;
BEGIN
    PERFORM nexplane._require_id(id);
    SELECT * INTO u FROM nexplane.users x
     WHERE x.tenant_id = nexplane.current_tenant_id() AND x.id = id FOR UPDATE;
    IF NOT FOUND THEN
        PERFORM nexplane._raise('NX404', format('user %s not found', id));
    END IF;
    IF u.id = nexplane.current_user_id() THEN
        PERFORM nexplane._raise('NX409', 'you cannot ' || what_self, NULL, 'Ask another admin.');
    END IF;
    RETURN u;
END
$$;

CREATE FUNCTION nexplane.user_set_role(id uuid, role text) RETURNS jsonb
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
#variable_conflict use_variable
DECLARE
    u nexplane.users;
BEGIN
    PERFORM nexplane._require_role('admin');
    PERFORM nexplane._require_id(id);
    PERFORM nexplane._check_role_name(role);
    u := nexplane._other_user_for_update(id, 'change your own role');
    IF u.role = 'superadmin' THEN
        PERFORM nexplane._raise('NX403', 'a superadmin''s role is managed by the platform');
    END IF;
    UPDATE nexplane.users x SET role = role, updated_at = now()
     WHERE x.tenant_id = u.tenant_id AND x.id = u.id
    RETURNING x.* INTO u;
    RETURN nexplane._user_json(u);
END
$$;

-- Disabling ends the user's sessions and revokes their keys at once.
CREATE FUNCTION nexplane.user_disable(id uuid) RETURNS jsonb
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
#variable_conflict use_variable
DECLARE
    u nexplane.users;
BEGIN
    PERFORM nexplane._require_role('admin');
    u := nexplane._other_user_for_update(id, 'disable yourself');
    UPDATE nexplane.users x SET status = 'disabled', updated_at = now()
     WHERE x.tenant_id = u.tenant_id AND x.id = u.id
    RETURNING x.* INTO u;
    UPDATE nexplane.sessions s SET revoked_at = now()
     WHERE s.tenant_id = u.tenant_id AND s.user_id = u.id AND s.revoked_at IS NULL;
    UPDATE nexplane.api_keys k SET revoked_at = now()
     WHERE k.tenant_id = u.tenant_id AND k.user_id = u.id AND k.revoked_at IS NULL;
    RETURN nexplane._user_json(u);
END
$$;

-- The key itself is in the answer once and never again.
-- A credential never makes one stronger than itself: a read key makes no
-- key; a write key (which may do all a read key may) makes keys that
-- expire no later than itself.  Every key expires, within a year; NULL means the default 90 days.
CREATE FUNCTION nexplane.api_key_create(name text, scopes text[] DEFAULT ARRAY['read'],
                                        expires_at timestamptz DEFAULT now() + interval '90 days')
    RETURNS jsonb
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
#variable_conflict use_variable
DECLARE
    k nexplane.api_keys;
    parent nexplane.api_keys;
    key text;
BEGIN
    PERFORM nexplane._require_auth();
    expires_at := coalesce(expires_at, now() + interval '90 days');
    IF name IS NULL OR length(name) NOT BETWEEN 1 AND 100 THEN
        PERFORM nexplane._raise('NX422', 'an API key needs a name of 1 to 100 characters');
    END IF;
    IF scopes IS NULL OR cardinality(scopes) = 0 OR array_position(scopes, NULL) IS NOT NULL
       OR NOT scopes <@ ARRAY['read', 'write'] THEN
        PERFORM nexplane._raise('NX422', 'invalid scopes',
            'Scopes are a non-empty list of "read" and "write".');
    END IF;
    IF expires_at IS NOT NULL
       AND (expires_at <= now() OR expires_at > now() + interval '1 year') THEN
        PERFORM nexplane._raise('NX422', 'expires_at must be in the future and within a year');
    END IF;
    IF nexplane._auth_kind() = 'api_key' THEN
        SELECT * INTO parent FROM nexplane.api_keys p
         WHERE p.tenant_id = nexplane.current_tenant_id() AND p.id = nexplane._auth_session_id();
        IF NOT 'write' = ANY (parent.scopes) THEN
            PERFORM nexplane._raise('NX403', 'a read-only API key cannot create API keys',
                'Creating keys needs a password login or a key with the write scope.');
        END IF;
        expires_at := least(expires_at, parent.expires_at);
    END IF;
    key := nexplane._random_token('nxp_');
    INSERT INTO nexplane.api_keys AS x (tenant_id, user_id, name, key_prefix, key_hash,
                                        scopes, expires_at)
    VALUES (nexplane.current_tenant_id(), nexplane.current_user_id(), name,
            left(key, 12), sha256(convert_to(key, 'UTF8')),
            ARRAY(SELECT DISTINCT s FROM unnest(scopes) s ORDER BY s), expires_at)
    RETURNING x.* INTO k;
    RETURN nexplane._api_key_json(k) || jsonb_build_object('key', key);
END
$$;

CREATE FUNCTION nexplane.api_key_list() RETURNS jsonb
    LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
    SELECT nexplane._require_auth();
    SELECT coalesce(jsonb_agg(nexplane._api_key_json(k) ORDER BY k.created_at, k.id), '[]')
      FROM nexplane.api_keys k
     WHERE k.tenant_id = nexplane.current_tenant_id()
       AND (k.user_id = nexplane.current_user_id()
            OR nexplane._role_in(nexplane.current_role(), 'admin'));
$$;

-- A user revokes their own keys; an admin any key of the tenant.
CREATE FUNCTION nexplane.api_key_revoke(id uuid) RETURNS jsonb
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
#variable_conflict use_variable
DECLARE
    k nexplane.api_keys;
BEGIN
    PERFORM nexplane._require_auth();
    PERFORM nexplane._require_id(id);
    SELECT * INTO k FROM nexplane.api_keys x
     WHERE x.tenant_id = nexplane.current_tenant_id() AND x.id = id
       AND (x.user_id = nexplane.current_user_id()
            OR nexplane._role_in(nexplane.current_role(), 'admin'))
       FOR UPDATE;
    IF NOT FOUND THEN
        PERFORM nexplane._raise('NX404', format('API key %s not found', id));
    END IF;
    IF k.revoked_at IS NOT NULL THEN
        PERFORM nexplane._raise('NX409', 'this API key is already revoked');
    END IF;
    UPDATE nexplane.api_keys x SET revoked_at = now()
     WHERE x.tenant_id = k.tenant_id AND x.id = k.id
    RETURNING x.* INTO k;
    RETURN nexplane._api_key_json(k);
END
$$;
