//! What the PostgreSQL test binaries share: the instance secret, an
//! identity provider on a store, schema clean-up and HTTP Basic.

// Each test binary includes this module and uses part of it.
#![allow(dead_code)]

use std::sync::Arc;

use sentryagent_core::SentryAgent;
use sentryagent_store_postgres::{PgStore, sqlx};

/// The master secret every instance of a test shares.
pub(crate) const SECRET: &[u8] = b"an-instance-shared-secret-of-32-bytes!";

/// An identity provider on `store` (no billing, so tiers are not enforced).
pub(crate) async fn instance(store: Arc<PgStore>) -> SentryAgent {
    SentryAgent::builder()
        .server_secret(SECRET)
        .expect("secret")
        .durable(store)
        .build()
        .await
        .expect("build")
}

/// Drops `schema` with everything in it, over `pool`.
pub(crate) async fn drop_schema_named(pool: &sqlx::PgPool, schema: &str) {
    let sql = format!("DROP SCHEMA IF EXISTS {schema} CASCADE");
    sqlx::raw_sql(sqlx::AssertSqlSafe(sql))
        .execute(pool)
        .await
        .expect("drop the test schema");
}

/// Drops the store's schema.
pub(crate) async fn drop_schema(store: &PgStore) {
    drop_schema_named(store.pool(), store.schema()).await;
}

/// An HTTP Basic `Authorization` value.
pub(crate) fn basic(id: &str, secret: &str) -> String {
    use base64::Engine as _;
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{id}:{secret}"))
    )
}
