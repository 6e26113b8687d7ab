//! Every store call measured at the one seam the core calls through: a
//! wrapper around each `Arc<dyn _>` of [`Stores`](super::Stores) and the
//! rate limiter, recording the call's time and failures by backend and
//! operation ([`crate::observe`]) inside a `store` span, so each backend
//! gets them without code of its own.

use std::sync::{Arc, OnceLock};
use std::time::Instant;

use metrics::Histogram;

use async_trait::async_trait;
use time::OffsetDateTime;
use tracing::Instrument as _;

use super::*;
use crate::StoreErrorKind;
use crate::authorization::{
    AuthorizationCode, ClientKind, CodeRedemption, Consent, ConsentQuery, Grant, OAuthClient, RefreshOutcome,
    RefreshToken, Rotation,
};
use crate::ratelimit::{Quota, RateDecision, RouteGroup};
use crate::{ConsentId, GrantId};

/// A store seam with its backend's name.
pub(crate) struct Timed<T: ?Sized> {
    inner: Arc<T>,
    backend: &'static str,
    /// Each operation's histogram, by its place in the trait's list.
    histograms: [OnceLock<Histogram>; MAX_OPERATIONS],
}

/// The most methods a store trait has.
const MAX_OPERATIONS: usize = 16;

impl<T: ?Sized> Timed<T> {
    pub(crate) fn wrap(inner: Arc<T>, backend: &'static str) -> Arc<Self> {
        Arc::new(Self {
            inner,
            backend,
            histograms: [const { OnceLock::new() }; MAX_OPERATIONS],
        })
    }

    async fn call<R>(
        &self,
        (operation, slot): (&'static str, usize),
        f: impl Future<Output = StoreResult<R>>,
    ) -> StoreResult<R> {
        let span = tracing::debug_span!("store", backend = self.backend, operation);
        let started = Instant::now();
        let result = f.instrument(span).await;
        let error = result.as_ref().err().map(|e| match e.kind() {
            StoreErrorKind::Conflict => "conflict",
            StoreErrorKind::Unavailable => "unavailable",
            StoreErrorKind::Corrupt => "corrupt",
            _ => "other",
        });
        let histogram = &self.histograms[slot % MAX_OPERATIONS];
        crate::observe::record::store_call(histogram, self.backend, operation, started.elapsed(), error);
        result
    }
}

/// The metric label of a backend name: the known ones as they are, any
/// other (a host's own store) as `custom`.
pub(crate) fn backend_label(name: &str) -> &'static str {
    match name {
        "memory" => "memory",
        "postgres" => "postgres",
        "redis" => "redis",
        _ => "custom",
    }
}

/// Implements `$trait` for `Timed<dyn $trait>`, each method forwarding
/// through [`Timed::call`] under its own name.
macro_rules! timed {
    ($trait:ident { $( fn $name:ident(&self $(, $arg:ident : $ty:ty)* ) -> $ret:ty; )* }) => {
        impl Timed<dyn $trait> {
            const OPERATIONS: &'static [&'static str] = &[$(stringify!($name)),*];
        }

        #[async_trait]
        impl $trait for Timed<dyn $trait> {
            $(
                async fn $name(&self $(, $arg: $ty)*) -> StoreResult<$ret> {
                    const SLOT: usize = position(Timed::<dyn $trait>::OPERATIONS, stringify!($name));
                    self.call((stringify!($name), SLOT), self.inner.$name($($arg),*)).await
                }
            )*
        }
    };
}

/// Where `name` is in `names`, at compile time (`MAX_OPERATIONS` past the
/// end: a trait with more methods than slots fails to compile).
const fn position(names: &[&str], name: &str) -> usize {
    let mut i = 0;
    while i < names.len() {
        if eq(names[i].as_bytes(), name.as_bytes()) {
            assert!(i < MAX_OPERATIONS, "more store methods than MAX_OPERATIONS");
            return i;
        }
        i += 1;
    }
    MAX_OPERATIONS
}

const fn eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let mut i = 0;
    while i < a.len() {
        if a[i] != b[i] {
            return false;
        }
        i += 1;
    }
    true
}

timed!(TenantStore {
    fn insert_tenant(&self, tenant: &Tenant) -> ();
    fn tenant(&self, id: TenantId) -> Option<Tenant>;
    fn tenants(&self, after: Option<TenantId>, limit: usize) -> Vec<Tenant>;
    fn set_tenant_tier(&self, id: TenantId, tier: &str) -> ();
});

timed!(AgentStore {
    fn insert_agent(&self, agent: &Agent) -> ();
    fn agent(&self, tenant: TenantId, id: AgentId) -> Option<Agent>;
    fn update_agent(&self, agent: &Agent) -> ();
    fn list_agents(&self, tenant: TenantId, query: &AgentQuery) -> Vec<Agent>;
});

timed!(AgentKeyStore {
    fn insert_agent_key(&self, key: &AgentKey) -> ();
    fn agent_keys(&self, tenant: TenantId, agent: AgentId) -> Vec<AgentKey>;
    fn delete_agent_key(&self, tenant: TenantId, agent: AgentId, id: &str) -> bool;
});

timed!(DirectoryStore {
    fn marketplace_agents(&self, query: &MarketplaceQuery) -> Vec<MarketplaceAgent>;
    fn marketplace_agent(&self, id: AgentId) -> Option<MarketplaceAgent>;
    fn did_subject(&self, id: AgentId) -> Option<DidSubject>;
});

timed!(CredentialStore {
    fn insert_credential(&self, credential: &Credential) -> ();
    fn credential(&self, tenant: TenantId, id: CredentialId) -> Option<Credential>;
    fn credential_by_client_id(&self, client_id: &str) -> Option<Credential>;
    fn client(&self, client_id: &str) -> Option<(Credential, Option<Agent>)>;
    fn list_credentials(&self, tenant: TenantId, agent: AgentId) -> Vec<Credential>;
    fn update_credential(&self, credential: &Credential) -> ();
    fn revoke_agent_credentials(&self, tenant: TenantId, agent: AgentId, at: OffsetDateTime) -> u64;
});

timed!(AuditStore {
    fn append_audit(&self, tenant: TenantId, events: Vec<NewAuditEvent>, chain: &AuditChain) -> Vec<AuditEvent>;
    fn query_audit(&self, tenant: TenantId, query: &AuditQuery) -> Vec<AuditEvent>;
    fn audit_chain(&self, tenant: TenantId, after_seq: u64, limit: usize) -> Vec<AuditEvent>;
    fn audit_links(&self, tenant: TenantId, after_seq: u64, limit: usize) -> Vec<ChainLink>;
    fn audit_checkpoint(&self, tenant: TenantId) -> Option<ChainMark>;
    fn audit_anchor(&self, tenant: TenantId) -> Option<ChainMark>;
    fn reanchor_audit(&self, tenant: TenantId, chain: &AuditChain) -> Option<ChainMark>;
    fn prune_audit(&self, tenant: TenantId, cut: AuditCut, chain: &AuditChain) -> u64;
    fn audit_verify_progress(&self, tenant: TenantId) -> Option<VerifyProgress>;
    fn save_audit_verify_progress(&self, tenant: TenantId, progress: &VerifyProgress) -> ();
});

timed!(OAuthClientStore {
    fn insert_oauth_client(&self, client: &OAuthClient) -> ();
    fn put_oauth_client(&self, client: &OAuthClient) -> OAuthClient;
    fn oauth_client(&self, tenant: TenantId, client_id: &str) -> Option<OAuthClient>;
    fn list_oauth_clients(&self, tenant: TenantId, after: Option<&str>, limit: usize) -> Vec<OAuthClient>;
    fn delete_oauth_client(&self, tenant: TenantId, client_id: &str) -> bool;
    fn count_oauth_clients(&self, tenant: TenantId, kind: ClientKind) -> u64;
    fn touch_oauth_client(&self, tenant: TenantId, client_id: &str, at: OffsetDateTime) -> bool;
    fn delete_unused_clients(&self, kind: ClientKind, before: OffsetDateTime, limit: usize) -> u64;
});

timed!(AuthorizationStore {
    fn insert_authorization_code(&self, grant: &Grant, code: &AuthorizationCode) -> ();
    fn authorization_code(&self, code_hash: &[u8]) -> Option<(AuthorizationCode, Grant)>;
    fn redeem_authorization_code(&self, code_hash: &[u8], at: OffsetDateTime) -> Option<CodeRedemption>;
    fn grant(&self, tenant: TenantId, id: GrantId) -> Option<Grant>;
    fn insert_refresh_token(&self, token: &RefreshToken) -> bool;
    fn refresh_token_grant(&self, token_hash: &[u8]) -> Option<Grant>;
    fn rotate_refresh_token(&self, rotation: Rotation<'_>) -> RefreshOutcome;
    fn revoke_grant(&self, tenant: TenantId, id: GrantId, at: OffsetDateTime) -> bool;
    fn revoke_grants(
        &self,
        tenant: TenantId,
        subject: Option<&str>,
        client_id: Option<&str>,
        at: OffsetDateTime
    ) -> Vec<GrantId>;
    fn put_consent(&self, consent: &Consent) -> Consent;
    fn consent(&self, tenant: TenantId, subject: &str, client_id: &str, resource: &str) -> Option<Consent>;
    fn list_consents(&self, tenant: TenantId, query: &ConsentQuery) -> Vec<Consent>;
    fn revoke_consent(&self, tenant: TenantId, id: ConsentId) -> Option<Consent>;
    fn revoke_user_consents(&self, tenant: TenantId, subject: &str) -> u64;
    fn prune_authorizations(&self, before: OffsetDateTime, limit: usize) -> u64;
});

timed!(KeyStore {
    fn signing_keys(&self) -> Vec<StoredKey>;
    fn put_signing_key(&self, key: &StoredKey) -> ();
    fn delete_signing_key(&self, kid: &str) -> ();
});

timed!(TrustPolicyStore {
    fn insert_trust_policy(&self, policy: &TrustPolicy) -> ();
    fn trust_policy(&self, tenant: TenantId, id: TrustPolicyId) -> Option<TrustPolicy>;
    fn list_trust_policies(&self, tenant: TenantId, after: Option<TrustPolicyId>, limit: usize) -> Vec<TrustPolicy>;
    fn delete_trust_policy(&self, tenant: TenantId, id: TrustPolicyId) -> bool;
    fn trust_policies_for_owner(
        &self,
        provider: Provider,
        owner: &str,
        tenant: Option<TenantId>,
        limit: usize
    ) -> Vec<TrustPolicy>;
    fn pin_trust_policy(
        &self,
        tenant: TenantId,
        id: TrustPolicyId,
        repository_id: Option<&str>,
        owner_id: Option<&str>,
        at: OffsetDateTime
    ) -> Option<TrustPolicy>;
});

timed!(RevocationList {
    fn revoke(&self, jti: TokenId, expires_at: OffsetDateTime) -> ();
    fn is_revoked(&self, jti: TokenId) -> bool;
});

timed!(ReplayGuard {
    fn first_use(&self, id: &str, expires_at: OffsetDateTime) -> bool;
});

timed!(UsageCounters {
    fn add_usage(&self, tenant: TenantId, day: time::Date, metric: &str, n: u64) -> u64;
    fn usage(&self, tenant: TenantId, day: time::Date, metric: &str) -> u64;
    fn add_usage_batch(&self, batch_id: &str, counts: &[(TenantId, time::Date, &str, u64)]) -> bool;
    fn usage_between(&self, tenant: TenantId, first: time::Date, last: time::Date, metric: &str) -> u64;
});

timed!(SubscriptionStore {
    fn subscription(&self, tenant: TenantId) -> Option<Subscription>;
    fn subscription_by_provider_id(&self, subscription_id: &str) -> Option<Subscription>;
    fn put_subscription(&self, subscription: &Subscription) -> ();
    fn apply_billing_event(&self, event_id: &str, subscription: &Subscription) -> bool;
});

timed!(RateLimiter {
    fn check(&self, group: RouteGroup, key: &str, quota: Quota) -> RateDecision;
    fn peek(&self, group: RouteGroup, key: &str, quota: Quota) -> RateDecision;
});

impl Stores {
    /// Each seam measured under its backend's name; the revocation list
    /// and the replay guard under `hot`'s when they live there.
    pub(crate) fn timed(self, durable: &'static str, hot: &'static str) -> Self {
        Self {
            tenants: Timed::wrap(self.tenants, durable),
            agents: Timed::wrap(self.agents, durable),
            credentials: Timed::wrap(self.credentials, durable),
            audit: Timed::wrap(self.audit, durable),
            keys: Timed::wrap(self.keys, durable),
            subscriptions: Timed::wrap(self.subscriptions, durable),
            usage: Timed::wrap(self.usage, durable),
            agent_keys: Timed::wrap(self.agent_keys, durable),
            directory: Timed::wrap(self.directory, durable),
            revocations: Timed::wrap(self.revocations, hot),
            trust_policies: Timed::wrap(self.trust_policies, durable),
            replay: Timed::wrap(self.replay, hot),
            oauth_clients: Timed::wrap(self.oauth_clients, durable),
            authorizations: Timed::wrap(self.authorizations, durable),
        }
    }
}
