-- The authorization-code flow (people acting through MCP clients): its
-- clients, one-use codes, grants with their refresh-token families, and
-- remembered consents. Codes and refresh tokens are stored only as keyed
-- hashes of the secrets.

-- Clients, one record per tenant (a metadata-document client used with two
-- tenants is two rows). Client ids compare byte-wise (COLLATE "C"), as
-- every other store orders them.
CREATE TABLE oauth_clients (
    tenant_id            uuid NOT NULL,
    client_id            text COLLATE "C" NOT NULL,
    kind                 text NOT NULL,
    auth_method          text NOT NULL,
    secret_hash          bytea,
    redirect_uris        text[] NOT NULL,
    grant_types          text[] NOT NULL,
    name                 text,
    logo_uri             text,
    client_uri           text,
    created_at           timestamptz NOT NULL,
    updated_at           timestamptz NOT NULL,
    last_used_at         timestamptz,
    metadata_expires_at  timestamptz,
    PRIMARY KEY (tenant_id, client_id)
);
-- Unused dynamically registered clients are deleted by age.
CREATE INDEX oauth_clients_unused ON oauth_clients (kind, (coalesce(last_used_at, created_at)));

-- A grant: one user's authorization of one client; its refresh tokens are
-- one family, ended together by revoking it.
CREATE TABLE oauth_grants (
    id          uuid PRIMARY KEY,
    tenant_id   uuid NOT NULL,
    client_id   text NOT NULL,
    subject     text NOT NULL,
    scopes      text[] NOT NULL,
    resources   text[] NOT NULL,
    created_at  timestamptz NOT NULL,
    expires_at  timestamptz NOT NULL,
    revoked_at  timestamptz
);
CREATE INDEX oauth_grants_by_subject ON oauth_grants (tenant_id, subject, client_id);
CREATE INDEX oauth_grants_by_client ON oauth_grants (tenant_id, client_id);
CREATE INDEX oauth_grants_expires_at ON oauth_grants (expires_at);

-- One-use codes; a redeemed code is kept until it expires, so a replay is
-- recognised (and revokes its grant).
CREATE TABLE oauth_codes (
    code_hash       bytea PRIMARY KEY,
    grant_id        uuid NOT NULL REFERENCES oauth_grants (id) ON DELETE CASCADE,
    redirect_uri    text NOT NULL,
    code_challenge  text NOT NULL,
    created_at      timestamptz NOT NULL,
    expires_at      timestamptz NOT NULL,
    redeemed_at     timestamptz
);
CREATE INDEX oauth_codes_grant ON oauth_codes (grant_id);
CREATE INDEX oauth_codes_expires_at ON oauth_codes (expires_at);

CREATE TABLE oauth_refresh_tokens (
    token_hash  bytea PRIMARY KEY,
    grant_id    uuid NOT NULL REFERENCES oauth_grants (id) ON DELETE CASCADE,
    created_at  timestamptz NOT NULL,
    expires_at  timestamptz NOT NULL,
    rotated_at  timestamptz
);
CREATE INDEX oauth_refresh_tokens_grant ON oauth_refresh_tokens (grant_id);

-- Consents, one per user, client and resource, with the scopes allowed.
CREATE TABLE oauth_consents (
    id          uuid PRIMARY KEY,
    tenant_id   uuid NOT NULL,
    subject     text NOT NULL,
    client_id   text NOT NULL,
    resource    text NOT NULL,
    scopes      text[] NOT NULL,
    created_at  timestamptz NOT NULL,
    updated_at  timestamptz NOT NULL,
    UNIQUE (tenant_id, subject, client_id, resource)
);
CREATE INDEX oauth_consents_by_tenant ON oauth_consents (tenant_id, id);
