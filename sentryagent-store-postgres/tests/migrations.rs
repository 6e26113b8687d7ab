//! Upgrades: a database created by the previous release's migrations, with
//! data in it, migrates to this release's schema and reads back as before.

use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

use sentryagent_core::store::{AgentStore, TrustPolicyStore};
use sentryagent_core::{AgentId, TenantId, TrustPolicyId};
use sentryagent_store_postgres::{PgOptions, PgStore};
use sentryagent_testkit::services;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};

const SECRET: &[u8] = b"a test secret of at least thirty-two bytes!";

/// The migrations of the release before the trust model (0005).
const PREVIOUS: &[&str] = &[
    "0001_init.sql",
    "0002_marketplace_and_dids.sql",
    "0003_billing_usage.sql",
    "0004_trust_policies.sql",
];

fn sql(s: &str) -> sqlx::AssertSqlSafe<String> {
    sqlx::AssertSqlSafe(s.to_owned())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_previous_schema_with_data_migrates_to_the_trust_model() {
    let url = services::database_url();
    let schema = services::unique_name("sa_test_upgrade");
    let options = match PgConnectOptions::from_str(&url) {
        Ok(o) => o.options([("search_path", schema.as_str())]),
        Err(e) => {
            let _: Option<()> = services::unavailable("PostgreSQL migration test", &e);
            return;
        }
    };
    let pool = match PgPoolOptions::new()
        .max_connections(2)
        .acquire_timeout(Duration::from_secs(2))
        .connect_with(options)
        .await
    {
        Ok(pool) => pool,
        Err(e) => {
            let _: Option<()> = services::unavailable("PostgreSQL migration test", &e);
            return;
        }
    };

    // The previous release's schema, as its migrator left it.
    let dir = std::env::temp_dir().join(services::unique_name("previous_migrations"));
    std::fs::create_dir_all(&dir).expect("a directory");
    let ours = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("migrations");
    for file in PREVIOUS {
        std::fs::copy(ours.join(file), dir.join(file)).expect("copy a migration");
    }
    let mut previous = sqlx::migrate::Migrator::new(dir.as_path())
        .await
        .expect("the previous migrator");
    previous.create_schema(schema.clone());
    previous.dangerous_set_table_name(format!("{schema}._sqlx_migrations"));
    previous.run(&pool).await.expect("the previous migrations");

    // Data written by the previous release.
    let (tenant, agent, policy) = (TenantId::new(), AgentId::new(), TrustPolicyId::new());
    sqlx::query(sql(
        "INSERT INTO tenants (id, name, tier, created_at) VALUES ($1, 'Acme', 'free', now())",
    ))
    .bind(tenant.as_uuid())
    .execute(&pool)
    .await
    .expect("a tenant");
    sqlx::query(sql(
        "INSERT INTO agents (tenant_id, id, name, description, capabilities, metadata, scopes, status, listed, \
         created_at, updated_at) VALUES ($1, $2, 'bot@acme.example', '', '{}', '{}', '{agents:read}', 'active', \
         true, now(), now())",
    ))
    .bind(tenant.as_uuid())
    .bind(agent.as_uuid())
    .execute(&pool)
    .await
    .expect("an agent");
    sqlx::query(sql(
        "INSERT INTO trust_policies (tenant_id, id, provider, repository, denied_events, description, created_at) \
         VALUES ($1, $2, 'github', 'acme/app', '{}', '', now())",
    ))
    .bind(tenant.as_uuid())
    .bind(policy.as_uuid())
    .execute(&pool)
    .await
    .expect("a bootstrap policy");

    // This release connects and migrates.
    let store = PgStore::connect(&url, SECRET, PgOptions::default().schema(&schema).max_connections(2))
        .await
        .expect("connect and migrate");
    let read = store.agent(tenant, agent).await.expect("read").expect("the agent");
    assert_eq!(read.name, "bot@acme.example");
    assert_eq!(read.scopes, ["agents:read"]);
    assert_eq!(read.origin, None, "agents registered before have no origin");
    let read = store
        .trust_policy(tenant, policy)
        .await
        .expect("read")
        .expect("the policy");
    assert!(
        read.max_scopes.is_empty(),
        "an old bootstrap policy gets the new default ceiling: none"
    );
    let applied: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
        "SELECT count(*) FROM {schema}._sqlx_migrations"
    )))
    .fetch_one(&pool)
    .await
    .expect("count");
    assert_eq!(applied, 5);

    let _ = sqlx::raw_sql(sqlx::AssertSqlSafe(format!("DROP SCHEMA {schema} CASCADE")))
        .execute(&pool)
        .await;
    let _ = std::fs::remove_dir_all(&dir);
}
