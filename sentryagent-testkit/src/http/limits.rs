//! Rate limits: per authenticated client at the token endpoint, refusals per
//! address before authentication, per agent with a tenant ceiling after it,
//! per IP for sign-up, with headers on every answer, and the client's
//! address by one rule behind trusted proxies.

use std::net::IpAddr;

use sentryagent_core::http::client_ip::ForwardedHeader;
use sentryagent_core::ratelimit::{Quota, RouteGroup};
use serde_json::json;

use crate::{Answer, StartFn, TestApp, basic};

fn quota(s: &str) -> Quota {
    s.parse().expect("a quota")
}

const LOOPBACK: IpAddr = IpAddr::V4(std::net::Ipv4Addr::LOCALHOST);

/// A client-credentials request from `client` (an address behind the
/// trusted proxy on loopback, which appends it to `X-Forwarded-For`).
async fn token_from(app: &TestApp, client: &str, client_id: &str, secret: &str) -> Answer {
    app.send(
        app.request(reqwest::Method::POST, "/oauth2/token", None)
            .header("content-type", "application/x-www-form-urlencoded")
            .header("authorization", basic(client_id, secret))
            .header("x-forwarded-for", client)
            .body("grant_type=client_credentials"),
    )
    .await
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
    app.token_request(&b.client_id, &b.secret, None)
        .await
        .assert_status(200);
}

/// Issue 17, point 1. Whoever knows a client id cannot lock the client out:
/// failed authentications are limited per address (an address over its
/// budget gets 429 before its secret is checked, so nobody guesses from it)
/// and per client (past the budget failures get 429 and are audited as one
/// count, while the right secret from elsewhere still gets its token).
/// Made-up client ids are limited too, by the address sending them.
pub async fn nobody_can_lock_a_client_out_of_the_token_endpoint(start: impl StartFn) {
    let app = TestApp::start_with(start, |b| {
        b.rate_limit(RouteGroup::Token, quota("3/60s"))
            .rate_limit(RouteGroup::TokenFailures, quota("5/60s"))
            .rate_limit(RouteGroup::ClientFailures, quota("10/60s"))
            .trusted_proxy(LOOPBACK)
    })
    .await;
    let a = app.signup("A").await;
    // One attacker's address: five failures, then 429, the right secret too.
    let mut statuses = Vec::new();
    for _ in 0..20 {
        statuses.push(
            token_from(&app, "198.51.100.66", &a.client_id, "sa_sk_guess")
                .await
                .status
                .as_u16(),
        );
    }
    assert_eq!(statuses[..5], [401; 5], "{statuses:?}");
    assert_eq!(statuses[5..], [429; 15], "{statuses:?}");
    token_from(&app, "198.51.100.66", &a.client_id, &a.secret)
        .await
        .assert_error(429, "RATE_LIMITED");
    // Many addresses, each under its own budget: the client's budget ends them.
    let mut statuses = Vec::new();
    for i in 1..=10 {
        for _ in 0..2 {
            let answer = token_from(&app, &format!("203.0.113.{i}"), &a.client_id, "sa_sk_guess").await;
            statuses.push(answer.status.as_u16());
        }
    }
    assert_eq!(statuses[..5], [401; 5], "{statuses:?}");
    assert_eq!(statuses[5..], [429; 15], "{statuses:?}");
    // The client, from its own address, is not locked out.
    let token = token_from(&app, "192.0.2.10", &a.client_id, &a.secret).await;
    token.assert_status(200);
    let admin = token.json["access_token"].as_str().unwrap_or_default().to_owned();
    // Audited: each failure within the budget, then one event for the rest.
    let denied = app.get("/audit?action=token.denied&limit=100", &admin).await;
    let items = denied.json["items"].as_array().cloned().unwrap_or_default();
    assert_eq!(items.len(), 11, "{}", denied.text);
    // Made-up client ids are failures of the address that sends them.
    let mut statuses = Vec::new();
    for i in 0..10 {
        let answer = token_from(&app, "192.0.2.99", &format!("sa_ci_made_up_{i}"), "sa_sk_guess").await;
        statuses.push(answer.status.as_u16());
    }
    assert_eq!(statuses[..5], [401; 5], "{statuses:?}");
    assert_eq!(statuses[5..], [429; 5], "{statuses:?}");
}

/// Issue 17, point 2. A refused bearer token is counted per address and,
/// past that quota, answered 429 with `Retry-After`; a valid token from the
/// same address is not affected; the refusals of one token are audited once
/// per window, not once each.
pub async fn refused_tokens_are_limited_and_audited_once(start: impl StartFn) {
    let app = TestApp::start_with(start, |b| b.rate_limit(RouteGroup::RefusedTokens, quota("3/60s"))).await;
    let t = app.signup("A").await;
    let admin = app.admin_token(&t).await;
    let bot = app
        .register(&admin, "bot@acme.example", json!({"scopes": ["agents:read"]}))
        .await;
    let revoked = app.token(&bot.client_id, &bot.secret, None).await;
    app.revoke(&admin, &revoked).await.assert_status(200);
    let mut statuses = Vec::new();
    for _ in 0..12 {
        statuses.push(app.get("/agents", &revoked).await);
    }
    for answer in &statuses[..3] {
        answer.assert_error(401, "UNAUTHORIZED");
    }
    for answer in &statuses[3..] {
        answer.assert_error(429, "RATE_LIMITED");
        assert!(!answer.header("retry-after").is_empty());
    }
    // Valid tokens from the same address are counted per agent, not here.
    app.get("/agents", &admin).await.assert_status(200);
    let rejected = app.get("/audit?action=token.rejected", &admin).await;
    let items = rejected.json["items"].as_array().cloned().unwrap_or_default();
    assert_eq!(items.len(), 1, "{}", rejected.text);
    assert_eq!(items[0]["details"]["reason"], "token_revoked");
}

/// Issue 17, point 2. Authenticated calls are limited per agent, so one
/// agent cannot spend its tenant's quota, with a per-tenant ceiling over
/// all of its agents; other tenants are not affected.
pub async fn management_routes_are_limited_per_agent_with_a_tenant_ceiling(start: impl StartFn) {
    let app = TestApp::start_with(start, |b| {
        b.rate_limit(RouteGroup::Management, quota("3/60s"))
            .rate_limit(RouteGroup::Tenant, quota("5/60s"))
    })
    .await;
    let a = app.signup("A").await;
    let b = app.signup("B").await;
    let (ta, tb) = (app.admin_token(&a).await, app.admin_token(&b).await);
    let reader = json!({"scopes": ["agents:read"]});
    let one = app.register(&ta, "one@acme.example", reader.clone()).await;
    let two = app.register(&ta, "two@acme.example", reader).await;
    app.get("/agents", &ta).await.assert_status(200);
    app.get("/agents", &ta).await.assert_error(429, "RATE_LIMITED");
    // Another agent of the same tenant has its own quota...
    let t1 = app.token(&one.client_id, &one.secret, None).await;
    let t2 = app.token(&two.client_id, &two.secret, None).await;
    let ok = app.get("/agents", &t1).await;
    ok.assert_status(200);
    assert_eq!(ok.header("x-ratelimit-limit"), "5", "the tenant ceiling is nearer");
    app.get("/agents", &t1).await.assert_status(200);
    // ...under the tenant's ceiling of 5 (3 by the admin, 2 by `one`).
    app.get("/agents", &t2).await.assert_error(429, "RATE_LIMITED");
    app.get("/agents", &tb).await.assert_status(200);
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
        b.rate_limit(RouteGroup::Signup, quota("1/60s")).trusted_proxy(LOOPBACK)
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

/// The address the audit log records for the sign-up that answered `created`.
async fn audited_ip(app: &TestApp, created: &Answer) -> serde_json::Value {
    let id = created.json["adminClientId"].as_str().unwrap_or_default();
    let secret = created.json["adminClientSecret"].as_str().unwrap_or_default();
    let admin = app.token(id, secret, None).await;
    app.get("/audit?action=tenant.created", &admin).await.json["items"][0]["ip"].clone()
}

/// Issue 17, point 3. Behind a trusted proxy the client cannot choose its
/// address with any header: not with a `Forwarded` header when the proxy
/// sets `X-Forwarded-For`, not with an `X-Forwarded-For` when it sets
/// `Forwarded`, not with entries of its own before the proxy's. Sign-up
/// limits hold and the audit log records the address the proxy saw.
pub async fn a_client_cannot_pick_its_address_behind_a_trusted_proxy(start: impl StartFn) {
    let signups = |app: &TestApp, headers: Vec<(&'static str, String)>| {
        let mut r = app
            .request(reqwest::Method::POST, "/tenants", None)
            .json(&json!({"name": "Acme"}));
        for (k, v) in headers {
            r = r.header(k, v);
        }
        r
    };
    // The proxy sets X-Forwarded-For: a client's Forwarded and its own
    // X-Forwarded-For entries change nothing.
    let app = TestApp::start_with(&start, |b| {
        b.rate_limit(RouteGroup::Signup, quota("3/60s")).trusted_proxy(LOOPBACK)
    })
    .await;
    let mut answers = Vec::new();
    for i in 1..=8 {
        let spoof = format!("198.51.100.{i}");
        let headers = vec![
            ("forwarded", format!("for={spoof}")),
            ("x-forwarded-for", format!("{spoof}, 203.0.113.9")),
        ];
        answers.push(app.send(signups(&app, headers)).await);
    }
    let statuses: Vec<u16> = answers.iter().map(|a| a.status.as_u16()).collect();
    assert_eq!(statuses, [201, 201, 201, 429, 429, 429, 429, 429]);
    assert_eq!(audited_ip(&app, &answers[0]).await, "203.0.113.9");
    drop(app);

    // The proxy sets Forwarded: a client's X-Forwarded-For is ignored, and
    // an IPv6 client is limited by its /64.
    let app = TestApp::start_with(&start, |b| {
        b.rate_limit(RouteGroup::Signup, quota("3/60s"))
            .trusted_proxy(LOOPBACK)
            .forwarded_header(ForwardedHeader::Forwarded)
    })
    .await;
    let mut answers = Vec::new();
    for i in 1..=8 {
        let headers = vec![
            ("x-forwarded-for", format!("198.51.100.{i}")),
            ("forwarded", format!("for=198.51.100.{i}, for=\"[2001:db8::{i}]:443\"")),
        ];
        answers.push(app.send(signups(&app, headers)).await);
    }
    let statuses: Vec<u16> = answers.iter().map(|a| a.status.as_u16()).collect();
    assert_eq!(statuses, [201, 201, 201, 429, 429, 429, 429, 429]);
    assert_eq!(audited_ip(&app, &answers[0]).await, "2001:db8::1");
}
