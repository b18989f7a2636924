-- Tenants, users, login sessions, refresh tokens and API keys.
--
-- Every tenant table: tenant_id first in the primary key and in each
-- foreign key (so the schema distributes by tenant under Citus), forced
-- row-level security keyed on nexplane.current_tenant_id().

CREATE TABLE nexplane.tenants (
    id          uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    slug        text NOT NULL UNIQUE
                CHECK (slug ~ '^[a-z0-9][a-z0-9-]{0,61}[a-z0-9]$'),
    name        text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    status      text NOT NULL DEFAULT 'active'
                CHECK (status IN ('active', 'suspended')),
    settings    jsonb NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(settings) = 'object'),
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now()
);
ALTER TABLE nexplane.tenants ENABLE ROW LEVEL SECURITY;
ALTER TABLE nexplane.tenants FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON nexplane.tenants
    USING (id = nexplane.current_tenant_id() OR nexplane.system_access())
    WITH CHECK (id = nexplane.current_tenant_id() OR nexplane.system_access());

CREATE TABLE nexplane.users (
    tenant_id     uuid NOT NULL REFERENCES nexplane.tenants (id),
    id            uuid NOT NULL DEFAULT gen_random_uuid(),
    email         text NOT NULL
                  CHECK (length(email) BETWEEN 3 AND 254 AND position('@' IN email) > 1),
    display_name  text CHECK (length(display_name) <= 200),
    password_hash text NOT NULL,
    role          text NOT NULL
                  CHECK (role IN ('admin', 'operator', 'approver', 'viewer', 'superadmin')),
    status        text NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'disabled')),
    last_login_at timestamptz,
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, id)
);
CREATE UNIQUE INDEX users_tenant_email_key ON nexplane.users (tenant_id, lower(email));
CREATE INDEX users_email_idx ON nexplane.users (lower(email));
ALTER TABLE nexplane.users ENABLE ROW LEVEL SECURITY;
ALTER TABLE nexplane.users FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON nexplane.users
    USING (tenant_id = nexplane.current_tenant_id() OR nexplane.system_access())
    WITH CHECK (tenant_id = nexplane.current_tenant_id() OR nexplane.system_access());

CREATE TABLE nexplane.sessions (
    tenant_id   uuid NOT NULL,
    id          uuid NOT NULL DEFAULT gen_random_uuid(),
    user_id     uuid NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    expires_at  timestamptz NOT NULL,
    revoked_at  timestamptz,
    PRIMARY KEY (tenant_id, id),
    FOREIGN KEY (tenant_id, user_id) REFERENCES nexplane.users (tenant_id, id),
    CHECK (expires_at > created_at)
);
CREATE INDEX sessions_user_idx ON nexplane.sessions (tenant_id, user_id);
ALTER TABLE nexplane.sessions ENABLE ROW LEVEL SECURITY;
ALTER TABLE nexplane.sessions FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON nexplane.sessions
    USING (tenant_id = nexplane.current_tenant_id() OR nexplane.system_access())
    WITH CHECK (tenant_id = nexplane.current_tenant_id() OR nexplane.system_access());

-- One row per refresh token ever issued: each is good once (rotation).
CREATE TABLE nexplane.refresh_tokens (
    tenant_id   uuid NOT NULL,
    id          uuid NOT NULL DEFAULT gen_random_uuid(),
    session_id  uuid NOT NULL,
    token_hash  bytea NOT NULL UNIQUE CHECK (length(token_hash) = 32),
    created_at  timestamptz NOT NULL DEFAULT now(),
    expires_at  timestamptz NOT NULL,
    used_at     timestamptz,
    PRIMARY KEY (tenant_id, id),
    FOREIGN KEY (tenant_id, session_id) REFERENCES nexplane.sessions (tenant_id, id)
);
CREATE INDEX refresh_tokens_session_idx ON nexplane.refresh_tokens (tenant_id, session_id);
ALTER TABLE nexplane.refresh_tokens ENABLE ROW LEVEL SECURITY;
ALTER TABLE nexplane.refresh_tokens FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON nexplane.refresh_tokens
    USING (tenant_id = nexplane.current_tenant_id() OR nexplane.system_access())
    WITH CHECK (tenant_id = nexplane.current_tenant_id() OR nexplane.system_access());

-- API keys: "nxp_" + 43 base64url characters, stored as SHA-256 (the key
-- has 256 random bits, so a slow hash adds nothing but latency).
CREATE TABLE nexplane.api_keys (
    tenant_id    uuid NOT NULL,
    id           uuid NOT NULL DEFAULT gen_random_uuid(),
    user_id      uuid NOT NULL,
    name         text NOT NULL CHECK (length(name) BETWEEN 1 AND 100),
    key_prefix   text NOT NULL,
    key_hash     bytea NOT NULL UNIQUE CHECK (length(key_hash) = 32),
    scopes       text[] NOT NULL
                 CHECK (cardinality(scopes) > 0 AND scopes <@ ARRAY['read', 'write']),
    -- every key expires, within a year of its making
    expires_at   timestamptz NOT NULL DEFAULT now() + interval '90 days',
    revoked_at   timestamptz,
    last_used_at timestamptz,
    created_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, id),
    FOREIGN KEY (tenant_id, user_id) REFERENCES nexplane.users (tenant_id, id),
    CHECK (expires_at <= created_at + interval '1 year')
);
CREATE INDEX api_keys_user_idx ON nexplane.api_keys (tenant_id, user_id, created_at);
ALTER TABLE nexplane.api_keys ENABLE ROW LEVEL SECURITY;
ALTER TABLE nexplane.api_keys FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON nexplane.api_keys
    USING (tenant_id = nexplane.current_tenant_id() OR nexplane.system_access())
    WITH CHECK (tenant_id = nexplane.current_tenant_id() OR nexplane.system_access());
