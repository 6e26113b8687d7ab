//! The `sentryagent` binary against the example server, each command in
//! table and JSON output, as a person or a script runs it: profiles in a
//! scratch `XDG_CONFIG_HOME`, secrets never printed but the one-time ones,
//! exit codes 0/1/2/3, and `audit tail` across a server restart.

mod cli_support;
mod support;

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use serde_json::Value;

use cli_support::{Server, shared, unique};
use support::{Scratch, example_binary};

/// A person's terminal session: a config directory of its own, logged in to
/// `server` as its admin.
struct Session {
    config: Scratch,
    url: String,
    secret: String,
}

impl Session {
    fn new(server: &Server) -> Self {
        let session = Self {
            config: Scratch::new("cli"),
            url: server.url(),
            secret: server.client_secret.clone(),
        };
        let out = session.run_stdin(
            &[
                "login",
                "--url",
                &server.url(),
                "--client-id",
                &server.client_id,
                "--client-secret-stdin",
            ],
            &server.client_secret,
        );
        assert_eq!(out.status.code(), Some(0), "login: {}", text(&out.stderr));
        session
    }

    fn command(&self, args: &[&str]) -> Command {
        let mut command = Command::new(example_binary("sentryagent"));
        command
            .args(args)
            .env("XDG_CONFIG_HOME", &self.config.0)
            .env("NO_COLOR", "1")
            .env_remove("SENTRYAGENT_URL")
            .env_remove("SENTRYAGENT_PROFILE")
            .env_remove("SENTRYAGENT_CLIENT_ID")
            .env_remove("SENTRYAGENT_CLIENT_SECRET")
            .stdin(Stdio::null());
        command
    }

    fn run(&self, args: &[&str]) -> Output {
        let out = self.command(args).output().expect("sentryagent runs");
        self.assert_no_secret(&out);
        out
    }

    fn run_stdin(&self, args: &[&str], input: &str) -> Output {
        let mut child = self
            .command(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("sentryagent runs");
        child
            .stdin
            .take()
            .expect("stdin")
            .write_all(input.as_bytes())
            .expect("write stdin");
        let out = child.wait_with_output().expect("sentryagent ends");
        self.assert_no_secret(&out);
        out
    }

    /// The admin secret never appears in any output.
    fn assert_no_secret(&self, out: &Output) {
        for stream in [&out.stdout, &out.stderr] {
            assert!(!text(stream).contains(&self.secret), "the admin secret was printed");
        }
    }

    /// Runs, expects exit 0, returns stdout.
    fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert_eq!(out.status.code(), Some(0), "{args:?}: {}", text(&out.stderr));
        text(&out.stdout)
    }

    /// Runs with `-o json`, expects exit 0, returns the document.
    fn json(&self, args: &[&str]) -> Value {
        let mut args = args.to_vec();
        args.extend(["-o", "json"]);
        let stdout = self.ok(&args);
        serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("{args:?}: not one JSON document ({e}): {stdout}"))
    }

    /// Runs, expects `code`, returns stderr.
    fn fails(&self, args: &[&str], code: i32) -> String {
        let out = self.run(args);
        assert_eq!(out.status.code(), Some(code), "{args:?}: {}", text(&out.stderr));
        text(&out.stderr)
    }
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn register(session: &Session, name: &str, extra: &[&str]) -> Value {
    let mut args = vec!["agents", "register", name];
    args.extend(extra);
    session.json(&args)
}

#[cfg(unix)]
fn mode(path: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).expect("metadata").permissions().mode() & 0o777
}

#[test]
fn login_stores_a_private_profile_and_never_shows_its_secret() {
    let server = shared();
    let session = Session::new(server);
    let file = session.config.0.join("sentryagent/profiles.toml");
    #[cfg(unix)]
    assert_eq!(mode(&file), 0o600);
    assert!(
        std::fs::read_to_string(&file)
            .expect("the file")
            .contains(&server.client_secret)
    );

    let table = session.ok(&["profile", "list"]);
    assert!(
        table.contains("default") && table.contains(&server.client_id),
        "{table}"
    );
    let shown = session.ok(&["profile", "show"]);
    assert!(shown.contains("(stored, not shown)"), "{shown}");
    let listed = session.json(&["profile", "list"]);
    assert_eq!(listed[0]["name"], "default");
    assert_eq!(listed[0]["default"], true);
    assert_eq!(
        session.json(&["profile", "show"])["clientId"],
        server.client_id.as_str()
    );

    // A second profile from the environment's secret; `use` and `remove`.
    let out = session
        .command(&[
            "login",
            "--profile",
            "other",
            "--url",
            &session.url,
            "--client-id",
            &server.client_id,
        ])
        .env("SENTRYAGENT_CLIENT_SECRET", &server.client_secret)
        .output()
        .expect("runs");
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(!text(&out.stdout).contains(&server.client_secret));
    assert_eq!(session.json(&["profile", "use", "other"])["default"], "other");
    assert!(session.ok(&["profile", "list"]).contains("*  other"));
    assert_eq!(session.json(&["profile", "remove", "other"])["removed"], "other");
    session.fails(&["--profile", "other", "agents", "list"], 2);

    // Wrong credentials are refused at login and not stored.
    let out = session.run_stdin(
        &[
            "login",
            "--profile",
            "bad",
            "--url",
            &session.url,
            "--client-id",
            &server.client_id,
            "--client-secret-stdin",
        ],
        "sa_sk_wrong",
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("invalid_client"), "{}", text(&out.stderr));
    assert!(
        !std::fs::read_to_string(&file)
            .expect("the file")
            .contains("[profiles.bad]")
    );

    // The environment overrides the file: another URL, nobody listening.
    let out = session
        .command(&["agents", "list"])
        .env(
            "SENTRYAGENT_URL",
            format!("http://127.0.0.1:{}/api/v1", support::free_port()),
        )
        .output()
        .expect("runs");
    assert_eq!(out.status.code(), Some(3));
    let stderr = text(&out.stderr);
    assert_eq!(stderr.lines().count(), 1, "one line: {stderr}");
    assert!(stderr.starts_with("error: cannot reach http://127.0.0.1:"), "{stderr}");

    // With URL and credentials in the environment no profile is needed.
    let empty = Scratch::new("cli-empty");
    let out = session
        .command(&["agents", "list", "-o", "json"])
        .env("XDG_CONFIG_HOME", &empty.0)
        .env("SENTRYAGENT_URL", &session.url)
        .env("SENTRYAGENT_CLIENT_ID", &server.client_id)
        .env("SENTRYAGENT_CLIENT_SECRET", &server.client_secret)
        .output()
        .expect("runs");
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
}

#[test]
fn a_broken_profile_file_is_named() {
    let session = Session::new(shared());
    let file = session.config.0.join("sentryagent/profiles.toml");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o644)).expect("chmod");
        let stderr = session.fails(&["agents", "list"], 2);
        assert!(
            stderr.contains(&file.display().to_string()) && stderr.contains("0644"),
            "{stderr}"
        );
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600)).expect("chmod");
    }
    std::fs::write(&file, "default_profile = [unclosed\n").expect("write");
    let stderr = session.fails(&["agents", "list"], 2);
    assert!(
        stderr.contains(&file.display().to_string()) && stderr.contains("not a valid profiles file"),
        "{stderr}"
    );
}

#[test]
fn agents_from_registration_to_decommissioning() {
    let session = Session::new(shared());
    let name = unique("cli-agent");

    // Table: the one-time secret, marked, once.
    let table = session.ok(&[
        "agents",
        "register",
        &name,
        "--description",
        "From the CLI",
        "--capability",
        "cli",
    ]);
    assert!(
        table.contains("one-time secret: store it now, it is never shown again"),
        "{table}"
    );
    assert_eq!(table.matches("sa_sk_").count(), 1, "{table}");
    let registered = register(
        &session,
        &unique("cli-agent-json"),
        &["--scope", "agents:read", "--unlisted"],
    );
    assert!(
        registered["clientSecret"]
            .as_str()
            .expect("a secret")
            .starts_with("sa_sk_")
    );
    assert_eq!(registered["listed"], false);
    let id = registered["agentId"].as_str().expect("an id");
    let secret = registered["clientSecret"].as_str().expect("a secret");

    let listed = session.json(&["agents", "list"]);
    assert!(listed.as_array().expect("an array").iter().any(|a| a["agentId"] == id));
    let table = session.ok(&["agents", "list", "--query", "cli-agent"]);
    assert!(table.starts_with("ID") && table.contains(&name), "{table}");
    assert_eq!(
        session.json(&["agents", "list", "--status", "suspended", "--query", &name]),
        Value::Array(vec![])
    );
    for shown in [session.ok(&["agents", "get", id]), session.ok(&["agents", "list"])] {
        assert!(!shown.contains(secret), "a secret shown again");
    }
    assert_eq!(session.json(&["agents", "get", id])["name"], registered["name"]);

    let updated = session.json(&[
        "agents",
        "update",
        id,
        "--description",
        "changed",
        "--capability",
        "a",
        "--capability",
        "b",
    ]);
    assert_eq!(updated["capabilities"], serde_json::json!(["a", "b"]));
    assert!(
        session
            .ok(&["agents", "update", id, "--listed", "true"])
            .contains("listed        true")
    );
    session.fails(&["agents", "update", id], 2);
    assert_eq!(session.json(&["agents", "suspend", id])["status"], "suspended");
    assert!(
        session
            .ok(&["agents", "reactivate", id])
            .contains("status        active")
    );

    // Not without confirmation, and not on a terminal-less stdin.
    let stderr = session.fails(&["agents", "decommission", id], 2);
    assert!(stderr.contains("--yes"), "{stderr}");
    assert_eq!(session.json(&["agents", "get", id])["status"], "active");
    assert_eq!(
        session.json(&["agents", "decommission", id, "--yes"])["status"],
        "decommissioned"
    );
    // The server's refusal: its code, exit 1.
    let stderr = session.fails(&["agents", "decommission", id, "--yes"], 1);
    assert!(stderr.contains("AGENT_DECOMMISSIONED (409)"), "{stderr}");
    let stderr = session.fails(&["agents", "get", "not-an-id"], 1);
    assert!(
        stderr.contains("VALIDATION_ERROR") && stderr.contains("agentId: must be a UUID"),
        "{stderr}"
    );
    let stderr = session.fails(&["agents", "get", "00000000-0000-7000-8000-000000000000"], 1);
    assert!(stderr.contains("NOT_FOUND") && stderr.contains("hint:"), "{stderr}");
}

#[test]
fn credentials_and_tokens() {
    let session = Session::new(shared());
    let agent = register(&session, &unique("cli-creds"), &["--scope", "agents:read"]);
    let id = agent["agentId"].as_str().expect("an id");

    let created = session.ok(&["credentials", "create", id]);
    assert!(
        created.contains("one-time secret") && created.matches("sa_sk_").count() == 1,
        "{created}"
    );
    let credential = session.json(&["credentials", "create", id]);
    let (cred_id, client_id) = (
        credential["credentialId"].as_str().expect("an id"),
        credential["clientId"].as_str().expect("a client id"),
    );
    let old_secret = credential["clientSecret"].as_str().expect("a secret");
    let listed = session.json(&["credentials", "list", id]);
    assert_eq!(listed.as_array().expect("an array").len(), 3);
    assert!(
        listed
            .as_array()
            .expect("an array")
            .iter()
            .all(|c| c.get("clientSecret").is_none())
    );
    let table = session.ok(&["credentials", "list", id]);
    assert!(table.contains(client_id) && !table.contains("sa_sk_"), "{table}");

    // A token for the agent with its own credential, secret on stdin.
    let issue = |secret: &str| {
        session.run_stdin(
            &[
                "token",
                "issue",
                "--client-id",
                client_id,
                "--client-secret-stdin",
                "-o",
                "json",
            ],
            secret,
        )
    };
    let out = issue(old_secret);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let token: Value = serde_json::from_slice(&out.stdout).expect("JSON");
    assert_eq!(token["scope"], "agents:read");

    let rotated = session.json(&["credentials", "rotate", id, cred_id]);
    let new_secret = rotated["clientSecret"].as_str().expect("a secret");
    assert_ne!(new_secret, old_secret);
    assert!(
        session
            .ok(&["credentials", "rotate", id, cred_id])
            .contains("one-time secret")
    );
    let out = issue(old_secret);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("invalid_client"));
    assert_eq!(
        session.json(&["credentials", "revoke", id, cred_id])["status"],
        "revoked"
    );

    // The profile's own token: alone on stdout in table output.
    let token = session.ok(&["token", "issue"]);
    let token = token.trim();
    assert_eq!(token.split('.').count(), 3, "{token}");
    let json = session.json(&["token", "issue", "--scope", "agents:read"]);
    assert_eq!(json["scope"], "agents:read");
    let stderr = session.fails(&["token", "issue", "--scope", "no-such-scope"], 1);
    assert!(stderr.contains("invalid_scope"), "{stderr}");

    let decoded = session.json(&["token", "decode", token]);
    assert_eq!(decoded["header"]["typ"], "at+jwt");
    assert_eq!(decoded["claims"]["scope"], "admin");
    let table = session.ok(&["token", "decode", token]);
    assert!(
        table.contains("header (not verified)") && table.contains("scope      admin"),
        "{table}"
    );
    session.fails(&["token", "decode", "not-a-token"], 2);

    assert_eq!(session.json(&["token", "introspect", token])["active"], true);
    assert!(
        session
            .ok(&["token", "introspect", token])
            .starts_with("active     true")
    );
    let out = session.run_stdin(&["token", "revoke", "-"], token);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(session.json(&["token", "introspect", token])["active"], false);
    assert_eq!(session.json(&["token", "revoke", token])["revoked"], true);
}

#[test]
fn client_keys_add_list_and_revoke() {
    let session = Session::new(shared());
    let agent = register(&session, &unique("cli-keys"), &[]);
    let id = agent["agentId"].as_str().expect("an id");
    let secret_credential = agent["credentialId"].as_str().expect("a credential id");
    let files = Scratch::new("keys");
    // RFC 8037's example Ed25519 key: its public half, and the whole.
    let public =
        r#"{"kty": "OKP", "crv": "Ed25519", "x": "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo", "kid": "ci-1"}"#;
    let private = r#"{"kty": "OKP", "crv": "Ed25519", "x": "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo",
        "d": "nWGxne_9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A"}"#;
    let write = |name: &str, text: &str| {
        let path = files.0.join(name);
        std::fs::write(&path, text).expect("a key file");
        path.to_string_lossy().into_owned()
    };
    let (public_file, private_file) = (write("public.jwk", public), write("private.jwk", private));
    let set_file = write("set.json", &format!(r#"{{"keys": [{public}, {public}]}}"#));
    let rsa_file = write("bad.jwk", r#"{"kty": "RSA", "n": "AQAB", "e": "AQAB"}"#);

    let added = session.json(&["agents", "keys", "add", id, "--jwk-file", &public_file]);
    assert_eq!(added["publicKey"]["x"], "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo");
    assert_eq!(added["status"], "active");
    assert!(added.get("clientSecret").is_none());
    let key_id = added["credentialId"].as_str().expect("an id");
    let table = session.ok(&["agents", "keys", "list", id]);
    assert!(
        table.contains(key_id)
            && table.contains("OKP Ed25519")
            && table.contains("kid=ci-1")
            && !table.contains(secret_credential),
        "{table}"
    );
    let listed = session.json(&["agents", "keys", "list", id]);
    assert_eq!(
        listed.as_array().map(Vec::len),
        Some(1),
        "the secret credential is left out"
    );

    // Refused before anything is sent, and the private member never echoed.
    let stderr = session.fails(&["agents", "keys", "add", id, "--jwk-file", &private_file], 2);
    assert!(stderr.contains("private") && !stderr.contains("nWGxne"), "{stderr}");
    let stderr = session.fails(&["agents", "keys", "add", id, "--jwk-file", &set_file], 2);
    assert!(stderr.contains("several keys"), "{stderr}");
    let missing = files.0.join("missing.jwk").to_string_lossy().into_owned();
    let stderr = session.fails(&["agents", "keys", "add", id, "--jwk-file", &missing], 1);
    assert!(stderr.contains("cannot read"), "{stderr}");
    // The server's own refusal of a key it cannot use.
    let stderr = session.fails(&["agents", "keys", "add", id, "--jwk-file", &rsa_file], 1);
    assert!(stderr.contains("VALIDATION_ERROR"), "{stderr}");
    session.fails(&["agents", "keys", "add", id], 2);

    let stderr = session.fails(&["agents", "keys", "revoke", id, secret_credential], 2);
    assert!(stderr.contains("credentials revoke"), "{stderr}");
    let stderr = session.fails(
        &["agents", "keys", "revoke", id, "00000000-0000-7000-8000-000000000000"],
        2,
    );
    assert!(stderr.contains("agents keys list"), "{stderr}");
    let revoked = session.json(&["agents", "keys", "revoke", id, key_id]);
    assert_eq!(revoked["status"], "revoked");
    assert!(session.ok(&["agents", "keys", "list", id]).contains("revoked"));
}

#[test]
fn audit_list_verify_and_export() {
    let session = Session::new(shared());
    let agent = register(&session, &unique("cli-audit"), &[]);
    let id = agent["agentId"].as_str().expect("an id");

    let events = session.json(&["audit", "list", "--agent-id", id]);
    let actions: Vec<_> = events
        .as_array()
        .expect("an array")
        .iter()
        .map(|e| e["action"].as_str().expect("an action"))
        .collect();
    assert_eq!(actions, ["credential.created", "agent.created"]);
    let table = session.ok(&[
        "audit",
        "list",
        "--agent-id",
        id,
        "--action",
        "agent.created",
        "--outcome",
        "success",
    ]);
    assert!(
        table.starts_with("SEQ") && table.contains("agent.created") && !table.contains("credential.created"),
        "{table}"
    );
    assert_eq!(
        session
            .json(&["audit", "list", "-n", "3"])
            .as_array()
            .expect("an array")
            .len(),
        3
    );
    assert!(
        session
            .json(&["audit", "list", "--all"])
            .as_array()
            .expect("an array")
            .len()
            > 3
    );

    assert_eq!(session.json(&["audit", "verify"])["valid"], true);
    assert!(session.ok(&["audit", "verify"]).starts_with("valid"));

    let file = session.config.0.join("audit.jsonl");
    let out = session.run(&["audit", "export", "--file", &file.display().to_string()]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let lines: Vec<Value> = std::fs::read_to_string(&file)
        .expect("the export")
        .lines()
        .map(|l| serde_json::from_str(l).expect("a JSON line"))
        .collect();
    assert!(lines.len() > 3);
    assert!(text(&out.stderr).contains(&format!("exported {} events", lines.len())));
    let stdout = session.ok(&["audit", "export", "--agent-id", id]);
    assert_eq!(stdout.lines().count(), 2, "{stdout}");
}

#[test]
fn policies_and_marketplace() {
    let session = Session::new(shared());
    let capability = format!("cli-market-{}", std::process::id());
    let agent = register(
        &session,
        &unique("cli-market"),
        &["--capability", &capability, "--description", "Finds things"],
    );
    let id = agent["agentId"].as_str().expect("an id");

    let policy = session.json(&[
        "policies",
        "create",
        "--repository",
        "acme/cli",
        "--branch",
        "main",
        "--agent-id",
        id,
    ]);
    let policy_id = policy["policyId"].as_str().expect("an id");
    assert_eq!(policy["mode"], "agent");
    let table = session.ok(&["policies", "create", "--repository", "acme/cli-bootstrap"]);
    assert!(table.contains("mode") && table.contains("bootstrap"), "{table}");
    assert!(
        session
            .json(&["policies", "list"])
            .as_array()
            .expect("an array")
            .iter()
            .any(|p| p["policyId"] == policy_id)
    );
    assert!(session.ok(&["policies", "list"]).contains("acme/cli"));
    assert_eq!(session.json(&["policies", "get", policy_id])["branch"], "main");
    assert!(session.ok(&["policies", "get", policy_id]).contains("acme/cli"));
    let claims = r#"{"repository": "acme/cli", "repository_id": "1", "repository_owner": "acme", "repository_owner_id": "2", "ref": "refs/heads/dev", "ref_type": "branch", "event_name": "push"}"#;
    let evaluation = session.json(&["policies", "evaluate", "--claims", claims, "--agent-id", id]);
    assert!(evaluation["match"].is_null());
    assert!(
        evaluation["policies"]
            .as_array()
            .expect("an array")
            .iter()
            .any(|v| v["policyId"] == policy_id && v["failed"]["condition"] == "branch")
    );
    let table = session.ok(&["policies", "evaluate", "--claims", claims]);
    assert!(
        table.contains("FIRST FAILED CONDITION") && table.contains("branch"),
        "{table}"
    );
    session.fails(&["policies", "evaluate"], 2);
    assert_eq!(session.json(&["policies", "delete", policy_id])["policyId"], policy_id);
    session.fails(&["policies", "get", policy_id], 1);

    let found = session.json(&["marketplace", "search", "--capability", &capability]);
    assert_eq!(found.as_array().expect("an array").len(), 1);
    assert_eq!(found[0]["agentId"], id);
    assert!(found[0].get("clientId").is_none() && found[0].get("metadata").is_none());
    let table = session.ok(&["marketplace", "search", "finds", "things", "--capability", &capability]);
    assert!(table.contains(&capability) && table.contains("default"), "{table}");
}

#[test]
fn usage_errors_exit_2_with_claps_message() {
    let session = Session::new(shared());
    let stderr = session.fails(&["agents", "list", "--no-such-flag"], 2);
    assert!(stderr.contains("unexpected argument '--no-such-flag'"), "{stderr}");
    let stderr = session.fails(&["credentials", "rotate", "only-one-id"], 2);
    assert!(stderr.contains("required arguments were not provided"), "{stderr}");
    session.fails(&["--output", "yaml", "agents", "list"], 2);
    assert!(session.ok(&["--help"]).contains("Exit codes"));
}

/// Reads `tail`'s stdout lines as they come.
fn lines_of(child: &mut std::process::Child) -> mpsc::Receiver<String> {
    let (tx, rx) = mpsc::channel();
    let stdout = child.stdout.take().expect("stdout");
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    rx
}

/// The next line with `action`, waiting at most a generous while (a bound so
/// a broken tail fails the test instead of hanging it; nothing is timed).
fn next_event(rx: &mpsc::Receiver<String>, action: &str) -> Value {
    loop {
        let line = rx.recv_timeout(Duration::from_secs(60)).expect("tail printed an event");
        let event: Value = serde_json::from_str(&line).expect("a JSON line");
        if event["action"] == action {
            return event;
        }
    }
}

#[test]
fn audit_tail_follows_new_events_backs_off_while_the_server_is_down_and_stops_on_sigint() {
    if !cli_support::postgres_available() {
        return;
    }
    // A server on PostgreSQL, so that data and credentials survive its restart.
    let schema = format!("sa_test_cli_tail_{}", std::process::id());
    let envs = [
        ("DATABASE_URL", cli_support::database_url()),
        ("SENTRYAGENT_DB_SCHEMA", schema.clone()),
        (
            "SENTRYAGENT_SECRET_KEY",
            "a-test-master-secret-of-at-least-32-bytes".to_owned(),
        ),
        ("SENTRYAGENT_ENFORCE_TIERS", "false".to_owned()),
    ];
    let envs: Vec<(&str, &str)> = envs.iter().map(|(k, v)| (*k, v.as_str())).collect();
    cli_support::drop_schema(&schema);
    let server = Server::start(&envs, None, true);
    let port = server.port;
    let session = Session::new(&server);

    let mut tail = session
        .command(&[
            "audit",
            "tail",
            "-n",
            "0",
            "--interval",
            "200ms",
            "--max-interval",
            "800ms",
            "-o",
            "json",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("tail starts");
    let rx = lines_of(&mut tail);
    let stderr = tail.stderr.take().expect("stderr");
    let (etx, erx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            let _ = etx.send(line);
        }
    });
    // Once it says it follows, it has its starting point: what comes after
    // is new.
    let first = erx.recv_timeout(Duration::from_secs(60)).expect("tail started");
    assert!(first.starts_with("following http://127.0.0.1:"), "{first}");
    let before = register(&session, &unique("tail-before"), &[]);
    let seen = next_event(&rx, "agent.created");
    assert_eq!(seen["agentId"], before["agentId"]);

    server.stop();
    // While down, the tail keeps trying: wait for its back-off notices.
    let mut notices = Vec::new();
    while notices.len() < 3 {
        let line = erx.recv_timeout(Duration::from_secs(60)).expect("a back-off notice");
        if line.contains("retrying in") {
            notices.push(line);
        }
    }
    assert!(
        notices[0].contains(&format!("cannot reach http://127.0.0.1:{port}/")),
        "{notices:?}"
    );
    assert!(
        notices.iter().any(|n| n.ends_with("retrying in 800 ms")),
        "the back-off grows to its cap: {notices:?}"
    );

    let server = Server::start(&envs, Some(port), false);
    let after = register(&session, &unique("tail-after"), &[]);
    let seen = next_event(&rx, "agent.created");
    assert_eq!(seen["agentId"], after["agentId"], "the event made after the restart");

    let status = Command::new("kill")
        .args(["-INT", &tail.id().to_string()])
        .status()
        .expect("kill");
    assert!(status.success());
    let exit = tail.wait().expect("tail ends");
    assert_eq!(exit.code(), Some(0), "a clean exit on SIGINT");
    server.stop();
    cli_support::drop_schema(&schema);
}

#[test]
fn the_readmes_cli_walkthrough_works_verbatim() {
    support::require_tools(&["bash", "curl", "jq"]);
    let server = shared();
    let readme = std::fs::read_to_string(support::workspace_root().join("README.md")).expect("README.md");
    let block = support::fenced_blocks(&readme)
        .into_iter()
        .find(|b| b.is(&["sh", "cli-walkthrough"]))
        .expect("a ```sh cli-walkthrough block in README.md")
        .body;
    let dir = Scratch::new("cli-walkthrough");
    std::fs::write(
        dir.0.join("sentryagent.env"),
        format!(
            "SENTRYAGENT_ADMIN_CLIENT_ID={}\nSENTRYAGENT_ADMIN_CLIENT_SECRET={}\n",
            server.client_id, server.client_secret
        ),
    )
    .expect("write sentryagent.env");
    // A name of its own: the other tests share this server.
    let script = block
        .replace("127.0.0.1:3000", &format!("127.0.0.1:{}", server.port))
        .replace("build-bot@acme.example", &unique("build-bot"));
    let bin = example_binary("sentryagent");
    let path = format!(
        "{}:{}",
        bin.parent().expect("the examples directory").display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let config = dir.0.join("config").display().to_string();
    let out = support::bash(
        &script,
        &dir.0,
        &[("PATH", &path), ("XDG_CONFIG_HOME", &config), ("NO_COLOR", "1")],
    );
    let stdout = text(&out.stdout);
    assert!(
        out.status.success(),
        "the walk-through failed:\n{stdout}\n{}",
        text(&out.stderr)
    );
    for expected in [
        "Saved as profile `default`",
        "\"agentId\"",
        "active     true",
        "Revoked: the token fails from now on.",
        "active  false",
        "token.revoked",
        "agent.created",
        "valid                true",
    ] {
        assert!(stdout.contains(expected), "`{expected}` missing from:\n{stdout}");
    }
    assert!(!stdout.contains(&server.client_secret), "the admin secret was printed");
}
