//! The host application of `embed_axum.rs`, on poem: the same routes, the
//! same answers. `docs/guides/embed-in-your-app.md` walks through both.
//!
//! ```text
//! cargo run --example embed_poem
//! ```
//!
//! In memory by default; `DATABASE_URL` (with `SENTRYAGENT_SECRET_KEY`) and
//! `REDIS_URL` switch to PostgreSQL and Redis. `SENTRYAGENT_BIND` (default
//! `127.0.0.1:3000`) is where it listens.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use poem::listener::TcpListener;
use poem::web::{Data, Json};
use poem::{EndpointExt, Route, Server, get, handler};
use sentryagent_core::store::{RevocationList, Stores};
use sentryagent_poem::{Agent, ResourcePolicy, SentryAgent};
use sentryagent_store_postgres::{PgOptions, PgStore};
use sentryagent_store_redis::{RedisOptions, RedisStore};
use serde_json::{Value, json};

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// The host's own data, beside the IdP in the request data.
#[derive(Clone)]
struct Reports(Arc<Vec<String>>);

/// Any agent of the tenants the resource policy names gets in.
#[handler]
async fn whoami(agent: Agent) -> Json<Value> {
    Json(json!({ "agentId": agent.agent_id, "scopes": agent.scopes }))
}

/// Only tokens that carry `reports:read`.
#[handler]
async fn reports(agent: Agent, Data(reports): Data<&Reports>) -> poem::Result<Json<Value>> {
    agent.require_scope("reports:read")?;
    Ok(Json(json!({ "agentId": agent.agent_id, "reports": *reports.0 })))
}

fn app(idp: SentryAgent, reports_data: Reports) -> impl poem::Endpoint {
    let routes = Route::new()
        // The whole API under a prefix of your choice.
        .nest("/api/v1", sentryagent_poem::endpoint(idp.clone()))
        // Your own routes.
        .at("/whoami", get(whoami))
        .at("/reports", get(reports));
    // JWKS, discovery and DID documents, where clients look for them, added
    // beside your routes (no catch-all: your unknown paths stay yours).
    sentryagent_poem::well_known(routes, idp.clone())
        // The `Agent` extractor finds the IdP in the request data.
        .data(idp)
        .data(reports_data)
}

/// In memory unless `REDIS_URL` or `DATABASE_URL` say otherwise.
async fn identity_provider(issuer: &str) -> Result<SentryAgent, BoxError> {
    let mut builder = SentryAgent::builder().issuer(issuer).api_path("/api/v1");
    let redis = match std::env::var("REDIS_URL") {
        Ok(url) => Some(Arc::new(RedisStore::connect(&url, RedisOptions::default()).await?)),
        Err(_) => None,
    };
    if let Some(redis) = &redis {
        // One rate limit, one quota, one replay guard for every instance.
        builder = builder
            .rate_limiter(redis.clone())
            .shared_usage(redis.clone())
            .replay_guard(redis.clone())
            .health_check(redis.clone());
    }
    match std::env::var("DATABASE_URL") {
        Ok(url) => {
            // 32+ bytes, the same on every start: it peppers client-secret
            // hashes and encrypts the signing keys stored in PostgreSQL.
            let secret = std::env::var("SENTRYAGENT_SECRET_KEY")
                .map_err(|_| "DATABASE_URL needs SENTRYAGENT_SECRET_KEY (32+ bytes, stable)")?;
            let pg = Arc::new(PgStore::connect(&url, secret.as_bytes(), PgOptions::default()).await?);
            let revocations: Arc<dyn RevocationList> = match &redis {
                Some(redis) => redis.clone(),
                None => pg.clone(),
            };
            builder = builder
                .server_secret(secret.as_bytes())?
                .stores(Stores::new(pg.clone(), revocations))
                .health_check(pg);
        }
        Err(_) => {
            if let Some(redis) = &redis {
                builder = builder.revocation_list(redis.clone());
            }
        }
    }
    Ok(builder.build().await?)
}

#[tokio::main]
async fn main() -> Result<(), BoxError> {
    let bind: SocketAddr = std::env::var("SENTRYAGENT_BIND")
        .unwrap_or_else(|_| "127.0.0.1:3000".into())
        .parse()?;
    let issuer = format!("http://{bind}");
    let idp = identity_provider(&issuer).await?;
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

    let reports_data = Reports(Arc::new(vec!["q3-revenue".into(), "q3-churn".into()]));
    // poem records each caller's address for the audit log by itself.
    Server::new(TcpListener::bind(bind))
        .run_with_graceful_shutdown(app(idp.clone(), reports_data), shutdown_signal(), None)
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
