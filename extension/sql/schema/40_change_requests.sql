-- Change requests, their event history, approvals and policies.

CREATE TABLE nexplane.change_requests (
    tenant_id       uuid NOT NULL REFERENCES nexplane.tenants (id),
    id              uuid NOT NULL DEFAULT gen_random_uuid(),
    connector_id    uuid NOT NULL,
    change_type     text NOT NULL CHECK (change_type ~ '^[a-z][a-z0-9_.]{0,63}$'),
    params          jsonb NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(params) = 'object'),
    title           text NOT NULL CHECK (length(title) BETWEEN 1 AND 200),
    description     text CHECK (length(description) <= 10000),
    state           text NOT NULL DEFAULT 'draft'
                    CHECK (state IN ('draft', 'pending_approval', 'approved', 'scheduled',
                                     'executing', 'completed', 'failed', 'rejected',
                                     'cancelled', 'rolling_back', 'rolled_back',
                                     'rollback_failed')),
    requester_id    uuid NOT NULL,
    risk_score      integer CHECK (risk_score BETWEEN 0 AND 100),
    risk_level      text CHECK (risk_level IN ('low', 'medium', 'high', 'critical')),
    risk_factors    jsonb NOT NULL DEFAULT '[]' CHECK (jsonb_typeof(risk_factors) = 'array'),
    asset_ids       uuid[] NOT NULL DEFAULT '{}',
    scheduled_for   timestamptz,
    idempotency_key text CHECK (length(idempotency_key) BETWEEN 1 AND 200),
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
    UNIQUE (tenant_id, requester_id, idempotency_key),
    FOREIGN KEY (tenant_id, rollback_of) REFERENCES nexplane.change_requests (tenant_id, id),
    FOREIGN KEY (tenant_id, connector_id) REFERENCES nexplane.connectors (tenant_id, id),
    FOREIGN KEY (tenant_id, requester_id) REFERENCES nexplane.users (tenant_id, id)
);
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
    tenant_id         uuid NOT NULL REFERENCES nexplane.tenants (id),
    id                bigint GENERATED ALWAYS AS IDENTITY,
    change_request_id uuid NOT NULL,
    action            text NOT NULL,
    from_state        text,
    to_state          text NOT NULL,
    actor_kind        text NOT NULL
                      CHECK (actor_kind IN ('user', 'api_key', 'agent', 'worker', 'system')),
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
    tenant_id         uuid NOT NULL REFERENCES nexplane.tenants (id),
    change_request_id uuid NOT NULL,
    approver_id       uuid NOT NULL,
    decision          text NOT NULL CHECK (decision IN ('approve', 'reject')),
    approver_role     text NOT NULL,
    comment           text CHECK (length(comment) <= 2000),
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
