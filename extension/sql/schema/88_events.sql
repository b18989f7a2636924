-- The live event feed behind GET /v1/events: one row per change-request
-- transition and per job state change, numbered per tenant, so that a
-- client resuming with Last-Event-ID misses nothing.
--
-- Writers do not number their events: a deferred trigger appends each to
-- stream_events_pending at commit, without any lock, and wakes the event
-- sequencer (bgworkers/event_sequencer.c).  The sequencer, and any reader
-- that finds committed pending events of its tenant (events_since), number
-- them from the tenant's event_heads row, which they lock: one numbering
-- transaction at a time per tenant, each numbering every pending event it
-- can see, in the order of their pending ids, which are taken at commit.
-- So a number is visible only once every smaller number of the tenant is,
-- and numbers never change.  (Until 2026-12 every writer took its number
-- at commit under that row lock, which made a tenant's writers commit one
-- at a time, WAL flush included, and each writer's NOTIFY did the same for
-- the whole cluster: docs/api.md#live-events.)  The tables are derived
-- data: not audited (the source rows are); old rows may be pruned.

CREATE TABLE nexplane.event_heads (
    tenant_id uuid PRIMARY KEY REFERENCES nexplane.tenants (id),
    seq       bigint NOT NULL CHECK (seq >= 0)   -- the last number handed out
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

-- Events committed and not yet numbered.  No foreign key (its check would
-- be a statement per event on the writers' path): a row lives for
-- milliseconds, its tenant is the source row's, which has one.
CREATE TABLE nexplane.stream_events_pending (
    tenant_id         uuid NOT NULL,
    id                bigint GENERATED ALWAYS AS IDENTITY,
    kind              text NOT NULL CHECK (kind IN ('change_request', 'job')),
    subject_id        uuid NOT NULL,
    change_request_id uuid,
    action            text,
    from_state        text,
    to_state          text NOT NULL,
    actor_kind        text,
    actor_id          uuid,
    created_at        timestamptz NOT NULL DEFAULT now(),
    progress_percent  smallint,
    progress_step     text,
    PRIMARY KEY (tenant_id, id)
);
ALTER TABLE nexplane.stream_events_pending ENABLE ROW LEVEL SECURITY;
ALTER TABLE nexplane.stream_events_pending FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON nexplane.stream_events_pending
    USING (tenant_id = nexplane.current_tenant_id() OR nexplane.system_access())
    WITH CHECK (tenant_id = nexplane.current_tenant_id() OR nexplane.system_access());

-- The trigger is C (stream_events.c): at commit a worker's system access and
-- the caller's context may be gone, so it appends with system access, for
-- the tenant of the row that fired it.
