//! Two instances sharing one Redis, and a Redis that goes away: real
//! sockets, the axum adapter, a Redis of the test's own for the outage.

use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Router;
use axum::routing::get;
use sentryagent_axum::{Agent, SentryAgent};
use sentryagent_core::ratelimit::{Quota, RouteGroup};
use sentryagent_core::resource::ResourcePolicy;
use sentryagent_core::{MemoryStore, Signup};
use sentryagent_store_redis::{RedisOptions, RedisStore};
use sentryagent_testkit::services;
use serde_json::{Value, json};

async fn whoami(agent: Agent) -> axum::Json<sentryagent_core::AgentIdentity> {
    axum::Json(agent.0)
}

/// Serves an instance on a loopback port; returns its base URL.
async fn serve(idp: SentryAgent) -> String {
    // `/whoami` takes the agents of every tenant these cases sign up.
    idp.protect(ResourcePolicy::new(idp.settings().audience.clone()).any_tenant());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("a port");
    let base = format!("http://{}", listener.local_addr().expect("address"));
    let app = Router::new()
        .nest("/api/v1", sentryagent_axum::router(idp.clone()))
        .route("/whoami", get(whoami))
        .with_state(idp);
    tokio::spawn(async move {
        let _ = axum::serve(listener, app.into_make_service_with_connect_info::<SocketAddr>()).await;
    });
    base
}

async fn redis_at(url: &str, prefix: &str) -> Option<Arc<RedisStore>> {
    match RedisStore::connect(url, RedisOptions::default().prefix(prefix)).await {
        Ok(r) => Some(Arc::new(r)),
        Err(e) => services::unavailable("Redis multi-instance suite", &e),
    }
}

fn quota(s: &str) -> Quota {
    s.parse().expect("quota")
}

async fn post_json(url: String, body: Value) -> reqwest::Response {
    reqwest::Client::new()
        .post(url)
        .json(&body)
        .send()
        .await
        .expect("request")
}

/// With a limit of N per window, 2N requests split across two instances let
/// exactly N through.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_instances_enforce_one_limit() {
    let prefix = format!("{}:", services::unique_name("sa_test"));
    let Some(redis) = redis_at(&services::redis_url(), &prefix).await else {
        return;
    };
    let mut bases = Vec::new();
    for _ in 0..2 {
        let idp = SentryAgent::builder()
            .signup(Signup::Open)
            .rate_limiter(redis.clone())
            .rate_limit(RouteGroup::Signup, quota("5/60s"))
            .build()
            .await
            .expect("build");
        bases.push(serve(idp).await);
    }
    let mut created = 0;
    for i in 0..10 {
        let answer = post_json(format!("{}/api/v1/tenants", bases[i % 2]), json!({"name": "t"})).await;
        match answer.status().as_u16() {
            201 => created += 1,
            429 => {}
            other => panic!("unexpected {other}"),
        }
    }
    assert_eq!(created, 5, "one combined limit across both instances");
    purge(&prefix).await;
}

/// A token revoked through instance A is refused by instance B at once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn revocation_through_one_instance_is_seen_by_the_other() {
    let prefix = format!("{}:", services::unique_name("sa_test"));
    let Some(redis) = redis_at(&services::redis_url(), &prefix).await else {
        return;
    };
    // One shared durable store (as PostgreSQL would be) and one Redis.
    let shared = Arc::new(MemoryStore::new());
    let mut idps = Vec::new();
    for _ in 0..2 {
        let idp = SentryAgent::builder()
            .signup(Signup::Open)
            .server_secret(&[9u8; 32])
            .expect("secret")
            .durable(shared.clone())
            .hot_state(redis.clone())
            .build()
            .await
            .expect("build");
        idps.push(idp);
    }
    let (a, b) = (serve(idps[0].clone()).await, serve(idps[1].clone()).await);
    let tenant = idps[0].create_tenant("Acme").await.expect("tenant");
    let client = reqwest::Client::new();
    let token: Value = client
        .post(format!("{a}/api/v1/oauth2/token"))
        .basic_auth(&tenant.admin_client_id, Some(tenant.admin_client_secret.expose()))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .expect("token")
        .json()
        .await
        .expect("json");
    let token = token["access_token"].as_str().expect("a token").to_owned();
    let whoami = |base: &String| client.get(format!("{base}/whoami")).bearer_auth(&token).send();
    assert_eq!(whoami(&b).await.expect("whoami").status(), 200);
    let revoked = client
        .post(format!("{a}/api/v1/oauth2/revoke"))
        .bearer_auth(&token)
        .form(&[("token", token.as_str())])
        .send()
        .await
        .expect("revoke");
    assert_eq!(revoked.status(), 200);
    assert_eq!(
        whoami(&b).await.expect("whoami").status(),
        401,
        "B sees A's revocation at once"
    );
    assert_eq!(whoami(&a).await.expect("whoami").status(), 401);
    purge(&prefix).await;
}

/// A Redis of the test's own, on another port.
struct OwnRedis {
    child: Child,
    port: u16,
}

impl OwnRedis {
    fn start(port: u16) -> Option<Self> {
        let child = Command::new("redis-server")
            .args([
                "--port",
                &port.to_string(),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .ok()?;
        let deadline = Instant::now() + Duration::from_secs(5);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            if Instant::now() > deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        Some(Self { child, port })
    }

    fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }
}

impl Drop for OwnRedis {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Redis down: limits fall back to per-instance (never unlimited), a
/// fail-closed group answers 503, revocation checks fail closed, health is
/// degraded; Redis back: everything recovers without a restart.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_outage_falls_back_and_recovers() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a port")
        .port();
    let Some(own) = OwnRedis::start(port) else {
        let _: Option<()> = services::unavailable("Redis outage test", &"redis-server could not be started");
        return;
    };
    let Some(redis) = redis_at(&own.url(), "sa:").await else {
        return;
    };
    let idp = SentryAgent::builder()
        .signup(Signup::Open)
        .hot_state(redis.clone())
        .rate_limit(RouteGroup::Signup, quota("3/60s"))
        .fail_closed(RouteGroup::AuditVerify)
        .build()
        .await
        .expect("build");
    let base = serve(idp.clone()).await;
    let tenant = idp.create_tenant("Acme").await.expect("tenant");
    let client = reqwest::Client::new();
    let admin: Value = client
        .post(format!("{base}/api/v1/oauth2/token"))
        .basic_auth(&tenant.admin_client_id, Some(tenant.admin_client_secret.expose()))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .expect("token")
        .json()
        .await
        .expect("json");
    let admin = admin["access_token"].as_str().expect("token").to_owned();
    let health = || async {
        let r = client
            .get(format!("{base}/api/v1/health/detailed"))
            .send()
            .await
            .expect("health");
        let status = r.status().as_u16();
        (status, r.json::<Value>().await.expect("json"))
    };
    assert_eq!(health().await.1["status"], "ok");

    drop(own);
    // Limits still hold, per instance: the fallback has its own fresh window.
    let mut codes = Vec::new();
    for _ in 0..4 {
        codes.push(
            post_json(format!("{base}/api/v1/tenants"), json!({"name": "t"}))
                .await
                .status()
                .as_u16(),
        );
    }
    assert_eq!(codes, [201, 201, 201, 429], "bounded, not unlimited");
    let (status, report) = health().await;
    assert_eq!((status, report["status"].as_str()), (200, Some("degraded")), "{report}");
    // Revocation cannot be checked: the token is not accepted.
    let verify = client
        .get(format!("{base}/api/v1/audit/verify"))
        .bearer_auth(&admin)
        .send()
        .await
        .expect("verify");
    assert_eq!(verify.status(), 503);
    let introspect = client
        .post(format!("{base}/api/v1/oauth2/introspect"))
        .bearer_auth(&admin)
        .form(&[("token", admin.as_str())])
        .send()
        .await
        .expect("introspect");
    assert_eq!(introspect.status(), 503);
    let body: Value = introspect.json().await.expect("json");
    assert_eq!(body["error"], "temporarily_unavailable");

    let _own = OwnRedis::start(port).expect("Redis back on the same port");
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let r = client
            .get(format!("{base}/api/v1/audit/verify"))
            .bearer_auth(&admin)
            .send()
            .await
            .expect("verify");
        if r.status() == 200 {
            break;
        }
        assert!(Instant::now() < deadline, "no recovery: {}", r.status());
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(health().await.1["status"], "ok");
}

async fn purge(prefix: &str) {
    use sentryagent_store_redis::redis;
    let client = redis::Client::open(services::redis_url()).expect("url");
    let mut conn = client.get_multiplexed_async_connection().await.expect("connection");
    let keys: Vec<String> = redis::cmd("KEYS")
        .arg(format!("{prefix}*"))
        .query_async(&mut conn)
        .await
        .expect("KEYS");
    if !keys.is_empty() {
        let _: () = redis::cmd("UNLINK")
            .arg(&keys)
            .query_async(&mut conn)
            .await
            .expect("UNLINK");
    }
}
