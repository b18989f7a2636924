-- The credential vault: per-tenant data keys wrapped by the master key,
-- and credentials whose secrets are AES-256-GCM blobs under a data key.

CREATE TABLE nexplane.tenant_keys (
    tenant_id      uuid NOT NULL REFERENCES nexplane.tenants (id),
    version        integer NOT NULL CHECK (version > 0),
    wrapped_key    bytea NOT NULL,
    kek_salt       bytea NOT NULL CHECK (length(kek_salt) >= 16),
    kek_iterations integer NOT NULL CHECK (kek_iterations >= 600000),
    master_key_id  text NOT NULL,
    status         text NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'retired')),
    created_at     timestamptz NOT NULL DEFAULT now(),
    retired_at     timestamptz,
    PRIMARY KEY (tenant_id, version)
);
CREATE UNIQUE INDEX tenant_keys_one_active ON nexplane.tenant_keys (tenant_id)
    WHERE status = 'active';
ALTER TABLE nexplane.tenant_keys ENABLE ROW LEVEL SECURITY;
ALTER TABLE nexplane.tenant_keys FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON nexplane.tenant_keys
    USING (tenant_id = nexplane.current_tenant_id() OR nexplane.system_access())
    WITH CHECK (tenant_id = nexplane.current_tenant_id() OR nexplane.system_access());

CREATE TABLE nexplane.credentials (
    tenant_id         uuid NOT NULL REFERENCES nexplane.tenants (id),
    id                uuid NOT NULL DEFAULT gen_random_uuid(),
    name              text NOT NULL CHECK (length(name) BETWEEN 1 AND 100),
    provider          text NOT NULL CHECK (provider ~ '^[a-z][a-z0-9_]{0,39}$'),
    mode              text NOT NULL DEFAULT 'stored' CHECK (mode IN ('stored', 'external')),
    external_ref      text CHECK (length(external_ref) <= 1000),
    secret_blob       text,
    key_version       integer,
    created_by        uuid,
    created_at        timestamptz NOT NULL DEFAULT now(),
    rotated_at        timestamptz,
    last_validated_at timestamptz,
    health            text NOT NULL DEFAULT 'unknown'
                      CHECK (health IN ('unknown', 'ok', 'failing')),
    health_detail     text,
    PRIMARY KEY (tenant_id, id),
    UNIQUE (tenant_id, name),
    FOREIGN KEY (tenant_id, key_version) REFERENCES nexplane.tenant_keys (tenant_id, version),
    FOREIGN KEY (tenant_id, created_by) REFERENCES nexplane.users (tenant_id, id),
    CHECK ((mode = 'stored') = (secret_blob IS NOT NULL AND key_version IS NOT NULL)),
    CHECK ((mode = 'external') = (external_ref IS NOT NULL))
);
ALTER TABLE nexplane.credentials ENABLE ROW LEVEL SECURITY;
ALTER TABLE nexplane.credentials FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON nexplane.credentials
    USING (tenant_id = nexplane.current_tenant_id() OR nexplane.system_access())
    WITH CHECK (tenant_id = nexplane.current_tenant_id() OR nexplane.system_access());

-- A rotation's other versions of a credential: the new secret, stored
-- before the target is touched (pending), and the one it replaced
-- (previous, kept for rollback).  The blob is bound to the credential like
-- its current one.  At most one of each per credential.
CREATE TABLE nexplane.credential_versions (
    tenant_id     uuid NOT NULL REFERENCES nexplane.tenants (id),
    credential_id uuid NOT NULL,
    status        text NOT NULL CHECK (status IN ('pending', 'previous')),
    secret_blob   text NOT NULL,
    key_version   integer NOT NULL,
    job_id        uuid,
    created_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, credential_id, status),
    FOREIGN KEY (tenant_id, credential_id) REFERENCES nexplane.credentials (tenant_id, id)
        ON DELETE CASCADE,
    FOREIGN KEY (tenant_id, key_version) REFERENCES nexplane.tenant_keys (tenant_id, version)
);
ALTER TABLE nexplane.credential_versions ENABLE ROW LEVEL SECURITY;
ALTER TABLE nexplane.credential_versions FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON nexplane.credential_versions
    USING (tenant_id = nexplane.current_tenant_id() OR nexplane.system_access())
    WITH CHECK (tenant_id = nexplane.current_tenant_id() OR nexplane.system_access());
