//! The guarded fetcher against servers on loopback: refused by address
//! (literal or resolved), allowed only with the test switch, and even then
//! no redirect is followed and no oversized body read.

use axum::Router;
use axum::http::{StatusCode, header};
use axum::routing::get;
use sentryagent_core::federation::JwksFetcher;
use sentryagent_federation_reqwest::{GuardedFetcher, MAX_BODY};
use sentryagent_testkit::oidc::StandInIssuer;

/// A server with a redirect to the stand-in issuer and an oversized body.
async fn tricky(target: String) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let base = format!("http://{}", listener.local_addr().expect("address"));
    let app = Router::new()
        .route(
            "/redirect",
            get(move || {
                let target = target.clone();
                async move { (StatusCode::FOUND, [(header::LOCATION, target)]) }
            }),
        )
        .route("/huge", get(|| async { format!("[{}0]", "0,".repeat(MAX_BODY)) }));
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    base
}

#[tokio::test]
async fn loopback_is_refused_by_literal_and_by_resolved_name() {
    let issuer = StandInIssuer::start().await;
    let guarded = GuardedFetcher::new().expect("client");
    assert!(!guarded.allows_private_networks());
    let discovery = format!("{}/.well-known/openid-configuration", issuer.url());
    let e = guarded.fetch_json(&discovery).await.expect_err("a loopback literal");
    assert!(e.to_string().contains("not a public address"), "{e}");
    let by_name = discovery.replace("127.0.0.1", "localhost");
    guarded
        .fetch_json(&by_name)
        .await
        .expect_err("a name resolving to loopback");
    for url in [
        "http://[::1]:9/x",
        "http://169.254.169.254/latest/meta-data",
        "http://10.0.0.1/x",
        "file:///etc/passwd",
    ] {
        guarded.fetch_json(url).await.expect_err(url);
    }
    assert_eq!(issuer.discovery_fetches(), 0, "nothing reached the server");

    let allowed = GuardedFetcher::allowing_private_networks_for_tests().expect("client");
    let doc = allowed
        .fetch_json(&discovery)
        .await
        .expect("the test switch allows loopback");
    assert_eq!(doc["issuer"], issuer.url());
    allowed.fetch_json(&by_name).await.expect("by name too");
}

#[tokio::test]
async fn redirects_are_not_followed_and_bodies_are_bounded() {
    let issuer = StandInIssuer::start().await;
    let base = tricky(format!("{}/.well-known/openid-configuration", issuer.url())).await;
    let allowed = GuardedFetcher::allowing_private_networks_for_tests().expect("client");
    let e = allowed
        .fetch_json(&format!("{base}/redirect"))
        .await
        .expect_err("a redirect");
    assert!(e.to_string().contains("302"), "{e}");
    assert_eq!(issuer.discovery_fetches(), 0, "the redirect was not followed");
    let e = allowed
        .fetch_json(&format!("{base}/huge"))
        .await
        .expect_err("too large");
    assert!(e.to_string().contains("more than"), "{e}");
}
