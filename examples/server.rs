//! The bundled example server: the whole SentryAgent API on axum, in memory.
//!
//! ```text
//! cargo run --example server
//! ```
//!
//! Settings come from the environment (see the README's table). On first
//! start with an empty store it creates a default tenant and prints its admin
//! credential on stdout as `SENTRYAGENT_ADMIN_CLIENT_ID=…` and
//! `SENTRYAGENT_ADMIN_CLIENT_SECRET=…`; logs go to stderr.

use std::net::SocketAddr;
use std::time::Duration;

use axum::routing::get;
use axum::{Json, Router};
use sentryagent_axum::{Agent, SentryAgent};
use sentryagent_core::token::SigningAlgorithm;
use serde_json::{Value, json};
use tracing_subscriber::EnvFilter;

type BoxError = Box<dyn std::error::Error + Send + Sync>;

#[tokio::main]
async fn main() {
    tracing_subscriber::fmt()
        .with_env_filter(EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")))
        .with_writer(std::io::stderr)
        .init();
    if let Err(e) = run().await {
        tracing::error!("{e}");
        eprintln!("error: {e}");
        std::process::exit(1);
    }
}

fn env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty())
}

async fn run() -> Result<(), BoxError> {
    let bind: SocketAddr = env("SENTRYAGENT_BIND")
        .unwrap_or_else(|| "127.0.0.1:3000".into())
        .parse()
        .map_err(|e| format!("SENTRYAGENT_BIND is not an address such as 127.0.0.1:3000: {e}"))?;
    let issuer = env("SENTRYAGENT_ISSUER").unwrap_or_else(|| format!("http://{bind}"));
    let mut builder = SentryAgent::builder().issuer(&issuer).api_path("/api/v1");
    if let Some(key) = env("SENTRYAGENT_OPERATOR_KEY") {
        builder = builder.operator_key(key);
    }
    if let Some(secret) = env("SENTRYAGENT_SECRET_KEY") {
        builder = builder
            .server_secret(secret.as_bytes())
            .map_err(|e| format!("SENTRYAGENT_SECRET_KEY: {e}"))?;
    }
    if let Some(alg) = env("SENTRYAGENT_SIGNING_ALG") {
        let alg = SigningAlgorithm::parse(&alg).ok_or("SENTRYAGENT_SIGNING_ALG must be ES256, EdDSA or RS256")?;
        builder = builder.signing_algorithm(alg);
    }
    if let Some(ttl) = env("SENTRYAGENT_TOKEN_TTL_SECS") {
        let secs: u64 = ttl
            .parse()
            .map_err(|_| "SENTRYAGENT_TOKEN_TTL_SECS must be a number of seconds")?;
        builder = builder.token_ttl(Duration::from_secs(secs));
    }
    let idp = builder.build().await?;
    tracing::info!(store = "memory", %issuer, "SentryAgent starting");

    // An empty in-memory store: make the default tenant and hand its admin
    // credential to whoever started the server, once.
    let created = idp
        .create_tenant("default", env("SENTRYAGENT_OPERATOR_KEY").as_deref(), None)
        .await?;
    println!("SENTRYAGENT_ADMIN_CLIENT_ID={}", created.admin_client_id);
    println!(
        "SENTRYAGENT_ADMIN_CLIENT_SECRET={}",
        created.admin_client_secret.expose()
    );

    let retention = tokio::spawn(prune_audit_daily(idp.clone()));
    let app = Router::new()
        .nest("/api/v1", sentryagent_axum::router(idp.clone()))
        .merge(sentryagent_axum::well_known(idp.clone()))
        .route("/whoami", get(whoami))
        .with_state(idp);
    let listener = tokio::net::TcpListener::bind(bind)
        .await
        .map_err(|e| format!("cannot listen on {bind}: {e}"))?;
    tracing::info!(%bind, "listening; API under /api/v1");
    axum::serve(listener, app.into_make_service_with_connect_info::<SocketAddr>())
        .with_graceful_shutdown(shutdown_signal())
        .await?;
    retention.abort();
    tracing::info!("stopped");
    Ok(())
}

/// The host's own route, protected by the extractor.
async fn whoami(agent: Agent) -> Json<Value> {
    Json(json!({
        "agentId": agent.agent_id,
        "tenantId": agent.tenant_id,
        "clientId": agent.client_id,
        "scopes": agent.scopes,
    }))
}

async fn prune_audit_daily(idp: SentryAgent) {
    let mut every_day = tokio::time::interval(Duration::from_secs(24 * 3600));
    loop {
        every_day.tick().await;
        match idp.prune_audit(sentryagent_core::time::now()).await {
            Ok(n) => tracing::info!(pruned = n, "audit retention pass"),
            Err(e) => tracing::warn!(error = %e, "audit retention pass failed"),
        }
    }
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
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
    tracing::info!("shutting down");
}
