//! What the example servers share, whatever the framework: settings from the
//! environment, logs, the default tenant, audit retention, the `/whoami`
//! answer and graceful shutdown. Each server includes it with `mod common;`.

use std::future::Future;
use std::net::SocketAddr;
use std::time::Duration;

use sentryagent_core::token::SigningAlgorithm;
use sentryagent_core::{AgentIdentity, SentryAgent};
use serde_json::{Value, json};
use tracing_subscriber::EnvFilter;

pub(crate) type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Logs to stderr, runs `serve`, and exits with status 1 on its error.
pub(crate) async fn main<F: Future<Output = Result<(), BoxError>>>(serve: impl FnOnce() -> F) {
    tracing_subscriber::fmt()
        .with_env_filter(EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")))
        .with_writer(std::io::stderr)
        .init();
    if let Err(e) = serve().await {
        tracing::error!("{e}");
        eprintln!("error: {e}");
        std::process::exit(1);
    }
}

fn env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty())
}

/// The IdP the environment describes (see the README's table) and the
/// address to listen on. On an empty in-memory store it makes the default
/// tenant and prints its admin credential on stdout, once.
pub(crate) async fn start() -> Result<(SentryAgent, SocketAddr), BoxError> {
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

    let created = idp
        .create_tenant("default", env("SENTRYAGENT_OPERATOR_KEY").as_deref(), None)
        .await?;
    println!("SENTRYAGENT_ADMIN_CLIENT_ID={}", created.admin_client_id);
    println!(
        "SENTRYAGENT_ADMIN_CLIENT_SECRET={}",
        created.admin_client_secret.expose()
    );
    Ok((idp, bind))
}

/// The host route's answer: who the agent token belongs to.
pub(crate) fn whoami(agent: &AgentIdentity) -> Value {
    json!({
        "agentId": agent.agent_id,
        "tenantId": agent.tenant_id,
        "clientId": agent.client_id,
        "scopes": agent.scopes,
    })
}

/// Prunes the audit log past each tenant's retention window, once a day.
pub(crate) async fn prune_audit_daily(idp: SentryAgent) {
    let mut every_day = tokio::time::interval(Duration::from_secs(24 * 3600));
    loop {
        every_day.tick().await;
        match idp.prune_audit(sentryagent_core::time::now()).await {
            Ok(n) => tracing::info!(pruned = n, "audit retention pass"),
            Err(e) => tracing::warn!(error = %e, "audit retention pass failed"),
        }
    }
}

/// Resolves on SIGINT or SIGTERM.
pub(crate) async fn shutdown_signal() {
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
