//! Checkout Sessions over real HTTP, against a stand-in Stripe API on a
//! loopback socket: what the backend sends, and what it makes of the answers.

mod common;

use axum::http::StatusCode;
use common::{Recorded, SECRET_KEY, StandIn, TENANT, billing, fixture, tenant};
use sentryagent_core::billing::{BillingError, BillingProvider, CheckoutRequest};

fn request() -> CheckoutRequest {
    CheckoutRequest {
        tenant: tenant(),
        tier: "pro".into(),
        price_id: "price_1SWm8cLkdIwHu7ixPro49usd".into(),
        success_url: "https://app.example.com/billing?checkout=done&session={CHECKOUT_SESSION_ID}".into(),
        cancel_url: "https://app.example.com/billing?checkout=cancelled".into(),
    }
}

/// As Stripe answers a valid `POST /v1/checkout/sessions`: the session,
/// echoing what was asked for.
fn open_session(request: &Recorded) -> (StatusCode, String) {
    let mut session: serde_json::Value =
        serde_json::from_slice(&fixture("checkout_session_open.json")).expect("fixture is JSON");
    for field in ["client_reference_id", "success_url", "cancel_url"] {
        if let Some(value) = request.field(field) {
            session[field] = value.into();
        }
    }
    (StatusCode::OK, session.to_string())
}

fn url_of_open_session() -> String {
    let session: serde_json::Value =
        serde_json::from_slice(&fixture("checkout_session_open.json")).expect("fixture is JSON");
    session["url"].as_str().expect("the fixture has a url").to_owned()
}

#[tokio::test]
async fn checkout_creates_a_subscription_session_and_returns_its_url() {
    let stripe = StandIn::start(open_session).await;
    let provider = billing(Some(stripe.base.clone()));

    let url = provider.create_checkout(&request()).await.expect("a session");
    assert_eq!(url, url_of_open_session());

    let requests = stripe.requests();
    assert_eq!(requests.len(), 1, "one request, no retries: {requests:#?}");
    let sent = &requests[0];
    assert_eq!(sent.method, "POST");
    assert_eq!(sent.path, "/v1/checkout/sessions");
    assert_eq!(
        sent.header("authorization"),
        Some(format!("Bearer {SECRET_KEY}").as_str())
    );
    assert_eq!(sent.header("content-type"), Some("application/x-www-form-urlencoded"));
    assert!(
        sent.header("stripe-version").is_some_and(|v| !v.is_empty()),
        "pins an API version"
    );
    assert!(
        sent.header("user-agent").is_some_and(|v| v.contains("SentryAgent/")),
        "{:?}",
        sent.header("user-agent")
    );

    let expected = [
        ("mode", "subscription"),
        ("line_items[0][price]", "price_1SWm8cLkdIwHu7ixPro49usd"),
        ("line_items[0][quantity]", "1"),
        ("client_reference_id", TENANT),
        ("subscription_data[metadata][tenant_id]", TENANT),
        ("subscription_data[metadata][tier]", "pro"),
        (
            "success_url",
            "https://app.example.com/billing?checkout=done&session={CHECKOUT_SESSION_ID}",
        ),
        ("cancel_url", "https://app.example.com/billing?checkout=cancelled"),
    ];
    for (field, value) in expected {
        assert_eq!(sent.field(field), Some(value), "form field {field} in {:?}", sent.form);
    }
    assert_eq!(sent.form.len(), expected.len(), "nothing else is sent: {:?}", sent.form);
}

#[tokio::test]
async fn an_api_base_with_a_path_keeps_it() {
    let stripe = StandIn::start(open_session).await;
    let provider = billing(Some(format!("{}/stripe", stripe.base)));
    assert_eq!(provider.api_base(), format!("{}/stripe/", stripe.base));

    provider.create_checkout(&request()).await.expect("a session");
    assert_eq!(stripe.requests()[0].path, "/stripe/v1/checkout/sessions");
}

#[tokio::test]
async fn a_stripe_error_is_a_provider_error_with_stripes_message() {
    let stripe = StandIn::start(|_| {
        let body = String::from_utf8(fixture("error_resource_missing.json")).expect("fixture is UTF-8");
        (StatusCode::BAD_REQUEST, body)
    })
    .await;
    let provider = billing(Some(stripe.base.clone()));

    let error = provider.create_checkout(&request()).await.expect_err("Stripe said no");
    let BillingError::Provider { message, source } = error else {
        panic!("not a provider error: {error:?}")
    };
    let source = source.expect("Stripe's own error is kept as the source");
    assert!(source.is::<stripe::StripeError>(), "{source:?}");
    assert!(message.contains("No such price: 'price_1NoSuchPriceXyZ'"), "{message}");
    assert!(message.contains("400"), "{message}");
    assert!(
        message.contains("invalid_request_error") && message.contains("resource_missing"),
        "{message}"
    );
    assert!(!message.contains(SECRET_KEY), "{message}");
    assert_eq!(stripe.requests().len(), 1, "a 400 is not retried");
}

#[tokio::test]
async fn an_answer_that_is_not_stripes_is_a_provider_error() {
    let stripe = StandIn::start(|_| (StatusCode::BAD_GATEWAY, "<html>bad gateway</html>".into())).await;
    let error = billing(Some(stripe.base.clone()))
        .create_checkout(&request())
        .await
        .expect_err("no session");
    assert!(matches!(error, BillingError::Provider { .. }), "{error:?}");

    let stripe = StandIn::start(|_| {
        (
            StatusCode::OK,
            r#"{"id": "cs_test_1", "object": "checkout.session"}"#.into(),
        )
    })
    .await;
    let error = billing(Some(stripe.base.clone()))
        .create_checkout(&request())
        .await
        .expect_err("no session");
    let BillingError::Provider { message, .. } = error else {
        panic!("not a provider error: {error:?}")
    };
    assert!(message.contains("unexpected answer from Stripe"), "{message}");
}

#[tokio::test]
async fn a_session_without_a_url_is_a_provider_error() {
    let stripe = StandIn::start(|request| {
        let (status, body) = open_session(request);
        let mut session: serde_json::Value = serde_json::from_str(&body).expect("JSON");
        session["url"] = serde_json::Value::Null;
        (status, session.to_string())
    })
    .await;
    let error = billing(Some(stripe.base.clone()))
        .create_checkout(&request())
        .await
        .expect_err("no url");
    let BillingError::Provider { message, .. } = error else {
        panic!("not a provider error: {error:?}")
    };
    assert!(
        message.contains("cs_test_a1Lq9Zx3") && message.contains("without a url"),
        "{message}"
    );
}

#[tokio::test]
async fn an_unreachable_stripe_is_a_provider_error() {
    // A port that was just free: nothing listens on it.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let base = format!("http://{}", listener.local_addr().expect("address"));
    drop(listener);

    let error = billing(Some(base))
        .create_checkout(&request())
        .await
        .expect_err("nobody there");
    let BillingError::Provider { message, .. } = error else {
        panic!("not a provider error: {error:?}")
    };
    assert!(message.contains("could not reach Stripe"), "{message}");
}
