use async_trait::async_trait;
use sentryagent_core::store::RevocationList;
use sentryagent_core::{StoreResult, TokenId};
use time::OffsetDateTime;

use crate::PgStore;
use crate::error::ResultExt;

/// Revoked token ids in PostgreSQL: durable and shared by every instance on
/// the same database. Expired entries are deleted as new ones arrive.
#[async_trait]
impl RevocationList for PgStore {
    async fn revoke(&self, jti: TokenId, expires_at: OffsetDateTime) -> StoreResult<()> {
        sqlx::query(
            "WITH purge AS (DELETE FROM revoked_tokens WHERE expires_at < now()) \
             INSERT INTO revoked_tokens (jti, expires_at) VALUES ($1, $2) \
             ON CONFLICT (jti) DO UPDATE SET expires_at = GREATEST(revoked_tokens.expires_at, EXCLUDED.expires_at)",
        )
        .bind(jti.as_uuid())
        .bind(expires_at)
        .execute(&self.pool)
        .await
        .store()?;
        Ok(())
    }

    async fn is_revoked(&self, jti: TokenId) -> StoreResult<bool> {
        let found: Option<i32> = sqlx::query_scalar("SELECT 1 FROM revoked_tokens WHERE jti = $1")
            .bind(jti.as_uuid())
            .fetch_optional(&self.pool)
            .await
            .store()?;
        Ok(found.is_some())
    }
}
