//! The HTTP suite on PostgreSQL: the same cases as on the in-memory store,
//! through the axum adapter over a real socket, each in a schema of its own.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use axum::routing::get;
use axum::{Extension, Json, Router};
use sentryagent_axum::{Agent, AgentIdentity, AgentOrUser, Principal, Rejection, Resource, SentryAgent};
use sentryagent_core::audit::ChainMark;
use sentryagent_core::store::{AuditStore as _, Stores};
use sentryagent_core::{EventId, TenantId};
use sentryagent_store_postgres::{PgOptions, PgStore, sqlx};
use sentryagent_testkit::{
    RESOURCE_A_PATH, RESOURCE_B_PATH, RESOURCE_C_PATH, STEP_UP_PATH, Tamper, TestBackend, resource_url, services,
};
use serde_json::Value;

async fn whoami(agent: Agent) -> Json<AgentIdentity> {
    Json(agent.0)
}

/// The caller behind `sentryagent_axum::protect`, which put it there.
async fn protected_whoami(Extension(caller): Extension<Principal>) -> Json<Principal> {
    Json(caller)
}

/// An agent or a person with `tools:call`.
async fn either(caller: AgentOrUser) -> Result<Json<Principal>, Rejection> {
    caller.require_scope("tools:call")?;
    Ok(Json(caller.0))
}

/// An agent with `reports:write`, checked by the handler.
async fn step_up(agent: Agent) -> Result<Json<AgentIdentity>, Rejection> {
    agent.require_scope("reports:write")?;
    Ok(Json(agent.0))
}

async fn start(listener: tokio::net::TcpListener, idp: SentryAgent) {
    let app = Router::new()
        .nest("/api/v1", sentryagent_axum::router(idp.clone()))
        .merge(sentryagent_axum::well_known(idp.clone()))
        .route("/whoami", get(whoami))
        .route(
            RESOURCE_A_PATH,
            get(whoami).layer(Extension(Resource::new(resource_url(&listener, RESOURCE_A_PATH)))),
        )
        .route(
            RESOURCE_C_PATH,
            get(either).layer(Extension(Resource::new(resource_url(&listener, RESOURCE_C_PATH)))),
        )
        .route(STEP_UP_PATH, get(step_up))
        .merge(sentryagent_axum::protect(
            Router::new().route(RESOURCE_B_PATH, get(protected_whoami)),
            idp.clone(),
            resource_url(&listener, RESOURCE_B_PATH),
        ))
        .with_state(idp);
    tokio::spawn(async move {
        let _ = axum::serve(listener, app.into_make_service_with_connect_info::<SocketAddr>()).await;
    });
}

/// Tampering straight in the tables, as an attacker with database access would.
struct PgTamper(Arc<PgStore>);

#[async_trait]
impl Tamper for PgTamper {
    async fn set_audit_detail(&self, tenant: TenantId, seq: u64, key: &str, value: Value) -> Option<EventId> {
        let id: Option<uuid::Uuid> = sqlx::query_scalar(
            "UPDATE audit_events SET details = jsonb_set(coalesce(details, \
                 convert_from(canonical, 'UTF8')::jsonb -> 'details'), ARRAY[$3], $4) \
             WHERE tenant_id = $1 AND seq = $2 RETURNING id",
        )
        .bind(tenant.as_uuid())
        .bind(seq as i64)
        .bind(key)
        .bind(value)
        .fetch_optional(self.0.pool())
        .await
        .expect("update");
        id.map(EventId::from_uuid)
    }

    async fn rewrite_audit_canonical(&self, tenant: TenantId, seq: u64, garbage: bool) -> Option<EventId> {
        let id: Option<uuid::Uuid> = sqlx::query_scalar(
            "UPDATE audit_events SET canonical = CASE WHEN $3 THEN '\\xfffe7b'::bytea ELSE \
                 convert_to(regexp_replace(convert_from(canonical, 'UTF8'), '\"actor\":\"', '\"actor\":\"evil-'), 'UTF8') END \
             WHERE tenant_id = $1 AND seq = $2 RETURNING id",
        )
        .bind(tenant.as_uuid())
        .bind(seq as i64)
        .bind(garbage)
        .fetch_optional(self.0.pool())
        .await
        .expect("update");
        id.map(EventId::from_uuid)
    }

    async fn delete_newest_audit_events(&self, tenant: TenantId, n: usize) {
        sqlx::query(
            "DELETE FROM audit_events WHERE tenant_id = $1 AND seq IN \
             (SELECT seq FROM audit_events WHERE tenant_id = $1 ORDER BY seq DESC LIMIT $2)",
        )
        .bind(tenant.as_uuid())
        .bind(n as i64)
        .execute(self.0.pool())
        .await
        .expect("delete");
    }

    async fn delete_audit_checkpoint(&self, tenant: TenantId) {
        sqlx::query("DELETE FROM audit_heads WHERE tenant_id = $1")
            .bind(tenant.as_uuid())
            .execute(self.0.pool())
            .await
            .expect("delete");
    }

    async fn audit_head(&self, tenant: TenantId) -> Option<ChainMark> {
        self.0.audit_checkpoint(tenant).await.expect("read")
    }

    async fn roll_back_audit(&self, tenant: TenantId, head: Option<ChainMark>) {
        let mut tx = self.0.pool().begin().await.expect("begin");
        sqlx::query("DELETE FROM audit_events WHERE tenant_id = $1 AND seq > $2")
            .bind(tenant.as_uuid())
            .bind(head.as_ref().map_or(0, |h| h.seq as i64))
            .execute(&mut *tx)
            .await
            .expect("delete events");
        sqlx::query("DELETE FROM audit_heads WHERE tenant_id = $1")
            .bind(tenant.as_uuid())
            .execute(&mut *tx)
            .await
            .expect("delete head");
        sqlx::query("DELETE FROM audit_verifications WHERE tenant_id = $1")
            .bind(tenant.as_uuid())
            .execute(&mut *tx)
            .await
            .expect("delete verification progress");
        if let Some(h) = head {
            sqlx::query("INSERT INTO audit_heads (tenant_id, seq, hash, mac, lost_at) VALUES ($1, $2, $3, $4, $5)")
                .bind(tenant.as_uuid())
                .bind(h.seq as i64)
                .bind(&h.hash[..])
                .bind(&h.mac[..])
                .bind(h.lost_at.map(|s| s as i64))
                .execute(&mut *tx)
                .await
                .expect("restore head");
        }
        tx.commit().await.expect("commit");
    }

    async fn delete_audit_event(&self, tenant: TenantId, seq: u64) {
        sqlx::query("DELETE FROM audit_events WHERE tenant_id = $1 AND seq = $2")
            .bind(tenant.as_uuid())
            .bind(seq as i64)
            .execute(self.0.pool())
            .await
            .expect("delete");
    }

    async fn insert_audit_event(&self, tenant: TenantId, seq: u64) {
        // Moved out of the way through negative numbers: the primary key is
        // checked row by row.
        sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
            "UPDATE audit_events SET seq = -seq WHERE tenant_id = '{tenant}' AND seq >= {seq}; \
             UPDATE audit_events SET seq = -seq + 1 WHERE tenant_id = '{tenant}' AND seq < 0; \
             INSERT INTO audit_events (tenant_id, seq, id, agent_id, actor, action, outcome, ip, at, details, \
                 prev_hash, hash, canonical) \
             SELECT tenant_id, {seq}, gen_random_uuid(), agent_id, actor, action, outcome, ip, at, details, \
                 prev_hash, hash, canonical FROM audit_events WHERE tenant_id = '{tenant}' AND seq = {seq} + 1"
        )))
        .execute(self.0.pool())
        .await
        .expect("insert");
    }

    async fn swap_audit_events(&self, tenant: TenantId, a: u64, b: u64) {
        sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
            "UPDATE audit_events SET seq = -1 WHERE tenant_id = '{tenant}' AND seq = {a}; \
             UPDATE audit_events SET seq = {a} WHERE tenant_id = '{tenant}' AND seq = {b}; \
             UPDATE audit_events SET seq = {b} WHERE tenant_id = '{tenant}' AND seq = -1"
        )))
        .execute(self.0.pool())
        .await
        .expect("swap");
    }
}

fn postgres() -> std::pin::Pin<Box<dyn std::future::Future<Output = Option<TestBackend>> + Send>> {
    Box::pin(async {
        let schema = services::unique_name("sa_test");
        let options = PgOptions::default()
            .schema(&schema)
            .max_connections(4)
            .acquire_timeout(Duration::from_secs(5));
        let store = match PgStore::connect(&services::database_url(), &[7u8; 32], options).await {
            Ok(store) => Arc::new(store),
            Err(e) => return services::unavailable("HTTP suite on PostgreSQL", &e),
        };
        let pool = store.pool().clone();
        let cleanup = move || {
            // Each case's server lives on until the test binary exits; close
            // its pool so the cases do not run PostgreSQL out of connections.
            if let Ok(runtime) = tokio::runtime::Handle::try_current() {
                runtime.spawn(async move { pool.close().await });
            }
            let _ = std::process::Command::new("psql")
                .args([
                    &services::database_url(),
                    "-qc",
                    &format!("DROP SCHEMA IF EXISTS {schema} CASCADE"),
                ])
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::null())
                .status();
        };
        Some(TestBackend {
            stores: Stores::new(store.clone()),
            tamper: Arc::new(PgTamper(store)),
            cleanup: Some(Box::new(cleanup)),
        })
    })
}

sentryagent_testkit::http_suite!(start, backend = postgres);
