//! What the binary does without a server: usage errors (exit 2), an
//! unreachable server (exit 3, one line naming the URL), no profile, and
//! local token decoding.

use std::process::{Command, Output};

fn sentryagent(args: &[&str], config: &std::path::Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_sentryagent"))
        .args(args)
        .env("XDG_CONFIG_HOME", config)
        .env("NO_COLOR", "1")
        .env_remove("SENTRYAGENT_URL")
        .env_remove("SENTRYAGENT_PROFILE")
        .env_remove("SENTRYAGENT_CLIENT_ID")
        .env_remove("SENTRYAGENT_CLIENT_SECRET")
        .output()
        .expect("sentryagent runs")
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn usage_errors_exit_2() {
    let config = tempfile::tempdir().expect("a directory");
    for args in [
        &["agents", "--bogus"][..],
        &["agents", "get"],
        &["nonsense"],
        &["audit", "tail", "--interval", "5h"],
    ] {
        let out = sentryagent(args, config.path());
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", stderr(&out));
    }
    // No profile and no URL: a usage error that says what to do.
    let out = sentryagent(&["agents", "list"], config.path());
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("sentryagent login"), "{}", stderr(&out));
    let out = sentryagent(&["--profile", "nope", "agents", "list"], config.path());
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("no profile `nope`"), "{}", stderr(&out));
}

#[test]
fn an_unreachable_server_exits_3_with_one_line_naming_the_url() {
    let config = tempfile::tempdir().expect("a directory");
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port();
    let url = format!("http://127.0.0.1:{port}/api/v1");
    let out = sentryagent(&["--url", &url, "marketplace", "search"], config.path());
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    let text = stderr(&out);
    assert_eq!(text.lines().count(), 1, "{text}");
    assert!(
        text.starts_with(&format!("error: cannot reach {url}/marketplace/agents")),
        "{text}"
    );
}

#[test]
fn tokens_decode_locally() {
    let config = tempfile::tempdir().expect("a directory");
    let token = "eyJhbGciOiJFUzI1NiIsInR5cCI6ImF0K2p3dCJ9.eyJzdWIiOiJhIiwic2NvcGUiOiJhZG1pbiIsImV4cCI6MH0.c2ln";
    let out = sentryagent(&["token", "decode", token, "-o", "json"], config.path());
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let decoded: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    assert_eq!(decoded["header"]["alg"], "ES256");
    assert_eq!(decoded["claims"]["scope"], "admin");
    let out = sentryagent(&["token", "decode", token], config.path());
    let table = String::from_utf8_lossy(&out.stdout);
    assert!(table.contains("exp    0 (1970-01-01 00:00:00Z)"), "{table}");
    let out = sentryagent(&["token", "decode", "a.b"], config.path());
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("not a JWT"));
}
