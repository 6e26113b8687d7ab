#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]

mod agents;
mod audit;
mod authorization;
mod billing;
mod cipher;
mod credentials;
mod directory;
mod error;
mod keys;
mod lookups;
mod replay;
mod revocations;
mod tenants;
mod trust_policies;
mod warm;

use std::str::FromStr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use sqlx::Connection as _;
use sqlx::postgres::{PgConnectOptions, PgConnection, PgPool, PgPoolOptions};

pub use sqlx;

use crate::cipher::KeyCipher;

/// Every SentryAgent record in PostgreSQL. Cheap to clone (a pool inside).
#[derive(Clone)]
pub struct PgStore {
    pool: PgPool,
    cipher: Arc<KeyCipher>,
    schema: Arc<str>,
    audit_heads: Arc<audit::HeadCache>,
    reads: lookups::HotReads,
    warm: warm::Warm,
}

/// Connection settings. The defaults suit one application instance; see the
/// crate README for what each one trades.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct PgOptions {
    /// The schema holding SentryAgent's tables and its migrations table
    /// (default `sentryagent`): kept apart from the host's own.
    pub schema: String,
    /// Apply the embedded migrations on connect (default true). Operators who
    /// migrate separately turn it off and call [`PgStore::migrate`] themselves.
    pub migrate: bool,
    /// Most connections in the pool (default 10).
    pub max_connections: u32,
    /// Connections kept open when idle (default 0).
    pub min_connections: u32,
    /// How long a query waits for a free connection before failing with
    /// "unavailable" (default 3 s; sqlx's own default of 30 s leaves callers
    /// hanging during an outage).
    pub acquire_timeout: Duration,
    /// Idle connections are closed after this long (default 10 min).
    pub idle_timeout: Option<Duration>,
    /// How long a connection is trusted without a ping (default 1 s).
    ///
    /// sqlx pings (one round trip) each connection taken from its pool and
    /// each one handed back, which on a busy server triples the round trips
    /// of the token endpoint's queries. Instead, a connection idle in the
    /// pool for less than this is used without a ping, and the hot paths
    /// keep their last connection (at most a quarter of the pool, returned
    /// within 1.5 × this when unused) for their next statement. The price:
    /// when PostgreSQL restarts under load, a connection cut in that window
    /// fails its next statement. A coalesced read is then asked again on a
    /// connection that answers; any other statement, an audit batch
    /// included (it may have committed), fails with a 503 for the requests
    /// it carries, and the pool replaces the connection.
    /// `Duration::ZERO` pings every time and keeps nothing.
    pub ping_after_idle: Duration,
    /// Server-side limit on one statement (default 5 s). A statement cut
    /// short by it fails as "unavailable" (503), not as an internal error.
    pub statement_timeout: Duration,
    /// Server-side limit on waiting for a lock (default 2 s, below the
    /// acquire timeout): a table or row held by a migration, a maintenance
    /// job or a stuck transaction makes requests fail as "unavailable"
    /// quickly instead of holding their connections for the whole
    /// statement timeout while the pool's other waiters time out.
    pub lock_timeout: Duration,
}

impl Default for PgOptions {
    fn default() -> Self {
        Self {
            schema: "sentryagent".to_owned(),
            migrate: true,
            max_connections: 10,
            min_connections: 0,
            acquire_timeout: Duration::from_secs(3),
            idle_timeout: Some(Duration::from_secs(600)),
            ping_after_idle: Duration::from_secs(1),
            statement_timeout: Duration::from_secs(5),
            lock_timeout: Duration::from_secs(2),
        }
    }
}

impl PgOptions {
    /// Uses another schema (letters, digits and `_`, starting with a letter or `_`).
    pub fn schema(mut self, schema: impl Into<String>) -> Self {
        self.schema = schema.into();
        self
    }

    /// Whether to migrate on connect.
    pub fn migrate(mut self, migrate: bool) -> Self {
        self.migrate = migrate;
        self
    }

    /// Pool size.
    pub fn max_connections(mut self, n: u32) -> Self {
        self.max_connections = n;
        self
    }

    /// Wait for a connection at most this long.
    pub fn acquire_timeout(mut self, timeout: Duration) -> Self {
        self.acquire_timeout = timeout;
        self
    }

    /// Cancel a statement after this long (server side).
    pub fn statement_timeout(mut self, timeout: Duration) -> Self {
        self.statement_timeout = timeout;
        self
    }

    /// Give up waiting for a lock after this long (server side).
    pub fn lock_timeout(mut self, timeout: Duration) -> Self {
        self.lock_timeout = timeout;
        self
    }

    /// Close connections idle for this long.
    pub fn idle_timeout(mut self, timeout: Duration) -> Self {
        self.idle_timeout = Some(timeout);
        self
    }

    /// Trust a connection this long without a ping (see the field).
    pub fn ping_after_idle(mut self, idle: Duration) -> Self {
        self.ping_after_idle = idle;
        self
    }
}

/// Why [`PgStore::connect`] failed.
#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    /// The URL does not parse.
    #[error("DATABASE_URL is not a PostgreSQL URL ({url}): {source}")]
    Url {
        /// The URL without its password.
        url: String,
        /// Why.
        source: sqlx::Error,
    },
    /// The schema name is not a plain identifier.
    #[error("schema name `{0}` must be letters, digits and _, starting with a letter or _")]
    Schema(String),
    /// The server could not be reached or refused us.
    #[error("cannot connect to PostgreSQL at {url}: {source}")]
    Connect {
        /// The URL without its password.
        url: String,
        /// Why.
        source: sqlx::Error,
    },
    /// The migrations failed.
    #[error("PostgreSQL migrations failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    /// The key-encryption secret is too short.
    #[error("the key-encryption secret must be at least 32 bytes")]
    WeakSecret,
    /// `max_connections` is 0 (sqlx panics on an empty pool) or below
    /// `min_connections`.
    #[error("the pool's max_connections must be at least 1 and at least min_connections ({min}), not {max}")]
    PoolSize {
        /// `max_connections`.
        max: u32,
        /// `min_connections`.
        min: u32,
    },
}

/// `postgres://user:password@host/db` with the password replaced by `***`.
pub fn redact_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let (authority, tail) = rest.split_once('/').map_or((rest, None), |(a, t)| (a, Some(t)));
    let authority = match authority.rsplit_once('@') {
        Some((userinfo, host)) => match userinfo.split_once(':') {
            Some((user, _)) => format!("{user}:***@{host}"),
            None => format!("{userinfo}@{host}"),
        },
        None => authority.to_owned(),
    };
    match tail {
        Some(tail) => format!("{scheme}://{authority}/{}", tail.split('?').next().unwrap_or_default()),
        None => format!("{scheme}://{authority}"),
    }
}

fn valid_schema(schema: &str) -> bool {
    let mut chars = schema.chars();
    chars.next().is_some_and(|c| c.is_ascii_lowercase() || c == '_')
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        && schema.len() <= 63
}

impl PgStore {
    /// Connects, and migrates unless told not to. `key_secret` (at least 32
    /// bytes) encrypts signing keys at rest: losing it makes the stored keys
    /// unreadable (see the README).
    ///
    /// # Errors
    /// A bad URL or schema, an unreachable server (the error names the URL
    /// without its password), or a failed migration.
    pub async fn connect(url: &str, key_secret: &[u8], options: PgOptions) -> Result<Self, ConnectError> {
        if key_secret.len() < 32 {
            return Err(ConnectError::WeakSecret);
        }
        if !valid_schema(&options.schema) {
            return Err(ConnectError::Schema(options.schema));
        }
        if options.max_connections == 0 || options.max_connections < options.min_connections {
            return Err(ConnectError::PoolSize {
                max: options.max_connections,
                min: options.min_connections,
            });
        }
        let connect = PgConnectOptions::from_str(url)
            .map_err(|source| ConnectError::Url {
                url: redact_url(url),
                source,
            })?
            .options([
                ("search_path", options.schema.clone()),
                (
                    "statement_timeout",
                    format!("{}", options.statement_timeout.as_millis()),
                ),
                ("lock_timeout", format!("{}", options.lock_timeout.as_millis())),
            ]);
        // One direct connection first: the pool would only say "timed out",
        // while a failed connect says why (refused, unknown host, bad password).
        let connect_error = |source| ConnectError::Connect {
            url: redact_url(url),
            source,
        };
        match tokio::time::timeout(options.acquire_timeout, PgConnection::connect_with(&connect)).await {
            Ok(Ok(conn)) => {
                let _ = conn.close().await;
            }
            Ok(Err(source)) => return Err(connect_error(source)),
            Err(_) => return Err(connect_error(sqlx::Error::PoolTimedOut)),
        }
        let ping_after_idle = options.ping_after_idle;
        let pool = PgPoolOptions::new()
            .max_connections(options.max_connections)
            .min_connections(options.min_connections)
            .acquire_timeout(options.acquire_timeout)
            .idle_timeout(options.idle_timeout)
            .test_before_acquire(false)
            .before_acquire(move |conn, meta| {
                Box::pin(async move {
                    if meta.idle_for > ping_after_idle {
                        conn.ping().await?;
                    }
                    Ok(true)
                })
            })
            .connect_with(connect)
            .await
            .map_err(connect_error)?;
        let warm = warm::Warm::new(ping_after_idle, pool.clone());
        let store = Self {
            pool,
            cipher: Arc::new(KeyCipher::new(key_secret)),
            schema: options.schema.into(),
            audit_heads: Arc::default(),
            reads: lookups::HotReads::default(),
            warm,
        };
        if options.migrate {
            store.migrate().await?;
        }
        Ok(store)
    }

    /// Applies the embedded migrations, recorded in `<schema>._sqlx_migrations`.
    ///
    /// # Errors
    /// A failed migration.
    pub async fn migrate(&self) -> Result<(), ConnectError> {
        let mut migrator = sqlx::migrate!("./migrations");
        migrator.create_schema(self.schema.to_string());
        migrator.dangerous_set_table_name(format!("{}._sqlx_migrations", self.schema));
        // Migrations wait for each other (sqlx serialises them with an
        // advisory lock per database: instances starting together, or
        // several schemas in one database) instead of failing on the lock
        // timeout that bounds request work.
        let connect = (*self.pool.connect_options()).clone().options([("lock_timeout", "0")]);
        let pool = PgPoolOptions::new()
            .max_connections(1)
            .connect_with(connect)
            .await
            .map_err(sqlx::migrate::MigrateError::from)?;
        let ran = migrator.run(&pool).await;
        pool.close().await;
        ran?;
        Ok(())
    }

    /// The pool, for health probes and operators' own queries.
    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    /// The schema in use.
    pub fn schema(&self) -> &str {
        &self.schema
    }

    /// One round trip (`SELECT 1`): for health checks.
    ///
    /// # Errors
    /// The store error when PostgreSQL cannot answer.
    pub async fn ping(&self) -> Result<Duration, sentryagent_core::StoreError> {
        let start = Instant::now();
        sqlx::query("SELECT 1")
            .execute(&self.pool)
            .await
            .map_err(error::store_error)?;
        Ok(start.elapsed())
    }
}

#[async_trait::async_trait]
impl sentryagent_core::health::HealthCheck for PgStore {
    fn name(&self) -> &str {
        "postgres"
    }

    async fn check(&self) -> Result<(), String> {
        self.ping().await.map(|_| ()).map_err(|e| e.to_string())
    }
}

/// The schema and the pool's size; the URL and the key cipher are not shown.
impl std::fmt::Debug for PgStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgStore")
            .field("schema", &self.schema)
            .field("connections", &self.pool.size())
            .finish_non_exhaustive()
    }
}

/// PostgreSQL holds every durable record, the revocation list and the
/// replay guard included; audit appends are batched (group commit), since
/// each is a round trip.
impl sentryagent_core::store::DurableStore for PgStore {
    fn backend_name(&self) -> &'static str {
        "postgres"
    }

    fn batches_audit_writes(&self) -> bool {
        true
    }

    fn health_check(self: Arc<Self>) -> Option<Arc<dyn sentryagent_core::health::HealthCheck>> {
        Some(self)
    }
}

#[cfg(test)]
mod tests {
    use super::{ConnectError, PgOptions, PgStore, redact_url, valid_schema};

    /// A pool of 0 connections panicked inside sqlx; it is refused before
    /// any connection is tried (so no server is needed here).
    #[tokio::test]
    async fn an_empty_pool_is_refused() {
        let secret = [7u8; 32];
        let url = "postgres://nobody@127.0.0.1:1/none";
        let empty = PgStore::connect(url, &secret, PgOptions::default().max_connections(0)).await;
        assert!(matches!(empty, Err(ConnectError::PoolSize { max: 0, min: 0 })));
        let mut options = PgOptions::default().max_connections(2);
        options.min_connections = 3;
        let inverted = PgStore::connect(url, &secret, options).await;
        assert!(matches!(inverted, Err(ConnectError::PoolSize { max: 2, min: 3 })));
    }

    #[test]
    fn passwords_are_redacted() {
        assert_eq!(
            redact_url("postgres://app:s3cret@db.example:5432/idp?sslmode=require"),
            "postgres://app:***@db.example:5432/idp"
        );
        assert_eq!(
            redact_url("postgres://postgres@127.0.0.1/test"),
            "postgres://postgres@127.0.0.1/test"
        );
    }

    #[test]
    fn schema_names() {
        assert!(valid_schema("sentryagent"));
        assert!(valid_schema("sa_test_42"));
        assert!(!valid_schema("Bad"));
        assert!(!valid_schema("a;drop"));
        assert!(!valid_schema(""));
    }
}
