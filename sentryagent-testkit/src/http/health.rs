//! Health: the detailed report of each backend, 503 when a required one is
//! down. (`GET /health` is in [`tokens::metadata_documents`](super::tokens::metadata_documents).)

use std::sync::Arc;

use async_trait::async_trait;
use sentryagent_core::health::HealthCheck;
use serde_json::json;

use crate::{StartFn, TestApp};

struct Unreachable;

#[async_trait]
impl HealthCheck for Unreachable {
    fn name(&self) -> &str {
        "unreachable"
    }

    async fn check(&self) -> Result<(), String> {
        Err("connection refused".into())
    }
}

/// `GET /health/detailed`: `ok` with no backend to probe, `down` and 503 when
/// a required backend fails, never cached.
pub async fn detailed_health_reports_each_backend(start: impl StartFn + Copy) {
    let app = TestApp::start(start).await;
    let ok = app
        .send(app.request(reqwest::Method::GET, "/health/detailed", None))
        .await;
    ok.assert_status(200);
    assert_eq!(ok.json, json!({"status": "ok", "checks": []}));
    assert_eq!(ok.header("cache-control"), "no-store");

    let app = TestApp::start_with(start, |b| b.health_check(Arc::new(Unreachable))).await;
    let down = app
        .send(app.request(reqwest::Method::GET, "/health/detailed", None))
        .await;
    down.assert_status(503);
    assert_eq!(down.json["status"], "down");
    assert_eq!(down.json["checks"][0]["name"], "unreachable");
    assert_eq!(down.json["checks"][0]["status"], "down");
    assert_eq!(down.json["checks"][0]["error"], "connection refused");
}

/// An optional backend that is down.
struct OptionalDown;

#[async_trait]
impl HealthCheck for OptionalDown {
    fn name(&self) -> &str {
        "optional"
    }

    fn required(&self) -> bool {
        false
    }

    async fn check(&self) -> Result<(), String> {
        Err("connection refused".into())
    }
}

/// `GET /health/live` and `GET /health/ready`, an orchestrator's probes:
/// never refused by a rate limit (the public group's limit refuses
/// `/health` meanwhile), liveness always up, readiness 503 only when a
/// required backend is down.
pub async fn probes_are_never_rate_limited(start: impl StartFn + Copy) {
    use sentryagent_core::ratelimit::{Quota, RouteGroup};

    let tight = Quota {
        limit: 2,
        period: std::time::Duration::from_secs(3600),
    };
    let app = TestApp::start_with(start, |b| b.rate_limit(RouteGroup::Public, tight)).await;
    let get = |path: &'static str| app.send(app.request(reqwest::Method::GET, path, None));
    for _ in 0..2 {
        get("/health").await.assert_status(200);
    }
    get("/health").await.assert_error(429, "RATE_LIMITED");
    for _ in 0..20 {
        let live = get("/health/live").await;
        live.assert_status(200);
        assert_eq!(live.json, json!({"status": "ok"}));
        assert!(
            live.header("x-ratelimit-limit").is_empty(),
            "not counted: {:?}",
            live.headers
        );
        let ready = get("/health/ready").await;
        ready.assert_status(200);
        assert_eq!(ready.json, json!({"status": "ok", "checks": []}));
        assert!(
            ready.header("x-ratelimit-limit").is_empty(),
            "not counted: {:?}",
            ready.headers
        );
    }

    let app = TestApp::start_with(start, |b| {
        b.health_check(Arc::new(OptionalDown))
            .health_check(Arc::new(Unreachable))
    })
    .await;
    let ready = app.send(app.request(reqwest::Method::GET, "/health/ready", None)).await;
    ready.assert_status(503);
    assert_eq!(ready.json["status"], "down");
    assert_eq!(ready.header("cache-control"), "no-store");
    app.send(app.request(reqwest::Method::GET, "/health/live", None))
        .await
        .assert_status(200);

    let app = TestApp::start_with(start, |b| b.health_check(Arc::new(OptionalDown))).await;
    let degraded = app.send(app.request(reqwest::Method::GET, "/health/ready", None)).await;
    degraded.assert_status(200);
    assert_eq!(
        degraded.json["status"], "degraded",
        "an optional backend down: still ready"
    );
}
