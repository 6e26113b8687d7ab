#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]

use std::time::Duration;

use async_trait::async_trait;
use sentryagent_core::federation::{FetchError, JwksFetcher};

mod guarded;

pub use guarded::GuardedFetcher;

/// Largest document accepted: GitHub's JWKS is about 2 KiB.
pub const MAX_BODY: usize = 256 * 1024;

/// A [`JwksFetcher`] on a `reqwest` client. Cheap to clone.
#[derive(Clone, Debug)]
pub struct ReqwestFetcher {
    client: reqwest::Client,
}

impl ReqwestFetcher {
    /// A client with a 5-second timeout, no redirects, rustls with the
    /// platform's trust store.
    ///
    /// # Errors
    /// The TLS backend cannot be initialised.
    pub fn new() -> Result<Self, reqwest::Error> {
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(5))
            .connect_timeout(Duration::from_secs(3))
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("sentryagent/", env!("CARGO_PKG_VERSION")))
            .build()?;
        Ok(Self::with_client(client))
    }

    /// Uses the host's own client (its proxy, its roots, its timeouts).
    pub fn with_client(client: reqwest::Client) -> Self {
        Self { client }
    }
}

#[async_trait]
impl JwksFetcher for ReqwestFetcher {
    async fn fetch_json(&self, url: &str) -> Result<serde_json::Value, FetchError> {
        read_json(&self.client, url).await
    }
}

/// `GET url` on `client`: `200`, at most [`MAX_BODY`] bytes, JSON.
pub(crate) async fn read_json(client: &reqwest::Client, url: &str) -> Result<serde_json::Value, FetchError> {
    let failed = |what: &str, e: reqwest::Error| FetchError::new(format!("{what} {url}")).with_source(e);
    let mut response = client
        .get(url)
        .header(reqwest::header::ACCEPT, "application/json")
        .send()
        .await
        .map_err(|e| failed("cannot reach", e))?;
    if response.status() != reqwest::StatusCode::OK {
        return Err(FetchError::new(format!("{url} answered {}", response.status())));
    }
    if response.content_length().is_some_and(|n| n > MAX_BODY as u64) {
        return Err(FetchError::new(format!("{url} sent more than {MAX_BODY} bytes")));
    }
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(|e| failed("cannot read", e))? {
        body.extend_from_slice(&chunk);
        if body.len() > MAX_BODY {
            return Err(FetchError::new(format!("{url} sent more than {MAX_BODY} bytes")));
        }
    }
    serde_json::from_slice(&body).map_err(|e| FetchError::new(format!("{url} did not send JSON")).with_source(e))
}
