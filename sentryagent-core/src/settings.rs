//! Settings of a [`SentryAgent`](crate::SentryAgent). Every default works for
//! local development.

use std::time::Duration;

use crate::client_ip::{ForwardedHeader, IpNet};
use crate::ratelimit::RateLimitSettings;
use crate::tier::Tiers;
use crate::token::SigningAlgorithm;

/// Who may create tenants with `POST /tenants`. An embedding host makes its
/// tenants in Rust with [`SentryAgent::create_tenant`](crate::SentryAgent::create_tenant)
/// whatever this says.
#[derive(Clone, PartialEq, Eq, Default)]
pub enum Signup {
    /// Nobody over HTTP (the default): `POST /tenants` answers 403
    /// `SIGNUP_CLOSED`.
    #[default]
    Closed,
    /// Anyone: a public SaaS.
    Open,
    /// Only callers presenting the operator key as a bearer token.
    OperatorKey(String),
}

impl std::fmt::Debug for Signup {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Signup::Closed => f.write_str("Closed"),
            Signup::Open => f.write_str("Open"),
            // The key is a secret.
            Signup::OperatorKey(_) => f.write_str("OperatorKey(..)"),
        }
    }
}

/// Settings; build them with [`SentryAgentBuilder`](crate::SentryAgentBuilder).
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct Settings {
    /// The issuer (`iss`) and public base URL, without a trailing slash.
    pub issuer: String,
    /// Where the host mounts the API, e.g. `/api/v1`; used for the endpoint
    /// URLs in the metadata documents.
    pub api_path: String,
    /// The audience of management tokens (`aud`); defaults to the issuer.
    pub audience: String,
    /// Further audiences clients may request with `audience`/`resource`.
    pub extra_audiences: Vec<String>,
    /// Access-token lifetime.
    pub token_ttl: Duration,
    /// Algorithm of new signing keys.
    pub algorithm: SigningAlgorithm,
    /// Largest accepted request body.
    pub max_body_bytes: usize,
    /// Who may sign up.
    pub signup: Signup,
    /// Tolerated clock difference for `exp`/`nbf`.
    pub clock_skew: Duration,
    /// Quotas per route group.
    pub rate_limits: RateLimitSettings,
    /// Proxies whose forwarding header is believed (see
    /// [`client_ip`](crate::client_ip) for the rule).
    pub trusted_proxies: Vec<IpNet>,
    /// The forwarding header the trusted proxies set; the other is ignored.
    pub forwarded_header: ForwardedHeader,
    /// How long repeated refusals of one token or client are counted before
    /// their count is audited as one event (the first is audited at once).
    pub refusal_audit_window: Duration,
    /// The tier catalog.
    pub tiers: Tiers,
    /// Whether tier limits are enforced (metering goes on either way): by
    /// default only when a billing provider is configured, so there is
    /// something to upgrade to.
    pub enforce_tiers: bool,
    /// How long a tenant's usage summary and tier are cached for enforcement.
    pub quota_cache_ttl: Duration,
    /// Workload identity federation (`POST /oidc/token`).
    pub federation: crate::federation::FederationSettings,
    /// Whether the public marketplace routes answer (default on); off, they
    /// answer 404 `NOT_FOUND`. DID documents are served either way.
    pub marketplace_enabled: bool,
    /// Whether HTTP metrics carry a `tenant` label (off: one series per
    /// tenant is unbounded).
    pub metrics_tenant_label: bool,
    /// Whether a new agent is listed in the marketplace when its
    /// registration does not say (default off: listed only when asked).
    pub list_new_agents: bool,
    /// Where the last usage flush at shutdown writes the counts the store
    /// did not take, for a later start to store (default none: they are
    /// logged, tenant by tenant, and lost).
    pub usage_spill_dir: Option<std::path::PathBuf>,
    /// The periodic jobs of [`SentryAgent::background`](crate::SentryAgent::background).
    pub background: BackgroundSettings,
    /// The authorization-code flow (people acting through MCP clients).
    pub authorization: AuthorizationSettings,
}

/// Lifetimes of the authorization-code flow's records.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct AuthorizationSettings {
    /// How long an authorization code may wait to be redeemed (default 60 s,
    /// as OAuth 2.1 advises: a code is meant to be redeemed at once).
    pub code_ttl: Duration,
    /// How long a refresh token lives unused (default 30 days); each use
    /// rotates it.
    pub refresh_token_ttl: Duration,
    /// How long a grant lasts at most, however often it is refreshed
    /// (default 90 days): then the person consents again.
    pub grant_ttl: Duration,
    /// Tests only: Client ID Metadata Documents may also be fetched from
    /// `http://127.0.0.1` and `http://localhost` (default off; the fetcher's
    /// own address rules still apply).
    pub allow_http_loopback_client_metadata: bool,
}

impl Default for AuthorizationSettings {
    fn default() -> Self {
        Self {
            code_ttl: Duration::from_secs(60),
            refresh_token_ttl: Duration::from_secs(30 * 24 * 3600),
            grant_ttl: Duration::from_secs(90 * 24 * 3600),
            allow_http_loopback_client_metadata: false,
        }
    }
}

/// How often [`SentryAgent::background`](crate::SentryAgent::background)
/// runs each of its jobs.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct BackgroundSettings {
    /// Usage counts are added to the store this often (default 60 s).
    pub usage_flush_interval: Duration,
    /// The audit log is pruned past each tenant's retention this often,
    /// first at start (default daily).
    pub audit_retention_interval: Duration,
    /// At most this many audit events per tenant are kept, the oldest pruned
    /// through the retention anchor every
    /// [`audit_history_interval`](Self::audit_history_interval): what the
    /// durable store asks for (the in-memory store's bound), `None` for a
    /// database.
    pub audit_history_limit: Option<u64>,
    /// How often the history bound is applied (default 60 s).
    pub audit_history_interval: Duration,
    /// Every tenant's chain is verified in full this often, a slice per
    /// turn ([`audit::scheduled`](crate::audit::scheduled); default daily,
    /// `None`: never by itself).
    pub audit_full_verification: Option<Duration>,
    /// How often a turn of the full verification runs (default every 5 s).
    pub audit_verification_turn: Duration,
    /// The signing key is rotated once it is this old (default: never; the
    /// host may call [`SentryAgent::rotate_signing_keys`](crate::SentryAgent::rotate_signing_keys)).
    pub key_rotation: Option<Duration>,
    /// Expired authorization codes and grants are deleted, and unused
    /// dynamic clients expired, this often (default hourly).
    pub authorization_prune_interval: Duration,
    /// A dynamically registered client, or a copy of a client's metadata
    /// document, not used for this long is deleted (default 30 days).
    pub unused_dynamic_client_ttl: Duration,
}

impl Default for BackgroundSettings {
    fn default() -> Self {
        Self {
            usage_flush_interval: Duration::from_secs(60),
            audit_retention_interval: Duration::from_secs(24 * 3600),
            audit_history_limit: None,
            audit_history_interval: Duration::from_secs(60),
            audit_full_verification: Some(Duration::from_secs(24 * 3600)),
            audit_verification_turn: Duration::from_secs(5),
            key_rotation: None,
            authorization_prune_interval: Duration::from_secs(3600),
            unused_dynamic_client_ttl: Duration::from_secs(30 * 24 * 3600),
        }
    }
}

impl Default for Settings {
    fn default() -> Self {
        let issuer = "http://127.0.0.1:3000".to_owned();
        Self {
            audience: issuer.clone(),
            issuer,
            api_path: "/api/v1".to_owned(),
            extra_audiences: Vec::new(),
            token_ttl: Duration::from_secs(3600),
            algorithm: SigningAlgorithm::Es256,
            max_body_bytes: 64 * 1024,
            signup: Signup::Closed,
            clock_skew: Duration::from_secs(30),
            rate_limits: RateLimitSettings::default(),
            trusted_proxies: Vec::new(),
            forwarded_header: ForwardedHeader::default(),
            refusal_audit_window: Duration::from_secs(60),
            tiers: Tiers::default(),
            enforce_tiers: false,
            quota_cache_ttl: Duration::from_secs(60),
            federation: crate::federation::FederationSettings::default(),
            marketplace_enabled: true,
            metrics_tenant_label: false,
            list_new_agents: false,
            usage_spill_dir: None,
            background: BackgroundSettings::default(),
            authorization: AuthorizationSettings::default(),
        }
    }
}

impl Settings {
    /// The absolute URL of an API route, e.g. `endpoint("/oauth2/token")`.
    pub fn endpoint(&self, path: &str) -> String {
        format!("{}{}{}", self.issuer, self.api_path, path)
    }

    /// Whether a client may request tokens for `audience`.
    pub fn allows_audience(&self, audience: &str) -> bool {
        audience == self.audience || self.extra_audiences.iter().any(|a| a == audience)
    }
}
