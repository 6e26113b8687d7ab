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

mod shutdown;

use std::sync::Arc;

use poem::listener::TcpListener;
use poem::web::{Data, Json};
use poem::{EndpointExt, Route, Server, get, handler};
use sentryagent_examples::config::Backends;
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

    let reports_data = Reports(Arc::new(vec!["q3-revenue".into(), "q3-churn".into()]));
    // Before the port opens: a SIGTERM from then on stops the server cleanly.
    let shutdown = shutdown::shutdown_signal();
    // poem records each caller's address for the audit log by itself.
    Server::new(TcpListener::bind(bind))
        .run_with_graceful_shutdown(app(idp.clone(), reports_data), shutdown, None)
        .await?;
    // The last usage flush.
    background.stop().await;
    Ok(())
}
