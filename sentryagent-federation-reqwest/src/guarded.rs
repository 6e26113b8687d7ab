//! The guarded fetcher: fetches from URLs that tenants chose (their OIDC
//! issuers), so it must not be a way into the server's own network.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use reqwest::header::{CACHE_CONTROL, DATE, EXPIRES, HeaderMap};
use sentryagent_core::authorization::{
    ClientMetadataFetcher, DocumentFetchError, FetchedDocument, http_cache_lifetime,
};
use sentryagent_core::federation::{FetchError, JwksFetcher, is_public_address};

use crate::read_json;

/// Resolves names and keeps only the addresses the fetcher may connect to;
/// the connection is made to those very addresses, so a name that resolves
/// differently a moment later (DNS rebinding) gains nothing.
struct FilteringResolver {
    allow_private_networks: bool,
}

impl Resolve for FilteringResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let allow = self.allow_private_networks;
        let host = name.as_str().to_owned();
        Box::pin(async move {
            let resolved: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            let allowed: Vec<SocketAddr> = resolved
                .into_iter()
                .filter(|a| allow || is_public_address(a.ip()))
                .collect();
            if allowed.is_empty() {
                return Err(format!("{host} resolves to no public address").into());
            }
            let addrs: Addrs = Box::new(allowed.into_iter());
            Ok(addrs)
        })
    }
}

/// A [`JwksFetcher`] for URLs a tenant registered (issuer discovery and
/// JWKS of the JWT bearer grant), and the [`ClientMetadataFetcher`] of
/// Client ID Metadata Documents (URLs whoever runs a client chose): it connects only to public unicast
/// addresses (each resolved address is checked before connecting; IP
/// literals in the URL too), follows no redirect, uses no proxy, and keeps
/// the time and size limits of [`ReqwestFetcher`](crate::ReqwestFetcher).
/// How often it is asked is the core's JWKS cache's affair (refetch
/// throttling per issuer).
#[derive(Clone, Debug)]
pub struct GuardedFetcher {
    client: reqwest::Client,
    allow_private_networks: bool,
}

impl GuardedFetcher {
    /// A guarded fetcher: 5-second timeout, no redirects, no proxy, public
    /// addresses only.
    ///
    /// # Errors
    /// The TLS backend cannot be initialised.
    pub fn new() -> Result<Self, reqwest::Error> {
        Self::build(false)
    }

    /// For tests with a stand-in issuer on loopback only: the same fetcher,
    /// but loopback, private and link-local addresses are allowed. Never use
    /// it in production: any tenant could make the server fetch from its own
    /// network.
    ///
    /// # Errors
    /// The TLS backend cannot be initialised.
    pub fn allowing_private_networks_for_tests() -> Result<Self, reqwest::Error> {
        Self::build(true)
    }

    fn build(allow_private_networks: bool) -> Result<Self, reqwest::Error> {
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(5))
            .connect_timeout(Duration::from_secs(3))
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .dns_resolver(Arc::new(FilteringResolver { allow_private_networks }))
            .user_agent(concat!("sentryagent/", env!("CARGO_PKG_VERSION")))
            .build()?;
        Ok(Self {
            client,
            allow_private_networks,
        })
    }

    /// Whether this fetcher may reach loopback and private addresses.
    pub fn allows_private_networks(&self) -> bool {
        self.allow_private_networks
    }
}

/// The URL's host when it is an IP literal (which no resolver sees).
fn literal_ip(url: &reqwest::Url) -> Option<IpAddr> {
    let host = url.host_str()?;
    host.trim_start_matches('[').trim_end_matches(']').parse().ok()
}

impl GuardedFetcher {
    /// Refuses what is not http(s) and IP literals that are not public.
    fn check_url(&self, url: &str) -> Result<(), FetchError> {
        let parsed =
            reqwest::Url::parse(url).map_err(|e| FetchError::new(format!("{url} is no URL")).with_source(e))?;
        if !matches!(parsed.scheme(), "https" | "http") {
            return Err(FetchError::new(format!("{url} is not http(s)")));
        }
        if !self.allow_private_networks && literal_ip(&parsed).is_some_and(|ip| !is_public_address(ip)) {
            return Err(FetchError::new(format!("{url} is not a public address")));
        }
        Ok(())
    }
}

#[async_trait]
impl JwksFetcher for GuardedFetcher {
    async fn fetch_json(&self, url: &str) -> Result<serde_json::Value, FetchError> {
        self.check_url(url)?;
        read_json(&self.client, url).await
    }
}

/// Fetches a document: `200`, at most `max_bytes` (a longer
/// `Content-Length` is refused before the body is read, a longer body as
/// soon as it passes the limit), its cache lifetime from its headers.
#[async_trait]
impl ClientMetadataFetcher for GuardedFetcher {
    async fn fetch_client_metadata(&self, url: &str, max_bytes: usize) -> Result<FetchedDocument, DocumentFetchError> {
        self.check_url(url)?;
        let failed = |what: &str, e: reqwest::Error| FetchError::new(format!("{what} {url}")).with_source(e);
        let mut response = self
            .client
            .get(url)
            .header(reqwest::header::ACCEPT, "application/json")
            .send()
            .await
            .map_err(|e| failed("cannot reach", e))?;
        if response.status() != reqwest::StatusCode::OK {
            return Err(FetchError::new(format!("{url} answered {}", response.status())).into());
        }
        if response.content_length().is_some_and(|n| n > max_bytes as u64) {
            return Err(DocumentFetchError::TooLarge);
        }
        let max_age = cache_lifetime(response.headers());
        let mut body = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(|e| failed("cannot read", e))? {
            if body.len() + chunk.len() > max_bytes {
                return Err(DocumentFetchError::TooLarge);
            }
            body.extend_from_slice(&chunk);
        }
        Ok(FetchedDocument { body, max_age })
    }
}

/// The response's cache lifetime (several `Cache-Control` headers read as one).
fn cache_lifetime(headers: &HeaderMap) -> Option<Duration> {
    let text = |name| {
        let values: Vec<&str> = headers.get_all(name).iter().filter_map(|v| v.to_str().ok()).collect();
        (!values.is_empty()).then(|| values.join(","))
    };
    http_cache_lifetime(
        text(CACHE_CONTROL).as_deref(),
        text(EXPIRES).as_deref(),
        text(DATE).as_deref(),
        sentryagent_core::time::now(),
    )
}
