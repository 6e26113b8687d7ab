use std::collections::HashMap;

use async_trait::async_trait;
use sentryagent_core::agent::Agent;
use sentryagent_core::credential::{ClientKey, Credential, CredentialStatus};
use sentryagent_core::store::CredentialStore;
use sentryagent_core::{AgentId, CredentialId, StoreResult, TenantId};
use sqlx::PgConnection;
use time::OffsetDateTime;
use uuid::Uuid;

use crate::PgStore;
use crate::error::{ResultExt, corrupt};
use crate::lookups::{BatchFuture, Client};

macro_rules! credential_columns {
    () => {
        "id, tenant_id, agent_id, client_id, secret_hash, status, created_at, expires_at, rotated_at, revoked_at, public_jwk"
    };
}

#[derive(sqlx::FromRow)]
pub(crate) struct Row {
    id: Uuid,
    pub(crate) tenant_id: Uuid,
    agent_id: Uuid,
    client_id: String,
    secret_hash: Vec<u8>,
    status: String,
    created_at: OffsetDateTime,
    expires_at: Option<OffsetDateTime>,
    rotated_at: Option<OffsetDateTime>,
    revoked_at: Option<OffsetDateTime>,
    public_jwk: Option<serde_json::Value>,
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
            public_key: match r.public_jwk {
                None => None,
                Some(jwk) => Some(ClientKey::from_stored(jwk).ok_or_else(|| corrupt("unusable credential key"))?),
            },
        })
    }
}

#[derive(sqlx::FromRow)]
struct ClientRow {
    #[sqlx(flatten)]
    credential: Row,
    a_id: Option<Uuid>,
    a_name: Option<String>,
    a_description: Option<String>,
    a_capabilities: Option<Vec<String>>,
    a_metadata: Option<serde_json::Value>,
    a_scopes: Option<Vec<String>>,
    a_status: Option<String>,
    a_created_at: Option<OffsetDateTime>,
    a_updated_at: Option<OffsetDateTime>,
    a_listed: Option<bool>,
    a_origin: Option<serde_json::Value>,
}

/// The credentials with these client ids, each with its agent, in one
/// query: the token endpoint's read (see [`crate::lookups`]).
pub(crate) fn clients(conn: &mut PgConnection, client_ids: Vec<String>) -> BatchFuture<'_, String, Client> {
    Box::pin(async move {
        let rows: Vec<ClientRow> = sqlx::query_as(concat!(
            "SELECT c.id, c.tenant_id, c.agent_id, c.client_id, c.secret_hash, c.status, c.created_at, c.expires_at, ",
            "c.rotated_at, c.revoked_at, c.public_jwk, a.id AS a_id, a.name AS a_name, a.description AS a_description, ",
            "a.capabilities AS a_capabilities, a.metadata AS a_metadata, a.scopes AS a_scopes, a.status AS a_status, ",
            "a.created_at AS a_created_at, a.updated_at AS a_updated_at, a.listed AS a_listed, a.origin AS a_origin ",
            "FROM UNNEST($1::text[]) AS k(client_id) JOIN credentials c ON c.client_id = k.client_id ",
            "LEFT JOIN agents a ON a.tenant_id = c.tenant_id AND a.id = c.agent_id"
        ))
        .bind(client_ids)
        .fetch_all(&mut *conn)
        .await
        .store()?;
        let mut found = HashMap::with_capacity(rows.len());
        for row in rows {
            let agent = match row.a_id {
                Some(id) => Some(
                    crate::agents::Row {
                        tenant_id: row.credential.tenant_id,
                        id,
                        name: row.a_name.unwrap_or_default(),
                        description: row.a_description.unwrap_or_default(),
                        capabilities: row.a_capabilities.unwrap_or_default(),
                        metadata: row.a_metadata.unwrap_or(serde_json::Value::Null),
                        scopes: row.a_scopes.unwrap_or_default(),
                        status: row.a_status.unwrap_or_default(),
                        listed: row.a_listed.unwrap_or_default(),
                        origin: row.a_origin,
                        created_at: row.a_created_at.unwrap_or(OffsetDateTime::UNIX_EPOCH),
                        updated_at: row.a_updated_at.unwrap_or(OffsetDateTime::UNIX_EPOCH),
                    }
                    .try_into()?,
                ),
                None => None,
            };
            let credential = Credential::try_from(row.credential)?;
            found.insert(credential.client_id.clone(), (credential, agent));
        }
        Ok(found)
    })
}

#[async_trait]
impl CredentialStore for PgStore {
    async fn insert_credential(&self, c: &Credential) -> StoreResult<()> {
        sqlx::query(concat!(
            "INSERT INTO credentials (",
            credential_columns!(),
            ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)"
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
        .bind(c.public_key.as_ref().map(|k| k.jwk().clone()))
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

    async fn client(&self, client_id: &str) -> StoreResult<Option<(Credential, Option<Agent>)>> {
        self.reads.clients.get(&self.warm, client_id.to_owned()).await
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
