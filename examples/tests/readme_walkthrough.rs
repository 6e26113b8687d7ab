//! Runs the README's curl walk-through, verbatim but for the port, against
//! each example server binary (axum and poem), and stops it with SIGTERM.

mod support;

use support::{ExampleServer, Scratch, bash, fenced_blocks, require_tools, workspace_root};

fn walkthrough_block() -> String {
    let readme = std::fs::read_to_string(workspace_root().join("README.md")).expect("README.md");
    fenced_blocks(&readme)
        .into_iter()
        .find(|b| b.is(&["sh", "walkthrough"]))
        .expect("a ```sh walkthrough block in README.md")
        .body
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
    require_tools(&["bash", "curl", "jq"]);
    let server = ExampleServer::start(example, &[]);
    let dir = Scratch::new(&format!("walkthrough-{example}"));
    std::fs::write(dir.0.join("sentryagent.env"), server.env_file()).expect("write sentryagent.env");

    let script = walkthrough_block().replace("127.0.0.1:3000", &format!("127.0.0.1:{}", server.port));
    let out = bash(&script, &dir.0, &[]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    server.stop();

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
}
