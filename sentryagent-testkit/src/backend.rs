//! The store the HTTP suite runs on: the in-memory store by default, or a
//! backend a test binary installs (PostgreSQL), so the same cases prove
//! every store behind the API.

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, OnceLock};

use async_trait::async_trait;
use sentryagent_core::audit::ChainMark;
use sentryagent_core::store::Stores;
use sentryagent_core::{EventId, MemoryStore, TenantId};

/// Direct writes to a store behind the chain's back, for tamper tests.
#[async_trait]
pub trait Tamper: Send + Sync {
    /// Sets one detail of the tenant's event `seq`; returns the event's id.
    async fn set_audit_detail(
        &self,
        tenant: TenantId,
        seq: u64,
        key: &str,
        value: serde_json::Value,
    ) -> Option<EventId>;
    /// Rewrites the canonical bytes stored with the tenant's event `seq`,
    /// leaving its fields: its actor changed in them, or (`garbage`) bytes
    /// that are not JSON. Returns the event's id.
    async fn rewrite_audit_canonical(&self, tenant: TenantId, seq: u64, garbage: bool) -> Option<EventId>;
    /// Deletes the tenant's newest `n` events, leaving the checkpoint.
    async fn delete_newest_audit_events(&self, tenant: TenantId, n: usize);
    /// Deletes the tenant's checkpoint (the chain's head), leaving the events.
    async fn delete_audit_checkpoint(&self, tenant: TenantId);
    /// The tenant's checkpoint as stored now: what a backup would hold.
    async fn audit_head(&self, tenant: TenantId) -> Option<ChainMark>;
    /// Restores the tenant's audit log to `head` (from
    /// [`audit_head`](Self::audit_head)): the events after it deleted and the
    /// checkpoint put back, as restoring an old backup of the database
    /// would; `None`: every event and the checkpoint deleted (a wipe).
    /// The verification progress is deleted too: a backup holds an older
    /// one, which proves no more than none.
    async fn roll_back_audit(&self, tenant: TenantId, head: Option<ChainMark>);
    /// Deletes the tenant's event `seq`, leaving a gap.
    async fn delete_audit_event(&self, tenant: TenantId, seq: u64);
    /// Inserts a copy of the tenant's event `seq` (a new id) at `seq`, the
    /// events from there on moved one place later.
    async fn insert_audit_event(&self, tenant: TenantId, seq: u64);
    /// Swaps the places of the tenant's events `a` and `b`.
    async fn swap_audit_events(&self, tenant: TenantId, a: u64, b: u64);
}

#[async_trait]
impl Tamper for MemoryStore {
    async fn set_audit_detail(
        &self,
        tenant: TenantId,
        seq: u64,
        key: &str,
        value: serde_json::Value,
    ) -> Option<EventId> {
        let mut id = None;
        self.tamper_audit_event(tenant, seq, |e| {
            e.details.insert(key.to_owned(), value);
            id = Some(e.id);
        });
        id
    }

    async fn rewrite_audit_canonical(&self, tenant: TenantId, seq: u64, garbage: bool) -> Option<EventId> {
        self.tamper_audit_canonical(tenant, seq, |bytes| {
            if garbage {
                *bytes = b"\xff\xfe{".to_vec();
            } else {
                let text = String::from_utf8_lossy(bytes).replacen("\"actor\":\"", "\"actor\":\"evil-", 1);
                *bytes = text.into_bytes();
            }
        })
    }

    async fn delete_newest_audit_events(&self, tenant: TenantId, n: usize) {
        MemoryStore::delete_newest_audit_events(self, tenant, n);
    }

    async fn delete_audit_checkpoint(&self, tenant: TenantId) {
        MemoryStore::delete_audit_checkpoint(self, tenant);
    }

    async fn audit_head(&self, tenant: TenantId) -> Option<ChainMark> {
        use sentryagent_core::store::AuditStore as _;
        self.audit_checkpoint(tenant).await.expect("in memory")
    }

    async fn roll_back_audit(&self, tenant: TenantId, head: Option<ChainMark>) {
        MemoryStore::roll_back_audit(self, tenant, head);
    }

    async fn delete_audit_event(&self, tenant: TenantId, seq: u64) {
        self.edit_audit_events(tenant, |events| events.retain(|e| e.seq != seq));
    }

    async fn insert_audit_event(&self, tenant: TenantId, seq: u64) {
        self.edit_audit_events(tenant, |events| {
            let Some(at) = events.iter().position(|e| e.seq == seq) else {
                return;
            };
            let mut copy = events[at].clone();
            copy.id = EventId::new();
            for e in &mut events[at..] {
                e.seq += 1;
            }
            events.insert(at, copy);
        });
    }

    async fn swap_audit_events(&self, tenant: TenantId, a: u64, b: u64) {
        self.edit_audit_events(tenant, |events| {
            let place = |seq| events.iter().position(|e| e.seq == seq);
            if let (Some(i), Some(j)) = (place(a), place(b)) {
                events.swap(i, j);
                // Each keeps its place in the order of seq: only the contents moved.
                let (si, sj) = (events[i].seq, events[j].seq);
                events[i].seq = sj;
                events[j].seq = si;
            }
        });
    }
}

/// A backend for one [`TestApp`](crate::TestApp).
pub struct TestBackend {
    /// Its stores.
    pub stores: Stores,
    /// Its tamper hooks.
    pub tamper: Arc<dyn Tamper>,
    /// Run when the app is dropped (drop a schema, delete keys).
    pub cleanup: Option<Box<dyn FnOnce() + Send + Sync>>,
}

/// Makes a fresh backend; `None` when its service is unreachable (and not
/// required, see [`services`](crate::services)).
pub type BackendFactory = fn() -> Pin<Box<dyn Future<Output = Option<TestBackend>> + Send>>;

static BACKEND: OnceLock<BackendFactory> = OnceLock::new();
static READY: OnceLock<bool> = OnceLock::new();

/// Makes every `TestApp` of this test binary run on `factory`'s backend.
pub fn use_backend(factory: BackendFactory) {
    let _ = BACKEND.set(factory);
}

pub(crate) fn factory() -> Option<BackendFactory> {
    BACKEND.get().copied()
}

/// Whether the installed backend can be had (always, for the default).
pub async fn backend_ready() -> bool {
    if let Some(ready) = READY.get() {
        return *ready;
    }
    let ready = match factory() {
        None => true,
        Some(make) => match make().await {
            Some(backend) => {
                if let Some(cleanup) = backend.cleanup {
                    cleanup();
                }
                true
            }
            None => false,
        },
    };
    *READY.get_or_init(|| ready)
}
