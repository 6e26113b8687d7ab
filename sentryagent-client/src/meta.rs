//! Health and the OpenAPI document.

use reqwest::StatusCode;
use serde::{Deserialize, Serialize};

use crate::client::{Call, Client};
use crate::error::Error;
use crate::ops;

/// Liveness.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Alive {
    /// `ok`.
    pub status: String,
}

/// One backend's probe.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CheckResult {
    /// The backend.
    pub name: String,
    /// `up` or `down`.
    pub status: String,
    /// Whether it is required.
    pub required: bool,
    /// How long the probe took.
    pub latency_ms: f64,
    /// Why it is down.
    #[serde(default)]
    pub error: Option<String>,
}

/// Every backend's probe.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct HealthReport {
    /// `ok`, `degraded` or `down`.
    pub status: String,
    /// One entry per backend.
    pub checks: Vec<CheckResult>,
}

impl Client {
    /// Liveness (public).
    ///
    /// # Errors
    /// No answer.
    pub async fn health(&self) -> Result<Alive, Error> {
        self.json(Call::new(ops::GET_HEALTH).public()).await
    }

    /// Every backend with its status and probe latency (public); a report
    /// that says `down` is an answer too, not an error.
    ///
    /// # Errors
    /// No answer.
    pub async fn health_detailed(&self) -> Result<HealthReport, Error> {
        self.json(
            Call::new(ops::GET_HEALTH_DETAILED)
                .public()
                .also_ok(StatusCode::SERVICE_UNAVAILABLE),
        )
        .await
    }

    /// The server's OpenAPI 3 document.
    ///
    /// # Errors
    /// No answer, or not JSON.
    pub async fn openapi(&self) -> Result<serde_json::Value, Error> {
        self.json(Call::new(ops::GET_OPENAPI).public()).await
    }
}
