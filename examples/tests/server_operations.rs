//! The example server through an operator's troubles, on PostgreSQL: a
//! start that cannot listen prints no admin secret and makes no tenant; a
//! lost admin secret is recovered with `recover-admin`, a lost audit
//! checkpoint re-anchored with `reanchor-audit`; usage counted while the
//! database goes down before a SIGTERM is spilled, named in the log, and
//! stored once by the next start.

mod support;

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use sentryagent_testkit::services::{self, OwnPostgres};
use serde_json::Value;
use support::{SpawnedServer, example_binary, free_port, line_value};

const SECRET_KEY: &str = "a-test-master-secret-of-at-least-32-bytes";

fn postgres_reachable() -> bool {
    let reachable = std::net::TcpStream::connect("127.0.0.1:5432").is_ok();
    if !reachable {
        let _: Option<()> = services::unavailable("example server operations", &"nothing listens on 127.0.0.1:5432");
    }
    reachable
}

/// The example server's command on `database` and `schema`, logs to `log`.
fn command(database: &str, schema: &str, port: u16, log: &Path) -> Command {
    let mut c = Command::new(example_binary("server"));
    c.env("SENTRYAGENT_BIND", format!("127.0.0.1:{port}"))
        // Many servers run at once: none takes the default metrics port.
        .env("SENTRYAGENT_METRICS_BIND", "off")
        .env("DATABASE_URL", database)
        .env("SENTRYAGENT_DB_SCHEMA", schema)
        .env("SENTRYAGENT_SECRET_KEY", SECRET_KEY)
        .env("SENTRYAGENT_ENFORCE_TIERS", "false")
        .env("SENTRYAGENT_METERING_FLUSH_SECS", "3600")
        .env("RUST_LOG", "info")
        .env_remove("REDIS_URL")
        .env_remove("SENTRYAGENT_ISSUER")
        .env_remove("SENTRYAGENT_USAGE_SPILL_DIR")
        .stdout(Stdio::piped())
        .stderr(std::fs::File::create(log).expect("a log file"));
    c
}

async fn get(client: &reqwest::Client, server: &SpawnedServer, path: &str, token: &str) -> Value {
    client
        .get(server.url(path))
        .bearer_auth(token)
        .send()
        .await
        .expect("request")
        .json()
        .await
        .expect("json")
}

fn drop_schema(database: &str, schema: &str) {
    let _ = Command::new("psql")
        .args([database, "-qc", &format!("DROP SCHEMA IF EXISTS {schema} CASCADE")])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
}

fn scratch(label: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(services::unique_name(label));
    std::fs::create_dir_all(&dir).expect("a scratch directory");
    dir
}

/// An operator command of the example server (`recover-admin …`).
fn operator(database: &str, schema: &str, args: &[&str]) -> Output {
    Command::new(example_binary("server"))
        .args(args)
        .env("DATABASE_URL", database)
        .env("SENTRYAGENT_DB_SCHEMA", schema)
        .env("SENTRYAGENT_SECRET_KEY", SECRET_KEY)
        .env_remove("REDIS_URL")
        .output()
        .expect("the example server runs")
}

/// The port is taken: the start fails before the default tenant is made,
/// printing nothing; the next start, on a free port, makes it and prints
/// its credential. Then that secret is "lost", and `recover-admin` makes a
/// new admin credential, printed once and audited, revoking nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_start_loses_no_secret_and_a_lost_one_is_recovered() {
    if !postgres_reachable() {
        return;
    }
    let database = services::database_url();
    let schema = services::unique_name("sa_test_ops");
    let dir = scratch("sa-ops");
    let log = dir.join("server.log");

    let taken = std::net::TcpListener::bind("127.0.0.1:0").expect("a port");
    let port = taken.local_addr().expect("address").port();
    let failed = command(&database, &schema, port, &log)
        .output()
        .expect("the example server runs");
    assert!(!failed.status.success());
    assert!(
        failed.stdout.is_empty(),
        "printed {:?}",
        String::from_utf8_lossy(&failed.stdout)
    );
    let stderr = std::fs::read_to_string(&log).unwrap_or_default();
    assert!(stderr.contains("cannot listen on"), "{stderr}");
    drop(taken);

    let server = SpawnedServer::start(command(&database, &schema, port, &log), port, true);
    let (id, secret) = (
        server.value("SENTRYAGENT_ADMIN_CLIENT_ID"),
        server.value("SENTRYAGENT_ADMIN_CLIENT_SECRET"),
    );
    let client = reqwest::Client::new();
    let admin = server.token(&client, &id, &secret).await;
    let tenant = get(&client, &server, "/api/v1/tenants/me", &admin).await["tenantId"]
        .as_str()
        .expect("a tenant id")
        .to_owned();

    // The operator lost the secret.
    let recovered = operator(&database, &schema, &["recover-admin", "--tenant", &tenant]);
    assert!(
        recovered.status.success(),
        "{}",
        String::from_utf8_lossy(&recovered.stderr)
    );
    let lines: Vec<String> = String::from_utf8_lossy(&recovered.stdout)
        .lines()
        .map(str::to_owned)
        .collect();
    assert_eq!(lines.len(), 2, "{lines:?}");
    let (new_id, new_secret) = (
        line_value(&lines, "SENTRYAGENT_ADMIN_CLIENT_ID"),
        line_value(&lines, "SENTRYAGENT_ADMIN_CLIENT_SECRET"),
    );
    assert_ne!(new_id, id);
    let new_admin = server.token(&client, &new_id, &new_secret).await;
    let me = get(&client, &server, "/api/v1/tenants/me", &new_admin).await;
    assert_eq!(me["tenantId"], tenant.as_str(), "an admin of the same tenant");
    server.token(&client, &id, &secret).await; // nothing revoked
    let audit = get(&client, &server, "/api/v1/audit?action=credential.created", &new_admin).await;
    let event = &audit["items"][0];
    assert_eq!(event["actor"], "operator", "{audit}");
    assert_eq!(event["details"]["reason"], "recover-admin", "{audit}");
    assert_eq!(
        get(&client, &server, "/api/v1/audit/verify", &new_admin).await["valid"],
        true
    );

    // The audit checkpoint deleted behind the chain's back: reported until
    // the operator re-anchors it.
    let deleted = Command::new("psql")
        .args([
            &database,
            "-qc",
            &format!("DELETE FROM {schema}.audit_heads WHERE tenant_id = '{tenant}'"),
        ])
        .status();
    assert!(deleted.is_ok_and(|s| s.success()));
    let lost = get(&client, &server, "/api/v1/audit/verify", &new_admin).await;
    assert_eq!(lost["valid"], false, "{lost}");
    let reanchored = operator(&database, &schema, &["reanchor-audit", "--tenant", &tenant]);
    assert!(
        reanchored.status.success(),
        "{}",
        String::from_utf8_lossy(&reanchored.stderr)
    );
    assert!(String::from_utf8_lossy(&reanchored.stdout).starts_with("re-anchored: the checkpoint was missing at seq"));
    let verified = get(&client, &server, "/api/v1/audit/verify", &new_admin).await;
    assert_eq!(verified["valid"], true, "{verified}");

    for (args, says) in [
        (
            &["recover-admin", "--tenant", "nope"][..],
            "must be a tenant id (a UUID)",
        ),
        (&["recover-admin"][..], "Usage: server recover-admin --tenant <TENANT>"),
        (
            &["recover-admin", "--tenant", "0190f5c2-7a3e-7c4b-9d2e-5b1a3c4d5e6f"][..],
            "tenant not found",
        ),
    ] {
        let out = operator(&database, &schema, args);
        assert!(!out.status.success(), "{args:?}");
        assert!(out.stdout.is_empty(), "{args:?}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains(says), "{args:?}: {stderr}");
    }
    let in_memory = Command::new(example_binary("server"))
        .args(["recover-admin", "--tenant", &tenant])
        .env_remove("DATABASE_URL")
        .output()
        .expect("runs");
    assert!(!in_memory.status.success());
    assert!(String::from_utf8_lossy(&in_memory.stderr).contains("needs DATABASE_URL"));

    server.terminate();
    drop_schema(&database, &schema);
    let _ = std::fs::remove_dir_all(&dir);
}

/// The log without its colours' escape sequences.
fn without_ansi(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            // CSI: ESC [ parameters, then a final letter.
            for c in chars.by_ref() {
                if c.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

fn spill_files(dir: &Path) -> Vec<PathBuf> {
    std::fs::read_dir(dir)
        .map(|e| e.filter_map(Result::ok).map(|e| e.path()).collect())
        .unwrap_or_default()
}

/// PostgreSQL goes down, then the server gets SIGTERM: the counts it had
/// not flushed are spilled to `SENTRYAGENT_USAGE_SPILL_DIR`, and the log
/// names the tenant and the count. The next start stores them; the one
/// after does not store them again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn usage_counted_before_a_database_outage_at_shutdown_is_kept() {
    let Some(pg) = OwnPostgres::init() else {
        let _: Option<()> = services::unavailable("usage spill test", &"initdb is not available");
        return;
    };
    pg.start();
    let dir = scratch("sa-spill");
    let spill = dir.join("spill");
    let log = dir.join("server.log");
    let port = free_port();
    let start = |first: bool| {
        let mut c = command(&pg.url(), "sentryagent", port, &log);
        c.env("SENTRYAGENT_USAGE_SPILL_DIR", &spill);
        SpawnedServer::start(c, port, first)
    };
    let client = reqwest::Client::new();

    let server = start(true);
    let (id, secret) = (
        server.value("SENTRYAGENT_ADMIN_CLIENT_ID"),
        server.value("SENTRYAGENT_ADMIN_CLIENT_SECRET"),
    );
    let admin = server.token(&client, &id, &secret).await;
    let tenant = get(&client, &server, "/api/v1/tenants/me", &admin).await["tenantId"]
        .as_str()
        .expect("a tenant id")
        .to_owned();
    for _ in 0..2 {
        server.token(&client, &id, &secret).await;
    }
    // Counted, not flushed: 3 tokens, 4 calls (3 token requests, one GET).
    pg.stop();
    server.terminate();
    let logged = without_ansi(&std::fs::read_to_string(&log).expect("the log"));
    let named: Vec<&str> = logged
        .lines()
        .filter(|l| l.contains("usage not stored at shutdown") && l.contains(&tenant))
        .collect();
    assert_eq!(named.len(), 2, "one line per metric, naming the tenant:\n{logged}");
    assert!(
        named
            .iter()
            .any(|l| l.contains("token_issuances") && l.contains("count=3")),
        "{named:?}"
    );
    assert!(
        named.iter().any(|l| l.contains("api_calls") && l.contains("count=4")),
        "{named:?}"
    );
    assert_eq!(spill_files(&spill).len(), 1, "{logged}");

    pg.start();
    let server = start(false);
    // The server stores the spill right after it binds its port (which is
    // what `start` waits for): give it until a deadline.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while !spill_files(&spill).is_empty() && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    assert!(spill_files(&spill).is_empty(), "stored and deleted at start");
    let admin = server.token(&client, &id, &secret).await;
    let usage = get(&client, &server, "/api/v1/usage", &admin).await;
    assert_eq!(usage["today"]["tokenIssuances"], 4, "{usage}");
    assert_eq!(usage["today"]["apiCalls"], 6, "{usage}");
    server.terminate();

    // Once: the next start finds nothing to add again.
    let server = start(false);
    let admin = server.token(&client, &id, &secret).await;
    let usage = get(&client, &server, "/api/v1/usage", &admin).await;
    assert_eq!(usage["today"]["tokenIssuances"], 5, "{usage}");
    assert_eq!(usage["today"]["apiCalls"], 8, "{usage}");
    server.terminate();
    let _ = std::fs::remove_dir_all(&dir);
}
