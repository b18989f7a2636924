-- The live event feed behind GET /v1/events: one row per change-request
-- transition and per job state change, numbered per tenant, so that a
-- client resuming with Last-Event-ID misses nothing.
--
-- Writers do not number their events: a statement trigger (stream_events.c)
-- appends each statement's events to stream_events_pending as the
-- statement ends, in one insert and without any lock, and wakes the event
-- sequencer (bgworkers/event_sequencer.c) at commit.  The sequencer, and
-- any reader that finds committed pending events of its tenant
-- (events_since), number them from the tenant's event_heads row, which
-- they lock: one numbering transaction at a time per tenant, each
-- numbering every pending event it can see, in the order of their pending
-- ids, and moving the head in the same commit.
--
-- So a number is visible only once every smaller number of the tenant is,
-- and numbers never change: numbers come only from numbering transactions,
-- one at a time per tenant; each starts after the head its predecessor
-- committed and makes its numbers visible all at once, with the head, at
-- its commit (or none of them, rolled back with it).  When an event was
-- staged does not enter into it.  A numbering statement, under read
-- committed and after the lock, sees only pending rows that have
-- committed: an event whose transaction is still open when it is staged
-- (as every event is now) is neither numbered nor passed over; it stays
-- staged, and a later numbering transaction gives it a number after every
-- number visible by then.  The one pending row a transaction sees
-- uncommitted is its own, in events_since called after a write in the
-- same transaction: its number then commits or rolls back with the event
-- itself, under the head lock, which that transaction holds until then.
--
-- The order: pending ids are taken as each statement ends, before its
-- commit.  An event that follows another through the data follows it in
-- number too: writers of one row (a change request's transitions, a job's
-- states) wait for each other's commit on the row's lock, and a statement
-- that reads a committed row (a worker claiming a queued job) runs after
-- that row's writer staged; a round numbers in id order, and a later
-- round numbers after it.  Two independent transactions numbered in the
-- same round keep the order in which they staged, not the one in which
-- they committed (test/isolation/specs/event_order.spec): neither number
-- was visible before both were, so a resume from the last id seen still
-- misses nothing.  (Until 2026-12 a deferred row trigger staged each event
-- at commit, one insert per event: bench/jobs/README.md.  Before that every
-- writer took its number at commit under the head row's lock, which made
-- a tenant's writers commit one at a time, WAL flush included, and each
-- writer's NOTIFY did the same for the whole cluster:
-- docs/api.md#live-events.)  The tables are derived data: not audited
-- (the source rows are); old rows may be pruned.

CREATE TABLE nexplane.event_heads (
    tenant_id uuid PRIMARY KEY REFERENCES nexplane.tenants (id),
    seq       bigint NOT NULL CHECK (seq >= 0)   -- the last number handed out
);
ALTER TABLE nexplane.event_heads ENABLE ROW LEVEL SECURITY;
ALTER TABLE nexplane.event_heads FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON nexplane.event_heads
    USING (tenant_id = nexplane.current_tenant_id() OR nexplane.system_access())
    WITH CHECK (tenant_id = nexplane.current_tenant_id() OR nexplane.system_access());

-- No foreign key to tenants: its check was an SPI query per event on the
-- numbering's path (40% of its cost).  Every row's tenant has an
-- event_heads row, made and locked in the transaction that numbers it and
-- never deleted, whose foreign key holds the tenant.
CREATE TABLE nexplane.stream_events (
    tenant_id         uuid NOT NULL,
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

-- Events staged and not yet numbered (a writer's, until it commits, are
-- seen by no one else).  No foreign key (its check would be a statement
-- per event on the writers' path): a row lives for milliseconds, its
-- tenant is the source row's, which has one.  No CHECK either: each
-- writer's statement would parse it again (ExecConstraints), only the
-- trigger writes here, with literal kinds, and stream_events checks them
-- as they are numbered.
CREATE TABLE nexplane.stream_events_pending (
    tenant_id         uuid NOT NULL,
    id                bigint GENERATED ALWAYS AS IDENTITY,
    kind              text NOT NULL,
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

-- The trigger is C (stream_events.c), once per statement: it appends the
-- statement's events with system access, for the tenants of the rows that
-- fired it, which already passed their own table's policy.
