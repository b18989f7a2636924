-- The audit trail.  Rows are appended by the audit trigger and by the
-- platform functions; chain_seq, prev_hash and hash form a per-tenant
-- SHA-256 chain filled in by the sealer.
--
-- Written on every change, so kept cheap to insert: no foreign key to
-- tenants (its check would take a key-share lock on the tenant row for
-- every event, making one tenant's writers contend; tenants are never
-- deleted), the chain index holds only sealed rows, time is a BRIN, and
-- there are no CHECK constraints: a direct insert (see audit_trigger.c)
-- would re-parse them for every event, some 12% of a single-row write.
-- Only C code writes here, from fixed sets of values; the hash chain
-- covers what was written.

CREATE TABLE nexplane.audit_events (
    tenant_id    uuid NOT NULL,
    id           bigint GENERATED ALWAYS AS IDENTITY,
    occurred_at  timestamptz NOT NULL DEFAULT clock_timestamp(),
    -- one of user, api_key, agent, worker, postgres, system
    actor_kind   text NOT NULL,
    actor_id     uuid,
    action       text NOT NULL,
    target_table text,
    target_id    text,
    before       jsonb,
    after        jsonb,
    request_id   text,
    trace_id     text,
    chain_seq    bigint,
    prev_hash    bytea,
    hash         bytea,
    PRIMARY KEY (tenant_id, id)
);
CREATE INDEX audit_events_time_idx ON nexplane.audit_events USING brin (occurred_at);
CREATE UNIQUE INDEX audit_events_chain_idx ON nexplane.audit_events (tenant_id, chain_seq)
    WHERE chain_seq IS NOT NULL;
ALTER TABLE nexplane.audit_events ENABLE ROW LEVEL SECURITY;
ALTER TABLE nexplane.audit_events FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON nexplane.audit_events
    USING (tenant_id = nexplane.current_tenant_id() OR nexplane.system_access())
    WITH CHECK (tenant_id = nexplane.current_tenant_id() OR nexplane.system_access());
CREATE INDEX audit_events_unsealed_idx ON nexplane.audit_events (tenant_id, id)
    WHERE chain_seq IS NULL;

-- The sealed end of each tenant's chain, so removing the newest events is
-- noticed too.
CREATE TABLE nexplane.audit_chain_heads (
    tenant_id  uuid PRIMARY KEY REFERENCES nexplane.tenants (id),
    last_seq   bigint NOT NULL CHECK (last_seq >= 0),
    last_hash  bytea NOT NULL CHECK (length(last_hash) = 32),
    sealed_at  timestamptz NOT NULL DEFAULT now()
);
ALTER TABLE nexplane.audit_chain_heads ENABLE ROW LEVEL SECURITY;
ALTER TABLE nexplane.audit_chain_heads FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON nexplane.audit_chain_heads
    USING (tenant_id = nexplane.current_tenant_id() OR nexplane.system_access())
    WITH CHECK (tenant_id = nexplane.current_tenant_id() OR nexplane.system_access());
