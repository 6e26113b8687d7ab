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
