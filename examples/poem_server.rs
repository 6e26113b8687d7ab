//! The example server's twin on poem: the whole SentryAgent API, in memory,
//! with the same settings, output and routes as `server.rs`.
//!
//! ```text
//! cargo run --example poem_server
//! ```

mod common;

use poem::listener::TcpAcceptor;
use poem::web::Json;
use poem::{EndpointExt, Route, Server, get, handler};
use sentryagent_core::AgentIdentity;
use sentryagent_poem::Agent;

#[tokio::main]
async fn main() {
    common::main(run).await;
}

async fn run() -> Result<(), common::BoxError> {
    let (idp, listener) = common::start().await?;
    common::spawn_background(&idp)?;
    let routes = Route::new()
        .nest("/api/v1", sentryagent_poem::endpoint(idp.clone()))
        .at("/whoami", get(whoami));
    let app = sentryagent_poem::well_known(routes, idp.clone()).data(idp.clone());
    let bind = listener.local_addr()?;
    tracing::info!(%bind, "listening; API under /api/v1");
    Server::new_with_acceptor(TcpAcceptor::from_tokio(listener)?)
        .run_with_graceful_shutdown(app, common::shutdown_signal(), None)
        .await?;
    common::stop(&idp).await;
    Ok(())
}

/// The host's own route, protected by the extractor.
#[handler]
async fn whoami(agent: Agent) -> Json<AgentIdentity> {
    Json(agent.0)
}
