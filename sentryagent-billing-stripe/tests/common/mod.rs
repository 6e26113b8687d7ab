//! What the test files share: secrets, fixtures, Stripe's signing scheme, and
//! a stand-in Stripe API on a loopback socket.

#![allow(dead_code)]

use std::fmt::Write as _;
use std::sync::{Arc, Mutex};

use aws_lc_rs::hmac;
use axum::Router;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, Response, StatusCode};
use sentryagent_billing_stripe::{StripeBilling, StripeConfig};
use sentryagent_core::TenantId;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

/// The tenant the fixtures name.
pub(crate) const TENANT: &str = "0190f5c2-7a3e-7c4b-9d2e-5b1a3c4d5e6f";
/// A test-mode secret key.
pub(crate) const SECRET_KEY: &str = "sk_test_51Qb6zWLkdIwHu7ixStandInOnlyKey0000";
/// The webhook endpoint's signing secret.
pub(crate) const WEBHOOK_SECRET: &str = "whsec_9Zt2cVq7LmR4xP1nW8kB";

pub(crate) fn tenant() -> TenantId {
    TENANT.parse().expect("the fixtures' tenant id is a UUID")
}

/// A file under `tests/fixtures/`.
pub(crate) fn fixture(name: &str) -> Vec<u8> {
    let path = format!("{}/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// A `Stripe-Signature` header as Stripe writes it: `t=…,v1=hex(HMAC-SHA256(secret, "{t}.{payload}"))`.
pub(crate) fn sign(payload: &[u8], secret: &str, timestamp: i64) -> String {
    format!("t={timestamp},v1={}", signature(payload, secret, timestamp))
}

/// The `v1` value alone.
pub(crate) fn signature(payload: &[u8], secret: &str, timestamp: i64) -> String {
    let key = hmac::Key::new(hmac::HMAC_SHA256, secret.as_bytes());
    let mut context = hmac::Context::with_key(&key);
    context.update(format!("{timestamp}.").as_bytes());
    context.update(payload);
    context.sign().as_ref().iter().fold(String::new(), |mut hex, byte| {
        let _ = write!(hex, "{byte:02x}");
        hex
    })
}

/// The provider under test, pointed at `api_base`.
pub(crate) fn billing(api_base: Option<String>) -> StripeBilling {
    StripeBilling::new(StripeConfig {
        secret_key: SECRET_KEY.into(),
        webhook_secret: WEBHOOK_SECRET.into(),
        api_base,
    })
    .expect("a valid configuration")
}

/// One request the stand-in received.
#[derive(Clone, Debug)]
pub(crate) struct Recorded {
    pub(crate) method: String,
    /// Path and query.
    pub(crate) path: String,
    pub(crate) headers: HeaderMap,
    /// The body, form-decoded (empty when it is not a form).
    pub(crate) form: Vec<(String, String)>,
}

impl Recorded {
    /// The value of a form field; panics when it is there more than once.
    pub(crate) fn field(&self, name: &str) -> Option<&str> {
        let mut values = self
            .form
            .iter()
            .filter(|(key, _)| key == name)
            .map(|(_, value)| value.as_str());
        let value = values.next();
        assert!(values.next().is_none(), "form field {name} sent more than once");
        value
    }

    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|value| value.to_str().ok())
    }
}

/// How the stand-in answers a request: status and JSON body.
pub(crate) type Answer = fn(&Recorded) -> (StatusCode, String);

#[derive(Clone)]
struct StandInState {
    answer: Answer,
    requests: Arc<Mutex<Vec<Recorded>>>,
}

/// A stand-in for `api.stripe.com` on 127.0.0.1: records every request and
/// answers it with `answer`. Stops when dropped.
pub(crate) struct StandIn {
    /// `http://127.0.0.1:PORT`, no trailing slash.
    pub(crate) base: String,
    requests: Arc<Mutex<Vec<Recorded>>>,
    server: JoinHandle<()>,
}

impl StandIn {
    pub(crate) async fn start(answer: Answer) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind a loopback port");
        let base = format!("http://{}", listener.local_addr().expect("the bound address"));
        let requests = Arc::new(Mutex::new(Vec::new()));
        let app = Router::new().fallback(record_and_answer).with_state(StandInState {
            answer,
            requests: requests.clone(),
        });
        let server = tokio::spawn(async move {
            axum::serve(listener, app).await.expect("the stand-in Stripe server");
        });
        Self { base, requests, server }
    }

    /// Every request so far.
    pub(crate) fn requests(&self) -> Vec<Recorded> {
        self.requests.lock().expect("requests lock").clone()
    }
}

impl Drop for StandIn {
    fn drop(&mut self) {
        self.server.abort();
    }
}

async fn record_and_answer(State(state): State<StandInState>, request: Request) -> Response<Body> {
    let (parts, body) = request.into_parts();
    let body = axum::body::to_bytes(body, 1 << 20)
        .await
        .expect("a request body under 1 MiB");
    let is_form = parts
        .headers
        .get("content-type")
        .is_some_and(|value| value.as_bytes().starts_with(b"application/x-www-form-urlencoded"));
    let form = if is_form {
        form_urlencoded::parse(&body).into_owned().collect()
    } else {
        Vec::new()
    };
    let recorded = Recorded {
        method: parts.method.to_string(),
        path: parts
            .uri
            .path_and_query()
            .map_or_else(|| parts.uri.path().to_owned(), ToString::to_string),
        headers: parts.headers,
        form,
    };
    let (status, json) = (state.answer)(&recorded);
    state.requests.lock().expect("requests lock").push(recorded);
    Response::builder()
        .status(status)
        .header("content-type", "application/json")
        .header("request-id", "req_Qw3Er5Ty7Ui9Op")
        .header("stripe-version", "2026-09-30.endive")
        .body(Body::from(json))
        .expect("a valid response")
}
