-- The audit trail.  audit_events is written by C code only (audit.c), one
-- row per change, and never updated; audit_chain links the events of each
-- tenant into a SHA-256 hash chain, filled in by the sealer
-- (api/75_audit_seal.sql) after the events have committed.
--
-- audit_events is written on every change, so it is kept cheap to insert
-- into: one index, the primary key, neither partial nor on an expression
-- (audit.c inserts into it directly); no index on time (the sealer keeps
-- audit_time_ranges instead, off the writers' path); no foreign key to tenants
-- (its check would take a key-share lock on the tenant row for every
-- event, making one tenant's writers contend; tenants are never deleted);
-- no CHECK constraints.  Only C code writes here, from fixed sets of
-- values; the MAC marks what it wrote and the hash chain covers it.

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
    -- HMAC-SHA256 of every column above under the tenant's audit key
    -- (audit_mac.c): NULL or wrong for an event audit.c did not write
    mac          bytea,
    PRIMARY KEY (tenant_id, id)
);
-- The audit space worker (bgworkers/audit_space.c) keeps empty pages at the
-- end for writers to fill; VACUUM is not to cut them off again.
ALTER TABLE nexplane.audit_events SET (vacuum_truncate = false);
ALTER TABLE nexplane.audit_events ENABLE ROW LEVEL SECURITY;
ALTER TABLE nexplane.audit_events FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON nexplane.audit_events
    USING (tenant_id = nexplane.current_tenant_id() OR nexplane.system_access())
    WITH CHECK (tenant_id = nexplane.current_tenant_id() OR nexplane.system_access());

-- One link per sealed event: hash = sha256(prev_hash || the event's
-- content and chain_seq).  An event is chained once.
CREATE TABLE nexplane.audit_chain (
    tenant_id  uuid NOT NULL,
    chain_seq  bigint NOT NULL CHECK (chain_seq > 0),
    event_id   bigint NOT NULL,
    prev_hash  bytea NOT NULL CHECK (length(prev_hash) = 32),
    hash       bytea NOT NULL CHECK (length(hash) = 32),
    PRIMARY KEY (tenant_id, chain_seq),
    UNIQUE (tenant_id, event_id)
);
ALTER TABLE nexplane.audit_chain ENABLE ROW LEVEL SECURITY;
ALTER TABLE nexplane.audit_chain FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON nexplane.audit_chain
    USING (tenant_id = nexplane.current_tenant_id() OR nexplane.system_access())
    WITH CHECK (tenant_id = nexplane.current_tenant_id() OR nexplane.system_access());

-- Per tenant: the sealed end of the chain, so removing the newest events
-- is noticed too, and where the sealer resumes.  Every event of the tenant
-- with an id below scan_from is chained.  pending_upto is the next
-- scan_from in waiting: the last event id handed out, read just before
-- pending_horizon, the next transaction id to be assigned, was read.
-- audit.c gives a writer its transaction id before its event id, so once
-- every transaction below the horizon has ended, every event up to
-- pending_upto has committed or never will.
CREATE TABLE nexplane.audit_chain_heads (
    tenant_id        uuid PRIMARY KEY REFERENCES nexplane.tenants (id),
    last_seq         bigint NOT NULL CHECK (last_seq >= 0),
    last_hash        bytea NOT NULL CHECK (length(last_hash) = 32),
    scan_from        bigint NOT NULL DEFAULT 0,
    pending_upto     bigint,
    pending_horizon  xid8,
    sealed_at        timestamptz NOT NULL DEFAULT now()
);
ALTER TABLE nexplane.audit_chain_heads ENABLE ROW LEVEL SECURITY;
ALTER TABLE nexplane.audit_chain_heads FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON nexplane.audit_chain_heads
    USING (tenant_id = nexplane.current_tenant_id() OR nexplane.system_access())
    WITH CHECK (tenant_id = nexplane.current_tenant_id() OR nexplane.system_access());

-- Where in id order the events of a time range are, kept by the sealer so
-- that writers pay nothing for a time index: one row per sealing run that
-- chained events, covering their ids and times (small runs are merged into
-- one row of up to 10,000 events, so a time range reads at most about
-- that many events past each of its ends).  Every event below the
-- tenant's scan_from is chained, so it lies in the id span of some row;
-- audit_query() looks for a time range in the spans of the rows whose
-- times overlap it, and among the events from scan_from on.  Derived data, not evidence: the
-- events and the chain are what audit_verify() checks.
CREATE TABLE nexplane.audit_time_ranges (
    tenant_id  uuid NOT NULL,
    first_id   bigint NOT NULL,
    last_id    bigint NOT NULL CHECK (last_id >= first_id),
    first_at   timestamptz NOT NULL,
    last_at    timestamptz NOT NULL CHECK (last_at >= first_at),
    events     integer NOT NULL CHECK (events > 0),
    PRIMARY KEY (tenant_id, first_id)
);
CREATE INDEX audit_time_ranges_at_idx ON nexplane.audit_time_ranges (tenant_id, last_at);
ALTER TABLE nexplane.audit_time_ranges ENABLE ROW LEVEL SECURITY;
ALTER TABLE nexplane.audit_time_ranges FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON nexplane.audit_time_ranges
    USING (tenant_id = nexplane.current_tenant_id() OR nexplane.system_access())
    WITH CHECK (tenant_id = nexplane.current_tenant_id() OR nexplane.system_access());

-- Per tenant: the random key behind its events' MACs and audit_query's
-- cursors (audit_mac.c), made with the tenant's first event and wrapped
-- (AES-256-GCM) under a key derived from the master key, which SQL never
-- sees.  rotate_master_key() re-wraps it; the key itself never changes,
-- so events keep verifying.  Not audited (the trail's own machinery);
-- never deleted.
CREATE TABLE nexplane.audit_keys (
    tenant_id     uuid PRIMARY KEY REFERENCES nexplane.tenants (id),
    wrapped_key   bytea NOT NULL CHECK (length(wrapped_key) = 60),
    master_key_id text NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now()
);
ALTER TABLE nexplane.audit_keys ENABLE ROW LEVEL SECURITY;
ALTER TABLE nexplane.audit_keys FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON nexplane.audit_keys
    USING (tenant_id = nexplane.current_tenant_id() OR nexplane.system_access())
    WITH CHECK (tenant_id = nexplane.current_tenant_id() OR nexplane.system_access());
