//! The HTTP suite against the axum adapter, over a real socket.

use std::net::SocketAddr;

use axum::routing::get;
use axum::{Extension, Json, Router};
use sentryagent_axum::{Agent, AgentIdentity, AgentOrUser, Principal, Rejection, Resource, SentryAgent};
use sentryagent_testkit::{RESOURCE_A_PATH, RESOURCE_B_PATH, RESOURCE_C_PATH, STEP_UP_PATH, resource_url};

async fn whoami(agent: Agent) -> Json<AgentIdentity> {
    Json(agent.0)
}

/// The caller behind `sentryagent_axum::protect`, which put it there.
async fn protected_whoami(Extension(caller): Extension<Principal>) -> Json<Principal> {
    Json(caller)
}

/// An agent or a person with `tools:call`.
async fn either(caller: AgentOrUser) -> Result<Json<Principal>, Rejection> {
    caller.require_scope("tools:call")?;
    Ok(Json(caller.0))
}

/// An agent with `reports:write`, checked by the handler.
async fn step_up(agent: Agent) -> Result<Json<AgentIdentity>, Rejection> {
    agent.require_scope("reports:write")?;
    Ok(Json(agent.0))
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
        .route(
            RESOURCE_C_PATH,
            get(either).layer(Extension(Resource::new(resource_url(&listener, RESOURCE_C_PATH)))),
        )
        .route(STEP_UP_PATH, get(step_up))
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
