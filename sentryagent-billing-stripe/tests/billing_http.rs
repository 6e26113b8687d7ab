//! Billing through the whole API: the Stripe backend behind the core's
//! `/billing/*` routes over a real socket, webhooks signed with Stripe's
//! scheme, a stand-in Stripe API for Checkout, and the free tier's limits
//! lifted by a `pro` subscription.

mod common;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::http::StatusCode;
use common::{Recorded, StandIn, WEBHOOK_SECRET, billing, fixture, sign};
use sentryagent_core::SentryAgent;
use sentryagent_testkit::{Answer, TestApp};
use serde_json::{Value, json};

const PRO_PRICE: &str = "price_pro_test_123";

async fn start(listener: tokio::net::TcpListener, idp: SentryAgent) {
    let app = Router::new().nest("/api/v1", sentryagent_axum::router(idp));
    tokio::spawn(async move {
        let _ = axum::serve(listener, app.into_make_service_with_connect_info::<SocketAddr>()).await;
    });
}

fn open_session(_: &Recorded) -> (StatusCode, String) {
    (
        StatusCode::OK,
        String::from_utf8(fixture("checkout_session_open.json")).expect("utf-8"),
    )
}

async fn app(stripe_base: Option<String>) -> TestApp {
    let provider = Arc::new(billing(stripe_base));
    TestApp::start_with(start, move |b| {
        b.billing(provider)
            .tier("pro", |t| t.price_id = Some(PRO_PRICE.into()))
            .quota_cache_ttl(Duration::from_millis(20))
    })
    .await
}

fn now() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}

fn subscription_event(id: &str, kind: &str, created: i64, tenant: &str, status: &str) -> Vec<u8> {
    json!({
        "id": id,
        "object": "event",
        "type": kind,
        "created": created,
        "data": {"object": {
            "id": "sub_test_1",
            "object": "subscription",
            "customer": "cus_test_1",
            "status": status,
            "metadata": {"tenant_id": tenant},
            "items": {"object": "list", "data": [{
                "price": {"id": PRO_PRICE, "object": "price"},
                "current_period_end": created + 30 * 86_400
            }]}
        }}
    })
    .to_string()
    .into_bytes()
}

async fn webhook(app: &TestApp, payload: &[u8], signature: Option<String>) -> Answer {
    let mut request = app
        .request(reqwest::Method::POST, "/billing/webhook", None)
        .header("content-type", "application/json")
        .body(payload.to_vec());
    if let Some(signature) = signature {
        request = request.header("stripe-signature", signature);
    }
    app.send(request).await
}

async fn subscription(app: &TestApp, admin: &str) -> Value {
    app.get("/billing/subscription", admin).await.json
}

/// Checkout creates a Stripe Checkout Session for the tier's price and
/// answers its URL.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn checkout_answers_the_session_url() {
    let stripe = StandIn::start(open_session).await;
    let app = app(Some(stripe.base.clone())).await;
    let t = app.signup("Acme").await;
    let admin = app.admin_token(&t).await;
    let answer = app.post("/billing/checkout", &admin, &json!({"tier": "pro"})).await;
    answer.assert_status(200);
    assert!(
        answer.json["url"]
            .as_str()
            .unwrap_or_default()
            .starts_with("https://checkout.stripe.com/")
    );
    let sent = stripe.requests();
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].field("line_items[0][price]"), Some(PRO_PRICE));
    assert_eq!(sent[0].field("client_reference_id"), Some(t.id.as_str()));
    assert_eq!(sent[0].field("mode"), Some("subscription"));
    app.post("/billing/checkout", &admin, &json!({"tier": "enterprise"}))
        .await
        .assert_error(400, "VALIDATION_ERROR");
    app.post("/billing/checkout", &admin, &json!({"tier": "gold"}))
        .await
        .assert_error(400, "VALIDATION_ERROR");
}

/// Signed events are applied once; bad, missing and stale signatures are
/// 400 and change nothing; a late `updated` never revives a deleted subscription.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn webhooks_are_verified_applied_once_and_in_order() {
    let app = app(None).await;
    let t = app.signup("Acme").await;
    let admin = app.admin_token(&t).await;
    let created = now() - 60;
    let active = subscription_event("evt_a1", "customer.subscription.created", created, &t.id, "active");

    for signature in [
        Some(sign(&active, "whsec_wrong", now())),
        None,
        Some("t=abc,v1=zz".to_owned()),
        Some(sign(&active, WEBHOOK_SECRET, now() - 301)),
    ] {
        webhook(&app, &active, signature)
            .await
            .assert_error(400, "WEBHOOK_REJECTED");
        assert_eq!(subscription(&app, &admin).await["status"], "none");
    }

    let applied = webhook(&app, &active, Some(sign(&active, WEBHOOK_SECRET, now()))).await;
    applied.assert_status(200);
    assert_eq!(applied.json["applied"], true);
    let sub = subscription(&app, &admin).await;
    assert_eq!(
        (sub["status"].as_str(), sub["tier"].as_str()),
        (Some("active"), Some("pro"))
    );
    let again = webhook(&app, &active, Some(sign(&active, WEBHOOK_SECRET, now()))).await;
    assert_eq!(again.json["applied"], false, "the same event is applied once");

    let deleted = subscription_event(
        "evt_d1",
        "customer.subscription.deleted",
        created + 20,
        &t.id,
        "canceled",
    );
    webhook(&app, &deleted, Some(sign(&deleted, WEBHOOK_SECRET, now())))
        .await
        .assert_status(200);
    let late = subscription_event("evt_u1", "customer.subscription.updated", created + 10, &t.id, "active");
    let late_answer = webhook(&app, &late, Some(sign(&late, WEBHOOK_SECRET, now()))).await;
    assert_eq!(late_answer.json["applied"], false);
    let sub = subscription(&app, &admin).await;
    assert_eq!(
        (sub["status"].as_str(), sub["tier"].as_str()),
        (Some("canceled"), Some("free"))
    );
    let me = app.get("/tenants/me", &admin).await;
    assert_eq!(me.json["tier"], "free");
    let audit = app.get("/audit?action=billing.subscription_updated", &admin).await;
    assert_eq!(audit.json["items"].as_array().map(Vec::len), Some(2));
}

/// The 11th agent and the 1,001st call of the day are refused on the free
/// tier; after a `pro` subscription event both pass.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pro_subscription_lifts_the_free_limits() {
    let app = app(None).await;
    let t = app.signup("Acme").await;
    let admin = app.admin_token(&t).await; // call 1
    for i in 0..10 {
        app.register(&admin, &format!("a{i}@acme.example"), json!({})).await; // calls 2..11
    }
    app.post("/agents", &admin, &json!({"name": "a10@acme.example"}))
        .await
        .assert_error(403, "TIER_AGENT_LIMIT"); // call 12
    for _ in 12..1_000 {
        app.get("/tenants/me", &admin).await.assert_status(200);
    }
    app.get("/tenants/me", &admin)
        .await
        .assert_error(429, "TIER_QUOTA_EXCEEDED");

    let pro = subscription_event("evt_p1", "customer.subscription.created", now(), &t.id, "active");
    webhook(&app, &pro, Some(sign(&pro, WEBHOOK_SECRET, now())))
        .await
        .assert_status(200);
    tokio::time::sleep(Duration::from_millis(30)).await;
    app.get("/tenants/me", &admin).await.assert_status(200);
    app.register(&admin, "a10@acme.example", json!({})).await;
    let usage = app.get("/usage", &admin).await;
    assert_eq!(usage.json["tier"], "pro");
    assert!(usage.json["today"]["apiCalls"].as_u64().unwrap_or_default() > 1_000);
}

/// A PostgreSQL store in a schema of its own whose statements give up on a
/// lock within a second.
async fn postgres() -> Option<Arc<sentryagent_store_postgres::PgStore>> {
    use sentryagent_store_postgres::{PgOptions, PgStore};
    let mut options = PgOptions::default()
        .schema(sentryagent_testkit::services::unique_name("sa_test"))
        .max_connections(4);
    options.statement_timeout = Duration::from_secs(1);
    match PgStore::connect(&sentryagent_testkit::services::database_url(), &[7u8; 32], options).await {
        Ok(store) => Some(Arc::new(store)),
        Err(e) => sentryagent_testkit::services::unavailable("Stripe webhooks on PostgreSQL", &e),
    }
}

/// Applying an event fails after Stripe delivered it (the database could
/// not take the subscription's update): the webhook answers 5xx, so Stripe
/// delivers it again, and that delivery applies it. The event is recorded as
/// handled only together with what it changes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_event_whose_apply_failed_is_applied_when_stripe_retries() {
    use sentryagent_core::store::Stores;
    use sentryagent_store_postgres::sqlx::{self, Connection as _};

    let Some(pg) = postgres().await else {
        return;
    };
    let provider = Arc::new(billing(None));
    let stores = Stores::new(pg.clone());
    let app = TestApp::start_with(start, move |b| {
        b.stores(stores)
            .group_commit(true)
            .billing(provider)
            .tier("pro", |t| t.price_id = Some(PRO_PRICE.into()))
            .quota_cache_ttl(Duration::from_millis(20))
    })
    .await;
    let t = app.signup("Acme").await;
    let admin = app.admin_token(&t).await;
    let event = subscription_event(
        "evt_retry_1",
        "customer.subscription.created",
        now() - 60,
        &t.id,
        "active",
    );

    // Another session holds the subscriptions table, as a migration would.
    let mut lock = sqlx::postgres::PgConnection::connect(&sentryagent_testkit::services::database_url())
        .await
        .expect("a session of the test's own");
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
        "BEGIN; LOCK TABLE {}.subscriptions IN ACCESS EXCLUSIVE MODE",
        pg.schema()
    )))
    .execute(&mut lock)
    .await
    .expect("lock");
    let failed = webhook(&app, &event, Some(sign(&event, WEBHOOK_SECRET, now()))).await;
    assert!(
        failed.status.is_server_error(),
        "Stripe must retry: {} {}",
        failed.status,
        failed.text
    );
    sqlx::raw_sql("ROLLBACK").execute(&mut lock).await.expect("unlock");

    // Stripe's retry.
    let retried = webhook(&app, &event, Some(sign(&event, WEBHOOK_SECRET, now()))).await;
    retried.assert_status(200);
    assert_eq!(retried.json["applied"], true, "{}", retried.text);
    let sub = subscription(&app, &admin).await;
    assert_eq!(
        (sub["status"].as_str(), sub["tier"].as_str()),
        (Some("active"), Some("pro")),
        "{sub}"
    );
    assert_eq!(app.get("/tenants/me", &admin).await.json["tier"], "pro");
    let again = webhook(&app, &event, Some(sign(&event, WEBHOOK_SECRET, now()))).await;
    assert_eq!(again.json["applied"], false, "still applied once");
    let audit = app.get("/audit?action=billing.subscription_updated", &admin).await;
    assert_eq!(audit.json["items"].as_array().map(Vec::len), Some(1), "{}", audit.text);

    let drop = format!("DROP SCHEMA IF EXISTS {} CASCADE", pg.schema());
    let _ = sqlx::raw_sql(sqlx::AssertSqlSafe(drop)).execute(pg.pool()).await;
}
