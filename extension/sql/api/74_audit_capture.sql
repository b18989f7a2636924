-- Audit capture: the C trigger on every mutable tenant table, the
-- append-only guards on the trail's own tables, and the functions of the
-- per-tenant audit keys (audit_mac.c): an event's MAC checked (never
-- computed: SQL can only ask whether one holds) and audit_query's cursors.

CREATE FUNCTION nexplane._audit_trigger() RETURNS trigger
    AS 'MODULE_PATHNAME', 'nx_audit_trigger' LANGUAGE C;
CREATE FUNCTION nexplane._append_only() RETURNS trigger
    AS 'MODULE_PATHNAME', 'nx_append_only' LANGUAGE C;
CREATE FUNCTION nexplane._audit_mac_ok(e nexplane.audit_events) RETURNS boolean
    AS 'MODULE_PATHNAME', 'nx_audit_mac_ok' LANGUAGE C STABLE STRICT;
CREATE FUNCTION nexplane._audit_cursor(tenant uuid, id bigint) RETURNS text
    AS 'MODULE_PATHNAME', 'nx_audit_cursor' LANGUAGE C STABLE STRICT;
CREATE FUNCTION nexplane._audit_cursor_id(tenant uuid, cursor text) RETURNS bigint
    AS 'MODULE_PATHNAME', 'nx_audit_cursor_id' LANGUAGE C STABLE STRICT;

-- Every tenant table is audited, except the audit trail's own tables,
-- derived data (the live feed's tables, whose sources are audited) and the
-- job queue: its rows are work in progress (claims, leases, progress),
-- and what a job did is audited where it lands: the change request's
-- transitions, the evidence, the connector, assets and credentials it
-- touched (docs/jobs.md).  The agent CA is no tenant's: it is made once
-- and never changes (docs/agent.md).
DO $$
DECLARE
    t regclass;
BEGIN
    FOR t IN SELECT c.oid::regclass FROM pg_class c
              WHERE c.relnamespace = 'nexplane'::regnamespace AND c.relkind = 'r'
                AND c.relname NOT IN ('audit_events', 'audit_chain', 'audit_chain_heads',
                                      'audit_time_ranges', 'audit_keys', 'change_request_events',
                                      'event_heads', 'stream_events', 'stream_events_pending', 'jobs',
                                      'agent_ca')
    LOOP
        EXECUTE format('CREATE TRIGGER audit AFTER INSERT OR UPDATE OR DELETE ON %s'
                       ' FOR EACH ROW EXECUTE FUNCTION nexplane._audit_trigger()', t);
        -- fires in session_replication_role = replica too
        EXECUTE format('ALTER TABLE %s ENABLE ALWAYS TRIGGER audit', t);
    END LOOP;
END
$$;

-- Append-only, for the owner too.
CREATE TRIGGER append_only BEFORE UPDATE OR DELETE ON nexplane.audit_events
    FOR EACH ROW EXECUTE FUNCTION nexplane._append_only();
CREATE TRIGGER append_only_truncate BEFORE TRUNCATE ON nexplane.audit_events
    FOR EACH STATEMENT EXECUTE FUNCTION nexplane._append_only();
CREATE TRIGGER append_only BEFORE UPDATE OR DELETE ON nexplane.audit_chain
    FOR EACH ROW EXECUTE FUNCTION nexplane._append_only();
CREATE TRIGGER append_only_truncate BEFORE TRUNCATE ON nexplane.audit_chain
    FOR EACH STATEMENT EXECUTE FUNCTION nexplane._append_only();
CREATE TRIGGER append_only BEFORE UPDATE OR DELETE ON nexplane.change_request_events
    FOR EACH ROW EXECUTE FUNCTION nexplane._append_only();
CREATE TRIGGER append_only_truncate BEFORE TRUNCATE ON nexplane.change_request_events
    FOR EACH STATEMENT EXECUTE FUNCTION nexplane._append_only();

-- A chain's head only moves forward: never back, never away.
CREATE FUNCTION nexplane._audit_head_forward() RETURNS trigger
    LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    IF TG_OP = 'TRUNCATE' THEN
        PERFORM nexplane._raise('NX403', 'an audit chain head only moves forward',
            'The chain heads cannot be truncated.');
    END IF;
    IF TG_OP = 'DELETE' OR NEW.last_seq < OLD.last_seq
       OR (NEW.last_seq = OLD.last_seq AND NEW.last_hash <> OLD.last_hash)
       OR NEW.tenant_id <> OLD.tenant_id THEN
        PERFORM nexplane._raise('NX403', 'an audit chain head only moves forward',
            format('Chain head %s of tenant %s cannot be moved back or removed.',
                   OLD.last_seq, OLD.tenant_id));
    END IF;
    RETURN NEW;
END
$$;
CREATE TRIGGER head_forward BEFORE UPDATE OR DELETE ON nexplane.audit_chain_heads
    FOR EACH ROW EXECUTE FUNCTION nexplane._audit_head_forward();
CREATE TRIGGER head_forward_truncate BEFORE TRUNCATE ON nexplane.audit_chain_heads
    FOR EACH STATEMENT EXECUTE FUNCTION nexplane._audit_head_forward();

-- A tenant's audit key stays: its row is never deleted and only ever
-- re-wrapped (rotate_master_key), so no event loses the key of its MAC.
CREATE FUNCTION nexplane._audit_key_kept() RETURNS trigger
    LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    IF TG_OP = 'TRUNCATE' OR TG_OP = 'DELETE' OR NEW.tenant_id <> OLD.tenant_id THEN
        PERFORM nexplane._raise('NX403', 'an audit key is never removed',
            'The key of a tenant''s audit events is only ever re-wrapped by rotate_master_key().');
    END IF;
    RETURN NEW;
END
$$;
CREATE TRIGGER key_kept BEFORE UPDATE OR DELETE ON nexplane.audit_keys
    FOR EACH ROW EXECUTE FUNCTION nexplane._audit_key_kept();
CREATE TRIGGER key_kept_truncate BEFORE TRUNCATE ON nexplane.audit_keys
    FOR EACH STATEMENT EXECUTE FUNCTION nexplane._audit_key_kept();

-- The guards fire in session_replication_role = replica too, where
-- ordinary triggers do not: replica mode is no way around them.
ALTER TABLE nexplane.audit_events ENABLE ALWAYS TRIGGER append_only;
ALTER TABLE nexplane.audit_events ENABLE ALWAYS TRIGGER append_only_truncate;
ALTER TABLE nexplane.audit_chain ENABLE ALWAYS TRIGGER append_only;
ALTER TABLE nexplane.audit_chain ENABLE ALWAYS TRIGGER append_only_truncate;
ALTER TABLE nexplane.change_request_events ENABLE ALWAYS TRIGGER append_only;
ALTER TABLE nexplane.change_request_events ENABLE ALWAYS TRIGGER append_only_truncate;
ALTER TABLE nexplane.audit_chain_heads ENABLE ALWAYS TRIGGER head_forward;
ALTER TABLE nexplane.audit_chain_heads ENABLE ALWAYS TRIGGER head_forward_truncate;
ALTER TABLE nexplane.audit_keys ENABLE ALWAYS TRIGGER key_kept;
ALTER TABLE nexplane.audit_keys ENABLE ALWAYS TRIGGER key_kept_truncate;
