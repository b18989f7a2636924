-- Change requests, their event history, approvals and policies.

-- The rules on a change request's values are domains, not table CHECKs.
-- PostgreSQL 15 reads a table's CHECK constraints back from their stored
-- text (stringToNode) and plans them again in every INSERT and UPDATE
-- statement, each time: on these tables, written by every create and
-- transition, that was a fifth of a create's instructions.  A domain's
-- constraints are read once per backend (the type cache) and checked only
-- on the columns a statement writes.  The rules, the NULLs they let
-- through and the SQLSTATE of a violation (23514) are the same; the
-- message names the domain instead of the table.
CREATE DOMAIN nexplane.cr_state AS text
    CHECK (VALUE IN ('draft', 'pending_approval', 'approved', 'scheduled', 'executing',
                     'completed', 'failed', 'rejected', 'cancelled', 'rolling_back',
                     'rolled_back', 'rollback_failed'));
CREATE DOMAIN nexplane.risk_level AS text
    CHECK (VALUE IN ('low', 'medium', 'high', 'critical'));
CREATE DOMAIN nexplane.risk_score AS integer CHECK (VALUE BETWEEN 0 AND 100);
-- A change type is 1 to 64 of these characters.  The bound is length()'s,
-- not the regex's: '{0,63}' made each check a 60k-instruction walk of 63
-- expanded states, a twentieth of a create; the set admitted is the same.
CREATE DOMAIN nexplane.change_type AS text
    CHECK (length(VALUE) <= 64 AND VALUE ~ '^[a-z][a-z0-9_.]*$');
CREATE DOMAIN nexplane.cr_title AS text CHECK (length(VALUE) BETWEEN 1 AND 200);
CREATE DOMAIN nexplane.cr_description AS text CHECK (length(VALUE) <= 10000);
CREATE DOMAIN nexplane.idempotency_key AS text CHECK (length(VALUE) BETWEEN 1 AND 200);
CREATE DOMAIN nexplane.actor_kind AS text
    CHECK (VALUE IN ('user', 'api_key', 'agent', 'worker', 'system'));
CREATE DOMAIN nexplane.decision AS text CHECK (VALUE IN ('approve', 'reject'));
CREATE DOMAIN nexplane.comment_text AS text CHECK (length(VALUE) <= 2000);
CREATE DOMAIN nexplane.jsonb_object AS jsonb CHECK (jsonb_typeof(VALUE) = 'object');
CREATE DOMAIN nexplane.jsonb_array AS jsonb CHECK (jsonb_typeof(VALUE) = 'array');

-- The three tables below have no foreign key of their own to tenants: each
-- has one with tenant_id to a row of that tenant (a connector and a user,
-- or a change request), whose own keys lead to tenants, so the tenant
-- exists and cannot go while the row stands.  A direct one would be the
-- same guarantee checked again, a statement per row written.
CREATE TABLE nexplane.change_requests (
    tenant_id       uuid NOT NULL,
    id              uuid NOT NULL DEFAULT gen_random_uuid(),
    connector_id    uuid NOT NULL,
    change_type     nexplane.change_type NOT NULL,
    params          nexplane.jsonb_object NOT NULL DEFAULT '{}',
    title           nexplane.cr_title NOT NULL,
    description     nexplane.cr_description,
    state           nexplane.cr_state NOT NULL DEFAULT 'draft',
    requester_id    uuid NOT NULL,
    risk_score      nexplane.risk_score,
    risk_level      nexplane.risk_level,
    risk_factors    nexplane.jsonb_array NOT NULL DEFAULT '[]',
    asset_ids       uuid[] NOT NULL DEFAULT '{}',
    scheduled_for   timestamptz,
    idempotency_key nexplane.idempotency_key,
    result          jsonb,
    rollback_state  jsonb,
    error           text,
    version         integer NOT NULL DEFAULT 1,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    submitted_at    timestamptz,
    executed_at     timestamptz,
    completed_at    timestamptz,
    -- a rollback is a change request of its own, of the change it undoes
    rollback_of     uuid,
    PRIMARY KEY (tenant_id, id),
    FOREIGN KEY (tenant_id, rollback_of) REFERENCES nexplane.change_requests (tenant_id, id),
    FOREIGN KEY (tenant_id, connector_id) REFERENCES nexplane.connectors (tenant_id, id),
    FOREIGN KEY (tenant_id, requester_id) REFERENCES nexplane.users (tenant_id, id)
);
-- A retry's key, partial: a request without one never conflicts, and an
-- index that covers only keyed rows is no candidate for a lookup that names
-- no key.  As a full index it was: before a new table's first ANALYZE, the
-- generic plans of the lookup by (tenant_id, id) (the answer's document,
-- every foreign-key check to a change request) read it on tenant_id alone
-- and filtered every change request of the tenant, per statement.
CREATE UNIQUE INDEX change_requests_idempotency_idx
    ON nexplane.change_requests (tenant_id, requester_id, idempotency_key)
    WHERE idempotency_key IS NOT NULL;
CREATE INDEX change_requests_list_idx
    ON nexplane.change_requests (tenant_id, created_at DESC, id DESC);
-- cr_list's filters, in its order (created_at, id), so a page is read
-- from the index and stops at its limit
CREATE INDEX change_requests_state_idx
    ON nexplane.change_requests (tenant_id, state, created_at DESC, id DESC);
CREATE INDEX change_requests_rollback_idx
    ON nexplane.change_requests (tenant_id, rollback_of) WHERE rollback_of IS NOT NULL;
CREATE INDEX change_requests_connector_idx
    ON nexplane.change_requests (tenant_id, connector_id, created_at DESC, id DESC);
-- the risk score's recent failures on a connector (risk.c): a bounded
-- lookup, not a scan of the connector's history
CREATE INDEX change_requests_failures_idx
    ON nexplane.change_requests (tenant_id, connector_id, updated_at DESC)
    WHERE state IN ('failed', 'rollback_failed');
ALTER TABLE nexplane.change_requests ENABLE ROW LEVEL SECURITY;
ALTER TABLE nexplane.change_requests FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON nexplane.change_requests
    USING (tenant_id = nexplane.current_tenant_id() OR nexplane.system_access())
    WITH CHECK (tenant_id = nexplane.current_tenant_id() OR nexplane.system_access());

-- Append-only history of every transition, with its full payload.
CREATE TABLE nexplane.change_request_events (
    tenant_id         uuid NOT NULL,
    id                bigint GENERATED ALWAYS AS IDENTITY,
    change_request_id uuid NOT NULL,
    action            text NOT NULL,
    from_state        text,
    to_state          text NOT NULL,
    actor_kind        nexplane.actor_kind NOT NULL,
    actor_id          uuid,
    payload           jsonb NOT NULL DEFAULT '{}',
    created_at        timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, id),
    FOREIGN KEY (tenant_id, change_request_id)
        REFERENCES nexplane.change_requests (tenant_id, id)
);
CREATE INDEX change_request_events_cr_idx
    ON nexplane.change_request_events (tenant_id, change_request_id, id);
ALTER TABLE nexplane.change_request_events ENABLE ROW LEVEL SECURITY;
ALTER TABLE nexplane.change_request_events FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON nexplane.change_request_events
    USING (tenant_id = nexplane.current_tenant_id() OR nexplane.system_access())
    WITH CHECK (tenant_id = nexplane.current_tenant_id() OR nexplane.system_access());

-- One decision per person per change request: the primary key makes "one
-- person counts once" a fact of the table, not of the code.
CREATE TABLE nexplane.approvals (
    tenant_id         uuid NOT NULL,
    change_request_id uuid NOT NULL,
    approver_id       uuid NOT NULL,
    decision          nexplane.decision NOT NULL,
    approver_role     text NOT NULL,
    comment           nexplane.comment_text,
    created_at        timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, change_request_id, approver_id),
    FOREIGN KEY (tenant_id, change_request_id)
        REFERENCES nexplane.change_requests (tenant_id, id),
    FOREIGN KEY (tenant_id, approver_id) REFERENCES nexplane.users (tenant_id, id)
);
ALTER TABLE nexplane.approvals ENABLE ROW LEVEL SECURITY;
ALTER TABLE nexplane.approvals FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON nexplane.approvals
    USING (tenant_id = nexplane.current_tenant_id() OR nexplane.system_access())
    WITH CHECK (tenant_id = nexplane.current_tenant_id() OR nexplane.system_access());

CREATE TABLE nexplane.policies (
    tenant_id   uuid NOT NULL REFERENCES nexplane.tenants (id),
    id          uuid NOT NULL DEFAULT gen_random_uuid(),
    kind        text NOT NULL
                CHECK (kind IN ('approvals', 'freeze_window', 'change_window',
                                'max_blast_radius')),
    target_type text NOT NULL DEFAULT 'tenant'
                CHECK (target_type IN ('tenant', 'connector', 'asset')),
    target_id   uuid,
    mode        text NOT NULL DEFAULT 'enforce' CHECK (mode IN ('enforce', 'warn')),
    spec        jsonb NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(spec) = 'object'),
    created_by  uuid,
    created_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, id),
    FOREIGN KEY (tenant_id, created_by) REFERENCES nexplane.users (tenant_id, id),
    CHECK ((target_type = 'tenant') = (target_id IS NULL))
);
CREATE INDEX policies_target_idx ON nexplane.policies (tenant_id, kind, target_type, target_id);
ALTER TABLE nexplane.policies ENABLE ROW LEVEL SECURITY;
ALTER TABLE nexplane.policies FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON nexplane.policies
    USING (tenant_id = nexplane.current_tenant_id() OR nexplane.system_access())
    WITH CHECK (tenant_id = nexplane.current_tenant_id() OR nexplane.system_access());
