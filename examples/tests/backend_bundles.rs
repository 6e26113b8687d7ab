//! The backend bundles as an embedder wires them: two instances on one
//! PostgreSQL (and one Redis) exchange a GitHub OIDC token once between
//! them, whatever the order of the builder calls (embeds that named the
//! replay guard before the stores once got an in-memory guard per
//! instance); and the embedding guide's program, run as a host runs it,
//! prunes an audit event older than its tenant's retention.

mod support;

use std::net::SocketAddr;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use sentryagent_core::audit::{NewAuditEvent, Outcome};
use sentryagent_core::{SentryAgent, SentryAgentBuilder, TenantId};
use sentryagent_store_postgres::{PgOptions, PgStore, sqlx};
use sentryagent_store_redis::{RedisOptions, RedisStore};
use sentryagent_testkit::oidc::StandInIssuer;
use sentryagent_testkit::services;
use serde_json::{Value, json};
use support::{SpawnedServer, example_binary, free_port};

const SECRET: &str = "a-test-master-secret-of-at-least-32-bytes";
const AUD: &str = "https://sentryagent.test/oidc";

async fn postgres(schema: &str) -> Option<Arc<PgStore>> {
    match PgStore::connect(
        &services::database_url(),
        SECRET.as_bytes(),
        PgOptions::default().schema(schema),
    )
    .await
    {
        Ok(store) => Some(Arc::new(store)),
        Err(e) => services::unavailable("backend bundles on PostgreSQL", &e),
    }
}

async fn redis(prefix: &str) -> Option<Arc<RedisStore>> {
    match RedisStore::connect(&services::redis_url(), RedisOptions::default().prefix(prefix)).await {
        Ok(store) => Some(Arc::new(store)),
        Err(e) => services::unavailable("backend bundles on Redis", &e),
    }
}

/// Serves `idp`'s API on a loopback port; its base URL.
async fn serve(idp: SentryAgent) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("a port");
    let base = format!("http://{}/api/v1", listener.local_addr().expect("address"));
    let app = axum::Router::new().nest("/api/v1", sentryagent_axum::router(idp));
    tokio::spawn(async move {
        let _ = axum::serve(listener, app.into_make_service_with_connect_info::<SocketAddr>()).await;
    });
    base
}

async fn instance(issuer: &StandInIssuer, wire: impl FnOnce(SentryAgentBuilder) -> SentryAgentBuilder) -> SentryAgent {
    let builder = SentryAgent::builder().server_secret(SECRET.as_bytes()).expect("secret");
    wire(issuer.configure(builder, AUD)).build().await.expect("build")
}

async fn post(url: String, bearer: Option<&str>, body: Value) -> (u16, Value) {
    let mut request = reqwest::Client::new().post(url).json(&body);
    if let Some(token) = bearer {
        request = request.bearer_auth(token);
    }
    let answer = request.send().await.expect("request");
    let status = answer.status().as_u16();
    (status, answer.json().await.unwrap_or(Value::Null))
}

/// One GitHub token, exchanged at `a` and then at `b`: the second is refused.
async fn exchanged_once(a: &SentryAgent, b: &SentryAgent, issuer: &StandInIssuer) {
    let tenant = a.create_tenant("Acme").await.expect("tenant");
    let (base_a, base_b) = (serve(a.clone()).await, serve(b.clone()).await);
    let answer = reqwest::Client::new()
        .post(format!("{base_a}/oauth2/token"))
        .basic_auth(&tenant.admin_client_id, Some(tenant.admin_client_secret.expose()))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .expect("token request");
    let admin: Value = answer.json().await.expect("json");
    let admin = admin["access_token"].as_str().expect("an admin token").to_owned();
    let (status, agent) = post(
        format!("{base_a}/agents"),
        Some(&admin),
        json!({"name": "deploy@acme.example", "scopes": ["deploy:run"]}),
    )
    .await;
    assert_eq!(status, 201, "{agent}");
    let (status, policy) = post(
        format!("{base_a}/oidc/trust-policies"),
        Some(&admin),
        json!({"provider": "github", "repository": "acme/app", "branch": "main", "agentId": agent["agentId"]}),
    )
    .await;
    assert_eq!(status, 201, "{policy}");

    let github = issuer.sign(&issuer.claims("acme/app", "refs/heads/main", AUD));
    let exchange = json!({"token": github, "tenantId": tenant.tenant.id});
    let (status, first) = post(format!("{base_a}/oidc/token"), None, exchange.clone()).await;
    assert_eq!(status, 200, "the first exchange: {first}");
    let (status, second) = post(format!("{base_b}/oidc/token"), None, exchange).await;
    assert_eq!(status, 401, "the same token at the other instance: {second}");
    assert_eq!(second["code"], "OIDC_TOKEN_INVALID");
    assert!(
        second["message"]
            .as_str()
            .is_some_and(|m| m.contains("exchanged before")),
        "{second}"
    );
}

async fn drop_schema(store: &PgStore) {
    let sql = format!("DROP SCHEMA IF EXISTS {} CASCADE", store.schema());
    let _ = sqlx::raw_sql(sqlx::AssertSqlSafe(sql)).execute(store.pool()).await;
}

/// PostgreSQL and Redis, named in either order.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_github_token_is_exchanged_once_across_instances_in_any_builder_order() {
    let schema = services::unique_name("sa_test");
    let (Some(pg), Some(redis)) = (postgres(&schema).await, redis(&format!("{schema}:")).await) else {
        return;
    };
    let issuer = StandInIssuer::start().await;
    let a = instance(&issuer, |b| b.hot_state(redis.clone()).durable(pg.clone())).await;
    let b = instance(&issuer, |b| b.durable(pg.clone()).hot_state(redis.clone())).await;
    exchanged_once(&a, &b, &issuer).await;
    drop_schema(&pg).await;
}

/// PostgreSQL alone keeps the replay guard: no instance falls back to its
/// own memory.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_github_token_is_exchanged_once_across_instances_on_postgres_alone() {
    let schema = services::unique_name("sa_test");
    let Some(pg) = postgres(&schema).await else {
        return;
    };
    let issuer = StandInIssuer::start().await;
    let a = instance(&issuer, |b| b.durable(pg.clone())).await;
    let b = instance(&issuer, |b| b.durable(pg.clone())).await;
    exchanged_once(&a, &b, &issuer).await;
    drop_schema(&pg).await;
}

/// A database of the test's own (the guide's program uses the default
/// schema), dropped at the end.
struct Database {
    admin: sqlx::PgPool,
    name: String,
}

impl Database {
    async fn create() -> Option<Self> {
        let admin = match sqlx::PgPool::connect(&services::database_url()).await {
            Ok(pool) => pool,
            Err(e) => return services::unavailable("the embedding guide's program on PostgreSQL", &e),
        };
        let name = services::unique_name("sa_embed");
        let sql = format!("CREATE DATABASE {name}");
        sqlx::raw_sql(sqlx::AssertSqlSafe(sql))
            .execute(&admin)
            .await
            .expect("create the test database");
        Some(Self { admin, name })
    }

    fn url(&self) -> String {
        let base = services::database_url();
        let server = base.rsplit_once('/').map_or(base.as_str(), |(server, _)| server);
        format!("{server}/{}", self.name)
    }

    async fn drop(self) {
        let sql = format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name);
        let _ = sqlx::raw_sql(sqlx::AssertSqlSafe(sql)).execute(&self.admin).await;
    }
}

async fn count(pool: &sqlx::PgPool, tenant: TenantId, action: &str) -> i64 {
    sqlx::query_scalar("SELECT count(*) FROM sentryagent.audit_events WHERE tenant_id = $1 AND action = $2")
        .bind(tenant.as_uuid())
        .bind(action)
        .fetch_one(pool)
        .await
        .expect("count events")
}

/// `examples/embed_axum.rs`, the program the embedding guide quotes, on
/// PostgreSQL: its background task prunes, at start, an event older than
/// the free tier's retention, and the chain still verifies after the cut.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_embedding_guides_program_prunes_old_audit_events() {
    let Some(db) = Database::create().await else {
        return;
    };
    let url = db.url();
    // The host's tenant, made before the program's first start, with an
    // event from long ago and one from today.
    let store = Arc::new(
        PgStore::connect(&url, SECRET.as_bytes(), PgOptions::default())
            .await
            .expect("the test database"),
    );
    let idp = SentryAgent::builder()
        .server_secret(SECRET.as_bytes())
        .expect("secret")
        .durable(store.clone())
        .build()
        .await
        .expect("build");
    let tenant = idp.create_tenant("default").await.expect("tenant").tenant.id;
    let mut old = NewAuditEvent::new("test.long_ago", Outcome::Success, "operator");
    old.at = sentryagent_core::time::now() - time::Duration::days(400);
    let recent = NewAuditEvent::new("test.today", Outcome::Success, "operator");
    idp.record(tenant, vec![old, recent]).await.expect("record");
    assert_eq!(count(store.pool(), tenant, "test.long_ago").await, 1);

    let port = free_port();
    let mut command = Command::new(example_binary("embed_axum"));
    command
        .env("SENTRYAGENT_BIND", format!("127.0.0.1:{port}"))
        .env("DATABASE_URL", &url)
        .env("SENTRYAGENT_SECRET_KEY", SECRET)
        .env_remove("REDIS_URL")
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    let server = SpawnedServer::start(command, port, false);
    let deadline = Instant::now() + Duration::from_secs(20);
    while count(store.pool(), tenant, "test.long_ago").await > 0 {
        assert!(
            Instant::now() < deadline,
            "the retention pass did not prune the old event"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    server.terminate();

    assert_eq!(
        count(store.pool(), tenant, "test.today").await,
        1,
        "today's event is kept"
    );
    let verified = idp.verify_audit_chain(tenant).await.expect("verify");
    assert!(
        verified.valid,
        "the chain verifies from the retention anchor: {verified:?}"
    );
    store.pool().close().await;
    db.drop().await;
}
