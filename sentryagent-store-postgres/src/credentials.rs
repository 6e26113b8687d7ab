use async_trait::async_trait;
use sentryagent_core::credential::{Credential, CredentialStatus};
use sentryagent_core::store::CredentialStore;
use sentryagent_core::{AgentId, CredentialId, StoreResult, TenantId};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::PgStore;
use crate::error::{ResultExt, corrupt};

macro_rules! credential_columns {
    () => {
        "id, tenant_id, agent_id, client_id, secret_hash, status, created_at, expires_at, rotated_at, revoked_at"
    };
}

#[derive(sqlx::FromRow)]
pub(crate) struct Row {
    id: Uuid,
    tenant_id: Uuid,
    agent_id: Uuid,
    client_id: String,
    secret_hash: Vec<u8>,
    status: String,
    created_at: OffsetDateTime,
    expires_at: Option<OffsetDateTime>,
    rotated_at: Option<OffsetDateTime>,
    revoked_at: Option<OffsetDateTime>,
}

impl TryFrom<Row> for Credential {
    type Error = sentryagent_core::StoreError;

    fn try_from(r: Row) -> StoreResult<Self> {
        Ok(Credential {
            id: CredentialId::from_uuid(r.id),
            tenant_id: TenantId::from_uuid(r.tenant_id),
            agent_id: AgentId::from_uuid(r.agent_id),
            client_id: r.client_id,
            secret_hash: r.secret_hash,
            status: CredentialStatus::parse(&r.status).ok_or_else(|| corrupt("unknown credential status"))?,
            created_at: r.created_at,
            expires_at: r.expires_at,
            rotated_at: r.rotated_at,
            revoked_at: r.revoked_at,
        })
    }
}

#[async_trait]
impl CredentialStore for PgStore {
    async fn insert_credential(&self, c: &Credential) -> StoreResult<()> {
        sqlx::query(concat!(
            "INSERT INTO credentials (",
            credential_columns!(),
            ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)"
        ))
        .bind(c.id.as_uuid())
        .bind(c.tenant_id.as_uuid())
        .bind(c.agent_id.as_uuid())
        .bind(&c.client_id)
        .bind(&c.secret_hash)
        .bind(c.status.as_str())
        .bind(c.created_at)
        .bind(c.expires_at)
        .bind(c.rotated_at)
        .bind(c.revoked_at)
        .execute(&self.pool)
        .await
        .store()?;
        Ok(())
    }

    async fn credential(&self, tenant: TenantId, id: CredentialId) -> StoreResult<Option<Credential>> {
        let row: Option<Row> = sqlx::query_as(concat!(
            "SELECT ",
            credential_columns!(),
            " FROM credentials WHERE tenant_id = $1 AND id = $2"
        ))
        .bind(tenant.as_uuid())
        .bind(id.as_uuid())
        .fetch_optional(&self.pool)
        .await
        .store()?;
        row.map(Credential::try_from).transpose()
    }

    async fn credential_by_client_id(&self, client_id: &str) -> StoreResult<Option<Credential>> {
        let row: Option<Row> = sqlx::query_as(concat!(
            "SELECT ",
            credential_columns!(),
            " FROM credentials WHERE client_id = $1"
        ))
        .bind(client_id)
        .fetch_optional(&self.pool)
        .await
        .store()?;
        row.map(Credential::try_from).transpose()
    }

    async fn list_credentials(&self, tenant: TenantId, agent: AgentId) -> StoreResult<Vec<Credential>> {
        let rows: Vec<Row> = sqlx::query_as(concat!(
            "SELECT ",
            credential_columns!(),
            " FROM credentials WHERE tenant_id = $1 AND agent_id = $2 ORDER BY id"
        ))
        .bind(tenant.as_uuid())
        .bind(agent.as_uuid())
        .fetch_all(&self.pool)
        .await
        .store()?;
        rows.into_iter().map(Credential::try_from).collect()
    }

    async fn update_credential(&self, c: &Credential) -> StoreResult<()> {
        sqlx::query(
            "UPDATE credentials SET secret_hash = $3, status = $4, expires_at = $5, rotated_at = $6, revoked_at = $7 \
             WHERE tenant_id = $1 AND id = $2",
        )
        .bind(c.tenant_id.as_uuid())
        .bind(c.id.as_uuid())
        .bind(&c.secret_hash)
        .bind(c.status.as_str())
        .bind(c.expires_at)
        .bind(c.rotated_at)
        .bind(c.revoked_at)
        .execute(&self.pool)
        .await
        .store()?;
        Ok(())
    }

    async fn revoke_agent_credentials(&self, tenant: TenantId, agent: AgentId, at: OffsetDateTime) -> StoreResult<u64> {
        let done = sqlx::query(
            "UPDATE credentials SET status = 'revoked', revoked_at = $3 \
             WHERE tenant_id = $1 AND agent_id = $2 AND status = 'active'",
        )
        .bind(tenant.as_uuid())
        .bind(agent.as_uuid())
        .bind(at)
        .execute(&self.pool)
        .await
        .store()?;
        Ok(done.rows_affected())
    }
}
