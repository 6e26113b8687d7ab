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
use crate::metering::Meter;
use crate::permission::{self, Operation, Principal, Refusal};
use crate::ratelimit::{LocalRateLimiter, RateLimiter};
use crate::secret::ServerKey;
use crate::settings::Settings;
use crate::store::{Stores, UsageCounters};
use crate::token::Keyring;
use crate::{AgentId, TenantId};

/// One identity provider: settings, backends and keys. Cheap to clone.
///
/// ```
/// # async fn demo() -> Result<(), sentryagent_core::Error> {
/// use sentryagent_core::SentryAgent;
///
/// let idp = SentryAgent::builder().issuer("https://idp.example.com").build().await?;
/// let tenant = idp.create_tenant("Acme").await?;
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
    /// Where the background's full verification of the audit chains is.
    pub(crate) verify_schedule: crate::audit::schedule::Schedule,
    pub(crate) meter: Meter,
    /// Usage counters shared by every instance (Redis), if configured.
    pub(crate) shared_usage: Option<Arc<dyn UsageCounters>>,
    pub(crate) billing: Option<Arc<dyn BillingProvider>>,
    /// The OIDC issuer's cached keys.
    pub(crate) federation: crate::federation::Federation,
    /// How Client ID Metadata Documents are fetched, if they are.
    pub(crate) client_metadata_fetcher: Option<Arc<dyn crate::authorization::ClientMetadataFetcher>>,
    /// The tenant dynamically registered clients belong to; `None`: closed.
    pub(crate) dynamic_registration: std::sync::RwLock<Option<TenantId>>,
    /// The serialised OpenAPI document, built on first request.
    pub(crate) openapi: std::sync::OnceLock<bytes::Bytes>,
    /// The host's protected resources.
    pub(crate) resources: crate::resource::Resources,
    /// Who is signed in, for the authorization endpoint; without it the
    /// authorization-code flow is off.
    pub(crate) host_users: Option<Arc<dyn crate::authorization::HostUsers>>,
    /// The consent page the authorization endpoint renders.
    pub(crate) consent_page: Arc<dyn crate::authorization::ConsentPage>,
    /// The backends, for `Debug` and logs (`postgres + redis`).
    pub(crate) backends: String,
    /// The last readiness probe and when it ran.
    pub(crate) readiness: tokio::sync::Mutex<Option<(std::time::Instant, HealthReport)>>,
}

/// The settings in force and the backends; keys and secrets are not shown.
impl std::fmt::Debug for SentryAgent {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let settings = &self.inner.settings;
        f.debug_struct("SentryAgent")
            .field("issuer", &settings.issuer)
            .field("api_path", &settings.api_path)
            .field("algorithm", &settings.algorithm)
            .field("signup", &settings.signup)
            .field("backends", &self.inner.backends)
            .finish_non_exhaustive()
    }
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
    /// Applies the one permission rule ([`crate::permission`]) to a call:
    /// `Ok` if `caller` may perform `op` on `target`, granting `granting`.
    /// A refusal by a ceiling rule is audited in the caller's tenant
    /// (`permission.denied`, naming the rule); a missing route scope is the
    /// plain `INSUFFICIENT_SCOPE`.
    pub(crate) async fn authorize(
        &self,
        caller: &Caller,
        op: Operation,
        target: Option<&crate::agent::Agent>,
        granting: &[String],
    ) -> Result<(), Error> {
        // A bootstrap token grants within its policy's ceiling; a deleted
        // policy leaves it none.
        let ceiling = self
            .bootstrap_policy_of(caller)
            .await?
            .map(|policy| policy.map(|p| p.max_scopes).unwrap_or_default());
        let principal = Principal {
            scopes: &caller.identity.scopes,
            bootstrap_ceiling: ceiling.as_deref(),
        };
        match permission::decide(&principal, op, target, granting) {
            Ok(()) => Ok(()),
            Err(Refusal::MissingScope(scope)) => Err(Error::InsufficientScope(scope.into())),
            Err(refusal) => {
                let mut event = caller
                    .event("permission.denied", target.map(|a| a.id))
                    .detail("rule", refusal.rule())
                    .detail("operation", op.operation_id());
                event.outcome = crate::audit::Outcome::Failure;
                if let Some(scope) = refusal.scope() {
                    event = event.detail("scope", scope);
                }
                self.record(caller.tenant(), vec![event]).await?;
                Err(Error::ScopeCeiling(refusal))
            }
        }
    }

    /// For a bootstrap token: `Some` with the trust policy that issued it
    /// (`None` inside when the policy has since been deleted). `None` for
    /// every other caller.
    pub(crate) async fn bootstrap_policy_of(
        &self,
        caller: &Caller,
    ) -> Result<Option<Option<crate::federation::TrustPolicy>>, Error> {
        let tenant = caller.tenant();
        if caller.identity.agent_id != crate::federation::bootstrap_agent_id(tenant) {
            return Ok(None);
        }
        let policy = match caller
            .identity
            .client_id
            .strip_prefix("oidc:")
            .and_then(|id| id.parse::<uuid::Uuid>().ok())
        {
            Some(id) => {
                self.inner
                    .stores
                    .trust_policies
                    .trust_policy(tenant, crate::TrustPolicyId::from_uuid(id))
                    .await?
            }
            None => None,
        };
        Ok(Some(policy))
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
    pub async fn record(&self, tenant: TenantId, mut events: Vec<NewAuditEvent>) -> Result<Vec<AuditEvent>, Error> {
        let inner = &self.inner;
        // The HTTP request that made them, if any; absent, the detail is
        // absent too, so events recorded before request ids still verify.
        if let Some(id) = crate::observe::request::current_id() {
            for event in &mut events {
                event
                    .details
                    .entry("requestId")
                    .or_insert_with(|| serde_json::Value::from(&*id));
            }
        }
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

    /// Rotates the signing keys if the current one was made more than `age`
    /// ago (after re-reading them, so another instance's rotation counts);
    /// the new signing key's id when it rotated.
    ///
    /// # Errors
    /// A store error.
    pub async fn rotate_signing_keys_older_than(&self, age: Duration) -> Result<Option<String>, Error> {
        self.inner.keys.reload().await?;
        let made = self.inner.keys.current_created_at().await?;
        if made.is_some_and(|at| crate::time::now() - at < age) {
            return Ok(None);
        }
        self.rotate_signing_keys().await.map(Some)
    }

    /// Whether the store holds no tenant yet (a first start).
    ///
    /// # Errors
    /// A store error.
    pub async fn is_empty(&self) -> Result<bool, Error> {
        Ok(self.first_tenant().await?.is_none())
    }

    /// The tenant created first (ids are time-ordered), if any: the example
    /// server's default tenant.
    ///
    /// # Errors
    /// A store error.
    pub async fn first_tenant(&self) -> Result<Option<crate::tenant::Tenant>, Error> {
        Ok(self.inner.stores.tenants.tenants(None, 1).await?.into_iter().next())
    }

    /// Probes every configured backend (`GET /health/detailed`).
    pub async fn health(&self) -> HealthReport {
        crate::health::probe_all(&self.inner.health_checks, Duration::from_secs(2)).await
    }

    /// Whether this instance can serve (`GET /health/ready`): the backends'
    /// report, ready unless a required one is down. The route is never rate
    /// limited, so the backends are probed at most once a second however
    /// many ask; callers meanwhile get the last report.
    pub async fn readiness(&self) -> HealthReport {
        const FRESH: Duration = Duration::from_secs(1);
        let mut last = self.inner.readiness.lock().await;
        if let Some((at, report)) = last.as_ref()
            && at.elapsed() < FRESH
        {
            return report.clone();
        }
        let report = self.health().await;
        *last = Some((std::time::Instant::now(), report.clone()));
        report
    }

    /// Re-reads signing keys from the store, to pick up another instance's rotation.
    ///
    /// # Errors
    /// A store error.
    pub async fn reload_signing_keys(&self) -> Result<(), Error> {
        self.inner.keys.reload().await
    }
}
