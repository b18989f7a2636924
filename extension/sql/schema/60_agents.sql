-- Host agents, their one-time enrollment tokens, and the typed commands
-- queued for them.

CREATE TABLE nexplane.agents (
    tenant_id        uuid NOT NULL REFERENCES nexplane.tenants (id),
    id               uuid NOT NULL DEFAULT gen_random_uuid(),
    hostname         text NOT NULL CHECK (length(hostname) BETWEEN 1 AND 253),
    facts            jsonb NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(facts) = 'object'),
    cert_serial      text,
    cert_fingerprint bytea UNIQUE CHECK (length(cert_fingerprint) = 32),
    cert_not_after   timestamptz,
    status           text NOT NULL DEFAULT 'active'
                     CHECK (status IN ('active', 'offline', 'revoked')),
    last_seen_at     timestamptz,
    enrolled_at      timestamptz NOT NULL DEFAULT now(),
    revoked_at       timestamptz,
    PRIMARY KEY (tenant_id, id),
    CHECK ((status = 'revoked') = (revoked_at IS NOT NULL))
);
CREATE INDEX agents_seen_idx ON nexplane.agents (tenant_id, last_seen_at);
ALTER TABLE nexplane.agents ENABLE ROW LEVEL SECURITY;
ALTER TABLE nexplane.agents FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON nexplane.agents
    USING (tenant_id = nexplane.current_tenant_id() OR nexplane.system_access())
    WITH CHECK (tenant_id = nexplane.current_tenant_id() OR nexplane.system_access());

CREATE TABLE nexplane.enrollment_tokens (
    tenant_id   uuid NOT NULL REFERENCES nexplane.tenants (id),
    id          uuid NOT NULL DEFAULT gen_random_uuid(),
    token_hash  bytea NOT NULL UNIQUE CHECK (length(token_hash) = 32),
    expires_at  timestamptz NOT NULL,
    used_at     timestamptz,
    agent_id    uuid,
    created_by  uuid,
    created_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, id),
    FOREIGN KEY (tenant_id, agent_id) REFERENCES nexplane.agents (tenant_id, id),
    FOREIGN KEY (tenant_id, created_by) REFERENCES nexplane.users (tenant_id, id),
    CHECK (expires_at > created_at)
);
ALTER TABLE nexplane.enrollment_tokens ENABLE ROW LEVEL SECURITY;
ALTER TABLE nexplane.enrollment_tokens FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON nexplane.enrollment_tokens
    USING (tenant_id = nexplane.current_tenant_id() OR nexplane.system_access())
    WITH CHECK (tenant_id = nexplane.current_tenant_id() OR nexplane.system_access());

CREATE TABLE nexplane.agent_commands (
    tenant_id         uuid NOT NULL REFERENCES nexplane.tenants (id),
    id                uuid NOT NULL DEFAULT gen_random_uuid(),
    agent_id          uuid NOT NULL,
    command           text NOT NULL CHECK (command ~ '^[a-z][a-z0-9_.]{0,63}$'),
    params            jsonb NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(params) = 'object'),
    state             text NOT NULL DEFAULT 'queued'
                      CHECK (state IN ('queued', 'sent', 'succeeded', 'failed', 'expired',
                                       'cancelled')),
    result            jsonb,
    change_request_id uuid,
    created_by        uuid,
    created_at        timestamptz NOT NULL DEFAULT now(),
    sent_at           timestamptz,
    finished_at       timestamptz,
    PRIMARY KEY (tenant_id, id),
    FOREIGN KEY (tenant_id, agent_id) REFERENCES nexplane.agents (tenant_id, id),
    FOREIGN KEY (tenant_id, change_request_id)
        REFERENCES nexplane.change_requests (tenant_id, id),
    FOREIGN KEY (tenant_id, created_by) REFERENCES nexplane.users (tenant_id, id)
);
CREATE INDEX agent_commands_queue_idx ON nexplane.agent_commands (tenant_id, agent_id, created_at)
    WHERE state = 'queued';
ALTER TABLE nexplane.agent_commands ENABLE ROW LEVEL SECURITY;
ALTER TABLE nexplane.agent_commands FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON nexplane.agent_commands
    USING (tenant_id = nexplane.current_tenant_id() OR nexplane.system_access())
    WITH CHECK (tenant_id = nexplane.current_tenant_id() OR nexplane.system_access());
