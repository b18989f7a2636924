-- Credentials: admins write them, everyone in the tenant reads metadata,
-- and no SQL function ever returns a secret.

CREATE FUNCTION nexplane.credential_create(name text, provider text, secret jsonb DEFAULT NULL,
                                           external_ref text DEFAULT NULL) RETURNS jsonb
    AS 'MODULE_PATHNAME', 'nx_credential_create' LANGUAGE C VOLATILE
    SECURITY DEFINER SET search_path = pg_catalog, pg_temp;
CREATE FUNCTION nexplane.credential_rotate(id uuid, secret jsonb) RETURNS jsonb
    AS 'MODULE_PATHNAME', 'nx_credential_rotate' LANGUAGE C VOLATILE
    SECURITY DEFINER SET search_path = pg_catalog, pg_temp;
CREATE FUNCTION nexplane.rotate_tenant_key(batch_size integer DEFAULT 500) RETURNS jsonb
    AS 'MODULE_PATHNAME', 'nx_rotate_tenant_key' LANGUAGE C VOLATILE
    SECURITY DEFINER SET search_path = pg_catalog, pg_temp;
CREATE FUNCTION nexplane.rotate_master_key(batch_size integer DEFAULT 500) RETURNS jsonb
    AS 'MODULE_PATHNAME', 'nx_rotate_master_key' LANGUAGE C VOLATILE
    SECURITY DEFINER SET search_path = pg_catalog, pg_temp;

CREATE FUNCTION nexplane._credential_json(c nexplane.credentials) RETURNS jsonb
    LANGUAGE sql IMMUTABLE SET search_path = pg_catalog, pg_temp AS $$
    SELECT jsonb_build_object('id', c.id, 'name', c.name, 'provider', c.provider,
        'mode', c.mode, 'external_ref', c.external_ref, 'key_version', c.key_version,
        'created_at', c.created_at, 'rotated_at', c.rotated_at,
        'last_validated_at', c.last_validated_at, 'health', c.health,
        'health_detail', c.health_detail)
$$;

CREATE FUNCTION nexplane.credential_get(id uuid) RETURNS jsonb
    LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
#variable_conflict use_variable
DECLARE
    c nexplane.credentials;
BEGIN
    PERFORM nexplane._require_auth();
    PERFORM nexplane._require_id(id);
    SELECT * INTO c FROM nexplane.credentials x
     WHERE x.tenant_id = nexplane.current_tenant_id() AND x.id = id;
    IF NOT FOUND THEN
        PERFORM nexplane._raise('NX404', format('credential %s not found', id));
    END IF;
    RETURN nexplane._credential_json(c);
END
$$;

CREATE FUNCTION nexplane.credential_list() RETURNS jsonb
    LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
    SELECT nexplane._require_auth();
    SELECT coalesce(jsonb_agg(nexplane._credential_json(c) ORDER BY c.name), '[]')
      FROM nexplane.credentials c WHERE c.tenant_id = nexplane.current_tenant_id();
$$;

CREATE FUNCTION nexplane.credential_delete(id uuid) RETURNS jsonb
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
#variable_conflict use_variable
DECLARE
    c nexplane.credentials;
BEGIN
    PERFORM nexplane._require_role('admin');
    PERFORM nexplane._require_id(id);
    SELECT * INTO c FROM nexplane.credentials x
     WHERE x.tenant_id = nexplane.current_tenant_id() AND x.id = id FOR UPDATE;
    IF NOT FOUND THEN
        PERFORM nexplane._raise('NX404', format('credential %s not found', id));
    END IF;
    IF EXISTS (SELECT 1 FROM nexplane.connectors n
                WHERE n.tenant_id = c.tenant_id AND n.credential_id = c.id) THEN
        PERFORM nexplane._raise('NX409', 'this credential is used by a connector',
            NULL, 'Point the connector at another credential first.');
    END IF;
    DELETE FROM nexplane.credentials x WHERE x.tenant_id = c.tenant_id AND x.id = c.id;
    RETURN nexplane._credential_json(c) || '{"deleted": true}';
END
$$;
