//! The store conformance suite against PostgreSQL, each case in a schema of
//! its own that is dropped afterwards.

use std::sync::Arc;
use std::time::Duration;

use sentryagent_store_postgres::{PgOptions, PgStore};
use sentryagent_testkit::services;

async fn postgres() -> Option<Arc<PgStore>> {
    let options = PgOptions::default()
        .schema(services::unique_name("sa_test"))
        .max_connections(4)
        .acquire_timeout(Duration::from_secs(5));
    match PgStore::connect(&services::database_url(), &[7u8; 32], options).await {
        Ok(store) => Some(Arc::new(store)),
        Err(e) => services::unavailable("PostgreSQL store suite", &e),
    }
}

async fn drop_schema(store: Arc<PgStore>) {
    let sql = format!("DROP SCHEMA IF EXISTS {} CASCADE", store.schema());
    sqlx_drop(&store, sql).await;
}

async fn sqlx_drop(store: &PgStore, sql: String) {
    use sentryagent_store_postgres::sqlx;
    sqlx::raw_sql(sqlx::AssertSqlSafe(sql))
        .execute(store.pool())
        .await
        .expect("drop the test schema");
}

sentryagent_testkit::store_conformance!(postgres, drop_schema);
