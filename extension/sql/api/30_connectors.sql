-- Connector types: the registry of connectors/registry.c, as data.

CREATE FUNCTION nexplane._connector_types() RETURNS jsonb
    AS 'MODULE_PATHNAME', 'nx_connector_types' LANGUAGE C IMMUTABLE;

-- connector_types(): every type, its config and credential fields and its
-- change types.  Any authenticated role may read it.
CREATE FUNCTION nexplane.connector_types() RETURNS jsonb
    LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    PERFORM nexplane._require_auth();
    RETURN nexplane._connector_types();
END
$$;
