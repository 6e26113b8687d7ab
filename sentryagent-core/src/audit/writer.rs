//! Group commit for audit appends. With a remote store every append is a
//! transaction holding the tenant's chain head; done per request, requests of
//! one tenant would queue behind each other's round trips. The writer takes
//! everything queued while the previous batch was being written and appends
//! it in one transaction per tenant. Each request still waits until the batch
//! carrying its events has committed, so nothing is reported done that could
//! be lost.

use std::collections::HashMap;
use std::sync::Arc;

use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinSet;

use super::{AuditChain, AuditEvent, NewAuditEvent};
use crate::TenantId;
use crate::error::{StoreError, StoreErrorKind, StoreResult};
use crate::store::AuditStore;

/// Most events written in one round of batches.
const MAX_BATCH: usize = 1_024;

pub(crate) struct Pending {
    tenant: TenantId,
    events: Vec<NewAuditEvent>,
    done: oneshot::Sender<StoreResult<Vec<AuditEvent>>>,
}

/// Where `SentryAgent::record` sends events.
pub(crate) enum AuditSink {
    /// Straight to the store (in-memory stores: an append is a lock away).
    Direct,
    /// Through the group-commit writer.
    Batched(mpsc::Sender<Pending>),
}

impl AuditSink {
    /// Starts the writer task on the current Tokio runtime.
    pub(crate) fn batched(store: Arc<dyn AuditStore>, chain: AuditChain) -> Self {
        let (tx, rx) = mpsc::channel(16 * MAX_BATCH);
        tokio::spawn(run(store, chain, rx));
        AuditSink::Batched(tx)
    }

    pub(crate) async fn append(
        &self,
        store: &Arc<dyn AuditStore>,
        chain: &AuditChain,
        tenant: TenantId,
        events: Vec<NewAuditEvent>,
    ) -> StoreResult<Vec<AuditEvent>> {
        match self {
            AuditSink::Direct => store.append_audit(tenant, events, chain).await,
            AuditSink::Batched(tx) => {
                let (done, wait) = oneshot::channel();
                let gone = || StoreError::new(StoreErrorKind::Unavailable, "the audit writer has stopped");
                tx.send(Pending { tenant, events, done }).await.map_err(|_| gone())?;
                wait.await.map_err(|_| gone())?
            }
        }
    }
}

async fn run(store: Arc<dyn AuditStore>, chain: AuditChain, mut rx: mpsc::Receiver<Pending>) {
    while let Some(first) = rx.recv().await {
        let mut queued = first.events.len();
        let mut batch = vec![first];
        while queued < MAX_BATCH {
            match rx.try_recv() {
                Ok(p) => {
                    queued += p.events.len();
                    batch.push(p);
                }
                Err(_) => break,
            }
        }
        let mut by_tenant: HashMap<TenantId, Vec<Pending>> = HashMap::new();
        for p in batch {
            by_tenant.entry(p.tenant).or_default().push(p);
        }
        // Tenants' chains are independent: write them side by side.
        let mut writes = JoinSet::new();
        for (tenant, group) in by_tenant {
            let (store, chain) = (store.clone(), chain.clone());
            writes.spawn(write_group(store, chain, tenant, group));
        }
        while writes.join_next().await.is_some() {}
    }
}

async fn write_group(store: Arc<dyn AuditStore>, chain: AuditChain, tenant: TenantId, group: Vec<Pending>) {
    let mut waiters = Vec::with_capacity(group.len());
    let mut events = Vec::new();
    for p in group {
        waiters.push((p.events.len(), p.done));
        events.extend(p.events);
    }
    match store.append_audit(tenant, events, &chain).await {
        Ok(sealed) => {
            let mut sealed = sealed.into_iter();
            for (n, done) in waiters {
                let _ = done.send(Ok(sealed.by_ref().take(n).collect()));
            }
        }
        Err(e) => {
            tracing::warn!(error = %e, "audit batch failed");
            for (_, done) in waiters {
                let _ = done.send(Err(StoreError::new(e.kind(), e.to_string())));
            }
        }
    }
}
