//! Rate limits: a quota per route group, keyed per client (token endpoint),
//! per tenant (management routes) or per IP (unauthenticated routes),
//! enforced in the core's route layer so every adapter gets them.
//!
//! [`LocalRateLimiter`] (GCRA on `governor`) is the default for one instance;
//! a shared backend (Redis) implements [`RateLimiter`] so many instances
//! enforce one limit. When the shared backend fails, the core falls back to a
//! local limiter with the same quota (bounded per instance, never unlimited)
//! unless the group is set to fail closed (503).

use std::collections::HashMap;
use std::fmt;
use std::num::NonZeroU32;
use std::str::FromStr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use async_trait::async_trait;
use governor::clock::{Clock, DefaultClock};
use governor::middleware::StateInformationMiddleware;
use governor::state::keyed::DefaultKeyedStateStore;
use governor::{Quota as GovernorQuota, RateLimiter as Governor};

use crate::error::StoreResult;

/// Routes that share a quota.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum RouteGroup {
    /// `POST /oauth2/token`, per client id.
    Token,
    /// `POST /oauth2/introspect` and `/oauth2/revoke`, per IP.
    OAuth,
    /// `POST /oidc/token`, per IP.
    Oidc,
    /// `POST /tenants`, per IP.
    Signup,
    /// `GET /audit/verify`, per tenant (it reads the whole chain).
    AuditVerify,
    /// Every other authenticated route, per tenant.
    Management,
    /// Unauthenticated documents (well-known, health, marketplace), per IP.
    Public,
}

impl RouteGroup {
    /// Every group.
    pub const ALL: [RouteGroup; 7] = [
        RouteGroup::Token,
        RouteGroup::OAuth,
        RouteGroup::Oidc,
        RouteGroup::Signup,
        RouteGroup::AuditVerify,
        RouteGroup::Management,
        RouteGroup::Public,
    ];

    /// The name used in settings and headers (`token`, `audit-verify`).
    pub fn as_str(self) -> &'static str {
        match self {
            RouteGroup::Token => "token",
            RouteGroup::OAuth => "oauth",
            RouteGroup::Oidc => "oidc",
            RouteGroup::Signup => "signup",
            RouteGroup::AuditVerify => "audit-verify",
            RouteGroup::Management => "management",
            RouteGroup::Public => "public",
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
            RouteGroup::OAuth => per_minute(1_200),
            RouteGroup::Oidc => per_minute(60),
            RouteGroup::Signup => per_minute(10),
            RouteGroup::AuditVerify => per_minute(10),
            RouteGroup::Management => per_minute(1_200),
            RouteGroup::Public => per_minute(600),
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

impl FromStr for Quota {
    type Err = String;

    /// `20/60s`, `5/1m`, `1000/1h`, `10/500ms`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || format!("`{s}` is not a quota such as 20/60s, 5/1m or 1000/1h");
        let (limit, period) = s.trim().split_once('/').ok_or_else(bad)?;
        let limit: u32 = limit.trim().parse().map_err(|_| bad())?;
        let period = period.trim();
        let (number, unit) = period.split_at(period.find(|c: char| c.is_ascii_alphabetic()).ok_or_else(bad)?);
        let number: u64 = number.parse().map_err(|_| bad())?;
        let period = match unit {
            "ms" => Duration::from_millis(number),
            "s" => Duration::from_secs(number),
            "m" => Duration::from_secs(number * 60),
            "h" => Duration::from_secs(number * 3600),
            _ => return Err(bad()),
        };
        if limit == 0 || period.is_zero() {
            return Err(bad());
        }
        Ok(Quota { limit, period })
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
}

type Keyed = Governor<String, DefaultKeyedStateStore<String>, DefaultClock, StateInformationMiddleware>;

/// The in-process limiter (GCRA, `governor`): one instance's own counts.
#[derive(Default)]
pub struct LocalRateLimiter {
    limiters: RwLock<HashMap<(RouteGroup, Quota), Arc<Keyed>>>,
    checks: AtomicU64,
}

impl LocalRateLimiter {
    /// An empty limiter.
    pub fn new() -> Self {
        Self::default()
    }

    fn limiter(&self, group: RouteGroup, quota: Quota) -> Arc<Keyed> {
        if let Some(l) = self
            .limiters
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(&(group, quota))
        {
            return l.clone();
        }
        let burst = NonZeroU32::new(quota.limit).unwrap_or(NonZeroU32::MIN);
        let governor_quota = GovernorQuota::with_period(quota.emission_interval().max(Duration::from_nanos(1)))
            .map(|q| q.allow_burst(burst))
            .unwrap_or_else(|| GovernorQuota::per_second(burst));
        self.limiters
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .entry((group, quota))
            .or_insert_with(|| {
                Arc::new(Governor::keyed(governor_quota).with_middleware::<StateInformationMiddleware>())
            })
            .clone()
    }

    /// One check, synchronously: the same as [`RateLimiter::check`].
    pub fn check_now(&self, group: RouteGroup, key: &str, quota: Quota) -> RateDecision {
        let limiter = self.limiter(group, quota);
        // Forget idle keys now and then so memory stays bounded.
        if self.checks.fetch_add(1, Ordering::Relaxed) % 65_536 == 65_535 {
            limiter.retain_recent();
        }
        let interval = quota.emission_interval();
        match limiter.check_key(&key.to_owned()) {
            Ok(snapshot) => {
                let remaining = snapshot.remaining_burst_capacity();
                RateDecision {
                    allowed: true,
                    limit: quota.limit,
                    remaining,
                    reset: interval * quota.limit.saturating_sub(remaining),
                    retry_after: Duration::ZERO,
                }
            }
            Err(not_until) => {
                let wait = not_until.wait_time_from(limiter.clock().now());
                RateDecision {
                    allowed: false,
                    limit: quota.limit,
                    remaining: 0,
                    reset: interval * quota.limit,
                    retry_after: wait,
                }
            }
        }
    }
}

#[async_trait]
impl RateLimiter for LocalRateLimiter {
    async fn check(&self, group: RouteGroup, key: &str, quota: Quota) -> StoreResult<RateDecision> {
        Ok(self.check_now(group, key, quota))
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

impl crate::SentryAgent {
    /// Counts a request against its group's quota. `Ok(None)`: limits are
    /// off. A shared limiter that fails is replaced by the local one (logged
    /// once per outage) unless the group fails closed.
    pub(crate) async fn rate_limit(&self, group: RouteGroup, key: &str) -> Result<Option<RateDecision>, crate::Error> {
        let inner = &self.inner;
        let settings = &inner.settings.rate_limits;
        if !settings.enabled {
            return Ok(None);
        }
        let quota = settings.quota(group);
        match inner.rate_limiter.check(group, key, quota).await {
            Ok(decision) => {
                if inner.limiter_down.swap(false, Ordering::Relaxed) {
                    tracing::info!("the shared rate limiter is reachable again");
                }
                Ok(Some(decision))
            }
            Err(e) => {
                if !inner.limiter_down.swap(true, Ordering::Relaxed) {
                    tracing::warn!(error = %e, "the shared rate limiter is unreachable; limiting per instance");
                }
                if settings.fails_closed(group) {
                    return Err(crate::Error::Store(e));
                }
                Ok(Some(inner.local_limiter.check_now(group, key, quota)))
            }
        }
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
}
