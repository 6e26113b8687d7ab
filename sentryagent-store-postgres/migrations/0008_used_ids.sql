-- One-time ids already used (GitHub OIDC token ids), shared by every
-- instance on the database: the replay guard when no hot state (Redis) is
-- configured. Each row is kept until the id could no longer be replayed.
CREATE TABLE used_ids (
    id          text PRIMARY KEY,
    expires_at  timestamptz NOT NULL
);
CREATE INDEX used_ids_expires_at ON used_ids (expires_at);
