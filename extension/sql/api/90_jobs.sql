-- Jobs and their evidence, as users see them.  Workers write both
-- (bgworkers/); users read them and may cancel a job.

CREATE FUNCTION nexplane._job_json(j nexplane.jobs) RETURNS jsonb
    LANGUAGE sql IMMUTABLE SET search_path = pg_catalog, pg_temp AS $$
    SELECT jsonb_build_object('id', j.id, 'kind', j.kind, 'state', j.state,
        'change_request_id', j.change_request_id, 'connector_id', j.connector_id,
        'schedule_id', j.schedule_id, 'scheduled_for', j.scheduled_for,
        'result', j.result, 'error', j.error,
        'attempts', j.attempts, 'max_attempts', j.max_attempts,
        'progress', jsonb_build_object('percent', j.progress_percent, 'step', j.progress_step),
        'cancel_requested', j.cancel_requested, 'run_after', j.run_after,
        'created_at', j.created_at, 'started_at', j.started_at, 'finished_at', j.finished_at)
$$;

CREATE FUNCTION nexplane.job_get(id uuid) RETURNS jsonb
    LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
#variable_conflict use_variable
DECLARE
    j nexplane.jobs;
BEGIN
    PERFORM nexplane._require_auth();
    PERFORM nexplane._require_id(id);
    SELECT * INTO j FROM nexplane.jobs x
     WHERE x.tenant_id = nexplane.current_tenant_id() AND x.id = id;
    IF NOT FOUND THEN
        PERFORM nexplane._raise('NX404', format('job %s not found', id));
    END IF;
    RETURN nexplane._job_json(j);
END
$$;

-- job_list(filter): {"state", "kind", "connector_id", "change_request_id",
-- "after" (the last item's cursor, created_at/id), "limit" (<= 200)}
CREATE FUNCTION nexplane.job_list(filter jsonb DEFAULT '{}') RETURNS jsonb
    LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    f jsonb := coalesce(filter, '{}');
    lim integer;
    after_at timestamptz;
    after_id uuid;
BEGIN
    PERFORM nexplane._require_auth();
    lim := nexplane._filter_limit(f, ARRAY['state', 'kind', 'connector_id', 'change_request_id',
                                           'after'], 50, 200);
    BEGIN
        PERFORM (f->>'connector_id')::uuid, (f->>'change_request_id')::uuid;
        IF f ? 'after' THEN
            after_at := split_part(f->>'after', '/', 1)::timestamptz;
            after_id := split_part(f->>'after', '/', 2)::uuid;
        END IF;
    EXCEPTION WHEN data_exception THEN
        PERFORM nexplane._raise('NX400', 'invalid filter value', SQLERRM);
    END;
    RETURN (SELECT coalesce(jsonb_agg(nexplane._job_json(j)
                       || jsonb_build_object('cursor', j.created_at || '/' || j.id)
                       ORDER BY j.created_at DESC, j.id DESC), '[]')
              FROM (SELECT * FROM nexplane.jobs j
                     WHERE j.tenant_id = nexplane.current_tenant_id()
                       AND (f->>'state' IS NULL OR j.state = f->>'state')
                       AND (f->>'kind' IS NULL OR j.kind = f->>'kind')
                       AND (f->>'connector_id' IS NULL
                            OR j.connector_id = (f->>'connector_id')::uuid)
                       AND (f->>'change_request_id' IS NULL
                            OR j.change_request_id = (f->>'change_request_id')::uuid)
                       AND (after_at IS NULL OR (j.created_at, j.id) < (after_at, after_id))
                     ORDER BY j.created_at DESC, j.id DESC LIMIT lim) j);
END
$$;

-- job_cancel(id): a queued job is cancelled at once; a running one gets a
-- flag its connector checks between steps (the job ends "cancelled" if it
-- stops there).  A change's job is cancelled through the change request
-- (cr_cancel), so that the request's state and its job agree.
CREATE FUNCTION nexplane.job_cancel(id uuid) RETURNS jsonb
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
#variable_conflict use_variable
DECLARE
    j nexplane.jobs;
BEGIN
    PERFORM nexplane._require_role('admin', 'operator');
    PERFORM nexplane._require_id(id);
    SELECT * INTO j FROM nexplane.jobs x
     WHERE x.tenant_id = nexplane.current_tenant_id() AND x.id = id FOR UPDATE;
    IF NOT FOUND THEN
        PERFORM nexplane._raise('NX404', format('job %s not found', id));
    END IF;
    IF j.kind IN ('execute_change', 'rollback_change') AND j.state = 'queued' THEN
        PERFORM nexplane._raise('NX409', 'a queued change is cancelled through its change request',
            NULL, format('cr_cancel(%L)', j.change_request_id));
    END IF;
    IF j.state = 'queued' THEN
        UPDATE nexplane.jobs x SET state = 'cancelled', finished_at = now(), error = 'cancelled'
         WHERE x.tenant_id = j.tenant_id AND x.id = j.id RETURNING * INTO j;
    ELSIF j.state = 'running' THEN
        UPDATE nexplane.jobs x SET cancel_requested = true
         WHERE x.tenant_id = j.tenant_id AND x.id = j.id RETURNING * INTO j;
    ELSE
        PERFORM nexplane._raise('NX409', format('job %s is %s', id, j.state));
    END IF;
    RETURN nexplane._job_json(j);
END
$$;

-- Evidence: immutable, like the audit trail, and audited.
CREATE FUNCTION nexplane._evidence_json(e nexplane.evidence) RETURNS jsonb
    LANGUAGE sql IMMUTABLE SET search_path = pg_catalog, pg_temp AS $$
    SELECT jsonb_build_object('id', e.id, 'job_id', e.job_id,
        'change_request_id', e.change_request_id, 'kind', e.kind, 'content', e.content,
        'sha256', encode(e.sha256, 'hex'), 'created_at', e.created_at)
$$;

CREATE FUNCTION nexplane.evidence_get(id uuid) RETURNS jsonb
    LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
#variable_conflict use_variable
DECLARE
    e nexplane.evidence;
BEGIN
    PERFORM nexplane._require_auth();
    PERFORM nexplane._require_id(id);
    SELECT * INTO e FROM nexplane.evidence x
     WHERE x.tenant_id = nexplane.current_tenant_id() AND x.id = id;
    IF NOT FOUND THEN
        PERFORM nexplane._raise('NX404', format('evidence %s not found', id));
    END IF;
    RETURN nexplane._evidence_json(e);
END
$$;

-- evidence_list(filter): {"change_request_id", "job_id", "kind", "limit" (<= 200)}
CREATE FUNCTION nexplane.evidence_list(filter jsonb DEFAULT '{}') RETURNS jsonb
    LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    f jsonb := coalesce(filter, '{}');
    lim integer;
BEGIN
    PERFORM nexplane._require_auth();
    lim := nexplane._filter_limit(f, ARRAY['change_request_id', 'job_id', 'kind'], 50, 200);
    BEGIN
        PERFORM (f->>'change_request_id')::uuid, (f->>'job_id')::uuid;
    EXCEPTION WHEN data_exception THEN
        PERFORM nexplane._raise('NX400', 'invalid filter value', SQLERRM);
    END;
    RETURN (SELECT coalesce(jsonb_agg(nexplane._evidence_json(e) ORDER BY e.created_at, e.id), '[]')
              FROM (SELECT * FROM nexplane.evidence e
                     WHERE e.tenant_id = nexplane.current_tenant_id()
                       AND (f->>'change_request_id' IS NULL
                            OR e.change_request_id = (f->>'change_request_id')::uuid)
                       AND (f->>'job_id' IS NULL OR e.job_id = (f->>'job_id')::uuid)
                       AND (f->>'kind' IS NULL OR e.kind = f->>'kind')
                     ORDER BY e.created_at, e.id LIMIT lim) e);
END
$$;

CREATE TRIGGER append_only BEFORE UPDATE OR DELETE ON nexplane.evidence
    FOR EACH ROW EXECUTE FUNCTION nexplane._append_only();
CREATE TRIGGER append_only_truncate BEFORE TRUNCATE ON nexplane.evidence
    FOR EACH STATEMENT EXECUTE FUNCTION nexplane._append_only();
ALTER TABLE nexplane.evidence ENABLE ALWAYS TRIGGER append_only;
ALTER TABLE nexplane.evidence ENABLE ALWAYS TRIGGER append_only_truncate;

-- The engine's side (bgworkers/).  Waking: a row trigger marks the
-- transaction when a job becomes queued; the workers are woken at commit.
CREATE FUNCTION nexplane._jobs_wake() RETURNS trigger
    AS 'MODULE_PATHNAME', 'nx_jobs_wake_trigger' LANGUAGE C;
CREATE TRIGGER wake_workers AFTER INSERT ON nexplane.jobs
    FOR EACH ROW WHEN (NEW.state = 'queued') EXECUTE FUNCTION nexplane._jobs_wake();
CREATE TRIGGER wake_workers_requeued AFTER UPDATE OF state ON nexplane.jobs
    FOR EACH ROW WHEN (NEW.state = 'queued' AND OLD.state <> 'queued')
    EXECUTE FUNCTION nexplane._jobs_wake();
CREATE FUNCTION nexplane._jobs_wake_now() RETURNS void
    AS 'MODULE_PATHNAME', 'nx_jobs_wake_now' LANGUAGE C;

-- The tenants with queued jobs, at most max_tenants, from a random one on
-- (wrapping around), one index probe each: the fair shares' list.
-- No sort, like _jobs_claim (below, "Plans").
CREATE FUNCTION nexplane._jobs_queued_tenants(max_tenants integer) RETURNS uuid[]
    LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp
    SET enable_sort = off AS $$
DECLARE
    start uuid := gen_random_uuid();
    cur uuid := start;
    nxt uuid;
    wrapped boolean := false;
    found_tenants uuid[] := '{}';
BEGIN
    LOOP
        SELECT j.tenant_id INTO nxt FROM nexplane.jobs j
         WHERE j.state = 'queued' AND j.tenant_id > cur ORDER BY j.tenant_id LIMIT 1;
        IF nxt IS NULL THEN
            EXIT WHEN wrapped;
            wrapped := true;
            SELECT j.tenant_id INTO nxt FROM nexplane.jobs j
             WHERE j.state = 'queued' ORDER BY j.tenant_id LIMIT 1;
            EXIT WHEN nxt IS NULL;
        END IF;
        EXIT WHEN wrapped AND nxt > start OR nxt = ANY (found_tenants);
        found_tenants := found_tenants || nxt;
        EXIT WHEN cardinality(found_tenants) >= max_tenants;
        cur := nxt;
    END LOOP;
    RETURN found_tenants;
END
$$;

-- Finished jobs older than nexplane.job_retention days go (pg_cron, daily);
-- their evidence and the change requests' events stay.
CREATE FUNCTION nexplane._jobs_prune() RETURNS bigint
    LANGUAGE sql SET search_path = pg_catalog, pg_temp AS $$
    WITH gone AS (
        DELETE FROM nexplane.jobs
         WHERE state IN ('succeeded', 'failed', 'cancelled', 'skipped')
           AND finished_at < now() - current_setting('nexplane.job_retention')::integer
                                     * interval '1 day'
        RETURNING 1)
    SELECT count(*) FROM gone;
$$;

-- _jobs_claim: one worker round (bgworkers/job_worker.c has the why):
-- lost idempotent jobs back to the queue with backoff (or failed at
-- max_attempts), lost changes claimed for recovery once their lease has
-- run out, else one change whose
-- connector runs none, then fair shares of the other due jobs.  Each
-- claim takes the next attempt number, the fence every later write names.
-- live_pids: the job workers alive (a running job of any other pid lost
-- its worker); NULL, as the workers pass it, reads them from shared memory
-- in each statement, after its snapshot was taken.  A list read before
-- the round's statement (as the workers once passed it) could miss a
-- worker that started and claimed a job in between: its job would look
-- lost and run twice.  Read after the snapshot, every worker whose claim
-- the statement can see was in its slot before that claim committed.
--
-- Plans: the queue's statistics are often wrong (an empty queue analyzed,
-- then a burst of 20,000 jobs), so the round does not lean on them:
-- - each locking subquery is a MATERIALIZED CTE joined by the primary key,
--   so no plan rescans it: a nested loop that rescanned one for every row
--   of jobs, planned while the queue was empty, took 155 s for one round
--   once 20,000 jobs had come (and the worker replans as the queue grows:
--   bgworkers/job_worker.c, nx_plans_follow_queue);
-- - no sort (enable_sort): every ORDER BY here has its index
--   (jobs_queue_idx, jobs_change_queue_idx), and a plan that read all the
--   queued jobs through jobs_due_idx to sort them, which an estimate of
--   one row makes look cheaper, cost 40 ms a round with 20,000 queued.
CREATE FUNCTION nexplane._jobs_live_pids() RETURNS integer[]
    AS 'MODULE_PATHNAME', 'nx_jobs_live_pids_sql' LANGUAGE C VOLATILE STRICT;

CREATE FUNCTION nexplane._jobs_claim(worker_pid integer, live_pids integer[],
                                     lease_seconds integer, batch integer DEFAULT 32)
    RETURNS TABLE (tenant_id uuid, id uuid, kind text, connector_id uuid,
                   change_request_id uuid, attempt integer, max_attempts integer,
                   recovering boolean)
    LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp
    SET enable_sort = off AS $$
#variable_conflict use_column
DECLARE
    lease interval := lease_seconds * interval '1 s';
    tenants uuid[];
    locked tid[];
    per_tenant integer;
    claimed integer := 0;
BEGIN
    -- Each step first looks, with a plain probe, whether it has anything to
    -- do: starting an UPDATE of jobs (its ten indexes, the row locks' set-up)
    -- costs more than the probe, and most rounds have no lost job and no
    -- queued change.

    -- lost jobs
    IF EXISTS (SELECT 1 FROM nexplane.jobs l
                WHERE l.state = 'running'
                  AND (l.lease_until < now() OR l.worker_pid <> ALL (coalesce(live_pids, nexplane._jobs_live_pids())))) THEN
        -- lost idempotent jobs: retried after 2 s, 4 s, 8 s ... (at most 5 min), +-25%
        WITH l AS MATERIALIZED (
            SELECT l.tenant_id, l.id FROM nexplane.jobs l
             WHERE l.state = 'running' AND l.kind NOT IN ('execute_change', 'rollback_change')
               AND (l.lease_until < now() OR l.worker_pid <> ALL (coalesce(live_pids, nexplane._jobs_live_pids())))
             LIMIT 16 FOR UPDATE SKIP LOCKED)
        UPDATE nexplane.jobs j
           SET state = CASE WHEN j.attempts < j.max_attempts THEN 'queued' ELSE 'failed' END,
               run_after = now() + least(300000, 2000 * 2 ^ (j.attempts - 1))
                                   * (0.75 + random() / 2) * interval '1 ms',
               finished_at = CASE WHEN j.attempts < j.max_attempts THEN NULL ELSE now() END,
               error = format('the worker was lost during attempt %s of %s', j.attempts, j.max_attempts),
               lease_until = NULL, worker_pid = NULL
          FROM l WHERE j.tenant_id = l.tenant_id AND j.id = l.id;

        -- lost changes: claimed again, for recovery only, never re-run, and
        -- only once their lease has run out, even when their worker is known
        -- dead.  A dead worker's statement may still be running on the
        -- target (one waiting for a lock commits when the lock goes); its
        -- deadline, which the connectors tell the target, is at most half a
        -- lease after the step that last extended the lease, so by the
        -- lease's end the target has finished with it.  A recovery asking
        -- earlier could see the old state and keep a rotation's old
        -- password, which the target then stops taking.  The fresh lease of
        -- a claim also keeps a worker whose live_pids predate the claimer's
        -- start from claiming it again.
        RETURN QUERY
        WITH l AS MATERIALIZED (
            SELECT l.tenant_id, l.id FROM nexplane.jobs l
             WHERE l.state = 'running' AND l.kind IN ('execute_change', 'rollback_change')
               AND l.lease_until < now()
             LIMIT 16 FOR UPDATE SKIP LOCKED)
        UPDATE nexplane.jobs j
           SET attempts = j.attempts + 1, lease_until = now() + lease, worker_pid = _jobs_claim.worker_pid
          FROM l WHERE j.tenant_id = l.tenant_id AND j.id = l.id
        RETURNING j.tenant_id, j.id, j.kind::text, j.connector_id, j.change_request_id,
                  j.attempts::integer, j.max_attempts::integer, true;
        GET DIAGNOSTICS claimed = ROW_COUNT;
        IF claimed > 0 THEN
            RETURN;
        END IF;
    END IF;

    -- one change, on a connector where no change runs: the connector's row
    -- is locked while claiming, so a racing worker skips it, and
    -- jobs_one_change_idx fails the rare racer that got past, never runs it
    -- (the probe in the claim's order, so that it reads jobs_change_queue_idx)
    PERFORM 1 FROM nexplane.jobs q
     WHERE q.state = 'queued' AND q.kind IN ('execute_change', 'rollback_change')
       AND q.run_after <= now()
     ORDER BY q.priority DESC, q.run_after LIMIT 1;
    IF FOUND THEN
        RETURN QUERY
        WITH c AS MATERIALIZED (
            SELECT q.tenant_id, q.id
              FROM nexplane.jobs q JOIN nexplane.connectors n
                ON n.tenant_id = q.tenant_id AND n.id = q.connector_id
             WHERE q.state = 'queued' AND q.kind IN ('execute_change', 'rollback_change')
               AND q.run_after <= now()
               AND NOT EXISTS (SELECT 1 FROM nexplane.jobs r
                                WHERE r.tenant_id = q.tenant_id AND r.connector_id = q.connector_id
                                  AND r.state = 'running'
                                  AND r.kind IN ('execute_change', 'rollback_change'))
             ORDER BY q.priority DESC, q.run_after
             LIMIT 1 FOR UPDATE OF q, n SKIP LOCKED)
        UPDATE nexplane.jobs j
           SET state = 'running', attempts = j.attempts + 1, lease_until = now() + lease,
               worker_pid = _jobs_claim.worker_pid, started_at = coalesce(j.started_at, now())
          FROM c WHERE j.tenant_id = c.tenant_id AND j.id = c.id
        RETURNING j.tenant_id, j.id, j.kind::text, j.connector_id, j.change_request_id,
                  j.attempts::integer, j.max_attempts::integer, false;
        GET DIAGNOSTICS claimed = ROW_COUNT;
    END IF;

    -- fair shares of the rest: an equal part of the batch for each tenant
    -- with queued jobs, from a random tenant on
    tenants := nexplane._jobs_queued_tenants(64);
    IF cardinality(tenants) = 0 OR claimed >= batch THEN
        RETURN;
    END IF;
    -- the rows first, each tenant's share and the batch as hard limits,
    -- locked here; then the update of exactly those, by the tuple ids the
    -- locking returned, a lookup that no other index and no statistics can
    -- turn into a scan.  It was "tenant_id = ANY (tenants) AND id = ANY
    -- (ids) AND state = 'queued'": a generic plan counts an index descent
    -- through the primary key for every pair of the two arrays' elements,
    -- and one per tenant through jobs_queue_idx, whose predicate the state
    -- test made usable, so before the table's first ANALYZE it read every
    -- queued job of the tenant (10,000 for a batch of 32) and filtered them
    -- by id; without the state test it took jobs_list_idx or a sequential
    -- scan.  A join to the locked rows by the primary key was no better:
    -- with a generic plan's guess at a LIMIT of a variable (a tenth of its
    -- input), an analyzed table of 20,000 got a hash join over all of them.
    -- The tuple id is the locked version's: a row updated since the
    -- statement's snapshot is locked in its newest version and checked and
    -- projected again from it (EvalPlanQual), ctid included.  That version
    -- stays where it is until this transaction ends (no one else can update
    -- it, and pruning keeps live tuples), and the lock found it queued: so
    -- no state test here either, which would make jobs_queue_idx usable
    -- again.  (Nor an id test: on a small table never analyzed, its cost
    -- made a sequential scan look cheaper than the TID scan.)
    per_tenant := greatest(1, ceil((batch - claimed)::numeric / cardinality(tenants)))::int;
    SELECT coalesce(array_agg(q.ctid), '{}') INTO locked
      FROM (SELECT x.ctid FROM unnest(tenants) AS t(tenant_id),
             LATERAL (SELECT x.ctid FROM nexplane.jobs x
                       WHERE x.tenant_id = t.tenant_id AND x.state = 'queued'
                         AND x.run_after <= now()
                         AND x.kind NOT IN ('execute_change', 'rollback_change')
                       ORDER BY x.priority DESC, x.run_after
                       LIMIT per_tenant FOR UPDATE SKIP LOCKED) x
             LIMIT batch - claimed) q;
    RETURN QUERY
    UPDATE nexplane.jobs j
       SET state = 'running', attempts = j.attempts + 1, lease_until = now() + lease,
           worker_pid = _jobs_claim.worker_pid, started_at = coalesce(j.started_at, now())
     WHERE j.ctid = ANY (locked)
    RETURNING j.tenant_id, j.id, j.kind::text, j.connector_id, j.change_request_id,
              j.attempts::integer, j.max_attempts::integer, false;
END
$$;

-- When to look at the queue again: ms until the soonest queued job a
-- worker could claim is due, NULL when there is none (the worker naps).
-- NULL must stay NULL: greatest(0, NULL) is 0, which had every idle
-- worker go round without sleeping.  A change queued behind another on
-- its connector is left out for the same reason: it is due but cannot be
-- claimed until that one ends (a lost one only when its lease runs out),
-- and the nap finds it then.
CREATE FUNCTION nexplane._jobs_next_due_ms() RETURNS bigint
    LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
    SELECT CASE WHEN min(q.run_after) IS NOT NULL
                THEN greatest(0, ceil(extract(epoch FROM min(q.run_after) - now()) * 1000))::bigint
           END
      FROM nexplane.jobs q
     WHERE q.state = 'queued'
       AND NOT (q.kind IN ('execute_change', 'rollback_change')
                AND EXISTS (SELECT 1 FROM nexplane.jobs r
                             WHERE r.tenant_id = q.tenant_id AND r.connector_id = q.connector_id
                               AND r.state = 'running'
                               AND r.kind IN ('execute_change', 'rollback_change')));
$$;
