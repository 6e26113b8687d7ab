//! The tenant's OAuth clients and its people's consents, as an attacker
//! sees them: secrets shown once, bad redirect URIs refused, scopes
//! required, and nothing ever crossing tenants.

use serde_json::{Value, json};

use crate::{StartFn, TestApp, captured_logs, string};

const RESOURCE: &str = "https://mcp.acme.example";

fn public(redirect: &str) -> Value {
    json!({"kind": "public", "redirectUris": [redirect], "clientName": "Editor"})
}

async fn audit_actions(app: &TestApp, admin: &str, action: &str) -> Vec<Value> {
    let a = app.get(&format!("/audit?action={action}&limit=100"), admin).await;
    a.assert_status(200);
    a.json["items"].as_array().cloned().unwrap_or_default()
}

/// Clients are registered, listed, read, changed and deleted; a
/// confidential client's secret is shown once, never listed, read or
/// logged; each change is audited.
pub async fn oauth_clients_are_managed_and_secrets_shown_once(start: impl StartFn) {
    let app = TestApp::start(start).await;
    let t = app.signup("Acme").await;
    let admin = app.admin_token(&t).await;

    let registered = app
        .post(
            "/oauth-clients",
            &admin,
            &json!({
                "kind": "confidential",
                "tokenEndpointAuthMethod": "client_secret_post",
                "redirectUris": ["https://app.acme.example/cb"],
                "clientName": "Acme app",
                "logoUri": "https://app.acme.example/logo.png"
            }),
        )
        .await;
    registered.assert_status(201);
    assert_eq!(registered.header("cache-control"), "no-store");
    let id = string(&registered.json["clientId"]);
    let secret = string(&registered.json["clientSecret"]);
    assert!(id.starts_with("sa_oc_"), "{id}");
    assert!(secret.starts_with("sa_sk_"));
    assert_eq!(registered.json["kind"], "confidential");
    assert_eq!(registered.json["tokenEndpointAuthMethod"], "client_secret_post");
    assert_eq!(
        registered.json["grantTypes"],
        json!(["authorization_code", "refresh_token"])
    );

    let public_client = app
        .post("/oauth-clients", &admin, &public("http://127.0.0.1/callback"))
        .await;
    public_client.assert_status(201);
    assert_eq!(public_client.json["tokenEndpointAuthMethod"], "none");
    assert!(
        public_client.json.get("clientSecret").is_none(),
        "a public client has no secret"
    );
    let public_id = string(&public_client.json["clientId"]);

    let got = app.get(&format!("/oauth-clients/{id}"), &admin).await;
    got.assert_status(200);
    assert_eq!(got.json["clientName"], "Acme app");
    let page = app.get("/oauth-clients?limit=1", &admin).await;
    page.assert_status(200);
    assert_eq!(page.json["items"].as_array().map(Vec::len), Some(1));
    let cursor = string(&page.json["nextCursor"]);
    let rest = app
        .get(&format!("/oauth-clients?limit=1&cursor={cursor}"), &admin)
        .await;
    rest.assert_status(200);
    let mut ids = vec![
        string(&page.json["items"][0]["clientId"]),
        string(&rest.json["items"][0]["clientId"]),
    ];
    ids.sort();
    let mut expected = vec![id.clone(), public_id.clone()];
    expected.sort();
    assert_eq!(ids, expected);
    app.get("/oauth-clients?cursor=%%%", &admin)
        .await
        .assert_error(400, "VALIDATION_ERROR");

    let changed = app
        .patch(
            &format!("/oauth-clients/{id}"),
            &admin,
            &json!({"redirectUris": ["https://app.acme.example/cb2"], "logoUri": null}),
        )
        .await;
    changed.assert_status(200);
    assert_eq!(changed.json["redirectUris"], json!(["https://app.acme.example/cb2"]));
    assert_eq!(changed.json["logoUri"], Value::Null, "null clears");
    assert_eq!(changed.json["clientName"], "Acme app", "absent keeps");
    app.patch(&format!("/oauth-clients/{id}"), &admin, &json!({"clientSecret": "x"}))
        .await
        .assert_error(400, "VALIDATION_ERROR");

    let deleted = app.delete(&format!("/oauth-clients/{public_id}"), &admin).await;
    deleted.assert_status(200);
    app.get(&format!("/oauth-clients/{public_id}"), &admin)
        .await
        .assert_error(404, "NOT_FOUND");
    app.delete(&format!("/oauth-clients/{public_id}"), &admin)
        .await
        .assert_error(404, "NOT_FOUND");

    for action in ["oauth_client.created", "oauth_client.updated", "oauth_client.deleted"] {
        assert!(
            !audit_actions(&app, &admin, action).await.is_empty(),
            "{action} audited"
        );
    }
    let listed = app.get("/oauth-clients", &admin).await;
    let audit = app.get("/audit?limit=100", &admin).await;
    let logs = captured_logs();
    for (what, text) in [
        ("list", &listed.text),
        ("read", &got.text),
        ("update", &changed.text),
        ("audit", &audit.text),
        ("logs", &logs),
    ] {
        assert!(!text.contains(&secret), "the secret shows in the {what}");
    }
    assert!(!listed.text.contains("clientSecret"));
}

/// Redirect URIs that run code, carry a fragment or leave loopback over
/// plain http are refused on registration and on change, each named.
pub async fn oauth_clients_refuse_bad_redirect_uris(start: impl StartFn) {
    let app = TestApp::start(start).await;
    let t = app.signup("Acme").await;
    let admin = app.admin_token(&t).await;
    for bad in [
        "javascript:alert(document.cookie)",
        "data:text/html,<script>alert(1)</script>",
        "https://app.acme.example/cb#frag",
        "http://app.acme.example/cb",
        "https://user:pw@app.acme.example/cb",
        "/relative",
    ] {
        let a = app.post("/oauth-clients", &admin, &public(bad)).await;
        a.assert_error(400, "VALIDATION_ERROR");
        assert!(a.json["details"]["redirectUris[0]"].is_string(), "{bad}: {}", a.text);
    }
    for body in [
        json!({"kind": "public", "redirectUris": []}),
        json!({"kind": "public"}),
        json!({"redirectUris": ["https://a.example/cb"]}),
        json!({"kind": "dynamic", "redirectUris": ["https://a.example/cb"]}),
        json!({"kind": "public", "tokenEndpointAuthMethod": "client_secret_basic", "redirectUris": ["https://a.example/cb"]}),
        json!({"kind": "confidential", "tokenEndpointAuthMethod": "none", "redirectUris": ["https://a.example/cb"]}),
        json!({"kind": "public", "redirectUris": ["https://a.example/cb"], "logoUri": "javascript:alert(1)"}),
        json!({"kind": "public", "redirectUris": ["https://a.example/cb"], "clientName": ""}),
    ] {
        app.post("/oauth-clients", &admin, &body)
            .await
            .assert_error(400, "VALIDATION_ERROR");
    }
    let ok = app.post("/oauth-clients", &admin, &public("http://localhost/cb")).await;
    ok.assert_status(201);
    let id = string(&ok.json["clientId"]);
    let a = app
        .patch(
            &format!("/oauth-clients/{id}"),
            &admin,
            &json!({"redirectUris": ["https://ok.example/cb", "javascript:alert(1)"]}),
        )
        .await;
    a.assert_error(400, "VALIDATION_ERROR");
    assert!(a.json["details"]["redirectUris[1]"].is_string(), "{}", a.text);
    let kept = app.get(&format!("/oauth-clients/{id}"), &admin).await;
    assert_eq!(
        kept.json["redirectUris"],
        json!(["http://localhost/cb"]),
        "nothing changed"
    );
}

/// Another tenant's clients and consents do not exist for a caller: 404
/// on every route, absent from every list; nothing of theirs changes.
pub async fn oauth_clients_and_consents_never_cross_tenants(start: impl StartFn) {
    let app = TestApp::start(start).await;
    let (acme, evil) = (app.signup("Acme").await, app.signup("Evil").await);
    let (admin, attacker) = (app.admin_token(&acme).await, app.admin_token(&evil).await);
    let c = app.post("/oauth-clients", &admin, &public("http://127.0.0.1/cb")).await;
    c.assert_status(201);
    let id = string(&c.json["clientId"]);
    let tenant: sentryagent_core::TenantId = acme.id.parse().expect("tenant id");
    let consent = app
        .idp
        .record_consent(tenant, "alice", &id, RESOURCE, &["tools:call".to_owned()])
        .await
        .expect("consent");

    app.get(&format!("/oauth-clients/{id}"), &attacker)
        .await
        .assert_error(404, "NOT_FOUND");
    app.patch(
        &format!("/oauth-clients/{id}"),
        &attacker,
        &json!({"clientName": "pwned"}),
    )
    .await
    .assert_error(404, "NOT_FOUND");
    app.delete(&format!("/oauth-clients/{id}"), &attacker)
        .await
        .assert_error(404, "NOT_FOUND");
    app.delete(&format!("/consents/{}", consent.id), &attacker)
        .await
        .assert_error(404, "NOT_FOUND");
    let theirs = app.get("/oauth-clients", &attacker).await;
    assert_eq!(theirs.json["items"], json!([]));
    let theirs = app.get(&format!("/consents?clientId={id}"), &attacker).await;
    assert_eq!(theirs.json["items"], json!([]));
    let wiped = app.delete("/users/alice/consents", &attacker).await;
    wiped.assert_status(200);
    assert_eq!(wiped.json["consentsRevoked"], 0);

    let still = app.get(&format!("/oauth-clients/{id}"), &admin).await;
    assert_eq!(still.json["clientName"], "Editor");
    let mine = app.get("/consents?userId=alice", &admin).await;
    assert_eq!(mine.json["items"][0]["consentId"], consent.id.to_string());
    app.delete("/consents/not-a-uuid", &admin)
        .await
        .assert_error(400, "VALIDATION_ERROR");
}

/// Client management needs `oauth-clients:write`; consents need `admin`.
pub async fn oauth_clients_and_consents_need_their_scopes(start: impl StartFn) {
    let app = TestApp::start(start).await;
    let t = app.signup("Acme").await;
    let admin = app.admin_token(&t).await;
    let c = app.post("/oauth-clients", &admin, &public("http://127.0.0.1/cb")).await;
    let id = string(&c.json["clientId"]);
    let reader = app
        .register(
            &admin,
            "reader@acme.example",
            json!({"scopes": ["agents:read", "tools:call"]}),
        )
        .await;
    let reader = app.token(&reader.client_id, &reader.secret, None).await;
    let manager = app
        .register(
            &admin,
            "clients@acme.example",
            json!({"scopes": ["oauth-clients:write"]}),
        )
        .await;
    let manager = app.token(&manager.client_id, &manager.secret, None).await;

    let client_calls = |token: String| {
        let app = &app;
        let id = id.clone();
        async move {
            vec![
                app.post("/oauth-clients", &token, &public("http://127.0.0.1/cb")).await,
                app.get("/oauth-clients", &token).await,
                app.get(&format!("/oauth-clients/{id}"), &token).await,
                app.patch(&format!("/oauth-clients/{id}"), &token, &json!({"clientName": "x"}))
                    .await,
            ]
        }
    };
    for a in client_calls(reader.clone()).await {
        a.assert_error(403, "INSUFFICIENT_SCOPE");
    }
    app.delete(&format!("/oauth-clients/{id}"), &reader)
        .await
        .assert_error(403, "INSUFFICIENT_SCOPE");
    for a in client_calls(manager.clone()).await {
        assert!(a.status.is_success(), "{}", a.text);
    }
    for token in [&reader, &manager] {
        app.get("/consents", token)
            .await
            .assert_error(403, "INSUFFICIENT_SCOPE");
        app.delete(&format!("/consents/{}", sentryagent_core::ConsentId::new()), token)
            .await
            .assert_error(403, "INSUFFICIENT_SCOPE");
        app.delete("/users/alice/consents", token)
            .await
            .assert_error(403, "INSUFFICIENT_SCOPE");
    }
}

/// The admin lists consents by user or client, withdraws one (gone after),
/// or every one of a user (percent-encoded ids work); each is audited.
pub async fn consents_are_listed_and_withdrawn_by_the_admin(start: impl StartFn) {
    let app = TestApp::start(start).await;
    let t = app.signup("Acme").await;
    let admin = app.admin_token(&t).await;
    let tenant: sentryagent_core::TenantId = t.id.parse().expect("tenant id");
    let mut clients = Vec::new();
    for _ in 0..2 {
        let c = app.post("/oauth-clients", &admin, &public("http://127.0.0.1/cb")).await;
        clients.push(string(&c.json["clientId"]));
    }
    let scopes = ["tools:call".to_owned()];
    let user = "alice@acme.example/1";
    for client in &clients {
        for who in [user, "bob"] {
            app.idp
                .record_consent(tenant, who, client, RESOURCE, &scopes)
                .await
                .expect("consent");
        }
    }
    let all = app.get("/consents?limit=3", &admin).await;
    all.assert_status(200);
    assert_eq!(all.json["items"].as_array().map(Vec::len), Some(3));
    assert_eq!(all.json["items"][0]["resource"], RESOURCE);
    assert_eq!(all.json["items"][0]["scopes"], json!(["tools:call"]));
    let rest = app
        .get(
            &format!("/consents?limit=3&cursor={}", string(&all.json["nextCursor"])),
            &admin,
        )
        .await;
    assert_eq!(rest.json["items"].as_array().map(Vec::len), Some(1));
    let bobs = app.get("/consents?userId=bob", &admin).await;
    assert_eq!(bobs.json["items"].as_array().map(Vec::len), Some(2));
    let one = app
        .get(&format!("/consents?userId=bob&clientId={}", clients[0]), &admin)
        .await;
    let items = one.json["items"].as_array().cloned().unwrap_or_default();
    assert_eq!(items.len(), 1);
    assert_eq!(items[0]["userId"], "bob");
    let consent_id = string(&items[0]["consentId"]);

    let withdrawn = app.delete(&format!("/consents/{consent_id}"), &admin).await;
    withdrawn.assert_status(200);
    assert_eq!(withdrawn.json["consentId"], consent_id.as_str());
    app.delete(&format!("/consents/{consent_id}"), &admin)
        .await
        .assert_error(404, "NOT_FOUND");

    let encoded = "alice%40acme.example%2F1";
    let wiped = app.delete(&format!("/users/{encoded}/consents"), &admin).await;
    wiped.assert_status(200);
    assert_eq!(wiped.json["consentsRevoked"], 2);
    let left = app.get("/consents", &admin).await;
    let left: Vec<Value> = left.json["items"].as_array().cloned().unwrap_or_default();
    assert_eq!(left.len(), 1);
    assert_eq!(left[0]["userId"], "bob");
    let events = audit_actions(&app, &admin, "consent.revoked").await;
    assert_eq!(events.len(), 2, "one per withdrawal");
    assert_eq!(audit_actions(&app, &admin, "consent.granted").await.len(), 4);
    app.delete("/users/%ZZ/consents", &admin)
        .await
        .assert_error(400, "VALIDATION_ERROR");
}

/// A tenant holds at most `MAX_OAUTH_CLIENTS_PER_TENANT` clients: one more
/// is refused with 409 `OAUTH_CLIENT_LIMIT` (nothing stored, nothing
/// audited), and another tenant's count is its own.
pub async fn oauth_clients_are_capped_per_tenant(start: impl StartFn) {
    use sentryagent_core::authorization::MAX_OAUTH_CLIENTS_PER_TENANT;

    let app = TestApp::start(start).await;
    let t = app.signup("Acme").await;
    let admin = app.admin_token(&t).await;
    for _ in 0..MAX_OAUTH_CLIENTS_PER_TENANT {
        app.post("/oauth-clients", &admin, &public("http://127.0.0.1/cb"))
            .await
            .assert_status(201);
    }
    let newest_created = audit_actions(&app, &admin, "oauth_client.created").await[0]["eventId"].clone();
    app.post("/oauth-clients", &admin, &public("http://127.0.0.1/cb"))
        .await
        .assert_error(409, "OAUTH_CLIENT_LIMIT");
    assert_eq!(
        audit_actions(&app, &admin, "oauth_client.created").await[0]["eventId"],
        newest_created,
        "a refused registration is not audited as created"
    );

    let other = app.signup("Globex").await;
    let other_admin = app.admin_token(&other).await;
    app.post("/oauth-clients", &other_admin, &public("http://127.0.0.1/cb"))
        .await
        .assert_status(201);
}
