-- The public marketplace and agents' DIDs.

-- Agents are listed by default; a tenant opts one out. Built-in agents (each
-- tenant's admin and OIDC bootstrap agent) never are. (On a database that
-- already has later migrations this one runs after them: it only adds.)
ALTER TABLE agents ADD COLUMN listed boolean NOT NULL DEFAULT true;
UPDATE agents SET listed = false
WHERE name IN ('admin@sentryagent.local', 'oidc-bootstrap@sentryagent.local');

-- Public reads find an agent by id alone (its DID document, its listing):
-- ids are unique across tenants.
CREATE UNIQUE INDEX agents_by_id ON agents (id);

-- Marketplace pages: keyset by id over the listed agents, and the
-- capability filter. The GIN indexes take writes directly (fastupdate off):
-- agents are registered rarely, and a pending list of unindexed entries
-- would make the planner shun the index until the next vacuum.
CREATE INDEX agents_listed_by_id ON agents (id) WHERE listed AND status = 'active';
CREATE INDEX agents_listed_capabilities ON agents USING gin (capabilities) WITH (fastupdate = off)
    WHERE listed AND status = 'active';

-- Marketplace search (`ILIKE '%word%'` on the name and the description): a
-- trigram index, when pg_trgm can be had. The extension is database-wide, so
-- it goes into `public` (not this store's schema, whose DROP ... CASCADE
-- would take it from every other schema too), unless it is installed
-- already, wherever that is. Without it (no privilege, not shipped with the
-- server) the search still works, by scanning the listed agents.
DO $$
DECLARE
    trgm_schema text;
BEGIN
    BEGIN
        CREATE EXTENSION IF NOT EXISTS pg_trgm WITH SCHEMA public;
    EXCEPTION WHEN OTHERS THEN
        RAISE WARNING 'pg_trgm is unavailable (%); marketplace search will not be indexed', SQLERRM;
    END;
    SELECT n.nspname INTO trgm_schema
    FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace
    WHERE e.extname = 'pg_trgm';
    IF trgm_schema IS NOT NULL THEN
        EXECUTE format(
            'CREATE INDEX agents_listed_search ON agents USING gin (name %1$I.gin_trgm_ops, description %1$I.gin_trgm_ops) '
            'WITH (fastupdate = off) WHERE listed AND status = ''active''',
            trgm_schema
        );
    END IF;
END
$$;

-- Public keys registered for agents: their DIDs' verification methods.
-- `id` is the key's RFC 7638 thumbprint.
CREATE TABLE agent_keys (
    tenant_id   uuid NOT NULL,
    agent_id    uuid NOT NULL,
    id          text NOT NULL,
    jwk         jsonb NOT NULL,
    created_at  timestamptz NOT NULL,
    PRIMARY KEY (tenant_id, agent_id, id)
);
