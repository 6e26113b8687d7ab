//! Backend suites need PostgreSQL and Redis. Without them a plain
//! `cargo test` still passes and says which suites it skipped; with
//! `SENTRYAGENT_REQUIRE_SERVICES=1` (as `.ci/run` sets) they fail instead.

use std::collections::HashSet;
use std::io::Write;
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
