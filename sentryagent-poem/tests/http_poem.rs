//! The HTTP suite against the poem adapter, over a real socket.

use poem::listener::TcpAcceptor;
use poem::web::Json;
use poem::{EndpointExt, Route, Server, get, handler};
use sentryagent_poem::{Agent, AgentIdentity, AgentOrUser, Principal, Protect, Resource, SentryAgent};
use sentryagent_testkit::{RESOURCE_A_PATH, RESOURCE_B_PATH, RESOURCE_C_PATH, STEP_UP_PATH, resource_url};

#[handler]
async fn whoami(agent: Agent) -> Json<AgentIdentity> {
    Json(agent.0)
}

/// The caller behind `sentryagent_poem::Protect`, which put it there.
#[handler]
async fn protected_whoami(caller: poem::web::Data<&Principal>) -> Json<Principal> {
    Json(caller.0.clone())
}

/// An agent or a person with `tools:call`.
#[handler]
async fn either(caller: AgentOrUser) -> poem::Result<Json<Principal>> {
    caller.require_scope("tools:call")?;
    Ok(Json(caller.0))
}

/// An agent with `reports:write`, checked by the handler.
#[handler]
async fn step_up(agent: Agent) -> poem::Result<Json<AgentIdentity>> {
    agent.require_scope("reports:write")?;
    Ok(Json(agent.0))
}

async fn start(listener: tokio::net::TcpListener, idp: SentryAgent) {
    let routes = Route::new()
        .nest("/api/v1", sentryagent_poem::endpoint(idp.clone()))
        .at("/whoami", get(whoami))
        .at(
            RESOURCE_A_PATH,
            get(whoami).data(Resource::new(resource_url(&listener, RESOURCE_A_PATH))),
        )
        .at(
            RESOURCE_C_PATH,
            get(either).data(Resource::new(resource_url(&listener, RESOURCE_C_PATH))),
        )
        .at(STEP_UP_PATH, get(step_up))
        .at(
            RESOURCE_B_PATH,
            get(protected_whoami).with(Protect::new(idp.clone(), resource_url(&listener, RESOURCE_B_PATH))),
        );
    let app = sentryagent_poem::well_known(routes, idp.clone()).data(idp);
    let acceptor = TcpAcceptor::from_tokio(listener).expect("a poem acceptor on the listener");
    tokio::spawn(async move {
        let _ = Server::new_with_acceptor(acceptor).run(app).await;
    });
}

sentryagent_testkit::http_suite!(start);
