//! Tokens: issuance, verification, introspection, revocation, keys.

use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jwt_compact::alg::Es256;
use jwt_compact::jwk::JsonWebKey;
use jwt_compact::{Algorithm, AlgorithmExt, UntrustedToken};
use serde_json::{Value, json};

use crate::{StartFn, TestApp, basic, string};

/// The README's walk-through: admin token, register, agent token, whoami,
/// introspect, revoke, audit.
pub async fn walkthrough_end_to_end(start: impl StartFn) {
    let app = TestApp::start(start).await;
    let tenant = app.signup("Acme").await;
    let admin = app.admin_token(&tenant).await;
    let agent = app
        .register(
            &admin,
            "build-bot@acme.example",
            json!({"description": "Builds things"}),
        )
        .await;
    let token = app.token(&agent.client_id, &agent.secret, None).await;

    let me = app.whoami(&token).await;
    me.assert_status(200);
    assert_eq!(me.json["agentId"], agent.id.as_str());
    assert_eq!(me.json["tenantId"], tenant.id.as_str());

    let info = app.introspect(&admin, &token).await;
    info.assert_status(200);
    assert_eq!(info.json["active"], true);
    assert_eq!(info.json["sub"], agent.id.as_str());
    assert_eq!(info.json["tenant"], tenant.id.as_str());
    assert_eq!(info.json["client_id"], agent.client_id.as_str());
    assert_eq!(info.json["token_type"], "Bearer");

    app.revoke(&admin, &token).await.assert_status(200);
    assert_eq!(app.introspect(&admin, &token).await.json, json!({"active": false}));
    app.whoami(&token).await.assert_error(401, "UNAUTHORIZED");

    let audit = app.get("/audit?action=token.revoked", &admin).await;
    audit.assert_status(200);
    assert_eq!(audit.json["items"][0]["agentId"], agent.id.as_str());
}

/// A token verifies with jwt-compact (not this crate's JWT code) given only
/// the JWKS fetched over HTTP.
pub async fn token_verifies_with_an_independent_library_and_the_jwks(start: impl StartFn) {
    let app = TestApp::start(start).await;
    let tenant = app.signup("Acme").await;
    let token = app.admin_token(&tenant).await;

    let jwks = app
        .send(reqwest::Client::new().get(app.url("//.well-known/jwks.json")))
        .await;
    jwks.assert_status(200);
    let untrusted = UntrustedToken::new(&token).expect("a compact JWS");
    let kid = untrusted.header().key_id.clone().expect("a kid");
    assert_eq!(untrusted.algorithm(), "ES256");
    assert_eq!(untrusted.header().token_type.as_deref(), Some("at+jwt"));
    let jwk_value = jwks.json["keys"]
        .as_array()
        .and_then(|keys| keys.iter().find(|k| k["kid"] == kid.as_str()))
        .cloned()
        .expect("the token's kid is in the JWKS");
    let jwk: JsonWebKey<'_> = serde_json::from_value(jwk_value).expect("a JWK");
    let key = <Es256 as Algorithm>::VerifyingKey::try_from(&jwk).expect("a P-256 key");
    let verified = Es256
        .validator::<Value>(&key)
        .validate(&untrusted)
        .expect("the signature verifies");
    let claims = &verified.claims().custom;
    assert_eq!(claims["iss"], app.base.as_str());
    assert_eq!(claims["aud"], app.base.as_str());
    assert_eq!(claims["tenant"], tenant.id.as_str());
    for claim in ["sub", "jti", "client_id", "scope"] {
        assert!(claims[claim].is_string(), "{claim}");
    }
    // jwt-compact lifts the registered time claims out of the custom set.
    let times = verified.claims();
    let (exp, iat, nbf) = (times.expiration, times.issued_at, times.not_before);
    assert!(exp.is_some() && iat.is_some() && nbf.is_some());
    assert!(exp > iat && iat == nbf);

    // The same library refuses the token once one payload byte changes.
    let mut parts: Vec<String> = token.split('.').map(str::to_owned).collect();
    let mut payload = URL_SAFE_NO_PAD.decode(&parts[1]).expect("base64url");
    payload[2] ^= 1;
    parts[1] = URL_SAFE_NO_PAD.encode(payload);
    let tampered = parts.join(".");
    let untrusted = UntrustedToken::new(&tampered).expect("still a compact JWS");
    assert!(Es256.validator::<Value>(&key).validate(&untrusted).is_err());
}

/// HTTP Basic and form client authentication, and the RFC 6749 errors.
pub async fn client_authentication_methods_and_oauth_errors(start: impl StartFn) {
    let app = TestApp::start(start).await;
    let t = app.signup("Acme").await;
    let by_form = app
        .form(
            "/oauth2/token",
            None,
            &[
                ("grant_type", "client_credentials"),
                ("client_id", &t.client_id),
                ("client_secret", &t.secret),
            ],
        )
        .await;
    by_form.assert_status(200);
    assert_eq!(by_form.header("cache-control"), "no-store");
    assert_eq!(by_form.json["token_type"], "Bearer");
    assert_eq!(by_form.json["expires_in"], 3600);
    assert_eq!(by_form.json["scope"], "admin");

    app.token_request(&t.client_id, "sa_sk_wrong", None)
        .await
        .assert_oauth_error(401, "invalid_client");
    let wrong = app.token_request("sa_ci_unknown", &t.secret, None).await;
    wrong.assert_oauth_error(401, "invalid_client");
    assert!(wrong.header("www-authenticate").starts_with("Basic"));
    app.form(
        "/oauth2/token",
        Some(&basic(&t.client_id, &t.secret)),
        &[
            ("grant_type", "client_credentials"),
            ("client_id", &t.client_id),
            ("client_secret", &t.secret),
        ],
    )
    .await
    .assert_oauth_error(400, "invalid_request");
    app.form(
        "/oauth2/token",
        Some(&basic(&t.client_id, &t.secret)),
        &[("grant_type", "password")],
    )
    .await
    .assert_oauth_error(400, "unsupported_grant_type");
    app.form("/oauth2/token", Some(&basic(&t.client_id, &t.secret)), &[])
        .await
        .assert_oauth_error(400, "invalid_request");
    app.form("/oauth2/token", None, &[("grant_type", "client_credentials")])
        .await
        .assert_oauth_error(401, "invalid_client");
    app.form(
        "/oauth2/token",
        Some(&basic(&t.client_id, &t.secret)),
        &[
            ("grant_type", "client_credentials"),
            ("grant_type", "client_credentials"),
        ],
    )
    .await
    .assert_oauth_error(400, "invalid_request");
    let as_json = app
        .send(
            app.request(reqwest::Method::POST, "/oauth2/token", None)
                .header("authorization", basic(&t.client_id, &t.secret))
                .json(&json!({"grant_type": "client_credentials"})),
        )
        .await;
    as_json.assert_oauth_error(400, "invalid_request");
    app.form("/oauth2/introspect", None, &[("token", "x")])
        .await
        .assert_oauth_error(401, "invalid_client");
    let admin = app.admin_token(&t).await;
    app.form("/oauth2/introspect", Some(&format!("Bearer {admin}")), &[])
        .await
        .assert_oauth_error(400, "invalid_request");
    // RFC 7009: an unknown token is accepted silently.
    app.revoke(&admin, "not-a-token").await.assert_status(200);
}

/// `scope` selects a subset; a scope the agent may not hold is `invalid_scope`.
pub async fn scopes_are_down_selected_and_never_exceeded(start: impl StartFn) {
    let app = TestApp::start(start).await;
    let t = app.signup("Acme").await;
    let read_only = app.token(&t.client_id, &t.secret, Some("agents:read")).await;
    app.get("/agents", &read_only).await.assert_status(200);
    let refused = app
        .post("/agents", &read_only, &json!({"name": "x@acme.example"}))
        .await;
    refused.assert_error(403, "INSUFFICIENT_SCOPE");
    assert_eq!(refused.json["details"]["requiredScope"], "agents:write");
    assert!(refused.header("www-authenticate").contains("insufficient_scope"));

    let admin = app.admin_token(&t).await;
    let agent = app
        .register(&admin, "reader@acme.example", json!({"scopes": ["reports:read"]}))
        .await;
    let all = app.token_request(&agent.client_id, &agent.secret, None).await;
    assert_eq!(all.json["scope"], "reports:read");
    app.token_request(&agent.client_id, &agent.secret, Some("reports:read agents:write"))
        .await
        .assert_oauth_error(400, "invalid_scope");
    app.token_request(&agent.client_id, &agent.secret, Some("admin"))
        .await
        .assert_oauth_error(400, "invalid_scope");
    let me = app
        .whoami(&app.token(&agent.client_id, &agent.secret, Some("reports:read")).await)
        .await;
    assert_eq!(me.json["scopes"], json!(["reports:read"]));
}

/// Requested audiences must be configured; a token for another audience
/// cannot manage the IdP.
pub async fn audience_is_checked(start: impl StartFn) {
    let app = TestApp::start_with(start, |b| b.extra_audience("https://orders.example")).await;
    let t = app.signup("Acme").await;
    let basic = basic(&t.client_id, &t.secret);
    let pairs = |aud: &'static str| [("grant_type", "client_credentials"), ("audience", aud)];
    app.form("/oauth2/token", Some(&basic), &pairs("https://evil.example"))
        .await
        .assert_oauth_error(400, "invalid_target");
    let other = app
        .form("/oauth2/token", Some(&basic), &pairs("https://orders.example"))
        .await;
    other.assert_status(200);
    let token = string(&other.json["access_token"]);
    app.get("/agents", &token).await.assert_error(401, "UNAUTHORIZED");
    let info = app.introspect(&app.admin_token(&t).await, &token).await;
    assert_eq!(info.json["aud"], "https://orders.example");
}

fn b64(v: &Value) -> String {
    URL_SAFE_NO_PAD.encode(v.to_string())
}

/// `alg: none`, HS256 keyed with the public key, a tampered payload, an
/// unknown `kid` and garbage are all 401.
pub async fn forged_tokens_are_rejected(start: impl StartFn) {
    let app = TestApp::start(start).await;
    let t = app.signup("Acme").await;
    let good = app.admin_token(&t).await;
    let parts: Vec<&str> = good.split('.').collect();
    let header: Value = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[0]).expect("b64")).expect("json");
    let mut claims: Value = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[1]).expect("b64")).expect("json");
    let kid = header["kid"].clone();

    let none = format!(
        "{}.{}.",
        b64(&json!({"alg": "none", "typ": "at+jwt", "kid": kid})),
        parts[1]
    );

    let jwks = app
        .send(reqwest::Client::new().get(app.url("/.well-known/jwks.json")))
        .await;
    let public_key = jwks.json["keys"][0].to_string();
    let hs_signing_input = format!(
        "{}.{}",
        b64(&json!({"alg": "HS256", "typ": "at+jwt", "kid": kid})),
        parts[1]
    );
    let hs_key = jwt_compact::alg::Hs256Key::new(public_key.as_bytes());
    let hs_sig = {
        use jwt_compact::alg::Hs256;
        Hs256.sign(&hs_key, hs_signing_input.as_bytes())
    };
    let hs256 = format!(
        "{hs_signing_input}.{}",
        URL_SAFE_NO_PAD.encode(jwt_compact::AlgorithmSignature::as_bytes(&hs_sig))
    );

    claims["scope"] = json!("admin agents:write");
    claims["exp"] = json!(claims["exp"].as_i64().unwrap_or_default() + 86_400);
    let tampered = format!("{}.{}.{}", parts[0], b64(&claims), parts[2]);

    let unknown_kid = format!(
        "{}.{}.{}",
        b64(&json!({"alg": "ES256", "typ": "at+jwt", "kid": "not-a-key"})),
        parts[1],
        parts[2]
    );
    let wrong_typ = format!(
        "{}.{}.{}",
        b64(&json!({"alg": "ES256", "typ": "JWT", "kid": kid})),
        parts[1],
        parts[2]
    );

    for (name, forged) in [
        ("alg none", none),
        ("HS256 with the public key", hs256),
        ("tampered payload", tampered),
        ("unknown kid", unknown_kid),
        ("wrong typ", wrong_typ),
        ("garbage", "abc.def.ghi".to_owned()),
    ] {
        let a = app.get("/agents", &forged).await;
        assert_eq!(a.status.as_u16(), 401, "{name}: {}", a.text);
        app.whoami(&forged).await.assert_error(401, "UNAUTHORIZED");
        assert_eq!(
            app.introspect(&good, &forged).await.json,
            json!({"active": false}),
            "{name}"
        );
    }
    app.get("/agents", &good).await.assert_status(200);
}

/// Tokens stop working at `exp`.
pub async fn expired_tokens_are_rejected(start: impl StartFn) {
    let app = TestApp::start_with(start, |b| {
        b.token_ttl(Duration::from_secs(1)).clock_skew(Duration::ZERO)
    })
    .await;
    let t = app.signup("Acme").await;
    let token = app.admin_token(&t).await;
    app.get("/agents", &token).await.assert_status(200);
    tokio::time::sleep(Duration::from_millis(2_100)).await;
    app.get("/agents", &token).await.assert_error(401, "UNAUTHORIZED");
    app.whoami(&token).await.assert_error(401, "UNAUTHORIZED");
    let fresh = app.admin_token(&t).await;
    assert_eq!(app.introspect(&fresh, &token).await.json, json!({"active": false}));
}

/// After a rotation the new key signs, the old one still verifies, and both
/// (plus the next) are in the JWKS.
pub async fn key_rotation_keeps_old_tokens_valid(start: impl StartFn) {
    let app = TestApp::start(start).await;
    let t = app.signup("Acme").await;
    let old = app.admin_token(&t).await;
    let jwks_before = app
        .send(reqwest::Client::new().get(app.url("/.well-known/jwks.json")))
        .await;
    assert_eq!(
        jwks_before.json["keys"].as_array().map(Vec::len),
        Some(2),
        "current and next"
    );
    let next_kid = jwks_before.json["keys"][1]["kid"].clone();

    let promoted = app.idp.rotate_signing_keys().await.expect("rotation");
    assert_eq!(json!(promoted), next_kid, "the published next key is the one promoted");
    let new = app.admin_token(&t).await;
    let kid_of = |token: &str| {
        let header = URL_SAFE_NO_PAD
            .decode(token.split('.').next().unwrap_or_default())
            .unwrap_or_default();
        serde_json::from_slice::<Value>(&header).unwrap_or_default()["kid"].clone()
    };
    assert_eq!(kid_of(&new), next_kid);
    assert_ne!(kid_of(&old), kid_of(&new));
    app.get("/agents", &old).await.assert_status(200);
    app.get("/agents", &new).await.assert_status(200);
    let jwks_after = app
        .send(reqwest::Client::new().get(app.url("/.well-known/jwks.json")))
        .await;
    assert_eq!(
        jwks_after.json["keys"].as_array().map(Vec::len),
        Some(3),
        "retired, current, next"
    );
}

/// RFC 8414 and OpenID discovery documents, at the root and under the prefix.
pub async fn metadata_documents(start: impl StartFn) {
    let app = TestApp::start(start).await;
    let client = reqwest::Client::new();
    for path in [
        "//.well-known/oauth-authorization-server",
        "//.well-known/openid-configuration",
        "/.well-known/oauth-authorization-server",
    ] {
        let doc = app.send(client.get(app.url(path))).await;
        doc.assert_status(200);
        assert_eq!(doc.json["issuer"], app.base.as_str());
        assert_eq!(doc.json["token_endpoint"], app.url("/oauth2/token").as_str());
        assert_eq!(
            doc.json["grant_types_supported"],
            json!([
                "client_credentials",
                "authorization_code",
                "refresh_token",
                "urn:ietf:params:oauth:grant-type:jwt-bearer"
            ])
        );
        let jwks = app.send(client.get(string(&doc.json["jwks_uri"]))).await;
        jwks.assert_status(200);
        assert!(jwks.json["keys"].is_array());
    }
    let health = app.send(client.get(app.url("/health"))).await;
    assert_eq!(health.json["status"], "ok");
}
