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
//!
//! Counts the store does not take at shutdown (the database is down then)
//! are not dropped in silence: [`SentryAgent::flush_usage_at_shutdown`]
//! logs each tenant's count and, with a spill directory
//! ([`SentryAgentBuilder::usage_spill_dir`](crate::SentryAgentBuilder::usage_spill_dir)),
//! writes them to a file there, one batch per file under a fresh id. A later
//! start ([`SentryAgent::recover_spilled_usage`], also run by the flusher
//! task) stores each batch with its id in one transaction and then deletes
//! the file, so a batch counts once however many starts find it.

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

/// What [`SentryAgent::flush_usage_at_shutdown`] did with the last counts.
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

/// Usage spill files: one JSON document per shutdown that could not store
/// its counts, written under a temporary name and renamed into place, so a
/// reader never sees half a file.
mod spill {
    use std::io::Write as _;
    use std::path::{Path, PathBuf};

    use serde::{Deserialize, Serialize};
    use time::Date;

    use super::Key;
    use crate::TenantId;

    const PREFIX: &str = "usage-";
    const SUFFIX: &str = ".json";

    #[derive(Serialize, Deserialize)]
    #[serde(rename_all = "camelCase")]
    pub(super) struct Batch {
        /// The batch's id: the store records it with the counts.
        pub(super) batch: String,
        #[serde(with = "crate::time::rfc3339")]
        pub(super) written_at: time::OffsetDateTime,
        pub(super) counts: Vec<Count>,
    }

    #[derive(Serialize, Deserialize)]
    #[serde(rename_all = "camelCase")]
    pub(super) struct Count {
        pub(super) tenant_id: TenantId,
        #[serde(with = "day")]
        pub(super) day: Date,
        pub(super) metric: String,
        pub(super) count: u64,
    }

    mod day {
        use serde::{Deserialize, Deserializer, Serializer};
        use time::Date;
        use time::macros::format_description;

        pub(super) fn serialize<S: Serializer>(day: &Date, s: S) -> Result<S::Ok, S::Error> {
            s.collect_str(day)
        }

        pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Date, D::Error> {
            let text = String::deserialize(d)?;
            Date::parse(&text, format_description!("[year]-[month]-[day]")).map_err(serde::de::Error::custom)
        }
    }

    /// Writes `counts` as a new batch file in `dir` (made if missing).
    pub(super) fn write(dir: &Path, counts: &[(Key, u64)]) -> std::io::Result<PathBuf> {
        let batch = Batch {
            batch: uuid::Uuid::now_v7().to_string(),
            written_at: crate::time::now(),
            counts: counts
                .iter()
                .map(|((tenant, day, metric), n)| Count {
                    tenant_id: *tenant,
                    day: *day,
                    metric: (*metric).to_owned(),
                    count: *n,
                })
                .collect(),
        };
        std::fs::create_dir_all(dir)?;
        let file = dir.join(format!("{PREFIX}{}{SUFFIX}", batch.batch));
        let partial = file.with_extension("json.partial");
        let mut out = std::fs::File::create(&partial)?;
        out.write_all(&serde_json::to_vec_pretty(&batch)?)?;
        out.sync_all()?;
        std::fs::rename(&partial, &file)?;
        Ok(file)
    }

    /// Every batch file in `dir` that parses; one that does not is logged
    /// and left alone.
    pub(super) fn read_all(dir: &Path) -> Vec<(PathBuf, Batch)> {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return Vec::new();
        };
        let mut batches = Vec::new();
        for path in entries.filter_map(Result::ok).map(|e| e.path()) {
            let named = path
                .file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with(PREFIX) && n.ends_with(SUFFIX));
            if !named {
                continue;
            }
            match std::fs::read(&path).map(|bytes| serde_json::from_slice::<Batch>(&bytes)) {
                Ok(Ok(batch)) => batches.push((path, batch)),
                Ok(Err(e)) => {
                    tracing::error!(file = %path.display(), error = %e, "a usage spill file does not parse; left alone")
                }
                // Taken by another instance meanwhile.
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => tracing::error!(file = %path.display(), error = %e, "cannot read a usage spill file"),
            }
        }
        batches.sort_by(|a, b| a.0.cmp(&b.0));
        batches
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
        match self.flush_pending().await {
            (written, None) => Ok(written),
            (_, Some(e)) => Err(e),
        }
    }

    /// [`flush_usage`](Self::flush_usage), saying how many were written
    /// before a failure too.
    async fn flush_pending(&self) -> (u64, Option<Error>) {
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
        (written, failure.map(Error::from))
    }

    /// The last flush, at shutdown: what the store does not take is written
    /// to the spill directory, if one is set, for a later start to store;
    /// either way every count not stored is logged with its tenant, day and
    /// metric. Never fails: what happened is in the result and the log.
    pub async fn flush_usage_at_shutdown(&self) -> FinalFlush {
        let (written, error) = self.flush_pending().await;
        let mut done = FinalFlush {
            written,
            ..FinalFlush::default()
        };
        let Some(error) = error else {
            return done;
        };
        // What the failed flush put back.
        let left: Vec<(Key, u64)> = self.inner.meter.drain();
        let total: u64 = left.iter().map(|(_, n)| n).sum();
        let spilled = match &self.inner.settings.usage_spill_dir {
            Some(dir) => match spill::write(dir, &left) {
                Ok(file) => Some(file),
                Err(e) => {
                    tracing::error!(dir = %dir.display(), error = %e, "cannot write the usage spill file");
                    None
                }
            },
            None => None,
        };
        for ((tenant, day, metric), n) in &left {
            match &spilled {
                Some(file) => tracing::warn!(%tenant, %day, metric, count = n, file = %file.display(),
                    "usage not stored at shutdown; spilled for a later start to store"),
                None => tracing::error!(%tenant, %day, metric, count = n,
                    "usage not stored at shutdown and not spilled: lost (set a usage spill directory to keep it)"),
            }
        }
        tracing::error!(error = %error, unstored = total, tenants = left.len(), "the last usage flush failed");
        match spilled {
            Some(file) => {
                done.spilled = total;
                done.spill_file = Some(file);
            }
            None => done.lost = total,
        }
        done
    }

    /// Stores the usage that earlier shutdowns spilled into the spill
    /// directory (this instance's or, on a shared volume, another's), each
    /// batch once, and deletes their files. Returns how many counts were
    /// stored; nothing without a spill directory.
    ///
    /// # Errors
    /// The store failed; the files that were not stored are kept for the
    /// next call.
    pub async fn recover_spilled_usage(&self) -> Result<u64, Error> {
        let Some(dir) = &self.inner.settings.usage_spill_dir else {
            return Ok(0);
        };
        let mut stored = 0;
        for (file, batch) in spill::read_all(dir) {
            let counts: Vec<(TenantId, Date, &str, u64)> = batch
                .counts
                .iter()
                .map(|c| (c.tenant_id, c.day, c.metric.as_str(), c.count))
                .collect();
            let added = self.inner.stores.usage.add_usage_batch(&batch.batch, &counts).await?;
            for &(tenant, day, metric, n) in &counts {
                if added {
                    stored += n;
                    tracing::info!(%tenant, %day, metric, count = n, file = %file.display(), "spilled usage stored");
                    if let Some(shared) = &self.inner.shared_usage
                        && let Err(e) = shared.add_usage(tenant, day, metric, n).await
                    {
                        tracing::warn!(error = %e, "shared usage counters unreachable; enforcement reads the store");
                    }
                }
            }
            if !added {
                tracing::info!(file = %file.display(), batch = %batch.batch, "spilled usage was stored before");
            }
            if let Err(e) = std::fs::remove_file(&file)
                && e.kind() != std::io::ErrorKind::NotFound
            {
                tracing::warn!(file = %file.display(), error = %e, "cannot delete a stored usage spill file");
            }
        }
        Ok(stored)
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
