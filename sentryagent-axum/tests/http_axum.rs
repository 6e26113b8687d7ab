//! The HTTP suite against the axum adapter, over a real socket.

use std::net::SocketAddr;

use axum::routing::get;
use axum::{Extension, Json, Router};
use sentryagent_axum::{Agent, AgentIdentity, Resource, SentryAgent};
use sentryagent_testkit::{RESOURCE_A_PATH, RESOURCE_B_PATH, resource_url};

async fn whoami(agent: Agent) -> Json<AgentIdentity> {
    Json(agent.0)
}

/// The same answer behind `sentryagent_axum::protect`, which put the agent there.
async fn protected_whoami(Extension(agent): Extension<AgentIdentity>) -> Json<AgentIdentity> {
    Json(agent)
}

async fn start(listener: tokio::net::TcpListener, idp: SentryAgent) {
    let app = Router::new()
        .nest("/api/v1", sentryagent_axum::router(idp.clone()))
        .merge(sentryagent_axum::well_known(idp.clone()))
        .route("/whoami", get(whoami))
        .route(
            RESOURCE_A_PATH,
            get(whoami).layer(Extension(Resource::new(resource_url(&listener, RESOURCE_A_PATH)))),
        )
        .merge(sentryagent_axum::protect(
            Router::new().route(RESOURCE_B_PATH, get(protected_whoami)),
            idp.clone(),
            resource_url(&listener, RESOURCE_B_PATH),
        ))
        .with_state(idp);
    tokio::spawn(async move {
        let _ = axum::serve(listener, app.into_make_service_with_connect_info::<SocketAddr>()).await;
    });
}

sentryagent_testkit::http_suite!(start);
