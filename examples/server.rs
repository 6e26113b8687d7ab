//! The bundled example server: the whole SentryAgent API on axum, in memory.
//!
//! ```text
//! cargo run --example server
//! ```
//!
//! Settings come from the environment (see the README's table, or `--help`;
//! `check-config` checks them without serving). On first
//! start with an empty store it creates a default tenant and prints its admin
//! credential on stdout as `SENTRYAGENT_ADMIN_CLIENT_ID=…` and
//! `SENTRYAGENT_ADMIN_CLIENT_SECRET=…`; logs go to stderr. It is also an
//! MCP authorization server with a DEMO sign-in (`/demo/sign-in`, one demo
//! user of the default tenant) and a pre-registered public client
//! `sa_oc_demo_public_client` (redirect `http://127.0.0.1/callback`, any
//! port), a fixed id so CI scripts can use it as is. `poem_server.rs`
//! is its twin on poem; what they share is in `common.rs`.

mod common;
mod demo_sign_in;
mod log_writer;
mod shutdown;

use std::net::SocketAddr;

use axum::routing::get;
use axum::{Json, Router};
use sentryagent_axum::Agent;
use sentryagent_core::AgentIdentity;
use sentryagent_examples::config::Config;
use sentryagent_portal::Portal;

#[tokio::main]
async fn main() {
    common::main(run).await;
}

async fn run(config: Config) -> Result<(), common::BoxError> {
    // Before the port opens: a SIGTERM from then on stops the server cleanly.
    let shutdown = common::shutdown_signal();
    let demo = demo_sign_in::for_server(&config);
    let (idp, listener, tenant) = common::start(&config, Some(demo.clone())).await?;
    demo.set_tenant(tenant);
    demo_sign_in::register_demo_client(&idp, tenant).await?;
    // Usage flushes and audit retention until the server stops.
    let background = idp.spawn_background();
    let app = Router::new()
        .nest("/api/v1", sentryagent_axum::router(idp.clone()))
        .merge(sentryagent_axum::well_known(idp.clone()))
        .merge(sentryagent_portal::axum::router("/portal", Portal::new("/api/v1")))
        .route("/whoami", get(whoami))
        .with_state(idp.clone())
        .merge(
            Router::new()
                .route("/demo/sign-in", get(demo_sign_in::form).post(demo_sign_in::sign_in))
                .with_state(demo),
        );
    let bind = listener.local_addr()?;
    tracing::info!(%bind, "listening; API under /api/v1");
    axum::serve(listener, app.into_make_service_with_connect_info::<SocketAddr>())
        .with_graceful_shutdown(shutdown)
        .await?;
    common::stop(background).await;
    Ok(())
}

/// The host's own route, protected by the extractor.
async fn whoami(agent: Agent) -> Json<AgentIdentity> {
    Json(agent.0)
}
