//! The OpenAPI document and the API explorer over it.

use reqwest::Method;
use sentryagent_core::http::routes;
use serde_json::{Value, json};

use crate::{StartFn, TestApp};

/// Validates `value` against `#/components/schemas/<name>` of `doc` (JSON
/// Schema 2020-12, which OpenAPI 3.1 schemas are), formats asserted.
fn violations(doc: &Value, name: &str, value: &Value) -> Option<String> {
    let mut schemas = boon::Schemas::new();
    let mut compiler = boon::Compiler::new();
    compiler.enable_format_assertions();
    let url = "urn:sentryagent:test:openapi";
    compiler.add_resource(url, doc.clone()).expect("the document loads");
    let index = compiler
        .compile(&format!("{url}#/components/schemas/{name}"), &mut schemas)
        .unwrap_or_else(|e| panic!("schema {name} compiles: {e:#}"));
    schemas.validate(value, index).err().map(|e| format!("{e:#}"))
}

#[track_caller]
fn assert_matches(doc: &Value, name: &str, value: &Value) {
    if let Some(why) = violations(doc, name, value) {
        panic!("an answer does not match schema {name}: {why}\n{value:#}");
    }
}

/// `GET /openapi.json`: an OpenAPI 3.1 document with one operation per route
/// of the table, the mount point as its server, and schemas that the real
/// answers match (and that a wrong answer would not).
pub async fn openapi_document_matches_the_answers(start: impl StartFn + Copy) {
    let app = TestApp::start(start).await;
    let answer = app.send(app.request(Method::GET, "/openapi.json", None)).await;
    answer.assert_status(200);
    assert!(answer.header("content-type").starts_with("application/json"));
    let doc = answer.json;
    assert!(
        doc["openapi"].as_str().is_some_and(|v| v.starts_with("3.1")),
        "{}",
        doc["openapi"]
    );
    assert_eq!(doc["servers"], json!([{ "url": "/api/v1" }]));
    let operations: usize = doc["paths"]
        .as_object()
        .expect("paths")
        .values()
        .map(|item| item.as_object().map_or(0, |m| m.len()))
        .sum();
    assert_eq!(operations, routes().len(), "one operation per route");
    let register = &doc["paths"]["/agents"]["post"];
    assert_eq!(register["security"], json!([{ "bearer": ["agents:write"] }]));
    for status in ["201", "400", "401", "403", "409", "413", "415", "429", "500", "503"] {
        assert!(
            register["responses"][status].is_object(),
            "registerAgent documents {status}"
        );
    }

    let tenant = app.signup("Acme").await;
    let admin = app.admin_token(&tenant).await;
    let body = json!({"name": "doc-bot@acme.example", "capabilities": ["docs"], "metadata": {"team": "x"}});
    let created = app.post("/agents", &admin, &body).await;
    created.assert_status(201);
    assert_matches(&doc, "RegisteredAgent", &created.json);
    let mut wrong = created.json.clone();
    wrong["status"] = json!("sleeping");
    assert!(
        violations(&doc, "RegisteredAgent", &wrong).is_some(),
        "a wrong status is caught"
    );

    let page = app.get("/agents", &admin).await;
    assert_matches(&doc, "Page_Agent", &page.json);
    let id = created.json["agentId"].as_str().unwrap_or_default();
    let credentials = app.get(&format!("/agents/{id}/credentials"), &admin).await;
    assert_matches(&doc, "Page_Credential", &credentials.json);

    let secret = created.json["clientSecret"].as_str().unwrap_or_default();
    let client = created.json["clientId"].as_str().unwrap_or_default();
    let token = app.token_request(client, secret, None).await;
    assert_matches(&doc, "TokenResponse", &token.json);
    let introspected = app
        .introspect(&admin, &crate::string(&token.json["access_token"]))
        .await;
    assert_matches(&doc, "Introspection", &introspected.json);
    assert_matches(&doc, "Introspection", &json!({"active": false}));

    let audit = app.get("/audit", &admin).await;
    assert_matches(&doc, "AuditPage", &audit.json);
    assert_matches(&doc, "Verification", &app.get("/audit/verify", &admin).await.json);
    let signed = app.get("/audit/checkpoint", &admin).await;
    assert_matches(&doc, "SignedCheckpoint", &signed.json);
    let against = app
        .get(
            &format!("/audit/verify?checkpoint={}", crate::string(&signed.json["checkpoint"])),
            &admin,
        )
        .await;
    assert_matches(&doc, "Verification", &against.json);
    assert_matches(&doc, "TenantWithLimits", &app.get("/tenants/me", &admin).await.json);

    let invalid = app.post("/agents", &admin, &json!({"name": 7})).await;
    invalid.assert_error(400, "VALIDATION_ERROR");
    assert_matches(&doc, "Error", &invalid.json);
    let refused = app.form("/oauth2/token", None, &[("grant_type", "password")]).await;
    assert_matches(&doc, "OAuthError", &refused.json);
}

/// `GET /docs/`: Swagger UI from files compiled into the binary, pointed at
/// the document by a relative URL; `/docs` redirects to it.
pub async fn explorer_is_served_from_the_binary(start: impl StartFn + Copy) {
    let app = TestApp::start(start).await;
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("a client");
    let bare = client.get(app.url("/docs")).send().await.expect("GET /docs");
    assert_eq!(bare.status().as_u16(), 308);
    assert_eq!(bare.headers()["location"], "docs/");

    let page = app.send(app.request(Method::GET, "/docs/", None)).await;
    page.assert_status(200);
    assert!(page.header("content-type").starts_with("text/html"));
    assert!(page.text.contains("swagger-ui"), "{}", page.text);

    let init = app
        .send(app.request(Method::GET, "/docs/swagger-initializer.js", None))
        .await;
    init.assert_status(200);
    assert!(init.text.contains("\"../openapi.json\""), "{}", init.text);

    let bundle = app
        .send(app.request(Method::GET, "/docs/swagger-ui-bundle.js", None))
        .await;
    bundle.assert_status(200);
    assert!(bundle.header("content-type").contains("javascript"));
    assert!(bundle.text.len() > 100_000, "the whole bundle is there");

    app.send(app.request(Method::GET, "/docs/no-such-file.js", None))
        .await
        .assert_error(404, "NOT_FOUND");
}
