use async_trait::async_trait;
use sentryagent_core::StoreResult;
use sentryagent_core::store::KeyStore;
use sentryagent_core::token::{KeyState, SigningAlgorithm, StoredKey};
use time::OffsetDateTime;

use crate::PgStore;
use crate::error::{ResultExt, corrupt};

#[derive(sqlx::FromRow)]
struct Row {
    kid: String,
    algorithm: String,
    private_key: Vec<u8>,
    state: String,
    created_at: OffsetDateTime,
    retire_after: Option<OffsetDateTime>,
}

#[async_trait]
impl KeyStore for PgStore {
    async fn signing_keys(&self) -> StoreResult<Vec<StoredKey>> {
        let rows: Vec<Row> = sqlx::query_as(
            "SELECT kid, algorithm, private_key, state, created_at, retire_after FROM signing_keys ORDER BY created_at, kid",
        )
        .fetch_all(&self.pool)
        .await
        .store()?;
        rows.into_iter()
            .map(|r| {
                Ok(StoredKey {
                    private_der: self.cipher.open(&r.kid, &r.private_key)?,
                    algorithm: SigningAlgorithm::parse(&r.algorithm).ok_or_else(|| corrupt("unknown key algorithm"))?,
                    state: KeyState::parse(&r.state).ok_or_else(|| corrupt("unknown key state"))?,
                    kid: r.kid,
                    created_at: r.created_at,
                    retire_after: r.retire_after,
                })
            })
            .collect()
    }

    async fn put_signing_key(&self, key: &StoredKey) -> StoreResult<()> {
        let sealed = self.cipher.seal(&key.kid, &key.private_der)?;
        sqlx::query(
            "INSERT INTO signing_keys (kid, algorithm, private_key, state, created_at, retire_after) \
             VALUES ($1, $2, $3, $4, $5, $6) \
             ON CONFLICT (kid) DO UPDATE SET state = EXCLUDED.state, retire_after = EXCLUDED.retire_after",
        )
        .bind(&key.kid)
        .bind(key.algorithm.as_str())
        .bind(sealed)
        .bind(key.state.as_str())
        .bind(key.created_at)
        .bind(key.retire_after)
        .execute(&self.pool)
        .await
        .store()?;
        Ok(())
    }

    async fn delete_signing_key(&self, kid: &str) -> StoreResult<()> {
        sqlx::query("DELETE FROM signing_keys WHERE kid = $1")
            .bind(kid)
            .execute(&self.pool)
            .await
            .store()?;
        Ok(())
    }
}
