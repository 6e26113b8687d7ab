//! The example server's settings, end to end: the README's table is the
//! typed definition's (`sentryagent_examples::config`), and a wrong setting
//! stops the server with a message naming it (no panic), while suspicious
//! ones are warned about.

mod support;

use std::process::{Command, Output, Stdio};

use sentryagent_examples::config::settings_table;
use support::{ExampleServer, example_binary, workspace_root};

const TABLE_HEADER: &str = "| variable | default | meaning |";

/// The README's table of settings, and where it is in the file.
fn readme_table(readme: &str) -> (usize, usize) {
    let start = readme.find(TABLE_HEADER).expect("the README has a table of settings");
    let end = readme[start..].find("\n\n").map_or(readme.len(), |n| start + n + 1);
    (start, end)
}

/// The README's table is exactly the one the definition makes: every
/// setting, its default and its meaning, and nothing else.
/// `SETTINGS_BLESS=1` rewrites the README's table from the definition.
#[test]
fn the_readme_table_is_the_definition() {
    let path = workspace_root().join("README.md");
    let readme = std::fs::read_to_string(&path).expect("README.md");
    let (start, end) = readme_table(&readme);
    let expected = settings_table();
    if std::env::var_os("SETTINGS_BLESS").is_some() {
        let blessed = format!("{}{expected}{}", &readme[..start], &readme[end..]);
        std::fs::write(&path, blessed).expect("README.md written");
        return;
    }
    let rows = |table: &str| -> Vec<String> { table.lines().map(str::to_owned).collect() };
    let (found, wanted) = (rows(&readme[start..end]), rows(&expected));
    for row in &wanted {
        assert!(
            found.contains(row),
            "README.md lacks the row (SETTINGS_BLESS=1 rewrites the table):\n{row}"
        );
    }
    for row in &found {
        assert!(wanted.contains(row), "README.md has a row the definition lacks:\n{row}");
    }
    assert_eq!(
        found, wanted,
        "the rows are in another order (SETTINGS_BLESS=1 rewrites the table)"
    );
}

/// Runs `example` with only `envs` in its environment (and `args`), and
/// returns its output; a server that starts serving instead of refusing is
/// killed after 20 s, and its output returned all the same.
fn run(example: &str, args: &[&str], envs: &[(&str, &str)]) -> Output {
    let port = support::free_port().to_string();
    let mut child = Command::new(example_binary(example))
        .args(args)
        .env_clear()
        .env("SENTRYAGENT_BIND", format!("127.0.0.1:{port}"))
        // Many servers run at once: none takes the default metrics port.
        .env("SENTRYAGENT_METRICS_BIND", "off")
        .envs(envs.iter().copied())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the example runs");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while child.try_wait().expect("wait").is_none() && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let _ = child.kill();
    child.wait_with_output().expect("its output")
}

/// Variables to set.
type Envs<'a> = &'a [(&'a str, &'a str)];

/// A setting that panicked (the first three) or was accepted wrong stops
/// the start: status 2, one line naming the variable and the valid form,
/// no panic, and no admin secret printed.
#[test]
fn a_wrong_setting_stops_the_server_with_its_name_and_valid_form() {
    const KEY: &str = "a-test-master-secret-of-at-least-32-bytes";
    let database = [
        ("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/test"),
        ("SENTRYAGENT_SECRET_KEY", KEY),
    ];
    let cases: &[(Envs, &[&str])] = &[
        // The three panics: an overflowing quota, a token lifetime that
        // overflowed at the first token request, an empty pool.
        (
            &[("SENTRYAGENT_RATE_LIMIT_TOKEN", "1/400000000000000000m")],
            &["SENTRYAGENT_RATE_LIMIT_TOKEN", "a quota's period is at most 24h"],
        ),
        (
            &[("SENTRYAGENT_TOKEN_TTL_SECS", "9223372036854775807")],
            &["SENTRYAGENT_TOKEN_TTL_SECS", "must be a whole number from 1 to 86400"],
        ),
        (
            &[database[0], database[1], ("SENTRYAGENT_DB_MAX_CONNECTIONS", "0")],
            &[
                "SENTRYAGENT_DB_MAX_CONNECTIONS",
                "must be a whole number from 1 to 1000",
            ],
        ),
        // Accepted silently wrong before.
        (
            &[("SENTRYAGENT_TOKEN_TTL_SECS", "0")],
            &["SENTRYAGENT_TOKEN_TTL_SECS", "from 1 to 86400", "(given `0`)"],
        ),
        (
            &[("SENTRYAGENT_LOG_FORMAT", "yaml")],
            &["SENTRYAGENT_LOG_FORMAT", "must be text or json"],
        ),
        (
            &[("SENTRYAGENT_ISSUER", "idp.example.com")],
            &["SENTRYAGENT_ISSUER", "must be an http:// or https:// URL with a host"],
        ),
        (
            &[("SENTRYAGENT_SECRET_KEY", "too-short")],
            &["SENTRYAGENT_SECRET_KEY", "must be at least 32 bytes long, not 9"],
        ),
        (
            &[("SENTRYAGENT_RATE_LIMIT_FAIL_CLOSED", "token,tokens")],
            &[
                "SENTRYAGENT_RATE_LIMIT_FAIL_CLOSED",
                "`tokens` is not a route group: use TOKEN, TOKEN_FAILURES, CLIENT_FAILURES, REFUSED_TOKENS",
            ],
        ),
        (
            &[("SENTRYAGENT_RATE_LIMITS", "disabled")],
            &[
                "SENTRYAGENT_RATE_LIMITS",
                "must be true or false (or 1/0, yes/no, on/off)",
            ],
        ),
        (
            &[("MARKETPLACE_ENABLED", "nope")],
            &["MARKETPLACE_ENABLED", "must be true or false"],
        ),
        (
            &[("SENTRYAGENT_SIGNUP", "maybe")],
            &["SENTRYAGENT_SIGNUP", "must be open or closed"],
        ),
        (
            &[("SENTRYAGENT_TRUSTED_PROXIES", "10.0.0.0/8,proxy.local")],
            &[
                "SENTRYAGENT_TRUSTED_PROXIES",
                "`proxy.local` is not an address or a range",
            ],
        ),
        (
            &[("DATABASE_URL", database[0].1)],
            &["DATABASE_URL needs SENTRYAGENT_SECRET_KEY"],
        ),
        (
            &[("STRIPE_SECRET_KEY", "sk_test_x")],
            &["STRIPE_SECRET_KEY and STRIPE_WEBHOOK_SECRET go together"],
        ),
    ];
    for (envs, wanted) in cases {
        let output = run("server", &[], envs);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{envs:?} is refused at start: {stderr}");
        for w in *wanted {
            assert!(stderr.contains(w), "{envs:?}: the message says `{w}`:\n{stderr}");
        }
        assert!(!stderr.contains("panicked"), "{envs:?}: {stderr}");
        assert!(output.stdout.is_empty(), "{envs:?}: nothing printed on stdout");
    }
    // A secret's value is never echoed.
    let output = run("server", &[], &[("SENTRYAGENT_SECRET_KEY", "too-short")]);
    assert!(!String::from_utf8_lossy(&output.stderr).contains("too-short"));
    // The embed examples read their settings through the same definition.
    for example in ["embed_axum", "embed_poem"] {
        let output = run(example, &[], &[database[0], ("SENTRYAGENT_SECRET_KEY", "too-short")]);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(!output.status.success(), "{example}: {stderr}");
        assert!(
            stderr.contains("SENTRYAGENT_SECRET_KEY (--secret-key): must be at least 32 bytes long, not 9"),
            "{example}: {stderr}"
        );
    }
    // The twin on poem reads the same definition.
    let output = run("poem_server", &[], &[("SENTRYAGENT_TOKEN_TTL_SECS", "0")]);
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("SENTRYAGENT_TOKEN_TTL_SECS"));
}

/// `check-config` with `envs`: its status 0, and its log.
fn check_config(envs: &[(&str, &str)]) -> String {
    let output = run("server", &["check-config"], envs);
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    assert!(output.status.success(), "{envs:?} is valid: {stderr}");
    stderr
}

/// A misspelled variable is named, with the setting it most likely meant;
/// variables of the other SentryAgent programs are not.
#[test]
fn an_unknown_variable_is_warned_about_with_the_nearest_name() {
    let log = check_config(&[
        ("SENTRYAGENT_RATE_LIMIT_TOKENS", "5/1s"),
        ("SENTRYAGENT_ADMIN_CLIENT_ID", "sa_ci_x"),
    ]);
    assert!(
        log.contains(
            "SENTRYAGENT_RATE_LIMIT_TOKENS is not a setting of this server and is ignored: did you mean SENTRYAGENT_RATE_LIMIT_TOKEN?"
        ),
        "{log}"
    );
    assert!(!log.contains("SENTRYAGENT_ADMIN_CLIENT_ID"), "{log}");
}

/// The older unprefixed names are read, each with a deprecation warning
/// naming its successor; set beside it, the successor wins.
#[test]
fn the_older_names_are_read_with_a_warning() {
    let log = check_config(&[("MARKETPLACE_ENABLED", "no"), ("BILLING_ENABLED", "false")]);
    assert!(
        log.contains("MARKETPLACE_ENABLED is deprecated: rename it to SENTRYAGENT_MARKETPLACE_ENABLED"),
        "{log}"
    );
    assert!(
        log.contains("BILLING_ENABLED is deprecated: rename it to SENTRYAGENT_ENFORCE_TIERS"),
        "{log}"
    );
    let log = check_config(&[
        ("MARKETPLACE_ENABLED", "no"),
        ("SENTRYAGENT_MARKETPLACE_ENABLED", "yes"),
    ]);
    assert!(
        log.contains("MARKETPLACE_ENABLED is deprecated and ignored: SENTRYAGENT_MARKETPLACE_ENABLED is set too"),
        "{log}"
    );
}

/// Group names as the variables spell them, in any case; an empty variable
/// is an unset one.
#[test]
fn fail_closed_groups_are_spelled_as_the_variables_and_empty_is_unset() {
    check_config(&[("SENTRYAGENT_RATE_LIMIT_FAIL_CLOSED", "TOKEN,token_failures,Signup")]);
    check_config(&[("SENTRYAGENT_TOKEN_TTL_SECS", ""), ("SENTRYAGENT_ISSUER", "")]);
}

async fn statuses(server: &ExampleServer, path: &str, n: usize) -> Vec<(u16, bool)> {
    let client = reqwest::Client::new();
    let mut answers = Vec::new();
    for _ in 0..n {
        let answer = client
            .get(format!("http://127.0.0.1:{}{path}", server.port))
            .send()
            .await
            .expect("an answer");
        answers.push((
            answer.status().as_u16(),
            answer.headers().contains_key("x-ratelimit-limit"),
        ));
    }
    answers
}

/// `SENTRYAGENT_RATE_LIMITS=false` turns rate limiting off as `off` does
/// (only `off` was read), and `MARKETPLACE_ENABLED=no` turns the marketplace
/// off as `false` does (only `false` and `0` were read).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn booleans_are_read_one_way_everywhere() {
    let quota = ("SENTRYAGENT_RATE_LIMIT_PUBLIC", "2/60s");
    let limited = ExampleServer::start("server", &[quota]);
    let answers = statuses(&limited, "/api/v1/health", 3).await;
    assert_eq!(answers[2].0, 429, "the quota is in force: {answers:?}");
    limited.stop();
    for off in ["false", "off", "0", "no"] {
        let unlimited = ExampleServer::start("server", &[quota, ("SENTRYAGENT_RATE_LIMITS", off)]);
        let answers = statuses(&unlimited, "/api/v1/health", 4).await;
        assert_eq!(answers, vec![(200, false); 4], "SENTRYAGENT_RATE_LIMITS={off}");
        unlimited.stop();
    }

    let listed = ExampleServer::start("server", &[]);
    assert_eq!(statuses(&listed, "/api/v1/marketplace/agents", 1).await[0].0, 200);
    listed.stop();
    for (name, off) in [
        ("MARKETPLACE_ENABLED", "no"),
        ("SENTRYAGENT_MARKETPLACE_ENABLED", "off"),
    ] {
        let unlisted = ExampleServer::start("server", &[(name, off)]);
        assert_eq!(
            statuses(&unlisted, "/api/v1/marketplace/agents", 1).await[0].0,
            404,
            "{name}={off}"
        );
        unlisted.stop();
    }
}
