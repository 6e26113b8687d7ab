//! [`TrustPolicyStore`] on PostgreSQL. Pinning on first use is one
//! conditional `UPDATE … RETURNING`, so concurrent first exchanges agree on
//! one winner.

use async_trait::async_trait;
use sentryagent_core::federation::{IssuerTrust, Provider, RefType, TrustPolicy};
use sentryagent_core::store::TrustPolicyStore;
use sentryagent_core::{AgentId, StoreResult, TenantId, TrustPolicyId};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::PgStore;
use crate::error::{ResultExt, corrupt};

macro_rules! columns {
    () => {
        "tenant_id, id, provider, repository, agent_id, repository_id, repository_owner_id, pinned_at, branch, \
         ref_pattern, ref_type, environment, job_workflow_ref, allowed_events, denied_events, description, created_at, max_scopes, \
         issuer, audience, subject, claim_conditions"
    };
}

#[derive(sqlx::FromRow)]
struct Row {
    tenant_id: Uuid,
    id: Uuid,
    provider: String,
    repository: String,
    agent_id: Option<Uuid>,
    repository_id: Option<String>,
    repository_owner_id: Option<String>,
    pinned_at: Option<OffsetDateTime>,
    branch: Option<String>,
    ref_pattern: Option<String>,
    ref_type: Option<String>,
    environment: Option<String>,
    job_workflow_ref: Option<String>,
    allowed_events: Option<Vec<String>>,
    denied_events: Vec<String>,
    description: String,
    created_at: OffsetDateTime,
    max_scopes: Vec<String>,
    issuer: Option<String>,
    audience: Option<String>,
    subject: Option<String>,
    claim_conditions: Option<serde_json::Value>,
}

impl TryFrom<Row> for TrustPolicy {
    type Error = sentryagent_core::StoreError;

    fn try_from(r: Row) -> StoreResult<Self> {
        let ref_type = match r.ref_type.as_deref() {
            None => None,
            Some(t) => Some(RefType::parse(t).ok_or_else(|| corrupt("unknown trust policy ref type"))?),
        };
        Ok(TrustPolicy {
            id: TrustPolicyId::from_uuid(r.id),
            tenant_id: TenantId::from_uuid(r.tenant_id),
            provider: Provider::parse(&r.provider).ok_or_else(|| corrupt("unknown trust policy provider"))?,
            repository: r.repository,
            agent_id: r.agent_id.map(AgentId::from_uuid),
            repository_id: r.repository_id,
            repository_owner_id: r.repository_owner_id,
            pinned_at: r.pinned_at,
            branch: r.branch,
            ref_pattern: r.ref_pattern,
            ref_type,
            environment: r.environment,
            job_workflow_ref: r.job_workflow_ref,
            allowed_events: r.allowed_events,
            denied_events: r.denied_events,
            description: r.description,
            max_scopes: r.max_scopes,
            issuer: match r.issuer {
                None => None,
                Some(issuer) => Some(IssuerTrust {
                    issuer,
                    audience: r.audience,
                    subject: r.subject,
                    claims: match r.claim_conditions {
                        None => Default::default(),
                        Some(c) => serde_json::from_value(c).map_err(|_| corrupt("malformed trust policy claims"))?,
                    },
                }),
            },
            created_at: r.created_at,
        })
    }
}

fn policies(rows: Vec<Row>) -> StoreResult<Vec<TrustPolicy>> {
    rows.into_iter().map(TrustPolicy::try_from).collect()
}

fn limit(n: usize) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

#[async_trait]
impl TrustPolicyStore for PgStore {
    async fn insert_trust_policy(&self, p: &TrustPolicy) -> StoreResult<()> {
        sqlx::query(concat!(
            "INSERT INTO trust_policies (",
            columns!(),
            ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21, $22)"
        ))
        .bind(p.tenant_id.as_uuid())
        .bind(p.id.as_uuid())
        .bind(p.provider.as_str())
        .bind(&p.repository)
        .bind(p.agent_id.map(|a| *a.as_uuid()))
        .bind(&p.repository_id)
        .bind(&p.repository_owner_id)
        .bind(p.pinned_at)
        .bind(&p.branch)
        .bind(&p.ref_pattern)
        .bind(p.ref_type.map(RefType::as_str))
        .bind(&p.environment)
        .bind(&p.job_workflow_ref)
        .bind(&p.allowed_events)
        .bind(&p.denied_events)
        .bind(&p.description)
        .bind(p.created_at)
        .bind(&p.max_scopes)
        .bind(p.issuer.as_ref().map(|t| t.issuer.as_str()))
        .bind(p.issuer.as_ref().and_then(|t| t.audience.as_deref()))
        .bind(p.issuer.as_ref().and_then(|t| t.subject.as_deref()))
        .bind(p.issuer.as_ref().map(|t| serde_json::json!(t.claims)))
        .execute(&self.pool)
        .await
        .store()?;
        Ok(())
    }

    async fn trust_policy(&self, tenant: TenantId, id: TrustPolicyId) -> StoreResult<Option<TrustPolicy>> {
        let row: Option<Row> = sqlx::query_as(concat!(
            "SELECT ",
            columns!(),
            " FROM trust_policies WHERE tenant_id = $1 AND id = $2"
        ))
        .bind(tenant.as_uuid())
        .bind(id.as_uuid())
        .fetch_optional(&self.pool)
        .await
        .store()?;
        row.map(TrustPolicy::try_from).transpose()
    }

    async fn list_trust_policies(
        &self,
        tenant: TenantId,
        after: Option<TrustPolicyId>,
        n: usize,
    ) -> StoreResult<Vec<TrustPolicy>> {
        let rows: Vec<Row> = sqlx::query_as(concat!(
            "SELECT ",
            columns!(),
            " FROM trust_policies WHERE tenant_id = $1 AND ($2::uuid IS NULL OR id > $2) ORDER BY id LIMIT $3"
        ))
        .bind(tenant.as_uuid())
        .bind(after.map(|a| *a.as_uuid()))
        .bind(limit(n))
        .fetch_all(&self.pool)
        .await
        .store()?;
        policies(rows)
    }

    async fn delete_trust_policy(&self, tenant: TenantId, id: TrustPolicyId) -> StoreResult<bool> {
        let done = sqlx::query("DELETE FROM trust_policies WHERE tenant_id = $1 AND id = $2")
            .bind(tenant.as_uuid())
            .bind(id.as_uuid())
            .execute(&self.pool)
            .await
            .store()?;
        Ok(done.rows_affected() > 0)
    }

    async fn trust_policies_for_owner(
        &self,
        provider: Provider,
        owner: &str,
        tenant: Option<TenantId>,
        n: usize,
    ) -> StoreResult<Vec<TrustPolicy>> {
        let rows: Vec<Row> = sqlx::query_as(concat!(
            "SELECT ",
            columns!(),
            " FROM trust_policies WHERE provider = $1 AND owner_key = $2 AND ($3::uuid IS NULL OR tenant_id = $3) \
             ORDER BY id LIMIT $4"
        ))
        .bind(provider.as_str())
        .bind(owner)
        .bind(tenant.map(|t| *t.as_uuid()))
        .bind(limit(n))
        .fetch_all(&self.pool)
        .await
        .store()?;
        policies(rows)
    }

    async fn pin_trust_policy(
        &self,
        tenant: TenantId,
        id: TrustPolicyId,
        repository_id: Option<&str>,
        owner_id: Option<&str>,
        at: OffsetDateTime,
    ) -> StoreResult<Option<TrustPolicy>> {
        // Right-hand sides see the row as it was before this UPDATE.
        let row: Option<Row> = sqlx::query_as(concat!(
            "UPDATE trust_policies SET \
               repository_id = COALESCE(repository_id, $3), \
               repository_owner_id = COALESCE(repository_owner_id, $4), \
               pinned_at = CASE WHEN (repository_id IS NULL AND $3::text IS NOT NULL) \
                                  OR (repository_owner_id IS NULL AND $4::text IS NOT NULL) \
                                THEN $5 ELSE pinned_at END \
             WHERE tenant_id = $1 AND id = $2 RETURNING ",
            columns!()
        ))
        .bind(tenant.as_uuid())
        .bind(id.as_uuid())
        .bind(repository_id)
        .bind(owner_id)
        .bind(at)
        .fetch_optional(&self.pool)
        .await
        .store()?;
        row.map(TrustPolicy::try_from).transpose()
    }
}
