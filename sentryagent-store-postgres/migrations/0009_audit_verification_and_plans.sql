-- How far verification of each tenant's chain got (see the core's
-- `audit::progress`): the incremental verification goes on from
-- `seq`/`hash`, a full one under way from `run_*`. MACed by the server; a
-- row changed by hand is ignored (the next verification reads more).
CREATE TABLE audit_verifications (
    tenant_id        uuid PRIMARY KEY,
    seq              bigint NOT NULL,
    hash             bytea NOT NULL,
    full_passed_at   timestamptz,
    full_passed_seq  bigint NOT NULL,
    run_started_at   timestamptz,
    run_from_seq     bigint,
    run_seq          bigint,
    run_hash         bytea,
    run_checked      bigint,
    mac              bytea NOT NULL
);

-- `GET /audit?outcome=failure`, newest first: an ordered range of this
-- small index (failures only, so a successful event's insert does not
-- touch it), whatever the statistics say. `outcome=success` is asked as
-- `outcome <> 'failure'`, which the planner serves by walking the primary
-- key backwards.
CREATE INDEX audit_failures ON audit_events (tenant_id, seq DESC) WHERE outcome = 'failure';

-- The tenant's own agent search (`GET /agents?q=`, a substring of the name
-- or the description) indexed like the marketplace's: a trigram index,
-- when pg_trgm is there (0002 installs it when it can).
DO $$
DECLARE
    trgm_schema text;
BEGIN
    SELECT n.nspname INTO trgm_schema
    FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace
    WHERE e.extname = 'pg_trgm';
    IF trgm_schema IS NOT NULL THEN
        EXECUTE format(
            'CREATE INDEX agents_search ON agents USING gin (name %1$I.gin_trgm_ops, description %1$I.gin_trgm_ops) '
            'WITH (fastupdate = off)',
            trgm_schema
        );
    ELSE
        RAISE WARNING 'pg_trgm is unavailable; the tenant agent search will not be indexed';
    END IF;
END
$$;
