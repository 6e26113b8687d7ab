-- SentryAgent's tables. They live in the store's own schema (the connection's
-- search_path), beside our own migrations table, so a host application's
-- migrations on the same database never collide with ours.

CREATE TABLE tenants (
    id          uuid PRIMARY KEY,
    name        text NOT NULL,
    tier        text NOT NULL,
    created_at  timestamptz NOT NULL
);

CREATE TABLE agents (
    tenant_id     uuid NOT NULL,
    id            uuid NOT NULL,
    name          text NOT NULL,
    description   text NOT NULL,
    capabilities  text[] NOT NULL,
    metadata      jsonb NOT NULL,
    scopes        text[] NOT NULL,
    status        text NOT NULL,
    created_at    timestamptz NOT NULL,
    updated_at    timestamptz NOT NULL,
    PRIMARY KEY (tenant_id, id),
    UNIQUE (tenant_id, name)
);

CREATE TABLE credentials (
    id           uuid PRIMARY KEY,
    tenant_id    uuid NOT NULL,
    agent_id     uuid NOT NULL,
    client_id    text NOT NULL UNIQUE,
    secret_hash  bytea NOT NULL,
    status       text NOT NULL,
    created_at   timestamptz NOT NULL,
    expires_at   timestamptz,
    rotated_at   timestamptz,
    revoked_at   timestamptz
);
CREATE INDEX credentials_by_agent ON credentials (tenant_id, agent_id, id);

-- One hash chain per tenant; (tenant_id, seq) is gap-free from 1.
CREATE TABLE audit_events (
    tenant_id  uuid NOT NULL,
    seq        bigint NOT NULL,
    id         uuid NOT NULL,
    agent_id   uuid,
    actor      text NOT NULL,
    action     text NOT NULL,
    outcome    text NOT NULL,
    ip         text,
    at         timestamptz NOT NULL,
    details    jsonb NOT NULL,
    prev_hash  bytea NOT NULL,
    hash       bytea NOT NULL,
    PRIMARY KEY (tenant_id, seq)
);
-- Keyset pages newest first, by the filters the API offers.
CREATE INDEX audit_by_agent ON audit_events (tenant_id, agent_id, seq DESC);
CREATE INDEX audit_by_action ON audit_events (tenant_id, action, seq DESC);
CREATE INDEX audit_by_time ON audit_events (tenant_id, at);

-- The chain's head (checkpoint), locked by every append.
CREATE TABLE audit_heads (
    tenant_id  uuid PRIMARY KEY,
    seq        bigint NOT NULL,
    hash       bytea NOT NULL,
    mac        bytea NOT NULL
);

-- Where retention cut the chain.
CREATE TABLE audit_anchors (
    tenant_id  uuid PRIMARY KEY,
    seq        bigint NOT NULL,
    hash       bytea NOT NULL,
    mac        bytea NOT NULL
);

-- Private keys are AES-256-GCM encrypted with the key-encryption key.
CREATE TABLE signing_keys (
    kid            text PRIMARY KEY,
    algorithm      text NOT NULL,
    private_key    bytea NOT NULL,
    state          text NOT NULL,
    created_at     timestamptz NOT NULL,
    retire_after   timestamptz
);

CREATE TABLE revoked_tokens (
    jti         uuid PRIMARY KEY,
    expires_at  timestamptz NOT NULL
);
CREATE INDEX revoked_tokens_by_expiry ON revoked_tokens (expires_at);
