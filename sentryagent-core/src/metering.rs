//! Usage metering and tier enforcement.
//!
//! Every API call and token issuance is counted per tenant in memory on the
//! request path (no I/O there), then flushed on an interval, and on graceful
//! shutdown, into the durable usage store (daily roll-ups; a month is the sum
//! of its days), which every instance adds to, so nothing is counted twice.
//! With a shared counter backend (Redis) the flush adds there too, and
//! enforcement reads the shared totals.
//!
//! Enforcement reads a per-tenant summary (tier and stored count for today)
//! cached for [`Settings::quota_cache_ttl`](crate::Settings) plus this
//! instance's unflushed counts: never the database per request.

use std::sync::Arc;
use std::time::{Duration, Instant};

use dashmap::DashMap;
use serde::Serialize;
use time::{Date, OffsetDateTime};

use crate::error::Error;
use crate::store::UsageCounters;
use crate::tier::Tier;
use crate::{Caller, SentryAgent, TenantId};

/// The metrics counted.
pub mod metric {
    /// Requests to the API by a tenant's agents.
    pub const API_CALLS: &str = "api_calls";
    /// Access tokens issued to a tenant's agents.
    pub const TOKEN_ISSUANCES: &str = "token_issuances";
}

type Key = (TenantId, Date, &'static str);

/// Counts not yet flushed, and the enforcement summaries.
#[derive(Default)]
pub(crate) struct Meter {
    pending: DashMap<Key, u64>,
    summaries: DashMap<TenantId, Summary>,
}

#[derive(Clone)]
struct Summary {
    day: Date,
    /// API calls of `day` in the store when read, plus this instance's flushes since.
    stored_calls: u64,
    tier: String,
    read_at: Instant,
}

impl Meter {
    /// Counts `n` of `metric` for `tenant` today: a map update, no I/O.
    pub(crate) fn count(&self, tenant: TenantId, metric: &'static str, n: u64) {
        let day = OffsetDateTime::now_utc().date();
        *self.pending.entry((tenant, day, metric)).or_insert(0) += n;
    }

    fn pending(&self, tenant: TenantId, day: Date, metric: &'static str) -> u64 {
        self.pending.get(&(tenant, day, metric)).map_or(0, |n| *n)
    }

    fn drain(&self) -> Vec<(Key, u64)> {
        let keys: Vec<Key> = self.pending.iter().map(|e| *e.key()).collect();
        keys.into_iter()
            .filter_map(|k| self.pending.remove(&k))
            .filter(|(_, n)| *n > 0)
            .collect()
    }
}

/// A tenant's usage beside its limits (`GET /usage`).
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct UsageReport {
    /// The tenant.
    pub tenant_id: TenantId,
    /// Its tier.
    pub tier: String,
    /// Today (UTC).
    pub today: UsagePeriod,
    /// This month (UTC).
    pub month: UsagePeriod,
    /// The tier's limits.
    pub limits: crate::tier::TierLimits,
    /// Whether the limits are enforced.
    pub enforced: bool,
}

/// Counts over a period.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct UsagePeriod {
    /// `2026-11-23` or `2026-11`.
    pub period: String,
    /// API calls.
    pub api_calls: u64,
    /// Tokens issued.
    pub token_issuances: u64,
}

fn until_next_utc_midnight(now: OffsetDateTime) -> Duration {
    let midnight = now.date().next_day().map(|d| d.midnight().assume_utc()).unwrap_or(now);
    let left = midnight - now;
    Duration::from_secs(left.whole_seconds().max(1) as u64)
}

impl SentryAgent {
    fn usage_source(&self) -> &Arc<dyn UsageCounters> {
        self.inner.shared_usage.as_ref().unwrap_or(&self.inner.stores.usage)
    }

    /// Counts one request of `metric` for a tenant: a map update on the
    /// request path, no I/O. The route layer calls it for every API call and
    /// the token endpoint for every token.
    pub fn meter(&self, tenant: TenantId, metric: &'static str) {
        self.inner.meter.count(tenant, metric, 1);
    }

    /// Writes the unflushed counts to the usage store (and the shared
    /// counters, if any). Counts that fail to reach the durable store are
    /// kept for the next flush. Returns how many were written.
    ///
    /// # Errors
    /// The durable store failed; nothing is lost.
    pub async fn flush_usage(&self) -> Result<u64, Error> {
        let inner = &self.inner;
        let mut written = 0;
        let mut failure = None;
        for ((tenant, day, metric), n) in inner.meter.drain() {
            if failure.is_some() {
                inner
                    .meter
                    .pending
                    .entry((tenant, day, metric))
                    .and_modify(|c| *c += n)
                    .or_insert(n);
                continue;
            }
            match inner.stores.usage.add_usage(tenant, day, metric, n).await {
                Ok(_) => {
                    written += n;
                    if let Some(shared) = &inner.shared_usage
                        && let Err(e) = shared.add_usage(tenant, day, metric, n).await
                    {
                        tracing::warn!(error = %e, "shared usage counters unreachable; enforcement reads the store");
                    }
                    if metric == metric::API_CALLS
                        && let Some(mut s) = inner.meter.summaries.get_mut(&tenant)
                        && s.day == day
                    {
                        s.stored_calls += n;
                    }
                }
                Err(e) => {
                    inner
                        .meter
                        .pending
                        .entry((tenant, day, metric))
                        .and_modify(|c| *c += n)
                        .or_insert(n);
                    failure = Some(e);
                }
            }
        }
        match failure {
            Some(e) => Err(e.into()),
            None => Ok(written),
        }
    }

    /// Starts a task that flushes usage every `interval` on the current
    /// Tokio runtime. Call [`flush_usage`](Self::flush_usage) once more at
    /// shutdown.
    pub fn spawn_usage_flusher(&self, interval: Duration) -> tokio::task::JoinHandle<()> {
        let idp = self.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(interval);
            tick.tick().await;
            loop {
                tick.tick().await;
                if let Err(e) = idp.flush_usage().await {
                    tracing::warn!(error = %e, "usage flush failed; counts kept for the next one");
                }
            }
        })
    }

    /// The tenant's tier and stored calls for today, cached.
    async fn summary(&self, tenant: TenantId) -> Result<Summary, Error> {
        let today = OffsetDateTime::now_utc().date();
        let ttl = self.inner.settings.quota_cache_ttl;
        if let Some(s) = self.inner.meter.summaries.get(&tenant)
            && s.day == today
            && s.read_at.elapsed() < ttl
        {
            return Ok(s.clone());
        }
        let tier = self
            .inner
            .stores
            .tenants
            .tenant(tenant)
            .await?
            .map_or_else(|| crate::tier::FREE.to_owned(), |t| t.tier);
        let stored_calls = self.usage_source().usage(tenant, today, metric::API_CALLS).await?;
        let summary = Summary {
            day: today,
            stored_calls,
            tier,
            read_at: Instant::now(),
        };
        self.inner.meter.summaries.insert(tenant, summary.clone());
        Ok(summary)
    }

    /// The tier in force for a tenant (cached like the usage summary).
    pub(crate) async fn tier_of(&self, tenant: TenantId) -> Result<Tier, Error> {
        let summary = self.summary(tenant).await?;
        Ok(self.inner.settings.tiers.get(&summary.tier).clone())
    }

    /// Refuses a call past the tier's daily quota. Reads the cached summary
    /// (one store read per tenant per cache period) and this instance's
    /// unflushed counts.
    ///
    /// # Errors
    /// [`Error::TierQuotaExceeded`]; a store error while refreshing the summary.
    pub async fn check_quota(&self, tenant: TenantId) -> Result<(), Error> {
        if !self.inner.settings.enforce_tiers {
            return Ok(());
        }
        let summary = self.summary(tenant).await?;
        let Some(limit) = self.inner.settings.tiers.get(&summary.tier).limits.api_calls_per_day else {
            return Ok(());
        };
        let used = summary.stored_calls + self.inner.meter.pending(tenant, summary.day, metric::API_CALLS);
        if used >= limit {
            return Err(Error::TierQuotaExceeded {
                limit,
                retry_after: until_next_utc_midnight(OffsetDateTime::now_utc()),
            });
        }
        Ok(())
    }

    /// Forgets a tenant's cached summary (its tier changed).
    pub(crate) fn forget_summary(&self, tenant: TenantId) {
        self.inner.meter.summaries.remove(&tenant);
    }

    /// The caller's usage today and this month. Needs `usage:read`.
    ///
    /// # Errors
    /// Insufficient scope; a store error.
    pub async fn usage_report(&self, caller: &Caller) -> Result<UsageReport, Error> {
        caller.identity.require_scope(crate::scope::USAGE_READ)?;
        let tenant = caller.tenant();
        let tier = self.tier_of(tenant).await?;
        let today = OffsetDateTime::now_utc().date();
        let first = today.replace_day(1).unwrap_or(today);
        let store = &self.inner.stores.usage;
        let mut periods = Vec::new();
        for (from, period) in [
            (today, today.to_string()),
            (first, format!("{:04}-{:02}", today.year(), u8::from(today.month()))),
        ] {
            let mut counts = [0u64; 2];
            for (i, m) in [metric::API_CALLS, metric::TOKEN_ISSUANCES].into_iter().enumerate() {
                counts[i] =
                    store.usage_between(tenant, from, today, m).await? + self.inner.meter.pending(tenant, today, m);
            }
            periods.push(UsagePeriod {
                period,
                api_calls: counts[0],
                token_issuances: counts[1],
            });
        }
        let month = periods.pop().unwrap_or_else(|| UsagePeriod {
            period: String::new(),
            api_calls: 0,
            token_issuances: 0,
        });
        let today = periods.pop().unwrap_or_else(|| UsagePeriod {
            period: String::new(),
            api_calls: 0,
            token_issuances: 0,
        });
        Ok(UsageReport {
            tenant_id: tenant,
            tier: tier.name.clone(),
            today,
            month,
            limits: tier.limits,
            enforced: self.inner.settings.enforce_tiers,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_runs_to_midnight() {
        let t = time::macros::datetime!(2026-11-23 23:59:00 UTC);
        assert_eq!(until_next_utc_midnight(t), Duration::from_secs(60));
        let t = time::macros::datetime!(2026-11-23 00:00:00 UTC);
        assert_eq!(until_next_utc_midnight(t), Duration::from_secs(86_400));
    }

    #[test]
    fn counts_accumulate_and_drain_once() {
        let meter = Meter::default();
        let t = TenantId::new();
        for _ in 0..3 {
            meter.count(t, metric::API_CALLS, 1);
        }
        meter.count(t, metric::TOKEN_ISSUANCES, 2);
        let today = OffsetDateTime::now_utc().date();
        assert_eq!(meter.pending(t, today, metric::API_CALLS), 3);
        let mut drained = meter.drain();
        drained.sort_by_key(|(k, _)| k.2);
        assert_eq!(drained.iter().map(|(_, n)| *n).collect::<Vec<_>>(), vec![3, 2]);
        assert!(meter.drain().is_empty());
    }
}
