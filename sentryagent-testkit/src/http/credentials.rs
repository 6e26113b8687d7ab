//! Credentials: generate, list, rotate, revoke; secrets shown once only.

use serde_json::json;

use crate::{StartFn, TestApp, captured_logs, string};

/// Rotation keeps the credential id; the old secret fails at once.
pub async fn rotation_kills_the_old_secret_at_once(start: impl StartFn) {
    let app = TestApp::start(start).await;
    let t = app.signup("Acme").await;
    let admin = app.admin_token(&t).await;
    let agent = app.register(&admin, "bot@acme.example", json!({})).await;
    app.token(&agent.client_id, &agent.secret, None).await;

    let rotated = app
        .post(
            &format!("/agents/{}/credentials/{}/rotate", agent.id, agent.credential_id),
            &admin,
            &json!({}),
        )
        .await;
    rotated.assert_status(200);
    assert_eq!(rotated.json["credentialId"], agent.credential_id.as_str());
    assert_eq!(rotated.json["clientId"], agent.client_id.as_str());
    assert!(rotated.json["rotatedAt"].is_string());
    let new_secret = string(&rotated.json["clientSecret"]);
    assert_ne!(new_secret, agent.secret);

    app.token_request(&agent.client_id, &agent.secret, None)
        .await
        .assert_oauth_error(401, "invalid_client");
    app.token(&agent.client_id, &new_secret, None).await;
    app.post(
        &format!(
            "/agents/{}/credentials/{}/rotate",
            agent.id,
            sentryagent_core::CredentialId::new()
        ),
        &admin,
        &json!({}),
    )
    .await
    .assert_error(404, "NOT_FOUND");
}

/// Revoking a credential leaves the agent active with its others.
pub async fn revoking_one_credential_keeps_the_others(start: impl StartFn) {
    let app = TestApp::start(start).await;
    let t = app.signup("Acme").await;
    let admin = app.admin_token(&t).await;
    let agent = app.register(&admin, "bot@acme.example", json!({})).await;
    let base = format!("/agents/{}/credentials", agent.id);
    let second = app
        .post(&base, &admin, &json!({"expiresAt": "2999-01-01T00:00:00Z"}))
        .await;
    second.assert_status(201);
    assert_eq!(second.json["expiresAt"], "2999-01-01T00:00:00Z");
    app.post(&base, &admin, &json!({"expiresAt": "2001-01-01T00:00:00Z"}))
        .await
        .assert_error(400, "VALIDATION_ERROR");

    let revoked = app.delete(&format!("{base}/{}", agent.credential_id), &admin).await;
    revoked.assert_status(200);
    assert_eq!(revoked.json["status"], "revoked");
    app.delete(&format!("{base}/{}", agent.credential_id), &admin)
        .await
        .assert_error(409, "CREDENTIAL_REVOKED");
    app.token_request(&agent.client_id, &agent.secret, None)
        .await
        .assert_oauth_error(401, "invalid_client");
    let token = app
        .token(
            &string(&second.json["clientId"]),
            &string(&second.json["clientSecret"]),
            None,
        )
        .await;
    app.whoami(&token).await.assert_status(200);
    assert_eq!(
        app.get(&format!("/agents/{}", agent.id), &admin).await.json["status"],
        "active"
    );

    let list = app.get(&base, &admin).await;
    let statuses: Vec<_> = list.json["items"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|c| string(&c["status"]))
        .collect();
    assert_eq!(statuses, ["revoked", "active"]);
}

/// No secret in any listing, audit event or log line; no token in audit or logs.
pub async fn secrets_are_never_listed_logged_or_audited(start: impl StartFn) {
    let app = TestApp::start(start).await;
    let t = app.signup("Acme").await;
    let admin = app.admin_token(&t).await;
    let agent = app.register(&admin, "bot@acme.example", json!({})).await;
    let token = app.token(&agent.client_id, &agent.secret, None).await;
    app.token_request(&agent.client_id, "sa_sk_a-wrong-guess", None).await;
    let rotated = app
        .post(
            &format!("/agents/{}/credentials/{}/rotate", agent.id, agent.credential_id),
            &admin,
            &json!({}),
        )
        .await;
    let new_secret = string(&rotated.json["clientSecret"]);
    app.revoke(&admin, &token).await.assert_status(200);
    app.whoami(&token).await;

    let listed = app.get(&format!("/agents/{}/credentials", agent.id), &admin).await;
    let audit = app.get("/audit?limit=100", &admin).await;
    let logs = captured_logs();
    for secret in [
        &t.secret,
        &agent.secret,
        &new_secret,
        &token,
        &admin,
        &"sa_sk_a-wrong-guess".to_owned(),
    ] {
        assert!(
            !listed.text.contains(secret.as_str()),
            "a secret in a credential listing"
        );
        assert!(
            !audit.text.contains(secret.as_str()),
            "a secret or token in the audit log"
        );
        assert!(!logs.contains(secret.as_str()), "a secret or token in the logs");
    }
    assert!(!listed.text.contains("sa_sk_") && !audit.text.contains("sa_sk_"));
    assert!(!audit.text.contains("eyJ"), "no JWT in audit details");
}
