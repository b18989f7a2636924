-- The job queue, schedules, and the evidence jobs leave behind.

-- The rules on a job's and an evidence row's values are domains, not table
-- CHECKs, for the reason given in 40_change_requests.sql: PostgreSQL 15
-- reads a table's CHECKs back from their text and plans them again in every
-- INSERT and UPDATE, and a worker's batch end writes both tables each time.
-- A domain's are cached per backend and checked only on the columns
-- written.  The rules and the SQLSTATE (23514) are the same; a violation's
-- message names the domain.  Evidence's kind has change_type's rule.
CREATE DOMAIN nexplane.job_kind AS text
    CHECK (VALUE IN ('execute_change', 'rollback_change', 'discover',
                     'test_connection', 'verify_change', 'noop'));
CREATE DOMAIN nexplane.job_state AS text
    CHECK (VALUE IN ('queued', 'running', 'succeeded', 'failed', 'cancelled', 'skipped'));
CREATE DOMAIN nexplane.job_attempts AS integer CHECK (VALUE >= 0);
CREATE DOMAIN nexplane.job_max_attempts AS integer CHECK (VALUE BETWEEN 1 AND 20);
CREATE DOMAIN nexplane.percent AS smallint CHECK (VALUE BETWEEN 0 AND 100);
CREATE DOMAIN nexplane.progress_step AS text CHECK (length(VALUE) <= 200);
CREATE DOMAIN nexplane.sha256 AS bytea CHECK (length(VALUE) = 32);

CREATE TABLE nexplane.jobs (
    tenant_id         uuid NOT NULL REFERENCES nexplane.tenants (id),
    id                uuid NOT NULL DEFAULT gen_random_uuid(),
    -- noop: does nothing but leave evidence (benchmarks, crash tests); no
    -- API function queues one
    kind              nexplane.job_kind NOT NULL,
    -- skipped: a schedule's run not started because its previous run
    -- was still going (kept as the record of the skip)
    state             nexplane.job_state NOT NULL DEFAULT 'queued',
    priority          smallint NOT NULL DEFAULT 0,
    change_request_id uuid,
    connector_id      uuid,
    schedule_id       uuid,
    scheduled_for     timestamptz,  -- the schedule's slot this run is for
    payload           jsonb NOT NULL DEFAULT '{}',
    result            jsonb,
    error             text,
    attempts          nexplane.job_attempts NOT NULL DEFAULT 0,
    max_attempts      nexplane.job_max_attempts NOT NULL DEFAULT 1,
    run_after         timestamptz NOT NULL DEFAULT now(),
    lease_until       timestamptz,
    cancel_requested  boolean NOT NULL DEFAULT false,
    progress_percent  nexplane.percent,
    progress_step     nexplane.progress_step,
    worker_pid        integer,
    created_at        timestamptz NOT NULL DEFAULT now(),
    started_at        timestamptz,
    finished_at       timestamptz,
    PRIMARY KEY (tenant_id, id),
    FOREIGN KEY (tenant_id, change_request_id)
        REFERENCES nexplane.change_requests (tenant_id, id),
    FOREIGN KEY (tenant_id, connector_id) REFERENCES nexplane.connectors (tenant_id, id)
);
-- The queue, as the workers read it (bgworkers/job_worker.c): by tenant
-- (fair shares; the leading tenant_id also finds the tenants with work),
-- by due time (when to wake next), and the changes apart (one at a time
-- per connector, which the unique index makes hold even between racing
-- workers).
CREATE INDEX jobs_queue_idx ON nexplane.jobs (tenant_id, priority DESC, run_after)
    WHERE state = 'queued';
CREATE INDEX jobs_due_idx ON nexplane.jobs (run_after) WHERE state = 'queued';
CREATE INDEX jobs_change_queue_idx ON nexplane.jobs (priority DESC, run_after)
    WHERE state = 'queued' AND kind IN ('execute_change', 'rollback_change');
CREATE UNIQUE INDEX jobs_one_change_idx ON nexplane.jobs (tenant_id, connector_id)
    WHERE state = 'running' AND kind IN ('execute_change', 'rollback_change');
-- One run per schedule slot: a double clock tick inserts nothing twice.
CREATE UNIQUE INDEX jobs_schedule_slot_idx ON nexplane.jobs (tenant_id, schedule_id, scheduled_for)
    WHERE schedule_id IS NOT NULL;
CREATE INDEX jobs_lease_idx ON nexplane.jobs (lease_until) WHERE state = 'running';
-- job_list's order; without id, which an incremental sort adds to a page.
-- Holding id, it was as cheap as the primary key, before the table's first
-- ANALYZE, for the generic plans of lookups by (tenant_id, id) (every
-- worker statement on a job), which then took it, bounded by tenant_id
-- alone, and read every job of the tenant for one (docs/jobs.md, "Plans").
CREATE INDEX jobs_list_idx ON nexplane.jobs (tenant_id, created_at DESC);
-- Pruning (_jobs_prune, daily) finds the old finished jobs through a block
-- range index: a job's end costs it a look at one revmap entry, not a
-- btree insertion (one of ten a job); the prune reads the block ranges
-- that hold a job finished before the cutoff, which are the ones it must
-- visit anyway.
CREATE INDEX jobs_finished_idx ON nexplane.jobs USING brin (finished_at);
ALTER TABLE nexplane.jobs ENABLE ROW LEVEL SECURITY;
ALTER TABLE nexplane.jobs FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON nexplane.jobs
    USING (tenant_id = nexplane.current_tenant_id() OR nexplane.system_access())
    WITH CHECK (tenant_id = nexplane.current_tenant_id() OR nexplane.system_access());

CREATE TABLE nexplane.schedules (
    tenant_id    uuid NOT NULL REFERENCES nexplane.tenants (id),
    id           uuid NOT NULL DEFAULT gen_random_uuid(),
    connector_id uuid NOT NULL,
    job_kind     text NOT NULL CHECK (job_kind IN ('discover', 'test_connection')),
    cron         text NOT NULL CHECK (length(cron) BETWEEN 1 AND 100),  -- cron.c parses it
    timezone     text NOT NULL DEFAULT 'UTC' CHECK (length(timezone) BETWEEN 1 AND 64),
    enabled      boolean NOT NULL DEFAULT true,
    next_run_at  timestamptz,
    last_run_at  timestamptz,
    created_by   uuid,
    created_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, id),
    FOREIGN KEY (tenant_id, connector_id) REFERENCES nexplane.connectors (tenant_id, id),
    FOREIGN KEY (tenant_id, created_by) REFERENCES nexplane.users (tenant_id, id)
);
CREATE INDEX schedules_due_idx ON nexplane.schedules (next_run_at) WHERE enabled;
-- The clock tick asks, each minute, whether a due schedule's last run is
-- still going (queued or running): only those jobs, not its whole history.
CREATE INDEX jobs_schedule_going_idx ON nexplane.jobs (tenant_id, schedule_id)
    WHERE schedule_id IS NOT NULL AND state IN ('queued', 'running');
ALTER TABLE nexplane.schedules ENABLE ROW LEVEL SECURITY;
ALTER TABLE nexplane.schedules FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON nexplane.schedules
    USING (tenant_id = nexplane.current_tenant_id() OR nexplane.system_access())
    WITH CHECK (tenant_id = nexplane.current_tenant_id() OR nexplane.system_access());

-- No foreign key to tenants: its check was a query and a lock on the
-- tenant's row for every evidence row (6% of a no-op job's instructions),
-- and the audit trail already implies it.  Every evidence row is audited
-- (the audit trigger fires ALWAYS, also in replica mode, where foreign keys
-- are not checked), its event is MAC'd under its tenant's audit key, made
-- with the tenant's first event in audit_keys, whose foreign key checks the
-- tenant, and an audit key is never deleted (key_kept): so the tenant of
-- any evidence row existed when the row was written and can never be
-- deleted.  A change request's evidence keeps its foreign key to it.
CREATE TABLE nexplane.evidence (
    tenant_id         uuid NOT NULL,
    id                uuid NOT NULL DEFAULT gen_random_uuid(),
    job_id            uuid,
    change_request_id uuid,
    kind              nexplane.change_type NOT NULL,
    content           jsonb NOT NULL,
    sha256            nexplane.sha256 NOT NULL,
    created_at        timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, id),
    -- job_id outlives its job: finished jobs are pruned, evidence is kept
    FOREIGN KEY (tenant_id, change_request_id)
        REFERENCES nexplane.change_requests (tenant_id, id)
);
-- A change request's evidence, partial: most evidence (discovery,
-- connection tests, no-ops) has none, and an index insertion fewer each.
CREATE INDEX evidence_cr_idx ON nexplane.evidence (tenant_id, change_request_id, created_at)
    WHERE change_request_id IS NOT NULL;
CREATE INDEX evidence_job_idx ON nexplane.evidence (tenant_id, job_id);
ALTER TABLE nexplane.evidence ENABLE ROW LEVEL SECURITY;
ALTER TABLE nexplane.evidence FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON nexplane.evidence
    USING (tenant_id = nexplane.current_tenant_id() OR nexplane.system_access())
    WITH CHECK (tenant_id = nexplane.current_tenant_id() OR nexplane.system_access());
