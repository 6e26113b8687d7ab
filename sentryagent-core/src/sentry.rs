//! The entry point: [`SentryAgent`] and its builder.

use std::net::IpAddr;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::Duration;

use crate::audit::writer::AuditSink;
use crate::audit::{AuditChain, AuditEvent, NewAuditEvent};
use crate::billing::BillingProvider;
use crate::error::Error;
use crate::health::{HealthCheck, HealthReport};
use crate::http::client_ip::{ForwardedHeader, IpNet};
use crate::memory::MemoryStore;
use crate::metering::Meter;
use crate::ratelimit::{LocalRateLimiter, Quota, RateLimiter, RouteGroup};
use crate::secret::ServerKey;
use crate::settings::{Settings, Signup};
use crate::store::UsageCounters;
use crate::store::{RevocationList, Store, Stores};
use crate::tier::Tier;
use crate::token::{Keyring, SigningAlgorithm};
use crate::{AgentId, TenantId};

/// One identity provider: settings, backends and keys. Cheap to clone.
///
/// ```
/// # async fn demo() -> Result<(), sentryagent_core::Error> {
/// use sentryagent_core::SentryAgent;
///
/// let idp = SentryAgent::builder().issuer("https://idp.example.com").build().await?;
/// let tenant = idp.create_tenant("Acme", None, None).await?;
/// assert!(tenant.admin_client_secret.expose().starts_with("sa_sk_"));
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct SentryAgent {
    pub(crate) inner: Arc<Inner>,
}

pub(crate) struct Inner {
    pub(crate) settings: Settings,
    pub(crate) stores: Stores,
    pub(crate) keys: Keyring,
    pub(crate) server_key: ServerKey,
    pub(crate) chain: AuditChain,
    pub(crate) audit_sink: AuditSink,
    pub(crate) health_checks: Vec<Arc<dyn HealthCheck>>,
    pub(crate) rate_limiter: Arc<dyn RateLimiter>,
    /// Stands in for a shared limiter while it is unreachable.
    pub(crate) local_limiter: LocalRateLimiter,
    pub(crate) limiter_down: AtomicBool,
    /// Windows of repeated refusals being counted rather than audited.
    pub(crate) repeats: crate::audit::repeats::Repeats,
    pub(crate) meter: Meter,
    /// Usage counters shared by every instance (Redis), if configured.
    pub(crate) shared_usage: Option<Arc<dyn UsageCounters>>,
    pub(crate) billing: Option<Arc<dyn BillingProvider>>,
    /// The OIDC issuer's cached keys.
    pub(crate) federation: crate::federation::Federation,
    /// The serialised OpenAPI document, built on first request.
    pub(crate) openapi: std::sync::OnceLock<bytes::Bytes>,
}

/// Who is calling: the verified agent (if any) and the network address.
#[derive(Clone, Debug)]
pub struct Caller {
    /// The agent whose token authenticated the call.
    pub identity: crate::token::AgentIdentity,
    /// The caller's IP address.
    pub ip: Option<IpAddr>,
}

impl Caller {
    pub(crate) fn tenant(&self) -> TenantId {
        self.identity.tenant_id
    }

    pub(crate) fn actor(&self) -> String {
        self.identity.agent_id.to_string()
    }

    /// An audit event by this caller, about `agent`.
    pub(crate) fn event(&self, action: &str, agent: Option<AgentId>) -> NewAuditEvent {
        let mut e = NewAuditEvent::new(action, crate::audit::Outcome::Success, self.actor()).ip(self.ip);
        e.agent_id = agent;
        e
    }
}

impl SentryAgent {
    /// A builder with development defaults: in-memory store, random server key.
    pub fn builder() -> SentryAgentBuilder {
        SentryAgentBuilder::default()
    }

    /// The settings in force.
    pub fn settings(&self) -> &Settings {
        &self.inner.settings
    }

    /// Appends events to a tenant's audit chain.
    ///
    /// # Errors
    /// A store error; the caller must not report success for an action whose
    /// audit event was not stored.
    pub async fn record(&self, tenant: TenantId, events: Vec<NewAuditEvent>) -> Result<Vec<AuditEvent>, Error> {
        let inner = &self.inner;
        Ok(inner
            .audit_sink
            .append(&inner.stores.audit, &inner.chain, tenant, events)
            .await?)
    }

    /// Rotates the signing keys: the published `next` key starts signing; the
    /// current one stays published until its last token expires.
    ///
    /// # Errors
    /// A store error.
    pub async fn rotate_signing_keys(&self) -> Result<String, Error> {
        let retire_after = crate::time::now() + self.inner.settings.token_ttl + self.inner.settings.clock_skew;
        self.inner.keys.rotate(retire_after).await
    }

    /// Whether the store holds no tenant yet (a first start).
    ///
    /// # Errors
    /// A store error.
    pub async fn is_empty(&self) -> Result<bool, Error> {
        Ok(self.inner.stores.tenants.tenants(None, 1).await?.is_empty())
    }

    /// Probes every configured backend (`GET /health/detailed`).
    pub async fn health(&self) -> HealthReport {
        crate::health::probe_all(&self.inner.health_checks, Duration::from_secs(2)).await
    }

    /// Re-reads signing keys from the store, to pick up another instance's rotation.
    ///
    /// # Errors
    /// A store error.
    pub async fn reload_signing_keys(&self) -> Result<(), Error> {
        self.inner.keys.reload().await
    }
}

/// Builds a [`SentryAgent`].
#[derive(Default)]
pub struct SentryAgentBuilder {
    settings: Settings,
    audience_set: bool,
    stores: Option<Stores>,
    server_key: Option<ServerKey>,
    group_commit: bool,
    health_checks: Vec<Arc<dyn HealthCheck>>,
    rate_limiter: Option<Arc<dyn RateLimiter>>,
    shared_usage: Option<Arc<dyn UsageCounters>>,
    billing: Option<Arc<dyn BillingProvider>>,
    jwks_fetcher: Option<Arc<dyn crate::federation::JwksFetcher>>,
}

impl SentryAgentBuilder {
    /// The issuer and public base URL (`https://idp.example.com`).
    pub fn issuer(mut self, issuer: impl Into<String>) -> Self {
        self.settings.issuer = issuer.into().trim_end_matches('/').to_owned();
        self
    }

    /// Where the host mounts the API (default `/api/v1`).
    pub fn api_path(mut self, path: impl Into<String>) -> Self {
        self.settings.api_path = path.into().trim_end_matches('/').to_owned();
        self
    }

    /// The audience of management tokens (default: the issuer).
    pub fn audience(mut self, audience: impl Into<String>) -> Self {
        self.settings.audience = audience.into();
        self.audience_set = true;
        self
    }

    /// Another audience clients may request tokens for (a host's own API).
    pub fn extra_audience(mut self, audience: impl Into<String>) -> Self {
        self.settings.extra_audiences.push(audience.into());
        self
    }

    /// Access-token lifetime (default one hour).
    pub fn token_ttl(mut self, ttl: Duration) -> Self {
        self.settings.token_ttl = ttl;
        self
    }

    /// Tolerated clock difference when checking `exp`/`nbf` (default 30 s).
    pub fn clock_skew(mut self, skew: Duration) -> Self {
        self.settings.clock_skew = skew;
        self
    }

    /// Signing algorithm (default ES256).
    pub fn signing_algorithm(mut self, algorithm: SigningAlgorithm) -> Self {
        self.settings.algorithm = algorithm;
        self
    }

    /// Largest request body accepted (default 64 KiB).
    pub fn max_body_bytes(mut self, bytes: usize) -> Self {
        self.settings.max_body_bytes = bytes;
        self
    }

    /// Require this operator key (as a bearer token) for `POST /tenants`;
    /// sign-up is open without it.
    pub fn operator_key(mut self, key: impl Into<String>) -> Self {
        self.settings.signup = Signup::OperatorKey(key.into());
        self
    }

    /// One store for every durable record, and the in-memory revocation
    /// list; see [`stores`](Self::stores) to choose each backend.
    pub fn store<S: Store>(self, store: Arc<S>) -> Self {
        self.stores(Stores::new(store, Arc::new(MemoryStore::new())))
    }

    /// Every backend.
    pub fn stores(mut self, stores: Stores) -> Self {
        self.stores = Some(stores);
        self
    }

    /// A shared revocation list (e.g. Redis) in place of the in-memory one.
    pub fn revocation_list(mut self, list: Arc<dyn RevocationList>) -> Self {
        let stores = self.stores.take().unwrap_or_else(default_stores);
        self.stores = Some(Stores {
            revocations: list,
            ..stores
        });
        self
    }

    /// The master secret (at least 32 bytes) from which the secret-hash pepper
    /// and the audit key derive. It must stay the same across restarts and
    /// instances of a durable deployment; without it a random one is used.
    ///
    /// # Errors
    /// Fails when `secret` is shorter than 32 bytes.
    pub fn server_secret(mut self, secret: &[u8]) -> Result<Self, Error> {
        self.server_key = Some(ServerKey::from_master(secret).map_err(|m| Error::invalid("serverSecret", m))?);
        Ok(self)
    }

    /// Write audit events in batches (group commit): for stores where an
    /// append is a network round trip, such as PostgreSQL. A request still
    /// waits until its own events are committed.
    pub fn group_commit(mut self, on: bool) -> Self {
        self.group_commit = on;
        self
    }

    /// A shared rate limiter (e.g. Redis) so that many instances enforce one
    /// limit; the default counts in this process only.
    pub fn rate_limiter(mut self, limiter: Arc<dyn RateLimiter>) -> Self {
        self.rate_limiter = Some(limiter);
        self
    }

    /// The quota of one route group.
    pub fn rate_limit(mut self, group: RouteGroup, quota: Quota) -> Self {
        self.settings.rate_limits.set_quota(group, quota);
        self
    }

    /// Turns rate limiting on (the default) or off.
    pub fn rate_limiting(mut self, enabled: bool) -> Self {
        self.settings.rate_limits.enabled = enabled;
        self
    }

    /// Answer 503 in `group` while the shared rate limiter is unreachable,
    /// instead of limiting per instance.
    pub fn fail_closed(mut self, group: RouteGroup) -> Self {
        self.settings.rate_limits.set_fail_closed(group, true);
        self
    }

    /// A proxy (an address, or a range such as `10.0.0.0/8`) whose
    /// forwarding header names the client; see
    /// [`client_ip`](crate::http::client_ip) for the rule.
    pub fn trusted_proxy(mut self, net: impl Into<IpNet>) -> Self {
        self.settings.trusted_proxies.push(net.into());
        self
    }

    /// Which header the trusted proxies set (default `X-Forwarded-For`); the
    /// other one is ignored, whoever sent it.
    pub fn forwarded_header(mut self, header: ForwardedHeader) -> Self {
        self.settings.forwarded_header = header;
        self
    }

    /// How long repeated refusals of one token or client are only counted
    /// (default 60 s): the first is audited at once, the count of the others
    /// as one event when the window ends.
    pub fn refusal_audit_window(mut self, window: Duration) -> Self {
        self.settings.refusal_audit_window = window;
        self
    }

    /// Usage counters shared by every instance (e.g. Redis): flushes add to
    /// them too, and tier enforcement reads them.
    pub fn shared_usage(mut self, counters: Arc<dyn UsageCounters>) -> Self {
        self.shared_usage = Some(counters);
        self
    }

    /// Whether tier limits are enforced (default on; metering goes on either way).
    pub fn enforce_tiers(mut self, on: bool) -> Self {
        self.settings.enforce_tiers = on;
        self
    }

    /// How long a tenant's tier and usage summary are cached (default 60 s).
    pub fn quota_cache_ttl(mut self, ttl: Duration) -> Self {
        self.settings.quota_cache_ttl = ttl;
        self
    }

    /// Changes a tier of the catalog (its limits, its provider price id).
    pub fn tier(mut self, name: &str, change: impl FnOnce(&mut Tier)) -> Self {
        self.settings.tiers.edit(name, change);
        self
    }

    /// The billing provider (Stripe); without one, billing routes answer 503.
    pub fn billing(mut self, provider: Arc<dyn BillingProvider>) -> Self {
        self.billing = Some(provider);
        self
    }

    /// How `POST /oidc/token` fetches the OIDC issuer's keys (e.g.
    /// `sentryagent-federation-reqwest`); without one it answers 503
    /// `OIDC_NOT_CONFIGURED`. Trust policies can be managed either way.
    pub fn jwks_fetcher(mut self, fetcher: Arc<dyn crate::federation::JwksFetcher>) -> Self {
        self.jwks_fetcher = Some(fetcher);
        self
    }

    /// The OIDC issuer workflow tokens must come from (default GitHub's,
    /// `https://token.actions.githubusercontent.com`).
    pub fn oidc_issuer(mut self, issuer: impl Into<String>) -> Self {
        self.settings.federation.issuer = issuer.into().trim_end_matches('/').to_owned();
        self
    }

    /// The issuer's JWKS URL (default: the `jwks_uri` of its discovery document).
    pub fn oidc_jwks_url(mut self, url: impl Into<String>) -> Self {
        self.settings.federation.jwks_url = Some(url.into());
        self
    }

    /// The audience workflow tokens must carry (default: the issuer URL of
    /// this IdP).
    pub fn oidc_audience(mut self, audience: impl Into<String>) -> Self {
        self.settings.federation.audience = Some(audience.into());
        self
    }

    /// Least time between two fetches of the issuer's keys (default 30 s):
    /// tokens with unknown key ids cause at most one fetch per interval.
    pub fn jwks_refetch_interval(mut self, interval: Duration) -> Self {
        self.settings.federation.jwks_refetch_interval = interval;
        self
    }

    /// A replay guard shared by every instance (e.g. Redis), so a workflow
    /// token is exchanged once across them; the default is in memory.
    pub fn replay_guard(mut self, guard: Arc<dyn crate::store::ReplayGuard>) -> Self {
        let stores = self.stores.take().unwrap_or_else(default_stores);
        self.stores = Some(Stores {
            replay: guard,
            ..stores
        });
        self
    }

    /// Turns the public marketplace (`GET /marketplace/agents…`) on (the
    /// default) or off; off, its routes answer 404 `NOT_FOUND`.
    pub fn marketplace(mut self, enabled: bool) -> Self {
        self.settings.marketplace_enabled = enabled;
        self
    }

    /// A backend for `GET /health/detailed` to probe.
    pub fn health_check(mut self, check: Arc<dyn HealthCheck>) -> Self {
        self.health_checks.push(check);
        self
    }

    /// Loads or creates the signing keys and returns the identity provider.
    /// With [`group_commit`](Self::group_commit) it starts the audit writer
    /// on the current Tokio runtime.
    ///
    /// # Errors
    /// A store error while loading keys.
    pub async fn build(self) -> Result<SentryAgent, Error> {
        let mut settings = self.settings;
        if !self.audience_set {
            settings.audience = settings.issuer.clone();
        }
        let stores = self.stores.unwrap_or_else(default_stores);
        let server_key = self.server_key.unwrap_or_else(ServerKey::random);
        let keys = Keyring::load(stores.keys.clone(), settings.algorithm).await?;
        let chain = AuditChain::new(server_key.clone());
        let audit_sink = if self.group_commit {
            AuditSink::batched(stores.audit.clone(), chain.clone())
        } else {
            AuditSink::Direct
        };
        let federation = crate::federation::Federation::new(&settings.federation, self.jwks_fetcher);
        Ok(SentryAgent {
            inner: Arc::new(Inner {
                federation,
                openapi: std::sync::OnceLock::new(),
                chain,
                audit_sink,
                health_checks: self.health_checks,
                rate_limiter: self.rate_limiter.unwrap_or_else(|| Arc::new(LocalRateLimiter::new())),
                local_limiter: LocalRateLimiter::new(),
                limiter_down: AtomicBool::new(false),
                repeats: Default::default(),
                meter: Meter::default(),
                shared_usage: self.shared_usage,
                billing: self.billing,
                settings,
                stores,
                keys,
                server_key,
            }),
        })
    }
}

fn default_stores() -> Stores {
    let memory = Arc::new(MemoryStore::new());
    Stores::new(memory.clone(), memory)
}
