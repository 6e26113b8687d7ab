//! Tenant isolation: tenant B's admin tries every door into tenant A.

use reqwest::Method;
use serde_json::json;

use crate::{StartFn, TestApp};

/// B gets 404 on every one of A's agents and credentials, sees none of A's
/// audit events, and cannot introspect or revoke A's tokens.
pub async fn tenants_never_see_each_other(start: impl StartFn) {
    let app = TestApp::start(start).await;
    let a = app.signup("Tenant A").await;
    let b = app.signup("Tenant B").await;
    let a_admin = app.admin_token(&a).await;
    let b_admin = app.admin_token(&b).await;
    let agent = app.register(&a_admin, "bot@a.example", json!({})).await;
    let a_token = app.token(&agent.client_id, &agent.secret, None).await;

    let agent_path = format!("/agents/{}", agent.id);
    let cred_path = format!("{agent_path}/credentials/{}", agent.credential_id);
    let doors: [(Method, String, Option<serde_json::Value>); 7] = [
        (Method::GET, agent_path.clone(), None),
        (Method::PATCH, agent_path.clone(), Some(json!({"status": "suspended"}))),
        (Method::DELETE, agent_path.clone(), None),
        (Method::GET, format!("{agent_path}/credentials"), None),
        (Method::POST, format!("{agent_path}/credentials"), Some(json!({}))),
        (Method::POST, format!("{cred_path}/rotate"), Some(json!({}))),
        (Method::DELETE, cred_path.clone(), None),
    ];
    for (method, path, body) in doors {
        let mut r = app.request(method.clone(), &path, Some(&b_admin));
        if let Some(body) = body {
            r = r.json(&body);
        }
        app.send(r).await.assert_error(404, "NOT_FOUND");
    }
    let listing = app.get("/agents?limit=100", &b_admin).await;
    assert!(!listing.text.contains(&agent.id));
    let audit = app.get(&format!("/audit?agentId={}", agent.id), &b_admin).await;
    assert_eq!(audit.json["items"], json!([]));
    let all_audit = app.get("/audit?limit=100", &b_admin).await;
    assert!(!all_audit.text.contains(&agent.id) && !all_audit.text.contains(&a.id));

    assert_eq!(app.introspect(&b_admin, &a_token).await.json, json!({"active": false}));
    let refused = app.revoke(&b_admin, &a_token).await;
    refused.assert_oauth_error(400, "unauthorized_client");
    assert_eq!(app.introspect(&a_admin, &a_token).await.json["active"], true);
    app.whoami(&a_token).await.assert_status(200);

    // Everything still intact on A's side.
    app.get(&agent_path, &a_admin).await.assert_status(200);
    app.token(&agent.client_id, &agent.secret, None).await;
    assert_eq!(app.get("/tenants/me", &b_admin).await.json["tenantId"], b.id.as_str());
}
