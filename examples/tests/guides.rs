//! Runs the guides in `docs/guides/` as a new user would: against a freshly
//! started example binary, every ```` ```sh guide ```` block of a guide in
//! order in one `bash -e -o pipefail` (only the port differs), in a scratch
//! directory holding the `sentryagent.env` the server printed. A block
//! followed by an ```` ```… output ```` block must print exactly that, once
//! ids, secrets, tokens and times are masked on both sides.
//!
//! The GitHub Actions guide runs against a stand-in for GitHub's OIDC issuer
//! and the Actions runtime's token endpoint (`sentryagent-testkit`), and the
//! embedding guide against `examples/embed_axum.rs` and `embed_poem.rs`,
//! whose code its Rust blocks must quote verbatim.
//!
//! After a deliberate change of the API's answers, `GUIDES_BLESS=1 cargo test
//! -p sentryagent-examples --test guides` writes the outputs of the run into
//! the guides' output blocks instead of comparing; review the diff.

mod support;

use sentryagent_testkit::oidc::{ACTIONS_REQUEST_TOKEN, StandInIssuer};
use support::{Block, ExampleServer, Scratch, bash, fenced_blocks, require_tools, workspace_root};

const MARK: &str = "@@guide-block@@";

fn guide(file: &str) -> String {
    std::fs::read_to_string(workspace_root().join("docs/guides").join(file)).expect("the guide")
}

/// The runnable blocks of a guide, each with the output it shows (if any).
fn steps(file: &str, markdown: &str) -> Vec<(Block, Option<Block>)> {
    let blocks = fenced_blocks(markdown);
    let mut steps = Vec::new();
    for (i, block) in blocks.iter().enumerate() {
        if block.is(&["output"]) {
            let after_runnable = i > 0 && blocks[i - 1].is(&["sh", "guide"]);
            assert!(
                after_runnable,
                "{file}:{}: an output block must follow a ```sh guide block",
                block.line
            );
        }
        if block.is(&["sh", "guide"]) {
            let shown = blocks.get(i + 1).filter(|b| b.is(&["output"])).cloned();
            steps.push((block.clone(), shown));
        }
    }
    assert!(!steps.is_empty(), "{file} has no ```sh guide blocks");
    steps
}

/// Masks what differs from run to run: the port, ids, client ids and
/// secrets, JWTs, RFC 3339 times and Unix times.
fn masked(text: &str, port: u16) -> String {
    let text = text
        .replace(&format!("127.0.0.1:{port}"), "127.0.0.1:3000")
        .replace(&format!("127.0.0.1%3A{port}"), "127.0.0.1%3A3000");
    let chars: Vec<char> = text.chars().collect();
    let mut out = String::new();
    let mut i = 0;
    while i < chars.len() {
        let prev_is_word = i > 0 && is_token_char(chars[i - 1]);
        let (mask, len) = if prev_is_word { (None, 0) } else { mask_at(&chars[i..]) };
        match mask {
            Some(mask) => {
                out.push_str(mask);
                i += len;
            }
            None => {
                out.push(chars[i]);
                i += 1;
            }
        }
    }
    out.lines()
        .map(str::trim_end)
        .collect::<Vec<_>>()
        .join("\n")
        .trim()
        .to_owned()
}

fn is_token_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_' || c == '-'
}

fn run_len(s: &[char], ok: impl Fn(char) -> bool) -> usize {
    s.iter().take_while(|c| ok(**c)).count()
}

fn mask_at(s: &[char]) -> (Option<&'static str>, usize) {
    let starts = |p: &str| s.len() >= p.len() && s.iter().zip(p.chars()).all(|(a, b)| *a == b);
    let word = run_len(s, is_token_char);
    if starts("sa_sk_") {
        return (Some("<secret>"), word);
    }
    if starts("sa_ci_") || starts("sa_oc_") {
        return (Some("<client-id>"), word);
    }
    if starts("eyJ") {
        let len = run_len(s, |c| is_token_char(c) || c == '.');
        if s[..len].iter().filter(|c| **c == '.').count() == 2 {
            return (Some("<jwt>"), len);
        }
    }
    if is_uuid(s) {
        return (Some("<uuid>"), 36);
    }
    // A request id the server made: 32 hex digits.
    if word == 32 && s[..32].iter().all(|c| c.is_ascii_hexdigit()) {
        return (Some("<request-id>"), 32);
    }
    if let Some(len) = rfc3339(s) {
        return (Some("<time>"), len);
    }
    let digits = run_len(s, |c| c.is_ascii_digit());
    if digits == 10 && s.get(10).is_none_or(|c| !is_token_char(*c)) {
        return (Some("<unix-time>"), 10);
    }
    if digits == 10 && s.get(10) == Some(&'-') {
        // A signing key's id: its creation time and a random suffix.
        return (Some("<kid>"), word);
    }
    (None, 0)
}

fn is_uuid(s: &[char]) -> bool {
    s.len() >= 36
        && s[..36].iter().enumerate().all(|(i, c)| match i {
            8 | 13 | 18 | 23 => *c == '-',
            _ => c.is_ascii_hexdigit(),
        })
        && s.get(36).is_none_or(|c| !is_token_char(*c))
}

/// `2026-04-02T05:00:00Z`, with optional fractions and a `Z` or an offset.
fn rfc3339(s: &[char]) -> Option<usize> {
    let shape = "dddd-dd-ddTdd:dd:dd";
    if s.len() < shape.len()
        || !shape
            .chars()
            .zip(s)
            .all(|(p, c)| if p == 'd' { c.is_ascii_digit() } else { p == *c })
    {
        return None;
    }
    let mut len = shape.len();
    if s.get(len) == Some(&'.') {
        len += 1 + run_len(&s[len + 1..], |c| c.is_ascii_digit());
    }
    match s.get(len) {
        Some('Z') => Some(len + 1),
        Some('+') if s.len() >= len + 6 => Some(len + 6),
        _ => Some(len),
    }
}

/// Runs `file`'s blocks against `server` in `dir`; fails on a non-zero exit
/// or any output that differs from the one shown.
fn run_guide(file: &str, server: ExampleServer, dir: &Scratch, envs: &[(&str, &str)]) {
    let markdown = guide(file);
    let steps = steps(file, &markdown);
    std::fs::write(dir.0.join("sentryagent.env"), server.env_file()).expect("write sentryagent.env");
    let mut script = String::new();
    for (block, _) in &steps {
        script.push_str(&format!("printf '\\n{MARK}\\n'\n"));
        script.push_str(
            &block
                .body
                .replace("127.0.0.1:3000", &format!("127.0.0.1:{}", server.port)),
        );
    }
    let out = bash(&script, &dir.0, envs);
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    let port = server.port;
    server.stop();

    let outputs: Vec<&str> = stdout.split(&format!("\n{MARK}\n")).skip(1).collect();
    if !out.status.success() {
        let failed = steps.get(outputs.len().saturating_sub(1)).map_or(0, |(b, _)| b.line);
        panic!(
            "{file}: the block at line {failed} failed ({}):\n--- stdout\n{stdout}\n--- stderr\n{stderr}",
            out.status
        );
    }
    assert_eq!(outputs.len(), steps.len(), "{file}: every block ran\n{stdout}");
    if std::env::var("GUIDES_BLESS").is_ok_and(|v| v == "1") {
        bless(file, &markdown, &steps, &outputs, port);
        return;
    }
    let mut mismatches = Vec::new();
    for ((block, shown), actual) in steps.iter().zip(outputs) {
        let Some(shown) = shown else { continue };
        let (expected, actual) = (masked(&shown.body, port), masked(actual, port));
        if expected != actual {
            mismatches.push(format!(
                "{file}:{}: the block prints\n{actual}\nbut the guide shows\n{expected}",
                block.line
            ));
        }
    }
    assert!(
        mismatches.is_empty(),
        "{}\n--- stderr\n{stderr}",
        mismatches.join("\n\n")
    );
}

/// Writes each block's actual output (with the documented port) into the
/// output block after it.
fn bless(file: &str, markdown: &str, steps: &[(Block, Option<Block>)], outputs: &[&str], port: u16) {
    let mut lines: Vec<String> = markdown.lines().map(str::to_owned).collect();
    for ((_, shown), actual) in steps.iter().zip(outputs).rev() {
        let Some(shown) = shown else { continue };
        let actual = actual
            .replace(&format!("127.0.0.1:{port}"), "127.0.0.1:3000")
            .replace(&format!("127.0.0.1%3A{port}"), "127.0.0.1%3A3000");
        // Lines are counted from 1: the body starts after the opening fence.
        let start = shown.line;
        let end = start + shown.body.lines().count();
        lines.splice(start..end, actual.trim_end().lines().map(str::to_owned));
    }
    let path = workspace_root().join("docs/guides").join(file);
    std::fs::write(path, lines.join("\n") + "\n").expect("write the guide");
}

fn run_against_server(file: &str) {
    require_tools(&["bash", "curl", "jq", "base64"]);
    // The background full verification would answer `/audit/verify` with a
    // last full verification at whatever moment its turn came.
    let server = ExampleServer::start("server", &[("SENTRYAGENT_AUDIT_FULL_VERIFICATION_SECS", "0")]);
    let dir = Scratch::new(&format!("guide-{}", file.trim_end_matches(".md")));
    run_guide(file, server, &dir, &[]);
}

#[test]
fn guide_register_an_agent() {
    run_against_server("register-an-agent.md");
}

#[test]
fn guide_manage_credentials() {
    run_against_server("manage-credentials.md");
}

#[test]
fn guide_issue_and_revoke_tokens() {
    run_against_server("issue-and-revoke-tokens.md");
}

#[test]
fn guide_query_audit_logs() {
    run_against_server("query-audit-logs.md");
}

#[test]
fn guide_register_oauth_clients() {
    run_against_server("register-oauth-clients.md");
}

#[test]
fn guide_sign_people_in() {
    run_against_server("sign-people-in.md");
}

#[test]
fn guide_embed_in_your_app_on_axum() {
    embed_against("embed_axum");
}

#[test]
fn guide_embed_in_your_app_on_poem() {
    embed_against("embed_poem");
}

fn embed_against(example: &str) {
    require_tools(&["bash", "curl", "jq"]);
    let server = ExampleServer::start(example, &[]);
    let dir = Scratch::new(&format!("guide-{example}"));
    run_guide("embed-in-your-app.md", server, &dir, &[]);
}

/// Each Rust block of the embedding guide is a verbatim excerpt of an
/// example that `cargo test` builds (so the guide's code compiles).
#[test]
fn guide_embed_in_your_app_quotes_compiled_code() {
    assert_quotes("embed-in-your-app.md", &["embed_axum.rs", "embed_poem.rs"]);
}

/// Every Rust block of `file` (at least four) is a verbatim excerpt of one
/// of `sources` (paths under `examples/`), which `cargo test` builds.
fn assert_quotes(file: &str, sources: &[&str]) {
    let markdown = guide(file);
    let texts: Vec<String> = sources
        .iter()
        .map(|f| std::fs::read_to_string(workspace_root().join("examples").join(f)).expect("the example"))
        .collect();
    let rust: Vec<Block> = fenced_blocks(&markdown)
        .into_iter()
        .filter(|b| b.is(&["rust"]))
        .collect();
    assert!(rust.len() >= 4, "{file} shows its code");
    for block in rust {
        assert!(
            texts.iter().any(|s| s.contains(&block.body)),
            "{file}:{}: this block is not in any of {sources:?}:\n{}",
            block.line,
            block.body
        );
    }
}

#[test]
fn guide_protect_an_mcp_server() {
    require_tools(&["bash", "curl", "jq"]);
    let server = ExampleServer::start("mcp_server", &[]);
    let dir = Scratch::new("guide-mcp_server");
    run_guide("protect-an-mcp-server.md", server, &dir, &[]);
}

/// Each Rust block of the MCP guide is a verbatim excerpt of the example or
/// of its test, which `cargo test` builds.
#[test]
fn guide_protect_an_mcp_server_quotes_compiled_code() {
    assert_quotes(
        "protect-an-mcp-server.md",
        &["mcp_server.rs", "tests/mcp_server.rs", "tests/support/rmcp_http.rs"],
    );
}

/// The GitHub Actions guide, with a stand-in for GitHub: the server trusts
/// the stand-in issuer, whose Actions token endpoint issues tokens for a push
/// to `main` of `acme/app`, and the composite Actions' scripts run as a
/// runner would run them, from a checkout (`actions/` in the scratch dir).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn guide_github_actions() {
    require_tools(&["bash", "curl", "jq"]);
    let issuer = StandInIssuer::start().await;
    let (url, jwks) = (issuer.url().to_owned(), issuer.jwks_url());
    let token_url = issuer.actions_token_url();
    tokio::task::spawn_blocking(move || {
        let server = ExampleServer::start(
            "server",
            &[
                ("SENTRYAGENT_GITHUB_ISSUER", &url),
                ("SENTRYAGENT_GITHUB_JWKS_URL", &jwks),
            ],
        );
        let dir = Scratch::new("guide-github-actions");
        std::os::unix::fs::symlink(workspace_root().join("actions"), dir.0.join("actions"))
            .expect("actions/ in the scratch directory");
        run_guide(
            "github-actions.md",
            server,
            &dir,
            &[
                ("ACTIONS_ID_TOKEN_REQUEST_URL", &token_url),
                ("ACTIONS_ID_TOKEN_REQUEST_TOKEN", ACTIONS_REQUEST_TOKEN),
                ("GITHUB_REPOSITORY", "acme/app"),
                ("GITHUB_REF", "refs/heads/main"),
                ("GITHUB_EVENT_NAME", "push"),
            ],
        );
    })
    .await
    .expect("the guide's run");
    drop(issuer);
}

#[test]
fn masking_keeps_what_a_reader_compares() {
    let port = 40123;
    let text = "{\"agentId\": \"3f0c5a0e-9a8b-4c1d-8e2f-1a2b3c4d5e6f\", \"at\": \"2026-04-02T05:00:00.123Z\", \
                \"exp\": 1775106000, \"kid\": \"1775106000-O-ItpYQJ\", \"iss\": \"http://127.0.0.1:40123\", \"clientSecret\": \"sa_sk_AbC-d_9\", \
                \"token\": \"eyJhbGc.eyJzdWI.sig-_x\", \"did\": \"did:web:127.0.0.1%3A40123:agents:x\", \"n\": 12}";
    assert_eq!(
        masked(text, port),
        "{\"agentId\": \"<uuid>\", \"at\": \"<time>\", \"exp\": <unix-time>, \"kid\": \"<kid>\", \"iss\": \"http://127.0.0.1:3000\", \
         \"clientSecret\": \"<secret>\", \"token\": \"<jwt>\", \"did\": \"did:web:127.0.0.1%3A3000:agents:x\", \"n\": 12}"
    );
}
