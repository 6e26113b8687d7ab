//! Health checks of the backends, for `GET /health/detailed`.

use std::time::{Duration, Instant};

use async_trait::async_trait;
use serde::Serialize;

/// One backend that `GET /health/detailed` probes.
#[async_trait]
pub trait HealthCheck: Send + Sync + 'static {
    /// The backend's name (`postgres`, `redis`).
    fn name(&self) -> &str;
    /// Whether the service cannot work without it (then its failure is a 503).
    fn required(&self) -> bool {
        true
    }
    /// One cheap round trip.
    ///
    /// # Errors
    /// Why the backend did not answer.
    async fn check(&self) -> Result<(), String>;
}

/// The result of probing one backend.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CheckResult {
    /// The backend.
    pub name: String,
    /// `up` or `down`.
    pub status: &'static str,
    /// Whether it is required.
    pub required: bool,
    /// How long the probe took, in milliseconds.
    pub latency_ms: f64,
    /// Why it is down.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// The answer of `GET /health/detailed`.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct HealthReport {
    /// `ok`, `degraded` (an optional backend is down) or `down` (a required one is).
    pub status: &'static str,
    /// One entry per backend.
    pub checks: Vec<CheckResult>,
}

/// Probes every check at once, each for at most `timeout`.
pub(crate) async fn probe_all(checks: &[std::sync::Arc<dyn HealthCheck>], timeout: Duration) -> HealthReport {
    let mut tasks = tokio::task::JoinSet::new();
    for (i, check) in checks.iter().enumerate() {
        let check = check.clone();
        tasks.spawn(async move {
            let start = Instant::now();
            let outcome = match tokio::time::timeout(timeout, check.check()).await {
                Ok(r) => r,
                Err(_) => Err(format!("no answer within {} ms", timeout.as_millis())),
            };
            let latency_ms = start.elapsed().as_secs_f64() * 1_000.0;
            (
                i,
                CheckResult {
                    name: check.name().to_owned(),
                    status: if outcome.is_ok() { "up" } else { "down" },
                    required: check.required(),
                    latency_ms: (latency_ms * 1_000.0).round() / 1_000.0,
                    error: outcome.err(),
                },
            )
        });
    }
    let mut results = Vec::new();
    while let Some(joined) = tasks.join_next().await {
        if let Ok(r) = joined {
            results.push(r);
        }
    }
    results.sort_by_key(|(i, _)| *i);
    let checks: Vec<CheckResult> = results.into_iter().map(|(_, r)| r).collect();
    let status = if checks.iter().any(|c| c.required && c.status == "down") {
        "down"
    } else if checks.iter().any(|c| c.status == "down") {
        "degraded"
    } else {
        "ok"
    };
    HealthReport { status, checks }
}
