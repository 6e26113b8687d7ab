//! The example servers' DEMO sign-in, over HTTP, on both of them (axum and
//! poem): the authorization endpoint sends a browser without a session to
//! `/demo/sign-in`, whose form sets the session cookie and goes back; the
//! consent page follows, and *Allow* redirects to the demo public client's
//! loopback callback with a code that the token endpoint exchanges. The
//! flow's metrics move. With the test-only approval, the code comes at once.

mod support;

use sentryagent_testkit::http::authorize::hidden_fields;
use support::{ExampleServer, free_port};

// RFC 7636 Appendix B.
const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
const CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";
const CLIENT: &str = "sa_oc_demo_public_client";
const CALLBACK: &str = "http://127.0.0.1:8765/callback";

/// A browser that shows each redirect instead of following it.
fn browser() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("a client")
}

fn authorize_url(port: u16) -> String {
    let query = form_urlencoded::Serializer::new(String::new())
        .extend_pairs([
            ("response_type", "code"),
            ("client_id", CLIENT),
            ("redirect_uri", CALLBACK),
            ("code_challenge", CHALLENGE),
            ("code_challenge_method", "S256"),
            ("state", "xyz"),
            ("resource", &format!("http://127.0.0.1:{port}")),
        ])
        .finish();
    format!("http://127.0.0.1:{port}/api/v1/oauth2/authorize?{query}")
}

fn header(response: &reqwest::Response, name: &str) -> String {
    response
        .headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned()
}

/// The code and state of a redirect to the callback.
fn code_of(location: &str) -> (String, Vec<(String, String)>) {
    let (target, query) = location.split_once('?').expect("a query");
    assert_eq!(target, CALLBACK, "{location}");
    let pairs: Vec<(String, String)> = form_urlencoded::parse(query.as_bytes()).into_owned().collect();
    let code = pairs
        .iter()
        .find(|(k, _)| k == "code")
        .map(|(_, v)| v.clone())
        .unwrap_or_else(|| panic!("a code in {location}"));
    (code, pairs)
}

/// The value of the sample `series` (name and labels exactly as exposed).
fn sample(text: &str, series: &str) -> f64 {
    text.lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' ')?.trim().parse().ok())
        .unwrap_or(0.0)
}

async fn exchange(port: u16, code: &str) -> serde_json::Value {
    let answer = browser()
        .post(format!("http://127.0.0.1:{port}/api/v1/oauth2/token"))
        .form(&[
            ("grant_type", "authorization_code"),
            ("client_id", CLIENT),
            ("code", code),
            ("redirect_uri", CALLBACK),
            ("code_verifier", VERIFIER),
        ])
        .send()
        .await
        .expect("the token endpoint answers");
    assert_eq!(answer.status(), 200);
    answer.json().await.expect("JSON")
}

async fn sign_in_consent_and_code(example: &str) {
    let metrics = format!("127.0.0.1:{}", free_port());
    let server = ExampleServer::start(example, &[("SENTRYAGENT_METRICS_BIND", metrics.as_str())]);
    let port = server.port;
    let base = format!("http://127.0.0.1:{port}");
    let browser = browser();

    // No session: to the demo sign-in, which will come back here.
    let first = browser.get(authorize_url(port)).send().await.expect("answer");
    assert_eq!(first.status(), 302, "{example}");
    let sign_in = header(&first, "location");
    assert!(sign_in.starts_with("/demo/sign-in?return_to="), "{sign_in}");

    let form = browser.get(format!("{base}{sign_in}")).send().await.expect("answer");
    assert_eq!(form.status(), 200, "{example}");
    assert!(header(&form, "content-type").starts_with("text/html"), "{example}");
    assert!(header(&form, "content-security-policy").contains("frame-ancestors 'none'"));
    assert_eq!(header(&form, "x-frame-options"), "DENY");
    let fields = hidden_fields(&form.text().await.expect("the form"));
    let return_to = fields
        .iter()
        .find(|(k, _)| k == "return_to")
        .map(|(_, v)| v.clone())
        .expect("return_to in the form");
    assert!(return_to.starts_with("/api/v1/oauth2/authorize?"), "{return_to}");

    let signed_in = browser
        .post(format!("{base}/demo/sign-in"))
        .form(&[("return_to", return_to.as_str())])
        .send()
        .await
        .expect("answer");
    assert_eq!(signed_in.status(), 303, "{example}");
    assert_eq!(header(&signed_in, "location"), return_to);
    let cookie = header(&signed_in, "set-cookie");
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Lax"),
        "{cookie}"
    );
    let session = cookie.split(';').next().expect("name=value").to_owned();
    // Never back to another origin.
    let elsewhere = browser
        .post(format!("{base}/demo/sign-in"))
        .form(&[("return_to", "//evil.example/")])
        .send()
        .await
        .expect("answer");
    assert_eq!(header(&elsewhere, "location"), "/");

    let consent = browser
        .get(format!("{base}{return_to}"))
        .header("cookie", &session)
        .send()
        .await
        .expect("answer");
    assert_eq!(consent.status(), 200, "{example}: the consent page");
    let page = consent.text().await.expect("the page");
    assert!(page.contains("Demo public client"), "{page}");
    assert!(page.contains("Demo User"), "{page}");
    let mut form = hidden_fields(&page);
    assert!(form.iter().any(|(k, _)| k == "consent_token"), "{form:?}");
    form.push(("decision".into(), "allow".into()));
    let allowed = browser
        .post(format!("{base}/api/v1/oauth2/authorize"))
        .header("cookie", &session)
        .form(&form)
        .send()
        .await
        .expect("answer");
    assert_eq!(allowed.status(), 302, "{example}");
    let (code, pairs) = code_of(&header(&allowed, "location"));
    assert!(pairs.contains(&("state".into(), "xyz".into())), "{pairs:?}");
    assert!(pairs.contains(&("iss".into(), base.clone())), "{pairs:?}");
    let tokens = exchange(port, &code).await;
    assert_eq!(tokens["token_type"], "Bearer");

    let text = reqwest::get(format!("http://{metrics}/metrics"))
        .await
        .expect("the metrics answer")
        .text()
        .await
        .expect("text");
    for (series, value) in [
        (
            r#"sentryagent_authorization_requests_total{outcome="sign_in",reason="none"}"#,
            1.0,
        ),
        (
            r#"sentryagent_authorization_requests_total{outcome="consent_shown",reason="none"}"#,
            1.0,
        ),
        (
            r#"sentryagent_authorization_requests_total{outcome="code_issued",reason="none"}"#,
            1.0,
        ),
        (r#"sentryagent_consents_total{decision="granted"}"#, 1.0),
        (
            r#"sentryagent_tokens_issued_total{grant="authorization_code",alg="ES256"}"#,
            1.0,
        ),
    ] {
        assert_eq!(sample(&text, series), value, "{example}: {series} in\n{text}");
    }
    server.stop();
}

#[tokio::test]
async fn the_axum_server_signs_the_demo_user_in_and_issues_a_code() {
    sign_in_consent_and_code("server").await;
}

#[tokio::test]
async fn the_poem_server_signs_the_demo_user_in_and_issues_a_code() {
    sign_in_consent_and_code("poem_server").await;
}

async fn approved_at_once(example: &str) {
    let server = ExampleServer::start(
        example,
        &[(
            "SENTRYAGENT_TEST_ONLY_AUTO_APPROVE_AS_DEMO_USER",
            "yes-approve-everything",
        )],
    );
    let answer = browser().get(authorize_url(server.port)).send().await.expect("answer");
    assert_eq!(answer.status(), 302, "{example}");
    let (code, _) = code_of(&header(&answer, "location"));
    let tokens = exchange(server.port, &code).await;
    assert_eq!(tokens["token_type"], "Bearer");
    server.stop();
}

#[tokio::test]
async fn the_test_only_approval_issues_a_code_at_once_on_both_servers() {
    approved_at_once("server").await;
    approved_at_once("poem_server").await;
}
