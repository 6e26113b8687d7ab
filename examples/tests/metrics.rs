//! The example server's Prometheus endpoint: served on its own address,
//! valid for Prometheus's own checker (`promtool check metrics`, from
//! Debian's `prometheus` package), and its counters move as requests are
//! made: a token issued, a refusal by reason, a 429.

mod support;

use std::process::{Command, Stdio};

use support::{ExampleServer, free_port, line_value};

/// Whether `promtool` is here; without it the test fails where services
/// are required (CI installs it) and is skipped elsewhere.
fn promtool() -> bool {
    let found = Command::new("promtool")
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !found {
        assert!(
            std::env::var("SENTRYAGENT_REQUIRE_SERVICES").as_deref() != Ok("1"),
            "promtool is missing: install the Debian package prometheus"
        );
        eprintln!("skipped: promtool is missing (Debian package prometheus)");
    }
    found
}

/// The value of the sample `series` (name and labels exactly as exposed).
fn sample(text: &str, series: &str) -> f64 {
    text.lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' ')?.trim().parse().ok())
        .unwrap_or(0.0)
}

#[tokio::test]
async fn the_metrics_endpoint_passes_promtool_and_its_counters_move() {
    if !promtool() {
        return;
    }
    let metrics_port = free_port();
    let metrics_bind = format!("127.0.0.1:{metrics_port}");
    let server = ExampleServer::start(
        "server",
        &[
            ("SENTRYAGENT_METRICS_BIND", metrics_bind.as_str()),
            // Two tokens an hour per client: the third is a 429.
            ("SENTRYAGENT_RATE_LIMIT_TOKEN", "2/1h"),
        ],
    );
    let id = line_value(&server.env_lines, "SENTRYAGENT_ADMIN_CLIENT_ID");
    let secret = line_value(&server.env_lines, "SENTRYAGENT_ADMIN_CLIENT_SECRET");
    let client = reqwest::Client::new();
    let token_url = format!("http://127.0.0.1:{}/api/v1/oauth2/token", server.port);
    let scrape = || async {
        client
            .get(format!("http://{metrics_bind}/metrics"))
            .send()
            .await
            .expect("the metrics endpoint answers")
            .text()
            .await
            .expect("text")
    };
    let token = |secret: String| {
        let request = client
            .post(&token_url)
            .basic_auth(&id, Some(secret))
            .form(&[("grant_type", "client_credentials")]);
        async move { request.send().await.expect("token request").status().as_u16() }
    };

    let wrong = "sa_sk_not-the-secret".to_owned();
    let mut statuses = vec![token(wrong.clone()).await];
    for _ in 0..3 {
        statuses.push(token(secret.clone()).await);
    }
    assert_eq!(statuses, [401, 200, 200, 429]);
    let unknown = client
        .get(format!("http://127.0.0.1:{}/api/v1/no-such-route", server.port))
        .send()
        .await
        .expect("answer");
    assert_eq!(unknown.status(), 404);

    let text = scrape().await;
    let mut check = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("promtool runs");
    {
        use std::io::Write as _;
        let mut stdin = check.stdin.take().expect("stdin");
        stdin.write_all(text.as_bytes()).expect("promtool reads the text");
    }
    let checked = check.wait_with_output().expect("promtool ends");
    assert!(
        checked.status.success(),
        "promtool check metrics:\n{}{}\n--- the text:\n{text}",
        String::from_utf8_lossy(&checked.stdout),
        String::from_utf8_lossy(&checked.stderr)
    );

    let expect = [
        (
            r#"sentryagent_tokens_issued_total{grant="client_credentials",alg="ES256"}"#,
            2.0,
        ),
        (
            r#"sentryagent_tokens_refused_total{grant="client_credentials",reason="invalid_secret"}"#,
            1.0,
        ),
        (
            r#"sentryagent_tokens_refused_total{grant="client_credentials",reason="client_rate_limited"}"#,
            1.0,
        ),
        (
            r#"sentryagent_rate_limit_decisions_total{group="token",outcome="refused"}"#,
            1.0,
        ),
        (
            r#"sentryagent_http_requests_total{route="/oauth2/token",method="POST",status="2xx"}"#,
            2.0,
        ),
        (
            r#"sentryagent_http_requests_total{route="/oauth2/token",method="POST",status="4xx"}"#,
            2.0,
        ),
        (
            r#"sentryagent_http_requests_total{route="unmatched",method="GET",status="4xx"}"#,
            1.0,
        ),
        (
            r#"sentryagent_http_request_duration_seconds_count{route="/oauth2/token",method="POST",status="2xx"}"#,
            2.0,
        ),
    ];
    for (series, value) in expect {
        assert_eq!(sample(&text, series), value, "{series} in\n{text}");
    }
    for gauge in [
        "sentryagent_build_info{",
        "sentryagent_signing_key_created_timestamp_seconds ",
    ] {
        assert!(text.lines().any(|l| l.starts_with(gauge)), "{gauge} in\n{text}");
    }
    assert!(
        text.lines()
            .any(|l| l.starts_with("sentryagent_store_operation_duration_seconds_count{")
                && l.contains(r#"backend="memory""#)
                && l.contains(r#"operation="client""#)),
        "the token path's store read is timed:\n{text}"
    );

    // More requests move the counters.
    assert_eq!(token(wrong).await, 401);
    let again = scrape().await;
    let refused = r#"sentryagent_tokens_refused_total{grant="client_credentials",reason="invalid_secret"}"#;
    assert_eq!(sample(&again, refused), 2.0);
    server.stop();
}

/// `off` serves nothing; a bad value stops the server naming the setting.
#[test]
fn the_metrics_address_is_a_setting() {
    let out = Command::new(support::example_binary("server"))
        .arg("check-config")
        .env("SENTRYAGENT_METRICS_BIND", "everywhere")
        .output()
        .expect("runs");
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("SENTRYAGENT_METRICS_BIND"), "{stderr}");
    assert!(stderr.contains("127.0.0.1:9464, or off"), "{stderr}");
}

/// The Grafana dashboard's queries and the operator guide's alert rules are
/// valid PromQL (`promtool check rules`).
#[test]
fn the_dashboard_and_the_alerts_parse() {
    if !promtool() {
        return;
    }
    let root = support::workspace_root();
    let dashboard: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(root.join("docs/grafana-dashboard.json")).expect("the dashboard"),
    )
    .expect("the dashboard is JSON");
    let mut rules = String::from("groups:\n  - name: dashboard\n    rules:\n");
    let panels = dashboard["panels"].as_array().expect("panels");
    for (i, target) in panels
        .iter()
        .flat_map(|p| p["targets"].as_array().into_iter().flatten())
        .enumerate()
    {
        let expr = target["expr"].as_str().expect("an expression");
        // Grafana's variables, as a query would have them.
        let expr = expr.replace("$__rate_interval", "5m").replace("$job", ".*");
        rules.push_str(&format!(
            "      - record: dashboard:{i}\n        expr: {}\n",
            serde_json::Value::from(expr)
        ));
    }
    let guide = std::fs::read_to_string(root.join("docs/observability.md")).expect("the guide");
    let alerts = guide
        .split("```yaml\n")
        .nth(1)
        .and_then(|rest| rest.split("```").next())
        .expect("the guide's alert rules");
    let dir = support::Scratch::new("promql");
    for (name, text) in [("dashboard.yml", rules.as_str()), ("alerts.yml", alerts)] {
        let path = dir.0.join(name);
        std::fs::write(&path, text).expect("write");
        let out = Command::new("promtool")
            .args(["check", "rules"])
            .arg(&path)
            .output()
            .expect("promtool runs");
        assert!(
            out.status.success(),
            "{name}: {}{}\n{text}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
}
