//! The issuer's signing keys: fetched through a [`JwksFetcher`], cached, and
//! refetched sparingly.
//!
//! The policy, in full:
//! - Keys are served from memory. The first token fetches them (after the
//!   discovery document, when no JWKS URL is configured).
//! - A token whose `kid` is not among them triggers one refetch, unless a
//!   fetch was tried less than the refetch interval ago: a stream of tokens
//!   with made-up `kid`s costs the issuer one request per interval, never a
//!   storm. Concurrent requests share one fetch.
//! - Keys older than the maximum age are refetched on next use (so a key
//!   the issuer withdrew stops verifying), with the same interval.
//! - A failed fetch keeps the keys that were working; the failure is logged.
//!   Only a token whose key is unknown and could not be fetched is answered
//!   "provider unavailable".

use std::collections::HashMap;
use std::sync::{Arc, PoisonError, RwLock};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use jsonwebtoken::jwk::{AlgorithmParameters, EllipticCurve, JwkSet, KeyAlgorithm, PublicKeyUse};
use jsonwebtoken::{Algorithm, DecodingKey};

/// Fetches a JSON document (a JWKS, or an OpenID discovery document) over
/// HTTP(S). The core has no HTTP client of its own: implement this on the
/// host's client (`sentryagent-federation-reqwest` does it on `reqwest`).
#[async_trait]
pub trait JwksFetcher: Send + Sync + 'static {
    /// `GET url`, expecting `200` and a JSON body.
    ///
    /// # Errors
    /// Any failure: unreachable, a timeout, a non-200 status, a body that is
    /// not JSON or too large.
    async fn fetch_json(&self, url: &str) -> Result<serde_json::Value, FetchError>;
}

/// Why a [`JwksFetcher`] failed.
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct FetchError {
    message: String,
    #[source]
    source: Option<Box<dyn std::error::Error + Send + Sync>>,
}

impl FetchError {
    /// A failure described by `message`.
    pub fn new(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
            source: None,
        }
    }

    /// Keeps the client's own error as the source.
    pub fn with_source(mut self, source: impl std::error::Error + Send + Sync + 'static) -> Self {
        self.source = Some(Box::new(source));
        self
    }
}

/// A verification key with its pinned algorithm.
pub(crate) struct OidcKey {
    pub(crate) algorithm: Algorithm,
    pub(crate) decoding: DecodingKey,
}

/// Why no key could be found for a `kid`.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum KeyLookup {
    /// The issuer does not publish it (or a fetch was tried too recently).
    Unknown,
    /// The keys could not be fetched and this `kid` is not cached.
    Unavailable,
    /// No fetcher is configured.
    NotConfigured,
}

/// Where the keys come from and how often they may be fetched.
#[derive(Clone, Debug)]
pub(crate) struct JwksSource {
    pub(crate) issuer: String,
    pub(crate) jwks_url: Option<String>,
    pub(crate) refetch_interval: Duration,
    pub(crate) max_age: Duration,
}

#[derive(Default)]
struct Cached {
    keys: HashMap<String, Arc<OidcKey>>,
    fetched_at: Option<Instant>,
}

#[derive(Default)]
struct FetchState {
    last_attempt: Option<Instant>,
    /// The JWKS URL, configured or discovered.
    jwks_url: Option<String>,
}

/// The issuer's keys, cached under the policy of the module docs.
pub(crate) struct JwksCache {
    fetcher: Option<Arc<dyn JwksFetcher>>,
    source: JwksSource,
    cached: RwLock<Arc<Cached>>,
    fetch: tokio::sync::Mutex<FetchState>,
}

impl JwksCache {
    pub(crate) fn new(fetcher: Option<Arc<dyn JwksFetcher>>, source: JwksSource) -> Self {
        let fetch = FetchState {
            jwks_url: source.jwks_url.clone(),
            ..FetchState::default()
        };
        Self {
            fetcher,
            source,
            cached: RwLock::default(),
            fetch: tokio::sync::Mutex::new(fetch),
        }
    }

    /// Whether a fetcher is configured.
    pub(crate) fn configured(&self) -> bool {
        self.fetcher.is_some()
    }

    fn snapshot(&self) -> Arc<Cached> {
        self.cached.read().unwrap_or_else(PoisonError::into_inner).clone()
    }

    fn fresh(&self, cached: &Cached) -> bool {
        cached.fetched_at.is_some_and(|t| t.elapsed() < self.source.max_age)
    }

    /// The key for `kid`, fetching under the module's policy.
    pub(crate) async fn key(&self, kid: &str) -> Result<Arc<OidcKey>, KeyLookup> {
        let cached = self.snapshot();
        if let Some(key) = cached.keys.get(kid)
            && self.fresh(&cached)
        {
            return Ok(key.clone());
        }
        let Some(fetcher) = &self.fetcher else {
            return Err(KeyLookup::NotConfigured);
        };
        let mut state = self.fetch.lock().await;
        // Another request may have fetched while this one waited.
        let cached = self.snapshot();
        let known = cached.keys.get(kid).cloned();
        if known.is_some() && self.fresh(&cached) {
            return known.ok_or(KeyLookup::Unknown);
        }
        let may_fetch = state
            .last_attempt
            .is_none_or(|t| t.elapsed() >= self.source.refetch_interval);
        if !may_fetch {
            return known.ok_or(KeyLookup::Unknown);
        }
        state.last_attempt = Some(Instant::now());
        let fetched = self.fetch_keys(fetcher.as_ref(), &mut state).await;
        crate::observe::record::jwks_fetch(fetched.is_ok());
        match fetched {
            Ok(keys) => {
                let key = keys.get(kid).cloned();
                *self.cached.write().unwrap_or_else(PoisonError::into_inner) = Arc::new(Cached {
                    keys,
                    fetched_at: Some(Instant::now()),
                });
                key.ok_or(KeyLookup::Unknown)
            }
            Err(e) => {
                tracing::warn!(issuer = %self.source.issuer, error = %e, "fetching the OIDC issuer's keys failed; keeping the cached ones");
                known.ok_or(KeyLookup::Unavailable)
            }
        }
    }

    async fn fetch_keys(
        &self,
        fetcher: &dyn JwksFetcher,
        state: &mut FetchState,
    ) -> Result<HashMap<String, Arc<OidcKey>>, FetchError> {
        let url = match &state.jwks_url {
            Some(url) => url.clone(),
            None => {
                let url = self.discover(fetcher).await?;
                state.jwks_url = Some(url.clone());
                url
            }
        };
        let document = fetcher.fetch_json(&url).await?;
        let set: JwkSet = serde_json::from_value(document)
            .map_err(|e| FetchError::new("the JWKS is not a JWK set").with_source(e))?;
        let keys = parse_keys(&set);
        if keys.is_empty() {
            return Err(FetchError::new("the JWKS holds no usable signing key"));
        }
        tracing::debug!(%url, keys = keys.len(), "OIDC issuer keys fetched");
        Ok(keys)
    }

    /// The `jwks_uri` of the issuer's discovery document, which must name
    /// the same issuer (OpenID Connect Discovery §4.3).
    async fn discover(&self, fetcher: &dyn JwksFetcher) -> Result<String, FetchError> {
        let issuer = &self.source.issuer;
        let url = format!("{issuer}/.well-known/openid-configuration");
        let doc = fetcher.fetch_json(&url).await?;
        if doc["issuer"].as_str().map(|s| s.trim_end_matches('/')) != Some(issuer.as_str()) {
            return Err(FetchError::new(format!(
                "the discovery document at {url} names another issuer"
            )));
        }
        let jwks = doc["jwks_uri"]
            .as_str()
            .ok_or_else(|| FetchError::new(format!("the discovery document at {url} has no jwks_uri")))?;
        if issuer.starts_with("https://") && !jwks.starts_with("https://") {
            return Err(FetchError::new("the discovered jwks_uri is not https"));
        }
        Ok(jwks.to_owned())
    }
}

/// The signing keys of a set that have a `kid`, each pinned to one
/// algorithm: RSA keys to RS256 (or the RS/PS algorithm they declare), P-256
/// keys to ES256. Keys for encryption and of other kinds are skipped.
fn parse_keys(set: &JwkSet) -> HashMap<String, Arc<OidcKey>> {
    let mut keys = HashMap::new();
    for jwk in &set.keys {
        let Some(kid) = &jwk.common.key_id else { continue };
        if matches!(jwk.common.public_key_use, Some(ref u) if *u != PublicKeyUse::Signature) {
            continue;
        }
        let declared = jwk.common.key_algorithm;
        let algorithm = match (&jwk.algorithm, declared) {
            (AlgorithmParameters::RSA(_), None | Some(KeyAlgorithm::RS256)) => Algorithm::RS256,
            (AlgorithmParameters::RSA(_), Some(KeyAlgorithm::RS384)) => Algorithm::RS384,
            (AlgorithmParameters::RSA(_), Some(KeyAlgorithm::RS512)) => Algorithm::RS512,
            (AlgorithmParameters::RSA(_), Some(KeyAlgorithm::PS256)) => Algorithm::PS256,
            (AlgorithmParameters::EllipticCurve(p), None | Some(KeyAlgorithm::ES256))
                if p.curve == EllipticCurve::P256 =>
            {
                Algorithm::ES256
            }
            _ => continue,
        };
        match DecodingKey::from_jwk(jwk) {
            Ok(decoding) => {
                keys.insert(kid.clone(), Arc::new(OidcKey { algorithm, decoding }));
            }
            Err(e) => tracing::warn!(kid, error = %e, "skipping an unusable key of the OIDC issuer"),
        }
    }
    keys
}
