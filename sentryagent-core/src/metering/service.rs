//! The metering service: [`SentryAgent`](crate::SentryAgent)'s methods over the model and the stores.
//!
//! Stores it needs: `tenants`, `usage`.
//! Shared parts it uses: `meter`, `shared_usage`.

use super::model::*;
use crate::error::Error;
use crate::store::UsageCounters;
use crate::tier::Tier;
use crate::{Caller, SentryAgent, TenantId};
use std::sync::Arc;
use std::time::Instant;
use time::{Date, OffsetDateTime};

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
                inner.meter.put_back((tenant, day, metric), n);
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
                    inner.meter.put_back((tenant, day, metric), n);
                    failure = Some(e);
                }
            }
        }
        crate::observe::record::metering_flushed(failure.is_none());
        crate::observe::record::metering_pending(inner.meter.total_pending());
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
            Some(dir) => match crate::metering::spill::write(dir, &left) {
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
        for (file, batch) in crate::metering::spill::read_all(dir) {
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
            crate::observe::record::tier_refused("quota");
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
