//! [`MemoryStore`]: every store trait in process memory. The embedded
//! default, and the reference the conformance suite holds other backends to.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Arc, Mutex, PoisonError, RwLock, RwLockReadGuard, RwLockWriteGuard};

use async_trait::async_trait;
use time::OffsetDateTime;

use crate::agent::{Agent, AgentQuery};
use crate::audit::{
    AuditChain, AuditCut, AuditEvent, AuditQuery, ChainLink, ChainMark, LinkBody, NewAuditEvent, Unsealed,
    VerifyProgress,
};
use crate::billing::Subscription;
use crate::credential::{Credential, CredentialStatus};
use crate::did::{AgentKey, DidSubject};
use crate::error::{StoreError, StoreResult};
use crate::marketplace::{MarketplaceAgent, MarketplaceQuery};
use crate::store::{
    AgentKeyStore, AgentStore, AuditStore, CredentialStore, DirectoryStore, KeyStore, ReplayGuard, RevocationList,
    SubscriptionStore, TenantStore, UsageCounters,
};
use crate::tenant::Tenant;
use crate::token::StoredKey;
use crate::{AgentId, CredentialId, TenantId, TokenId};

mod authorization;
mod trust_policies;

/// Every record in memory; lost when the process exits.
#[derive(Default)]
pub struct MemoryStore {
    tenants: RwLock<BTreeMap<TenantId, Tenant>>,
    agents: RwLock<Agents>,
    credentials: RwLock<Credentials>,
    audit: RwLock<HashMap<TenantId, Arc<Mutex<TenantLog>>>>,
    keys: Mutex<Vec<StoredKey>>,
    revoked: RwLock<HashMap<TokenId, OffsetDateTime>>,
    seen: Mutex<HashMap<String, OffsetDateTime>>,
    usage: Mutex<HashMap<(TenantId, time::Date, String), u64>>,
    usage_batches: Mutex<HashSet<String>>,
    subscriptions: RwLock<HashMap<TenantId, Subscription>>,
    billing_events: Mutex<HashSet<String>>,
    trust_policies: RwLock<BTreeMap<crate::TrustPolicyId, crate::federation::TrustPolicy>>,
    agent_keys: RwLock<HashMap<(TenantId, AgentId), Vec<AgentKey>>>,
    oauth_clients: RwLock<BTreeMap<(TenantId, String), crate::authorization::OAuthClient>>,
    authorizations: Mutex<authorization::Authorizations>,
    history: HistoryLimit,
}

/// The audit events per tenant the in-memory store keeps by default. An
/// append cuts the history back to it at a quarter over it, and the
/// background task every minute; the README's Performance section gives
/// the server's peak RSS under a long token load.
pub const DEFAULT_AUDIT_HISTORY: u64 = 100_000;

struct HistoryLimit(Option<u64>);

/// The most events an append leaves before it cuts back to `limit`: a
/// quarter over it (and at least one over).
fn ceiling(limit: usize) -> usize {
    limit.saturating_add((limit / 4).max(1))
}

impl Default for HistoryLimit {
    fn default() -> Self {
        Self(Some(DEFAULT_AUDIT_HISTORY))
    }
}

#[derive(Default)]
struct Agents {
    by_id: BTreeMap<(TenantId, AgentId), Agent>,
    names: HashSet<(TenantId, String)>,
    /// Each agent's tenant: ids are unique across tenants, and the public
    /// reads find agents by id alone.
    tenant_of: HashMap<AgentId, TenantId>,
}

#[derive(Default)]
struct Credentials {
    by_id: HashMap<CredentialId, Credential>,
    by_client_id: HashMap<String, CredentialId>,
}

#[derive(Default)]
struct TenantLog {
    events: Vec<Stored>,
    checkpoint: Option<ChainMark>,
    anchor: Option<ChainMark>,
    progress: Option<VerifyProgress>,
}

/// An event as the in-memory store keeps it: its fields, and the canonical
/// bytes its hash was computed over (see [`crate::audit::canonical`]).
///
/// The bytes are the record verification reads: it hashes them and does not
/// compare the fields with them. The two are written together by
/// `append_audit` and never apart (retention drops whole events), and unlike
/// a database row, process memory has no other writer: whoever could edit it
/// could read the server key as well. So the fields say what the bytes say,
/// and the test hooks that edit an event keep it so: an edit of its fields
/// is an edit of the stored event, its bytes written again from the edited
/// fields (see [`Stored::rewrite`]), which the hash then catches. Serving the
/// API's events from the bytes instead would prove the same, but would parse
/// JSON on every query and filter.
struct Stored {
    event: AuditEvent,
    /// `None` only for an event a test put in by hand.
    canonical: Option<bytes::Bytes>,
}

#[cfg(any(test, feature = "testing"))]
impl Stored {
    /// After a test edited `event`: its bytes written again from its fields
    /// when they no longer say the same (see [`Stored`]).
    fn rewrite(&mut self) {
        if let Some(bytes) = &self.canonical
            && !crate::audit::canonical::fields_match(&self.event, bytes)
        {
            let mut bytes = Vec::with_capacity(256);
            crate::audit::canonical::write_canonical(&self.event, &mut bytes);
            self.canonical = Some(bytes.into());
        }
    }
}

impl TenantLog {
    /// The events with `seq` above `after_seq`, ascending, at most `limit`.
    fn after(&self, after_seq: u64, limit: usize) -> impl Iterator<Item = &Stored> {
        let start = self.events.partition_point(|e| e.event.seq <= after_seq);
        self.events[start..].iter().take(limit)
    }

    /// Deletes the events up to index `cut` and anchors the last of them,
    /// so the rest still verifies. Returns them, to be dropped once the log
    /// is unlocked: freeing a hundred thousand events takes milliseconds
    /// that every other request of the tenant would wait for.
    fn cut(&mut self, tenant: TenantId, cut: usize, chain: &AuditChain) -> Vec<Stored> {
        let last = &self.events[cut].event;
        self.anchor = Some(chain.anchor(tenant, last.seq, last.hash));
        self.events.drain(..=cut).collect()
    }

    /// The head to append onto when there is no checkpoint: the genesis of
    /// an empty chain, or, when events (or a retention anchor) remain, their
    /// last one marked lost, so appends go on without vouching for them.
    fn lost_head(&self, tenant: TenantId, chain: &AuditChain) -> ChainMark {
        match self
            .events
            .last()
            .map(|e| (e.event.seq, e.event.hash))
            .or(self.anchor.as_ref().map(|a| (a.seq, a.hash)))
        {
            Some((seq, hash)) => {
                tracing::error!(%tenant, seq, "the audit checkpoint is missing; appending after the last stored event, marked lost");
                chain.lost(tenant, seq, hash)
            }
            None => chain.genesis(tenant),
        }
    }
}

// A poisoned lock means a panic mid-update elsewhere; the maps themselves are
// still consistent because every update is a single insert or replace.
fn read<T>(lock: &RwLock<T>) -> RwLockReadGuard<'_, T> {
    lock.read().unwrap_or_else(PoisonError::into_inner)
}

fn write<T>(lock: &RwLock<T>) -> RwLockWriteGuard<'_, T> {
    lock.write().unwrap_or_else(PoisonError::into_inner)
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

impl MemoryStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    /// At most `limit` audit events per tenant ([`DEFAULT_AUDIT_HISTORY`]
    /// unless set; `None` keeps every event, for as long as the process has
    /// memory). The background task prunes the oldest past it through the
    /// retention anchor, so the chain still verifies.
    pub fn with_audit_history_limit(mut self, limit: Option<u64>) -> Self {
        self.history = HistoryLimit(limit);
        self
    }

    fn log(&self, tenant: TenantId) -> Arc<Mutex<TenantLog>> {
        if let Some(log) = read(&self.audit).get(&tenant) {
            return log.clone();
        }
        write(&self.audit).entry(tenant).or_default().clone()
    }

    /// Changes a stored audit event in place, bypassing the chain: for tests
    /// that show tampering is detected. Its canonical bytes, what
    /// verification hashes, change with its fields (see `Stored` in this module).
    #[cfg(any(test, feature = "testing"))]
    pub fn tamper_audit_event(&self, tenant: TenantId, seq: u64, change: impl FnOnce(&mut AuditEvent)) -> bool {
        let log = self.log(tenant);
        let mut log = lock(&log);
        match log.events.iter_mut().find(|e| e.event.seq == seq) {
            Some(e) => {
                change(&mut e.event);
                e.rewrite();
                true
            }
            None => false,
        }
    }

    /// Deletes the tenant's audit checkpoint, leaving the events: for tests
    /// that show a lost checkpoint is reported, not recreated.
    #[cfg(any(test, feature = "testing"))]
    pub fn delete_audit_checkpoint(&self, tenant: TenantId) {
        lock(&self.log(tenant)).checkpoint = None;
    }

    /// Puts the tenant's log back to an earlier head (`checkpoint`, as
    /// read then): the events after it deleted and the checkpoint restored,
    /// as restoring an old backup would. For tests that show only a saved
    /// signed checkpoint catches it.
    #[cfg(any(test, feature = "testing"))]
    pub fn roll_back_audit(&self, tenant: TenantId, checkpoint: Option<ChainMark>) {
        let log = self.log(tenant);
        let mut log = lock(&log);
        let keep = checkpoint.as_ref().map_or(0, |c| c.seq);
        log.events.retain(|e| e.event.seq <= keep);
        log.checkpoint = checkpoint;
        log.progress = None;
    }

    /// Changes the tenant's stored audit events at will (delete, insert,
    /// reorder), bypassing the chain: for tests that show tampering is
    /// detected. Each event keeps the canonical bytes of its id, written
    /// again from its fields if they were edited (see `Stored` in this module); an event
    /// with a new id has none.
    #[cfg(any(test, feature = "testing"))]
    pub fn edit_audit_events(&self, tenant: TenantId, change: impl FnOnce(&mut Vec<AuditEvent>)) {
        let log = self.log(tenant);
        let mut log = lock(&log);
        let mut canonical: HashMap<crate::EventId, bytes::Bytes> = HashMap::new();
        let mut events = Vec::with_capacity(log.events.len());
        for stored in log.events.drain(..) {
            if let Some(bytes) = stored.canonical {
                canonical.insert(stored.event.id, bytes);
            }
            events.push(stored.event);
        }
        change(&mut events);
        log.events = events
            .into_iter()
            .map(|event| {
                let mut stored = Stored {
                    canonical: canonical.get(&event.id).cloned(),
                    event,
                };
                stored.rewrite();
                stored
            })
            .collect();
    }

    /// Changes the canonical bytes stored with the tenant's event `seq`,
    /// leaving its fields: for tests that show tampering is detected.
    #[cfg(any(test, feature = "testing"))]
    pub fn tamper_audit_canonical(
        &self,
        tenant: TenantId,
        seq: u64,
        change: impl FnOnce(&mut Vec<u8>),
    ) -> Option<crate::EventId> {
        let log = self.log(tenant);
        let mut log = lock(&log);
        let stored = log.events.iter_mut().find(|e| e.event.seq == seq)?;
        let mut bytes = stored.canonical.as_deref().unwrap_or_default().to_vec();
        change(&mut bytes);
        stored.canonical = Some(bytes.into());
        Some(stored.event.id)
    }

    /// Deletes the newest `n` audit events, leaving the checkpoint: for tests
    /// that show truncation is detected.
    #[cfg(any(test, feature = "testing"))]
    pub fn delete_newest_audit_events(&self, tenant: TenantId, n: usize) {
        let log = self.log(tenant);
        let mut log = lock(&log);
        let keep = log.events.len().saturating_sub(n);
        log.events.truncate(keep);
    }
}

#[async_trait]
impl TenantStore for MemoryStore {
    async fn insert_tenant(&self, tenant: &Tenant) -> StoreResult<()> {
        let mut tenants = write(&self.tenants);
        if tenants.contains_key(&tenant.id) {
            return Err(StoreError::conflict("tenant exists"));
        }
        tenants.insert(tenant.id, tenant.clone());
        Ok(())
    }

    async fn tenant(&self, id: TenantId) -> StoreResult<Option<Tenant>> {
        Ok(read(&self.tenants).get(&id).cloned())
    }

    async fn set_tenant_tier(&self, id: TenantId, tier: &str) -> StoreResult<()> {
        if let Some(t) = write(&self.tenants).get_mut(&id) {
            tier.clone_into(&mut t.tier);
        }
        Ok(())
    }

    async fn tenants(&self, after: Option<TenantId>, limit: usize) -> StoreResult<Vec<Tenant>> {
        let tenants = read(&self.tenants);
        let iter: Box<dyn Iterator<Item = &Tenant>> = match after {
            Some(after) => Box::new(
                tenants
                    .range((std::ops::Bound::Excluded(after), std::ops::Bound::Unbounded))
                    .map(|(_, t)| t),
            ),
            None => Box::new(tenants.values()),
        };
        Ok(iter.take(limit).cloned().collect())
    }
}

#[async_trait]
impl AgentStore for MemoryStore {
    async fn insert_agent(&self, agent: &Agent) -> StoreResult<()> {
        let mut agents = write(&self.agents);
        if agents.tenant_of.contains_key(&agent.id) {
            return Err(StoreError::conflict("agent id exists"));
        }
        if !agents.names.insert((agent.tenant_id, agent.name.clone())) {
            return Err(StoreError::conflict("agent name taken"));
        }
        agents.tenant_of.insert(agent.id, agent.tenant_id);
        agents.by_id.insert((agent.tenant_id, agent.id), agent.clone());
        Ok(())
    }

    async fn agent(&self, tenant: TenantId, id: AgentId) -> StoreResult<Option<Agent>> {
        Ok(read(&self.agents).by_id.get(&(tenant, id)).cloned())
    }

    async fn update_agent(&self, agent: &Agent) -> StoreResult<()> {
        let mut agents = write(&self.agents);
        if let Some(stored) = agents.by_id.get_mut(&(agent.tenant_id, agent.id)) {
            // Name, tenant and creation time never change.
            let (name, created_at) = (stored.name.clone(), stored.created_at);
            *stored = Agent {
                name,
                created_at,
                ..agent.clone()
            };
        }
        Ok(())
    }

    async fn list_agents(&self, tenant: TenantId, query: &AgentQuery) -> StoreResult<Vec<Agent>> {
        let agents = read(&self.agents);
        let start = query.after.map_or(
            std::ops::Bound::Included((tenant, AgentId::from_uuid(uuid::Uuid::nil()))),
            |a| std::ops::Bound::Excluded((tenant, a)),
        );
        let end = std::ops::Bound::Included((tenant, AgentId::from_uuid(uuid::Uuid::max())));
        Ok(agents
            .by_id
            .range((start, end))
            .map(|(_, a)| a)
            .filter(|a| query.matches(a))
            .take(query.limit)
            .cloned()
            .collect())
    }
}

#[async_trait]
impl AgentKeyStore for MemoryStore {
    async fn insert_agent_key(&self, key: &AgentKey) -> StoreResult<()> {
        let mut keys = write(&self.agent_keys);
        let list = keys.entry((key.tenant_id, key.agent_id)).or_default();
        if list.iter().any(|k| k.id == key.id) {
            return Err(StoreError::conflict("agent key exists"));
        }
        list.push(key.clone());
        list.sort_by(|a, b| (a.created_at, &a.id).cmp(&(b.created_at, &b.id)));
        Ok(())
    }

    async fn agent_keys(&self, tenant: TenantId, agent: AgentId) -> StoreResult<Vec<AgentKey>> {
        Ok(read(&self.agent_keys)
            .get(&(tenant, agent))
            .cloned()
            .unwrap_or_default())
    }

    async fn delete_agent_key(&self, tenant: TenantId, agent: AgentId, id: &str) -> StoreResult<bool> {
        let mut keys = write(&self.agent_keys);
        let Some(list) = keys.get_mut(&(tenant, agent)) else {
            return Ok(false);
        };
        let before = list.len();
        list.retain(|k| k.id != id);
        Ok(list.len() < before)
    }
}

impl MemoryStore {
    /// The agent with this id, in whichever tenant holds it.
    fn agent_by_id(&self, id: AgentId) -> Option<Agent> {
        let agents = read(&self.agents);
        let tenant = agents.tenant_of.get(&id)?;
        agents.by_id.get(&(*tenant, id)).cloned()
    }

    fn with_tenant_name(&self, agent: &Agent) -> Option<MarketplaceAgent> {
        read(&self.tenants)
            .get(&agent.tenant_id)
            .map(|t| MarketplaceAgent::new(agent, &t.name))
    }
}

#[async_trait]
impl DirectoryStore for MemoryStore {
    async fn marketplace_agents(&self, query: &MarketplaceQuery) -> StoreResult<Vec<MarketplaceAgent>> {
        let mut found: Vec<Agent> = read(&self.agents)
            .by_id
            .values()
            .filter(|a| crate::marketplace::is_listed(a))
            .filter(|a| query.after.is_none_or(|after| a.id > after))
            .filter(|a| query.matches(a))
            .cloned()
            .collect();
        found.sort_by_key(|a| a.id);
        Ok(found
            .iter()
            .filter_map(|a| self.with_tenant_name(a))
            .take(query.limit)
            .collect())
    }

    async fn marketplace_agent(&self, id: AgentId) -> StoreResult<Option<MarketplaceAgent>> {
        Ok(self
            .agent_by_id(id)
            .filter(crate::marketplace::is_listed)
            .and_then(|a| self.with_tenant_name(&a)))
    }

    async fn did_subject(&self, id: AgentId) -> StoreResult<Option<DidSubject>> {
        let Some(agent) = self.agent_by_id(id) else {
            return Ok(None);
        };
        Ok(Some(DidSubject {
            agent_id: id,
            tenant_id: agent.tenant_id,
            status: agent.status,
            keys: self.agent_keys(agent.tenant_id, id).await?,
        }))
    }
}

#[async_trait]
impl CredentialStore for MemoryStore {
    async fn insert_credential(&self, credential: &Credential) -> StoreResult<()> {
        let mut creds = write(&self.credentials);
        if creds.by_client_id.contains_key(&credential.client_id) || creds.by_id.contains_key(&credential.id) {
            return Err(StoreError::conflict("credential exists"));
        }
        creds.by_client_id.insert(credential.client_id.clone(), credential.id);
        creds.by_id.insert(credential.id, credential.clone());
        Ok(())
    }

    async fn credential(&self, tenant: TenantId, id: CredentialId) -> StoreResult<Option<Credential>> {
        Ok(read(&self.credentials)
            .by_id
            .get(&id)
            .filter(|c| c.tenant_id == tenant)
            .cloned())
    }

    async fn credential_by_client_id(&self, client_id: &str) -> StoreResult<Option<Credential>> {
        let creds = read(&self.credentials);
        Ok(creds
            .by_client_id
            .get(client_id)
            .and_then(|id| creds.by_id.get(id))
            .cloned())
    }

    async fn client(&self, client_id: &str) -> StoreResult<Option<(Credential, Option<Agent>)>> {
        let Some(credential) = self.credential_by_client_id(client_id).await? else {
            return Ok(None);
        };
        let agent = read(&self.agents)
            .by_id
            .get(&(credential.tenant_id, credential.agent_id))
            .cloned();
        Ok(Some((credential, agent)))
    }

    async fn list_credentials(&self, tenant: TenantId, agent: AgentId) -> StoreResult<Vec<Credential>> {
        let mut list: Vec<Credential> = read(&self.credentials)
            .by_id
            .values()
            .filter(|c| c.tenant_id == tenant && c.agent_id == agent)
            .cloned()
            .collect();
        list.sort_by_key(|c| c.id);
        Ok(list)
    }

    async fn update_credential(&self, credential: &Credential) -> StoreResult<()> {
        let mut creds = write(&self.credentials);
        if let Some(stored) = creds
            .by_id
            .get_mut(&credential.id)
            .filter(|c| c.tenant_id == credential.tenant_id)
        {
            stored.secret_hash.clone_from(&credential.secret_hash);
            stored.status = credential.status;
            stored.expires_at = credential.expires_at;
            stored.rotated_at = credential.rotated_at;
            stored.revoked_at = credential.revoked_at;
        }
        Ok(())
    }

    async fn revoke_agent_credentials(&self, tenant: TenantId, agent: AgentId, at: OffsetDateTime) -> StoreResult<u64> {
        let mut creds = write(&self.credentials);
        let mut n = 0;
        for c in creds.by_id.values_mut() {
            if c.tenant_id == tenant && c.agent_id == agent && c.status == CredentialStatus::Active {
                c.status = CredentialStatus::Revoked;
                c.revoked_at = Some(at);
                n += 1;
            }
        }
        Ok(n)
    }
}

#[async_trait]
impl AuditStore for MemoryStore {
    async fn append_audit(
        &self,
        tenant: TenantId,
        events: Vec<NewAuditEvent>,
        chain: &AuditChain,
    ) -> StoreResult<Vec<AuditEvent>> {
        // Serialised and copied before the tenant's lock, which every append
        // of the tenant waits for: under it, only the links (a SHA-256 each)
        // and the checkpoint's MAC are computed.
        let mut sealed = Vec::with_capacity(events.len());
        let unsealed: Vec<Unsealed> = events
            .into_iter()
            .map(|event| {
                let unsealed = Unsealed::new(tenant, event);
                sealed.push(unsealed.event().clone());
                unsealed
            })
            .collect();
        let log = self.log(tenant);
        let mut log = lock(&log);
        let head = match &log.checkpoint {
            Some(head) => head.clone(),
            None => log.lost_head(tenant, chain),
        };
        let (linked, checkpoint) = chain.seal_all(tenant, &head, unsealed);
        for ((event, canonical), copy) in linked.into_iter().zip(&mut sealed) {
            (copy.seq, copy.prev_hash, copy.hash) = (event.seq, event.prev_hash, event.hash);
            log.events.push(Stored {
                event,
                canonical: Some(canonical),
            });
        }
        log.checkpoint = Some(checkpoint);
        // Between the background task's passes a fast writer could still
        // fill memory: at a quarter over the bound the log is cut back to it
        // here, so memory stays bounded whatever the rate, and each cut is
        // small enough not to stall the tenant's requests for long.
        if let Some(limit) = self.history.0.and_then(|l| usize::try_from(l).ok())
            && log.events.len() > ceiling(limit)
        {
            let cut = log.events.len() - limit - 1;
            let gone = log.cut(tenant, cut, chain);
            drop(log);
            drop(gone);
        }
        Ok(sealed)
    }

    async fn query_audit(&self, tenant: TenantId, query: &AuditQuery) -> StoreResult<Vec<AuditEvent>> {
        let log = self.log(tenant);
        let log = lock(&log);
        Ok(log
            .events
            .iter()
            .rev()
            .map(|e| &e.event)
            .filter(|e| query.before_seq.is_none_or(|b| e.seq < b))
            .filter(|e| query.matches(e))
            .take(query.limit)
            .cloned()
            .collect())
    }

    async fn audit_chain(&self, tenant: TenantId, after_seq: u64, limit: usize) -> StoreResult<Vec<AuditEvent>> {
        let log = self.log(tenant);
        let log = lock(&log);
        Ok(log.after(after_seq, limit).map(|e| e.event.clone()).collect())
    }

    /// The stored bytes, to be hashed; the fields say what they say by
    /// construction, so they are not compared (see `Stored`).
    async fn audit_links(&self, tenant: TenantId, after_seq: u64, limit: usize) -> StoreResult<Vec<ChainLink>> {
        let log = self.log(tenant);
        let log = lock(&log);
        Ok(log
            .after(after_seq, limit)
            .map(|e| match &e.canonical {
                Some(canonical) => ChainLink {
                    id: e.event.id,
                    seq: e.event.seq,
                    prev_hash: e.event.prev_hash,
                    hash: e.event.hash,
                    body: LinkBody::Stored {
                        canonical: canonical.clone(),
                        fields_match: true,
                    },
                },
                None => ChainLink::from(e.event.clone()),
            })
            .collect())
    }

    async fn audit_checkpoint(&self, tenant: TenantId) -> StoreResult<Option<ChainMark>> {
        Ok(lock(&self.log(tenant)).checkpoint.clone())
    }

    async fn audit_anchor(&self, tenant: TenantId) -> StoreResult<Option<ChainMark>> {
        Ok(lock(&self.log(tenant)).anchor.clone())
    }

    async fn reanchor_audit(&self, tenant: TenantId, chain: &AuditChain) -> StoreResult<Option<ChainMark>> {
        let log = self.log(tenant);
        let mut log = lock(&log);
        let head = match &log.checkpoint {
            Some(head) => head.clone(),
            None => log.lost_head(tenant, chain),
        };
        if head.lost_at.is_none() {
            // An intact checkpoint, or an empty chain: nothing to re-anchor.
            return Ok(None);
        }
        log.checkpoint = Some(chain.reanchor(tenant, &head));
        Ok(Some(head))
    }

    async fn prune_audit(&self, tenant: TenantId, cut: AuditCut, chain: &AuditChain) -> StoreResult<u64> {
        let log = self.log(tenant);
        let mut log = lock(&log);
        let cut = match cut {
            AuditCut::Before(before) => log.events.iter().rposition(|e| e.event.at < before),
            // A bound past what memory can hold keeps everything.
            AuditCut::KeepNewest(keep) => usize::try_from(keep)
                .ok()
                .and_then(|keep| keep.checked_add(1))
                .and_then(|kept| log.events.len().checked_sub(kept)),
        };
        let gone = cut.map_or_else(Vec::new, |cut| log.cut(tenant, cut, chain));
        drop(log);
        Ok(gone.len() as u64)
    }

    async fn audit_verify_progress(&self, tenant: TenantId) -> StoreResult<Option<VerifyProgress>> {
        Ok(lock(&self.log(tenant)).progress.clone())
    }

    async fn save_audit_verify_progress(&self, tenant: TenantId, progress: &VerifyProgress) -> StoreResult<()> {
        lock(&self.log(tenant)).progress = Some(progress.clone());
        Ok(())
    }
}

#[async_trait]
impl KeyStore for MemoryStore {
    async fn signing_keys(&self) -> StoreResult<Vec<StoredKey>> {
        Ok(lock(&self.keys).clone())
    }

    async fn put_signing_key(&self, key: &StoredKey) -> StoreResult<()> {
        let mut keys = lock(&self.keys);
        match keys.iter_mut().find(|k| k.kid == key.kid) {
            Some(stored) => *stored = key.clone(),
            None => keys.push(key.clone()),
        }
        Ok(())
    }

    async fn delete_signing_key(&self, kid: &str) -> StoreResult<()> {
        lock(&self.keys).retain(|k| k.kid != kid);
        Ok(())
    }
}

#[async_trait]
impl RevocationList for MemoryStore {
    async fn revoke(&self, jti: TokenId, expires_at: OffsetDateTime) -> StoreResult<()> {
        let mut revoked = write(&self.revoked);
        revoked.insert(jti, expires_at);
        // Forget entries whose tokens have expired anyway, now and then.
        if revoked.len().is_power_of_two() && revoked.len() >= 1024 {
            let now = OffsetDateTime::now_utc();
            revoked.retain(|_, exp| *exp > now);
        }
        Ok(())
    }

    async fn is_revoked(&self, jti: TokenId) -> StoreResult<bool> {
        let now = OffsetDateTime::now_utc();
        Ok(read(&self.revoked).get(&jti).is_some_and(|exp| *exp > now))
    }
}

#[async_trait]
impl ReplayGuard for MemoryStore {
    async fn first_use(&self, id: &str, expires_at: OffsetDateTime) -> StoreResult<bool> {
        let now = OffsetDateTime::now_utc();
        let mut seen = lock(&self.seen);
        if seen.len() >= 1024 && seen.len().is_power_of_two() {
            seen.retain(|_, exp| *exp > now);
        }
        match seen.get(id) {
            Some(exp) if *exp > now => Ok(false),
            _ => {
                seen.insert(id.to_owned(), expires_at);
                Ok(true)
            }
        }
    }
}

#[async_trait]
impl UsageCounters for MemoryStore {
    async fn add_usage(&self, tenant: TenantId, day: time::Date, metric: &str, n: u64) -> StoreResult<u64> {
        let mut usage = lock(&self.usage);
        let total = usage.entry((tenant, day, metric.to_owned())).or_default();
        *total += n;
        Ok(*total)
    }

    async fn usage(&self, tenant: TenantId, day: time::Date, metric: &str) -> StoreResult<u64> {
        Ok(lock(&self.usage)
            .get(&(tenant, day, metric.to_owned()))
            .copied()
            .unwrap_or(0))
    }

    async fn add_usage_batch(&self, batch_id: &str, counts: &[(TenantId, time::Date, &str, u64)]) -> StoreResult<bool> {
        let mut batches = lock(&self.usage_batches);
        if !batches.insert(batch_id.to_owned()) {
            return Ok(false);
        }
        let mut usage = lock(&self.usage);
        for &(tenant, day, metric, n) in counts {
            *usage.entry((tenant, day, metric.to_owned())).or_default() += n;
        }
        Ok(true)
    }
}

#[async_trait]
impl SubscriptionStore for MemoryStore {
    async fn subscription(&self, tenant: TenantId) -> StoreResult<Option<Subscription>> {
        Ok(read(&self.subscriptions).get(&tenant).cloned())
    }

    async fn subscription_by_provider_id(&self, subscription_id: &str) -> StoreResult<Option<Subscription>> {
        Ok(read(&self.subscriptions)
            .values()
            .find(|s| s.subscription_id.as_deref() == Some(subscription_id))
            .cloned())
    }

    async fn put_subscription(&self, subscription: &Subscription) -> StoreResult<()> {
        write(&self.subscriptions).insert(subscription.tenant_id, subscription.clone());
        Ok(())
    }

    async fn apply_billing_event(&self, event_id: &str, subscription: &Subscription) -> StoreResult<bool> {
        // Held throughout, so the record and the change are seen together.
        let mut handled = lock(&self.billing_events);
        if handled.contains(event_id) {
            return Ok(false);
        }
        write(&self.subscriptions).insert(subscription.tenant_id, subscription.clone());
        if let Some(t) = write(&self.tenants).get_mut(&subscription.tenant_id) {
            subscription.tier.clone_into(&mut t.tier);
        }
        handled.insert(event_id.to_owned());
        Ok(true)
    }
}

impl crate::store::DurableStore for MemoryStore {
    fn backend_name(&self) -> &'static str {
        "memory"
    }

    fn audit_history_limit(&self) -> Option<u64> {
        self.history.0
    }
}

/// Records are not shown: they hold secret hashes and keys.
impl std::fmt::Debug for MemoryStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MemoryStore").finish_non_exhaustive()
    }
}
