use std::collections::HashMap;

use async_trait::async_trait;
use sentryagent_core::agent::{Agent, AgentQuery, AgentStatus};
use sentryagent_core::store::AgentStore;
use sentryagent_core::{AgentId, StoreResult, TenantId};
use sqlx::{PgConnection, Postgres, QueryBuilder};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::PgStore;
use crate::error::{ResultExt, corrupt};
use crate::lookups::BatchFuture;

macro_rules! agent_columns {
    () => {
        "tenant_id, id, name, description, capabilities, metadata, scopes, status, listed, created_at, updated_at, origin"
    };
}

#[derive(sqlx::FromRow)]
pub(crate) struct Row {
    pub(crate) tenant_id: Uuid,
    pub(crate) id: Uuid,
    pub(crate) name: String,
    pub(crate) description: String,
    pub(crate) capabilities: Vec<String>,
    pub(crate) metadata: serde_json::Value,
    pub(crate) scopes: Vec<String>,
    pub(crate) status: String,
    pub(crate) listed: bool,
    pub(crate) created_at: OffsetDateTime,
    pub(crate) updated_at: OffsetDateTime,
    pub(crate) origin: Option<serde_json::Value>,
}

impl TryFrom<Row> for Agent {
    type Error = sentryagent_core::StoreError;

    fn try_from(r: Row) -> StoreResult<Self> {
        let serde_json::Value::Object(metadata) = r.metadata else {
            return Err(corrupt("agent metadata is not an object"));
        };
        let origin = match r.origin {
            None => None,
            Some(v) => Some(serde_json::from_value(v).map_err(|_| corrupt("agent origin is not an origin"))?),
        };
        Ok(Agent {
            origin,
            id: AgentId::from_uuid(r.id),
            tenant_id: TenantId::from_uuid(r.tenant_id),
            name: r.name,
            description: r.description,
            capabilities: r.capabilities,
            metadata,
            scopes: r.scopes,
            status: AgentStatus::parse(&r.status).ok_or_else(|| corrupt("unknown agent status"))?,
            listed: r.listed,
            created_at: r.created_at,
            updated_at: r.updated_at,
        })
    }
}

/// These agents, in one query (see [`crate::lookups`]).
pub(crate) fn agents(
    conn: &mut PgConnection,
    keys: Vec<(TenantId, AgentId)>,
) -> BatchFuture<'_, (TenantId, AgentId), Agent> {
    Box::pin(async move {
        let (tenants, ids): (Vec<Uuid>, Vec<Uuid>) = keys.iter().map(|(t, a)| (*t.as_uuid(), *a.as_uuid())).unzip();
        let rows: Vec<Row> = sqlx::query_as(concat!(
            "SELECT ",
            agent_columns!(),
            " FROM agents WHERE (tenant_id, id) IN (SELECT * FROM UNNEST($1::uuid[], $2::uuid[]))"
        ))
        .bind(tenants)
        .bind(ids)
        .fetch_all(&mut *conn)
        .await
        .store()?;
        let mut found = HashMap::with_capacity(rows.len());
        for row in rows {
            let agent = Agent::try_from(row)?;
            found.insert((agent.tenant_id, agent.id), agent);
        }
        Ok(found)
    })
}

fn origin_json(agent: &Agent) -> StoreResult<Option<serde_json::Value>> {
    agent
        .origin
        .as_ref()
        .map(serde_json::to_value)
        .transpose()
        .map_err(|_| corrupt("agent origin does not serialise"))
}

#[async_trait]
impl AgentStore for PgStore {
    async fn insert_agent(&self, agent: &Agent) -> StoreResult<()> {
        sqlx::query(concat!(
            "INSERT INTO agents (",
            agent_columns!(),
            ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)"
        ))
        .bind(agent.tenant_id.as_uuid())
        .bind(agent.id.as_uuid())
        .bind(&agent.name)
        .bind(&agent.description)
        .bind(&agent.capabilities)
        .bind(serde_json::Value::Object(agent.metadata.clone()))
        .bind(&agent.scopes)
        .bind(agent.status.as_str())
        .bind(agent.listed)
        .bind(agent.created_at)
        .bind(agent.updated_at)
        .bind(origin_json(agent)?)
        .execute(&self.pool)
        .await
        .store()?;
        Ok(())
    }

    async fn agent(&self, tenant: TenantId, id: AgentId) -> StoreResult<Option<Agent>> {
        self.reads.agents.get(&self.warm, (tenant, id)).await
    }

    async fn update_agent(&self, agent: &Agent) -> StoreResult<()> {
        sqlx::query(
            "UPDATE agents SET description = $3, capabilities = $4, metadata = $5, scopes = $6, status = $7, \
             updated_at = $8, listed = $9 WHERE tenant_id = $1 AND id = $2",
        )
        .bind(agent.tenant_id.as_uuid())
        .bind(agent.id.as_uuid())
        .bind(&agent.description)
        .bind(&agent.capabilities)
        .bind(serde_json::Value::Object(agent.metadata.clone()))
        .bind(&agent.scopes)
        .bind(agent.status.as_str())
        .bind(agent.updated_at)
        .bind(agent.listed)
        .execute(&self.pool)
        .await
        .store()?;
        Ok(())
    }

    async fn list_agents(&self, tenant: TenantId, query: &AgentQuery) -> StoreResult<Vec<Agent>> {
        let mut sql: QueryBuilder<Postgres> =
            QueryBuilder::new(concat!("SELECT ", agent_columns!(), " FROM agents WHERE tenant_id = "));
        sql.push_bind(tenant.as_uuid());
        if let Some(status) = query.status {
            sql.push(" AND status = ").push_bind(status.as_str());
        }
        if let Some(q) = &query.q {
            // ILIKE on an escaped pattern: a literal substring (`%` and `_`
            // in the query are not patterns) that the trigram index of 0009
            // serves, as the marketplace's search.
            let pattern = format!("%{}%", crate::directory::escape_like(q));
            sql.push(" AND (name ILIKE ")
                .push_bind(pattern.clone())
                .push(" OR description ILIKE ")
                .push_bind(pattern)
                .push(")");
        }
        if let Some(after) = query.after {
            sql.push(" AND id > ").push_bind(after.as_uuid());
        }
        sql.push(" ORDER BY id LIMIT ").push_bind(query.limit as i64);
        let rows: Vec<Row> = sql.build_query_as().fetch_all(&self.pool).await.store()?;
        rows.into_iter().map(Agent::try_from).collect()
    }
}
