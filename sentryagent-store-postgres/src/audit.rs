use async_trait::async_trait;
use sentryagent_core::audit::{AuditChain, AuditEvent, AuditQuery, ChainMark, NewAuditEvent, Outcome};
use sentryagent_core::store::AuditStore;
use sentryagent_core::{AgentId, EventId, StoreError, StoreResult, TenantId};
use sqlx::{Postgres, QueryBuilder};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::PgStore;
use crate::error::{ResultExt, corrupt};

macro_rules! audit_columns {
    () => {
        "tenant_id, seq, id, agent_id, actor, action, outcome, ip, at, details, prev_hash, hash"
    };
}

#[derive(sqlx::FromRow)]
struct Row {
    tenant_id: Uuid,
    seq: i64,
    id: Uuid,
    agent_id: Option<Uuid>,
    actor: String,
    action: String,
    outcome: String,
    ip: Option<String>,
    at: OffsetDateTime,
    details: serde_json::Value,
    prev_hash: Vec<u8>,
    hash: Vec<u8>,
}

fn hash32(bytes: &[u8]) -> StoreResult<[u8; 32]> {
    bytes.try_into().map_err(|_| corrupt("an audit hash is not 32 bytes"))
}

impl TryFrom<Row> for AuditEvent {
    type Error = StoreError;

    fn try_from(r: Row) -> StoreResult<Self> {
        let serde_json::Value::Object(details) = r.details else {
            return Err(corrupt("audit details are not an object"));
        };
        Ok(AuditEvent {
            id: EventId::from_uuid(r.id),
            tenant_id: TenantId::from_uuid(r.tenant_id),
            seq: u64::try_from(r.seq).map_err(|_| corrupt("negative audit seq"))?,
            agent_id: r.agent_id.map(AgentId::from_uuid),
            actor: r.actor,
            action: r.action,
            outcome: Outcome::parse(&r.outcome).ok_or_else(|| corrupt("unknown audit outcome"))?,
            ip: r
                .ip
                .map(|ip| ip.parse().map_err(|_| corrupt("bad audit ip")))
                .transpose()?,
            at: r.at,
            details,
            prev_hash: hash32(&r.prev_hash)?,
            hash: hash32(&r.hash)?,
        })
    }
}

#[derive(sqlx::FromRow)]
struct MarkRow {
    seq: i64,
    hash: Vec<u8>,
    mac: Vec<u8>,
}

impl TryFrom<MarkRow> for ChainMark {
    type Error = StoreError;

    fn try_from(r: MarkRow) -> StoreResult<Self> {
        Ok(ChainMark {
            seq: u64::try_from(r.seq).map_err(|_| corrupt("negative chain mark"))?,
            hash: hash32(&r.hash)?,
            mac: hash32(&r.mac)?,
        })
    }
}

/// The SQL of an audit query. Only the filters present appear, so the
/// planner picks the index that fits them (see the README's query plans).
fn audit_query(prefix: &'static str, tenant: TenantId, query: &AuditQuery) -> QueryBuilder<Postgres> {
    let mut sql: QueryBuilder<Postgres> = QueryBuilder::new(prefix);
    sql.push(concat!(
        "SELECT ",
        audit_columns!(),
        " FROM audit_events WHERE tenant_id = "
    ))
    .push_bind(*tenant.as_uuid());
    if let Some(agent) = query.agent_id {
        sql.push(" AND agent_id = ").push_bind(*agent.as_uuid());
    }
    if let Some(action) = &query.action {
        sql.push(" AND action = ").push_bind(action.clone());
    }
    if let Some(outcome) = query.outcome {
        sql.push(" AND outcome = ").push_bind(outcome.as_str());
    }
    if let Some(from) = query.from {
        sql.push(" AND at >= ").push_bind(from);
    }
    if let Some(to) = query.to {
        sql.push(" AND at < ").push_bind(to);
    }
    if let Some(before) = query.before_seq {
        sql.push(" AND seq < ").push_bind(seq(before));
    }
    sql.push(" ORDER BY seq DESC LIMIT ").push_bind(query.limit as i64);
    sql
}

fn seq(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

#[async_trait]
impl AuditStore for PgStore {
    async fn append_audit(
        &self,
        tenant: TenantId,
        events: Vec<NewAuditEvent>,
        chain: &AuditChain,
    ) -> StoreResult<Vec<AuditEvent>> {
        if events.is_empty() {
            return Ok(Vec::new());
        }
        let genesis = chain.genesis(tenant);
        let mut tx = self.pool.begin().await.store()?;
        // Creates the head on first use and, either way, locks it until commit:
        // appends to one tenant's chain are serialised across every instance.
        let head: MarkRow = sqlx::query_as(
            "INSERT INTO audit_heads (tenant_id, seq, hash, mac) VALUES ($1, 0, $2, $3) \
             ON CONFLICT (tenant_id) DO UPDATE SET tenant_id = EXCLUDED.tenant_id \
             RETURNING seq, hash, mac",
        )
        .bind(tenant.as_uuid())
        .bind(&genesis.hash[..])
        .bind(&genesis.mac[..])
        .fetch_one(&mut *tx)
        .await
        .store()?;
        let mut head = ChainMark::try_from(head)?;
        let mut sealed = Vec::with_capacity(events.len());
        for event in events {
            let event = chain.seal(tenant, &head, event);
            head = chain.checkpoint(tenant, event.seq, event.hash);
            sealed.push(event);
        }
        let mut sql: QueryBuilder<Postgres> = QueryBuilder::new(concat!(
            "WITH inserted AS (INSERT INTO audit_events (",
            audit_columns!(),
            ") "
        ));
        sql.push_values(&sealed, |mut row, e| {
            row.push_bind(e.tenant_id.as_uuid())
                .push_bind(seq(e.seq))
                .push_bind(e.id.as_uuid())
                .push_bind(e.agent_id.map(|a| *a.as_uuid()))
                .push_bind(e.actor.as_str())
                .push_bind(e.action.as_str())
                .push_bind(e.outcome.as_str())
                .push_bind(e.ip.map(|ip| ip.to_string()))
                .push_bind(e.at)
                .push_bind(serde_json::Value::Object(e.details.clone()))
                .push_bind(&e.prev_hash[..])
                .push_bind(&e.hash[..]);
        });
        sql.push(") UPDATE audit_heads SET seq = ")
            .push_bind(seq(head.seq))
            .push(", hash = ")
            .push_bind(&head.hash[..])
            .push(", mac = ")
            .push_bind(&head.mac[..])
            .push(" WHERE tenant_id = ")
            .push_bind(tenant.as_uuid());
        sql.build().execute(&mut *tx).await.store()?;
        tx.commit().await.store()?;
        Ok(sealed)
    }

    async fn query_audit(&self, tenant: TenantId, query: &AuditQuery) -> StoreResult<Vec<AuditEvent>> {
        let mut sql = audit_query("", tenant, query);
        let rows: Vec<Row> = sql.build_query_as().fetch_all(&self.pool).await.store()?;
        rows.into_iter().map(AuditEvent::try_from).collect()
    }

    async fn audit_chain(&self, tenant: TenantId, after_seq: u64, limit: usize) -> StoreResult<Vec<AuditEvent>> {
        let rows: Vec<Row> = sqlx::query_as(concat!(
            "SELECT ",
            audit_columns!(),
            " FROM audit_events WHERE tenant_id = $1 AND seq > $2 ORDER BY seq LIMIT $3"
        ))
        .bind(tenant.as_uuid())
        .bind(seq(after_seq))
        .bind(limit as i64)
        .fetch_all(&self.pool)
        .await
        .store()?;
        rows.into_iter().map(AuditEvent::try_from).collect()
    }

    async fn audit_checkpoint(&self, tenant: TenantId) -> StoreResult<Option<ChainMark>> {
        let row: Option<MarkRow> = sqlx::query_as("SELECT seq, hash, mac FROM audit_heads WHERE tenant_id = $1")
            .bind(tenant.as_uuid())
            .fetch_optional(&self.pool)
            .await
            .store()?;
        row.map(ChainMark::try_from).transpose()
    }

    async fn audit_anchor(&self, tenant: TenantId) -> StoreResult<Option<ChainMark>> {
        let row: Option<MarkRow> = sqlx::query_as("SELECT seq, hash, mac FROM audit_anchors WHERE tenant_id = $1")
            .bind(tenant.as_uuid())
            .fetch_optional(&self.pool)
            .await
            .store()?;
        row.map(ChainMark::try_from).transpose()
    }

    async fn prune_audit(&self, tenant: TenantId, before: OffsetDateTime, chain: &AuditChain) -> StoreResult<u64> {
        let mut tx = self.pool.begin().await.store()?;
        // Hold the head so no append interleaves with the cut.
        let locked: Option<i64> = sqlx::query_scalar("SELECT seq FROM audit_heads WHERE tenant_id = $1 FOR UPDATE")
            .bind(tenant.as_uuid())
            .fetch_optional(&mut *tx)
            .await
            .store()?;
        if locked.is_none() {
            return Ok(0);
        }
        let last: Option<(i64, Vec<u8>)> = sqlx::query_as(
            "SELECT seq, hash FROM audit_events WHERE tenant_id = $1 AND at < $2 ORDER BY seq DESC LIMIT 1",
        )
        .bind(tenant.as_uuid())
        .bind(before)
        .fetch_optional(&mut *tx)
        .await
        .store()?;
        let Some((cut, hash)) = last else {
            return Ok(0);
        };
        let anchor = chain.anchor(
            tenant,
            u64::try_from(cut).map_err(|_| corrupt("negative seq"))?,
            hash32(&hash)?,
        );
        let deleted = sqlx::query("DELETE FROM audit_events WHERE tenant_id = $1 AND seq <= $2")
            .bind(tenant.as_uuid())
            .bind(cut)
            .execute(&mut *tx)
            .await
            .store()?
            .rows_affected();
        sqlx::query(
            "INSERT INTO audit_anchors (tenant_id, seq, hash, mac) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (tenant_id) DO UPDATE SET seq = EXCLUDED.seq, hash = EXCLUDED.hash, mac = EXCLUDED.mac",
        )
        .bind(tenant.as_uuid())
        .bind(cut)
        .bind(&anchor.hash[..])
        .bind(&anchor.mac[..])
        .execute(&mut *tx)
        .await
        .store()?;
        tx.commit().await.store()?;
        Ok(deleted)
    }
}

#[cfg(test)]
mod plans {
    //! The audit filters' query plans on a table of 100,000 events: each
    //! uses an index, never a scan of the table. `cargo test -p
    //! sentryagent-store-postgres plans -- --nocapture` prints them.

    use std::sync::Arc;

    use sentryagent_core::audit::{AuditQuery, Outcome};
    use sentryagent_core::{AgentId, TenantId};
    use sqlx::Row as _;

    use super::audit_query;
    use crate::{PgOptions, PgStore};

    #[tokio::test]
    async fn audit_filters_use_indexes_on_100k_events() {
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
        let tenant = TenantId::new();
        let agent = AgentId::new();
        // 100,000 events for the tenant (one agent in 50, eight actions, one
        // failure in ten, a minute apart) and 50,000 of another tenant's. The
        // seed may take longer than the store's statement timeout on a busy
        // machine (other suites seed in parallel): none on its connection.
        let mut conn = store.pool().acquire().await.expect("a connection");
        sqlx::query("SET statement_timeout = 0")
            .execute(&mut *conn)
            .await
            .expect("no timeout");
        sqlx::query(
            "INSERT INTO audit_events (tenant_id, seq, id, agent_id, actor, action, outcome, ip, at, details, prev_hash, hash) \
             SELECT CASE WHEN g <= 100000 THEN $1 ELSE gen_random_uuid() END, g, gen_random_uuid(), \
                    CASE WHEN g % 50 = 0 THEN $2 ELSE gen_random_uuid() END, 'x', \
                    'action.' || (g % 8), CASE WHEN g % 10 = 0 THEN 'failure' ELSE 'success' END, NULL, \
                    now() - make_interval(mins => 150000 - g), '{}'::jsonb, '\\x00', '\\x00' \
             FROM generate_series(1, 150000) AS g",
        )
        .bind(tenant.as_uuid())
        .bind(agent.as_uuid())
        .execute(&mut *conn)
        .await
        .expect("seed");
        drop(conn);
        sqlx::query("ANALYZE audit_events")
            .execute(store.pool())
            .await
            .expect("analyze");

        let now = sentryagent_core::time::now();
        let base = AuditQuery {
            limit: 51,
            ..Default::default()
        };
        let cases = [
            ("no filter", base.clone()),
            (
                "agentId",
                AuditQuery {
                    agent_id: Some(agent),
                    ..base.clone()
                },
            ),
            (
                "action",
                AuditQuery {
                    action: Some("action.3".into()),
                    ..base.clone()
                },
            ),
            (
                "outcome",
                AuditQuery {
                    outcome: Some(Outcome::Failure),
                    ..base.clone()
                },
            ),
            (
                "from/to (one day, 60 days back)",
                AuditQuery {
                    from: Some(now - time::Duration::days(61)),
                    to: Some(now - time::Duration::days(60)),
                    ..base.clone()
                },
            ),
            (
                "cursor",
                AuditQuery {
                    before_seq: Some(50_000),
                    ..base.clone()
                },
            ),
            (
                "agentId + action + cursor",
                AuditQuery {
                    agent_id: Some(agent),
                    action: Some("action.2".into()),
                    before_seq: Some(90_000),
                    ..base.clone()
                },
            ),
        ];
        let mut report = String::new();
        for (name, query) in cases {
            let mut sql = audit_query("EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF, SUMMARY ON) ", tenant, &query);
            let rows = sql.build().fetch_all(store.pool()).await.expect("explain");
            let plan: Vec<String> = rows.iter().map(|r| r.get::<String, _>(0)).collect();
            let plan = plan.join("\n");
            report.push_str(&format!("-- {name}\n{plan}\n\n"));
            assert!(!plan.contains("Seq Scan"), "{name} scans the table:\n{plan}");
        }
        println!("{report}");
        let drop = format!("DROP SCHEMA {} CASCADE", store.schema());
        sqlx::raw_sql(sqlx::AssertSqlSafe(drop))
            .execute(store.pool())
            .await
            .expect("drop");
    }
}
