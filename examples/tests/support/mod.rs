//! What the tests that run documentation against the example binaries share:
//! finding a binary, starting it on a free port and reading the admin
//! credential it prints, stopping it with SIGTERM, reading fenced blocks out
//! of a markdown file, and running shell in a scratch directory.

// Each test file includes this module and uses a part of it.
#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// `target/<profile>/examples/<name>`, built by `cargo test` beside the tests.
pub(crate) fn example_binary(name: &str) -> PathBuf {
    // target/<profile>/deps/<this test> → target/<profile>/examples/<name>
    let exe = std::env::current_exe().expect("the test binary's path");
    let dir = exe.parent().and_then(|d| d.parent()).expect("target/<profile>");
    dir.join("examples").join(name)
}

/// The workspace's root directory.
pub(crate) fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

pub(crate) fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("a free port");
    listener.local_addr().expect("address").port()
}

/// Fails unless each tool is on the PATH.
pub(crate) fn require_tools(tools: &[&str]) {
    for tool in tools {
        let found = Command::new("sh")
            .arg("-c")
            .arg(format!("command -v {tool}"))
            .stdout(Stdio::null())
            .status();
        assert!(found.is_ok_and(|s| s.success()), "this test needs `{tool}`");
    }
}

/// A fenced code block of a markdown file.
#[derive(Clone, Debug)]
pub(crate) struct Block {
    /// The words after the opening backticks (`sh guide` → `["sh", "guide"]`).
    pub(crate) info: Vec<String>,
    /// The block's text, each line ending with a newline.
    pub(crate) body: String,
    /// The line of the opening fence, from 1.
    pub(crate) line: usize,
}

impl Block {
    pub(crate) fn is(&self, words: &[&str]) -> bool {
        words.iter().all(|w| self.info.iter().any(|i| i == w))
    }
}

/// Every fenced block of `markdown`, in order.
pub(crate) fn fenced_blocks(markdown: &str) -> Vec<Block> {
    let mut blocks = Vec::new();
    let mut open: Option<Block> = None;
    for (i, line) in markdown.lines().enumerate() {
        let fence = line.trim_start().starts_with("```");
        match open.take() {
            None if fence => {
                let info = line.trim_start().trim_start_matches('`');
                open = Some(Block {
                    info: info.split_whitespace().map(str::to_owned).collect(),
                    body: String::new(),
                    line: i + 1,
                });
            }
            None => {}
            Some(block) if fence => blocks.push(block),
            Some(mut block) => {
                block.body.push_str(line);
                block.body.push('\n');
                open = Some(block);
            }
        }
    }
    assert!(open.is_none(), "a fenced block is not closed");
    blocks
}

/// An example server started on a free loopback port.
pub(crate) struct ExampleServer {
    child: Child,
    /// Its port.
    pub(crate) port: u16,
    /// The lines it printed on stdout before listening: the admin credential.
    pub(crate) env_lines: Vec<String>,
}

impl ExampleServer {
    /// Starts the example `name` in memory with `SENTRYAGENT_BIND` set and the
    /// other settings as a new user has them (none), plus `envs`; reads the two
    /// credential lines and waits until it listens.
    pub(crate) fn start(name: &str, envs: &[(&str, &str)]) -> Self {
        let port = free_port();
        let mut command = Command::new(example_binary(name));
        command
            .env("SENTRYAGENT_BIND", format!("127.0.0.1:{port}"))
            // Many servers run at once: none takes the default metrics port.
            .env("SENTRYAGENT_METRICS_BIND", "off")
            .env_remove("SENTRYAGENT_ISSUER")
            .env_remove("SENTRYAGENT_OPERATOR_KEY")
            // The documented runs are the in-memory server's, whatever CI exports.
            .env_remove("DATABASE_URL")
            .env_remove("REDIS_URL")
            .stdout(Stdio::piped())
            .stderr(Stdio::null());
        for (k, v) in envs {
            command.env(k, v);
        }
        let mut child = command
            .spawn()
            .unwrap_or_else(|e| panic!("the example `{name}` starts (cargo test builds examples): {e}"));
        let stdout = child.stdout.take().expect("stdout");
        let mut env_lines = Vec::new();
        for line in BufReader::new(stdout).lines().take(2) {
            env_lines.push(line.expect("a line"));
        }
        assert!(
            env_lines.len() == 2
                && env_lines[0].starts_with("SENTRYAGENT_ADMIN_CLIENT_ID=sa_ci_")
                && env_lines[1].starts_with("SENTRYAGENT_ADMIN_CLIENT_SECRET=sa_sk_"),
            "{name} printed {env_lines:?}"
        );
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "{name} did not listen on {port}");
            std::thread::sleep(Duration::from_millis(20));
        }
        Self { child, port, env_lines }
    }

    /// What `cargo run --example … > sentryagent.env` leaves in the file.
    pub(crate) fn env_file(&self) -> String {
        self.env_lines.join("\n") + "\n"
    }

    /// Sends SIGTERM and asserts a graceful exit.
    pub(crate) fn stop(mut self) {
        let term = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let status = self.child.wait().expect("the server exits");
        assert!(term.is_ok_and(|s| s.success()));
        assert!(
            status.success(),
            "SIGTERM should stop the server gracefully: {status:?}"
        );
    }
}

impl Drop for ExampleServer {
    fn drop(&mut self) {
        // After a failed assertion: leave no server behind.
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// A scratch directory, removed when dropped.
pub(crate) struct Scratch(pub(crate) PathBuf);

impl Scratch {
    pub(crate) fn new(label: &str) -> Self {
        let dir = std::env::temp_dir().join(format!("sentryagent-{label}-{}-{}", std::process::id(), free_port()));
        std::fs::create_dir_all(&dir).expect("a scratch directory");
        Self(dir)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Runs `script` with `bash -e -o pipefail` in `dir`.
pub(crate) fn bash(script: &str, dir: &Path, envs: &[(&str, &str)]) -> std::process::Output {
    Command::new("bash")
        .args(["-e", "-o", "pipefail", "-c", script])
        .current_dir(dir)
        // The documents' servers run at once: none takes the default metrics port.
        .env("SENTRYAGENT_METRICS_BIND", "off")
        .envs(envs.iter().copied())
        .output()
        .expect("bash runs")
}

/// An example server process started from a prepared command (PostgreSQL
/// tests), with the admin credential lines it printed on a first start.
pub(crate) struct SpawnedServer {
    child: std::process::Child,
    pub(crate) port: u16,
    /// The credential lines printed on a first start (none otherwise).
    pub(crate) lines: Vec<String>,
}

impl SpawnedServer {
    /// Spawns `command` (its stdout piped) and waits until `port` listens;
    /// on a first start reads the two credential lines first.
    pub(crate) fn start(mut command: std::process::Command, port: u16, first_start: bool) -> Self {
        use std::io::BufRead as _;
        let mut child = command.spawn().expect("the example server starts");
        let mut lines = Vec::new();
        if first_start {
            let stdout = child.stdout.take().expect("stdout");
            for line in std::io::BufReader::new(stdout).lines().take(2) {
                lines.push(line.expect("a line"));
            }
        }
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                std::time::Instant::now() < deadline,
                "the server did not listen on {port}"
            );
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        Self { child, port, lines }
    }

    pub(crate) fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    /// An access token for the client `id` (client credentials).
    pub(crate) async fn token(&self, client: &reqwest::Client, id: &str, secret: &str) -> String {
        let answer: serde_json::Value = client
            .post(self.url("/api/v1/oauth2/token"))
            .basic_auth(id, Some(secret))
            .form(&[("grant_type", "client_credentials")])
            .send()
            .await
            .expect("token request")
            .json()
            .await
            .expect("json");
        answer["access_token"].as_str().expect("a token").to_owned()
    }

    /// The value of `KEY=value` among the printed lines.
    pub(crate) fn value(&self, key: &str) -> String {
        line_value(&self.lines, key)
    }

    /// SIGTERM, and a clean exit.
    pub(crate) fn terminate(mut self) {
        let term = std::process::Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        assert!(term.is_ok_and(|s| s.success()));
        let status = self.child.wait().expect("exit");
        assert!(status.success(), "SIGTERM stops the server cleanly: {status:?}");
    }
}

impl Drop for SpawnedServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The value of `KEY=value` among `lines`.
pub(crate) fn line_value(lines: &[String], key: &str) -> String {
    lines
        .iter()
        .find_map(|l| l.strip_prefix(&format!("{key}=")))
        .unwrap_or_else(|| panic!("{key} in {lines:?}"))
        .to_owned()
}
