//! [`SentryAgentBuilder`]: settings and the two backend bundles, composed into a [`SentryAgent`] whatever the order of the calls.

use crate::SentryAgent;
use crate::audit::AuditChain;
use crate::audit::writer::AuditSink;
use crate::billing::BillingProvider;
use crate::client_ip::{ForwardedHeader, IpNet};
use crate::error::Error;
use crate::health::HealthCheck;
use crate::memory::MemoryStore;
use crate::metering::Meter;
use crate::ratelimit::{LocalRateLimiter, Quota, RateLimiter, RouteGroup};
use crate::secret::ServerKey;
use crate::sentry::Inner;
use crate::settings::{Settings, Signup};
use crate::store::{DurableStore, HotState, ReplayGuard, RevocationList, Stores, UsageCounters};
use crate::tier::Tier;
use crate::token::{Keyring, SigningAlgorithm};
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::Duration;

/// The settings so far and which backends are named; no secret is shown.
impl std::fmt::Debug for SentryAgentBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SentryAgentBuilder")
            .field("settings", &self.settings)
            .field("durable", &self.durable.as_ref().map(|d| d.name))
            .field("hot_state", &self.hot.as_ref().map(|h| h.name.as_str()))
            .field("stores", &self.stores.is_some())
            .field("server_secret", &self.server_key.as_ref().map(|_| "<redacted>"))
            .field("billing", &self.billing.is_some())
            .field("resources", &self.resources.len())
            .field("host_users", &self.host_users.is_some())
            .field("consent_page", &self.consent_page.is_some())
            .finish_non_exhaustive()
    }
}

impl SentryAgent {
    /// A builder with development defaults: in-memory store, random server key.
    pub fn builder() -> SentryAgentBuilder {
        SentryAgentBuilder::default()
    }
}

/// Builds a [`SentryAgent`].
#[derive(Default)]
pub struct SentryAgentBuilder {
    settings: Settings,
    audience_set: bool,
    durable: Option<Durable>,
    hot: Option<Hot>,
    stores: Option<Stores>,
    server_key: Option<ServerKey>,
    enforce_tiers: Option<bool>,
    group_commit: Option<bool>,
    health_checks: Vec<Arc<dyn HealthCheck>>,
    rate_limiter: Option<Arc<dyn RateLimiter>>,
    billing: Option<Arc<dyn BillingProvider>>,
    jwks_fetcher: Option<Arc<dyn crate::federation::JwksFetcher>>,
    issuer_fetcher: Option<Arc<dyn crate::federation::JwksFetcher>>,
    resources: Vec<crate::resource::ResourcePolicy>,
    client_metadata_fetcher: Option<Arc<dyn crate::authorization::ClientMetadataFetcher>>,
    dynamic_registration: Option<crate::TenantId>,
    host_users: Option<Arc<dyn crate::authorization::HostUsers>>,
    consent_page: Option<Arc<dyn crate::authorization::ConsentPage>>,
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

    /// A resource of the host's that agents' tokens may reach, with the
    /// tenants and scopes it accepts (see [`crate::resource`]); its
    /// identifier becomes an audience clients may request. A later policy
    /// for the same identifier replaces an earlier one.
    pub fn resource(mut self, policy: crate::resource::ResourcePolicy) -> Self {
        self.resources.push(policy);
        self
    }

    /// Another audience clients may request tokens for. Prefer
    /// [`resource`](Self::resource), which also says who may reach it.
    pub fn extra_audience(mut self, audience: impl Into<String>) -> Self {
        self.settings.extra_audiences.push(audience.into());
        self
    }

    /// The longest access-token lifetime [`build`](Self::build) accepts: a
    /// day. Revocations are kept as long as a token could verify, and a
    /// lifetime past this is a mistake rather than a policy.
    pub const MAX_TOKEN_TTL: Duration = Duration::from_secs(24 * 3600);

    /// Access-token lifetime (default one hour), from one second to
    /// [`MAX_TOKEN_TTL`](Self::MAX_TOKEN_TTL); `build` refuses others.
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

    /// Who may sign up over HTTP (`POST /tenants`); closed by default.
    /// [`SentryAgent::create_tenant`] makes tenants in Rust either way.
    pub fn signup(mut self, signup: Signup) -> Self {
        self.settings.signup = signup;
        self
    }

    /// Opens sign-up to callers presenting this operator key as a bearer
    /// token (short for `.signup(Signup::OperatorKey(key))`).
    pub fn operator_key(mut self, key: impl Into<String>) -> Self {
        self.settings.signup = Signup::OperatorKey(key.into());
        self
    }

    /// Lists a new agent in the public marketplace unless its registration
    /// says otherwise (default off: an agent is listed only when asked).
    pub fn list_new_agents(mut self, on: bool) -> Self {
        self.settings.list_new_agents = on;
        self
    }

    /// The durable records: PostgreSQL (`sentryagent-store-postgres`) or
    /// another [`DurableStore`]; in memory when not named. Its revocation
    /// list and replay guard serve unless [`hot_state`](Self::hot_state)
    /// names a shared one; it is probed by the health routes; it batches
    /// audit writes if it says that pays. The order of builder calls does
    /// not matter.
    ///
    /// ```no_run
    /// # async fn demo(pg: std::sync::Arc<impl sentryagent_core::store::DurableStore>,
    /// #               redis: std::sync::Arc<impl sentryagent_core::store::HotState>) -> Result<(), sentryagent_core::Error> {
    /// let idp = sentryagent_core::SentryAgent::builder()
    ///     .durable(pg)
    ///     .hot_state(redis)
    ///     .build()
    ///     .await?;
    /// # Ok(()) }
    /// ```
    pub fn durable<S: DurableStore>(mut self, store: Arc<S>) -> Self {
        self.durable = Some(Durable {
            name: store.backend_name(),
            batches: store.batches_audit_writes(),
            health: store.clone().health_check(),
            history_limit: store.audit_history_limit(),
            stores: Stores::new(store),
        });
        self
    }

    /// The hot state every instance shares (`sentryagent-store-redis`):
    /// rate-limit counters, usage counters for tier enforcement, the
    /// revocation list and the replay guard. Without it, rate limits count
    /// per process and the durable store keeps revocations and used ids.
    pub fn hot_state<H: HotState>(mut self, hot: Arc<H>) -> Self {
        self.hot = Some(Hot {
            name: hot.name().to_owned(),
            rate_limiter: hot.clone(),
            usage: hot.clone(),
            revocations: hot.clone(),
            replay: hot.clone(),
            health: hot,
        });
        self
    }

    /// Every record seam named one by one, for tests that wrap one of them;
    /// it takes the place of [`durable`](Self::durable), and its revocation
    /// list and replay guard are used even with [`hot_state`](Self::hot_state).
    pub fn stores(mut self, stores: Stores) -> Self {
        self.stores = Some(stores);
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
    /// The default is what the durable store says
    /// ([`DurableStore::batches_audit_writes`]).
    pub fn group_commit(mut self, on: bool) -> Self {
        self.group_commit = Some(on);
        self
    }

    /// A rate limiter other than the hot state's (which
    /// [`hot_state`](Self::hot_state) brings); without either, limits count
    /// in this process only.
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
    /// [`client_ip`](crate::client_ip) for the rule.
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

    /// Whether tier limits are enforced (metering goes on either way). By
    /// default they are enforced only when a [`billing`](Self::billing)
    /// provider is configured, so that "upgrade to register more" has
    /// somewhere to go.
    pub fn enforce_tiers(mut self, on: bool) -> Self {
        self.enforce_tiers = Some(on);
        self
    }

    /// A directory where the last usage flush at shutdown
    /// ([`SentryAgent::flush_usage_at_shutdown`]) writes the counts the store
    /// did not take (a database down at that moment), and where
    /// [`SentryAgent::recover_spilled_usage`] finds them at a later start to
    /// store them, each file once. A volume every instance mounts lets any
    /// of them recover what another left. Without one, such counts are
    /// logged, tenant by tenant, and lost.
    pub fn usage_spill_dir(mut self, dir: impl Into<std::path::PathBuf>) -> Self {
        self.settings.usage_spill_dir = Some(dir.into());
        self
    }

    /// How often [`SentryAgent::background`] adds usage counts to the store
    /// (default 60 s; at least one second).
    pub fn usage_flush_interval(mut self, interval: Duration) -> Self {
        self.settings.background.usage_flush_interval = interval.max(Duration::from_secs(1));
        self
    }

    /// How often [`SentryAgent::background`] prunes the audit log past each
    /// tenant's retention (default daily, first at start; at least one second).
    pub fn audit_retention_interval(mut self, interval: Duration) -> Self {
        self.settings.background.audit_retention_interval = interval.max(Duration::from_secs(1));
        self
    }

    /// Rotates the signing key in [`SentryAgent::background`] once the
    /// current one is `age` old (default never). Every instance checks;
    /// each rotation is stored, so the others pick it up.
    pub fn signing_key_rotation(mut self, age: Duration) -> Self {
        self.settings.background.key_rotation = Some(age.max(Duration::from_secs(60)));
        self
    }

    /// How often [`SentryAgent::background`] applies the durable store's
    /// bound on audit history (default 60 s; at least one second).
    pub fn audit_history_interval(mut self, interval: Duration) -> Self {
        self.settings.background.audit_history_interval = interval.max(Duration::from_secs(1));
        self
    }

    /// How often [`SentryAgent::background`] verifies each tenant's audit
    /// chain in full, a bounded slice per turn (default daily; at least a
    /// minute; `None`: never by itself, only when asked with
    /// `GET /audit/verify?mode=full`). See [`crate::audit::scheduled`].
    pub fn audit_full_verification(mut self, every: Option<Duration>) -> Self {
        self.settings.background.audit_full_verification = every.map(|e| e.max(Duration::from_secs(60)));
        self
    }

    /// How often a turn of the background's full verification runs: one
    /// slice of at most [`FULL_SLICE`](crate::audit::FULL_SLICE) events
    /// (default every 5 s; at least 100 ms).
    pub fn audit_verification_turn(mut self, every: Duration) -> Self {
        self.settings.background.audit_verification_turn = every.max(Duration::from_millis(100));
        self
    }

    /// How often [`SentryAgent::background`] deletes expired authorization
    /// codes and grants and expires unused dynamic clients (default hourly;
    /// at least one second).
    pub fn authorization_prune_interval(mut self, interval: Duration) -> Self {
        self.settings.background.authorization_prune_interval = interval.max(Duration::from_secs(1));
        self
    }

    /// How long a dynamically registered client may go unused before
    /// [`SentryAgent::background`] deletes it (default 30 days; at least an
    /// hour, so a client registering is not deleted before its first use).
    pub fn unused_dynamic_client_ttl(mut self, ttl: Duration) -> Self {
        self.settings.background.unused_dynamic_client_ttl = ttl.max(Duration::from_secs(3600));
        self
    }

    /// Turns the authorization-code flow on: the host's answer to who is
    /// signed in at the authorization endpoint (`{api}/oauth2/authorize`).
    /// Without it the endpoint answers that the flow is not configured, and
    /// the metadata advertises no `authorization_endpoint`.
    pub fn host_users(mut self, users: Arc<dyn crate::authorization::HostUsers>) -> Self {
        self.host_users = Some(users);
        self
    }

    /// Replaces SentryAgent's consent page with the host's own (it must
    /// post back what [`ConsentView`](crate::authorization::ConsentView)
    /// says).
    pub fn consent_page(mut self, page: Arc<dyn crate::authorization::ConsentPage>) -> Self {
        self.consent_page = Some(page);
        self
    }

    /// How long an authorization code may wait to be redeemed (default 60 s;
    /// between one second and ten minutes).
    pub fn authorization_code_ttl(mut self, ttl: Duration) -> Self {
        self.settings.authorization.code_ttl = ttl.clamp(Duration::from_secs(1), Duration::from_secs(600));
        self
    }

    /// How long a refresh token of the authorization-code flow lives unused
    /// (default 30 days; at least a minute). Each use rotates it.
    pub fn refresh_token_ttl(mut self, ttl: Duration) -> Self {
        self.settings.authorization.refresh_token_ttl = ttl.max(Duration::from_secs(60));
        self
    }

    /// How long a person's grant to a client lasts at most, however often
    /// it is refreshed (default 90 days; at least a minute): then they
    /// consent again.
    pub fn grant_ttl(mut self, ttl: Duration) -> Self {
        self.settings.authorization.grant_ttl = ttl.max(Duration::from_secs(60));
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

    /// How the JWT bearer grant fetches the discovery documents and keys of
    /// the OIDC issuers tenants register: a fetcher that refuses loopback,
    /// private and link-local addresses
    /// (`sentryagent_federation_reqwest::GuardedFetcher`), since tenants
    /// choose these URLs. Without one the grant answers
    /// `temporarily_unavailable`.
    pub fn issuer_fetcher(mut self, fetcher: Arc<dyn crate::federation::JwksFetcher>) -> Self {
        self.issuer_fetcher = Some(fetcher);
        self
    }

    /// Tests only: lets tenants register OIDC issuers on `http`, loopback
    /// and private addresses (default off; see
    /// [`FederationSettings::allow_private_network_issuers`](crate::federation::FederationSettings::allow_private_network_issuers)).
    pub fn allow_private_network_issuers_for_tests(mut self, allow: bool) -> Self {
        self.settings.federation.allow_private_network_issuers = allow;
        self
    }

    /// How Client ID Metadata Documents are fetched: a fetcher that refuses
    /// loopback, private and link-local addresses and follows no redirect
    /// (`sentryagent_federation_reqwest::GuardedFetcher`), since whoever
    /// runs a client chooses its URL. Without one, URL-shaped client ids
    /// are refused and the metadata says
    /// `client_id_metadata_document_supported: false`.
    pub fn client_metadata_fetcher(mut self, fetcher: Arc<dyn crate::authorization::ClientMetadataFetcher>) -> Self {
        self.client_metadata_fetcher = Some(fetcher);
        self
    }

    /// Tests only: client ids `http://127.0.0.1/...` and
    /// `http://localhost/...` are accepted as metadata documents (default
    /// off: `https` only). The fetcher must also allow loopback for them to
    /// be fetched.
    pub fn allow_http_loopback_client_metadata_for_tests(mut self, allow: bool) -> Self {
        self.settings.authorization.allow_http_loopback_client_metadata = allow;
        self
    }

    /// Opens dynamic client registration (RFC 7591, `POST
    /// {api}/oauth2/register`), the clients registered there belonging to
    /// `tenant`. Off by default: the route answers 404 and the metadata
    /// has no `registration_endpoint`. A host that creates the tenant after
    /// building calls
    /// [`SentryAgent::set_dynamic_client_registration`](crate::SentryAgent::set_dynamic_client_registration).
    pub fn dynamic_client_registration(mut self, tenant: crate::TenantId) -> Self {
        self.dynamic_registration = Some(tenant);
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

    /// Turns the public marketplace (`GET /marketplace/agents…`) on (the
    /// default) or off; off, its routes answer 404 `NOT_FOUND`.
    pub fn marketplace(mut self, enabled: bool) -> Self {
        self.settings.marketplace_enabled = enabled;
        self
    }

    /// Adds a `tenant` label to the HTTP request metrics (default off).
    /// Each tenant then makes series of its own, so turn it on only with
    /// few tenants, or a metrics backend priced for it; see
    /// [`crate::observe`].
    pub fn metrics_tenant_label(mut self, on: bool) -> Self {
        self.settings.metrics_tenant_label = on;
        self
    }

    /// Another backend for the health routes to probe (the durable store
    /// and the hot state are probed without it).
    pub fn health_check(mut self, check: Arc<dyn HealthCheck>) -> Self {
        self.health_checks.push(check);
        self
    }

    /// Loads or creates the signing keys and returns the identity provider.
    /// With [`group_commit`](Self::group_commit) it starts the audit writer
    /// on the current Tokio runtime.
    ///
    /// # Errors
    /// A store error while loading keys; [`Error::Validation`] for a token
    /// lifetime outside 1 s to [`MAX_TOKEN_TTL`](Self::MAX_TOKEN_TTL).
    pub async fn build(self) -> Result<SentryAgent, Error> {
        let mut settings = self.settings;
        // A lifetime of 0 issues dead tokens; a huge one overflowed the
        // expiry arithmetic at the first token request.
        if settings.token_ttl < Duration::from_secs(1) || settings.token_ttl > Self::MAX_TOKEN_TTL {
            return Err(Error::invalid(
                "tokenTtl",
                format!(
                    "the access-token lifetime must be from 1 second to {} seconds, not {} s",
                    Self::MAX_TOKEN_TTL.as_secs(),
                    settings.token_ttl.as_secs_f64()
                ),
            ));
        }
        if !self.audience_set {
            settings.audience = settings.issuer.clone();
        }
        settings.enforce_tiers = self.enforce_tiers.unwrap_or(self.billing.is_some());
        let backends = Backends::compose(
            self.durable,
            self.hot,
            self.stores,
            self.rate_limiter,
            self.health_checks,
        );
        let Backends {
            stores,
            rate_limiter,
            shared_usage,
            health_checks,
            batches,
            history_limit,
            names,
        } = backends;
        settings.background.audit_history_limit = history_limit;
        let server_key = self.server_key.unwrap_or_else(ServerKey::random);
        let keys = Keyring::load(stores.keys.clone(), settings.algorithm).await?;
        let chain = AuditChain::new(server_key.clone());
        crate::observe::names::describe();
        crate::observe::record::build_info(settings.algorithm.as_str(), &names);
        if let Ok(Some(at)) = keys.current_created_at().await {
            crate::observe::record::signing_key_created(at);
        }
        let audit_sink = if self.group_commit.unwrap_or(batches) {
            AuditSink::batched(stores.audit.clone(), chain.clone())
        } else {
            AuditSink::Direct
        };
        let federation =
            crate::federation::Federation::new(&settings.federation, self.jwks_fetcher, self.issuer_fetcher);
        let resources = crate::resource::Resources::default();
        for policy in self.resources {
            resources.insert(policy);
        }
        Ok(SentryAgent {
            inner: Arc::new(Inner {
                federation,
                client_metadata_fetcher: self.client_metadata_fetcher,
                dynamic_registration: std::sync::RwLock::new(self.dynamic_registration),
                openapi: std::sync::OnceLock::new(),
                resources,
                host_users: self.host_users,
                consent_page: self
                    .consent_page
                    .unwrap_or_else(|| Arc::new(crate::authorization::DefaultConsentPage)),
                readiness: tokio::sync::Mutex::new(None),
                backends: names,
                chain,
                audit_sink,
                health_checks,
                rate_limiter,
                local_limiter: LocalRateLimiter::new(),
                limiter_down: AtomicBool::new(false),
                repeats: Default::default(),
                verify_schedule: Default::default(),
                meter: Meter::default(),
                shared_usage,
                billing: self.billing,
                settings,
                stores,
                keys,
                server_key,
            }),
        })
    }
}

/// A durable store as [`SentryAgentBuilder::durable`] took it.
struct Durable {
    name: &'static str,
    history_limit: Option<u64>,
    batches: bool,
    health: Option<Arc<dyn HealthCheck>>,
    stores: Stores,
}

/// A hot-state backend as [`SentryAgentBuilder::hot_state`] took it.
struct Hot {
    name: String,
    rate_limiter: Arc<dyn RateLimiter>,
    usage: Arc<dyn UsageCounters>,
    revocations: Arc<dyn RevocationList>,
    replay: Arc<dyn ReplayGuard>,
    health: Arc<dyn HealthCheck>,
}

/// The backends composed, whatever the order of the builder calls.
struct Backends {
    stores: Stores,
    rate_limiter: Arc<dyn RateLimiter>,
    shared_usage: Option<Arc<dyn UsageCounters>>,
    health_checks: Vec<Arc<dyn HealthCheck>>,
    batches: bool,
    /// The durable store's bound on audit history (none for explicit stores).
    history_limit: Option<u64>,
    names: String,
}

impl Backends {
    fn compose(
        durable: Option<Durable>,
        hot: Option<Hot>,
        explicit: Option<Stores>,
        rate_limiter: Option<Arc<dyn RateLimiter>>,
        extra_checks: Vec<Arc<dyn HealthCheck>>,
    ) -> Self {
        let durable = durable.unwrap_or_else(|| {
            let memory = Arc::new(MemoryStore::new());
            Durable {
                name: "memory",
                history_limit: memory.audit_history_limit(),
                batches: false,
                health: None,
                stores: Stores::new(memory),
            }
        });
        let mut health_checks: Vec<Arc<dyn HealthCheck>> = durable.health.into_iter().collect();
        let (mut stores, explicit) = match explicit {
            Some(stores) => (stores, true),
            None => (durable.stores, false),
        };
        let mut shared_usage = None;
        let mut limiter = None;
        if let Some(hot) = &hot {
            if !explicit {
                stores.revocations = hot.revocations.clone();
                stores.replay = hot.replay.clone();
            }
            shared_usage = Some(hot.usage.clone());
            limiter = Some(hot.rate_limiter.clone());
            health_checks.push(hot.health.clone());
        }
        health_checks.extend(extra_checks);
        match &hot {
            Some(hot) if durable.name == "memory" && !explicit => tracing::warn!(
                hot_state = %hot.name,
                "records in memory, lost at exit; hot state shared in {}: for development and tests only", hot.name
            ),
            _ => tracing::debug!(
                durable = durable.name,
                hot_state = hot.as_ref().map(|h| h.name.as_str()),
                "backends"
            ),
        }
        let names = match (&hot, explicit) {
            (_, true) => "custom".to_owned(),
            (Some(hot), false) => format!("{} + {}", durable.name, hot.name),
            (None, false) => durable.name.to_owned(),
        };
        // Every backend call is measured (crate::observe), under the name
        // of the backend that answers it.
        let durable_label = if explicit { "custom" } else { durable.name };
        let hot_label = match &hot {
            _ if explicit => "custom",
            Some(hot) => crate::store::timed::backend_label(&hot.name),
            None => durable_label,
        };
        let rate_limiter: Arc<dyn RateLimiter> = match (rate_limiter, limiter) {
            (Some(own), _) => crate::store::timed::Timed::wrap(own, "custom"),
            (None, Some(shared)) => crate::store::timed::Timed::wrap(shared, hot_label),
            // In-process: nothing to measure.
            (None, None) => Arc::new(LocalRateLimiter::new()),
        };
        let shared_usage =
            shared_usage.map(|u| -> Arc<dyn UsageCounters> { crate::store::timed::Timed::wrap(u, hot_label) });
        Self {
            names,
            history_limit: if explicit { None } else { durable.history_limit },
            stores: stores.timed(durable_label, hot_label),
            rate_limiter,
            shared_usage,
            health_checks,
            batches: durable.batches,
        }
    }
}
