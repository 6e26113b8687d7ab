//! Rate limits: per client at the token endpoint, per IP for sign-up, with
//! headers on every answer and forwarding headers believed only from trusted
//! proxies.

use sentryagent_core::ratelimit::{Quota, RouteGroup};

use crate::{StartFn, TestApp};

fn quota(s: &str) -> Quota {
    s.parse().expect("a quota")
}

/// The N+1st token request of a client in the window is 429 with
/// `Retry-After`; another client is not affected; headers count down.
pub async fn token_endpoint_is_limited_per_client(start: impl StartFn) {
    let app = TestApp::start_with(start, |b| b.rate_limit(RouteGroup::Token, quota("3/60s"))).await;
    let a = app.signup("A").await;
    let b = app.signup("B").await;
    let mut remaining = Vec::new();
    for _ in 0..3 {
        let ok = app.token_request(&a.client_id, &a.secret, None).await;
        ok.assert_status(200);
        assert_eq!(ok.header("x-ratelimit-limit"), "3");
        remaining.push(ok.header("x-ratelimit-remaining").to_owned());
    }
    assert_eq!(remaining, ["2", "1", "0"]);
    let limited = app.token_request(&a.client_id, &a.secret, None).await;
    limited.assert_error(429, "RATE_LIMITED");
    let retry: u64 = limited.header("retry-after").parse().expect("Retry-After seconds");
    assert!((1..=20).contains(&retry), "{retry}");
    // A wrong secret for the same client id is counted too (no free guessing).
    app.token_request(&a.client_id, "sa_sk_guess", None)
        .await
        .assert_error(429, "RATE_LIMITED");
    app.token_request(&b.client_id, &b.secret, None)
        .await
        .assert_status(200);
}

/// Sign-up is limited per IP, and a spoofed `X-Forwarded-For` from an
/// untrusted peer does not buy a fresh bucket.
pub async fn spoofed_forwarding_headers_do_not_escape_limits(start: impl StartFn) {
    let app = TestApp::start_with(start, |b| b.rate_limit(RouteGroup::Signup, quota("2/60s"))).await;
    let body = serde_json::json!({"name": "Acme"});
    let signup = |spoof: &'static str| {
        app.request(reqwest::Method::POST, "/tenants", None)
            .header("x-forwarded-for", spoof)
            .header("forwarded", format!("for={spoof}"))
            .json(&body)
    };
    app.send(signup("198.51.100.1")).await.assert_status(201);
    app.send(signup("198.51.100.2")).await.assert_status(201);
    app.send(signup("198.51.100.3")).await.assert_error(429, "RATE_LIMITED");
}

/// Behind a trusted proxy, each forwarded client has its own bucket.
pub async fn trusted_proxies_pass_the_client_address(start: impl StartFn) {
    let app = TestApp::start_with(start, |b| {
        b.rate_limit(RouteGroup::Signup, quota("1/60s"))
            .trusted_proxy(std::net::IpAddr::from([127, 0, 0, 1]))
    })
    .await;
    let body = serde_json::json!({"name": "Acme"});
    let signup = |client: &'static str| {
        app.request(reqwest::Method::POST, "/tenants", None)
            .header("x-forwarded-for", client)
            .json(&body)
    };
    let first = app.send(signup("198.51.100.1")).await;
    first.assert_status(201);
    app.send(signup("198.51.100.2")).await.assert_status(201);
    app.send(signup("198.51.100.1")).await.assert_error(429, "RATE_LIMITED");
    // The audit log records the forwarded client, not the proxy.
    let admin = app
        .token(
            first.json["adminClientId"].as_str().unwrap_or_default(),
            first.json["adminClientSecret"].as_str().unwrap_or_default(),
            None,
        )
        .await;
    let created = app.get("/audit?action=tenant.created", &admin).await;
    assert_eq!(created.json["items"][0]["ip"], "198.51.100.1", "{}", created.text);
}

/// Management routes are limited per tenant.
pub async fn management_routes_are_limited_per_tenant(start: impl StartFn) {
    let app = TestApp::start_with(start, |b| b.rate_limit(RouteGroup::Management, quota("2/60s"))).await;
    let a = app.signup("A").await;
    let b = app.signup("B").await;
    let (ta, tb) = (app.admin_token(&a).await, app.admin_token(&b).await);
    app.get("/agents", &ta).await.assert_status(200);
    app.get("/tenants/me", &ta).await.assert_status(200);
    app.get("/agents", &ta).await.assert_error(429, "RATE_LIMITED");
    app.get("/agents", &tb).await.assert_status(200);
}
