use async_trait::async_trait;
use sentryagent_core::StoreResult;
use sentryagent_core::store::ReplayGuard;
use time::OffsetDateTime;

use crate::PgStore;
use crate::error::ResultExt;

/// Used one-time ids in PostgreSQL, shared by every instance on the
/// database. Expired ids are deleted first, so an id is refused until its
/// own expiry and the table holds only ids that could still be replayed.
#[async_trait]
impl ReplayGuard for PgStore {
    async fn first_use(&self, id: &str, expires_at: OffsetDateTime) -> StoreResult<bool> {
        sqlx::query("DELETE FROM used_ids WHERE expires_at < now()")
            .execute(&self.pool)
            .await
            .store()?;
        let inserted = sqlx::query("INSERT INTO used_ids (id, expires_at) VALUES ($1, $2) ON CONFLICT (id) DO NOTHING")
            .bind(id)
            .bind(expires_at)
            .execute(&self.pool)
            .await
            .store()?;
        Ok(inserted.rows_affected() == 1)
    }
}
