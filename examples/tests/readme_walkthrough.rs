//! Runs the README's curl walk-through, verbatim but for the port, against
//! each example server binary (axum and poem), and stops it with SIGTERM.

mod support;

use support::{ExampleServer, Scratch, bash, fenced_blocks, require_tools, workspace_root};

fn readme() -> String {
    std::fs::read_to_string(workspace_root().join("README.md")).expect("README.md")
}

fn walkthrough_block() -> String {
    fenced_blocks(&readme())
        .into_iter()
        .find(|b| b.is(&["sh", "walkthrough"]))
        .expect("a ```sh walkthrough block in README.md")
        .body
}

/// The events the README says the audit trail lists, in its order: the
/// backquoted names between "the audit trail lists" and "newest first".
fn claimed_audit_trail() -> Vec<String> {
    let readme = readme().split_whitespace().collect::<Vec<_>>().join(" ");
    let start = readme
        .find("the audit trail lists")
        .expect("README.md says what the audit trail lists");
    let claim = &readme[start..];
    let claim = &claim[..claim.find("newest first").expect("… newest first")];
    claim.split('`').skip(1).step_by(2).map(str::to_owned).collect()
}

/// The `action` of every JSON object in the walk-through's output that has
/// one (only step 7's audit trail does), in order; lines that are not JSON
/// (`revoke: 200`) are skipped.
fn audit_trail_printed(stdout: &str) -> Vec<String> {
    let mut actions = Vec::new();
    let mut rest = stdout.trim_start();
    while !rest.is_empty() {
        let mut stream = serde_json::Deserializer::from_str(rest).into_iter::<serde_json::Value>();
        match stream.next() {
            Some(Ok(value)) => {
                actions.extend(value.get("action").and_then(|a| a.as_str()).map(str::to_owned));
                rest = &rest[stream.byte_offset()..];
            }
            _ => rest = rest.split_once('\n').map_or("", |(_, next)| next),
        }
        rest = rest.trim_start();
    }
    actions
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
        "\"valid\": true",
    ] {
        assert!(stdout.contains(expected), "`{expected}` missing from:\n{stdout}");
    }
    // Exactly the events the README names, in its order.
    let claimed = claimed_audit_trail();
    assert!(
        !claimed.is_empty(),
        "README.md names the audit trail's events in backquotes"
    );
    assert_eq!(
        audit_trail_printed(&stdout),
        claimed,
        "the audit trail printed on {example} and the one README.md describes"
    );
}
