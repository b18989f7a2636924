-- The live event feed behind GET /v1/events: one event per change-request
-- transition and per job state change, numbered per tenant, so that a
-- client resuming with Last-Event-ID misses nothing.  Events are stored
-- in ranges: one row per statement and tenant, holding that statement's
-- events of the tenant as parallel arrays, pending as one row and
-- numbered as one range of consecutive numbers (docs/api.md, "Why
-- ranges"); events_since() unfolds them, one JSON object per event.
--
-- Writers do not number their events: a statement trigger (stream_events.c)
-- appends each statement's events to stream_events_pending as the
-- statement ends, one row per tenant of the statement, written straight
-- into the heap and indexes (stream_events_pending.c) and without any
-- lock, and wakes the event sequencer (bgworkers/event_sequencer.c) at
-- commit.  The sequencer, and any reader that finds committed pending
-- rows of its tenant (events_since), number them from the tenant's
-- event_heads row, which they lock: one numbering transaction at a time
-- per tenant, each numbering every pending row it can see, in the order
-- of their pending ids, a row's events in their order within it (the
-- statement's), and moving the head in the same commit.  A row of n
-- events takes the n numbers after the previous row's, as one range, so
-- each event still has its own number, and numbers are still
-- consecutive.
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
-- number visible by then.  A range is one row, so its numbers become
-- visible together, in the commit that gave them.  The one pending row a transaction sees
-- uncommitted is its own, in events_since called after a write in the
-- same transaction: its number then commits or rolls back with the event
-- itself, under the head lock, which that transaction holds until then.
--
-- The order: pending ids are taken as each statement ends, before its
-- commit (one per tenant of the statement, whose events it holds in the
-- statement's order).  An event that follows another through the data follows it in
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
-- docs/api.md#live-events.  Until ranges, 2026-12-03, a statement staged
-- and numbered one row per event.)  The tables are derived data: not
-- audited (the source rows are); old ranges may be pruned, whole, once
-- their last event is old enough: a range is never cut, so what is kept
-- has no gap but at its start.

CREATE TABLE nexplane.event_heads (
    tenant_id uuid PRIMARY KEY REFERENCES nexplane.tenants (id),
    seq       bigint NOT NULL CHECK (seq >= 0)   -- the last number handed out
);
ALTER TABLE nexplane.event_heads ENABLE ROW LEVEL SECURITY;
ALTER TABLE nexplane.event_heads FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON nexplane.event_heads
    USING (tenant_id = nexplane.current_tenant_id() OR nexplane.system_access())
    WITH CHECK (tenant_id = nexplane.current_tenant_id() OR nexplane.system_access());

-- One row per RANGE of numbers: the events one statement staged for the
-- tenant, numbered seq_last - n + 1 .. seq_last, their fields as parallel
-- arrays (element i of each is event seq_last - n + i's); events_since()
-- unfolds them into one object per event.  Why ranges: docs/api.md#live-events.
-- A NULL array: that field is NULL for every event of the range; ats
-- NULL: every event happened at created_at, which is the range's last
-- event's time, what pruning goes by (it removes whole ranges).  No
-- CHECK that n is positive or that the arrays have n elements: a CHECK's
-- stored expression is read and set up again in every numbering
-- statement (one on n cost a lone event's numbering about 15,000
-- instructions, 3%), and the only writer (the numbering, from rows the
-- trigger's C code built, stream_events_pending.c) gives every row
-- n >= 1 and every array n elements or none.
-- No foreign key to tenants: its check was an SPI query per event on the
-- numbering's path (40% of its cost).  Every row's tenant has an
-- event_heads row, made and locked in the transaction that numbers it and
-- never deleted, whose foreign key holds the tenant.  toast_tuple_target
-- at its largest: a row of up to about 8 kB (a range of a hundred or so
-- events) stays in line and is not compressed as it is written; a row is
-- written once and read while it is recent, so compression would buy
-- little but its cost on every write.
CREATE TABLE nexplane.stream_events (
    tenant_id          uuid NOT NULL,
    seq_last           bigint NOT NULL,
    n                  integer NOT NULL,
    kind               text NOT NULL CHECK (kind IN ('change_request', 'job')),
    created_at         timestamptz NOT NULL DEFAULT now(),
    subject_ids        uuid[] NOT NULL,
    change_request_ids uuid[],
    actions            text[],
    from_states        text[],
    to_states          text[] NOT NULL,
    actor_kinds        text[],
    actor_ids          uuid[],
    ats                timestamptz[],
    -- a job's progress (action 'progress', or with its state changes)
    progress_percents  smallint[],
    progress_steps     text[],
    PRIMARY KEY (tenant_id, seq_last)
) WITH (toast_tuple_target = 8160);
CREATE INDEX stream_events_created_idx ON nexplane.stream_events USING brin (created_at);
ALTER TABLE nexplane.stream_events ENABLE ROW LEVEL SECURITY;
ALTER TABLE nexplane.stream_events FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON nexplane.stream_events
    USING (tenant_id = nexplane.current_tenant_id() OR nexplane.system_access())
    WITH CHECK (tenant_id = nexplane.current_tenant_id() OR nexplane.system_access());

-- Events staged and not yet numbered (a writer's, until it commits, are
-- seen by no one else): one row per statement and tenant, n events, the
-- same arrays as stream_events (they move over as they are).  No foreign
-- key (its check would be a statement per row on the writers' path): a
-- row lives for milliseconds, its tenant is the source rows', which have
-- one.  No CHECK either: only the trigger writes here, straight into the
-- heap and indexes (stream_events_pending.c, which also needs the table
-- to have no triggers), with literal kinds, and stream_events checks
-- them as they are numbered.
CREATE TABLE nexplane.stream_events_pending (
    tenant_id          uuid NOT NULL,
    id                 bigint GENERATED ALWAYS AS IDENTITY,
    n                  integer NOT NULL,
    kind               text NOT NULL,
    created_at         timestamptz NOT NULL DEFAULT now(),
    subject_ids        uuid[] NOT NULL,
    change_request_ids uuid[],
    actions            text[],
    from_states        text[],
    to_states          text[] NOT NULL,
    actor_kinds        text[],
    actor_ids          uuid[],
    ats                timestamptz[],
    progress_percents  smallint[],
    progress_steps     text[],
    PRIMARY KEY (tenant_id, id)
) WITH (toast_tuple_target = 8160);
ALTER TABLE nexplane.stream_events_pending ENABLE ROW LEVEL SECURITY;
ALTER TABLE nexplane.stream_events_pending FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON nexplane.stream_events_pending
    USING (tenant_id = nexplane.current_tenant_id() OR nexplane.system_access())
    WITH CHECK (tenant_id = nexplane.current_tenant_id() OR nexplane.system_access());

-- The trigger is C (stream_events.c), once per statement: it appends the
-- statement's events with system access, for the tenants of the rows that
-- fired it, which already passed their own table's policy.
