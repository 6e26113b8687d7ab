#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]

use std::time::Duration;

use async_trait::async_trait;
use redis::AsyncCommands as _;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use sentryagent_core::ratelimit::{Quota, RateDecision, RateLimiter, RouteGroup};
use sentryagent_core::store::{ReplayGuard, RevocationList, UsageCounters};
use sentryagent_core::{StoreError, StoreErrorKind, StoreResult, TenantId, TokenId};
use time::OffsetDateTime;

pub use redis;

/// Shared hot state in Redis: one rate limit, one revocation list, one set
/// of usage counters and one replay guard for every instance. Cheap to clone.
#[derive(Clone)]
pub struct RedisStore {
    conn: ConnectionManager,
    prefix: String,
    gcra: redis::Script,
}

/// The key prefix; the connection (and its URL) is not shown.
impl std::fmt::Debug for RedisStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisStore")
            .field("prefix", &self.prefix)
            .finish_non_exhaustive()
    }
}

/// Connection settings.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct RedisOptions {
    /// Prefix of every key (default `sa:`), so several deployments or tests
    /// can share one Redis.
    pub prefix: String,
    /// How long to wait for a connection (default 1 s).
    pub connection_timeout: Duration,
    /// How long to wait for an answer (default 250 ms): a limiter that hangs
    /// would stall every request, so it gives up fast and the core falls back.
    pub response_timeout: Duration,
}

impl Default for RedisOptions {
    fn default() -> Self {
        Self {
            prefix: "sa:".to_owned(),
            connection_timeout: Duration::from_secs(1),
            response_timeout: Duration::from_millis(250),
        }
    }
}

impl RedisOptions {
    /// Uses another key prefix.
    pub fn prefix(mut self, prefix: impl Into<String>) -> Self {
        self.prefix = prefix.into();
        self
    }
}

/// Why [`RedisStore::connect`] failed.
#[derive(Debug, thiserror::Error)]
#[error("cannot connect to Redis at {url}: {source}")]
pub struct ConnectError {
    url: String,
    #[source]
    source: redis::RedisError,
}

/// The GCRA check, atomically on the server: one round trip per request.
/// KEYS[1]: the key; ARGV[1]: emission interval (µs); ARGV[2]: limit;
/// ARGV[3]: 1 to count the request, 0 to only say whether it would pass.
/// Returns {allowed, remaining, retry_after_us, reset_us}. The same
/// arithmetic as the core's in-process limiter; every key expires when its
/// quota is whole again, so memory is bounded by the keys limited right now.
const GCRA: &str = r"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local interval = tonumber(ARGV[1])
local limit = tonumber(ARGV[2])
local tat = tonumber(redis.call('GET', KEYS[1])) or now
if tat < now then tat = now end
local window = interval * limit
local new_tat = tat + interval
local allow_at = new_tat - window
if now < allow_at then
  return {0, 0, allow_at - now, tat - now}
end
if ARGV[3] == '0' then
  return {1, math.floor((window - (tat - now)) / interval), 0, tat - now}
end
redis.call('SET', KEYS[1], string.format('%.0f', new_tat), 'PX', math.ceil((new_tat - now) / 1000) + 1)
local remaining = math.floor((window - (new_tat - now)) / interval)
return {1, remaining, 0, new_tat - now}
";

fn store_error(err: redis::RedisError) -> StoreError {
    let kind = if err.is_io_error() || err.is_timeout() || err.is_connection_dropped() || err.is_connection_refusal() {
        StoreErrorKind::Unavailable
    } else {
        StoreErrorKind::Other
    };
    StoreError::new(kind, "Redis").with_source(err)
}

/// `redis://:password@host` with the password replaced by `***`.
fn redact(url: &str) -> String {
    match (url.split_once("://"), url.rfind('@')) {
        (Some((scheme, rest)), Some(_)) => {
            let (userinfo, host) = rest.rsplit_once('@').unwrap_or(("", rest));
            let user = userinfo.split(':').next().unwrap_or_default();
            format!("{scheme}://{user}:***@{host}")
        }
        _ => url.to_owned(),
    }
}

impl RedisStore {
    /// Connects; the connection manager reconnects by itself after an outage.
    ///
    /// # Errors
    /// The URL is invalid or Redis cannot be reached now (the error names the
    /// URL without its password).
    pub async fn connect(url: &str, options: RedisOptions) -> Result<Self, ConnectError> {
        let fail = |source| ConnectError {
            url: redact(url),
            source,
        };
        let client = redis::Client::open(url).map_err(fail)?;
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(options.connection_timeout))
            .set_response_timeout(Some(options.response_timeout))
            .set_number_of_retries(1)
            .set_max_delay(Duration::from_secs(2));
        let conn = ConnectionManager::new_with_config(client, config).await.map_err(fail)?;
        Ok(Self {
            conn,
            prefix: options.prefix,
            gcra: redis::Script::new(GCRA),
        })
    }

    fn key(&self, parts: &[&str]) -> String {
        let mut key = self.prefix.clone();
        key.push_str(&parts.join(":"));
        key
    }

    /// One `PING`: for health checks.
    ///
    /// # Errors
    /// Redis did not answer.
    pub async fn ping(&self) -> StoreResult<()> {
        let mut conn = self.conn.clone();
        let _: String = redis::cmd("PING").query_async(&mut conn).await.map_err(store_error)?;
        Ok(())
    }
}

impl RedisStore {
    async fn gcra(&self, group: RouteGroup, key: &str, quota: Quota, count: bool) -> StoreResult<RateDecision> {
        let interval_us = (quota.emission_interval().as_micros() as u64).max(1);
        let mut conn = self.conn.clone();
        let (allowed, remaining, retry_us, reset_us): (i64, i64, i64, i64) = self
            .gcra
            .key(self.key(&["rl", group.as_str(), key]))
            .arg(interval_us)
            .arg(quota.limit)
            .arg(u8::from(count))
            .invoke_async(&mut conn)
            .await
            .map_err(store_error)?;
        let micros = |us: i64| Duration::from_micros(us.max(0) as u64);
        Ok(RateDecision {
            allowed: allowed == 1,
            limit: quota.limit,
            remaining: remaining.clamp(0, i64::from(quota.limit)) as u32,
            reset: micros(reset_us),
            retry_after: micros(retry_us),
        })
    }
}

#[async_trait]
impl RateLimiter for RedisStore {
    async fn check(&self, group: RouteGroup, key: &str, quota: Quota) -> StoreResult<RateDecision> {
        self.gcra(group, key, quota, true).await
    }

    async fn peek(&self, group: RouteGroup, key: &str, quota: Quota) -> StoreResult<RateDecision> {
        self.gcra(group, key, quota, false).await
    }
}

/// Milliseconds until `expires_at`, rounded up: a key must not lapse even a
/// fraction of a millisecond before the instant it stands for (a revocation
/// before its token stops verifying).
fn ttl_until(expires_at: OffsetDateTime) -> u64 {
    let left = (expires_at - OffsetDateTime::now_utc()).whole_microseconds();
    u64::try_from((left + 999) / 1000).unwrap_or(0).max(1)
}

#[async_trait]
impl RevocationList for RedisStore {
    async fn revoke(&self, jti: TokenId, expires_at: OffsetDateTime) -> StoreResult<()> {
        let mut conn = self.conn.clone();
        let _: () = redis::cmd("SET")
            .arg(self.key(&["revoked", &jti.to_string()]))
            .arg(1)
            .arg("PX")
            .arg(ttl_until(expires_at))
            .query_async(&mut conn)
            .await
            .map_err(store_error)?;
        Ok(())
    }

    async fn is_revoked(&self, jti: TokenId) -> StoreResult<bool> {
        let mut conn = self.conn.clone();
        conn.exists(self.key(&["revoked", &jti.to_string()]))
            .await
            .map_err(store_error)
    }
}

#[async_trait]
impl ReplayGuard for RedisStore {
    async fn first_use(&self, id: &str, expires_at: OffsetDateTime) -> StoreResult<bool> {
        let mut conn = self.conn.clone();
        let set: Option<String> = redis::cmd("SET")
            .arg(self.key(&["seen", id]))
            .arg(1)
            .arg("NX")
            .arg("PX")
            .arg(ttl_until(expires_at))
            .query_async(&mut conn)
            .await
            .map_err(store_error)?;
        Ok(set.is_some())
    }
}

/// Usage counters live 40 days: long enough for a month's roll-up.
const USAGE_TTL_SECS: i64 = 40 * 24 * 3600;

#[async_trait]
impl UsageCounters for RedisStore {
    async fn add_usage(&self, tenant: TenantId, day: time::Date, metric: &str, n: u64) -> StoreResult<u64> {
        let key = self.key(&["usage", &tenant.to_string(), &day.to_string(), metric]);
        let mut conn = self.conn.clone();
        let (total,): (u64,) = redis::pipe()
            .atomic()
            .incr(&key, n)
            .expire(&key, USAGE_TTL_SECS)
            .ignore()
            .query_async(&mut conn)
            .await
            .map_err(store_error)?;
        Ok(total)
    }

    async fn usage(&self, tenant: TenantId, day: time::Date, metric: &str) -> StoreResult<u64> {
        let mut conn = self.conn.clone();
        let total: Option<u64> = conn
            .get(self.key(&["usage", &tenant.to_string(), &day.to_string(), metric]))
            .await
            .map_err(store_error)?;
        Ok(total.unwrap_or(0))
    }
}

#[async_trait]
impl sentryagent_core::health::HealthCheck for RedisStore {
    fn name(&self) -> &str {
        "redis"
    }

    /// Not required: without Redis, limits fall back to per instance.
    fn required(&self) -> bool {
        false
    }

    async fn check(&self) -> Result<(), String> {
        self.ping().await.map_err(|e| e.to_string())
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn passwords_are_redacted() {
        assert_eq!(
            super::redact("redis://:s3cret@cache:6379/0"),
            "redis://:***@cache:6379/0"
        );
        assert_eq!(super::redact("redis://127.0.0.1:6379"), "redis://127.0.0.1:6379");
    }
}
