//! A slow or locked database, and an exhausted pool: every request that
//! cannot get its answer from PostgreSQL in time is told so honestly (503
//! with `Retry-After`; `temporarily_unavailable` at the OAuth endpoints),
//! never a 500, and the next request after the database frees up succeeds.
//! Each test runs on the shared PostgreSQL in a schema of its own; the
//! locks are taken on that schema's tables only.

use std::sync::Arc;
use std::time::{Duration, Instant};

use http::{Method, StatusCode};
use sentryagent_core::SentryAgent;
use sentryagent_core::http::{Request, Response};
use sentryagent_store_postgres::sqlx::Connection as _;
use sentryagent_store_postgres::sqlx::postgres::PgConnection;
use sentryagent_store_postgres::{PgOptions, PgStore, sqlx};
use sentryagent_testkit::services;
use serde_json::Value;

mod support;

use support::{SECRET, basic, drop_schema, instance};

/// A store on a schema of its own, whose statements give up on a lock
/// after `lock_timeout` and in any case after `statement_timeout`.
async fn store(lock_timeout: Duration, statement_timeout: Duration) -> Option<Arc<PgStore>> {
    let options = PgOptions::default()
        .schema(services::unique_name("sa_test"))
        .max_connections(4)
        .acquire_timeout(Duration::from_secs(1))
        // The warm connection kept by the hot paths goes back to the pool
        // within 1.5 × this, under the acquire timeout, for the test that
        // takes every connection of the pool.
        .ping_after_idle(Duration::from_millis(300))
        .lock_timeout(lock_timeout)
        .statement_timeout(statement_timeout);
    match PgStore::connect(&services::database_url(), SECRET, options).await {
        Ok(store) => Some(Arc::new(store)),
        Err(e) => services::unavailable("PostgreSQL timeouts", &e),
    }
}

/// `POST /oauth2/token` through the core's route layer, as an adapter sends it.
async fn token_request(idp: &SentryAgent, id: &str, secret: &str) -> Response {
    let mut request = Request {
        body: "grant_type=client_credentials".into(),
        ..Request::default()
    };
    request
        .headers
        .insert(http::header::AUTHORIZATION, basic(id, secret).parse().expect("header"));
    request.headers.insert(
        http::header::CONTENT_TYPE,
        "application/x-www-form-urlencoded".parse().expect("header"),
    );
    idp.serve(&Method::POST, "/oauth2/token", request).await
}

fn json(response: &Response) -> Value {
    serde_json::from_slice(&response.body).unwrap_or(Value::Null)
}

fn access_token(response: &Response) -> String {
    assert_eq!(response.status, StatusCode::OK, "{}", json(response));
    json(response)["access_token"].as_str().expect("a token").to_owned()
}

/// A 503 that says when to retry, in the OAuth form or the API's envelope.
#[track_caller]
fn assert_unavailable(response: &Response, oauth: bool) {
    let body = json(response);
    assert_eq!(response.status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert!(response.headers.contains_key(http::header::RETRY_AFTER), "{body}");
    if oauth {
        assert_eq!(body["error"], "temporarily_unavailable", "{body}");
        assert_eq!(response.headers[http::header::CACHE_CONTROL], "no-store");
    } else {
        assert_eq!(body["code"], "SERVICE_UNAVAILABLE", "{body}");
    }
}

fn register(admin: &str, name: &str) -> Request {
    let mut request = Request {
        body: serde_json::json!({ "name": name }).to_string().into(),
        ..Request::default()
    };
    request.headers.insert(
        http::header::AUTHORIZATION,
        format!("Bearer {admin}").parse().expect("header"),
    );
    request
        .headers
        .insert(http::header::CONTENT_TYPE, "application/json".parse().expect("header"));
    request
}

/// Another session holding `ACCESS EXCLUSIVE` on one of the schema's
/// tables, as a migration or an operator's maintenance would, until dropped
/// or released.
struct TableLock(PgConnection);

impl TableLock {
    async fn take(schema: &str, table: &str) -> Self {
        let mut conn = PgConnection::connect(&services::database_url())
            .await
            .expect("a session of the test's own");
        sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
            "BEGIN; LOCK TABLE {schema}.{table} IN ACCESS EXCLUSIVE MODE"
        )))
        .execute(&mut conn)
        .await
        .expect("lock");
        Self(conn)
    }

    async fn release(mut self) {
        sqlx::raw_sql("ROLLBACK").execute(&mut self.0).await.expect("unlock");
    }
}

/// With the audit table locked, token requests and management calls wait
/// for their audit event no longer than the store's timeouts and are
/// answered 503, each of a burst; once the lock is gone the very next
/// request succeeds. (The statement timeout cuts the wait here.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_locked_audit_table_answers_503_and_recovers_at_once() {
    let Some(store) = store(Duration::from_secs(30), Duration::from_millis(800)).await else {
        return;
    };
    let idp = instance(store.clone()).await;
    let tenant = idp.create_tenant("Acme").await.expect("tenant");
    let (id, secret) = (
        tenant.admin_client_id.clone(),
        tenant.admin_client_secret.expose().to_owned(),
    );
    let admin = access_token(&token_request(&idp, &id, &secret).await);

    let lock = TableLock::take(store.schema(), "audit_events").await;
    let started = Instant::now();
    let mut burst = tokio::task::JoinSet::new();
    for _ in 0..8 {
        let (idp, id, secret) = (idp.clone(), id.clone(), secret.clone());
        burst.spawn(async move {
            let asked = Instant::now();
            (token_request(&idp, &id, &secret).await, asked.elapsed())
        });
    }
    let mut waits = Vec::new();
    while let Some(done) = burst.join_next().await {
        let (answer, waited) = done.expect("no panic");
        assert_unavailable(&answer, true);
        waits.push(waited);
    }
    // Measured, not asserted: how long the burst waited for its answers.
    eprintln!(
        "locked audit table: 8 token requests answered 503 within {:?} (longest wait {:?})",
        started.elapsed(),
        waits.iter().max()
    );
    let management = idp
        .serve(&Method::POST, "/agents", register(&admin, "bot@acme.example"))
        .await;
    assert_unavailable(&management, false);

    lock.release().await;
    access_token(&token_request(&idp, &id, &secret).await);
    // (The agent of the refused registration was stored before its audit
    // event failed: registering is not one transaction with its audit.)
    let registered = idp
        .serve(&Method::POST, "/agents", register(&admin, "bot2@acme.example"))
        .await;
    assert_eq!(registered.status, StatusCode::CREATED, "{}", json(&registered));
    let verified = idp.verify_audit_chain(tenant.tenant.id).await.expect("verify");
    assert!(verified.valid, "{verified:?}");
    drop_schema(&store).await;
}

/// A locked credential table (the token endpoint's client lookup) and an
/// exhausted pool answer 503 `temporarily_unavailable` as well. (The lock
/// timeout cuts the wait here.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_locked_credential_table_and_an_exhausted_pool_answer_503() {
    let Some(store) = store(Duration::from_millis(300), Duration::from_secs(30)).await else {
        return;
    };
    let idp = instance(store.clone()).await;
    let tenant = idp.create_tenant("Acme").await.expect("tenant");
    let (id, secret) = (
        tenant.admin_client_id.clone(),
        tenant.admin_client_secret.expose().to_owned(),
    );
    access_token(&token_request(&idp, &id, &secret).await);

    let lock = TableLock::take(store.schema(), "credentials").await;
    assert_unavailable(&token_request(&idp, &id, &secret).await, true);
    lock.release().await;
    access_token(&token_request(&idp, &id, &secret).await);

    // Every connection of the pool taken by someone else.
    let mut held = Vec::new();
    for _ in 0..4 {
        held.push(store.pool().acquire().await.expect("a connection"));
    }
    assert_unavailable(&token_request(&idp, &id, &secret).await, true);
    drop(held);
    access_token(&token_request(&idp, &id, &secret).await);
    drop_schema(&store).await;
}
