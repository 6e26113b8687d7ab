//! What the client's and the CLI's tests share: one example server per test
//! binary, started on first use and stopped when the binary exits, and the
//! PostgreSQL settings for a server that survives a restart.

#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use crate::support::{example_binary, free_port};

/// A running example server and its default tenant's admin credential.
pub(crate) struct Server {
    child: Child,
    pub(crate) port: u16,
    pub(crate) client_id: String,
    pub(crate) client_secret: String,
}

impl Server {
    /// The API's base URL.
    pub(crate) fn url(&self) -> String {
        format!("http://127.0.0.1:{}/api/v1", self.port)
    }

    /// Starts the example server with `envs` on `port` (a free one when
    /// `None`) under a guard: a shell that waits on its standard input and
    /// stops the server when it closes, so the server never outlives the
    /// test process, even one kept in a `static`.
    pub(crate) fn start(envs: &[(&str, &str)], port: Option<u16>, first_start: bool) -> Self {
        let port = port.unwrap_or_else(free_port);
        let mut command = Command::new("sh");
        command
            .args(["-c", r#""$0" <&- & pid=$!; read -r _; kill -TERM "$pid"; wait "$pid""#])
            .arg(example_binary("server"))
            .env("SENTRYAGENT_BIND", format!("127.0.0.1:{port}"))
            // Many servers run at once: none takes the default metrics port.
            .env("SENTRYAGENT_METRICS_BIND", "off")
            .env_remove("SENTRYAGENT_ISSUER")
            .env_remove("SENTRYAGENT_OPERATOR_KEY")
            .env_remove("DATABASE_URL")
            .env_remove("REDIS_URL")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null());
        for (k, v) in envs {
            command.env(k, v);
        }
        let mut child = command
            .spawn()
            .expect("the example server starts (cargo test builds examples)");
        let (mut client_id, mut client_secret) = (String::new(), String::new());
        if first_start {
            let stdout = child.stdout.take().expect("stdout");
            for line in BufReader::new(stdout).lines().take(2) {
                let line = line.expect("a line");
                if let Some(v) = line.strip_prefix("SENTRYAGENT_ADMIN_CLIENT_ID=") {
                    client_id = v.to_owned();
                } else if let Some(v) = line.strip_prefix("SENTRYAGENT_ADMIN_CLIENT_SECRET=") {
                    client_secret = v.to_owned();
                }
            }
            assert!(
                !client_id.is_empty() && !client_secret.is_empty(),
                "the server printed its credential"
            );
        }
        let deadline = Instant::now() + Duration::from_secs(20);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "the example server did not listen on {port}");
            std::thread::sleep(Duration::from_millis(20));
        }
        Self {
            child,
            port,
            client_id,
            client_secret,
        }
    }

    /// Stops the server (SIGTERM, through the guard) and waits for it.
    pub(crate) fn stop(mut self) {
        drop(self.child.stdin.take());
        let _ = self.child.wait();
    }
}

/// The in-memory example server this test binary shares, with tier limits off
/// (the tests register more agents than the free tier allows).
pub(crate) fn shared() -> &'static Server {
    static SERVER: OnceLock<Server> = OnceLock::new();
    SERVER.get_or_init(|| Server::start(&[("SENTRYAGENT_ENFORCE_TIERS", "false")], None, true))
}

/// A name no other test or run uses.
pub(crate) fn unique(label: &str) -> String {
    static N: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    format!("{label}-{}-{n}@tests.example", std::process::id())
}

pub(crate) fn database_url() -> String {
    std::env::var("DATABASE_URL").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_owned())
}

/// Whether PostgreSQL is there; when `SENTRYAGENT_REQUIRE_SERVICES=1`, it
/// must be.
pub(crate) fn postgres_available() -> bool {
    let reachable = std::net::TcpStream::connect("127.0.0.1:5432").is_ok();
    let required = std::env::var("SENTRYAGENT_REQUIRE_SERVICES").is_ok_and(|v| v == "1");
    assert!(reachable || !required, "PostgreSQL is required and unreachable");
    if !reachable {
        eprintln!("skipped: PostgreSQL is not reachable on 127.0.0.1:5432");
    }
    reachable
}

/// Drops a test schema.
pub(crate) fn drop_schema(schema: &str) {
    let _ = Command::new("psql")
        .args([
            &database_url(),
            "-qc",
            &format!("DROP SCHEMA IF EXISTS {schema} CASCADE"),
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
}
