//! Workload identity federation: CI jobs exchange the OIDC token their
//! platform gives them (GitHub Actions) for an access token of this IdP,
//! under a tenant's trust policies, with no stored secret.
//!
//! - [`TrustPolicy`]: which workflows a tenant trusts, and for which agent
//!   (or, without one, for registering agents: bootstrap). Conditions are
//!   held against the token's claims one by one ([`evaluate`]), never
//!   against `sub`. Patterns are [`glob`]s whose `*` stays within a path
//!   segment.
//! - A policy that names one repository but not its id pins
//!   `repository_id` and `repository_owner_id` on its first successful
//!   exchange (trust on first use), so a repository deleted and re-created
//!   under the same name by someone else never matches afterwards.
//! - The issuer's keys come through a [`JwksFetcher`] (the core has no HTTP
//!   client) and are cached under the policy described in `jwks`.
//! - [`SentryAgent::exchange_oidc_token`](crate::SentryAgent::exchange_oidc_token) is `POST /oidc/token`;
//!   [`SentryAgent::evaluate_trust_policies`](crate::SentryAgent::evaluate_trust_policies) answers which policy would
//!   admit a token, and why the others would not.

mod address;
mod bearer;
mod claims;
mod exchange;
pub mod glob;
mod issuer;
mod jwks;
mod policy;
mod service;

use std::sync::Arc;
use std::time::Duration;

pub use crate::agent::BOOTSTRAP_AGENT_NAME;
pub use crate::error::FederationError;
pub use address::is_public_address;
pub use exchange::{EvaluateRequest, EvaluatedClaims, Evaluation, ExchangeRequest, PolicyVerdict, TokenCheck};
pub use issuer::{IssuerTrust, MAX_CLAIM_CONDITIONS};
pub use jwks::{FetchError, JwksFetcher};
pub use policy::{
    Failure, GitHubClaims, NewTrustPolicy, PULL_REQUEST_EVENTS, Provider, RefType, TrustPolicy, evaluate, owner_key,
};

use crate::{AgentId, TenantId};

/// GitHub Actions' OIDC issuer.
pub const GITHUB_ISSUER: &str = "https://token.actions.githubusercontent.com";

/// Settings of the token exchange.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct FederationSettings {
    /// The issuer tokens must carry (`iss`); GitHub's by default. GitHub
    /// Enterprise Server: `https://HOST/_services/token`.
    pub issuer: String,
    /// Where the issuer's JWKS is; `None`: the `jwks_uri` of the issuer's
    /// discovery document (`{issuer}/.well-known/openid-configuration`).
    pub jwks_url: Option<String>,
    /// The audience tokens must carry (`aud`); `None`: this IdP's issuer URL.
    /// Workflows request their token with this audience.
    pub audience: Option<String>,
    /// Least time between two fetches of the keys (default 30 s).
    pub jwks_refetch_interval: Duration,
    /// Cached keys older than this are refetched on next use (default 1 h).
    pub jwks_max_age: Duration,
    /// Tests only: lets tenants register OIDC issuers on `http`, loopback
    /// and private addresses (a stand-in issuer on `127.0.0.1`). Off by
    /// default; on, any tenant could point the server at its own network.
    /// The guarded fetcher has its own matching switch.
    pub allow_private_network_issuers: bool,
}

impl Default for FederationSettings {
    fn default() -> Self {
        Self {
            issuer: GITHUB_ISSUER.to_owned(),
            jwks_url: None,
            audience: None,
            jwks_refetch_interval: Duration::from_secs(30),
            jwks_max_age: Duration::from_secs(3600),
            allow_private_network_issuers: false,
        }
    }
}

/// The exchange's run-time state: the issuer's cached keys, and those of
/// the issuers tenants registered.
pub(crate) struct Federation {
    pub(crate) jwks: jwks::JwksCache,
    pub(crate) issuers: bearer::IssuerKeys,
}

impl Federation {
    pub(crate) fn new(
        settings: &FederationSettings,
        fetcher: Option<Arc<dyn JwksFetcher>>,
        issuer_fetcher: Option<Arc<dyn JwksFetcher>>,
    ) -> Self {
        let source = jwks::JwksSource {
            issuer: settings.issuer.trim_end_matches('/').to_owned(),
            jwks_url: settings.jwks_url.clone(),
            refetch_interval: settings.jwks_refetch_interval,
            max_age: settings.jwks_max_age,
        };
        Self {
            jwks: jwks::JwksCache::new(fetcher, source),
            issuers: bearer::IssuerKeys::new(issuer_fetcher, settings),
        }
    }
}

/// Most policies a tenant may hold.
pub const MAX_POLICIES_PER_TENANT: usize = 200;

/// The id of a tenant's bootstrap agent: derived from the tenant id, so it is
/// found without a lookup by name.
pub fn bootstrap_agent_id(tenant: TenantId) -> AgentId {
    let mut input = b"sentryagent oidc bootstrap agent ".to_vec();
    input.extend_from_slice(tenant.as_uuid().as_bytes());
    let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, &input);
    let mut bytes = [0u8; 16];
    bytes.copy_from_slice(&digest.as_ref()[..16]);
    AgentId::from_uuid(uuid::Builder::from_random_bytes(bytes).into_uuid())
}
