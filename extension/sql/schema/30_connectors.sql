-- Connectors (the source registry: who owns it, what it covers, how it is
-- doing) and the assets they discover.

CREATE TABLE nexplane.connectors (
    tenant_id       uuid NOT NULL REFERENCES nexplane.tenants (id),
    id              uuid NOT NULL DEFAULT gen_random_uuid(),
    type            text NOT NULL CHECK (type ~ '^[a-z][a-z0-9_]{0,39}$'),
    name            text NOT NULL CHECK (length(name) BETWEEN 1 AND 100),
    config          jsonb NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(config) = 'object'),
    credential_id   uuid,
    owner_id        uuid,
    scope           text CHECK (length(scope) <= 500),
    -- where it points: risk reads these, never only what a requester says
    environment     text NOT NULL DEFAULT 'unknown'
                    CHECK (environment IN ('production', 'staging', 'development', 'test', 'unknown')),
    tags            text[] NOT NULL DEFAULT '{}' CHECK (cardinality(tags) <= 20),
    status          text NOT NULL DEFAULT 'active'
                    CHECK (status IN ('active', 'disabled', 'error')),
    last_run_at     timestamptz,
    last_success_at timestamptz,
    last_error      text,
    -- the circuit breaker (bgworkers/job_breaker.c): consecutive failures,
    -- and while open, until when and for how long it opened last
    failures        integer NOT NULL DEFAULT 0 CHECK (failures >= 0),
    breaker_until   timestamptz,
    breaker_seconds integer CHECK (breaker_seconds BETWEEN 1 AND 900),
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, id),
    UNIQUE (tenant_id, name),
    FOREIGN KEY (tenant_id, credential_id) REFERENCES nexplane.credentials (tenant_id, id),
    FOREIGN KEY (tenant_id, owner_id) REFERENCES nexplane.users (tenant_id, id)
);
CREATE INDEX connectors_type_idx ON nexplane.connectors (tenant_id, type);
ALTER TABLE nexplane.connectors ENABLE ROW LEVEL SECURITY;
ALTER TABLE nexplane.connectors FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON nexplane.connectors
    USING (tenant_id = nexplane.current_tenant_id() OR nexplane.system_access())
    WITH CHECK (tenant_id = nexplane.current_tenant_id() OR nexplane.system_access());

CREATE TABLE nexplane.assets (
    tenant_id     uuid NOT NULL REFERENCES nexplane.tenants (id),
    id            uuid NOT NULL DEFAULT gen_random_uuid(),
    connector_id  uuid NOT NULL,
    kind          text NOT NULL CHECK (kind ~ '^[a-z][a-z0-9_]{0,39}$'),
    external_id   text NOT NULL CHECK (length(external_id) BETWEEN 1 AND 500),
    name          text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    environment   text NOT NULL DEFAULT 'unknown'
                  CHECK (environment IN ('production', 'staging', 'development', 'test', 'unknown')),
    tags          text[] NOT NULL DEFAULT '{}',
    attributes    jsonb NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(attributes) = 'object'),
    discovered_at timestamptz NOT NULL DEFAULT now(),
    last_seen_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, id),
    UNIQUE (tenant_id, connector_id, kind, external_id),
    FOREIGN KEY (tenant_id, connector_id) REFERENCES nexplane.connectors (tenant_id, id)
);
CREATE INDEX assets_environment_idx ON nexplane.assets (tenant_id, environment);
ALTER TABLE nexplane.assets ENABLE ROW LEVEL SECURITY;
ALTER TABLE nexplane.assets FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON nexplane.assets
    USING (tenant_id = nexplane.current_tenant_id() OR nexplane.system_access())
    WITH CHECK (tenant_id = nexplane.current_tenant_id() OR nexplane.system_access());
