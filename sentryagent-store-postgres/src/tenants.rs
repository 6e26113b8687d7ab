use async_trait::async_trait;
use sentryagent_core::store::TenantStore;
use sentryagent_core::tenant::Tenant;
use sentryagent_core::{StoreResult, TenantId};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::PgStore;
use crate::error::ResultExt;

#[derive(sqlx::FromRow)]
struct Row {
    id: Uuid,
    name: String,
    tier: String,
    created_at: OffsetDateTime,
}

impl From<Row> for Tenant {
    fn from(r: Row) -> Self {
        Tenant {
            id: TenantId::from_uuid(r.id),
            name: r.name,
            tier: r.tier,
            created_at: r.created_at,
        }
    }
}

#[async_trait]
impl TenantStore for PgStore {
    async fn insert_tenant(&self, tenant: &Tenant) -> StoreResult<()> {
        sqlx::query("INSERT INTO tenants (id, name, tier, created_at) VALUES ($1, $2, $3, $4)")
            .bind(tenant.id.as_uuid())
            .bind(&tenant.name)
            .bind(&tenant.tier)
            .bind(tenant.created_at)
            .execute(&self.pool)
            .await
            .store()?;
        Ok(())
    }

    async fn tenant(&self, id: TenantId) -> StoreResult<Option<Tenant>> {
        let row: Option<Row> = sqlx::query_as("SELECT id, name, tier, created_at FROM tenants WHERE id = $1")
            .bind(id.as_uuid())
            .fetch_optional(&self.pool)
            .await
            .store()?;
        Ok(row.map(Into::into))
    }

    async fn set_tenant_tier(&self, id: TenantId, tier: &str) -> StoreResult<()> {
        sqlx::query("UPDATE tenants SET tier = $2 WHERE id = $1")
            .bind(id.as_uuid())
            .bind(tier)
            .execute(&self.pool)
            .await
            .store()?;
        Ok(())
    }

    async fn tenants(&self, after: Option<TenantId>, limit: usize) -> StoreResult<Vec<Tenant>> {
        let rows: Vec<Row> = sqlx::query_as(
            "SELECT id, name, tier, created_at FROM tenants WHERE $1::uuid IS NULL OR id > $1 ORDER BY id LIMIT $2",
        )
        .bind(after.map(|a| *a.as_uuid()))
        .bind(limit as i64)
        .fetch_all(&self.pool)
        .await
        .store()?;
        Ok(rows.into_iter().map(Into::into).collect())
    }
}
