-- Audit capture: the C trigger on every mutable tenant table, and the
-- append-only guards on the trail's own tables.

CREATE FUNCTION nexplane._audit_trigger() RETURNS trigger
    AS 'MODULE_PATHNAME', 'nx_audit_trigger' LANGUAGE C;
CREATE FUNCTION nexplane._append_only() RETURNS trigger
    AS 'MODULE_PATHNAME', 'nx_append_only' LANGUAGE C;

-- Every tenant table is audited, except the audit trail's own tables and
-- derived data (the live feed's tables, whose sources are audited).
DO $$
DECLARE
    t regclass;
BEGIN
    FOR t IN SELECT c.oid::regclass FROM pg_class c
              WHERE c.relnamespace = 'nexplane'::regnamespace AND c.relkind = 'r'
                AND c.relname NOT IN ('audit_events', 'audit_chain', 'audit_chain_heads',
                                      'audit_time_ranges', 'change_request_events',
                                      'event_heads', 'stream_events')
    LOOP
        EXECUTE format('CREATE TRIGGER audit AFTER INSERT OR UPDATE OR DELETE ON %s'
                       ' FOR EACH ROW EXECUTE FUNCTION nexplane._audit_trigger()', t);
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
