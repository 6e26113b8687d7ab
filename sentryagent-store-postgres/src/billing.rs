use async_trait::async_trait;
use sentryagent_core::billing::Subscription;
use sentryagent_core::store::{SubscriptionStore, UsageCounters};
use sentryagent_core::{StoreResult, TenantId};
use time::{Date, OffsetDateTime};
use uuid::Uuid;

use crate::PgStore;
use crate::error::ResultExt;

#[derive(sqlx::FromRow)]
struct Row {
    tenant_id: Uuid,
    tier: String,
    status: String,
    customer_id: Option<String>,
    subscription_id: Option<String>,
    current_period_end: Option<OffsetDateTime>,
    updated_at: OffsetDateTime,
}

impl From<Row> for Subscription {
    fn from(r: Row) -> Self {
        Subscription {
            tenant_id: TenantId::from_uuid(r.tenant_id),
            tier: r.tier,
            status: r.status,
            customer_id: r.customer_id,
            subscription_id: r.subscription_id,
            current_period_end: r.current_period_end,
            updated_at: r.updated_at,
        }
    }
}

const SELECT: &str =
    "SELECT tenant_id, tier, status, customer_id, subscription_id, current_period_end, updated_at FROM subscriptions";

#[async_trait]
impl SubscriptionStore for PgStore {
    async fn subscription(&self, tenant: TenantId) -> StoreResult<Option<Subscription>> {
        let row: Option<Row> = sqlx::query_as(sqlx::AssertSqlSafe(format!("{SELECT} WHERE tenant_id = $1")))
            .bind(tenant.as_uuid())
            .fetch_optional(&self.pool)
            .await
            .store()?;
        Ok(row.map(Into::into))
    }

    async fn subscription_by_provider_id(&self, subscription_id: &str) -> StoreResult<Option<Subscription>> {
        let row: Option<Row> = sqlx::query_as(sqlx::AssertSqlSafe(format!("{SELECT} WHERE subscription_id = $1")))
            .bind(subscription_id)
            .fetch_optional(&self.pool)
            .await
            .store()?;
        Ok(row.map(Into::into))
    }

    async fn put_subscription(&self, s: &Subscription) -> StoreResult<()> {
        put_subscription(&self.pool, s).await
    }

    async fn apply_billing_event(&self, event_id: &str, s: &Subscription) -> StoreResult<bool> {
        // One transaction: the event is handled only if its change commits.
        let mut tx = self.pool.begin().await.store()?;
        let claimed = sqlx::query("INSERT INTO billing_events (id) VALUES ($1) ON CONFLICT (id) DO NOTHING")
            .bind(event_id)
            .execute(&mut *tx)
            .await
            .store()?;
        if claimed.rows_affected() == 0 {
            return Ok(false);
        }
        put_subscription(&mut *tx, s).await?;
        sqlx::query("UPDATE tenants SET tier = $2 WHERE id = $1")
            .bind(s.tenant_id.as_uuid())
            .bind(&s.tier)
            .execute(&mut *tx)
            .await
            .store()?;
        tx.commit().await.store()?;
        Ok(true)
    }
}

async fn put_subscription<'c, E>(db: E, s: &Subscription) -> StoreResult<()>
where
    E: sqlx::Executor<'c, Database = sqlx::Postgres>,
{
    sqlx::query(
        "INSERT INTO subscriptions (tenant_id, tier, status, customer_id, subscription_id, current_period_end, \
         updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7) \
         ON CONFLICT (tenant_id) DO UPDATE SET tier = EXCLUDED.tier, status = EXCLUDED.status, \
         customer_id = EXCLUDED.customer_id, subscription_id = EXCLUDED.subscription_id, \
         current_period_end = EXCLUDED.current_period_end, updated_at = EXCLUDED.updated_at",
    )
    .bind(s.tenant_id.as_uuid())
    .bind(&s.tier)
    .bind(&s.status)
    .bind(&s.customer_id)
    .bind(&s.subscription_id)
    .bind(s.current_period_end)
    .bind(s.updated_at)
    .execute(db)
    .await
    .store()?;
    Ok(())
}

fn signed(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

fn unsigned(n: i64) -> u64 {
    u64::try_from(n).unwrap_or(0)
}

/// Daily roll-ups: every instance adds its flushed counts, so nothing is
/// counted twice however many flush at once.
#[async_trait]
impl UsageCounters for PgStore {
    async fn add_usage(&self, tenant: TenantId, day: Date, metric: &str, n: u64) -> StoreResult<u64> {
        let total: i64 = sqlx::query_scalar(
            "INSERT INTO usage_daily (tenant_id, day, metric, count) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (tenant_id, day, metric) DO UPDATE SET count = usage_daily.count + EXCLUDED.count \
             RETURNING count",
        )
        .bind(tenant.as_uuid())
        .bind(day)
        .bind(metric)
        .bind(signed(n))
        .fetch_one(&self.pool)
        .await
        .store()?;
        Ok(unsigned(total))
    }

    async fn usage(&self, tenant: TenantId, day: Date, metric: &str) -> StoreResult<u64> {
        self.usage_between(tenant, day, day, metric).await
    }

    async fn add_usage_batch(&self, batch_id: &str, counts: &[(TenantId, Date, &str, u64)]) -> StoreResult<bool> {
        let mut tx = self.pool.begin().await.store()?;
        let claimed = sqlx::query("INSERT INTO usage_batches (id) VALUES ($1) ON CONFLICT (id) DO NOTHING")
            .bind(batch_id)
            .execute(&mut *tx)
            .await
            .store()?;
        if claimed.rows_affected() == 0 {
            return Ok(false);
        }
        for &(tenant, day, metric, n) in counts {
            sqlx::query(
                "INSERT INTO usage_daily (tenant_id, day, metric, count) VALUES ($1, $2, $3, $4) \
                 ON CONFLICT (tenant_id, day, metric) DO UPDATE SET count = usage_daily.count + EXCLUDED.count",
            )
            .bind(tenant.as_uuid())
            .bind(day)
            .bind(metric)
            .bind(signed(n))
            .execute(&mut *tx)
            .await
            .store()?;
        }
        tx.commit().await.store()?;
        Ok(true)
    }

    async fn usage_between(&self, tenant: TenantId, first: Date, last: Date, metric: &str) -> StoreResult<u64> {
        let total: Option<i64> = sqlx::query_scalar(
            "SELECT sum(count)::bigint FROM usage_daily WHERE tenant_id = $1 AND metric = $2 AND day BETWEEN $3 AND $4",
        )
        .bind(tenant.as_uuid())
        .bind(metric)
        .bind(first)
        .bind(last)
        .fetch_one(&self.pool)
        .await
        .store()?;
        Ok(total.map_or(0, unsigned))
    }
}
