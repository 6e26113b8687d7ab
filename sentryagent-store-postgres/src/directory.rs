//! Agents' public keys, and the public reads across tenants: the
//! marketplace and DID documents. The marketplace query selects public
//! columns only.

use async_trait::async_trait;
use sentryagent_core::agent::AgentStatus;
use sentryagent_core::did::{AgentKey, DidSubject};
use sentryagent_core::marketplace::{BUILT_IN_AGENT_NAMES, MarketplaceAgent, MarketplaceQuery};
use sentryagent_core::store::{AgentKeyStore, DirectoryStore};
use sentryagent_core::{AgentId, StoreResult, TenantId};
use sqlx::{Postgres, QueryBuilder};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::PgStore;
use crate::error::{ResultExt, corrupt};

#[derive(sqlx::FromRow)]
struct KeyRow {
    tenant_id: Uuid,
    agent_id: Uuid,
    id: String,
    jwk: serde_json::Value,
    created_at: OffsetDateTime,
}

impl TryFrom<KeyRow> for AgentKey {
    type Error = sentryagent_core::StoreError;

    fn try_from(r: KeyRow) -> StoreResult<Self> {
        let serde_json::Value::Object(jwk) = r.jwk else {
            return Err(corrupt("agent key is not a JSON object"));
        };
        Ok(AgentKey {
            id: r.id,
            tenant_id: TenantId::from_uuid(r.tenant_id),
            agent_id: AgentId::from_uuid(r.agent_id),
            jwk,
            created_at: r.created_at,
        })
    }
}

#[async_trait]
impl AgentKeyStore for PgStore {
    async fn insert_agent_key(&self, key: &AgentKey) -> StoreResult<()> {
        sqlx::query("INSERT INTO agent_keys (tenant_id, agent_id, id, jwk, created_at) VALUES ($1, $2, $3, $4, $5)")
            .bind(key.tenant_id.as_uuid())
            .bind(key.agent_id.as_uuid())
            .bind(&key.id)
            .bind(serde_json::Value::Object(key.jwk.clone()))
            .bind(key.created_at)
            .execute(&self.pool)
            .await
            .store()?;
        Ok(())
    }

    async fn agent_keys(&self, tenant: TenantId, agent: AgentId) -> StoreResult<Vec<AgentKey>> {
        let rows: Vec<KeyRow> = sqlx::query_as(
            "SELECT tenant_id, agent_id, id, jwk, created_at FROM agent_keys \
             WHERE tenant_id = $1 AND agent_id = $2 ORDER BY created_at, id",
        )
        .bind(tenant.as_uuid())
        .bind(agent.as_uuid())
        .fetch_all(&self.pool)
        .await
        .store()?;
        rows.into_iter().map(AgentKey::try_from).collect()
    }

    async fn delete_agent_key(&self, tenant: TenantId, agent: AgentId, id: &str) -> StoreResult<bool> {
        let done = sqlx::query("DELETE FROM agent_keys WHERE tenant_id = $1 AND agent_id = $2 AND id = $3")
            .bind(tenant.as_uuid())
            .bind(agent.as_uuid())
            .bind(id)
            .execute(&self.pool)
            .await
            .store()?;
        Ok(done.rows_affected() > 0)
    }
}

#[derive(sqlx::FromRow)]
struct ListingRow {
    id: Uuid,
    name: String,
    description: String,
    capabilities: Vec<String>,
    created_at: OffsetDateTime,
    tenant_name: String,
}

impl From<ListingRow> for MarketplaceAgent {
    fn from(r: ListingRow) -> Self {
        MarketplaceAgent {
            id: AgentId::from_uuid(r.id),
            name: r.name,
            description: r.description,
            capabilities: r.capabilities,
            tenant_name: r.tenant_name,
            created_at: r.created_at,
        }
    }
}

/// `%`, `_` and the escape character itself, escaped for `LIKE`.
pub(crate) fn escape_like(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if matches!(c, '\\' | '%' | '_') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// The listed agents with their tenants' names: the predicate of the partial
/// indexes (`listed AND status = 'active'`) comes first, so they apply.
fn listed(prefix: &'static str) -> QueryBuilder<Postgres> {
    let mut sql: QueryBuilder<Postgres> = QueryBuilder::new(prefix);
    sql.push(
        "SELECT a.id, a.name, a.description, a.capabilities, a.created_at, t.name AS tenant_name \
         FROM agents a JOIN tenants t ON t.id = a.tenant_id \
         WHERE a.listed AND a.status = 'active' AND a.name <> ALL(",
    )
    .push_bind(BUILT_IN_AGENT_NAMES.map(str::to_owned).to_vec())
    .push(")");
    sql
}

/// The marketplace query, after `prefix` (e.g. `EXPLAIN`). Each word is an
/// `ILIKE '%word%'` on the name or the description, which the trigram index
/// serves; the capability is an array containment (`@>`), which the GIN
/// index on capabilities serves.
fn marketplace_query(prefix: &'static str, query: &MarketplaceQuery) -> QueryBuilder<Postgres> {
    let mut sql = listed(prefix);
    for term in query.terms() {
        let pattern = format!("%{}%", escape_like(&term));
        sql.push(" AND (a.name ILIKE ")
            .push_bind(pattern.clone())
            .push(" OR a.description ILIKE ")
            .push_bind(pattern)
            .push(")");
    }
    if let Some(capability) = &query.capability {
        sql.push(" AND a.capabilities @> ARRAY[")
            .push_bind(capability.clone())
            .push("]::text[]");
    }
    if let Some(after) = query.after {
        sql.push(" AND a.id > ").push_bind(*after.as_uuid());
    }
    sql.push(" ORDER BY a.id LIMIT ")
        .push_bind(i64::try_from(query.limit).unwrap_or(i64::MAX));
    sql
}

#[derive(sqlx::FromRow)]
struct SubjectRow {
    tenant_id: Uuid,
    status: String,
    key_tenant_id: Option<Uuid>,
    key_agent_id: Option<Uuid>,
    key_id: Option<String>,
    key_jwk: Option<serde_json::Value>,
    key_created_at: Option<OffsetDateTime>,
}

#[async_trait]
impl DirectoryStore for PgStore {
    async fn marketplace_agents(&self, query: &MarketplaceQuery) -> StoreResult<Vec<MarketplaceAgent>> {
        let rows: Vec<ListingRow> = marketplace_query("", query)
            .build_query_as()
            .fetch_all(&self.pool)
            .await
            .store()?;
        Ok(rows.into_iter().map(MarketplaceAgent::from).collect())
    }

    async fn marketplace_agent(&self, id: AgentId) -> StoreResult<Option<MarketplaceAgent>> {
        let mut sql = listed("");
        sql.push(" AND a.id = ").push_bind(*id.as_uuid());
        let row: Option<ListingRow> = sql.build_query_as().fetch_optional(&self.pool).await.store()?;
        Ok(row.map(MarketplaceAgent::from))
    }

    async fn did_subject(&self, id: AgentId) -> StoreResult<Option<DidSubject>> {
        // One round trip: the agent and its keys (none: one row of NULLs).
        let rows: Vec<SubjectRow> = sqlx::query_as(
            "SELECT a.tenant_id, a.status, k.tenant_id AS key_tenant_id, k.agent_id AS key_agent_id, k.id AS key_id, \
             k.jwk AS key_jwk, k.created_at AS key_created_at \
             FROM agents a LEFT JOIN agent_keys k ON k.tenant_id = a.tenant_id AND k.agent_id = a.id \
             WHERE a.id = $1 ORDER BY k.created_at, k.id",
        )
        .bind(id.as_uuid())
        .fetch_all(&self.pool)
        .await
        .store()?;
        let Some(first) = rows.first() else {
            return Ok(None);
        };
        let tenant_id = TenantId::from_uuid(first.tenant_id);
        let status = AgentStatus::parse(&first.status).ok_or_else(|| corrupt("unknown agent status"))?;
        let mut keys = Vec::new();
        for r in rows {
            if let (Some(tenant_id), Some(agent_id), Some(id), Some(jwk), Some(created_at)) =
                (r.key_tenant_id, r.key_agent_id, r.key_id, r.key_jwk, r.key_created_at)
            {
                keys.push(AgentKey::try_from(KeyRow {
                    tenant_id,
                    agent_id,
                    id,
                    jwk,
                    created_at,
                })?);
            }
        }
        Ok(Some(DidSubject {
            agent_id: id,
            tenant_id,
            status,
            keys,
        }))
    }
}

#[cfg(test)]
mod plans {
    //! The marketplace's query plans on 10,000 agents of 100 tenants: search
    //! uses the trigram index, the capability filter its GIN index, and
    //! browsing walks the partial id index; none scans the agents table.
    //! `cargo test -p sentryagent-store-postgres marketplace_plans --
    //! --nocapture` prints them.

    use std::sync::Arc;

    use sentryagent_core::AgentId;
    use sentryagent_core::marketplace::MarketplaceQuery;
    use sqlx::Row as _;

    use super::marketplace_query;
    use crate::{PgOptions, PgStore};

    #[tokio::test]
    async fn marketplace_plans_use_indexes_on_10k_agents() {
        let schema = sentryagent_testkit::services::unique_name("sa_test");
        let store = match PgStore::connect(
            &sentryagent_testkit::services::database_url(),
            &[7u8; 32],
            PgOptions::default().schema(schema),
        )
        .await
        {
            Ok(store) => Arc::new(store),
            Err(e) => return sentryagent_testkit::services::unavailable("PostgreSQL query plans", &e).unwrap_or(()),
        };
        let trigram: bool = sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM pg_indexes WHERE indexname = 'agents_listed_search' AND schemaname = current_schema())")
            .fetch_one(store.pool())
            .await
            .expect("look for the index");
        // 100 tenants of 100 agents: one in ten opted out, one in twenty
        // suspended, words from a small vocabulary, one rare capability (10 agents).
        // Seeding updates the GIN indexes row by row: no statement timeout.
        let mut conn = store.pool().acquire().await.expect("a connection");
        sqlx::query("SET statement_timeout = 0")
            .execute(&mut *conn)
            .await
            .expect("no timeout");
        sqlx::raw_sql(sqlx::AssertSqlSafe(
            "INSERT INTO tenants (id, name, tier, created_at) \
             SELECT ('00000000-0000-7000-8000-' || lpad(to_hex(g), 12, '0'))::uuid, 'Tenant ' || g, 'free', now() \
             FROM generate_series(1, 100) AS g; \
             INSERT INTO agents (tenant_id, id, name, description, capabilities, metadata, scopes, status, listed, created_at, updated_at) \
             SELECT ('00000000-0000-7000-8000-' || lpad(to_hex(1 + g % 100), 12, '0'))::uuid, gen_random_uuid(), \
                    'agent' || g || '@tenant' || (g % 100) || '.example', \
                    (ARRAY['Builds','Deploys','Reviews','Translates','Summarises'])[1 + g % 5] || ' ' || \
                    (ARRAY['containers','documents','invoices','pull requests','tickets'])[1 + (g / 5) % 5] || ' nightly ' || substr(md5(g::text), 1, 8), \
                    CASE WHEN g % 1000 = 7 THEN ARRAY['rare-skill'] ELSE ARRAY['build','deploy'] END, '{}'::jsonb, '{}', \
                    CASE WHEN g % 20 = 0 THEN 'suspended' ELSE 'active' END, g % 10 <> 0, now(), now() \
             FROM generate_series(1, 10000) AS g; \
             ANALYZE agents; ANALYZE tenants;",
        ))
        .execute(&mut *conn)
        .await
        .expect("seed");
        drop(conn);

        let base = MarketplaceQuery {
            limit: 21,
            ..MarketplaceQuery::default()
        };
        let some_id = AgentId::from_uuid(uuid::Uuid::from_u128(0x8000_0000_0000_0000_0000_0000_0000_0000));
        let cases = [
            ("browse", base.clone(), "agents_listed_by_id"),
            (
                "browse after a cursor",
                MarketplaceQuery {
                    after: Some(some_id),
                    ..base.clone()
                },
                "agents_listed_by_id",
            ),
            (
                "q: a word in the description",
                MarketplaceQuery {
                    q: Some("BA3C".into()),
                    ..base.clone()
                },
                "agents_listed_search",
            ),
            (
                "q: a word of every agent's description",
                MarketplaceQuery {
                    q: Some("nightly".into()),
                    ..base.clone()
                },
                "agents_listed_by_id",
            ),
            (
                "rare capability",
                MarketplaceQuery {
                    capability: Some("rare-skill".into()),
                    ..base.clone()
                },
                "agents_listed_capabilities",
            ),
        ];
        let mut report = String::new();
        let mut failures = Vec::new();
        for (name, query, index) in cases {
            if index == "agents_listed_search" && !trigram {
                report.push_str(&format!("-- {name}: skipped, pg_trgm is not installed\n\n"));
                continue;
            }
            let rows = marketplace_query("EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF, SUMMARY ON) ", &query)
                .build()
                .fetch_all(store.pool())
                .await
                .expect("explain");
            let plan: Vec<String> = rows.iter().map(|r| r.get::<String, _>(0)).collect();
            let plan = plan.join("\n");
            report.push_str(&format!("-- {name}\n{plan}\n\n"));
            if plan.contains("Seq Scan on agents") || !plan.contains(index) {
                failures.push(format!("{name} does not use {index}:\n{plan}"));
            }
        }
        println!("{report}");
        let drop = format!("DROP SCHEMA {} CASCADE", store.schema());
        sqlx::raw_sql(sqlx::AssertSqlSafe(drop))
            .execute(store.pool())
            .await
            .expect("drop");
        assert!(failures.is_empty(), "{}", failures.join("\n"));
    }
}
