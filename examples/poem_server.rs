//! The example server's twin on poem: the whole SentryAgent API, in memory,
//! with the same settings, output and routes as `server.rs`, the DEMO
//! sign-in and demo public client included (`demo_sign_in.rs`).
//!
//! ```text
//! cargo run --example poem_server
//! ```

mod common;
mod demo_sign_in;
mod log_writer;
mod shutdown;

use poem::listener::TcpAcceptor;
use poem::web::Json;
use poem::{EndpointExt, Route, Server, get, handler};
use sentryagent_core::AgentIdentity;
use sentryagent_examples::config::Config;
use sentryagent_poem::Agent;
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
    let routes = Route::new()
        .nest("/api/v1", sentryagent_poem::endpoint(idp.clone()))
        .nest("/portal", sentryagent_portal::poem::endpoint(Portal::new("/api/v1")))
        .at("/whoami", get(whoami))
        .at("/demo/sign-in", demo_sign_in::on_poem::endpoint(demo));
    let app = sentryagent_poem::well_known(routes, idp.clone()).data(idp.clone());
    let bind = listener.local_addr()?;
    tracing::info!(%bind, "listening; API under /api/v1");
    Server::new_with_acceptor(TcpAcceptor::from_tokio(listener)?)
        .run_with_graceful_shutdown(app, shutdown, None)
        .await?;
    common::stop(background).await;
    Ok(())
}

/// The host's own route, protected by the extractor.
#[handler]
async fn whoami(agent: Agent) -> Json<AgentIdentity> {
    Json(agent.0)
}
