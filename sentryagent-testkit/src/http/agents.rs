//! Agents: registration, listing, updates, suspension, decommission.

use serde_json::json;

use crate::{StartFn, TestApp, string};

/// Register, get, list, patch; duplicate names; validation details.
pub async fn register_get_list_and_update(start: impl StartFn) {
    let app = TestApp::start(start).await;
    let t = app.signup("Acme").await;
    let admin = app.admin_token(&t).await;
    let created = app
        .post(
            "/agents",
            &admin,
            &json!({
                "name": "build-bot@acme.example",
                "description": "Builds things",
                "capabilities": ["build", "test"],
                "metadata": {"team": "infra"}
            }),
        )
        .await;
    created.assert_status(201);
    assert_eq!(created.header("cache-control"), "no-store");
    let id = string(&created.json["agentId"]);
    assert_eq!(created.json["status"], "active");
    assert!(string(&created.json["clientSecret"]).starts_with("sa_sk_"));
    assert!(string(&created.json["clientId"]).starts_with("sa_ci_"));
    assert!(created.json["credentialId"].is_string());
    assert!(created.json["createdAt"].is_string());
    let did = string(&created.json["did"]);
    assert!(
        did.starts_with("did:web:127.0.0.1%3A") && did.ends_with(&format!(":agents:{id}")),
        "{did}"
    );

    let got = app.get(&format!("/agents/{id}"), &admin).await;
    got.assert_status(200);
    assert_eq!(got.json["name"], "build-bot@acme.example");
    assert_eq!(got.json["capabilities"], json!(["build", "test"]));
    assert!(got.json.get("clientSecret").is_none());

    app.post("/agents", &admin, &json!({"name": "build-bot@acme.example"}))
        .await
        .assert_error(409, "AGENT_NAME_TAKEN");
    let bad = app
        .post(
            "/agents",
            &admin,
            &json!({"name": "not an email", "capabilities": ["ok", "has space"], "description": "x".repeat(1001)}),
        )
        .await;
    bad.assert_error(400, "VALIDATION_ERROR");
    for field in ["name", "capabilities[1]", "description"] {
        assert!(bad.json["details"][field].is_string(), "{field} in {}", bad.text);
    }
    app.post("/agents", &admin, &json!({"description": "no name"}))
        .await
        .assert_error(400, "VALIDATION_ERROR");

    let patched = app
        .patch(
            &format!("/agents/{id}"),
            &admin,
            &json!({"description": "Builds and ships"}),
        )
        .await;
    patched.assert_status(200);
    assert_eq!(patched.json["description"], "Builds and ships");
    assert_eq!(patched.json["name"], "build-bot@acme.example");
    app.patch(
        &format!("/agents/{id}"),
        &admin,
        &json!({"name": "renamed@acme.example"}),
    )
    .await
    .assert_error(400, "VALIDATION_ERROR");
    app.patch(&format!("/agents/{id}"), &admin, &json!({"status": "decommissioned"}))
        .await
        .assert_error(400, "VALIDATION_ERROR");
    app.get(&format!("/agents/{}", sentryagent_core::AgentId::new()), &admin)
        .await
        .assert_error(404, "NOT_FOUND");
}

/// `status` and `q` filters, and cursor pages that neither skip nor repeat.
pub async fn list_filters_and_pages(start: impl StartFn) {
    let app = TestApp::start(start).await;
    let t = app.signup("Acme").await;
    let admin = app.admin_token(&t).await;
    let mut ids = Vec::new();
    for i in 0..7 {
        let description = if i % 2 == 0 { "nightly builder" } else { "docs writer" };
        let a = app
            .register(
                &admin,
                &format!("agent{i}@acme.example"),
                json!({"description": description}),
            )
            .await;
        ids.push(a.id);
    }
    app.patch(&format!("/agents/{}", ids[1]), &admin, &json!({"status": "suspended"}))
        .await
        .assert_status(200);

    let builders = app.get("/agents?q=BUILDER", &admin).await;
    assert_eq!(builders.json["items"].as_array().map(Vec::len), Some(4));
    let suspended = app.get("/agents?status=suspended", &admin).await;
    assert_eq!(suspended.json["items"][0]["agentId"], ids[1].as_str());
    assert_eq!(suspended.json["items"].as_array().map(Vec::len), Some(1));
    app.get("/agents?status=sleeping", &admin)
        .await
        .assert_error(400, "VALIDATION_ERROR");
    app.get("/agents?limit=0", &admin)
        .await
        .assert_error(400, "VALIDATION_ERROR");
    app.get("/agents?limit=101", &admin)
        .await
        .assert_error(400, "VALIDATION_ERROR");
    app.get("/agents?cursor=%%%", &admin)
        .await
        .assert_error(400, "VALIDATION_ERROR");
    app.get("/agents?colour=red", &admin)
        .await
        .assert_error(400, "VALIDATION_ERROR");

    // 8 agents in all (the admin agent is one): pages of 3.
    let mut seen = Vec::new();
    let mut path = "/agents?limit=3".to_owned();
    loop {
        let page = app.get(&path, &admin).await;
        page.assert_status(200);
        for item in page.json["items"].as_array().into_iter().flatten() {
            seen.push(string(&item["agentId"]));
        }
        match page.json["nextCursor"].as_str() {
            Some(cursor) => path = format!("/agents?limit=3&cursor={cursor}"),
            None => break,
        }
    }
    assert_eq!(seen.len(), 8);
    assert_eq!(&seen[1..], &ids[..], "registration order, no repeats");
}

/// A suspended agent's tokens fail with `AGENT_SUSPENDED` and it gets none;
/// reactivation restores both.
pub async fn suspension_and_reactivation(start: impl StartFn) {
    let app = TestApp::start(start).await;
    let t = app.signup("Acme").await;
    let admin = app.admin_token(&t).await;
    let agent = app.register(&admin, "bot@acme.example", json!({})).await;
    let token = app.token(&agent.client_id, &agent.secret, None).await;
    let path = format!("/agents/{}", agent.id);

    let s = app.patch(&path, &admin, &json!({"status": "suspended"})).await;
    assert_eq!(s.json["status"], "suspended");
    app.whoami(&token).await.assert_error(403, "AGENT_SUSPENDED");
    assert_eq!(app.introspect(&admin, &token).await.json, json!({"active": false}));
    app.token_request(&agent.client_id, &agent.secret, None)
        .await
        .assert_oauth_error(400, "unauthorized_client");

    app.patch(&path, &admin, &json!({"status": "active"}))
        .await
        .assert_status(200);
    app.whoami(&token).await.assert_status(200);
    assert_eq!(app.introspect(&admin, &token).await.json["active"], true);
    app.token_request(&agent.client_id, &agent.secret, None)
        .await
        .assert_status(200);

    // The admin cannot lock itself out.
    let me = string(&app.whoami(&admin).await.json["agentId"]);
    app.patch(&format!("/agents/{me}"), &admin, &json!({"status": "suspended"}))
        .await
        .assert_error(403, "FORBIDDEN");
}

/// Decommission revokes every credential and kills every live token, for good.
pub async fn decommission_is_permanent(start: impl StartFn) {
    let app = TestApp::start(start).await;
    let t = app.signup("Acme").await;
    let admin = app.admin_token(&t).await;
    let agent = app.register(&admin, "bot@acme.example", json!({})).await;
    let second = app
        .post(&format!("/agents/{}/credentials", agent.id), &admin, &json!({}))
        .await;
    second.assert_status(201);
    let token = app.token(&agent.client_id, &agent.secret, None).await;
    let path = format!("/agents/{}", agent.id);

    let gone = app.delete(&path, &admin).await;
    gone.assert_status(200);
    assert_eq!(gone.json["status"], "decommissioned");
    app.whoami(&token).await.assert_error(401, "UNAUTHORIZED");
    assert_eq!(app.introspect(&admin, &token).await.json, json!({"active": false}));
    app.token_request(&agent.client_id, &agent.secret, None)
        .await
        .assert_oauth_error(401, "invalid_client");
    app.token_request(
        &string(&second.json["clientId"]),
        &string(&second.json["clientSecret"]),
        None,
    )
    .await
    .assert_oauth_error(401, "invalid_client");
    let creds = app.get(&format!("{path}/credentials"), &admin).await;
    for c in creds.json["items"].as_array().into_iter().flatten() {
        assert_eq!(c["status"], "revoked");
    }
    assert_eq!(app.get(&path, &admin).await.json["status"], "decommissioned");
    app.patch(&path, &admin, &json!({"status": "active"}))
        .await
        .assert_error(409, "AGENT_DECOMMISSIONED");
    app.delete(&path, &admin)
        .await
        .assert_error(409, "AGENT_DECOMMISSIONED");
    app.post(&format!("{path}/credentials"), &admin, &json!({}))
        .await
        .assert_error(409, "AGENT_DECOMMISSIONED");
}

/// A caller can only grant scopes it holds itself, host scopes included.
pub async fn scopes_cannot_be_escalated(start: impl StartFn) {
    let app = TestApp::start(start).await;
    let t = app.signup("Acme").await;
    let admin = app.admin_token(&t).await;
    let writer = app
        .register(
            &admin,
            "writer@acme.example",
            json!({"scopes": ["agents:write", "agents:read"]}),
        )
        .await;
    let writer_token = app.token(&writer.client_id, &writer.secret, None).await;
    let escalate = app
        .post(
            "/agents",
            &writer_token,
            &json!({"name": "root@acme.example", "scopes": ["admin"]}),
        )
        .await;
    escalate.assert_error(403, "SCOPE_CEILING");
    assert_eq!(
        escalate.json["details"],
        json!({"rule": "grant_ceiling", "scope": "admin"})
    );
    app.post(
        "/agents",
        &writer_token,
        &json!({"name": "helper@acme.example", "scopes": ["agents:read", "orders:read"]}),
    )
    .await
    .assert_error(403, "SCOPE_CEILING");
    app.post(
        "/agents",
        &writer_token,
        &json!({"name": "helper@acme.example", "scopes": ["agents:read"]}),
    )
    .await
    .assert_status(201);
    // The refusals are audited, naming the rule.
    let audit = app.get("/audit?action=permission.denied", &admin).await;
    let items = audit.json["items"].as_array().cloned().unwrap_or_default();
    assert_eq!(items.len(), 2, "{}", audit.text);
    assert_eq!(items[0]["outcome"], "failure");
    assert_eq!(items[0]["details"]["rule"], "grant_ceiling");
    assert_eq!(items[0]["details"]["scope"], "orders:read");
    assert_eq!(items[0]["actor"], writer.id.as_str());
}
