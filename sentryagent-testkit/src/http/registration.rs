//! Dynamic client registration (RFC 7591) as an attacker sees it: closed
//! unless the host opens it, every registration landing in the tenant the
//! host named (never another), bad metadata refused with the RFC's errors,
//! and registrations limited per address.

use sentryagent_core::TenantId;
use sentryagent_core::ratelimit::{Quota, RouteGroup};
use serde_json::{Value, json};

use crate::{Answer, StartFn, TestApp, string};

async fn register(app: &TestApp, body: &Value) -> Answer {
    app.json(reqwest::Method::POST, "/oauth2/register", None, body).await
}

async fn metadata(app: &TestApp) -> Value {
    let a = app
        .send(app.request(reqwest::Method::GET, "//.well-known/oauth-authorization-server", None))
        .await;
    a.assert_status(200);
    a.json
}

fn tenant_id(id: &str) -> TenantId {
    id.parse().expect("a tenant id")
}

/// Off by default: the route answers 404 and the metadata names no
/// registration endpoint; opened, it is named.
pub async fn dynamic_registration_is_off_by_default(start: impl StartFn) {
    let app = TestApp::start(start).await;
    let t = app.signup("Acme").await;
    register(&app, &json!({"redirect_uris": ["http://127.0.0.1/cb"]}))
        .await
        .assert_error(404, "NOT_FOUND");
    let meta = metadata(&app).await;
    assert!(meta.get("registration_endpoint").is_none(), "{meta}");
    assert_eq!(meta["client_id_metadata_document_supported"], false);

    app.idp.set_dynamic_client_registration(Some(tenant_id(&t.id)));
    assert_eq!(
        metadata(&app).await["registration_endpoint"],
        app.url("/oauth2/register")
    );
    app.idp.set_dynamic_client_registration(None);
    register(&app, &json!({"redirect_uris": ["http://127.0.0.1/cb"]}))
        .await
        .assert_error(404, "NOT_FOUND");
}

/// Public and confidential clients register into the host's tenant: a
/// secret only for a confidential one, shown once; each audited there; the
/// other tenant sees none of them.
pub async fn dynamic_registration_registers_into_the_hosts_tenant_only(start: impl StartFn) {
    let app = TestApp::start(start).await;
    let t = app.signup("Acme").await;
    let admin = app.admin_token(&t).await;
    let other = app.signup("Globex").await;
    let other_admin = app.admin_token(&other).await;
    app.idp.set_dynamic_client_registration(Some(tenant_id(&t.id)));

    let public = register(
        &app,
        &json!({
            "redirect_uris": ["http://127.0.0.1:33418/callback"],
            "token_endpoint_auth_method": "none",
            "grant_types": ["authorization_code", "refresh_token"],
            "response_types": ["code"],
            "client_name": "MCP Inspector",
            "software_id": "ignored: unknown members are ignored",
        }),
    )
    .await;
    public.assert_status(201);
    assert_eq!(public.header("cache-control"), "no-store");
    let public_id = string(&public.json["client_id"]);
    assert!(public_id.starts_with("sa_oc_"), "{public_id}");
    assert!(public.json.get("client_secret").is_none(), "{}", public.text);
    assert!(public.json["client_id_issued_at"].as_i64().is_some_and(|t| t > 0));
    assert_eq!(public.json["token_endpoint_auth_method"], "none");
    assert_eq!(
        public.json["grant_types"],
        json!(["authorization_code", "refresh_token"])
    );
    assert_eq!(public.json["response_types"], json!(["code"]));
    assert_eq!(public.json["client_name"], "MCP Inspector");

    let confidential = register(
        &app,
        &json!({"redirect_uris": ["https://app.example/cb"], "token_endpoint_auth_method": "client_secret_post"}),
    )
    .await;
    confidential.assert_status(201);
    let secret = string(&confidential.json["client_secret"]);
    assert!(secret.starts_with("sa_sk_"));
    assert_eq!(confidential.json["client_secret_expires_at"], 0);
    assert_eq!(confidential.json["grant_types"], json!(["authorization_code"]));
    // RFC 7591's default method is client_secret_basic.
    let basic = register(&app, &json!({"redirect_uris": ["https://app.example/cb"]})).await;
    basic.assert_status(201);
    assert_eq!(basic.json["token_endpoint_auth_method"], "client_secret_basic");

    let listed = app.get("/oauth-clients", &admin).await;
    listed.assert_status(200);
    let items = listed.json["items"].as_array().cloned().unwrap_or_default();
    assert_eq!(items.len(), 3, "{}", listed.text);
    assert!(items.iter().all(|c| c["kind"] == "dynamic"), "{}", listed.text);
    assert!(!listed.text.contains(&secret), "the secret is never listed");
    let mine = app.get(&format!("/oauth-clients/{public_id}"), &admin).await;
    mine.assert_status(200);
    assert_eq!(mine.json["clientName"], "MCP Inspector");

    let theirs = app.get("/oauth-clients", &other_admin).await;
    theirs.assert_status(200);
    assert_eq!(theirs.json["items"], json!([]), "{}", theirs.text);
    app.get(&format!("/oauth-clients/{public_id}"), &other_admin)
        .await
        .assert_error(404, "NOT_FOUND");

    let audit = app.get("/audit?action=oauth_client.registered&limit=10", &admin).await;
    audit.assert_status(200);
    assert_eq!(audit.json["items"].as_array().map(Vec::len), Some(3), "{}", audit.text);
    assert!(!audit.text.contains(&secret), "no secret in the audit log");
    let theirs = app
        .get("/audit?action=oauth_client.registered&limit=10", &other_admin)
        .await;
    assert_eq!(theirs.json["items"], json!([]));
}

/// Bad metadata is refused with `invalid_redirect_uri` or
/// `invalid_client_metadata`, and nothing is stored.
pub async fn dynamic_registration_refuses_bad_metadata(start: impl StartFn) {
    let quota: Quota = "100/60s".parse().expect("quota");
    let app = TestApp::start_with(start, |b| b.rate_limit(RouteGroup::Registration, quota)).await;
    let t = app.signup("Acme").await;
    let admin = app.admin_token(&t).await;
    app.idp.set_dynamic_client_registration(Some(tenant_id(&t.id)));
    let many: Vec<String> = (0..21).map(|i| format!("https://app.example/{i}")).collect();
    let cases = [
        (
            json!({"redirect_uris": ["javascript:alert(1)"]}),
            "invalid_redirect_uri",
        ),
        (
            json!({"redirect_uris": ["http://app.example/cb"]}),
            "invalid_redirect_uri",
        ),
        (
            json!({"redirect_uris": ["https://app.example/cb#frag"]}),
            "invalid_redirect_uri",
        ),
        (json!({"redirect_uris": many}), "invalid_redirect_uri"),
        (json!({"redirect_uris": []}), "invalid_redirect_uri"),
        (json!({"client_name": "no redirect"}), "invalid_redirect_uri"),
        (
            json!({"redirect_uris": "https://app.example/cb"}),
            "invalid_client_metadata",
        ),
        (
            json!({"redirect_uris": ["https://app.example/cb"], "token_endpoint_auth_method": "private_key_jwt"}),
            "invalid_client_metadata",
        ),
        (
            json!({"redirect_uris": ["https://app.example/cb"], "grant_types": ["client_credentials"]}),
            "invalid_client_metadata",
        ),
        (
            json!({"redirect_uris": ["https://app.example/cb"], "response_types": ["token"]}),
            "invalid_client_metadata",
        ),
        (
            json!({"redirect_uris": ["https://app.example/cb"], "logo_uri": "http://app.example/logo.png"}),
            "invalid_client_metadata",
        ),
        (
            json!({"redirect_uris": ["https://app.example/cb"], "client_name": "x".repeat(101)}),
            "invalid_client_metadata",
        ),
        (json!([1, 2]), "invalid_client_metadata"),
    ];
    for (body, error) in cases {
        register(&app, &body).await.assert_oauth_error(400, error);
    }
    let not_json = app
        .send(
            app.request(reqwest::Method::POST, "/oauth2/register", None)
                .header("content-type", "application/json")
                .body("{not json"),
        )
        .await;
    not_json.assert_oauth_error(400, "invalid_client_metadata");
    let form = app
        .send(
            app.request(reqwest::Method::POST, "/oauth2/register", None)
                .header("content-type", "application/x-www-form-urlencoded")
                .body("redirect_uris=https://app.example/cb"),
        )
        .await;
    form.assert_error(415, "UNSUPPORTED_MEDIA_TYPE");

    let listed = app.get("/oauth-clients", &admin).await;
    assert_eq!(listed.json["items"], json!([]), "nothing stored: {}", listed.text);
    let refused = app
        .get("/audit?action=oauth_client.registration_refused&limit=10", &admin)
        .await;
    assert!(
        refused.json["items"].as_array().is_some_and(|i| !i.is_empty()),
        "refusals are audited: {}",
        refused.text
    );
}

/// Registrations are limited per address.
pub async fn dynamic_registration_is_rate_limited(start: impl StartFn) {
    let quota: Quota = "2/60s".parse().expect("quota");
    let app = TestApp::start_with(start, |b| b.rate_limit(RouteGroup::Registration, quota)).await;
    let t = app.signup("Acme").await;
    app.idp.set_dynamic_client_registration(Some(tenant_id(&t.id)));
    let body = json!({"redirect_uris": ["http://127.0.0.1/cb"], "token_endpoint_auth_method": "none"});
    register(&app, &body).await.assert_status(201);
    register(&app, &body).await.assert_status(201);
    let limited = register(&app, &body).await;
    limited.assert_error(429, "RATE_LIMITED");
    assert!(!limited.header("retry-after").is_empty());
}
