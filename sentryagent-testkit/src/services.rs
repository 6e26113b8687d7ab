//! Backend suites need PostgreSQL and Redis. Without them a plain
//! `cargo test` still passes and says which suites it skipped; with
//! `SENTRYAGENT_REQUIRE_SERVICES=1` (as `.ci/run` sets) they fail instead.

use std::collections::HashSet;
use std::io::Write;
use std::path::PathBuf;
use std::process::Command;
use std::sync::{Mutex, OnceLock};

/// Whether backend suites must run (`SENTRYAGENT_REQUIRE_SERVICES=1`).
pub fn required() -> bool {
    std::env::var("SENTRYAGENT_REQUIRE_SERVICES").is_ok_and(|v| v == "1" || v.eq_ignore_ascii_case("true"))
}

/// `DATABASE_URL`, or the development machines' PostgreSQL.
pub fn database_url() -> String {
    std::env::var("DATABASE_URL").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_owned())
}

/// `REDIS_URL`, or the development machines' Redis.
pub fn redis_url() -> String {
    std::env::var("REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".to_owned())
}

/// A backend could not be reached: panics when services are required,
/// otherwise tells the person running the tests, once per suite, on the
/// real stderr (test output capture would hide it), and returns `None`.
pub fn unavailable<T>(suite: &str, why: &dyn std::fmt::Display) -> Option<T> {
    if required() {
        panic!("{suite}: {why} (SENTRYAGENT_REQUIRE_SERVICES=1, so this fails instead of skipping)");
    }
    static TOLD: OnceLock<Mutex<HashSet<String>>> = OnceLock::new();
    let told = TOLD.get_or_init(Default::default);
    if told.lock().unwrap_or_else(|e| e.into_inner()).insert(suite.to_owned()) {
        let _ = writeln!(
            std::io::stderr(),
            "\nSKIPPED {suite}: {why}. Start the service, or set SENTRYAGENT_REQUIRE_SERVICES=1 to make this a failure."
        );
    }
    None
}

/// A name no other test run uses: `prefix_<16 hex digits>`.
pub fn unique_name(prefix: &str) -> String {
    format!("{prefix}_{:016x}", random_u64())
}

fn random_u64() -> u64 {
    // The random tail of a UUID v4.
    let (_, low) = uuid::Uuid::new_v4().as_u64_pair();
    low
}

/// A PostgreSQL of the test's own (initdb and pg_ctl from
/// `/usr/lib/postgresql/*/bin`), in a temporary directory on a free port,
/// that a test can stop and start again: faults that need the database to go
/// away never touch the shared one. Stopped and deleted when dropped.
pub struct OwnPostgres {
    bin: PathBuf,
    dir: PathBuf,
    port: u16,
}

impl OwnPostgres {
    fn command(&self, program: &str) -> Command {
        let path = self.bin.join(program);
        // PostgreSQL refuses to run as root; the test runs it as `postgres` then.
        if is_root() {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(path);
            c
        } else {
            Command::new(path)
        }
    }

    /// Makes the cluster (not started); `None` where PostgreSQL's binaries
    /// are not installed.
    pub fn init() -> Option<Self> {
        let bin = std::fs::read_dir("/usr/lib/postgresql")
            .ok()?
            .filter_map(Result::ok)
            .map(|e| e.path().join("bin"))
            .find(|p| p.join("initdb").exists())?;
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .ok()?
            .local_addr()
            .ok()?
            .port();
        let dir = std::env::temp_dir().join(unique_name("sa_pg"));
        std::fs::create_dir_all(&dir).ok()?;
        if is_root() {
            Command::new("chown")
                .args(["postgres:postgres"])
                .arg(&dir)
                .status()
                .ok()?;
        }
        let pg = Self { bin, dir, port };
        let ok = pg
            .command("initdb")
            .args(["-A", "trust", "-U", "postgres", "-D"])
            .arg(&pg.dir)
            .output()
            .ok()?
            .status
            .success();
        ok.then_some(pg)
    }

    /// Starts it and waits until it accepts connections.
    ///
    /// # Panics
    /// When `pg_ctl start` fails.
    pub fn start(&self) {
        let status = self
            .command("pg_ctl")
            .arg("-D")
            .arg(&self.dir)
            .args(["-w", "-l"])
            .arg(self.dir.join("log"))
            .arg("-o")
            .arg(format!(
                "-p {} -c listen_addresses=127.0.0.1 -k {}",
                self.port,
                self.dir.display()
            ))
            .arg("start")
            .output()
            .expect("pg_ctl runs");
        assert!(status.status.success(), "pg_ctl start: {status:?}");
    }

    /// Stops it (fast shutdown: open connections are cut).
    pub fn stop(&self) {
        let _ = self
            .command("pg_ctl")
            .arg("-D")
            .arg(&self.dir)
            .args(["-w", "-m", "fast", "stop"])
            .output();
    }

    /// `postgres://postgres@127.0.0.1:<port>/postgres`.
    pub fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }
}

impl Drop for OwnPostgres {
    fn drop(&mut self) {
        self.stop();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}
