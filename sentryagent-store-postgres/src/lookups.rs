//! Coalesced reads for the hot paths: the token endpoint's client lookup,
//! and the revocation and agent-status checks of bearer verification.
//!
//! These reads are never cached (a rotation, a revocation or a suspension
//! committed on another instance must count at once). On a busy server a
//! round trip per request costs more than the query itself: each wakes a
//! PostgreSQL backend and the server's socket. So reads of one kind that
//! queue while earlier ones are in flight are sent together as one query,
//! with at most [`MAX_IN_FLIGHT`] such queries out at once. An idle server
//! sends a read at once; under load, batches grow with it. Each batch query
//! is written (a join on `UNNEST`, or a fixed list of parameters) so that
//! PostgreSQL settles on one generic plan per connection: planning a query
//! afresh costs several times what running it does.
//!
//! A read joins a batch only before that batch's query is sent, so the
//! query's snapshot is always taken after the read was asked for:
//! coalescing never answers with older data than a query of its own would.
//!
//! When a query fails because the database is unavailable (a lock or
//! statement timeout, no connection), the reads queued behind it fail with
//! it rather than wait for a query of their own that would wait as long:
//! no read waits through more than one failed query, and the next read
//! asked for after that tries the database again.

use std::collections::HashMap;
use std::future::Future;
use std::hash::Hash;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use sentryagent_core::agent::Agent;
use sentryagent_core::credential::Credential;
use sentryagent_core::{AgentId, StoreError, StoreErrorKind, StoreResult, TenantId, TokenId};
use sqlx::PgConnection;
use tokio::sync::oneshot;

use crate::warm::Warm;

/// Queries of one kind out at once. Lower gives bigger batches and fewer
/// round trips; higher, less waiting when the database is slow to answer.
/// With the connections kept warm ([`crate::warm`]) a round trip is cheap
/// enough that one is best: on the token benchmark, one query at a time cost
/// 8–19 % less CPU per token than two, in three alternating pairs, with a
/// lower p50 latency too.
const MAX_IN_FLIGHT: usize = 1;

/// Most keys in one query, unless a read sets fewer.
const MAX_BATCH: usize = 256;

/// The future of one batch query, on a connection it borrows.
pub(crate) type BatchFuture<'c, K, V> = Pin<Box<dyn Future<Output = StoreResult<HashMap<K, V>>> + Send + 'c>>;

/// Reads the values of these distinct keys in one query on this
/// connection; keys with no value are left out of the map.
pub(crate) type BatchFn<K, V> = for<'c> fn(&'c mut PgConnection, Vec<K>) -> BatchFuture<'c, K, V>;

/// A credential and its agent, as the token endpoint reads them.
pub(crate) type Client = (Credential, Option<Agent>);

/// The coalesced reads of one store (and its clones).
#[derive(Clone)]
pub(crate) struct HotReads {
    /// `CredentialStore::client`: by client id.
    pub(crate) clients: Coalesced<String, Client>,
    /// `AgentStore::agent`: by tenant and id.
    pub(crate) agents: Coalesced<(TenantId, AgentId), Agent>,
    /// `RevocationList::is_revoked`: the revoked ones among token ids.
    pub(crate) revoked: Coalesced<TokenId, ()>,
}

impl Default for HotReads {
    fn default() -> Self {
        Self {
            clients: Coalesced::new(crate::credentials::clients, MAX_BATCH),
            agents: Coalesced::new(crate::agents::agents, MAX_BATCH),
            revoked: Coalesced::new(crate::revocations::revoked, crate::revocations::BATCH),
        }
    }
}

type Reply<V> = oneshot::Sender<StoreResult<Option<V>>>;

struct Queue<K, V> {
    waiting: Vec<(K, Reply<V>)>,
    in_flight: usize,
}

/// One kind of coalesced read, shared by a store's clones.
pub(crate) struct Coalesced<K, V> {
    queue: Arc<Mutex<Queue<K, V>>>,
    fetch: BatchFn<K, V>,
    max_batch: usize,
}

impl<K, V> Clone for Coalesced<K, V> {
    fn clone(&self) -> Self {
        Self {
            queue: self.queue.clone(),
            fetch: self.fetch,
            max_batch: self.max_batch,
        }
    }
}

impl<K, V> Coalesced<K, V>
where
    K: Clone + Eq + Hash + Ord + Send + 'static,
    V: Clone + Send + 'static,
{
    /// Reads with `fetch`, at most `max_batch` keys a query.
    pub(crate) fn new(fetch: BatchFn<K, V>, max_batch: usize) -> Self {
        Self {
            queue: Arc::new(Mutex::new(Queue {
                waiting: Vec::new(),
                in_flight: 0,
            })),
            fetch,
            max_batch: max_batch.clamp(1, MAX_BATCH),
        }
    }

    /// The value of `key`, read by a query that starts after this call.
    pub(crate) async fn get(&self, warm: &Warm, key: K) -> StoreResult<Option<V>> {
        let (reply, answer) = oneshot::channel();
        let start_sender = {
            let mut queue = self.lock();
            queue.waiting.push((key, reply));
            let start = queue.in_flight < MAX_IN_FLIGHT;
            if start {
                queue.in_flight += 1;
            }
            start
        };
        if start_sender {
            // A task of its own, so a request that goes away (its client
            // hung up) does not take the others' answers with it.
            tokio::spawn(send_batches(
                Sender {
                    reads: self.clone(),
                    counted_out: false,
                },
                warm.clone(),
            ));
        }
        answer
            .await
            .map_err(|_| StoreError::new(StoreErrorKind::Unavailable, "the read was dropped"))?
    }
}

impl<K, V> Coalesced<K, V> {
    fn lock(&self) -> MutexGuard<'_, Queue<K, V>> {
        self.queue.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// One of the at most [`MAX_IN_FLIGHT`] senders. It counts itself out when
/// nothing waits, or when its task is dropped mid-query (a runtime shutting
/// down), so later reads can always start another.
struct Sender<K, V> {
    reads: Coalesced<K, V>,
    /// Set where `next_batch` found the queue empty: that check and the
    /// count going down share one lock, or a read queued between them would
    /// find every sender counted in and none left to send it.
    counted_out: bool,
}

impl<K, V> Sender<K, V>
where
    K: Clone + Eq + Hash + Ord + Send + 'static,
    V: Clone + Send + 'static,
{
    /// The next batch to send; `None` when nothing waits.
    fn next_batch(&mut self) -> Option<Vec<(K, Reply<V>)>> {
        let mut queue = self.reads.lock();
        if queue.waiting.is_empty() {
            queue.in_flight -= 1;
            self.counted_out = true;
            return None;
        }
        let n = queue.waiting.len().min(self.reads.max_batch);
        Some(queue.waiting.drain(..n).collect())
    }
}

impl<K, V> Drop for Sender<K, V> {
    fn drop(&mut self) {
        if !self.counted_out {
            self.reads.lock().in_flight -= 1;
        }
    }
}

async fn send_batches<K, V>(mut sender: Sender<K, V>, warm: Warm)
where
    K: Clone + Eq + Hash + Ord + Send + 'static,
    V: Clone + Send + 'static,
{
    while let Some(batch) = sender.next_batch() {
        let mut keys: Vec<K> = batch.iter().map(|(key, _)| key.clone()).collect();
        keys.sort_unstable();
        keys.dedup();
        match read_batch(sender.reads.fetch, &warm, keys).await {
            Ok(found) => {
                for (key, reply) in batch {
                    let _ = reply.send(Ok(found.get(&key).cloned()));
                }
            }
            Err(e) => {
                let behind = if e.kind() == StoreErrorKind::Unavailable {
                    std::mem::take(&mut sender.reads.lock().waiting)
                } else {
                    Vec::new()
                };
                for (_, reply) in batch.into_iter().chain(behind) {
                    let _ = reply.send(Err(StoreError::new(e.kind(), e.to_string())));
                }
            }
        }
    }
}

/// One batch query. When it fails as unavailable on a connection that no
/// longer answers (cut by a restart of PostgreSQL, which a connection used
/// within `ping_after_idle` is not pinged for), it is asked once more on a
/// connection that does: a read changes nothing, so asking again is safe.
/// A database that answers (a lock or statement timeout) is not asked again.
async fn read_batch<K, V>(fetch: BatchFn<K, V>, warm: &Warm, keys: Vec<K>) -> StoreResult<HashMap<K, V>>
where
    K: Clone,
{
    use sqlx::Connection as _;

    let mut conn = warm.take().await?;
    match fetch(&mut conn, keys.clone()).await {
        Ok(found) => {
            warm.keep(conn);
            Ok(found)
        }
        Err(e) if e.kind() == StoreErrorKind::Unavailable && conn.ping().await.is_err() => {
            drop(conn);
            let mut conn = warm.take_answering().await?;
            let found = fetch(&mut conn, keys).await?;
            warm.keep(conn);
            Ok(found)
        }
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    //! The batching itself, against a real PostgreSQL: many reads at once
    //! are answered correctly by fewer queries than reads.

    use std::collections::HashMap;
    use std::sync::atomic::{AtomicUsize, Ordering};

    use sqlx::PgConnection;

    use super::{BatchFuture, Coalesced};
    use crate::warm::Warm;
    use crate::warm::tests::{named_test_pool, test_pool};

    static QUERIES: AtomicUsize = AtomicUsize::new(0);

    fn squares(conn: &mut PgConnection, keys: Vec<i64>) -> BatchFuture<'_, i64, i64> {
        Box::pin(async move {
            QUERIES.fetch_add(1, Ordering::SeqCst);
            let rows: Vec<(i64, i64)> =
                sqlx::query_as("SELECT k, k * k FROM UNNEST($1::bigint[]) AS k WHERE k % 7 <> 0")
                    .bind(keys)
                    .fetch_all(&mut *conn)
                    .await
                    .map_err(crate::error::store_error)?;
            Ok(rows.into_iter().collect::<HashMap<_, _>>())
        })
    }

    static HELD_QUERIES: AtomicUsize = AtomicUsize::new(0);
    static RELEASE: tokio::sync::Notify = tokio::sync::Notify::const_new();

    static RELEASED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

    /// A query that waits until released, then fails as a lock timeout would.
    fn locked(_conn: &mut PgConnection, _keys: Vec<i64>) -> BatchFuture<'_, i64, i64> {
        Box::pin(async move {
            let released = RELEASE.notified();
            HELD_QUERIES.fetch_add(1, Ordering::SeqCst);
            if !RELEASED.load(Ordering::SeqCst) {
                released.await;
            }
            Err(sentryagent_core::StoreError::new(
                sentryagent_core::StoreErrorKind::Unavailable,
                "lock timeout",
            ))
        })
    }

    #[tokio::test]
    async fn reads_queued_behind_an_unavailable_database_fail_with_it() {
        // Senders take a connection; the batch function does not use it.
        let Some(pool) = test_pool("PostgreSQL coalesced reads").await else {
            return;
        };
        let warm = Warm::new(std::time::Duration::ZERO, pool.clone());
        let reads = Coalesced::new(locked, 16);
        let mut tasks = tokio::task::JoinSet::new();
        // One read per query until every sender is out, then the rest
        // queue behind them.
        for i in 0..10_i64 {
            let queries_out = (i as usize + 1).min(super::MAX_IN_FLIGHT);
            let (r, w) = (reads.clone(), warm.clone());
            tasks.spawn(async move { r.get(&w, i).await });
            // Until the read is out or queued (a sender's connection comes
            // from PostgreSQL, so it takes more than yields).
            for _ in 0..1000 {
                if HELD_QUERIES.load(Ordering::SeqCst) == queries_out
                    && reads.lock().waiting.len() == i as usize + 1 - queries_out
                {
                    break;
                }
                tokio::time::sleep(std::time::Duration::from_millis(1)).await;
            }
            assert_eq!(HELD_QUERIES.load(Ordering::SeqCst), queries_out, "read {i}");
        }
        RELEASED.store(true, Ordering::SeqCst);
        RELEASE.notify_waiters();
        while let Some(done) = tasks.join_next().await {
            let failed = done.expect("no panic").expect_err("unavailable");
            assert_eq!(failed.kind(), sentryagent_core::StoreErrorKind::Unavailable);
        }
        assert_eq!(
            HELD_QUERIES.load(Ordering::SeqCst),
            super::MAX_IN_FLIGHT,
            "the queued reads failed with the queries in flight, not after queries of their own"
        );
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrent_reads_share_queries_and_get_their_own_answers() {
        let Some(pool) = test_pool("PostgreSQL coalesced reads").await else {
            return;
        };
        let warm = Warm::new(std::time::Duration::from_secs(1), pool.clone());
        let reads = Coalesced::new(squares, 16);
        // 400 reads of 100 keys, all asked for at once.
        let mut tasks = tokio::task::JoinSet::new();
        for i in 0..400_i64 {
            let (reads, warm) = (reads.clone(), warm.clone());
            tasks.spawn(async move { (i % 100, reads.get(&warm, i % 100).await) });
        }
        while let Some(done) = tasks.join_next().await {
            let (key, answer) = done.expect("no panic");
            let expected = (key % 7 != 0).then_some(key * key);
            assert_eq!(answer.expect("answered"), expected, "key {key}");
        }
        let queries = QUERIES.load(Ordering::SeqCst);
        assert!(queries < 400, "{queries} queries for 400 reads");
        // Idle again: the next read goes out on its own and is answered.
        assert_eq!(reads.get(&warm, 3).await.expect("answered"), Some(9));
        // Each sender counts itself out just after its last answer.
        for _ in 0..100 {
            if reads.lock().in_flight == 0 {
                return;
            }
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        panic!("{} senders never counted themselves out", reads.lock().in_flight);
    }

    /// A restart of PostgreSQL cuts the connection the reads kept (and the
    /// pool's idle ones): the next read is asked again on a connection that
    /// answers, and is answered.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_read_on_a_cut_connection_is_asked_again_and_answered() {
        let name = sentryagent_testkit::services::unique_name("sa_reads");
        let Some(pool) = named_test_pool("PostgreSQL coalesced reads", &name).await else {
            return;
        };
        let warm = Warm::new(std::time::Duration::from_secs(60), pool.clone());
        let reads = Coalesced::new(squares, 16);
        assert_eq!(reads.get(&warm, 3).await.expect("answered"), Some(9));

        // Every connection of the pool cut, from outside it.
        let url = sentryagent_testkit::services::database_url();
        let mut admin = <sqlx::PgConnection as sqlx::Connection>::connect(&url)
            .await
            .expect("an admin connection");
        let cut: Vec<bool> = sqlx::query_scalar(
            "SELECT pg_terminate_backend(pid, 5000) FROM pg_stat_activity WHERE application_name = $1",
        )
        .bind(&name)
        .fetch_all(&mut admin)
        .await
        .expect("terminate");
        assert!(!cut.is_empty() && cut.iter().all(|&c| c), "{cut:?}");

        assert_eq!(reads.get(&warm, 4).await.expect("answered again"), Some(16));
        assert_eq!(reads.get(&warm, 5).await.expect("answered"), Some(25));
    }
}
