//! Usage metering and tier limits.

use std::time::Duration;

use serde_json::json;

use crate::{StartFn, TestApp};

/// `GET /tiers` is public and lists the free tier's limits.
pub async fn tiers_are_public(start: impl StartFn) {
    let app = TestApp::start(start).await;
    let tiers = app.send(reqwest::Client::new().get(app.url("/tiers"))).await;
    tiers.assert_status(200);
    let free = &tiers.json["items"][0];
    assert_eq!(free["name"], "free");
    assert_eq!(free["limits"]["maxAgents"], 10);
    assert_eq!(free["limits"]["apiCallsPerDay"], 1000);
    assert_eq!(free["monthlyPrice"], 0);
    assert!(tiers.text.contains("\"pro\"") && tiers.text.contains("\"enterprise\""));
    assert!(!tiers.text.contains("price_"), "provider price ids stay private");
}

/// Past the tier's agent limit, registration is 403 TIER_AGENT_LIMIT; the
/// admin agent and decommissioned agents do not count.
pub async fn agent_limit_is_enforced(start: impl StartFn) {
    let app = TestApp::start_with(start, |b| b.tier("free", |t| t.limits.max_agents = Some(2))).await;
    let t = app.signup("Acme").await;
    let admin = app.admin_token(&t).await;
    let first = app.register(&admin, "a1@acme.example", json!({})).await;
    app.register(&admin, "a2@acme.example", json!({})).await;
    let refused = app.post("/agents", &admin, &json!({"name": "a3@acme.example"})).await;
    refused.assert_error(403, "TIER_AGENT_LIMIT");
    assert_eq!(refused.json["details"]["limit"], 2);
    app.delete(&format!("/agents/{}", first.id), &admin)
        .await
        .assert_status(200);
    app.register(&admin, "a3@acme.example", json!({})).await;
}

/// Past the daily call quota, calls are 429 TIER_QUOTA_EXCEEDED with
/// Retry-After until the next UTC midnight, at the token endpoint too.
pub async fn daily_quota_is_enforced(start: impl StartFn) {
    let app = TestApp::start_with(start, |b| {
        b.tier("free", |t| t.limits.api_calls_per_day = Some(5))
            .quota_cache_ttl(Duration::from_millis(50))
    })
    .await;
    let t = app.signup("Acme").await;
    let other = app.signup("Other").await;
    let admin = app.admin_token(&t).await; // call 1
    for _ in 0..4 {
        app.get("/agents", &admin).await.assert_status(200); // calls 2..5
    }
    let refused = app.get("/agents", &admin).await;
    refused.assert_error(429, "TIER_QUOTA_EXCEEDED");
    let retry: u64 = refused.header("retry-after").parse().expect("Retry-After");
    assert!((1..=86_400).contains(&retry), "{retry}");
    let token = app.token_request(&t.client_id, &t.secret, None).await;
    token.assert_oauth_error(429, "tier_quota_exceeded");
    assert!(!token.header("retry-after").is_empty());
    // Counts survive a flush without being counted twice.
    app.idp.flush_usage().await.expect("flush");
    tokio::time::sleep(Duration::from_millis(60)).await;
    app.get("/agents", &admin)
        .await
        .assert_error(429, "TIER_QUOTA_EXCEEDED");
    // Another tenant has its own quota.
    let other_admin = app.admin_token(&other).await;
    app.get("/agents", &other_admin).await.assert_status(200);
}

/// With enforcement off, calls pass the limits and are still metered.
pub async fn metering_goes_on_without_enforcement(start: impl StartFn) {
    let app = TestApp::start_with(start, |b| {
        b.tier("free", |t| t.limits.api_calls_per_day = Some(2))
            .enforce_tiers(false)
    })
    .await;
    let t = app.signup("Acme").await;
    let admin = app.admin_token(&t).await;
    for _ in 0..4 {
        app.get("/agents", &admin).await.assert_status(200);
    }
    let usage = app.get("/usage", &admin).await;
    usage.assert_status(200);
    // One token, four listings, and this call.
    assert_eq!(usage.json["today"]["apiCalls"], 6, "{}", usage.text);
    assert_eq!(usage.json["today"]["tokenIssuances"], 1);
    assert_eq!(usage.json["enforced"], false);
    assert_eq!(usage.json["limits"]["apiCallsPerDay"], 2);
    app.idp.flush_usage().await.expect("flush");
    let after = app.get("/usage", &admin).await;
    assert_eq!(
        after.json["today"]["apiCalls"], 7,
        "flushed counts are not counted twice"
    );
    assert_eq!(after.json["month"]["apiCalls"], 7);
    assert_eq!(after.json["tier"], "free");
}

/// Without a billing provider, billing routes answer 503 and the rest works.
pub async fn billing_without_a_provider(start: impl StartFn) {
    let app = TestApp::start(start).await;
    let t = app.signup("Acme").await;
    let admin = app.admin_token(&t).await;
    app.post("/billing/checkout", &admin, &json!({"tier": "pro"}))
        .await
        .assert_error(503, "BILLING_NOT_CONFIGURED");
    let webhook = app
        .send(
            app.request(reqwest::Method::POST, "/billing/webhook", None)
                .header("stripe-signature", "t=1,v1=00")
                .body("{}"),
        )
        .await;
    webhook.assert_error(503, "BILLING_NOT_CONFIGURED");
    let sub = app.get("/billing/subscription", &admin).await;
    sub.assert_status(200);
    assert_eq!(sub.json["status"], "none");
    assert_eq!(sub.json["tier"], "free");
    app.get("/agents", &admin).await.assert_status(200);
}
