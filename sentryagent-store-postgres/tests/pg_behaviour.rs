//! PostgreSQL behaviour under concurrency and faults: two application
//! instances on one database, and a database that goes away and comes back.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use http::Method;
use sentryagent_core::agent::NewAgent;
use sentryagent_core::audit::{NewAuditEvent, Outcome};
use sentryagent_core::http::Request;
use sentryagent_core::token::TokenRequest;
use sentryagent_core::{Caller, Error, OAuthErrorCode, SentryAgent};
use sentryagent_store_postgres::{PgOptions, PgStore, sqlx};
use sentryagent_testkit::services::{self, OwnPostgres};

mod support;

use support::{SECRET, basic, drop_schema, instance};

async fn store(url: &str, schema: &str) -> Option<Arc<PgStore>> {
    let options = PgOptions::default()
        .schema(schema)
        .max_connections(4)
        .acquire_timeout(Duration::from_secs(1));
    match PgStore::connect(url, SECRET, options).await {
        Ok(store) => Some(Arc::new(store)),
        Err(e) => services::unavailable("PostgreSQL behaviour suite", &e),
    }
}

async fn token(idp: &SentryAgent, id: &str, secret: &str) -> Result<String, sentryagent_core::OAuthError> {
    let request = TokenRequest::parse(Some(&basic(id, secret)), b"grant_type=client_credentials")?;
    Ok(idp.issue_token(request, None).await?.access_token)
}

async fn admin(idp: &SentryAgent) -> (Caller, String) {
    let tenant = idp.create_tenant("Acme").await.expect("tenant");
    let token = token(idp, &tenant.admin_client_id, tenant.admin_client_secret.expose())
        .await
        .expect("admin token");
    let identity = idp.verify_access_token(&token, None).await.expect("verify");
    (Caller { identity, ip: None }, token)
}

/// Two application instances, each with its own store (pool, remembered
/// audit heads, coalesced reads), on one fresh schema, and an admin caller
/// of a new tenant made through the first. `None`: PostgreSQL is not there
/// (and not required).
struct TwoInstances {
    s1: Arc<PgStore>,
    a: SentryAgent,
    b: SentryAgent,
    caller: Caller,
}

async fn two_instances() -> Option<TwoInstances> {
    let schema = services::unique_name("sa_test");
    let url = services::database_url();
    let (s1, s2) = (store(&url, &schema).await?, store(&url, &schema).await?);
    let (a, b) = (instance(s1.clone()).await, instance(s2).await);
    let (caller, _) = admin(&a).await;
    Some(TwoInstances { s1, a, b, caller })
}

/// Two instances register the same name at once: one wins, the other gets
/// AGENT_NAME_TAKEN, never an internal error.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_registrations_of_one_name() {
    let Some(TwoInstances { s1, a, b, caller }) = two_instances().await else {
        return;
    };
    for round in 0..10 {
        let new = NewAgent {
            name: format!("twin{round}@acme.example"),
            ..Default::default()
        };
        let (ra, rb) = tokio::join!(a.register_agent(&caller, new.clone()), b.register_agent(&caller, new));
        let wins = [&ra, &rb].iter().filter(|r| r.is_ok()).count();
        assert_eq!(wins, 1, "round {round}: {ra:?} / {rb:?}");
        for r in [ra, rb] {
            if let Err(e) = r {
                assert!(
                    matches!(
                        e,
                        Error::Conflict {
                            code: sentryagent_core::ErrorCode::AgentNameTaken,
                            ..
                        }
                    ),
                    "{e:?}"
                );
            }
        }
    }
    drop_schema(&s1).await;
}

/// Two stores (two pools) on one database: a code is redeemed once between
/// them, and a refresh token rotated on one and used again on the other is
/// reuse that revokes its family for both.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn codes_and_refresh_tokens_are_one_use_across_instances() {
    let schema = services::unique_name("sa_test");
    let url = services::database_url();
    let (Some(s1), Some(s2)) = (store(&url, &schema).await, store(&url, &schema).await) else {
        return;
    };
    sentryagent_testkit::authorization::codes_redeem_once_across(s1.clone(), s2.clone()).await;
    sentryagent_testkit::authorization::refresh_reuse_detected_across(s1.clone(), s2).await;
    drop_schema(&s1).await;
}

/// Bursts of audit events from two instances stay one valid chain.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_instances_append_one_chain() {
    let Some(TwoInstances { s1, a, b, caller }) = two_instances().await else {
        return;
    };
    let mut tasks = Vec::new();
    for i in 0..40 {
        let (idp, caller) = (if i % 2 == 0 { a.clone() } else { b.clone() }, caller.clone());
        tasks.push(tokio::spawn(async move {
            let new = NewAgent {
                name: format!("agent{i}@acme.example"),
                ..Default::default()
            };
            idp.register_agent(&caller, new).await.expect("register");
        }));
    }
    for t in tasks {
        t.await.expect("task");
    }
    for idp in [&a, &b] {
        let v = idp.verify_audit_chain(caller.identity.tenant_id).await.expect("verify");
        assert!(v.valid, "{v:?}");
        // sign-up wrote 3 events, the admin token 1, each registration 2.
        assert_eq!(v.checked, 3 + 1 + 40 * 2);
    }
    drop_schema(&s1).await;
}

/// Each instance remembers the chain head it wrote last. Appending in turns,
/// every append after the first finds that head stale (the other instance
/// moved it): it must link after the other's events, not onto its own.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stale_remembered_head_links_after_the_other_instance() {
    let Some(TwoInstances { s1, a, b, caller }) = two_instances().await else {
        return;
    };
    let tenant = caller.identity.tenant_id;
    let mut seqs = Vec::new();
    for round in 0..3 {
        for idp in [&a, &b] {
            let event = NewAuditEvent::new("test.turn", Outcome::Success, "operator").detail("round", round);
            let sealed = idp.record(tenant, vec![event.clone(), event]).await.expect("record");
            seqs.extend(sealed.iter().map(|e| e.seq));
        }
    }
    // sign-up wrote 3 events and the admin token 1 before these 12.
    assert_eq!(seqs, (5..=16).collect::<Vec<u64>>());
    for idp in [&a, &b] {
        let v = idp.verify_audit_chain(tenant).await.expect("verify");
        assert!(v.valid, "{v:?}");
        assert_eq!(v.checked, 16);
    }
    drop_schema(&s1).await;
}

/// Once a rotation has committed, the old secret never succeeds again, even
/// with issuance racing it on another instance.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rotation_racing_issuance() {
    let Some(TwoInstances { s1, a, b, caller }) = two_instances().await else {
        return;
    };
    let created = a
        .register_agent(
            &caller,
            NewAgent {
                name: "bot@acme.example".into(),
                ..Default::default()
            },
        )
        .await
        .expect("register");
    let (client_id, old_secret) = (created.credential.client_id.clone(), created.secret.expose().to_owned());
    let stop = Arc::new(AtomicBool::new(false));
    let racer = {
        let (b, stop, client_id, old_secret) = (b.clone(), stop.clone(), client_id.clone(), old_secret.clone());
        tokio::spawn(async move {
            let mut results = Vec::new();
            while !stop.load(Ordering::Relaxed) {
                let started = Instant::now();
                let ok = token(&b, &client_id, &old_secret).await.is_ok();
                results.push((started, ok));
            }
            results
        })
    };
    tokio::time::sleep(Duration::from_millis(100)).await;
    let (_, new_secret) = a
        .rotate_credential(&caller, created.agent.id, created.credential.id)
        .await
        .expect("rotate");
    let committed = Instant::now();
    tokio::time::sleep(Duration::from_millis(200)).await;
    stop.store(true, Ordering::Relaxed);
    let results = racer.await.expect("racer");
    assert!(
        results.iter().any(|(_, ok)| *ok),
        "the old secret worked before the rotation"
    );
    let late: Vec<_> = results.iter().filter(|(t, ok)| *t > committed && *ok).collect();
    assert!(
        late.is_empty(),
        "{} successes with the old secret after the rotation",
        late.len()
    );
    assert!(
        results.iter().any(|(t, _)| *t > committed),
        "the race went on after the rotation"
    );
    token(&b, &client_id, new_secret.expose()).await.expect("new secret");
    drop_schema(&s1).await;
}

/// An unreachable database at start-up is a clear error naming the URL
/// without its password.
#[tokio::test]
async fn unreachable_at_startup_names_the_url() {
    let err = PgStore::connect(
        "postgres://app:hunter2-password@127.0.0.1:1/idp",
        SECRET,
        PgOptions::default().acquire_timeout(Duration::from_secs(1)),
    )
    .await
    .expect_err("no server on port 1");
    let message = err.to_string();
    assert!(message.contains("postgres://app:***@127.0.0.1:1/idp"), "{message}");
    assert!(!message.contains("hunter2"), "{message}");
}

fn bearer(token: &str) -> Request {
    let mut request = Request::default();
    request.headers.insert(
        http::header::AUTHORIZATION,
        format!("Bearer {token}").parse().expect("header"),
    );
    request
}

/// While PostgreSQL is down every request gets a 503 with the envelope (the
/// token endpoint `temporarily_unavailable`), the health report says so, and
/// the service recovers by itself when the database is back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn outage_answers_503_and_recovers() {
    let Some(pg) = OwnPostgres::init() else {
        let _: Option<()> = services::unavailable("PostgreSQL outage test", &"initdb is not available");
        return;
    };
    pg.start();
    let store = store(&pg.url(), "sentryagent").await.expect("own PostgreSQL");
    let idp = instance(store).await;
    let tenant = idp.create_tenant("Acme").await.expect("tenant");
    let admin = token(&idp, &tenant.admin_client_id, tenant.admin_client_secret.expose())
        .await
        .expect("token");
    assert_eq!(idp.serve(&Method::GET, "/agents", bearer(&admin)).await.status, 200);
    assert_eq!(idp.health().await.status, "ok");

    pg.stop();
    let down = idp.serve(&Method::GET, "/agents", bearer(&admin)).await;
    assert_eq!(down.status, 503);
    let body: serde_json::Value = serde_json::from_slice(&down.body).expect("json");
    assert_eq!(body["code"], "SERVICE_UNAVAILABLE");
    let refused = token(&idp, &tenant.admin_client_id, tenant.admin_client_secret.expose())
        .await
        .expect_err("no token without its audit event");
    assert_eq!(refused.error, OAuthErrorCode::TemporarilyUnavailable);
    let health = idp.serve(&Method::GET, "/health/detailed", Request::default()).await;
    assert_eq!(health.status, 503);

    pg.start();
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let answer = idp.serve(&Method::GET, "/agents", bearer(&admin)).await;
        if answer.status == 200 {
            break;
        }
        assert!(Instant::now() < deadline, "no recovery: {}", answer.status);
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    token(&idp, &tenant.admin_client_id, tenant.admin_client_secret.expose())
        .await
        .expect("tokens again after recovery");
    assert_eq!(idp.health().await.status, "ok");
}

/// A host application's own sqlx migrations on the same database and ours
/// keep separate histories: both apply, in either order, and re-running
/// either is a no-op.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn host_migrations_and_ours_coexist() {
    let ours = services::unique_name("sa_test");
    let host = services::unique_name("sa_test_host");
    let Some(store) = store(&services::database_url(), &ours).await else {
        return;
    };
    // The host's migrations: its own directory, its own schema as search path
    // (standing in for `public`), sqlx's default `_sqlx_migrations` table.
    let dir = std::env::temp_dir().join(services::unique_name("host_migrations"));
    std::fs::create_dir_all(&dir).expect("a migrations directory");
    std::fs::write(
        dir.join("0001_host_orders.sql"),
        "CREATE TABLE orders (id bigint PRIMARY KEY);",
    )
    .expect("a host migration");
    let host_pool = sqlx::postgres::PgPoolOptions::new()
        .max_connections(2)
        .connect_with(
            std::str::FromStr::from_str(&services::database_url())
                .map(|o: sqlx::postgres::PgConnectOptions| o.options([("search_path", host.as_str())]))
                .expect("options"),
        )
        .await
        .expect("the host's pool");
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!("CREATE SCHEMA {host}")))
        .execute(&host_pool)
        .await
        .expect("the host's schema");
    let migrator = sqlx::migrate::Migrator::new(dir.as_path())
        .await
        .expect("the host's migrator");
    migrator.run(&host_pool).await.expect("host migrations after ours");
    store.migrate().await.expect("ours again, after the host's");
    migrator.run(&host_pool).await.expect("the host's again");

    let count = |sql: String| {
        let pool = host_pool.clone();
        async move {
            sqlx::query_scalar::<_, i64>(sqlx::AssertSqlSafe(sql))
                .fetch_one(&pool)
                .await
                .expect("count")
        }
    };
    assert_eq!(count(format!("SELECT count(*) FROM {host}._sqlx_migrations")).await, 1);
    let ours_applied = count(format!("SELECT count(*) FROM {ours}._sqlx_migrations")).await;
    assert!(ours_applied >= 3, "our history is ours: {ours_applied}");
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!("DROP SCHEMA {host} CASCADE")))
        .execute(&host_pool)
        .await
        .expect("drop the host's schema");
    drop_schema(&store).await;
    let _ = std::fs::remove_dir_all(&dir);
}

/// Serves `idp`'s API on a loopback port: its base URL.
async fn serve(idp: SentryAgent) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("a port");
    let base = format!("http://{}/api/v1", listener.local_addr().expect("its address"));
    let app = axum::Router::new().nest("/api/v1", sentryagent_axum::router(idp));
    tokio::spawn(async move {
        let _ = axum::serve(
            listener,
            app.into_make_service_with_connect_info::<std::net::SocketAddr>(),
        )
        .await;
    });
    base
}

/// Over HTTP, on two instances of one database: a code redeemed at one is
/// refused at the other, and that replay revokes the grant, so the tokens
/// the first redemption issued stop working on both instances.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_code_replayed_at_another_instance_ends_its_grant() {
    use sentryagent_core::authorization::{Approval, NewOAuthClient, RegisteredKind};
    use serde_json::Value;

    let Some(TwoInstances { s1, a, b, caller }) = two_instances().await else {
        return;
    };
    let redirect = "http://127.0.0.1/callback";
    let (client, _) = a
        .register_oauth_client(
            &caller,
            NewOAuthClient {
                kind: RegisteredKind::Public,
                auth_method: None,
                redirect_uris: vec![redirect.into()],
                name: Some("Editor".into()),
                logo_uri: None,
                client_uri: None,
            },
        )
        .await
        .expect("a public client");
    // RFC 7636 Appendix B.
    let (verifier, challenge) = (
        "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk",
        "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM",
    );
    let issued = a
        .issue_authorization_code(Approval {
            tenant_id: caller.identity.tenant_id,
            user_id: "user-17".into(),
            client_id: client.client_id.clone(),
            redirect_uri: redirect.into(),
            code_challenge: challenge.into(),
            scopes: vec!["tools:call".into()],
            resources: vec!["https://mcp.acme.example/mcp".into()],
        })
        .await
        .expect("a code");
    let (base_a, base_b) = (serve(a).await, serve(b).await);
    let http = reqwest::Client::new();
    let redeem = |base: &str| {
        http.post(format!("{base}/oauth2/token"))
            .form(&[
                ("grant_type", "authorization_code"),
                ("client_id", client.client_id.as_str()),
                ("code", issued.code.expose()),
                ("redirect_uri", redirect),
                ("code_verifier", verifier),
            ])
            .send()
    };
    let first = redeem(&base_a).await.expect("instance A answers");
    assert_eq!(first.status(), 200);
    let tokens: Value = first.json().await.expect("tokens");
    let replay = redeem(&base_b).await.expect("instance B answers");
    assert_eq!(replay.status(), 400);
    let refusal: Value = replay.json().await.expect("an OAuth error");
    assert_eq!(refusal["error"], "invalid_grant", "{refusal}");

    // The first redemption's tokens are dead, on either instance.
    for base in [&base_a, &base_b] {
        let refreshed = http
            .post(format!("{base}/oauth2/token"))
            .form(&[
                ("grant_type", "refresh_token"),
                ("client_id", client.client_id.as_str()),
                (
                    "refresh_token",
                    tokens["refresh_token"].as_str().expect("a refresh token"),
                ),
            ])
            .send()
            .await
            .expect("an answer");
        assert_eq!(refreshed.status(), 400, "{base}");
        let introspected: Value = http
            .post(format!("{base}/oauth2/introspect"))
            .form(&[
                ("client_id", client.client_id.as_str()),
                ("token", tokens["access_token"].as_str().expect("an access token")),
            ])
            .send()
            .await
            .expect("an answer")
            .json()
            .await
            .expect("JSON");
        assert_eq!(introspected["active"], false, "{base}: {introspected}");
    }
    drop_schema(&s1).await;
}

/// The background's full verification on PostgreSQL: bounded slices, one
/// run resumed by another instance, the pass reported by `/audit/verify`,
/// an edit of the columns alone (the stored canonical bytes intact) found;
/// and the background task runs the turns by itself.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_background_full_verification_resumes_across_instances() {
    use sentryagent_core::audit::VerifyMode;

    let schema = services::unique_name("sa_test");
    let url = services::database_url();
    let Some(s1) = store(&url, &schema).await else {
        return;
    };
    let Some(s2) = store(&url, &schema).await else {
        return;
    };
    let build = |store: Arc<PgStore>| async move {
        SentryAgent::builder()
            .server_secret(SECRET)
            .expect("secret")
            .durable(store)
            .audit_full_verification(Some(Duration::from_secs(3600)))
            .audit_verification_turn(Duration::from_millis(100))
            .build()
            .await
            .expect("build")
    };
    let (a, b) = (build(s1.clone()).await, build(s2).await);
    let tenant = a.create_tenant("Acme").await.expect("tenant").tenant.id;
    for i in 0..6 {
        let event = NewAuditEvent::new("test.event", Outcome::Success, "test").detail("i", i);
        a.record(tenant, vec![event]).await.expect("record");
    }
    let head = a.verify_audit_chain(tenant).await.expect("verify").reached_seq;
    let turn = a.audit_verification_turn(3).await.expect("turn").expect("due");
    assert!(turn.tenant == tenant && !turn.verification.complete && turn.verification.checked == 3);
    let mut turns = 1;
    let done = loop {
        let turn = b.audit_verification_turn(3).await.expect("turn").expect("due");
        turns += 1;
        assert!(turn.verification.valid && turn.verification.from_seq == 0, "{turn:?}");
        if turn.verification.complete {
            break turn.verification;
        }
        assert!(turns < 10);
    };
    assert_eq!(done.checked, head);
    let reported = a
        .verify_audit_step(tenant, VerifyMode::Incremental, 100)
        .await
        .expect("verify")
        .last_full_verification
        .expect("reported");
    assert_eq!(reported.seq, head);
    assert_eq!(b.audit_verification_turn(3).await.expect("turn"), None, "not due");

    // Another tenant, verified by the background task itself.
    let other = a.create_tenant("Other").await.expect("tenant").tenant.id;
    a.record(other, vec![NewAuditEvent::new("test.event", Outcome::Success, "test")])
        .await
        .expect("record");
    let fresh = build(s1.clone()).await;
    let background = fresh.spawn_background();
    let deadline = Instant::now() + Duration::from_secs(20);
    while fresh
        .verify_audit_step(other, VerifyMode::Incremental, 100)
        .await
        .expect("verify")
        .last_full_verification
        .is_none()
    {
        assert!(Instant::now() < deadline, "no full verification by the background task");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    background.stop().await;

    // The columns edited, the canonical bytes left as they were.
    sqlx::query(
        "UPDATE audit_events SET details = jsonb_set(coalesce(details, \
             convert_from(canonical, 'UTF8')::jsonb -> 'details'), '{i}', '99') WHERE tenant_id = $1 AND seq = 3",
    )
    .bind(tenant.as_uuid())
    .execute(s1.pool())
    .await
    .expect("edit");
    let v = a.verify_audit_chain(tenant).await.expect("verify");
    assert!(!v.valid && v.checked == 2, "{v:?}");
    assert!(
        v.reason.as_deref().is_some_and(|r| r.contains("fields were changed")),
        "{v:?}"
    );
    drop_schema(&s1).await;
}

/// Each column the API serves, edited alone in the table with the event's
/// canonical bytes left as they were, fails the comparison PostgreSQL runs
/// in every verification page ("fields were changed"), and the chain is
/// valid again once the column is put back. A `details` column (set only on
/// events written before 0015) holding exactly the bytes' details is valid.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_column_edited_alone_is_caught() {
    let url = services::database_url();
    let Some(s1) = store(&url, &services::unique_name("sa_test")).await else {
        return;
    };
    let a = instance(s1.clone()).await;
    let tenant = a.create_tenant("Acme").await.expect("tenant").tenant.id;
    let agent = sentryagent_core::AgentId::new();
    let event = NewAuditEvent::new("test.event", Outcome::Success, "tester")
        .agent(agent)
        .ip(Some([127, 0, 0, 1].into()))
        .detail("i", 1);
    let event = a.record(tenant, vec![event]).await.expect("record").remove(0);
    let (id, agent) = (event.id.as_uuid(), agent.as_uuid());
    let cases = [
        ("id", "gen_random_uuid()".to_owned(), format!("'{id}'")),
        ("agent_id", "gen_random_uuid()".to_owned(), format!("'{agent}'")),
        ("agent_id", "NULL".to_owned(), format!("'{agent}'")),
        ("actor", "'evil'".to_owned(), "'tester'".to_owned()),
        ("action", "'token.issued'".to_owned(), "'test.event'".to_owned()),
        ("outcome", "'failure'".to_owned(), "'success'".to_owned()),
        ("ip", "'10.0.0.1'".to_owned(), "'127.0.0.1'".to_owned()),
        ("ip", "NULL".to_owned(), "'127.0.0.1'".to_owned()),
        (
            "at",
            "at + interval '1 microsecond'".to_owned(),
            "at - interval '1 microsecond'".to_owned(),
        ),
        ("details", "'{\"i\": 2}'".to_owned(), "NULL".to_owned()),
    ];
    let set = |column: &str, value: &str| {
        format!(
            "UPDATE audit_events SET {column} = {value} WHERE tenant_id = '{}' AND seq = {}",
            tenant.as_uuid(),
            event.seq
        )
    };
    let run = |sql: String| {
        let pool = s1.pool().clone();
        async move {
            sqlx::query(sqlx::AssertSqlSafe(sql))
                .execute(&pool)
                .await
                .expect("edit");
        }
    };
    for (column, edited, original) in &cases {
        run(set(column, edited)).await;
        let v = a.verify_audit_chain(tenant).await.expect("verify");
        assert!(!v.valid, "{column} = {edited}: {v:?}");
        assert!(
            v.reason.as_deref().is_some_and(|r| r.contains("fields were changed")),
            "{column} = {edited}: {v:?}"
        );
        run(set(column, original)).await;
        let v = a.verify_audit_chain(tenant).await.expect("verify");
        assert!(v.valid, "{column} put back: {v:?}");
    }
    run(set("details", "'{\"i\": 1}'")).await;
    let v = a.verify_audit_chain(tenant).await.expect("verify");
    assert!(v.valid, "details equal to the bytes' own: {v:?}");
    drop_schema(&s1).await;
}
