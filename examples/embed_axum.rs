//! A host application on axum with SentryAgent embedded: its own state, its
//! own routes protected by agent tokens, the API nested under `/api/v1` and
//! the well-known documents at the root. `docs/guides/embed-in-your-app.md`
//! walks through it; `embed_poem.rs` is the same application on poem.
//!
//! ```text
//! cargo run --example embed_axum
//! ```
//!
//! In memory by default; `DATABASE_URL` (with `SENTRYAGENT_SECRET_KEY`) and
//! `REDIS_URL` switch to PostgreSQL and Redis. `SENTRYAGENT_BIND` (default
//! `127.0.0.1:3000`) is where it listens.

mod shutdown;

use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::{FromRef, State};
use axum::routing::get;
use axum::{Json, Router};
use sentryagent_axum::{Agent, Rejection, ResourcePolicy, SentryAgent};
use sentryagent_examples::config::Backends;
use sentryagent_store_postgres::{PgOptions, PgStore};
use sentryagent_store_redis::{RedisOptions, RedisStore};
use serde_json::{Value, json};

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// The host's state. The IdP is one part of it; `FromRef` lets the `Agent`
/// extractor find it.
#[derive(Clone)]
struct AppState {
    idp: SentryAgent,
    reports: Arc<Vec<String>>,
}

impl FromRef<AppState> for SentryAgent {
    fn from_ref(state: &AppState) -> SentryAgent {
        state.idp.clone()
    }
}

/// Any agent of the tenants the resource policy names gets in.
async fn whoami(agent: Agent) -> Json<Value> {
    Json(json!({ "agentId": agent.agent_id, "scopes": agent.scopes }))
}

/// Only tokens that carry `reports:read`.
async fn reports(agent: Agent, State(state): State<AppState>) -> Result<Json<Value>, Rejection> {
    agent.require_scope("reports:read")?;
    Ok(Json(json!({ "agentId": agent.agent_id, "reports": *state.reports })))
}

fn app(state: AppState) -> Router {
    Router::new()
        // The whole API under a prefix of your choice.
        .nest("/api/v1", sentryagent_axum::router(state.idp.clone()))
        // JWKS, discovery and DID documents, where clients look for them.
        .merge(sentryagent_axum::well_known(state.idp.clone()))
        // Your own routes.
        .route("/whoami", get(whoami))
        .route("/reports", get(reports))
        .with_state(state)
}

/// In memory unless `DATABASE_URL` or `REDIS_URL` say otherwise.
async fn identity_provider(issuer: &str, settings: &Backends) -> Result<SentryAgent, BoxError> {
    let mut builder = SentryAgent::builder().issuer(issuer).api_path("/api/v1");
    // The secret is 32+ bytes, the same on every start: it peppers
    // client-secret hashes and encrypts the signing keys stored in
    // PostgreSQL (`Backends::load` refuses a database without it).
    if let (Some(url), Some(secret)) = (&settings.database_url, &settings.secret_key) {
        let pg = PgStore::connect(url, secret.as_bytes(), PgOptions::default()).await?;
        // Every durable record: tenants, agents, credentials, keys, audit log.
        builder = builder.server_secret(secret.as_bytes())?.durable(Arc::new(pg));
    }
    if let Some(url) = &settings.redis_url {
        // One rate limit, quota, revocation list and replay guard for every instance.
        builder = builder.hot_state(Arc::new(RedisStore::connect(url, RedisOptions::default()).await?));
    }
    Ok(builder.build().await?)
}

#[tokio::main]
async fn main() -> Result<(), BoxError> {
    // SENTRYAGENT_BIND (default 127.0.0.1:3000), DATABASE_URL, REDIS_URL
    // and SENTRYAGENT_SECRET_KEY, checked: read yours as your app does.
    let settings = Backends::load()?;
    let bind = settings.bind;
    let issuer = format!("http://{bind}");
    let idp = identity_provider(&issuer, &settings).await?;
    let tenant = match idp.first_tenant().await? {
        Some(tenant) => tenant.id,
        None => {
            // Your tenant, made in Rust (sign-up over HTTP is closed unless
            // you open it). Its admin secret is shown once.
            let created = idp.create_tenant("default").await?;
            println!("SENTRYAGENT_ADMIN_CLIENT_ID={}", created.admin_client_id);
            println!(
                "SENTRYAGENT_ADMIN_CLIENT_SECRET={}",
                created.admin_client_secret.expose()
            );
            created.tenant.id
        }
    };
    // Your routes accept your tenant's agents, and no one else's tokens.
    idp.protect(ResourcePolicy::new(issuer).tenant(tenant));
    // Usage flushes and audit retention, until the server stops.
    let background = idp.spawn_background();

    let state = AppState {
        idp: idp.clone(),
        reports: Arc::new(vec!["q3-revenue".into(), "q3-churn".into()]),
    };
    // Before the port opens: a SIGTERM from then on stops the server cleanly.
    let shutdown = shutdown::shutdown_signal();
    let listener = tokio::net::TcpListener::bind(bind).await?;
    // With ConnectInfo the audit log records each caller's address.
    axum::serve(listener, app(state).into_make_service_with_connect_info::<SocketAddr>())
        .with_graceful_shutdown(shutdown)
        .await?;
    // The last usage flush.
    background.stop().await;
    Ok(())
}
