-- Host agents (docs/agent.md): the installation's agent CA, one-time
-- enrollment tokens, the agents with their certificates, every public
-- key ever enrolled, and the typed commands queued for them.

-- The agent CA: one row per installation, not per tenant.  Its private key
-- (PKCS#8 DER) is stored only encrypted, AES-256-GCM under a key derived
-- from the master key (pki.c); nothing returns it.  No tenant_id: no
-- tenant owns it, and no role but the owner reads it (system access only).
CREATE TABLE nexplane.agent_ca (
    id             integer PRIMARY KEY DEFAULT 1 CHECK (id = 1),
    cert_pem       text NOT NULL,
    ca_pin         text NOT NULL CHECK (ca_pin ~ '^sha256:[0-9a-f]{64}$'),
    wrapped_key    bytea NOT NULL,
    master_key_id  text NOT NULL,
    created_at     timestamptz NOT NULL DEFAULT now()
);
ALTER TABLE nexplane.agent_ca ENABLE ROW LEVEL SECURITY;
ALTER TABLE nexplane.agent_ca FORCE ROW LEVEL SECURITY;
CREATE POLICY system_only ON nexplane.agent_ca
    USING (nexplane.system_access()) WITH CHECK (nexplane.system_access());

-- status: online (seen within nexplane.agent_offline_after), offline,
-- revoked (by an admin, for good) or locked (a cloned identity was seen).
-- The current certificate is cert_*; during a renewal the previous one
-- (prev_*) keeps working until the new one is first used (new_cert_used).
CREATE TABLE nexplane.agents (
    tenant_id        uuid NOT NULL REFERENCES nexplane.tenants (id),
    id               uuid NOT NULL DEFAULT gen_random_uuid(),
    hostname         text NOT NULL CHECK (length(hostname) BETWEEN 1 AND 253),
    facts            jsonb NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(facts) = 'object'),
    generation       integer NOT NULL DEFAULT 1 CHECK (generation >= 1),
    cert_serial      text,
    cert_fingerprint text UNIQUE CHECK (cert_fingerprint ~ '^[0-9a-f]{64}$'),
    cert_not_after   timestamptz,
    prev_fingerprint text UNIQUE CHECK (prev_fingerprint ~ '^[0-9a-f]{64}$'),
    prev_not_after   timestamptz,
    new_cert_used    boolean NOT NULL DEFAULT true,
    status           text NOT NULL DEFAULT 'online'
                     CHECK (status IN ('online', 'offline', 'revoked', 'locked')),
    status_reason    text,
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

-- Every public key ever enrolled or renewed to (SHA-256 of its DER
-- SubjectPublicKeyInfo), in every tenant: a key is enrolled once, so a
-- revoked agent cannot come back with it.
CREATE TABLE nexplane.agent_keys (
    tenant_id   uuid NOT NULL REFERENCES nexplane.tenants (id),
    key_sha256  bytea NOT NULL CHECK (length(key_sha256) = 32),
    agent_id    uuid NOT NULL,
    seen_at     timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, key_sha256),
    FOREIGN KEY (tenant_id, agent_id) REFERENCES nexplane.agents (tenant_id, id)
);
CREATE UNIQUE INDEX agent_keys_once ON nexplane.agent_keys (key_sha256);
ALTER TABLE nexplane.agent_keys ENABLE ROW LEVEL SECURITY;
ALTER TABLE nexplane.agent_keys FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON nexplane.agent_keys
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
    CHECK (expires_at > created_at),
    CHECK ((used_at IS NULL) = (agent_id IS NULL))
);
ALTER TABLE nexplane.enrollment_tokens ENABLE ROW LEVEL SECURITY;
ALTER TABLE nexplane.enrollment_tokens FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON nexplane.enrollment_tokens
    USING (tenant_id = nexplane.current_tenant_id() OR nexplane.system_access())
    WITH CHECK (tenant_id = nexplane.current_tenant_id() OR nexplane.system_access());

-- A command's states follow the agent's reports (docs/agent.md):
--   queued -> sent -> running -> succeeded | failed | refused
--                             -> applied -> confirmed | reverted
-- and expired (never sent before its job gave up) or cancelled.
-- applied_polled: the agent polled again after reporting applied (it
-- still reaches the control plane after the change), which with a passed
-- check makes agent_poll confirm it.
CREATE TABLE nexplane.agent_commands (
    tenant_id         uuid NOT NULL REFERENCES nexplane.tenants (id),
    id                uuid NOT NULL DEFAULT gen_random_uuid(),
    agent_id          uuid NOT NULL,
    command           text NOT NULL CHECK (command ~ '^[a-z][a-z0-9_.]{0,63}$'),
    params            jsonb NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(params) = 'object'),
    timeout_s         integer NOT NULL DEFAULT 60 CHECK (timeout_s BETWEEN 1 AND 300),
    confirm_within_s  integer CHECK (confirm_within_s BETWEEN 10 AND 3600),
    state             text NOT NULL DEFAULT 'queued'
                      CHECK (state IN ('queued', 'sent', 'running', 'applied', 'succeeded',
                                       'failed', 'refused', 'confirmed', 'reverted',
                                       'expired', 'cancelled')),
    progress          integer CHECK (progress BETWEEN 0 AND 100),
    result            jsonb,
    error             text,
    applied_polled    boolean NOT NULL DEFAULT false,
    check_passed      boolean,
    change_request_id uuid,
    created_by        uuid,
    created_at        timestamptz NOT NULL DEFAULT now(),
    sent_at           timestamptz,
    applied_at        timestamptz,
    confirm_sent_at   timestamptz,
    finished_at       timestamptz,
    PRIMARY KEY (tenant_id, id),
    FOREIGN KEY (tenant_id, agent_id) REFERENCES nexplane.agents (tenant_id, id),
    FOREIGN KEY (tenant_id, change_request_id)
        REFERENCES nexplane.change_requests (tenant_id, id),
    FOREIGN KEY (tenant_id, created_by) REFERENCES nexplane.users (tenant_id, id),
    CHECK ((finished_at IS NOT NULL) =
           (state IN ('succeeded', 'failed', 'refused', 'confirmed', 'reverted', 'expired',
                      'cancelled')))
);
CREATE INDEX agent_commands_open_idx ON nexplane.agent_commands (tenant_id, agent_id, created_at)
    WHERE finished_at IS NULL;
CREATE INDEX agent_commands_finished_idx ON nexplane.agent_commands (finished_at)
    WHERE finished_at IS NOT NULL;
ALTER TABLE nexplane.agent_commands ENABLE ROW LEVEL SECURITY;
ALTER TABLE nexplane.agent_commands FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON nexplane.agent_commands
    USING (tenant_id = nexplane.current_tenant_id() OR nexplane.system_access())
    WITH CHECK (tenant_id = nexplane.current_tenant_id() OR nexplane.system_access());
