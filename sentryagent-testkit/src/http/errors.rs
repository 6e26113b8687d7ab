//! Bad input always gets the API's envelope with a 4xx, never a 500 or a
//! framework's default answer.

use reqwest::Method;
use serde_json::json;

use crate::{StartFn, TestApp};

/// Malformed JSON, wrong content type, unknown fields, oversized bodies, bad
/// path ids, unknown routes and methods, missing authentication.
pub async fn bad_input_gets_the_envelope(start: impl StartFn) {
    let app = TestApp::start(start).await;
    let t = app.signup("Acme").await;
    let admin = app.admin_token(&t).await;
    let raw = |body: &'static str, content_type: &'static str| {
        app.request(Method::POST, "/agents", Some(&admin))
            .header("content-type", content_type)
            .body(body)
    };
    app.send(raw("{\"name\": ", "application/json"))
        .await
        .assert_error(400, "VALIDATION_ERROR");
    app.send(raw("[1, 2]", "application/json"))
        .await
        .assert_error(400, "VALIDATION_ERROR");
    app.send(raw("{\"name\": \"a@b.co\"}", "text/plain"))
        .await
        .assert_error(415, "UNSUPPORTED_MEDIA_TYPE");
    app.send(app.request(Method::POST, "/agents", Some(&admin)).body("{}"))
        .await
        .assert_error(415, "UNSUPPORTED_MEDIA_TYPE");
    let unknown = app
        .post("/agents", &admin, &json!({"name": "a@b.co", "colour": "red"}))
        .await;
    unknown.assert_error(400, "VALIDATION_ERROR");
    assert!(unknown.json["details"]["colour"].is_string());
    let wrong_type = app.post("/agents", &admin, &json!({"name": 42})).await;
    wrong_type.assert_error(400, "VALIDATION_ERROR");
    assert!(wrong_type.json["details"]["name"].is_string(), "{}", wrong_type.text);

    let huge = json!({"name": "a@b.co", "description": "x".repeat(70 * 1024)});
    app.post("/agents", &admin, &huge)
        .await
        .assert_error(413, "PAYLOAD_TOO_LARGE");
    let huge_form = "token=".to_owned() + &"x".repeat(70 * 1024);
    app.send(
        app.request(Method::POST, "/oauth2/introspect", Some(&admin))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(huge_form),
    )
    .await
    .assert_error(413, "PAYLOAD_TOO_LARGE");

    let bad_id = app.get("/agents/not-a-uuid", &admin).await;
    bad_id.assert_error(400, "VALIDATION_ERROR");
    assert!(bad_id.json["details"]["agentId"].is_string());
    app.get(
        &format!("/agents/{}/credentials/x/rotate", sentryagent_core::AgentId::new()),
        &admin,
    )
    .await
    .assert_error(405, "METHOD_NOT_ALLOWED");
    app.get("/no-such-route", &admin).await.assert_error(404, "NOT_FOUND");
    app.get("/agents/a/b/c/d", &admin).await.assert_error(404, "NOT_FOUND");
    app.send(app.request(Method::PUT, "/agents", Some(&admin)))
        .await
        .assert_error(405, "METHOD_NOT_ALLOWED");

    let anonymous = app.send(app.request(Method::GET, "/agents", None)).await;
    anonymous.assert_error(401, "UNAUTHORIZED");
    assert!(anonymous.header("www-authenticate").starts_with("Bearer"));
    app.send(
        app.request(Method::GET, "/agents", None)
            .header("authorization", "Basic abc"),
    )
    .await
    .assert_error(401, "UNAUTHORIZED");
    app.send(app.request(Method::GET, "//whoami", None))
        .await
        .assert_error(401, "UNAUTHORIZED");
    app.json(Method::POST, "/tenants", None, &json!({"name": ""}))
        .await
        .assert_error(400, "VALIDATION_ERROR");
    app.json(Method::POST, "/tenants", None, &json!({}))
        .await
        .assert_error(400, "VALIDATION_ERROR");
}

/// A known path with another method gets the envelope and an `Allow` header
/// (RFC 9110), under the prefix and at the root; `HEAD` works where `GET` does.
pub async fn wrong_methods_name_the_allowed_ones(start: impl StartFn) {
    let app = TestApp::start(start).await;
    for (method, path, allowed) in [
        (Method::PUT, "/agents", ["GET", "HEAD", "POST"].as_slice()),
        (Method::POST, "/health", &["GET", "HEAD"]),
        (Method::POST, "//.well-known/jwks.json", &["GET", "HEAD"]),
    ] {
        let a = app.send(app.request(method, path, None)).await;
        a.assert_error(405, "METHOD_NOT_ALLOWED");
        let mut allow: Vec<&str> = a.header("allow").split(',').map(str::trim).collect();
        allow.sort_unstable();
        assert_eq!(allow, allowed, "Allow of {path}");
    }
    let head = app.send(app.request(Method::HEAD, "/health", None)).await;
    head.assert_status(200);
    assert!(head.text.is_empty());
}

/// With an operator key set, sign-up needs it.
pub async fn signup_with_an_operator_key(start: impl StartFn) {
    let app = TestApp::start_with(start, |b| b.operator_key("op-key-0123456789")).await;
    let body = json!({"name": "Acme"});
    app.json(Method::POST, "/tenants", None, &body)
        .await
        .assert_error(401, "UNAUTHORIZED");
    app.json(Method::POST, "/tenants", Some("wrong"), &body)
        .await
        .assert_error(401, "UNAUTHORIZED");
    let ok = app
        .json(Method::POST, "/tenants", Some("op-key-0123456789"), &body)
        .await;
    ok.assert_status(201);
    assert_eq!(ok.json["tier"], "free");
    let admin = app
        .token(
            ok.json["adminClientId"].as_str().unwrap_or_default(),
            ok.json["adminClientSecret"].as_str().unwrap_or_default(),
            None,
        )
        .await;
    let me = app.get("/tenants/me", &admin).await;
    me.assert_status(200);
    assert_eq!(me.json["name"], "Acme");
    assert_eq!(me.json["limits"]["maxAgents"], 10);
    assert_eq!(me.json["limits"]["apiCallsPerDay"], 1000);
}
