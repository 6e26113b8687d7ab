//! The portal (`/portal/`) in a real browser: Debian's headless Chromium,
//! driven over WebDriver (chromedriver) against the example server.
//!
//! - `portal_walkthrough`: the wizard from nothing to a token and a working
//!   curl snippet (with an operator key), the dashboard (suspend, reactivate,
//!   rotate, the audit log's pages, filters and chain badge), the marketplace
//!   (search, an agent's page) and an upgrade against the stand-in Stripe.
//! - `user_text_never_runs`: an agent and tenant whose text is HTML and
//!   script, on the marketplace and dashboard pages: no dialog, nothing in
//!   the console, the text shown as text.
//! - `every_portal_answer_has_the_security_headers`: over HTTP, on both
//!   example servers (no browser needed).
//! - `screenshots` (ignored; `scripts/portal-screenshots` runs it offline):
//!   the PNGs in docs/images.
//!
//! Without chromedriver the browser tests say so and pass, unless
//! `SENTRYAGENT_REQUIRE_BROWSER=1` (as `.ci/run` sets), when they fail.

#[path = "support/browser.rs"]
mod browser;
#[path = "../../sentryagent-billing-stripe/tests/common/mod.rs"]
mod stripe;
mod support;

use std::path::Path;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use fantoccini::wd::WebDriverCompatibleCommand;
use fantoccini::{Client, Locator};
use serde_json::{Value, json};
use support::{ExampleServer, Scratch, workspace_root};

const WAIT: Duration = Duration::from_secs(15);

/// A browser session: a fresh headless Chromium with a profile of its own.
struct Browser {
    client: Client,
    _session: browser::Session,
}

impl Browser {
    /// A desktop window of `width` × `height`, or with `phone`, a phone's
    /// viewport of that size (Chromium's device emulation).
    async fn start(driver: Arc<browser::Driver>, width: u32, height: u32, phone: bool) -> Self {
        let session = browser::Session::start(driver, width, height, phone).await;
        Self {
            client: session.client.clone(),
            _session: session,
        }
    }

    async fn goto(&self, url: &str) {
        self.client
            .goto(url)
            .await
            .unwrap_or_else(|e| panic!("open {url}: {e}"));
    }

    async fn find(&self, css: &str) -> fantoccini::elements::Element {
        match self.client.wait().at_most(WAIT).for_element(Locator::Css(css)).await {
            Ok(element) => element,
            Err(e) => panic!("{css} never appeared: {e}\n{}", self.text("main").await),
        }
    }

    /// The visible text of the first `css` element (empty if none).
    async fn text(&self, css: &str) -> String {
        match self.client.find(Locator::Css(css)).await {
            Ok(element) => element.text().await.unwrap_or_default(),
            Err(_) => String::new(),
        }
    }

    /// Waits until the first `css` element's text contains `needle`.
    async fn wait_text(&self, css: &str, needle: &str) -> String {
        let deadline = Instant::now() + WAIT;
        loop {
            let text = self.text(css).await;
            if text.contains(needle) {
                return text;
            }
            if Instant::now() > deadline {
                panic!(
                    "`{needle}` never showed in {css}: {text:?}\n{}",
                    self.text("main").await
                );
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    async fn fill(&self, css: &str, value: &str) {
        let element = self.find(css).await;
        element.clear().await.expect("clear");
        element.send_keys(value).await.expect("type");
    }

    async fn click(&self, css: &str) {
        self.find(css)
            .await
            .click()
            .await
            .unwrap_or_else(|e| panic!("click {css}: {e}"));
    }

    /// Clicks the button or link whose text is `text`, once it is enabled.
    async fn click_text(&self, text: &str) {
        let xpath = format!(
            "//*[self::button or self::a][normalize-space()={} and not(@disabled)]",
            xpath_literal(text)
        );
        let element = match self
            .client
            .wait()
            .at_most(WAIT)
            .for_element(Locator::XPath(&xpath))
            .await
        {
            Ok(element) => element,
            Err(e) => panic!("no enabled `{text}`: {e}\n{}", self.text("main").await),
        };
        element.click().await.unwrap_or_else(|e| panic!("click `{text}`: {e}"));
    }

    /// Confirms the open confirmation dialog.
    async fn confirm(&self) {
        self.click("dialog.confirm button[type=submit]").await;
    }

    async fn value(&self, css: &str) -> String {
        let element = self.find(css).await;
        element.prop("value").await.expect("value").unwrap_or_default()
    }

    /// The values of every `css` input, in order.
    async fn values(&self, css: &str) -> Vec<String> {
        let mut out = Vec::new();
        for element in self.client.find_all(Locator::Css(css)).await.expect("find") {
            out.push(element.prop("value").await.expect("value").unwrap_or_default());
        }
        out
    }

    async fn script(&self, js: &str) -> Value {
        self.client.execute(js, Vec::new()).await.expect("script runs")
    }

    /// The browser's console since the last call (chromedriver's log).
    async fn console(&self) -> Vec<(String, String)> {
        let log = self.client.issue_cmd(BrowserLog).await.expect("the browser log");
        log.as_array()
            .into_iter()
            .flatten()
            .map(|entry| {
                (
                    entry["level"].as_str().unwrap_or_default().to_owned(),
                    entry["message"].as_str().unwrap_or_default().to_owned(),
                )
            })
            .collect()
    }

    /// Asserts that no alert, confirm or prompt dialog is open.
    async fn assert_no_dialog(&self, page: &str) {
        if let Ok(text) = self.client.get_alert_text().await {
            panic!("a dialog opened on {page}: {text:?}");
        }
    }

    /// Asserts the token lives in memory only: no storage, no cookie.
    async fn assert_nothing_stored(&self) {
        let stored = self
            .script("return [window.localStorage.length, window.sessionStorage.length, document.cookie];")
            .await;
        assert_eq!(stored, json!([0, 0, ""]), "nothing in storage or cookies");
    }

    /// A PNG of the viewport, once fonts and late answers have settled.
    async fn screenshot(&self, path: &Path) {
        tokio::time::sleep(Duration::from_millis(400)).await;
        let png = self.client.screenshot().await.expect("a screenshot");
        std::fs::write(path, png).expect("write the PNG");
        eprintln!("wrote {}", path.display());
    }

    async fn close(self) {
        let _ = self.client.close().await;
    }
}

/// `text` as an XPath string literal (XPath 1.0 has no escapes).
fn xpath_literal(text: &str) -> String {
    if !text.contains('\'') {
        format!("'{text}'")
    } else if !text.contains('"') {
        format!("\"{text}\"")
    } else {
        format!("concat('{}')", text.replace('\'', "', \"'\", '"))
    }
}

/// chromedriver's console log (`goog:loggingPrefs`).
#[derive(Debug)]
struct BrowserLog;

impl WebDriverCompatibleCommand for BrowserLog {
    fn endpoint(&self, base: &url::Url, session: Option<&str>) -> Result<url::Url, url::ParseError> {
        base.join(&format!("session/{}/se/log", session.unwrap_or_default()))
    }

    fn method_and_body(&self, _: &url::Url) -> (http::Method, Option<String>) {
        (http::Method::POST, Some(r#"{"type":"browser"}"#.to_owned()))
    }
}

// ---------------------------------------------------------------- HTTP

async fn token(port: u16, client_id: &str, secret: &str) -> reqwest::Response {
    reqwest::Client::new()
        .post(format!("http://127.0.0.1:{port}/api/v1/oauth2/token"))
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_id", client_id),
            ("client_secret", secret),
        ])
        .send()
        .await
        .expect("the token endpoint answers")
}

async fn access_token(port: u16, client_id: &str, secret: &str) -> String {
    let answer: Value = token(port, client_id, secret).await.json().await.expect("JSON");
    answer["access_token"].as_str().expect("a token").to_owned()
}

async fn post_json(port: u16, path: &str, bearer: Option<&str>, body: Value) -> Value {
    let mut request = reqwest::Client::new()
        .post(format!("http://127.0.0.1:{port}/api/v1{path}"))
        .json(&body);
    if let Some(bearer) = bearer {
        request = request.bearer_auth(bearer);
    }
    let response = request.send().await.expect("the API answers");
    assert!(response.status().is_success(), "{path}: {}", response.status());
    response.json().await.expect("JSON")
}

// ---------------------------------------------------------------- stand-in Stripe

static STRIPE_BASE: OnceLock<String> = OnceLock::new();

/// Checkout Sessions as Stripe answers them, with a `url` on the stand-in
/// itself so the browser's redirect stays on this machine; any other
/// request (the browser arriving there) gets a small JSON page.
fn stripe_answer(request: &stripe::Recorded) -> (axum::http::StatusCode, String) {
    if request.method == "POST" && request.path == "/v1/checkout/sessions" {
        let fixture = workspace_root().join("sentryagent-billing-stripe/tests/fixtures/checkout_session_open.json");
        let mut session: Value =
            serde_json::from_slice(&std::fs::read(fixture).expect("the fixture")).expect("fixture is JSON");
        for field in ["client_reference_id", "success_url", "cancel_url"] {
            if let Some(value) = request.field(field) {
                session[field] = value.into();
            }
        }
        let base = STRIPE_BASE.get().map_or("", String::as_str);
        session["url"] = format!("{base}/c/pay/cs_test_portal").into();
        return (axum::http::StatusCode::OK, session.to_string());
    }
    (
        axum::http::StatusCode::OK,
        r#"{"page":"stand-in Stripe Checkout"}"#.to_owned(),
    )
}

// ---------------------------------------------------------------- tests

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn portal_walkthrough() {
    let Some(driver) = browser::driver() else { return };
    let stripe = stripe::StandIn::start(stripe_answer).await;
    STRIPE_BASE.get_or_init(|| stripe.base.clone());
    let operator_key = "op-key-portal-7c1e";
    let server = ExampleServer::start(
        "server",
        &[
            ("SENTRYAGENT_OPERATOR_KEY", operator_key),
            ("STRIPE_SECRET_KEY", stripe::SECRET_KEY),
            ("STRIPE_WEBHOOK_SECRET", stripe::WEBHOOK_SECRET),
            ("STRIPE_API_BASE", &stripe.base),
            ("STRIPE_PRICE_PRO", "price_1SWm8cLkdIwHu7ixPro49usd"),
        ],
    );
    let port = server.port;
    let portal = format!("http://127.0.0.1:{port}/portal/");
    let b = Browser::start(driver, 1280, 1000, false).await;

    // --- The wizard, from nothing. Sign-up needs the operator key: without
    // it the wizard says so and opens the key field.
    b.goto(&format!("{portal}#/start")).await;
    b.wait_text(".step-count", "Step 1 of 5").await;
    b.fill("input[name=tenant]", "Acme Robotics").await;
    b.click_text("Create tenant").await;
    b.wait_text(".errors", "needs the operator key").await;
    assert_eq!(
        b.find("details.operator").await.prop("open").await.expect("open"),
        Some("true".into())
    );
    b.fill("input[name=operator_key]", operator_key).await;
    b.click_text("Create tenant").await;

    // Step 2: the admin credential, shown once.
    b.wait_text(".step-count", "Step 2 of 5").await;
    b.wait_text(".warning", "will not be shown again").await;
    let admin = b.values(".copyable input").await;
    let [tenant_id, admin_id, admin_secret] = <[String; 3]>::try_from(admin).expect("three values");
    assert!(
        admin_id.starts_with("sa_ci_") && admin_secret.starts_with("sa_sk_"),
        "{admin_id}"
    );
    assert!(
        b.find("button.primary").await.prop("disabled").await.expect("prop") == Some("true".into()),
        "Continue waits for the tick"
    );
    b.click("#saved-admin").await;
    b.click_text("Continue").await;

    // Step 3: the first agent.
    b.wait_text(".step-count", "Step 3 of 5").await;
    b.fill("input[name=agent_name]", "build-bot@acme.example").await;
    b.fill("input[name=description]", "Builds and ships").await;
    b.fill("input[name=capabilities]", "build, deploy").await;
    b.click_text("Register agent").await;

    // Step 4: its credential, shown once, and its first token.
    b.wait_text(".step-count", "Step 4 of 5").await;
    let agent = b.values(".copyable input").await;
    let [agent_client_id, agent_secret] = <[String; 2]>::try_from(agent).expect("two values");
    b.click_text("Get a token").await;

    // Step 5: snippets with the real values but no secret; the curl one works.
    b.wait_text(".step-count", "Step 5 of 5").await;
    let curl = b.text("#snippet-curl code").await;
    let cli = b.text("#snippet-cli code").await;
    let rust = b.text("#snippet-rust code").await;
    for snippet in [&curl, &cli, &rust] {
        assert!(
            !snippet.contains(&agent_secret) && !snippet.contains(&admin_secret),
            "{snippet}"
        );
    }
    assert!(
        curl.contains(&agent_client_id) && cli.contains(&agent_client_id),
        "{curl}\n{cli}"
    );
    assert!(rust.contains(&tenant_id), "{rust}");
    let scratch = Scratch::new("portal-snippet");
    let ran = support::bash(&curl, &scratch.0, &[("CLIENT_SECRET", &agent_secret)]);
    let out = String::from_utf8_lossy(&ran.stdout);
    assert!(ran.status.success(), "{out}{}", String::from_utf8_lossy(&ran.stderr));
    let introspected: Value = serde_json::from_str(&out).expect("the snippet prints JSON");
    assert_eq!(introspected["active"], true, "{out}");
    assert_eq!(introspected["client_id"], agent_client_id.as_str());
    b.assert_nothing_stored().await;
    let url = b.client.current_url().await.expect("url").to_string();
    assert!(
        !url.contains("sa_sk_") && !url.contains("eyJ"),
        "no secret or token in {url}"
    );

    // --- The dashboard, signed in by the wizard.
    b.click_text("Open your dashboard").await;
    b.wait_text("main h1", "Acme Robotics").await;
    b.find("figure.usage svg rect.chart-bar").await;
    b.wait_text("main", "This server enforces the free tier's limits.")
        .await;
    b.wait_text("main", "No subscription").await;

    // Agents: open the new one; suspend it (its credential stops working),
    // then reactivate it.
    b.click_text("Agents").await;
    b.click_text("build-bot@acme.example").await;
    b.wait_text("main h1", "build-bot@acme.example").await;
    b.wait_text("main h1 .badge", "active").await;
    b.click_text("Suspend").await;
    b.confirm().await;
    b.wait_text("main h1 .badge", "suspended").await;
    assert!(
        token(port, &agent_client_id, &agent_secret)
            .await
            .status()
            .is_client_error()
    );
    b.click_text("Reactivate").await;
    b.confirm().await;
    b.wait_text("main h1 .badge", "active").await;
    assert!(token(port, &agent_client_id, &agent_secret).await.status().is_success());

    // Rotate its credential: the new secret is shown once; the old one fails.
    b.click_text("Rotate").await;
    b.confirm().await;
    b.wait_text(".secret-once .warning", "will not be shown again").await;
    let rotated = b.value(".secret-once input.secret").await;
    assert!(rotated.starts_with("sa_sk_") && rotated != agent_secret);
    assert_eq!(token(port, &agent_client_id, &agent_secret).await.status(), 401);
    assert!(token(port, &agent_client_id, &rotated).await.status().is_success());

    // Audit log: enough events for a second page, the chain badge, a filter.
    for _ in 0..25 {
        access_token(port, &agent_client_id, &rotated).await;
    }
    b.click_text("Audit log").await;
    b.wait_text("#chain-badge", "Chain valid").await;
    b.wait_text(".pager", "Page 1").await;
    let first_page = b.text("main table tbody").await;
    b.click_text("Next page").await;
    b.wait_text(".pager", "Page 2").await;
    let second_page = b.text("main table tbody").await;
    assert_ne!(first_page, second_page);
    b.click_text("Previous page").await;
    b.wait_text(".pager", "Page 1").await;
    b.fill("input[name=action]", "credential.rotated").await;
    b.click_text("Filter").await;
    b.wait_text("main table tbody", "credential.rotated").await;
    let rows = b
        .client
        .find_all(Locator::Css("main table tbody tr"))
        .await
        .expect("rows");
    assert_eq!(rows.len(), 1, "{}", b.text("main table tbody").await);
    assert!(
        b.client
            .current_url()
            .await
            .expect("url")
            .as_str()
            .contains("action=credential.rotated")
    );

    // Trust policies: one for the agent, made in the form; the evaluate tool
    // admits a push to main and says why a push elsewhere fails.
    b.click_text("Trust policies").await;
    b.wait_text("main", "No trust policy yet.").await;
    b.fill("input[name=repository]", "acme/app").await;
    b.fill("input[name=branch]", "main").await;
    b.find("select[name=agentId] option:nth-child(2)").await;
    b.find("select[name=agentId]")
        .await
        .select_by_label("build-bot@acme.example")
        .await
        .expect("select the agent");
    b.click_text("Create policy").await;
    b.wait_text("main table", "acme/app").await;
    b.find("select[name=kind]")
        .await
        .select_by_value("claims")
        .await
        .expect("claims");
    let claims = |git_ref: &str| {
        json!({
            "repository": "acme/app", "repository_id": "41", "repository_owner": "acme",
            "repository_owner_id": "7", "ref": git_ref, "ref_type": "branch", "event_name": "push",
        })
        .to_string()
    };
    b.fill("textarea[name=input]", &claims("refs/heads/main")).await;
    b.click_text("Evaluate").await;
    b.wait_text("main form[aria-label='Evaluate trust policies']", "Admitted")
        .await;
    b.fill("textarea[name=input]", &claims("refs/heads/feature")).await;
    b.click_text("Evaluate").await;
    b.wait_text("main form[aria-label='Evaluate trust policies']", "Refused")
        .await;
    b.wait_text("main form[aria-label='Evaluate trust policies'] table", "branch")
        .await;

    // --- The marketplace: search, filter by capability, the agent's page.
    b.click_text("Marketplace").await;
    b.fill("input[name=q]", "build-bot").await;
    b.fill("input[name=capability]", "deploy").await;
    b.click_text("Search").await;
    b.wait_text(".results", "build-bot@acme.example").await;
    b.wait_text(".results", "by Acme Robotics").await;
    b.click_text("build-bot@acme.example").await;
    b.wait_text("main h1", "build-bot@acme.example").await;
    b.wait_text(".codeblock code", "\"did:web:").await;
    b.click_text("← Marketplace").await;
    b.fill("input[name=q]", "no-such-agent-anywhere").await;
    b.click_text("Search").await;
    b.wait_text(".results", "No listed agent matches.").await;

    // --- Pricing: the upgrade goes to (the stand-in) Stripe Checkout.
    b.click_text("Pricing").await;
    b.click_text("Upgrade to Pro").await;
    let checkout = format!("{}/c/pay/cs_test_portal", stripe.base);
    let deadline = Instant::now() + WAIT;
    while b.client.current_url().await.expect("url").as_str() != checkout {
        assert!(Instant::now() < deadline, "the browser never reached {checkout}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let sessions: Vec<_> = stripe
        .requests()
        .into_iter()
        .filter(|r| r.path == "/v1/checkout/sessions")
        .collect();
    assert_eq!(sessions.len(), 1);
    assert_eq!(sessions[0].field("client_reference_id"), Some(tenant_id.as_str()));

    // No page broke its Content-Security-Policy on the way.
    let console = b.console().await;
    let violations: Vec<_> = console
        .iter()
        .filter(|(_, m)| m.contains("Content Security Policy") || m.contains("Uncaught"))
        .collect();
    assert!(violations.is_empty(), "{violations:#?}");
    b.close().await;
    server.stop();
}

/// HTML and script in every user-controlled field, on every page that shows
/// it: nothing runs, nothing reaches the console, the text reads as typed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn user_text_never_runs() {
    let Some(driver) = browser::driver() else { return };
    let server = ExampleServer::start("server", &[]);
    let port = server.port;
    let portal = format!("http://127.0.0.1:{port}/portal/");
    let payload = "<img src=x onerror=alert(1)>";
    let tenant = post_json(port, "/tenants", None, json!({ "name": format!("{payload} & Co") })).await;
    let admin_id = tenant["adminClientId"].as_str().expect("id").to_owned();
    let admin_secret = tenant["adminClientSecret"].as_str().expect("secret").to_owned();
    let admin = access_token(port, &admin_id, &admin_secret).await;
    let agent = post_json(
        port,
        "/agents",
        Some(&admin),
        json!({
            "name": "img'onerror='alert@evil.example",
            "description": format!("{payload}<script>alert(2)</script>"),
            "capabilities": ["<img/src=x/onerror=alert(3)>", "xss"],
            "metadata": { payload: payload },
        }),
    )
    .await;
    let agent_id = agent["agentId"].as_str().expect("id").to_owned();
    // An audit event whose details carry the name too.
    access_token(
        port,
        agent["clientId"].as_str().expect("id"),
        agent["clientSecret"].as_str().expect("s"),
    )
    .await;

    let b = Browser::start(driver, 1280, 1000, false).await;
    b.goto(&format!("{portal}#/marketplace?capability=xss")).await;
    b.wait_text(".results", "img'onerror='alert@evil.example").await;
    b.wait_text(".results", &format!("{payload}<script>alert(2)</script>"))
        .await;
    b.wait_text(".results", &format!("by {payload} & Co")).await;
    assert_quiet(&b, "the marketplace").await;

    b.click_text("img'onerror='alert@evil.example").await;
    b.wait_text("main h1", "img'onerror='alert@evil.example").await;
    b.wait_text("main", "<img/src=x/onerror=alert(3)>").await;
    assert_quiet(&b, "the agent's marketplace page").await;

    // Sign in through the form with the admin credential.
    b.goto(&format!("{portal}#/signin")).await;
    b.fill("input[name=client_id]", &admin_id).await;
    b.fill("input[name=client_secret]", &admin_secret).await;
    b.click("main form button[type=submit]").await;
    b.wait_text("main h1", &format!("{payload} & Co")).await;
    b.wait_text("#session", &format!("Signed in: {payload} & Co")).await;
    b.find("figure.usage svg").await;
    assert_quiet(&b, "the dashboard overview").await;

    b.click_text("Agents").await;
    b.wait_text("main table", "img'onerror='alert@evil.example").await;
    assert_quiet(&b, "the agents list").await;

    b.goto(&format!("{portal}#/dashboard/agents/{agent_id}")).await;
    b.wait_text("main", "<script>alert(2)</script>").await;
    b.wait_text("main", payload).await;
    assert_quiet(&b, "the agent's dashboard page").await;

    b.click_text("Audit log").await;
    b.wait_text("#chain-badge", "Chain valid").await;
    b.wait_text("main table", "token.issued").await;
    assert_quiet(&b, "the audit log").await;

    // Signing out forgets the token: the dashboard asks again.
    b.click_text("Sign out").await;
    b.goto(&format!("{portal}#/dashboard")).await;
    b.find("input[name=client_secret]").await;
    b.assert_nothing_stored().await;
    b.close().await;
    server.stop();
}

/// No dialog, no element the payload would have made, and no console
/// message at all (a payload that ran, or one blocked by the CSP, would
/// leave one).
async fn assert_quiet(b: &Browser, page: &str) {
    b.assert_no_dialog(page).await;
    let made = b
        .script("return document.querySelectorAll('img[src=\"x\"], main script, [onerror]').length;")
        .await;
    assert_eq!(made, json!(0), "the payload became markup on {page}");
    let console: Vec<_> = b
        .console()
        .await
        .into_iter()
        .filter(|(level, _)| level == "SEVERE" || level == "WARNING")
        .collect();
    assert!(console.is_empty(), "console errors on {page}: {console:#?}");
}

/// Every answer under `/portal` carries the CSP, `nosniff` and
/// `no-referrer`, on both example servers.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_portal_answer_has_the_security_headers() {
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("an HTTP client");
    for name in ["server", "poem_server"] {
        let server = ExampleServer::start(name, &[]);
        let mut paths: Vec<String> = sentryagent_portal::ASSETS
            .iter()
            .map(|a| format!("/portal/{}", a.path))
            .collect();
        paths.extend(["/portal".into(), "/portal/".into(), "/portal/no-such-file.js".into()]);
        for path in paths {
            let response = http
                .get(format!("http://127.0.0.1:{}{path}", server.port))
                .send()
                .await
                .expect("an answer");
            let expected = match path.as_str() {
                "/portal" => 308,
                p if p.contains("no-such") => 404,
                _ => 200,
            };
            assert_eq!(response.status().as_u16(), expected, "{name} {path}");
            let header = |h: &str| {
                response
                    .headers()
                    .get(h)
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or_default()
                    .to_owned()
            };
            assert_eq!(
                header("content-security-policy"),
                sentryagent_portal::CSP,
                "{name} {path}"
            );
            assert_eq!(header("x-content-type-options"), "nosniff", "{name} {path}");
            assert_eq!(header("referrer-policy"), "no-referrer", "{name} {path}");
        }
        server.stop();
    }
}

/// Screenshots of every page for the docs: `scripts/portal-screenshots`
/// runs this offline. `PORTAL_SCREENSHOTS` names the directory (default
/// docs/images).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "writes docs/images/portal-*.png; run by scripts/portal-screenshots"]
async fn screenshots() {
    let Some(driver) = browser::driver() else { return };
    let dir = std::env::var("PORTAL_SCREENSHOTS")
        .map_or_else(|_| workspace_root().join("docs/images"), std::path::PathBuf::from);
    std::fs::create_dir_all(&dir).expect("the screenshot directory");
    let server = ExampleServer::start("server", &[]);
    let port = server.port;
    let portal = format!("http://127.0.0.1:{port}/portal/");
    let admin_id = support::line_value(&server.env_lines, "SENTRYAGENT_ADMIN_CLIENT_ID");
    let admin_secret = support::line_value(&server.env_lines, "SENTRYAGENT_ADMIN_CLIENT_SECRET");
    let admin = access_token(port, &admin_id, &admin_secret).await;
    let mut first = None;
    for (name, description, capabilities) in [
        (
            "build-bot@acme.example",
            "Builds and ships the Acme apps",
            vec!["build", "deploy"],
        ),
        (
            "triage@acme.example",
            "Labels and routes new issues",
            vec!["triage", "github"],
        ),
        (
            "reporter@acme.example",
            "Writes the weekly status report",
            vec!["reports"],
        ),
        ("pager@acme.example", "Wakes the on-call person", vec!["alerts"]),
    ] {
        let agent = post_json(
            port,
            "/agents",
            Some(&admin),
            json!({ "name": name, "description": description, "capabilities": capabilities }),
        )
        .await;
        access_token(
            port,
            agent["clientId"].as_str().expect("id"),
            agent["clientSecret"].as_str().expect("s"),
        )
        .await;
        first.get_or_insert(agent);
    }
    let agent = first.expect("an agent");
    let agent_id = agent["agentId"].as_str().expect("id");
    post_json(
        port,
        "/oidc/trust-policies",
        Some(&admin),
        json!({ "provider": "github", "repository": "acme/app", "branch": "main", "agentId": agent_id, "description": "Deploys from main" }),
    )
    .await;

    for (width, height, suffix) in [(1280, 1000, ""), (390, 844, "-phone")] {
        let b = Browser::start(driver.clone(), width, height, !suffix.is_empty()).await;
        let shot = |name: &str| dir.join(format!("portal-{name}{suffix}.png"));
        let pages: &[(&str, &str, &str)] = if suffix.is_empty() {
            &[
                ("home", "#/", "main h1"),
                ("pricing", "#/pricing", ".tier"),
                ("sdks", "#/sdks", "main h1"),
                ("marketplace", "#/marketplace", ".results .card"),
            ]
        } else {
            &[
                ("home", "#/", "main h1"),
                ("marketplace", "#/marketplace", ".results .card"),
            ]
        };
        for (name, hash, ready) in pages {
            b.goto(&format!("{portal}{hash}")).await;
            b.find(ready).await;
            b.screenshot(&shot(name)).await;
        }
        if suffix.is_empty() {
            b.goto(&format!("{portal}#/marketplace/{agent_id}")).await;
            b.wait_text(".codeblock code", "did:web").await;
            b.screenshot(&shot("agent")).await;
            // The wizard's first two steps, on open sign-up.
            b.goto(&format!("{portal}#/start")).await;
            b.fill("input[name=tenant]", "Acme Robotics").await;
            b.screenshot(&shot("wizard")).await;
            b.click_text("Create tenant").await;
            b.wait_text(".step-count", "Step 2 of 5").await;
            b.screenshot(&shot("wizard-credential")).await;
            b.click("#saved-admin").await;
            b.click_text("Continue").await;
            b.fill("input[name=agent_name]", "deploy-bot@acme.example").await;
            b.fill("input[name=capabilities]", "deploy").await;
            b.click_text("Register agent").await;
            b.click_text("Get a token").await;
            b.wait_text(".step-count", "Step 5 of 5").await;
            b.screenshot(&shot("wizard-snippets")).await;
        }
        b.goto(&format!("{portal}#/signin")).await;
        b.fill("input[name=client_id]", &admin_id).await;
        b.fill("input[name=client_secret]", &admin_secret).await;
        b.click("main form button[type=submit]").await;
        b.find("figure.usage svg").await;
        b.wait_text("main", "Subscription").await;
        b.screenshot(&shot("dashboard")).await;
        if suffix.is_empty() {
            for (name, hash, ready) in [
                ("agents", "#/dashboard/agents", "main table"),
                ("audit", "#/dashboard/audit", "#chain-badge"),
                ("policies", "#/dashboard/policies", "main table"),
            ] {
                b.goto(&format!("{portal}{hash}")).await;
                b.find(ready).await;
                b.screenshot(&shot(name)).await;
            }
            b.goto(&format!("{portal}#/dashboard/agents/{agent_id}")).await;
            b.find("main table").await;
            b.screenshot(&shot("agent-detail")).await;
        }
        b.close().await;
    }
    server.stop();
}
