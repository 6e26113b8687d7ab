//! Usage the store cannot take at shutdown is spilled to a file, and a later
//! start stores it exactly once, however many starts find the file.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use async_trait::async_trait;
use sentryagent_core::metering::metric;
use sentryagent_core::store::{Stores, UsageCounters};
use sentryagent_core::{MemoryStore, SentryAgent, StoreError, StoreErrorKind, StoreResult, TenantId};

/// The in-memory usage store, unreachable while `down`.
struct Flaky {
    inner: Arc<MemoryStore>,
    down: AtomicBool,
}

impl Flaky {
    fn check(&self) -> StoreResult<()> {
        if self.down.load(Ordering::SeqCst) {
            return Err(StoreError::new(StoreErrorKind::Unavailable, "connection refused"));
        }
        Ok(())
    }
}

#[async_trait]
impl UsageCounters for Flaky {
    async fn add_usage(&self, tenant: TenantId, day: time::Date, metric: &str, n: u64) -> StoreResult<u64> {
        self.check()?;
        self.inner.add_usage(tenant, day, metric, n).await
    }

    async fn usage(&self, tenant: TenantId, day: time::Date, metric: &str) -> StoreResult<u64> {
        self.check()?;
        self.inner.usage(tenant, day, metric).await
    }

    async fn add_usage_batch(&self, batch_id: &str, counts: &[(TenantId, time::Date, &str, u64)]) -> StoreResult<bool> {
        self.check()?;
        self.inner.add_usage_batch(batch_id, counts).await
    }
}

async fn instance(memory: &Arc<MemoryStore>, usage: Arc<Flaky>, spill: Option<&std::path::Path>) -> SentryAgent {
    let mut stores = Stores::new(memory.clone());
    stores.usage = usage;
    let mut builder = SentryAgent::builder().stores(stores).enforce_tiers(false);
    if let Some(dir) = spill {
        builder = builder.usage_spill_dir(dir);
    }
    builder.build().await.expect("build")
}

fn spill_files(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .map(|entries| entries.filter_map(Result::ok).map(|e| e.path()).collect())
        .unwrap_or_default();
    files.sort();
    files
}

#[tokio::test]
async fn counts_the_store_cannot_take_at_shutdown_are_spilled_and_stored_once_later() {
    let dir = std::env::temp_dir().join(format!("sa-usage-spill-{}", uuid::Uuid::new_v4()));
    let memory = Arc::new(MemoryStore::new());
    let usage = Arc::new(Flaky {
        inner: memory.clone(),
        down: AtomicBool::new(false),
    });
    let first = instance(&memory, usage.clone(), Some(&dir)).await;
    let tenant = first.create_tenant("Acme").await.expect("tenant").tenant.id;
    for _ in 0..3 {
        first.meter(tenant, metric::API_CALLS);
    }
    first.meter(tenant, metric::TOKEN_ISSUANCES);

    // The database is down when the instance stops.
    usage.down.store(true, Ordering::SeqCst);
    let last = first.flush_usage_at_shutdown().await;
    assert_eq!((last.written, last.spilled, last.lost), (0, 4, 0), "{last:?}");
    let file = last.spill_file.expect("a spill file");
    assert_eq!(spill_files(&dir), std::slice::from_ref(&file));
    let text = std::fs::read_to_string(&file).expect("readable");
    assert!(
        text.contains(&tenant.to_string()) && text.contains("api_calls"),
        "{text}"
    );
    // Two machines find the same batch (a shared volume, a copied file).
    std::fs::copy(&file, dir.join("usage-copy.json")).expect("copy");

    // A later start while the database is still down keeps the files.
    let next = instance(&memory, usage.clone(), Some(&dir)).await;
    assert!(next.recover_spilled_usage().await.is_err());
    assert_eq!(spill_files(&dir).len(), 2);

    usage.down.store(false, Ordering::SeqCst);
    assert_eq!(
        next.recover_spilled_usage().await.expect("stored"),
        4,
        "once, not twice"
    );
    assert!(spill_files(&dir).is_empty(), "{:?}", spill_files(&dir));
    assert_eq!(next.recover_spilled_usage().await.expect("nothing left"), 0);
    let today = time::OffsetDateTime::now_utc().date();
    assert_eq!(memory.usage(tenant, today, metric::API_CALLS).await.expect("read"), 3);
    assert_eq!(
        memory
            .usage(tenant, today, metric::TOKEN_ISSUANCES)
            .await
            .expect("read"),
        1
    );

    // Without a spill directory the counts are reported lost (and logged).
    next.meter(tenant, metric::API_CALLS);
    let without = instance(&memory, usage.clone(), None).await;
    without.meter(tenant, metric::API_CALLS);
    usage.down.store(true, Ordering::SeqCst);
    let lost = without.flush_usage_at_shutdown().await;
    assert_eq!((lost.written, lost.spilled, lost.lost), (0, 0, 1), "{lost:?}");
    // A flush that works spills nothing.
    usage.down.store(false, Ordering::SeqCst);
    let fine = next.flush_usage_at_shutdown().await;
    assert_eq!((fine.written, fine.spilled, fine.lost), (1, 0, 0), "{fine:?}");
    let _ = std::fs::remove_dir_all(&dir);
}
