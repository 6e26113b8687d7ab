//! The example server on PostgreSQL, as an operator runs it: data and usage
//! counts survive a restart (SIGTERM flushes what was not flushed yet), and
//! an unreachable database is a clear error and a non-zero exit.

mod support;

use std::process::{Command, Stdio};

use serde_json::Value;
use support::{SpawnedServer, example_binary, free_port, line_value};

fn database_url() -> String {
    std::env::var("DATABASE_URL").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_owned())
}

fn require_services() -> bool {
    std::env::var("SENTRYAGENT_REQUIRE_SERVICES").is_ok_and(|v| v == "1")
}

/// Starts the example server on PostgreSQL; returns it and the admin
/// credential lines it printed (none on a store that has tenants).
fn start(schema: &str, port: u16, first_start: bool) -> (SpawnedServer, Vec<String>) {
    let mut command = Command::new(example_binary("server"));
    command
        .env("SENTRYAGENT_BIND", format!("127.0.0.1:{port}"))
        // Many servers run at once: none takes the default metrics port.
        .env("SENTRYAGENT_METRICS_BIND", "off")
        .env("DATABASE_URL", database_url())
        .env("SENTRYAGENT_DB_SCHEMA", schema)
        .env("SENTRYAGENT_SECRET_KEY", "a-test-master-secret-of-at-least-32-bytes")
        .env("SENTRYAGENT_ENFORCE_TIERS", "false")
        .env("SENTRYAGENT_METERING_FLUSH_SECS", "3600")
        .env_remove("REDIS_URL")
        .env_remove("SENTRYAGENT_ISSUER")
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    let server = SpawnedServer::start(command, port, first_start);
    let lines = server.lines.clone();
    (server, lines)
}

fn postgres_reachable() -> bool {
    let reachable = std::net::TcpStream::connect("127.0.0.1:5432").is_ok();
    if !reachable && !require_services() {
        let _ = std::io::Write::write_all(
            &mut std::io::stderr(),
            b"\nSKIPPED example server on PostgreSQL: nothing listens on 127.0.0.1:5432\n",
        );
    }
    reachable || require_services()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn data_and_usage_survive_a_restart() {
    if !postgres_reachable() {
        return;
    }
    let schema = format!("sa_test_example_{}", std::process::id());
    let port = free_port();
    let client = reqwest::Client::new();

    let (server, lines) = start(&schema, port, true);
    let (admin_id, admin_secret) = (
        line_value(&lines, "SENTRYAGENT_ADMIN_CLIENT_ID"),
        line_value(&lines, "SENTRYAGENT_ADMIN_CLIENT_SECRET"),
    );
    let admin = server.token(&client, &admin_id, &admin_secret).await;
    let agent: Value = client
        .post(server.url("/api/v1/agents"))
        .bearer_auth(&admin)
        .json(&serde_json::json!({"name": "survivor@acme.example"}))
        .send()
        .await
        .expect("register")
        .json()
        .await
        .expect("json");
    let (agent_id, client_id, secret) = (
        agent["agentId"].as_str().expect("id").to_owned(),
        agent["clientId"].as_str().expect("client id").to_owned(),
        agent["clientSecret"].as_str().expect("secret").to_owned(),
    );
    let agent_token = server.token(&client, &client_id, &secret).await;
    let whoami =
        |server: &SpawnedServer, token: &str| client.get(server.url("/whoami")).bearer_auth(token.to_owned()).send();
    assert_eq!(whoami(&server, &agent_token).await.expect("whoami").status(), 200);
    server.terminate();

    let (server, lines) = start(&schema, port, false);
    assert!(lines.is_empty());
    // The token from before the restart still verifies: the keys were persisted.
    let me: Value = whoami(&server, &agent_token)
        .await
        .expect("whoami")
        .json()
        .await
        .expect("json");
    assert_eq!(me["agentId"], agent_id.as_str());
    // The credential still works.
    server.token(&client, &client_id, &secret).await;
    // Usage counted before the SIGTERM was flushed then, not lost: two admin
    // tokens, two agent tokens, one registration, and this call.
    let admin = server.token(&client, &admin_id, &admin_secret).await;
    let usage: Value = client
        .get(server.url("/api/v1/usage"))
        .bearer_auth(&admin)
        .send()
        .await
        .expect("usage")
        .json()
        .await
        .expect("json");
    assert_eq!(usage["today"]["tokenIssuances"], 4, "{usage}");
    assert_eq!(usage["today"]["apiCalls"], 6, "{usage}");
    server.terminate();

    let drop = format!("DROP SCHEMA IF EXISTS {schema} CASCADE");
    let status = Command::new("psql")
        .args([&database_url(), "-qc", &drop])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
    assert!(status.is_ok_and(|s| s.success()), "drop the test schema");
}

#[test]
fn unreachable_database_is_a_clear_error() {
    let out = Command::new(example_binary("server"))
        .env("SENTRYAGENT_BIND", format!("127.0.0.1:{}", free_port()))
        // Many servers run at once: none takes the default metrics port.
        .env("SENTRYAGENT_METRICS_BIND", "off")
        .env("DATABASE_URL", "postgres://app:hunter2@127.0.0.1:1/idp")
        .env("SENTRYAGENT_SECRET_KEY", "a-test-master-secret-of-at-least-32-bytes")
        .env_remove("REDIS_URL")
        .output()
        .expect("the example server runs");
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("postgres://app:***@127.0.0.1:1/idp"), "{stderr}");
    assert!(!stderr.contains("hunter2"), "{stderr}");
    assert!(out.stdout.is_empty(), "no credential printed");
}

#[test]
fn a_database_needs_a_stable_secret() {
    let out = Command::new(example_binary("server"))
        .env("SENTRYAGENT_BIND", format!("127.0.0.1:{}", free_port()))
        // Many servers run at once: none takes the default metrics port.
        .env("SENTRYAGENT_METRICS_BIND", "off")
        .env("DATABASE_URL", database_url())
        .env_remove("SENTRYAGENT_SECRET_KEY")
        .env_remove("REDIS_URL")
        .output()
        .expect("the example server runs");
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("SENTRYAGENT_SECRET_KEY"));
}
