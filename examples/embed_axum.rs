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

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{FromRef, State};
use axum::routing::get;
use axum::{Json, Router};
use sentryagent_axum::{Agent, Rejection, ResourcePolicy, SentryAgent};
use sentryagent_core::store::{RevocationList, Stores};
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

/// In memory unless `REDIS_URL` or `DATABASE_URL` say otherwise.
async fn identity_provider(issuer: &str, settings: &Backends) -> Result<SentryAgent, BoxError> {
    let mut builder = SentryAgent::builder().issuer(issuer).api_path("/api/v1");
    let redis = match &settings.redis_url {
        Some(url) => Some(Arc::new(RedisStore::connect(url, RedisOptions::default()).await?)),
        None => None,
    };
    if let Some(redis) = &redis {
        // One rate limit, one quota, one replay guard for every instance.
        builder = builder
            .rate_limiter(redis.clone())
            .shared_usage(redis.clone())
            .replay_guard(redis.clone())
            .health_check(redis.clone());
    }
    match (&settings.database_url, &settings.secret_key) {
        // The secret is 32+ bytes, the same on every start: it peppers
        // client-secret hashes and encrypts the signing keys stored in
        // PostgreSQL (`Backends::load` refuses a database without it).
        (Some(url), Some(secret)) => {
            let pg = Arc::new(PgStore::connect(url, secret.as_bytes(), PgOptions::default()).await?);
            let revocations: Arc<dyn RevocationList> = match &redis {
                Some(redis) => redis.clone(),
                None => pg.clone(),
            };
            builder = builder
                .server_secret(secret.as_bytes())?
                .stores(Stores::new(pg.clone(), revocations))
                .health_check(pg);
        }
        _ => {
            if let Some(redis) = &redis {
                builder = builder.revocation_list(redis.clone());
            }
        }
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
    // Usage counts reach the store every minute, and at shutdown below.
    idp.spawn_usage_flusher(Duration::from_secs(60));

    let state = AppState {
        idp: idp.clone(),
        reports: Arc::new(vec!["q3-revenue".into(), "q3-churn".into()]),
    };
    let listener = tokio::net::TcpListener::bind(bind).await?;
    // With ConnectInfo the audit log records each caller's address.
    axum::serve(listener, app(state).into_make_service_with_connect_info::<SocketAddr>())
        .with_graceful_shutdown(shutdown_signal())
        .await?;
    idp.flush_usage().await?;
    Ok(())
}

/// Ctrl-C or SIGTERM.
async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
}
