//! The audit log: coverage, filters, pages, tamper evidence, retention.

use serde_json::{Value, json};

use crate::{StartFn, TestApp, string};

fn actions(page: &Value) -> Vec<String> {
    page["items"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|e| format!("{}:{}", string(&e["action"]), string(&e["outcome"])))
        .collect()
}

/// Mutations and authentication decisions, successes and failures, are audited.
pub async fn every_decision_is_audited(start: impl StartFn) {
    let app = TestApp::start(start).await;
    let t = app.signup("Acme").await;
    let admin = app.admin_token(&t).await;
    let agent = app.register(&admin, "bot@acme.example", json!({})).await;
    app.token_request(&agent.client_id, "sa_sk_wrong", None).await;
    app.token_request(&agent.client_id, &agent.secret, Some("admin")).await;
    let token = app.token(&agent.client_id, &agent.secret, None).await;
    let path = format!("/agents/{}", agent.id);
    app.patch(&path, &admin, &json!({"status": "suspended"})).await;
    app.patch(&path, &admin, &json!({"status": "active"})).await;
    app.post(
        &format!("{path}/credentials/{}/rotate", agent.credential_id),
        &admin,
        &json!({}),
    )
    .await;
    app.revoke(&admin, &token).await;
    app.whoami(&token).await.assert_status(401);
    app.delete(&path, &admin).await;

    let page = app.get("/audit?limit=100", &admin).await;
    page.assert_status(200);
    let got = actions(&page.json);
    for expected in [
        "tenant.created:success",
        "agent.created:success",
        "credential.created:success",
        "token.issued:success",
        "token.denied:failure",
        "agent.suspended:success",
        "agent.reactivated:success",
        "credential.rotated:success",
        "token.revoked:success",
        "token.rejected:failure",
        "agent.decommissioned:success",
    ] {
        assert!(got.iter().any(|a| a == expected), "{expected} missing from {got:?}");
    }
    let denied = app.get("/audit?action=token.denied", &admin).await;
    let reasons: Vec<_> = denied.json["items"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|e| string(&e["details"]["reason"]))
        .collect();
    assert!(reasons.contains(&"invalid_secret".to_owned()), "{reasons:?}");
    assert!(reasons.contains(&"scope_not_allowed".to_owned()), "{reasons:?}");
    let event = &page.json["items"][0];
    for field in ["eventId", "tenantId", "actor", "action", "outcome", "at", "details"] {
        assert!(!event[field].is_null(), "{field} in {event}");
    }
    assert_eq!(event["ip"], "127.0.0.1");
    let verify = app.get("/audit/verify", &admin).await;
    assert_eq!(verify.json["valid"], true, "{}", verify.text);
}

/// agentId, action, outcome, from/to filters and cursor pages; bad filters are 400.
pub async fn filters_and_pages(start: impl StartFn) {
    let app = TestApp::start(start).await;
    let t = app.signup("Acme").await;
    let admin = app.admin_token(&t).await;
    let one = app.register(&admin, "one@acme.example", json!({})).await;
    let two = app.register(&admin, "two@acme.example", json!({})).await;
    for _ in 0..3 {
        app.token(&one.client_id, &one.secret, None).await;
    }
    app.token_request(&two.client_id, "sa_sk_nope", None).await;

    let by_agent = app
        .get(&format!("/audit?agentId={}&action=token.issued", one.id), &admin)
        .await;
    assert_eq!(by_agent.json["items"].as_array().map(Vec::len), Some(3));
    let failures = app.get("/audit?outcome=failure", &admin).await;
    assert_eq!(failures.json["items"].as_array().map(Vec::len), Some(1));
    assert_eq!(failures.json["items"][0]["agentId"], two.id.as_str());

    let future = app.get("/audit?from=2999-01-01T00:00:00Z", &admin).await;
    assert_eq!(future.json["items"], json!([]));
    let past = app.get("/audit?to=2000-01-01T00:00:00Z", &admin).await;
    assert_eq!(past.json["items"], json!([]));
    let window = app
        .get(
            "/audit?from=2000-01-01T00:00:00Z&to=2999-01-01T00:00:00%2B00:00",
            &admin,
        )
        .await;
    let total = window.json["items"].as_array().map_or(0, Vec::len);
    assert!(total >= 10, "{}", window.text);

    for bad in [
        "/audit?from=yesterday",
        "/audit?to=2024-13-01",
        "/audit?outcome=maybe",
        "/audit?agentId=42",
        "/audit?limit=abc",
        "/audit?cursor=!!",
        "/audit?tenantId=x",
    ] {
        app.get(bad, &admin).await.assert_error(400, "VALIDATION_ERROR");
    }

    let mut seen = Vec::new();
    let mut path = "/audit?limit=4".to_owned();
    loop {
        let page = app.get(&path, &admin).await;
        for e in page.json["items"].as_array().into_iter().flatten() {
            seen.push(string(&e["eventId"]));
        }
        match page.json["nextCursor"].as_str() {
            Some(c) => path = format!("/audit?limit=4&cursor={c}"),
            None => break,
        }
    }
    assert_eq!(seen.len(), total);
    let mut dedup = seen.clone();
    dedup.sort();
    dedup.dedup();
    assert_eq!(dedup.len(), total, "no event twice");
    let newest_first = app.get("/audit?limit=2", &admin).await;
    assert!(string(&newest_first.json["items"][0]["at"]) >= string(&newest_first.json["items"][1]["at"]));
}

/// Editing a stored event makes verify name it; deleting the newest events
/// makes it report the chain invalid.
pub async fn tampering_is_detected(start: impl StartFn) {
    let app = TestApp::start(start).await;
    let t = app.signup("Acme").await;
    let admin = app.admin_token(&t).await;
    for i in 0..3 {
        app.register(&admin, &format!("a{i}@acme.example"), json!({})).await;
    }
    let ok = app.get("/audit/verify", &admin).await;
    assert_eq!(ok.json["valid"], true);
    let checked = ok.json["checked"].as_u64().unwrap_or_default();
    assert!(checked >= 10, "{}", ok.text);

    let tenant: sentryagent_core::TenantId = t.id.parse().expect("a tenant id");
    let edited = app
        .store
        .set_audit_detail(tenant, 5, "name", json!("someone-else@acme.example"))
        .await
        .expect("event 5 exists");
    let bad = app.get("/audit/verify", &admin).await;
    assert_eq!(bad.json["valid"], false, "{}", bad.text);
    assert_eq!(bad.json["firstInvalidEventId"], edited.to_string().as_str());
    assert_eq!(bad.json["checked"], 4);

    let other = app.signup("Other").await;
    let other_admin = app.admin_token(&other).await;
    app.register(&other_admin, "x@other.example", json!({})).await;
    assert_eq!(app.get("/audit/verify", &other_admin).await.json["valid"], true);
    let other_tenant: sentryagent_core::TenantId = other.id.parse().expect("a tenant id");
    app.store.delete_newest_audit_events(other_tenant, 2).await;
    let truncated = app.get("/audit/verify", &other_admin).await;
    assert_eq!(truncated.json["valid"], false, "{}", truncated.text);
}

/// Retention deletes old events and leaves an anchor; the rest still verifies.
pub async fn retention_keeps_the_chain_verifiable(start: impl StartFn) {
    let app = TestApp::start(start).await;
    let t = app.signup("Acme").await;
    let admin = app.admin_token(&t).await;
    app.register(&admin, "old@acme.example", json!({})).await;
    let before = app.get("/audit/verify", &admin).await.json["checked"]
        .as_u64()
        .unwrap_or_default();

    // Ninety-one days on, every event so far is past the free tier's window.
    let later = sentryagent_core::time::now() + time::Duration::days(91);
    let pruned = app.idp.prune_audit(later).await.expect("prune");
    assert_eq!(pruned, before);
    let after = app.get("/audit/verify", &admin).await;
    assert_eq!(after.json["valid"], true, "{}", after.text);
    assert_eq!(after.json["checked"], 0);

    app.register(&admin, "new@acme.example", json!({})).await;
    let grown = app.get("/audit/verify", &admin).await;
    assert_eq!(grown.json["valid"], true, "{}", grown.text);
    assert!(grown.json["checked"].as_u64().unwrap_or_default() > 0);
    assert_eq!(
        app.idp.prune_audit(sentryagent_core::time::now()).await.expect("prune"),
        0
    );
}
