//! Connections kept between the hot paths' statements.
//!
//! sqlx pings a pooled connection (a round trip) each time one is handed
//! back to the pool, and, unless told not to, again when it is taken out:
//! three round trips for a query where one does the work, on the token
//! endpoint's client lookup and audit write. So the hot paths hand their connection to
//! [`Warm`] instead: the next hot statement takes it back at once, with no
//! ping either way. A connection kept longer than `fresh_for` (the pool's
//! `ping_after_idle`) is not trusted any more and goes back to the pool,
//! which pings it as usual; a sweeper returns those too, so an idle store
//! holds no connection out of the pool for longer than 1.5 × `fresh_for`.
//!
//! Kept connections count against the pool's size, so at most a quarter of
//! it is kept (none in a pool of fewer than 4), and none while the pool has
//! no idle connection left: then someone else may be waiting for one.
//!
//! Only a connection whose statement completed is kept: one that failed, or
//! whose future was dropped mid-statement, goes back through the pool's own
//! checks.

use std::sync::{Arc, Mutex, MutexGuard, PoisonError, Weak};
use std::time::{Duration, Instant};

use sentryagent_core::{StoreError, StoreErrorKind, StoreResult};
use sqlx::pool::PoolConnection;
use sqlx::{Connection as _, PgPool, Postgres};

use crate::error::ResultExt as _;

/// Most connections kept: about as many as the hot paths use at once (one
/// coalesced read of each of three kinds, an audit batch per busy tenant).
const MAX_KEPT: usize = 4;

/// The pool and the connections kept out of it, each with when it was
/// kept, oldest first.
struct Kept {
    pool: PgPool,
    conns: Mutex<Vec<(PoolConnection<Postgres>, Instant)>>,
}

impl Drop for Kept {
    fn drop(&mut self) {
        // Handing a connection back to the pool spawns a task, which panics
        // outside a Tokio runtime (a store dropped after its runtime). There
        // they are closed here instead, or, when sqlx would still spawn to
        // keep `min_connections`, left to close with the process.
        if tokio::runtime::Handle::try_current().is_ok() {
            return;
        }
        let closes_without_a_task = self.pool.options().get_min_connections() == 0;
        let kept = std::mem::take(self.conns.get_mut().unwrap_or_else(PoisonError::into_inner));
        for (conn, _) in kept {
            if closes_without_a_task {
                drop(conn.leak());
            } else {
                std::mem::forget(conn);
            }
        }
    }
}

/// A pool whose hot paths keep their connections warm; see the module doc.
#[derive(Clone)]
pub(crate) struct Warm {
    kept: Arc<Kept>,
    fresh_for: Duration,
}

impl Warm {
    /// Keeps connections of `pool` for at most `fresh_for` (none when
    /// zero), and starts the sweeper that returns older ones (it ends with
    /// the last clone).
    pub(crate) fn new(fresh_for: Duration, pool: PgPool) -> Self {
        let warm = Self {
            kept: Arc::new(Kept {
                pool,
                conns: Mutex::default(),
            }),
            fresh_for,
        };
        if warm.max_kept() > 0 {
            tokio::spawn(sweep(Arc::downgrade(&warm.kept), fresh_for));
        }
        warm
    }

    /// The pool.
    pub(crate) fn pool(&self) -> &PgPool {
        &self.kept.pool
    }

    /// At most a quarter of the pool, and none when nothing is trusted.
    fn max_kept(&self) -> usize {
        if self.fresh_for.is_zero() {
            return 0;
        }
        MAX_KEPT.min(self.pool().options().get_max_connections() as usize / 4)
    }

    /// A kept connection used within `fresh_for`, else one from the pool.
    pub(crate) async fn take(&self) -> StoreResult<PoolConnection<Postgres>> {
        let stale = {
            let mut kept = lock(&self.kept.conns);
            // The newest is the last: when it is stale, so are the others.
            match kept.pop() {
                Some((conn, at)) if at.elapsed() <= self.fresh_for => return Ok(conn),
                Some(stale) => std::iter::once(stale).chain(kept.drain(..)).collect(),
                None => Vec::new(),
            }
        };
        // Dropped outside the lock: each goes back to the pool (pinged there).
        drop(stale);
        self.pool().acquire().await.store()
    }

    /// A connection that answers a ping now, for a statement asked again
    /// after its connection turned out to be cut (PostgreSQL restarted),
    /// when the kept and the pool's idle connections are likely cut too:
    /// the kept ones are handed back, and each connection that does not
    /// answer is dropped (sqlx closes it), trying at most once more than
    /// the pool has connections.
    pub(crate) async fn take_answering(&self) -> StoreResult<PoolConnection<Postgres>> {
        let kept = std::mem::take(&mut *lock(&self.kept.conns));
        drop(kept);
        let pool = self.pool();
        for _ in 0..=pool.options().get_max_connections() {
            let mut conn = pool.acquire().await.store()?;
            if conn.ping().await.is_ok() {
                return Ok(conn);
            }
        }
        Err(StoreError::new(
            StoreErrorKind::Unavailable,
            "no PostgreSQL connection answers",
        ))
    }

    /// Keeps `conn`, whose last statement completed, for the next [`take`](Self::take).
    pub(crate) fn keep(&self, conn: PoolConnection<Postgres>) {
        let pool = self.pool();
        let saturated = pool.num_idle() == 0 && pool.size() >= pool.options().get_max_connections();
        let max_kept = self.max_kept();
        if max_kept == 0 || saturated {
            return;
        }
        let mut kept = lock(&self.kept.conns);
        if kept.len() < max_kept {
            kept.push((conn, Instant::now()));
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// How often the sweeper looks: every half `fresh_for`, between 50 ms and a
/// minute (any `Duration` a caller sets, `Duration::MAX` included).
fn sweep_period(fresh_for: Duration) -> Duration {
    (fresh_for / 2).clamp(Duration::from_millis(50), Duration::from_secs(60))
}

/// Every [`sweep_period`], hands the connections kept longer than
/// `fresh_for` back to the pool.
async fn sweep(kept: Weak<Kept>, fresh_for: Duration) {
    let mut tick = tokio::time::interval(sweep_period(fresh_for));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let Some(kept) = kept.upgrade() else {
            return;
        };
        let stale: Vec<_> = {
            let mut kept = lock(&kept.conns);
            let fresh_from = kept.partition_point(|(_, at)| at.elapsed() > fresh_for);
            kept.drain(..fresh_from).collect()
        };
        drop(stale);
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use std::time::Duration;

    use super::Warm;

    /// A pool of 4 on the test database, taking connections without a ping
    /// as the store's pool does; `None` (the test skipped) when it is
    /// unavailable.
    pub(crate) async fn test_pool(what: &str) -> Option<sqlx::PgPool> {
        named_test_pool(what, "sentryagent-tests").await
    }

    /// [`test_pool`], its connections named `name` (`application_name`),
    /// so a test can find them in `pg_stat_activity`.
    pub(crate) async fn named_test_pool(what: &str, name: &str) -> Option<sqlx::PgPool> {
        let url = sentryagent_testkit::services::database_url();
        let connected = match url.parse::<sqlx::postgres::PgConnectOptions>() {
            Ok(options) => {
                sqlx::postgres::PgPoolOptions::new()
                    .max_connections(4)
                    .test_before_acquire(false)
                    .connect_with(options.application_name(name))
                    .await
            }
            Err(e) => Err(e),
        };
        match connected {
            Ok(pool) => Some(pool),
            Err(e) => sentryagent_testkit::services::unavailable(what, &crate::error::store_error(e)),
        }
    }

    async fn pid(conn: &mut sqlx::PgConnection) -> i32 {
        sqlx::query_scalar("SELECT pg_backend_pid()")
            .fetch_one(conn)
            .await
            .expect("a pid")
    }

    #[tokio::test]
    async fn a_kept_connection_is_taken_again_until_it_goes_stale() {
        let Some(pool) = test_pool("PostgreSQL warm connections").await else {
            return;
        };
        let warm = Warm::new(Duration::from_millis(200), pool.clone());
        let mut conn = warm.take().await.expect("a connection");
        let first = pid(&mut conn).await;
        warm.keep(conn);
        assert_eq!(pool.num_idle(), 0, "kept out of the pool");
        let mut conn = warm.take().await.expect("a connection");
        assert_eq!(pid(&mut conn).await, first, "the kept one");
        warm.keep(conn);

        // The sweeper hands it back once stale; the pool then has it idle.
        for _ in 0..100 {
            if pool.num_idle() == 1 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert_eq!(pool.num_idle(), 1, "swept back to the pool");
        assert!(super::lock(&warm.kept.conns).is_empty());

        // Keeping nothing: every connection goes straight back.
        let cold = Warm::new(Duration::ZERO, pool.clone());
        let conn = cold.take().await.expect("a connection");
        cold.keep(conn);
        assert!(super::lock(&cold.kept.conns).is_empty());
    }

    /// What `ping_after_idle` trades: a kept connection cut by the server
    /// (a restart, an administrator) fails its next statement as
    /// unavailable, is not kept again, and the next take gets a working one.
    #[tokio::test]
    async fn a_kept_connection_cut_by_the_server_fails_one_statement_then_is_replaced() {
        let Some(pool) = test_pool("PostgreSQL warm connections").await else {
            return;
        };
        let warm = Warm::new(Duration::from_secs(60), pool.clone());
        let mut conn = warm.take().await.expect("a connection");
        let cut = pid(&mut conn).await;
        warm.keep(conn);
        let terminated: bool = sqlx::query_scalar("SELECT pg_terminate_backend($1, 5000)")
            .bind(cut)
            .fetch_one(&pool)
            .await
            .expect("terminate");
        assert!(terminated);

        let mut conn = warm.take().await.expect("the kept one");
        let failed = sqlx::query("SELECT 1")
            .execute(&mut *conn)
            .await
            .map_err(crate::error::store_error)
            .expect_err("cut");
        assert_eq!(failed.kind(), sentryagent_core::StoreErrorKind::Unavailable, "{failed}");
        drop(conn);

        let mut conn = warm.take().await.expect("another connection");
        assert_ne!(pid(&mut conn).await, cut);
    }

    /// A store outlives its runtime: its kept connections are closed
    /// without the task sqlx would spawn for them, which would panic.
    #[test]
    fn kept_connections_dropped_outside_a_runtime_do_not_panic() {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a runtime");
        let kept = runtime.block_on(async {
            let pool = test_pool("PostgreSQL warm connections").await?;
            let warm = Warm::new(Duration::from_secs(60), pool);
            let conn = warm.take().await.expect("a connection");
            warm.keep(conn);
            assert_eq!(super::lock(&warm.kept.conns).len(), 1);
            Some(warm)
        });
        drop(runtime);
        drop(kept);
    }

    /// Nothing is kept while the pool has no idle connection left and can
    /// open no more: someone else may be waiting for one.
    #[tokio::test]
    async fn nothing_is_kept_from_a_pool_in_full_use() {
        let Some(pool) = test_pool("PostgreSQL warm connections").await else {
            return;
        };
        let warm = Warm::new(Duration::from_secs(60), pool.clone());
        let mut others = Vec::new();
        for _ in 0..3 {
            others.push(pool.acquire().await.expect("a connection"));
        }
        let conn = warm.take().await.expect("the fourth");
        warm.keep(conn);
        assert!(super::lock(&warm.kept.conns).is_empty(), "handed back for a waiter");
        drop(others);
    }

    /// Any `Duration` is a setting: the sweeper's period stays between 50 ms
    /// and a minute, and a connection is kept and taken again as usual.
    #[tokio::test]
    async fn any_duration_is_a_setting() {
        assert_eq!(super::sweep_period(Duration::ZERO), Duration::from_millis(50));
        assert_eq!(super::sweep_period(Duration::from_secs(1)), Duration::from_millis(500));
        assert_eq!(super::sweep_period(Duration::MAX), Duration::from_secs(60));
        let Some(pool) = test_pool("PostgreSQL warm connections").await else {
            return;
        };
        let warm = Warm::new(Duration::MAX, pool);
        let mut conn = warm.take().await.expect("a connection");
        let first = pid(&mut conn).await;
        warm.keep(conn);
        tokio::time::sleep(Duration::from_millis(20)).await;
        let mut conn = warm.take().await.expect("the kept one");
        assert_eq!(pid(&mut conn).await, first);
    }
}
