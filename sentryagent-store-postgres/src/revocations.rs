use std::collections::HashMap;

use async_trait::async_trait;
use sentryagent_core::store::RevocationList;
use sentryagent_core::{StoreResult, TokenId};
use sqlx::PgConnection;
use time::OffsetDateTime;
use uuid::Uuid;

use crate::PgStore;
use crate::error::ResultExt;
use crate::lookups::BatchFuture;

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
        Ok(self.reads.revoked.get(&self.warm, jti).await?.is_some())
    }
}

/// Token ids a revocation query checks at once.
pub(crate) const BATCH: usize = 16;

/// Which of these token ids (at most [`BATCH`]) are revoked, in one query
/// (see [`crate::lookups`]). The query always has [`BATCH`] parameters, the
/// first id repeated in the unused ones: PostgreSQL then plans it once per
/// connection. With an array parameter it estimates the custom plan for a
/// short array cheaper than the generic one, and plans every call anew
/// (most of the query's cost, measured with pg_stat_statements).
pub(crate) fn revoked(conn: &mut PgConnection, jtis: Vec<TokenId>) -> BatchFuture<'_, TokenId, ()> {
    Box::pin(async move {
        let mut query = sqlx::query_scalar(REVOKED_AMONG);
        for i in 0..BATCH {
            let jti = jtis.get(i).or(jtis.first()).map(|j| *j.as_uuid());
            query = query.bind(jti);
        }
        let found: Vec<Uuid> = query.fetch_all(&mut *conn).await.store()?;
        Ok(found
            .into_iter()
            .map(|j| (TokenId::from_uuid(j), ()))
            .collect::<HashMap<_, _>>())
    })
}

const REVOKED_AMONG: &str = "SELECT jti FROM revoked_tokens WHERE jti IN \
     ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16)";

#[cfg(test)]
mod tests {
    #[test]
    fn the_revocation_query_has_one_parameter_a_slot() {
        let last = format!("${}", super::BATCH);
        assert!(super::REVOKED_AMONG.contains(&format!("{last})")), "ends with {last}");
        assert_eq!(super::REVOKED_AMONG.matches('$').count(), super::BATCH);
    }
}
