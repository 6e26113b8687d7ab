//! The storage traits every backend implements, and the hot-state traits
//! (revocation list) that may live in a shared cache.
//!
//! Every method that reads or writes tenant data takes the tenant id and must
//! scope its query by it: a backend never returns a record of another tenant.
//! [`crate::memory::MemoryStore`] is the reference implementation; the
//! conformance suite in `sentryagent-testkit` (`store_conformance!`) checks
//! any backend against the same cases.

pub(crate) mod timed;

use std::sync::Arc;

use async_trait::async_trait;
use time::OffsetDateTime;

use crate::agent::{Agent, AgentQuery};
use crate::audit::{AuditChain, AuditCut, AuditEvent, AuditQuery, ChainLink, ChainMark, NewAuditEvent, VerifyProgress};
use crate::billing::Subscription;
use crate::credential::Credential;
use crate::did::{AgentKey, DidSubject};
use crate::error::StoreResult;
use crate::federation::{Provider, TrustPolicy};
use crate::health::HealthCheck;
use crate::marketplace::{MarketplaceAgent, MarketplaceQuery};
use crate::ratelimit::RateLimiter;
use crate::tenant::Tenant;
use crate::token::StoredKey;
use crate::{AgentId, CredentialId, TenantId, TokenId, TrustPolicyId};

mod authorization;

pub use authorization::{AuthorizationStore, OAuthClientStore};

/// Tenants.
#[async_trait]
pub trait TenantStore: Send + Sync + 'static {
    /// Stores a new tenant.
    async fn insert_tenant(&self, tenant: &Tenant) -> StoreResult<()>;
    /// One tenant.
    async fn tenant(&self, id: TenantId) -> StoreResult<Option<Tenant>>;
    /// Tenants in id order after `after`, at most `limit` (for background tasks).
    async fn tenants(&self, after: Option<TenantId>, limit: usize) -> StoreResult<Vec<Tenant>>;
    /// Changes a tenant's tier.
    async fn set_tenant_tier(&self, id: TenantId, tier: &str) -> StoreResult<()>;
}

/// Agents.
#[async_trait]
pub trait AgentStore: Send + Sync + 'static {
    /// Stores a new agent; a [`Conflict`](crate::StoreErrorKind::Conflict)
    /// when the tenant already has an agent of that name.
    async fn insert_agent(&self, agent: &Agent) -> StoreResult<()>;
    /// One agent of the tenant.
    async fn agent(&self, tenant: TenantId, id: AgentId) -> StoreResult<Option<Agent>>;
    /// Replaces an agent's mutable fields (description, capabilities,
    /// metadata, scopes, status, updated_at).
    async fn update_agent(&self, agent: &Agent) -> StoreResult<()>;
    /// Agents matching `query`, in id (registration) order.
    async fn list_agents(&self, tenant: TenantId, query: &AgentQuery) -> StoreResult<Vec<Agent>>;
}

/// Public keys registered for agents: their DIDs' verification methods.
#[async_trait]
pub trait AgentKeyStore: Send + Sync + 'static {
    /// Stores a key; a [`Conflict`](crate::StoreErrorKind::Conflict) when the
    /// agent already has a key with this id.
    async fn insert_agent_key(&self, key: &AgentKey) -> StoreResult<()>;
    /// An agent's keys, oldest first (by creation time, then id).
    async fn agent_keys(&self, tenant: TenantId, agent: AgentId) -> StoreResult<Vec<AgentKey>>;
    /// Deletes one key of an agent; whether it existed.
    async fn delete_agent_key(&self, tenant: TenantId, agent: AgentId, id: &str) -> StoreResult<bool>;
}

/// The public reads across tenants: the marketplace and DID documents.
/// Agents are found by id alone here (ids are unique across tenants), and
/// only public fields leave the store.
#[async_trait]
pub trait DirectoryStore: Send + Sync + 'static {
    /// Listed agents ([`is_listed`](crate::marketplace::is_listed)) whose
    /// tenant exists, matching `query`
    /// ([`MarketplaceQuery::matches`]), in id order after `query.after`, at
    /// most `query.limit`, with their tenant's name.
    async fn marketplace_agents(&self, query: &MarketplaceQuery) -> StoreResult<Vec<MarketplaceAgent>>;
    /// One agent, if it is listed and its tenant exists.
    async fn marketplace_agent(&self, id: AgentId) -> StoreResult<Option<MarketplaceAgent>>;
    /// Any agent's status and keys (oldest first), decommissioned ones
    /// included: what its DID document is made of.
    async fn did_subject(&self, id: AgentId) -> StoreResult<Option<DidSubject>>;
}

/// Client credentials.
#[async_trait]
pub trait CredentialStore: Send + Sync + 'static {
    /// Stores a new credential; a conflict if its client id exists.
    async fn insert_credential(&self, credential: &Credential) -> StoreResult<()>;
    /// One credential of the tenant.
    async fn credential(&self, tenant: TenantId, id: CredentialId) -> StoreResult<Option<Credential>>;
    /// The credential with this client id, in any tenant: the token endpoint
    /// learns the tenant from it.
    async fn credential_by_client_id(&self, client_id: &str) -> StoreResult<Option<Credential>>;
    /// The credential with this client id and its agent, in one read: the
    /// token endpoint's hot path. The agent is `None` if it is missing.
    async fn client(&self, client_id: &str) -> StoreResult<Option<(Credential, Option<Agent>)>>;
    /// An agent's credentials, oldest first.
    async fn list_credentials(&self, tenant: TenantId, agent: AgentId) -> StoreResult<Vec<Credential>>;
    /// Replaces a credential's secret hash, status and times.
    async fn update_credential(&self, credential: &Credential) -> StoreResult<()>;
    /// Revokes every active credential of an agent; returns how many.
    async fn revoke_agent_credentials(&self, tenant: TenantId, agent: AgentId, at: OffsetDateTime) -> StoreResult<u64>;
}

/// The audit log: append-only hash chains, one per tenant.
#[async_trait]
pub trait AuditStore: Send + Sync + 'static {
    /// Appends events to the tenant's chain, atomically: with the tenant's
    /// head held, each event is sealed with [`AuditChain::seal`] after the
    /// previous one, and the new head is stored as the checkpoint
    /// ([`AuditChain::advance`]). Concurrent appends, from this process
    /// or another, must never fork the chain or leave a gap.
    ///
    /// A tenant without a checkpoint starts at [`AuditChain::genesis`] only
    /// if it has no events and no retention anchor; otherwise the head is
    /// made on its last stored event (or the anchor) with
    /// [`AuditChain::lost`], never as a plain checkpoint.
    async fn append_audit(
        &self,
        tenant: TenantId,
        events: Vec<NewAuditEvent>,
        chain: &AuditChain,
    ) -> StoreResult<Vec<AuditEvent>>;
    /// Events matching `query`, newest (highest `seq`) first.
    async fn query_audit(&self, tenant: TenantId, query: &AuditQuery) -> StoreResult<Vec<AuditEvent>>;
    /// Events with `seq` above `after_seq`, ascending, at most `limit`.
    async fn audit_chain(&self, tenant: TenantId, after_seq: u64, limit: usize) -> StoreResult<Vec<AuditEvent>>;
    /// The events of [`audit_chain`](Self::audit_chain) as verification
    /// reads them: with the canonical bytes stored when each was appended,
    /// and whether its stored fields say what those bytes say, or its fields
    /// when it has no stored bytes (see [`crate::audit::canonical`]). The
    /// default reads the fields of every event.
    async fn audit_links(&self, tenant: TenantId, after_seq: u64, limit: usize) -> StoreResult<Vec<ChainLink>> {
        Ok(self
            .audit_chain(tenant, after_seq, limit)
            .await?
            .into_iter()
            .map(ChainLink::from)
            .collect())
    }
    /// The checkpoint (the chain's head), if any event was ever appended.
    async fn audit_checkpoint(&self, tenant: TenantId) -> StoreResult<Option<ChainMark>>;
    /// The retention anchor, if events were ever pruned.
    async fn audit_anchor(&self, tenant: TenantId) -> StoreResult<Option<ChainMark>>;
    /// An operator's re-anchoring: with the head held, a head whose
    /// checkpoint was lost (or a missing head, made as
    /// [`append_audit`](Self::append_audit) would) is stored as a plain
    /// checkpoint again ([`AuditChain::reanchor`]). Returns the head as it
    /// was; `None` (and nothing changed) when the checkpoint is intact or
    /// the chain empty.
    async fn reanchor_audit(&self, tenant: TenantId, chain: &AuditChain) -> StoreResult<Option<ChainMark>>;
    /// Deletes the tenant's events up to `cut`, as a prefix of the chain,
    /// and stores the anchor ([`AuditChain::anchor`]) of the last one
    /// deleted. Returns how many were deleted.
    async fn prune_audit(&self, tenant: TenantId, cut: AuditCut, chain: &AuditChain) -> StoreResult<u64>;
    /// The tenant's verification progress as last saved, if any (stored as
    /// given: the service checks its MAC).
    async fn audit_verify_progress(&self, tenant: TenantId) -> StoreResult<Option<VerifyProgress>>;
    /// Saves the tenant's verification progress, replacing what was there
    /// (the last writer wins: at worst the next verification reads more).
    async fn save_audit_verify_progress(&self, tenant: TenantId, progress: &VerifyProgress) -> StoreResult<()>;
}

/// Token signing keys.
#[async_trait]
pub trait KeyStore: Send + Sync + 'static {
    /// Every stored key.
    async fn signing_keys(&self) -> StoreResult<Vec<StoredKey>>;
    /// Inserts or replaces a key (by `kid`).
    async fn put_signing_key(&self, key: &StoredKey) -> StoreResult<()>;
    /// Deletes a key.
    async fn delete_signing_key(&self, kid: &str) -> StoreResult<()>;
}

/// OIDC trust policies (workload identity federation).
#[async_trait]
pub trait TrustPolicyStore: Send + Sync + 'static {
    /// Stores a new policy.
    async fn insert_trust_policy(&self, policy: &TrustPolicy) -> StoreResult<()>;
    /// One policy of the tenant.
    async fn trust_policy(&self, tenant: TenantId, id: TrustPolicyId) -> StoreResult<Option<TrustPolicy>>;
    /// The tenant's policies in id (creation) order after `after`, at most `limit`.
    async fn list_trust_policies(
        &self,
        tenant: TenantId,
        after: Option<TrustPolicyId>,
        limit: usize,
    ) -> StoreResult<Vec<TrustPolicy>>;
    /// Deletes a policy; `true` if it existed.
    async fn delete_trust_policy(&self, tenant: TenantId, id: TrustPolicyId) -> StoreResult<bool>;
    /// The policies of `provider` whose repository owner equals `owner`
    /// (ASCII lower case, as [`TrustPolicy::owner_key`]), of `tenant` or of
    /// every tenant, in id order, at most `limit`: the token endpoint's
    /// candidates, before it knows the tenant.
    async fn trust_policies_for_owner(
        &self,
        provider: Provider,
        owner: &str,
        tenant: Option<TenantId>,
        limit: usize,
    ) -> StoreResult<Vec<TrustPolicy>>;
    /// Trust on first use, atomically: sets the policy's `repository_id` to
    /// `repository_id` and its `repository_owner_id` to `owner_id`, each
    /// only where given and still unset, and `pinned_at` to `at` if either
    /// changed. Returns the policy as stored afterwards (`None`: deleted),
    /// so a caller that raced another first use sees the winner's ids.
    async fn pin_trust_policy(
        &self,
        tenant: TenantId,
        id: TrustPolicyId,
        repository_id: Option<&str>,
        owner_id: Option<&str>,
        at: OffsetDateTime,
    ) -> StoreResult<Option<TrustPolicy>>;
}

/// Revoked token ids, kept until the token would have expired anyway.
#[async_trait]
pub trait RevocationList: Send + Sync + 'static {
    /// Marks a token revoked until `expires_at`.
    async fn revoke(&self, jti: TokenId, expires_at: OffsetDateTime) -> StoreResult<()>;
    /// Whether a token is revoked.
    async fn is_revoked(&self, jti: TokenId) -> StoreResult<bool>;
}

/// Ids seen before (OIDC token ids, webhook event ids), remembered until they
/// could no longer be replayed anyway.
#[async_trait]
pub trait ReplayGuard: Send + Sync + 'static {
    /// Records `id` until `expires_at`; `true` if it was not seen before.
    async fn first_use(&self, id: &str, expires_at: OffsetDateTime) -> StoreResult<bool>;
}

/// Counters shared by every instance (usage metering), per tenant, UTC day
/// and metric.
#[async_trait]
pub trait UsageCounters: Send + Sync + 'static {
    /// Adds `n` and returns the new total.
    async fn add_usage(&self, tenant: TenantId, day: time::Date, metric: &str, n: u64) -> StoreResult<u64>;
    /// The current total.
    async fn usage(&self, tenant: TenantId, day: time::Date, metric: &str) -> StoreResult<u64>;
    /// Adds every count of a batch and records `batch_id`, all or nothing;
    /// `false`, with nothing added, when that batch was added before. For
    /// usage spilled at a shutdown: however many starts find the same
    /// batch, it counts once. Durable stores implement it; the default
    /// refuses.
    async fn add_usage_batch(&self, batch_id: &str, counts: &[(TenantId, time::Date, &str, u64)]) -> StoreResult<bool> {
        let _ = (batch_id, counts);
        Err(crate::StoreError::new(
            crate::StoreErrorKind::Other,
            "this usage store cannot add a batch exactly once",
        ))
    }
    /// The total of the days from `first` to `last`, both included (a month).
    async fn usage_between(
        &self,
        tenant: TenantId,
        first: time::Date,
        last: time::Date,
        metric: &str,
    ) -> StoreResult<u64> {
        let mut total = 0;
        let mut day = first;
        while day <= last {
            total += self.usage(tenant, day, metric).await?;
            match day.next_day() {
                Some(next) => day = next,
                None => break,
            }
        }
        Ok(total)
    }
}

/// Tenants' subscriptions, as billing webhooks leave them.
#[async_trait]
pub trait SubscriptionStore: Send + Sync + 'static {
    /// A tenant's subscription record.
    async fn subscription(&self, tenant: TenantId) -> StoreResult<Option<Subscription>>;
    /// The record holding this provider subscription id.
    async fn subscription_by_provider_id(&self, subscription_id: &str) -> StoreResult<Option<Subscription>>;
    /// Inserts or replaces a tenant's record.
    async fn put_subscription(&self, subscription: &Subscription) -> StoreResult<()>;
    /// Applies a provider event once, atomically: records `event_id` as
    /// handled, stores `subscription` (inserted or replacing the tenant's
    /// record) and sets the tenant's tier to its tier, all or nothing.
    /// `false`, with nothing changed, when the event was handled before. A
    /// failure leaves the event unhandled, so the provider's retry applies it.
    async fn apply_billing_event(&self, event_id: &str, subscription: &Subscription) -> StoreResult<bool>;
}

/// A backend that stores every durable record.
pub trait Store:
    TenantStore
    + AgentStore
    + CredentialStore
    + AuditStore
    + KeyStore
    + SubscriptionStore
    + UsageCounters
    + TrustPolicyStore
    + AgentKeyStore
    + DirectoryStore
    + OAuthClientStore
    + AuthorizationStore
{
}

impl<T> Store for T where
    T: TenantStore
        + AgentStore
        + CredentialStore
        + AuditStore
        + KeyStore
        + SubscriptionStore
        + UsageCounters
        + TrustPolicyStore
        + AgentKeyStore
        + DirectoryStore
        + OAuthClientStore
        + AuthorizationStore
{
}

/// The durable-records bundle: a backend that keeps every record a
/// deployment must not lose (PostgreSQL, or the in-memory store for
/// development), including the revocation list and the replay guard, so
/// that without shared hot state nothing falls back to one process's memory.
/// A host names it once with
/// [`SentryAgentBuilder::durable`](crate::SentryAgentBuilder::durable).
pub trait DurableStore: Store + RevocationList + ReplayGuard {
    /// A short name for logs (`postgres`, `memory`).
    fn backend_name(&self) -> &'static str;

    /// Whether audit appends should be written in batches (group commit):
    /// true where an append is a network round trip.
    fn batches_audit_writes(&self) -> bool {
        false
    }

    /// At most how many audit events per tenant it keeps (`None`: no bound);
    /// [`SentryAgent::background`](crate::SentryAgent::background) prunes the
    /// oldest past it through the retention anchor. The in-memory store
    /// bounds its history; a database does not need to.
    fn audit_history_limit(&self) -> Option<u64> {
        None
    }

    /// The probe `GET /health/detailed` and `/health/ready` run against
    /// this backend, if it can be down.
    fn health_check(self: Arc<Self>) -> Option<Arc<dyn HealthCheck>> {
        None
    }
}

/// The hot-state bundle: state every instance of a deployment must share
/// and that may live in a cache (Redis): rate-limit counters, usage
/// counters for tier enforcement, revoked tokens, used one-time ids. A host
/// names it once with
/// [`SentryAgentBuilder::hot_state`](crate::SentryAgentBuilder::hot_state).
pub trait HotState: RateLimiter + UsageCounters + RevocationList + ReplayGuard + HealthCheck {}

impl<T> HotState for T where T: RateLimiter + UsageCounters + RevocationList + ReplayGuard + HealthCheck {}

/// The record seams of one [`SentryAgent`](crate::SentryAgent), each behind
/// `Arc<dyn _>`. [`Stores::new`] takes them all from one durable store;
/// tests replace single fields to inject faults.
#[derive(Clone)]
pub struct Stores {
    /// Tenants.
    pub tenants: Arc<dyn TenantStore>,
    /// Agents.
    pub agents: Arc<dyn AgentStore>,
    /// Credentials.
    pub credentials: Arc<dyn CredentialStore>,
    /// Audit log.
    pub audit: Arc<dyn AuditStore>,
    /// Signing keys.
    pub keys: Arc<dyn KeyStore>,
    /// Subscriptions.
    pub subscriptions: Arc<dyn SubscriptionStore>,
    /// Durable usage roll-ups (daily; months are sums of days).
    pub usage: Arc<dyn UsageCounters>,
    /// Agents' public keys.
    pub agent_keys: Arc<dyn AgentKeyStore>,
    /// Marketplace and DID document reads.
    pub directory: Arc<dyn DirectoryStore>,
    /// Revoked tokens.
    pub revocations: Arc<dyn RevocationList>,
    /// OIDC trust policies.
    pub trust_policies: Arc<dyn TrustPolicyStore>,
    /// Ids already used (OIDC token ids).
    pub replay: Arc<dyn ReplayGuard>,
    /// Clients of the authorization-code flow.
    pub oauth_clients: Arc<dyn OAuthClientStore>,
    /// Codes, grants, refresh tokens and consents of the authorization-code flow.
    pub authorizations: Arc<dyn AuthorizationStore>,
}

impl Stores {
    /// Every seam from one durable store, its revocation list and replay
    /// guard included.
    pub fn new<S: DurableStore>(store: Arc<S>) -> Self {
        Self {
            tenants: store.clone(),
            agents: store.clone(),
            credentials: store.clone(),
            audit: store.clone(),
            keys: store.clone(),
            subscriptions: store.clone(),
            trust_policies: store.clone(),
            usage: store.clone(),
            agent_keys: store.clone(),
            directory: store.clone(),
            revocations: store.clone(),
            oauth_clients: store.clone(),
            authorizations: store.clone(),
            replay: store,
        }
    }
}
