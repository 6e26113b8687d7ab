use std::collections::HashMap;

use async_trait::async_trait;
use sentryagent_core::store::RevocationList;
use sentryagent_core::{StoreResult, TokenId};
use sqlx::PgPool;
use time::OffsetDateTime;
use uuid::Uuid;

use crate::PgStore;
use crate::lookups::BatchFuture;
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
        Ok(self.reads.revoked.get(&self.pool, jti).await?.is_some())
    }
}

/// Which of these token ids are revoked, in one query (see [`crate::lookups`]).
pub(crate) fn revoked(pool: PgPool, jtis: Vec<TokenId>) -> BatchFuture<TokenId, ()> {
    Box::pin(async move {
        let ids: Vec<Uuid> = jtis.iter().map(|j| *j.as_uuid()).collect();
        let found: Vec<Uuid> = sqlx::query_scalar("SELECT jti FROM revoked_tokens WHERE jti = ANY($1)")
            .bind(ids)
            .fetch_all(&pool)
            .await
            .store()?;
        Ok(found.into_iter().map(|j| (TokenId::from_uuid(j), ())).collect::<HashMap<_, _>>())
    })
}
