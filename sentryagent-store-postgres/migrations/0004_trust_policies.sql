-- OIDC trust policies (workload identity federation). The token endpoint
-- looks policies up by provider and repository owner before it knows the
-- tenant, so that pair is indexed across tenants.

CREATE TABLE trust_policies (
    tenant_id            uuid NOT NULL,
    id                   uuid NOT NULL,
    provider             text NOT NULL,
    repository           text NOT NULL,
    owner_key            text GENERATED ALWAYS AS (lower(split_part(repository, '/', 1))) STORED,
    agent_id             uuid,
    repository_id        text,
    repository_owner_id  text,
    pinned_at            timestamptz,
    branch               text,
    ref_pattern          text,
    ref_type             text,
    environment          text,
    job_workflow_ref     text,
    allowed_events       text[],
    denied_events        text[] NOT NULL,
    description          text NOT NULL,
    created_at           timestamptz NOT NULL,
    PRIMARY KEY (tenant_id, id),
    UNIQUE (id)
);
CREATE INDEX trust_policies_by_owner ON trust_policies (provider, owner_key, id);
