//! The adapter beside a host's own routes and catch-all, in either order,
//! over a real socket (`sentryagent_testkit::composition`).

use poem::endpoint::make_sync;
use poem::error::NotFoundError;
use poem::http::StatusCode;
use poem::listener::TcpAcceptor;
use poem::{Endpoint, EndpointExt, IntoResponse, Route, Server, get};
use sentryagent_poem::{ResourcePolicy, SentryAgent};
use sentryagent_testkit::composition::{HOST_NOT_FOUND, HOST_PAGE, HOST_PAGE_PATH, HOST_RESOURCE, HostNotFound, check};

/// An IdP protecting the host's resource, whose metadata the root serves.
async fn idp() -> SentryAgent {
    SentryAgent::builder()
        .resource(ResourcePolicy::new(HOST_RESOURCE).any_tenant())
        .build()
        .await
        .expect("an in-memory IdP")
}

/// The host's own route, before anything of ours.
fn host() -> Route {
    Route::new().at(HOST_PAGE_PATH, get(make_sync(|_| HOST_PAGE)))
}

fn host_404() -> poem::Response {
    HOST_NOT_FOUND.with_status(StatusCode::NOT_FOUND).into_response()
}

/// Serves `app` on a loopback port and returns its base URL.
async fn serve(app: impl Endpoint + 'static) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("a loopback port");
    let addr = listener.local_addr().expect("its address");
    let acceptor = TcpAcceptor::from_tokio(listener).expect("a poem acceptor on the listener");
    tokio::spawn(async move {
        let _ = Server::new_with_acceptor(acceptor).run(app).await;
    });
    format!("http://{addr}")
}

#[tokio::test]
async fn host_catch_all_added_before_the_root_documents() {
    let idp = idp().await;
    let routes = host()
        .at("/*", make_sync(|_| host_404()))
        .nest("/api/v1", sentryagent_poem::endpoint(idp.clone()));
    let app = sentryagent_poem::well_known(routes, idp);
    check(&serve(app).await, HostNotFound::Fallback).await;
}

#[tokio::test]
async fn host_catch_all_added_after_the_root_documents() {
    let idp = idp().await;
    let app = sentryagent_poem::well_known(host(), idp.clone())
        .nest("/api/v1", sentryagent_poem::endpoint(idp))
        .at("/*", make_sync(|_| host_404()));
    check(&serve(app).await, HostNotFound::Fallback).await;
}

#[tokio::test]
async fn host_catching_poems_not_found_error() {
    let idp = idp().await;
    let routes = host().nest("/api/v1", sentryagent_poem::endpoint(idp.clone()));
    let app = sentryagent_poem::well_known(routes, idp).catch_error(|_: NotFoundError| async { host_404() });
    check(&serve(app).await, HostNotFound::Fallback).await;
}

#[tokio::test]
async fn host_without_a_catch_all_keeps_poems_404() {
    let idp = idp().await;
    let routes = host().nest("/api/v1", sentryagent_poem::endpoint(idp.clone()));
    let app = sentryagent_poem::well_known(routes, idp);
    check(&serve(app).await, HostNotFound::Framework).await;
}
