//! The ratelimit service: [`SentryAgent`](crate::SentryAgent)'s methods over the model and the stores.
//!
//! Stores it needs: none.

use super::model::*;
use crate::observe;
use std::sync::atomic::Ordering;

impl crate::SentryAgent {
    /// Counts a request against its group's quota. `Ok(None)`: limits are
    /// off. A shared limiter that fails is replaced by the local one (logged
    /// once per outage) unless the group fails closed.
    pub(crate) async fn rate_limit(&self, group: RouteGroup, key: &str) -> Result<Option<RateDecision>, crate::Error> {
        self.limit(group, key, true).await
    }

    /// Whether a request would be allowed now, without counting it; as
    /// [`rate_limit`](Self::rate_limit) otherwise.
    pub(crate) async fn rate_peek(&self, group: RouteGroup, key: &str) -> Result<Option<RateDecision>, crate::Error> {
        self.limit(group, key, false).await
    }

    async fn limit(&self, group: RouteGroup, key: &str, count: bool) -> Result<Option<RateDecision>, crate::Error> {
        let inner = &self.inner;
        let settings = &inner.settings.rate_limits;
        if !settings.enabled {
            return Ok(None);
        }
        let quota = settings.quota(group);
        let shared = match count {
            true => inner.rate_limiter.check(group, key, quota).await,
            false => inner.rate_limiter.peek(group, key, quota).await,
        };
        match shared {
            Ok(decision) => {
                if inner.limiter_down.swap(false, Ordering::Relaxed) {
                    observe::record::rate_limit_fallback(false);
                    tracing::info!("the shared rate limiter is reachable again");
                }
                if count {
                    observe::record::rate_decision(group.as_str(), slot(group), decision.allowed);
                }
                Ok(Some(decision))
            }
            Err(e) => {
                if !inner.limiter_down.swap(true, Ordering::Relaxed) {
                    observe::record::rate_limit_fallback(true);
                    tracing::warn!(error = %e, "the shared rate limiter is unreachable; limiting per instance");
                }
                if settings.fails_closed(group) {
                    return Err(crate::Error::Store(e));
                }
                let local = &inner.local_limiter;
                let decision = match count {
                    true => local.check_now(group, key, quota),
                    false => local.peek_now(group, key, quota),
                };
                if count {
                    observe::record::rate_decision(group.as_str(), slot(group), decision.allowed);
                }
                Ok(Some(decision))
            }
        }
    }
}

/// The group's place among all groups, for its metrics' handles.
fn slot(group: RouteGroup) -> usize {
    RouteGroup::ALL.iter().position(|g| *g == group).unwrap_or(usize::MAX)
}
