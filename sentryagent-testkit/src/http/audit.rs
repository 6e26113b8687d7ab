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
    // Before the point the incremental verification starts from: only the
    // full one looks there.
    let bad = app.get("/audit/verify?mode=full", &admin).await;
    assert_eq!(bad.json["valid"], false, "{}", bad.text);
    assert_eq!(bad.json["mode"], "full", "{}", bad.text);
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

/// The full verification of `GET /audit/verify`, optionally against a
/// saved checkpoint.
async fn verify(app: &TestApp, admin: &str, saved: Option<&str>) -> crate::Answer {
    let path = match saved {
        Some(jws) => format!("/audit/verify?checkpoint={jws}"),
        None => "/audit/verify?mode=full".to_owned(),
    };
    let answer = app.get(&path, admin).await;
    answer.assert_status(200);
    answer
}

/// A checkpoint deleted behind the chain's back is reported, never made
/// again by itself: verification names where it went missing (and still
/// names an edited event first), the tenant's requests go on, and only an
/// operator's re-anchoring, itself audited, makes the chain valid again.
pub async fn a_lost_checkpoint_is_reported_until_an_operator_reanchors(start: impl StartFn) {
    let app = TestApp::start(start).await;
    let t = app.signup("Acme").await;
    let admin = app.admin_token(&t).await;
    let agent = app.register(&admin, "bot@acme.example", json!({})).await;
    let tenant: sentryagent_core::TenantId = t.id.parse().expect("a tenant id");
    let intact = verify(&app, &admin, None).await;
    assert_eq!(intact.json["valid"], true, "{}", intact.text);
    let events = intact.json["checked"].as_u64().unwrap_or_default();

    app.store.delete_audit_checkpoint(tenant).await;
    let lost = verify(&app, &admin, None).await;
    assert_eq!(lost.json["valid"], false, "{}", lost.text);
    let reason = format!("checkpoint missing at seq {events}");
    assert!(string(&lost.json["reason"]).starts_with(&reason), "{}", lost.text);
    assert_eq!(lost.json["checked"], events, "every event still links: {}", lost.text);

    // The tenant's requests go on, appended after the last stored event.
    app.token(&agent.client_id, &agent.secret, None).await;
    let still = verify(&app, &admin, None).await;
    assert_eq!(still.json["valid"], false, "not silently re-anchored: {}", still.text);
    assert!(string(&still.json["reason"]).starts_with(&reason), "{}", still.text);
    assert_eq!(still.json["checked"], events + 1, "{}", still.text);
    // Nothing signs a head that nothing vouches for.
    app.get("/audit/checkpoint", &admin)
        .await
        .assert_error(409, "AUDIT_CHECKPOINT_MISSING");

    // An edit is named first, whatever else is wrong.
    let edited = app
        .store
        .set_audit_detail(tenant, 1, "name", json!("Evil"))
        .await
        .expect("event 1 exists");
    let named = verify(&app, &admin, None).await;
    assert_eq!(
        named.json["firstInvalidEventId"],
        edited.to_string().as_str(),
        "{}",
        named.text
    );
    app.store.set_audit_detail(tenant, 1, "name", json!("Acme")).await;

    assert_eq!(
        app.idp.reanchor_audit(tenant, "operator").await.expect("re-anchor"),
        Some(events)
    );
    let anchored = verify(&app, &admin, None).await;
    assert_eq!(anchored.json["valid"], true, "{}", anchored.text);
    assert_eq!(anchored.json["checked"], events + 2, "{}", anchored.text);
    let page = app.get("/audit?action=audit.reanchored", &admin).await;
    let event = &page.json["items"][0];
    assert_eq!(event["actor"], "operator", "{}", page.text);
    assert_eq!(event["details"]["lostAt"], events, "{}", page.text);
    assert_eq!(event["details"]["reanchoredAt"], events + 1, "{}", page.text);
    assert_eq!(
        app.idp.reanchor_audit(tenant, "operator").await.expect("re-anchor"),
        None,
        "nothing to re-anchor once intact"
    );
    app.get("/audit/checkpoint", &admin).await.assert_status(200);
}

/// `GET /audit/checkpoint` signs the chain's head (a JWS of its own type,
/// with a key published at `GET /audit/keys` that verifies it with an
/// independent library), and `GET /audit/verify?checkpoint=` proves the
/// chain still holds it: a database rolled back to an older backup, or
/// wiped, verifies as consistent on its own, and only the saved checkpoint
/// catches it.
pub async fn signed_checkpoints_catch_a_rollback_and_a_wipe(start: impl StartFn) {
    use jwt_compact::alg::Ed25519;
    use jwt_compact::jwk::JsonWebKey;
    use jwt_compact::{Algorithm, AlgorithmExt, UntrustedToken};

    let app = TestApp::start(start).await;
    let t = app.signup("Acme").await;
    let admin = app.admin_token(&t).await;
    let agent = app.register(&admin, "bot@acme.example", json!({})).await;
    let tenant: sentryagent_core::TenantId = t.id.parse().expect("a tenant id");

    let keys = app.send(app.request(reqwest::Method::GET, "/audit/keys", None)).await;
    keys.assert_status(200);
    let signed = app.get("/audit/checkpoint", &admin).await;
    signed.assert_status(200);
    assert_eq!(signed.header("cache-control"), "no-store");
    let first = string(&signed.json["checkpoint"]);
    assert_eq!(signed.json["tenantId"], t.id.as_str());
    let seq = signed.json["seq"].as_u64().unwrap_or_default();
    assert!(seq >= 5, "{}", signed.text);

    let untrusted = UntrustedToken::new(&first).expect("a compact JWS");
    assert_eq!(untrusted.algorithm(), "EdDSA");
    assert_eq!(untrusted.header().token_type.as_deref(), Some("audit-checkpoint+jwt"));
    let kid = untrusted.header().key_id.clone().expect("a kid");
    assert_eq!(signed.json["kid"], kid.as_str());
    let jwk = keys.json["keys"]
        .as_array()
        .and_then(|keys| keys.iter().find(|k| k["kid"] == kid.as_str()))
        .cloned()
        .expect("the checkpoint's kid is in the audit key document");
    let jwk: JsonWebKey<'_> = serde_json::from_value(jwk).expect("a JWK");
    let key = <Ed25519 as Algorithm>::VerifyingKey::try_from(&jwk).expect("an Ed25519 key");
    let verified = Ed25519
        .validator::<Value>(&key)
        .validate(&untrusted)
        .expect("the signature verifies");
    let claims = &verified.claims().custom;
    assert_eq!(claims["tenantId"], t.id.as_str());
    assert_eq!(claims["seq"], seq);
    assert_eq!(claims["headHash"], signed.json["headHash"]);
    assert_eq!(claims["iss"], app.base.as_str());
    // The token JWKS does not carry it: nothing that takes tokens takes it.
    let jwks = app
        .send(reqwest::Client::new().get(app.url("//.well-known/jwks.json")))
        .await;
    assert!(!jwks.text.contains(kid.as_str()), "{}", jwks.text);

    // A backup of the database taken now, and more activity after it.
    let backup = app.store.audit_head(tenant).await;
    for _ in 0..3 {
        app.token(&agent.client_id, &agent.secret, None).await;
    }
    let second = string(&app.get("/audit/checkpoint", &admin).await.json["checkpoint"]);
    let held = verify(&app, &admin, Some(&first)).await;
    assert_eq!(held.json["valid"], true, "{}", held.text);
    assert_eq!(held.json["savedCheckpoint"], "contained", "{}", held.text);

    // Restored from the backup: consistent on its own, caught by the later checkpoint.
    app.store.roll_back_audit(tenant, backup).await;
    assert_eq!(verify(&app, &admin, None).await.json["valid"], true);
    assert_eq!(verify(&app, &admin, Some(&first)).await.json["valid"], true);
    let rolled_back = verify(&app, &admin, Some(&second)).await;
    assert_eq!(rolled_back.json["valid"], false, "{}", rolled_back.text);
    assert_eq!(
        rolled_back.json["savedCheckpoint"], "notContained",
        "{}",
        rolled_back.text
    );
    assert!(
        string(&rolled_back.json["reason"]).contains("saved checkpoint"),
        "{}",
        rolled_back.text
    );

    // Wiped: an empty chain verifies, but not against what it held.
    app.store.roll_back_audit(tenant, None).await;
    let empty = verify(&app, &admin, None).await;
    assert_eq!(empty.json["valid"], true, "{}", empty.text);
    assert_eq!(empty.json["checked"], 0);
    let wiped = verify(&app, &admin, Some(&first)).await;
    assert_eq!(wiped.json["valid"], false, "{}", wiped.text);

    // Only this server's checkpoints of this tenant are taken.
    for bad in ["x", "a.b.c", &first.replace('.', "")] {
        app.get(&format!("/audit/verify?checkpoint={bad}"), &admin)
            .await
            .assert_error(400, "VALIDATION_ERROR");
    }
    let other = app.signup("Other").await;
    let other_admin = app.admin_token(&other).await;
    app.get(&format!("/audit/verify?checkpoint={first}"), &other_admin)
        .await
        .assert_error(400, "VALIDATION_ERROR");
}

/// How a chain was tampered with, behind the server's back.
#[derive(Clone, Copy, Debug)]
enum Tampering {
    /// A detail edited in the event's fields (the JSON columns) only.
    Edited,
    /// The actor edited in the event's stored canonical bytes only.
    EditedCanonical,
    /// The event's stored canonical bytes replaced by bytes that are not JSON.
    GarbledCanonical,
    Deleted,
    Inserted,
    Reordered,
    DeletedTail,
    DeletedCheckpoint,
}

/// `GET /audit/verify` in `mode`, which must complete (small chains).
async fn verify_in(app: &TestApp, admin: &str, mode: &str) -> crate::Answer {
    let answer = app.get(&format!("/audit/verify?mode={mode}"), admin).await;
    answer.assert_status(200);
    assert_eq!(answer.json["mode"], mode, "{}", answer.text);
    assert_eq!(answer.json["complete"], true, "{}", answer.text);
    answer
}

/// The incremental verification (the default) starts where the last one
/// stopped and says so (`fromSeq`): it catches an edited, deleted, inserted
/// or reordered event after that point, a deleted tail and a deleted
/// checkpoint, and does not claim the events before it. The full one
/// catches every case wherever it lies, and says when it last passed.
pub async fn each_verification_mode_catches_what_it_covers(start: impl StartFn) {
    use Tampering::*;
    let app = TestApp::start(start).await;
    let cases = [
        (Edited, false),
        (EditedCanonical, false),
        (GarbledCanonical, false),
        (Deleted, false),
        (Inserted, false),
        (Reordered, false),
        (DeletedTail, false),
        (DeletedCheckpoint, false),
        (Edited, true),
        (EditedCanonical, true),
        (Deleted, true),
        (Inserted, true),
        (Reordered, true),
    ];
    for (n, (tampering, before)) in cases.into_iter().enumerate() {
        // Past the sign-up route's rate limit, tenants are made directly.
        let t = if n < 8 {
            app.signup(&format!("Tenant {n}")).await
        } else {
            let made = app.idp.create_tenant(&format!("Tenant {n}")).await.expect("a tenant");
            crate::Tenant {
                id: made.tenant.id.to_string(),
                client_id: made.admin_client_id,
                secret: made.admin_client_secret.expose().to_owned(),
            }
        };
        let admin = app.admin_token(&t).await;
        let tenant: sentryagent_core::TenantId = t.id.parse().expect("a tenant id");
        let agent = app.register(&admin, &format!("bot@t{n}.example"), json!({})).await;
        let full = verify_in(&app, &admin, "full").await;
        assert_eq!(full.json["valid"], true, "{}", full.text);
        assert!(full.json["lastFullVerification"]["at"].is_string(), "{}", full.text);
        let first = verify_in(&app, &admin, "incremental").await;
        assert_eq!(first.json["valid"], true, "{}", first.text);
        assert!(first.json["lastFullVerification"]["at"].is_string(), "{}", first.text);
        let mark = first.json["reachedSeq"].as_u64().unwrap_or_default();
        assert!(mark >= 4, "{}", first.text);
        for _ in 0..4 {
            app.token(&agent.client_id, &agent.secret, None).await;
        }
        let target = if before { mark - 2 } else { mark + 2 };
        let mut edited = None;
        match tampering {
            Edited => edited = app.store.set_audit_detail(tenant, target, "name", json!("Evil")).await,
            EditedCanonical => edited = app.store.rewrite_audit_canonical(tenant, target, false).await,
            GarbledCanonical => edited = app.store.rewrite_audit_canonical(tenant, target, true).await,
            Deleted => app.store.delete_audit_event(tenant, target).await,
            Inserted => app.store.insert_audit_event(tenant, target).await,
            Reordered => app.store.swap_audit_events(tenant, target, target + 1).await,
            DeletedTail => app.store.delete_newest_audit_events(tenant, 2).await,
            DeletedCheckpoint => app.store.delete_audit_checkpoint(tenant).await,
        }
        let context = format!("{tampering:?}, before the incremental start: {before}");

        let incremental = verify_in(&app, &admin, "incremental").await;
        assert_eq!(incremental.json["fromSeq"], mark, "{context}: {}", incremental.text);
        // An insertion before the start moves the event it starts from:
        // caught too. The other three lie wholly before it.
        let caught = !before || matches!(tampering, Inserted);
        assert_eq!(incremental.json["valid"], !caught, "{context}: {}", incremental.text);
        let full = verify_in(&app, &admin, "full").await;
        assert_eq!(full.json["valid"], false, "{context}: {}", full.text);
        assert_eq!(full.json["fromSeq"], 0, "{context}: {}", full.text);
        if let Some(id) = edited {
            assert_eq!(full.json["firstInvalidEventId"], id.to_string().as_str(), "{context}");
            if !before {
                assert_eq!(
                    incremental.json["firstInvalidEventId"],
                    id.to_string().as_str(),
                    "{context}"
                );
            }
        }
        if n == 0 {
            app.get("/audit/verify?mode=partial", &admin)
                .await
                .assert_error(400, "VALIDATION_ERROR");
            app.get("/audit/verify?mode=", &admin)
                .await
                .assert_error(400, "VALIDATION_ERROR");
        }
    }
}
