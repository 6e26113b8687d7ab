//! The metering model: records, requests, answers and their validation.

use std::time::{Duration, Instant};

use dashmap::DashMap;
use serde::Serialize;
use time::{Date, OffsetDateTime};

use crate::TenantId;

/// The metrics counted.
pub mod metric {
    /// Requests to the API by a tenant's agents.
    pub const API_CALLS: &str = "api_calls";
    /// Access tokens issued to a tenant's agents.
    pub const TOKEN_ISSUANCES: &str = "token_issuances";
}

pub(crate) type Key = (TenantId, Date, &'static str);

/// Counts not yet flushed, and the enforcement summaries.
#[derive(Default)]
pub(crate) struct Meter {
    pending: DashMap<Key, u64>,
    pub(crate) summaries: DashMap<TenantId, Summary>,
}

#[derive(Clone)]
pub(crate) struct Summary {
    pub(crate) day: Date,
    /// API calls of `day` in the store when read, plus this instance's flushes since.
    pub(crate) stored_calls: u64,
    pub(crate) tier: String,
    pub(crate) read_at: Instant,
}

impl Meter {
    /// Counts `n` of `metric` for `tenant` today: a map update, no I/O.
    pub(crate) fn count(&self, tenant: TenantId, metric: &'static str, n: u64) {
        let day = OffsetDateTime::now_utc().date();
        *self.pending.entry((tenant, day, metric)).or_insert(0) += n;
    }

    pub(crate) fn pending(&self, tenant: TenantId, day: Date, metric: &'static str) -> u64 {
        self.pending.get(&(tenant, day, metric)).map_or(0, |n| *n)
    }

    /// Every count waiting for a flush.
    pub(crate) fn total_pending(&self) -> u64 {
        self.pending.iter().map(|e| *e.value()).sum()
    }

    /// Counts a flush could not store, kept for the next one.
    pub(crate) fn put_back(&self, key: Key, n: u64) {
        *self.pending.entry(key).or_insert(0) += n;
    }

    pub(crate) fn drain(&self) -> Vec<(Key, u64)> {
        let keys: Vec<Key> = self.pending.iter().map(|e| *e.key()).collect();
        keys.into_iter()
            .filter_map(|k| self.pending.remove(&k))
            .filter(|(_, n)| *n > 0)
            .collect()
    }
}

/// What [`SentryAgent::flush_usage_at_shutdown`](crate::SentryAgent::flush_usage_at_shutdown) did with the last counts.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct FinalFlush {
    /// Counts written to the store.
    pub written: u64,
    /// Counts the store did not take, written to `spill_file`.
    pub spilled: u64,
    /// Counts neither stored nor spilled (each logged with its tenant).
    pub lost: u64,
    /// The spill file, when counts were spilled.
    pub spill_file: Option<std::path::PathBuf>,
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

pub(crate) fn until_next_utc_midnight(now: OffsetDateTime) -> Duration {
    let midnight = now.date().next_day().map(|d| d.midnight().assume_utc()).unwrap_or(now);
    let left = midnight - now;
    Duration::from_secs(left.whole_seconds().max(1) as u64)
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
