-- The live event feed behind GET /v1/events: one row per change-request
-- transition and per job state change, numbered per tenant in commit order,
-- so that a client resuming with Last-Event-ID misses nothing.
--
-- Why commit order holds: the number is taken from the tenant's row in
-- event_heads by a deferred trigger, that is at commit, as the last lock
-- the transaction takes (so it cannot deadlock with the row locks of the
-- transitions), and the row lock is held until the commit that makes the
-- event visible.  A later number therefore never becomes visible before an
-- earlier one.  The table is derived data: it is not audited (the source
-- rows are) and old rows may be pruned.

CREATE TABLE nexplane.event_heads (
    tenant_id uuid PRIMARY KEY REFERENCES nexplane.tenants (id),
    seq       bigint NOT NULL CHECK (seq > 0)
);
ALTER TABLE nexplane.event_heads ENABLE ROW LEVEL SECURITY;
ALTER TABLE nexplane.event_heads FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON nexplane.event_heads
    USING (tenant_id = nexplane.current_tenant_id() OR nexplane.system_access())
    WITH CHECK (tenant_id = nexplane.current_tenant_id() OR nexplane.system_access());

CREATE TABLE nexplane.stream_events (
    tenant_id         uuid NOT NULL REFERENCES nexplane.tenants (id),
    seq               bigint NOT NULL,
    kind              text NOT NULL CHECK (kind IN ('change_request', 'job')),
    subject_id        uuid NOT NULL,
    change_request_id uuid,
    action            text,
    from_state        text,
    to_state          text NOT NULL,
    actor_kind        text,
    actor_id          uuid,
    created_at        timestamptz NOT NULL DEFAULT now(),
    -- a job's progress (action 'progress', or with its state changes)
    progress_percent  smallint,
    progress_step     text,
    PRIMARY KEY (tenant_id, seq)
);
CREATE INDEX stream_events_created_idx ON nexplane.stream_events USING brin (created_at);
ALTER TABLE nexplane.stream_events ENABLE ROW LEVEL SECURITY;
ALTER TABLE nexplane.stream_events FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON nexplane.stream_events
    USING (tenant_id = nexplane.current_tenant_id() OR nexplane.system_access())
    WITH CHECK (tenant_id = nexplane.current_tenant_id() OR nexplane.system_access());

-- The trigger is C (stream_events.c): at commit a worker's system access and
-- the caller's context may be gone, so it appends with system access, for
-- the tenant of the row that fired it.
