//! The ratelimit model: records, requests, answers and their validation.

use std::collections::HashMap;
use std::collections::hash_map::DefaultHasher;
use std::fmt;
use std::hash::{Hash, Hasher};
use std::str::FromStr;
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use async_trait::async_trait;

use crate::error::StoreResult;

/// Groups of requests that share a quota.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum RouteGroup {
    /// `POST /oauth2/token`, per authenticated client: counted once the
    /// client's secret checks out.
    Token,
    /// Failed client authentications at `POST /oauth2/token`, per address.
    /// An address over it gets 429 before its secret is even checked.
    TokenFailures,
    /// Failed authentications of one existing client, from any address.
    /// Over it, further failures for that client answer 429 and are audited
    /// as one count per window; the correct secret is never refused by it.
    ClientFailures,
    /// Bearer tokens refused on authenticated routes (invalid, expired,
    /// revoked, suspended agent), per address. Over it, the refusals answer
    /// 429; valid tokens from the same address are not affected.
    RefusedTokens,
    /// `POST /oauth2/introspect` and `/oauth2/revoke`, per IP.
    OAuth,
    /// `POST /oidc/token`, per IP.
    Oidc,
    /// `POST /tenants`, per IP.
    Signup,
    /// `GET /audit/verify`, per tenant (a full verification reads up to
    /// 50,000 events a call).
    AuditVerify,
    /// Every other authenticated route, per agent.
    Management,
    /// Every authenticated route, per tenant: the ceiling over all of a
    /// tenant's agents, counted after the agent's own quota.
    Tenant,
    /// Unauthenticated documents (well-known, health, marketplace), per IP.
    Public,
    /// `POST /oauth2/register` (dynamic client registration), per IP.
    Registration,
    /// Fetches of Client ID Metadata Documents, per host of the client id
    /// URL: no one makes the server fetch from a host at their pace.
    ClientMetadataHost,
    /// Fetches of Client ID Metadata Documents, per tenant the clients
    /// would belong to.
    ClientMetadataTenant,
    /// The authorization endpoint (`GET`/`POST /oauth2/authorize`), per IP:
    /// a public door that stores codes and consents, so an address cannot
    /// flood the store through it.
    Authorize,
    /// The authorization endpoint, per client of a tenant, once the client
    /// is known (never for a made-up id): one client id cannot be used to
    /// flood the store with codes and consents from many addresses.
    AuthorizeClient,
}

impl RouteGroup {
    /// Every group.
    pub const ALL: [RouteGroup; 16] = [
        RouteGroup::Token,
        RouteGroup::TokenFailures,
        RouteGroup::ClientFailures,
        RouteGroup::RefusedTokens,
        RouteGroup::OAuth,
        RouteGroup::Oidc,
        RouteGroup::Signup,
        RouteGroup::AuditVerify,
        RouteGroup::Management,
        RouteGroup::Tenant,
        RouteGroup::Public,
        RouteGroup::Registration,
        RouteGroup::ClientMetadataHost,
        RouteGroup::ClientMetadataTenant,
        RouteGroup::Authorize,
        RouteGroup::AuthorizeClient,
    ];

    /// The name used in settings and headers (`token`, `audit-verify`).
    pub fn as_str(self) -> &'static str {
        match self {
            RouteGroup::Token => "token",
            RouteGroup::TokenFailures => "token-failures",
            RouteGroup::ClientFailures => "client-failures",
            RouteGroup::RefusedTokens => "refused-tokens",
            RouteGroup::OAuth => "oauth",
            RouteGroup::Oidc => "oidc",
            RouteGroup::Signup => "signup",
            RouteGroup::AuditVerify => "audit-verify",
            RouteGroup::Management => "management",
            RouteGroup::Tenant => "tenant",
            RouteGroup::Public => "public",
            RouteGroup::Registration => "registration",
            RouteGroup::ClientMetadataHost => "client-metadata-host",
            RouteGroup::ClientMetadataTenant => "client-metadata-tenant",
            RouteGroup::Authorize => "authorize",
            RouteGroup::AuthorizeClient => "authorize-client",
        }
    }

    /// The default quota: strict where a request is costly or abusable.
    pub fn default_quota(self) -> Quota {
        let per_minute = |limit| Quota {
            limit,
            period: Duration::from_secs(60),
        };
        match self {
            RouteGroup::Token => per_minute(600),
            RouteGroup::TokenFailures => per_minute(60),
            RouteGroup::ClientFailures => per_minute(20),
            RouteGroup::RefusedTokens => per_minute(60),
            RouteGroup::OAuth => per_minute(1_200),
            RouteGroup::Oidc => per_minute(60),
            RouteGroup::Signup => per_minute(10),
            RouteGroup::AuditVerify => per_minute(10),
            RouteGroup::Management => per_minute(1_200),
            RouteGroup::Tenant => per_minute(6_000),
            RouteGroup::Public => per_minute(600),
            RouteGroup::Registration => per_minute(10),
            RouteGroup::ClientMetadataHost => per_minute(10),
            RouteGroup::ClientMetadataTenant => per_minute(60),
            RouteGroup::Authorize => per_minute(120),
            RouteGroup::AuthorizeClient => per_minute(600),
        }
    }
}

/// `limit` requests per `period`, replenished evenly (GCRA: a burst of up to
/// `limit`, then one more every `period / limit`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Quota {
    /// Requests per period (at least 1).
    pub limit: u32,
    /// The period.
    pub period: Duration,
}

impl Quota {
    /// The interval between two replenished requests.
    pub fn emission_interval(&self) -> Duration {
        self.period / self.limit.max(1)
    }
}

impl fmt::Display for Quota {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}s", self.limit, self.period.as_secs_f64())
    }
}

impl Quota {
    /// The longest period a quota may have: a day (tier quotas count per
    /// day and month; a rate limit is for bursts).
    pub const MAX_PERIOD: Duration = Duration::from_secs(24 * 3600);
}

impl FromStr for Quota {
    type Err = String;

    /// `20/60s`, `5/1m`, `1000/1h`, `10/500ms`: a limit from 1 to 2³²−1 and
    /// a period from 1 ms to [`MAX_PERIOD`](Self::MAX_PERIOD). Never panics,
    /// whatever the numbers.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || format!("`{s}` is not a quota such as 20/60s, 5/1m or 1000/1h");
        let (limit, period) = s.trim().split_once('/').ok_or_else(bad)?;
        let limit: u32 = limit.trim().parse().map_err(|_| bad())?;
        let period = period.trim();
        let (number, unit) = period.split_at(period.find(|c: char| c.is_ascii_alphabetic()).ok_or_else(bad)?);
        let number: u64 = number.parse().map_err(|_| bad())?;
        let millis = match unit {
            "ms" => Some(number),
            "s" => number.checked_mul(1_000),
            "m" => number.checked_mul(60_000),
            "h" => number.checked_mul(3_600_000),
            _ => return Err(bad()),
        };
        // `None`: past u64 milliseconds, so past a day too.
        match millis.map(Duration::from_millis) {
            _ if limit == 0 => Err(bad()),
            Some(period) if period.is_zero() => Err(bad()),
            Some(period) if period <= Self::MAX_PERIOD => Ok(Quota { limit, period }),
            _ => Err(format!("`{s}`: a quota's period is at most 24h")),
        }
    }
}

/// The outcome of one check, for the rate-limit headers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RateDecision {
    /// Whether the request may proceed.
    pub allowed: bool,
    /// The quota's limit.
    pub limit: u32,
    /// Requests left right now.
    pub remaining: u32,
    /// Until the quota is whole again.
    pub reset: Duration,
    /// For a refused request: when to retry.
    pub retry_after: Duration,
}

/// A rate limiter shared by whatever backend holds its state.
#[async_trait]
pub trait RateLimiter: Send + Sync + 'static {
    /// Counts one request for `key` in `group` against `quota`.
    ///
    /// # Errors
    /// The backend could not be reached; the core then falls back to a
    /// local limiter or fails closed, as the group's setting says.
    async fn check(&self, group: RouteGroup, key: &str, quota: Quota) -> StoreResult<RateDecision>;

    /// Whether one request for `key` would be allowed now, without counting
    /// it: how the token endpoint asks whether an address is over its
    /// failure budget before it checks a secret.
    ///
    /// # Errors
    /// As [`check`](Self::check).
    async fn peek(&self, group: RouteGroup, key: &str, quota: Quota) -> StoreResult<RateDecision>;
}

/// One GCRA step, the same arithmetic as the Redis backend's script so both
/// answer alike. `tat` is the key's theoretical arrival time (`None`: no
/// state), all in nanoseconds on one clock. Returns the decision and, for an
/// allowed counted request, the new `tat` to store.
fn gcra(tat: Option<u64>, now: u64, quota: Quota, count: bool) -> (RateDecision, Option<u64>) {
    let interval = u64::try_from(quota.emission_interval().as_nanos())
        .unwrap_or(u64::MAX)
        .max(1);
    let window = interval.saturating_mul(u64::from(quota.limit));
    let tat = tat.unwrap_or(now).max(now);
    let new_tat = tat.saturating_add(interval);
    let allow_at = new_tat.saturating_sub(window);
    let nanos = Duration::from_nanos;
    if now < allow_at {
        let refused = RateDecision {
            allowed: false,
            limit: quota.limit,
            remaining: 0,
            reset: nanos(tat - now),
            retry_after: nanos(allow_at - now),
        };
        return (refused, None);
    }
    // What is left after this request (counted) or right now (peeked).
    let after = if count { new_tat } else { tat };
    let remaining = window.saturating_sub(after - now) / interval;
    let allowed = RateDecision {
        allowed: true,
        limit: quota.limit,
        remaining: u32::try_from(remaining).unwrap_or(u32::MAX).min(quota.limit),
        reset: nanos(after - now),
        retry_after: Duration::ZERO,
    };
    (allowed, count.then_some(new_tat))
}

/// Shards of the in-process limiter: checks of different keys rarely wait
/// for each other.
const SHARDS: usize = 16;

type Shard = HashMap<(RouteGroup, Box<str>), u64>;

/// The in-process limiter (GCRA): one instance's own counts, in a map that
/// never holds more than its capacity of keys.
///
/// A key whose quota is whole again has no state worth keeping and is
/// dropped first. If the map is still full, the keys nearest to a whole
/// quota are forgotten (their owners get back at most what they had left to
/// regain): the keys being limited right now are the last to go, so
/// flooding the limiter with new keys frees nobody who is being limited.
/// (A general cache's admission policy would be wrong here: a key it refuses
/// to admit would never be limited at all.)
pub struct LocalRateLimiter {
    shards: Box<[Mutex<Shard>]>,
    shard_capacity: usize,
    epoch: Instant,
}

impl Default for LocalRateLimiter {
    fn default() -> Self {
        Self::new()
    }
}

impl LocalRateLimiter {
    /// Keys held at most by [`new`](Self::new): about 100 bytes each.
    pub const DEFAULT_CAPACITY: usize = 100_000;

    /// An empty limiter holding at most [`Self::DEFAULT_CAPACITY`] keys.
    pub fn new() -> Self {
        Self::with_capacity(Self::DEFAULT_CAPACITY)
    }

    /// An empty limiter holding at most `capacity` keys (at least one per shard).
    pub fn with_capacity(capacity: usize) -> Self {
        Self {
            shards: (0..SHARDS).map(|_| Mutex::new(Shard::new())).collect(),
            shard_capacity: capacity.div_ceil(SHARDS).max(1),
            epoch: Instant::now(),
        }
    }

    /// The most keys it holds.
    pub fn capacity(&self) -> usize {
        self.shard_capacity * SHARDS
    }

    /// The keys it holds now.
    pub fn len(&self) -> usize {
        self.shards.iter().map(|s| lock(s).len()).sum()
    }

    /// Whether it holds no key.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn now(&self) -> u64 {
        u64::try_from(self.epoch.elapsed().as_nanos()).unwrap_or(u64::MAX)
    }

    fn shard(&self, group: RouteGroup, key: &str) -> MutexGuard<'_, Shard> {
        let mut h = DefaultHasher::new();
        (group, key).hash(&mut h);
        // The remainder is below SHARDS, so the cast is lossless.
        lock(&self.shards[(h.finish() % SHARDS as u64) as usize])
    }

    /// One check, synchronously: the same as [`RateLimiter::check`].
    pub fn check_now(&self, group: RouteGroup, key: &str, quota: Quota) -> RateDecision {
        let now = self.now();
        let mut shard = self.shard(group, key);
        let owned = (group, Box::<str>::from(key));
        let (decision, new_tat) = gcra(shard.get(&owned).copied(), now, quota, true);
        if let Some(tat) = new_tat {
            if shard.len() >= self.shard_capacity && !shard.contains_key(&owned) {
                make_room(&mut shard, now, self.shard_capacity);
            }
            shard.insert(owned, tat);
        }
        decision
    }

    /// One peek, synchronously: the same as [`RateLimiter::peek`].
    pub fn peek_now(&self, group: RouteGroup, key: &str, quota: Quota) -> RateDecision {
        let now = self.now();
        let shard = self.shard(group, key);
        let tat = shard.get(&(group, Box::<str>::from(key))).copied();
        gcra(tat, now, quota, false).0
    }
}

fn lock(shard: &Mutex<Shard>) -> MutexGuard<'_, Shard> {
    shard.lock().unwrap_or_else(|e| e.into_inner())
}

/// Frees room in a full shard: the keys whose quota is whole again, then,
/// if that freed less than a quarter, the keys nearest to a whole quota
/// down to three quarters of the capacity, so the next sweep is a quarter
/// of the capacity of insertions away.
fn make_room(shard: &mut Shard, now: u64, capacity: usize) {
    shard.retain(|_, tat| *tat > now);
    let target = capacity - (capacity / 4).max(1);
    if shard.len() <= target {
        return;
    }
    let mut tats: Vec<u64> = shard.values().copied().collect();
    let excess = shard.len() - target;
    let (_, cut, _) = tats.select_nth_unstable(excess - 1);
    let cut = *cut;
    let mut removed = 0;
    shard.retain(|_, tat| {
        let drop = *tat <= cut && removed < excess;
        removed += usize::from(drop);
        !drop
    });
}

#[async_trait]
impl RateLimiter for LocalRateLimiter {
    async fn check(&self, group: RouteGroup, key: &str, quota: Quota) -> StoreResult<RateDecision> {
        Ok(self.check_now(group, key, quota))
    }

    async fn peek(&self, group: RouteGroup, key: &str, quota: Quota) -> StoreResult<RateDecision> {
        Ok(self.peek_now(group, key, quota))
    }
}

/// Quotas per group, and which groups fail closed when a shared limiter is down.
#[derive(Clone, Debug)]
pub struct RateLimitSettings {
    /// Whether limits are enforced at all.
    pub enabled: bool,
    quotas: HashMap<RouteGroup, Quota>,
    fail_closed: Vec<RouteGroup>,
}

impl Default for RateLimitSettings {
    fn default() -> Self {
        Self {
            enabled: true,
            quotas: RouteGroup::ALL.iter().map(|g| (*g, g.default_quota())).collect(),
            fail_closed: Vec::new(),
        }
    }
}

impl RateLimitSettings {
    /// The quota of a group.
    pub fn quota(&self, group: RouteGroup) -> Quota {
        self.quotas
            .get(&group)
            .copied()
            .unwrap_or_else(|| group.default_quota())
    }

    /// Sets a group's quota.
    pub fn set_quota(&mut self, group: RouteGroup, quota: Quota) {
        self.quotas.insert(group, quota);
    }

    /// Makes a group answer 503 instead of falling back to a local limit
    /// while the shared limiter is unreachable.
    pub fn set_fail_closed(&mut self, group: RouteGroup, closed: bool) {
        self.fail_closed.retain(|g| *g != group);
        if closed {
            self.fail_closed.push(group);
        }
    }

    /// Whether a group fails closed.
    pub fn fails_closed(&self, group: RouteGroup) -> bool {
        self.fail_closed.contains(&group)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quotas_parse() {
        assert_eq!(
            "20/60s".parse::<Quota>(),
            Ok(Quota {
                limit: 20,
                period: Duration::from_secs(60)
            })
        );
        assert_eq!("5/1m".parse::<Quota>().map(|q| q.period), Ok(Duration::from_secs(60)));
        assert_eq!(
            "10/500ms".parse::<Quota>().map(|q| q.period),
            Ok(Duration::from_millis(500))
        );
        for bad in ["", "20", "0/1s", "20/0s", "x/1s", "20/1d", "20/s"] {
            assert!(bad.parse::<Quota>().is_err(), "{bad}");
        }
    }

    /// Numbers that overflow a period (this panicked), or periods past a
    /// day, are refused with a message; a day itself is fine.
    #[test]
    fn quotas_never_overflow() {
        for bad in [
            "1/400000000000000000m",
            "1/18446744073709551615h",
            "1/99999999999999999999s",
            "1/25h",
            "1/86400001ms",
            "4294967296/1s",
        ] {
            assert!(bad.parse::<Quota>().is_err(), "{bad}");
        }
        assert_eq!("1/24h".parse::<Quota>().map(|q| q.period), Ok(Quota::MAX_PERIOD));
        for long in ["1/25h", "1/400000000000000000m"] {
            assert_eq!(
                long.parse::<Quota>(),
                Err(format!("`{long}`: a quota's period is at most 24h"))
            );
        }
    }

    #[test]
    fn local_limiter_allows_the_burst_then_refuses() {
        let limiter = LocalRateLimiter::new();
        let quota = Quota {
            limit: 3,
            period: Duration::from_secs(60),
        };
        let remaining: Vec<_> = (0..3)
            .map(|_| limiter.check_now(RouteGroup::Token, "a", quota))
            .map(|d| (d.allowed, d.remaining))
            .collect();
        assert_eq!(remaining, vec![(true, 2), (true, 1), (true, 0)]);
        let refused = limiter.check_now(RouteGroup::Token, "a", quota);
        assert!(!refused.allowed);
        assert!(refused.retry_after > Duration::from_secs(15) && refused.retry_after <= Duration::from_secs(20));
        assert!(
            limiter.check_now(RouteGroup::Token, "b", quota).allowed,
            "keys are separate"
        );
        assert!(
            limiter.check_now(RouteGroup::Signup, "a", quota).allowed,
            "groups are separate"
        );
    }

    #[test]
    fn a_peek_does_not_count() {
        let limiter = LocalRateLimiter::new();
        let quota = Quota {
            limit: 2,
            period: Duration::from_secs(60),
        };
        for _ in 0..5 {
            let d = limiter.peek_now(RouteGroup::TokenFailures, "ip:1", quota);
            assert!(d.allowed);
            assert_eq!(d.remaining, 2);
        }
        assert!(limiter.is_empty(), "peeking creates no state");
        limiter.check_now(RouteGroup::TokenFailures, "ip:1", quota);
        assert_eq!(limiter.peek_now(RouteGroup::TokenFailures, "ip:1", quota).remaining, 1);
        limiter.check_now(RouteGroup::TokenFailures, "ip:1", quota);
        let over = limiter.peek_now(RouteGroup::TokenFailures, "ip:1", quota);
        assert!(!over.allowed);
        assert!(over.retry_after > Duration::ZERO && over.retry_after <= Duration::from_secs(30));
        assert!(!limiter.check_now(RouteGroup::TokenFailures, "ip:1", quota).allowed);
    }

    /// However many keys arrive, the limiter holds at most its capacity, and
    /// a flood of new keys does not free a key that is being limited.
    #[test]
    fn state_is_bounded_and_limited_keys_stay_limited() {
        let limiter = LocalRateLimiter::with_capacity(1_000);
        let quota = Quota {
            limit: 3,
            period: Duration::from_secs(3600),
        };
        for _ in 0..3 {
            assert!(
                limiter
                    .check_now(RouteGroup::TokenFailures, "ip:attacker", quota)
                    .allowed
            );
        }
        assert!(
            !limiter
                .check_now(RouteGroup::TokenFailures, "ip:attacker", quota)
                .allowed
        );
        let mut most = 0;
        for i in 0..10_000 {
            limiter.check_now(RouteGroup::TokenFailures, &format!("ip:made-up-{i}"), quota);
            most = most.max(limiter.len());
        }
        assert!(
            most <= limiter.capacity(),
            "{most} keys held, capacity {}",
            limiter.capacity()
        );
        assert!(limiter.capacity() < 1_100);
        assert!(
            !limiter
                .check_now(RouteGroup::TokenFailures, "ip:attacker", quota)
                .allowed,
            "still limited after the flood"
        );
    }
}
