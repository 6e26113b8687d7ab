//! Runs the README's curl walk-through, verbatim but for the port, against
//! each example server binary (axum and poem), and stops it with SIGTERM.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn example_binary(name: &str) -> PathBuf {
    // target/<profile>/deps/<this test> → target/<profile>/examples/<name>
    let exe = std::env::current_exe().expect("the test binary's path");
    let dir = exe.parent().and_then(|d| d.parent()).expect("target/<profile>");
    dir.join("examples").join(name)
}

fn walkthrough_block() -> String {
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../README.md")).expect("README.md");
    let start = readme
        .find("```sh walkthrough\n")
        .expect("a ```sh walkthrough block in README.md");
    let rest = &readme[start..];
    let body = &rest[rest.find('\n').expect("newline") + 1..];
    body[..body.find("```").expect("the block's end")].to_owned()
}

fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("a free port");
    listener.local_addr().expect("address").port()
}

#[test]
fn readme_walkthrough_works_verbatim() {
    walkthrough_against("server");
}

#[test]
fn readme_walkthrough_works_verbatim_on_poem() {
    walkthrough_against("poem_server");
}

fn walkthrough_against(example: &str) {
    for tool in ["bash", "curl", "jq"] {
        let found = Command::new("sh")
            .arg("-c")
            .arg(format!("command -v {tool}"))
            .stdout(Stdio::null())
            .status();
        assert!(found.is_ok_and(|s| s.success()), "the walk-through needs `{tool}`");
    }
    let port = free_port();
    let dir = std::env::temp_dir().join(format!(
        "sentryagent-walkthrough-{example}-{}-{port}",
        std::process::id()
    ));
    std::fs::create_dir_all(&dir).expect("a scratch directory");

    let mut server = Command::new(example_binary(example))
        .env("SENTRYAGENT_BIND", format!("127.0.0.1:{port}"))
        .env_remove("SENTRYAGENT_ISSUER")
        .env_remove("SENTRYAGENT_OPERATOR_KEY")
        // The walk-through is the in-memory server's, whatever CI exports.
        .env_remove("DATABASE_URL")
        .env_remove("REDIS_URL")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("the example server starts (cargo test builds examples)");
    let stdout = server.stdout.take().expect("stdout");
    let mut env_lines = Vec::new();
    for line in BufReader::new(stdout).lines().take(2) {
        env_lines.push(line.expect("a line"));
    }
    assert!(
        env_lines[0].starts_with("SENTRYAGENT_ADMIN_CLIENT_ID=sa_ci_"),
        "{env_lines:?}"
    );
    assert!(
        env_lines[1].starts_with("SENTRYAGENT_ADMIN_CLIENT_SECRET=sa_sk_"),
        "{env_lines:?}"
    );
    std::fs::write(dir.join("sentryagent.env"), env_lines.join("\n") + "\n").expect("write sentryagent.env");

    // Wait until it listens.
    let deadline = Instant::now() + Duration::from_secs(10);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "the server did not listen on {port}");
        std::thread::sleep(Duration::from_millis(50));
    }

    let script = walkthrough_block().replace("127.0.0.1:3000", &format!("127.0.0.1:{port}"));
    let out = Command::new("bash")
        .args(["-e", "-o", "pipefail", "-c", &script])
        .current_dir(&dir)
        .output()
        .expect("bash runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);

    let term = Command::new("kill").args(["-TERM", &server.id().to_string()]).status();
    let status = server.wait().expect("the server exits");
    let _ = std::fs::remove_dir_all(&dir);

    assert!(
        out.status.success(),
        "walk-through on {example} failed:\n{stdout}\n{stderr}"
    );
    for expected in [
        "\"name\": \"build-bot@acme.example\"",
        "\"did\": \"did:web:127.0.0.1%3A",
        "\"scopes\": []",
        "\"active\": true",
        "revoke: 200",
        "\"code\": \"UNAUTHORIZED\"",
        "\"active\": false",
        "\"action\": \"token.revoked\"",
        "\"action\": \"agent.created\"",
        "\"valid\": true",
    ] {
        assert!(stdout.contains(expected), "`{expected}` missing from:\n{stdout}");
    }
    assert!(term.is_ok_and(|s| s.success()));
    assert!(
        status.success(),
        "SIGTERM should stop the server gracefully: {status:?}"
    );
}
