//! The adapter beside a host's own routes and fallback, in either order,
//! over a real socket (`sentryagent_testkit::composition`).

use axum::Router;
use axum::routing::get;
use http::StatusCode;
use sentryagent_axum::{ResourcePolicy, SentryAgent};
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
fn host() -> Router {
    Router::new().route(HOST_PAGE_PATH, get(|| async { HOST_PAGE }))
}

async fn host_404() -> (StatusCode, &'static str) {
    (StatusCode::NOT_FOUND, HOST_NOT_FOUND)
}

/// Serves `app` on a loopback port and returns its base URL.
async fn serve(app: Router) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("a loopback port");
    let addr = listener.local_addr().expect("its address");
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    format!("http://{addr}")
}

#[tokio::test]
async fn host_fallback_set_before_merging() {
    let idp = idp().await;
    let app = host()
        .fallback(host_404)
        .merge(sentryagent_axum::well_known(idp.clone()))
        .nest("/api/v1", sentryagent_axum::router(idp));
    check(&serve(app).await, HostNotFound::Fallback).await;
}

#[tokio::test]
async fn host_fallback_set_after_merging() {
    let idp = idp().await;
    let app = host()
        .nest("/api/v1", sentryagent_axum::router(idp.clone()))
        .merge(sentryagent_axum::well_known(idp))
        .fallback(host_404);
    check(&serve(app).await, HostNotFound::Fallback).await;
}

#[tokio::test]
async fn well_known_first_then_the_host_with_its_fallback() {
    let idp = idp().await;
    let app = sentryagent_axum::well_known(idp.clone())
        .merge(host().fallback(host_404))
        .nest("/api/v1", sentryagent_axum::router(idp));
    check(&serve(app).await, HostNotFound::Fallback).await;
}

#[tokio::test]
async fn host_without_a_fallback_keeps_axums_404() {
    let idp = idp().await;
    let app = host()
        .merge(sentryagent_axum::well_known(idp.clone()))
        .nest("/api/v1", sentryagent_axum::router(idp));
    check(&serve(app).await, HostNotFound::Framework).await;
}
