//! Secretless agents: `private_key_jwt` client authentication (RFC 7523
//! §2.2) and the JWT bearer grant (RFC 7523 §2.1) for workload tokens of
//! OIDC issuers a tenant registers. Assertions and keys are made with
//! jwt-compact and aws-lc, never with this project's JWT code.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jwt_compact::alg::{Ed25519, Es256, SigningKey as _};
use jwt_compact::jwk::JsonWebKey;
use jwt_compact::{Algorithm, AlgorithmExt, Claims, Header};
use serde_json::{Value, json};

use crate::oidc::StandInIssuer;
use crate::{Answer, StartFn, TestApp, string};

const ASSERTION_TYPE: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";
const JWT_BEARER: &str = "urn:ietf:params:oauth:grant-type:jwt-bearer";

/// A client's key pair, made outside this project's code.
enum Signer {
    Es(<Es256 as Algorithm>::SigningKey),
    Ed(<Ed25519 as Algorithm>::SigningKey),
}

fn seed() -> [u8; 32] {
    let mut seed = [0u8; 32];
    aws_lc_rs::rand::fill(&mut seed).expect("random bytes");
    seed
}

/// A P-256 key: the signer and its public JWK under `kid`.
fn es256_key(kid: &str) -> (Signer, Value) {
    let key = <Es256 as Algorithm>::SigningKey::from_slice(&seed()).expect("a P-256 scalar");
    let mut jwk = serde_json::to_value(JsonWebKey::from(&key.to_verifying_key())).expect("a JWK");
    jwk["kid"] = kid.into();
    (Signer::Es(key), jwk)
}

/// An Ed25519 key: the signer and its public JWK (no `kid`).
fn ed25519_key() -> (Signer, Value) {
    use aws_lc_rs::signature::KeyPair as _;
    let seed = seed();
    let pair = aws_lc_rs::signature::Ed25519KeyPair::from_seed_unchecked(&seed).expect("an Ed25519 seed");
    let x = URL_SAFE_NO_PAD.encode(pair.public_key().as_ref());
    let private = json!({"kty": "OKP", "crv": "Ed25519", "x": x, "d": URL_SAFE_NO_PAD.encode(seed)});
    let jwk: JsonWebKey<'_> = serde_json::from_value(private).expect("a JWK");
    let key = <Ed25519 as Algorithm>::SigningKey::try_from(&jwk).expect("an Ed25519 key");
    (Signer::Ed(key), json!({"kty": "OKP", "crv": "Ed25519", "x": x}))
}

fn now() -> i64 {
    sentryagent_core::time::now().unix_timestamp()
}

/// `claims` signed by `signer`, with `kid` and `typ` in the header.
fn sign(signer: &Signer, kid: Option<&str>, typ: Option<&str>, claims: &Value) -> String {
    let mut header = Header::empty();
    if let Some(kid) = kid {
        header = header.with_key_id(kid);
    }
    if let Some(typ) = typ {
        header = header.with_token_type(typ);
    }
    let claims = Claims::new(claims.clone());
    match signer {
        Signer::Es(k) => Es256.token(&header, &claims, k),
        Signer::Ed(k) => Ed25519.token(&header, &claims, k),
    }
    .expect("a signed assertion")
}

/// The claims of a good assertion of `client_id` for `aud`.
fn assertion_claims(client_id: &str, aud: &str) -> Value {
    let t = now();
    json!({"iss": client_id, "sub": client_id, "aud": aud, "iat": t, "exp": t + 60,
        "jti": uuid::Uuid::new_v4().to_string()})
}

/// A JWS with a header of our choosing and a made-up signature.
fn forged(header: &Value, claims: &Value, signature: &[u8]) -> String {
    format!(
        "{}.{}.{}",
        URL_SAFE_NO_PAD.encode(header.to_string()),
        URL_SAFE_NO_PAD.encode(claims.to_string()),
        URL_SAFE_NO_PAD.encode(signature)
    )
}

async fn assertion_request(app: &TestApp, assertion: &str, extra: &[(&str, &str)]) -> Answer {
    let mut pairs = vec![
        ("grant_type", "client_credentials"),
        ("client_assertion_type", ASSERTION_TYPE),
        ("client_assertion", assertion),
    ];
    pairs.extend_from_slice(extra);
    app.form("/oauth2/token", None, &pairs).await
}

async fn register_key(app: &TestApp, admin: &str, agent: &str, jwk: &Value) -> Value {
    let a = app
        .post(
            &format!("/agents/{agent}/credentials"),
            admin,
            &json!({ "publicKey": jwk }),
        )
        .await;
    a.assert_status(201);
    a.json
}

async fn audit(app: &TestApp, admin: &str, action: &str) -> Vec<Value> {
    let a = app.get(&format!("/audit?action={action}"), admin).await;
    a.assert_status(200);
    a.json["items"].as_array().cloned().unwrap_or_default()
}

/// An agent authenticates with an assertion signed by a key registered as
/// its credential (ES256 with a `kid`, EdDSA without), for the issuer or
/// the token endpoint as audience, with each accepted `typ`; the key is
/// listed (public part only), is not rotatable, and dies when revoked.
/// The metadata says so, and introspection and revocation take it too.
pub async fn private_key_jwt_authenticates_an_agent_without_a_secret(start: impl StartFn) {
    let app = TestApp::start(start).await;
    let t = app.signup("Acme").await;
    let admin = app.admin_token(&t).await;
    let agent = app
        .register(&admin, "bot@acme.example", json!({"scopes": ["agents:read"]}))
        .await;

    let meta = app
        .send(reqwest::Client::new().get(app.url("//.well-known/oauth-authorization-server")))
        .await;
    meta.assert_status(200);
    assert!(
        meta.json["token_endpoint_auth_methods_supported"]
            .as_array()
            .is_some_and(|m| m.iter().any(|m| m == "private_key_jwt"))
    );
    assert_eq!(
        meta.json["token_endpoint_auth_signing_alg_values_supported"],
        json!(["ES256", "RS256", "EdDSA"])
    );
    assert!(
        meta.json["grant_types_supported"]
            .as_array()
            .is_some_and(|g| g.iter().any(|g| g == JWT_BEARER))
    );
    let token_endpoint = string(&meta.json["token_endpoint"]);

    let (es, es_jwk) = es256_key("k-es");
    let created = register_key(&app, &admin, &agent.id, &es_jwk).await;
    assert!(created.get("clientSecret").is_none(), "{created}");
    assert_eq!(created["publicKey"]["alg"], "ES256");
    let client_id = string(&created["clientId"]);

    for (aud, typ) in [
        (app.base.as_str(), None),
        (token_endpoint.as_str(), Some("JWT")),
        (app.base.as_str(), Some("client-authentication+jwt")),
    ] {
        let jwt = sign(&es, Some("k-es"), typ, &assertion_claims(&client_id, aud));
        let a = assertion_request(&app, &jwt, &[]).await;
        a.assert_status(200);
        let token = string(&a.json["access_token"]);
        let me = app.whoami(&token).await;
        me.assert_status(200);
    }
    // The client id may be sent too; it must be the assertion's.
    let jwt = sign(&es, Some("k-es"), None, &assertion_claims(&client_id, &app.base));
    assertion_request(&app, &jwt, &[("client_id", &client_id)])
        .await
        .assert_status(200);

    let (ed, ed_jwk) = ed25519_key();
    let ed_created = register_key(&app, &admin, &agent.id, &ed_jwk).await;
    let ed_client = string(&ed_created["clientId"]);
    assert_eq!(ed_created["publicKey"]["alg"], "EdDSA");
    let jwt = sign(&ed, None, None, &assertion_claims(&ed_client, &app.base));
    let token = string(&assertion_request(&app, &jwt, &[]).await.json["access_token"]);

    // RS256: an RSA key made with aws-lc (the stand-in issuer's), its JWK
    // as that issuer publishes it, assertions signed by the same code.
    let rsa = StandInIssuer::start().await;
    let published = app.send(reqwest::Client::new().get(rsa.jwks_url())).await;
    let rsa_jwk = published.json["keys"][0].clone();
    let rsa_created = register_key(&app, &admin, &agent.id, &rsa_jwk).await;
    assert_eq!(rsa_created["publicKey"]["alg"], "RS256");
    let rsa_client = string(&rsa_created["clientId"]);
    let jwt = rsa.sign(&assertion_claims(&rsa_client, &app.base));
    assertion_request(&app, &jwt, &[]).await.assert_status(200);
    // A not-yet-valid assertion (nbf an hour ahead) is refused.
    let mut early = assertion_claims(&rsa_client, &app.base);
    early["nbf"] = (now() + 3600).into();
    assertion_request(&app, &rsa.sign(&early), &[])
        .await
        .assert_oauth_error(401, "invalid_client");

    // Introspection and revocation authenticate a client the same way.
    let intro = sign(&ed, None, None, &assertion_claims(&ed_client, &app.base));
    let a = app
        .form(
            "/oauth2/introspect",
            None,
            &[
                ("token", &token),
                ("client_assertion_type", ASSERTION_TYPE),
                ("client_assertion", &intro),
            ],
        )
        .await;
    a.assert_status(200);
    assert_eq!(a.json["active"], true);

    let issued = audit(&app, &admin, "token.issued").await;
    assert!(issued.iter().any(|e| e["details"]["authMethod"] == "private_key_jwt"));
    let created_events = audit(&app, &admin, "credential.created").await;
    assert!(
        created_events
            .iter()
            .any(|e| e["details"]["credentialId"] == created["credentialId"]
                && e["details"]["authMethod"] == "private_key_jwt")
    );

    let listed = app.get(&format!("/agents/{}/credentials", agent.id), &admin).await;
    listed.assert_status(200);
    let items = listed.json["items"].as_array().cloned().unwrap_or_default();
    assert_eq!(items.len(), 4, "{}", listed.text);
    assert!(items.iter().all(|c| c.get("clientSecret").is_none()));
    let key_listed = items
        .iter()
        .find(|c| c["credentialId"] == created["credentialId"])
        .expect("the key credential is listed");
    assert_eq!(key_listed["publicKey"]["x"], es_jwk["x"]);
    assert!(key_listed["publicKey"].get("d").is_none());

    let credential = string(&created["credentialId"]);
    app.post(
        &format!("/agents/{}/credentials/{credential}/rotate", agent.id),
        &admin,
        &json!({}),
    )
    .await
    .assert_error(400, "VALIDATION_ERROR");
    app.delete(&format!("/agents/{}/credentials/{credential}", agent.id), &admin)
        .await
        .assert_status(200);
    let jwt = sign(&es, Some("k-es"), None, &assertion_claims(&client_id, &app.base));
    assertion_request(&app, &jwt, &[])
        .await
        .assert_oauth_error(401, "invalid_client");
    // A key credential's client id never works with a secret (it has none).
    app.token_request(&ed_client, "", None)
        .await
        .assert_oauth_error(401, "invalid_client");
}

/// Every bad assertion is `invalid_client` (401), audited in the tenant
/// with its reason: `alg: none`, HMAC, an unknown `kid`, another agent's
/// key, a reused `jti`, another server's `aud`, an expired or far-future
/// `exp`, a missing `sub` or `jti`, an access token's `typ`, `iss` ≠ `sub`.
pub async fn private_key_jwt_refuses_every_bad_assertion(start: impl StartFn) {
    let app = TestApp::start(start).await;
    let t = app.signup("Acme").await;
    let admin = app.admin_token(&t).await;
    let agent = app.register(&admin, "bot@acme.example", json!({})).await;
    let other = app.register(&admin, "other@acme.example", json!({})).await;
    let (key, jwk) = es256_key("k1");
    let client_id = string(&register_key(&app, &admin, &agent.id, &jwk).await["clientId"]);
    let (other_key, other_jwk) = es256_key("k2");
    register_key(&app, &admin, &other.id, &other_jwk).await;
    let good = || assertion_claims(&client_id, &app.base);
    let with = |name: &str, value: Value| {
        let mut c = good();
        c[name] = value;
        c
    };
    let without = |name: &str| {
        let mut c = good();
        c.as_object_mut().map(|o| o.remove(name));
        c
    };

    let reused = sign(&key, Some("k1"), None, &good());
    assertion_request(&app, &reused, &[]).await.assert_status(200);

    let cases: Vec<(&str, String)> = vec![
        (
            "alg_not_allowed",
            forged(&json!({"alg": "none", "kid": "k1"}), &good(), b""),
        ),
        (
            "alg_not_allowed",
            forged(&json!({"alg": "HS256", "kid": "k1"}), &good(), &[1; 32]),
        ),
        ("unknown_key", sign(&key, Some("another-kid"), None, &good())),
        ("invalid_signature", sign(&other_key, Some("k1"), None, &good())),
        ("invalid_signature", sign(&other_key, None, None, &good())),
        ("replayed", reused),
        (
            "wrong_audience",
            sign(
                &key,
                Some("k1"),
                None,
                &with("aud", "https://other-server.example".into()),
            ),
        ),
        (
            "expired",
            sign(&key, Some("k1"), None, &with("exp", (now() - 3600).into())),
        ),
        (
            "lifetime_too_long",
            sign(&key, Some("k1"), None, &with("exp", (now() + 86_400).into())),
        ),
        ("missing_claim", sign(&key, Some("k1"), None, &without("jti"))),
        ("missing_claim", sign(&key, Some("k1"), None, &without("exp"))),
        (
            "wrong_issuer_or_subject",
            sign(&key, Some("k1"), None, &with("sub", "someone-else".into())),
        ),
        ("typ_not_allowed", sign(&key, Some("k1"), Some("at+jwt"), &good())),
    ];
    for (reason, jwt) in &cases {
        let a = assertion_request(&app, jwt, &[]).await;
        a.assert_oauth_error(401, "invalid_client");
        assert!(
            !a.text.contains(reason),
            "the reason stays in the audit log: {}",
            a.text
        );
    }
    // A missing sub (iss names the client): refused and audited too.
    let no_sub = sign(&key, Some("k1"), None, &without("sub"));
    assertion_request(&app, &no_sub, &[])
        .await
        .assert_oauth_error(401, "invalid_client");
    // The form's client_id must be the assertion's.
    let jwt = sign(&key, Some("k1"), None, &good());
    let other_client =
        string(&app.get(&format!("/agents/{}/credentials", other.id), &admin).await.json["items"][1]["clientId"]);
    assertion_request(&app, &jwt, &[("client_id", &other_client)])
        .await
        .assert_oauth_error(401, "invalid_client");
    // Neither iss nor sub: nobody to authenticate.
    let anonymous = sign(&key, Some("k1"), None, &{
        let mut c = without("sub");
        c.as_object_mut().map(|o| o.remove("iss"));
        c
    });
    assertion_request(&app, &anonymous, &[])
        .await
        .assert_oauth_error(401, "invalid_client");
    // Two methods at once, and a wrong assertion type.
    let jwt = sign(&key, Some("k1"), None, &good());
    app.form(
        "/oauth2/token",
        Some(&crate::basic(&agent.client_id, &agent.secret)),
        &[
            ("grant_type", "client_credentials"),
            ("client_assertion_type", ASSERTION_TYPE),
            ("client_assertion", &jwt),
        ],
    )
    .await
    .assert_oauth_error(400, "invalid_request");
    assertion_request(&app, &jwt, &[]).await.assert_status(200);
    let a = app
        .form(
            "/oauth2/token",
            None,
            &[
                ("grant_type", "client_credentials"),
                ("client_assertion_type", "urn:x:saml"),
                ("client_assertion", &jwt),
            ],
        )
        .await;
    a.assert_oauth_error(401, "invalid_client");

    let denied = audit(&app, &admin, "token.denied").await;
    let reasons: Vec<String> = denied.iter().map(|e| string(&e["details"]["reason"])).collect();
    for (reason, _) in &cases {
        assert!(reasons.iter().any(|r| r == reason), "{reason} not audited: {reasons:?}");
    }
    assert!(denied.len() >= cases.len() + 2, "each refusal is audited: {reasons:?}");
    // The assertion presented for the other agent's client id is that client's failure.
    assert!(denied.iter().any(|e| e["agentId"] == other.id.as_str()));
}

/// Registering a key needs `credentials:write` and an agent of the
/// caller's tenant; private, symmetric, small and mislabelled keys are
/// refused, naming `publicKey`.
pub async fn public_key_credentials_need_credentials_write_and_a_public_key(start: impl StartFn) {
    let app = TestApp::start(start).await;
    let t = app.signup("Acme").await;
    let admin = app.admin_token(&t).await;
    let agent = app
        .register(&admin, "bot@acme.example", json!({"scopes": ["agents:read"]}))
        .await;
    let (_, jwk) = es256_key("k1");
    let path = format!("/agents/{}/credentials", agent.id);

    let mut private = jwk.clone();
    private["d"] = "f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU".into();
    let mut hmac = jwk.clone();
    hmac["alg"] = "HS256".into();
    for bad in [
        private,
        json!({"kty": "oct", "k": "c2VjcmV0"}),
        json!({"kty": "RSA", "n": "AQAB", "e": "AQAB"}),
        hmac,
        json!("not a key"),
    ] {
        let a = app.post(&path, &admin, &json!({ "publicKey": bad })).await;
        a.assert_error(400, "VALIDATION_ERROR");
        assert!(a.text.contains("publicKey"), "{}", a.text);
    }
    let weak = app.token(&agent.client_id, &agent.secret, None).await;
    app.post(&path, &weak, &json!({ "publicKey": jwk }))
        .await
        .assert_error(403, "INSUFFICIENT_SCOPE");
    let other = app.signup("Globex").await;
    let other_admin = app.admin_token(&other).await;
    app.post(&path, &other_admin, &json!({ "publicKey": jwk }))
        .await
        .assert_error(404, "NOT_FOUND");
    register_key(&app, &admin, &agent.id, &jwk).await;
}

/// A token of a registered issuer (claims like a Kubernetes
/// service-account token) becomes a token of the named agent under a
/// policy's subject, claim and audience conditions; every refusal is
/// `invalid_grant` and audited, and a token of an issuer the tenant did not
/// register is refused without fetching anything.
pub async fn jwt_bearer_grant_turns_a_workload_token_into_an_agent_token(start: impl StartFn) {
    let issuer = StandInIssuer::start().await;
    let stranger = StandInIssuer::start().await;
    let app = TestApp::start_with(start, |b| {
        let fetcher = sentryagent_federation_reqwest::GuardedFetcher::allowing_private_networks_for_tests()
            .expect("a reqwest client");
        b.issuer_fetcher(std::sync::Arc::new(fetcher))
            .allow_private_network_issuers_for_tests(true)
    })
    .await;
    let t = app.signup("Acme").await;
    let admin = app.admin_token(&t).await;
    let agent = app
        .register(&admin, "deployer@acme.example", json!({"scopes": ["agents:read"]}))
        .await;
    let aud = "https://kubernetes.default.svc";
    let policy = app
        .post(
            "/oidc/trust-policies",
            &admin,
            &json!({"provider": "oidc", "issuer": issuer.url(), "agentId": agent.id, "audience": aud,
                "subject": "system:serviceaccount:prod:*",
                "claims": {"kubernetes.io/namespace": "prod"}}),
        )
        .await;
    policy.assert_status(201);
    assert_eq!(policy.json["provider"], "oidc");
    assert_eq!(policy.json["issuer"]["issuer"], issuer.url());

    let workload = |iss: &StandInIssuer, sub: &str, ns: &str, aud: &str| {
        let t = now();
        iss.sign(
            &json!({"iss": iss.url(), "sub": sub, "aud": [aud], "exp": t + 600, "iat": t, "nbf": t,
            "kubernetes.io": {"namespace": ns, "serviceaccount": {"name": "deployer"}}}),
        )
    };
    let grant = |assertion: String, agent_id: String| {
        let app = &app;
        async move {
            app.form(
                "/oauth2/token",
                None,
                &[
                    ("grant_type", JWT_BEARER),
                    ("assertion", &assertion),
                    ("agent_id", &agent_id),
                ],
            )
            .await
        }
    };

    let ok = grant(
        workload(&issuer, "system:serviceaccount:prod:deployer", "prod", aud),
        agent.id.clone(),
    )
    .await;
    ok.assert_status(200);
    assert_eq!(ok.header("cache-control"), "no-store");
    let me = app.whoami(&string(&ok.json["access_token"])).await;
    me.assert_status(200);
    assert_eq!(ok.json["scope"], "agents:read");
    // Reused until it expires, as a projected token is.
    let again = workload(&issuer, "system:serviceaccount:prod:deployer", "prod", aud);
    grant(again.clone(), agent.id.clone()).await.assert_status(200);
    grant(again, agent.id.clone()).await.assert_status(200);

    for bad in [
        workload(&issuer, "system:serviceaccount:dev:deployer", "prod", aud),
        workload(&issuer, "system:serviceaccount:prod:a:b", "prod", aud),
        workload(&issuer, "system:serviceaccount:prod:deployer", "dev", aud),
        workload(
            &issuer,
            "system:serviceaccount:prod:deployer",
            "prod",
            "https://other.example",
        ),
        issuer.sign(
            &json!({"iss": issuer.url(), "sub": "system:serviceaccount:prod:x", "aud": aud,
            "exp": now() - 3600, "kubernetes.io": {"namespace": "prod"}}),
        ),
        issuer.unsigned(
            &json!({"iss": issuer.url(), "sub": "system:serviceaccount:prod:x", "aud": aud,
            "exp": now() + 600, "kubernetes.io": {"namespace": "prod"}}),
        ),
    ] {
        grant(bad, agent.id.clone())
            .await
            .assert_oauth_error(400, "invalid_grant");
    }
    let (fetches, discoveries) = (stranger.jwks_fetches(), stranger.discovery_fetches());
    grant(
        workload(&stranger, "system:serviceaccount:prod:deployer", "prod", aud),
        agent.id.clone(),
    )
    .await
    .assert_oauth_error(400, "invalid_grant");
    assert_eq!(
        (stranger.jwks_fetches(), stranger.discovery_fetches()),
        (fetches, discoveries),
        "no fetch"
    );
    assert_eq!((fetches, discoveries), (0, 0));

    // Another agent of the tenant, one of another tenant, and none.
    let other = app.register(&admin, "other@acme.example", json!({})).await;
    let good = workload(&issuer, "system:serviceaccount:prod:deployer", "prod", aud);
    grant(good.clone(), other.id)
        .await
        .assert_oauth_error(400, "invalid_grant");
    let globex = app.signup("Globex").await;
    let globex_admin = app.admin_token(&globex).await;
    let theirs = app.register(&globex_admin, "bot@globex.example", json!({})).await;
    grant(good.clone(), theirs.id)
        .await
        .assert_oauth_error(400, "invalid_grant");
    // Naming its agent made it Globex's refusal, never Acme's policy's.
    let theirs_denied = audit(&app, &globex_admin, "oidc.denied").await;
    assert_eq!(theirs_denied.len(), 1);
    assert_eq!(theirs_denied[0]["details"]["reason"], "issuer_not_registered");
    grant(good.clone(), sentryagent_core::AgentId::new().to_string())
        .await
        .assert_oauth_error(400, "invalid_grant");
    app.form(
        "/oauth2/token",
        None,
        &[("grant_type", JWT_BEARER), ("assertion", &good)],
    )
    .await
    .assert_oauth_error(400, "invalid_request");
    // A scope beyond the agent's.
    app.form(
        "/oauth2/token",
        None,
        &[
            ("grant_type", JWT_BEARER),
            ("assertion", &good),
            ("agent_id", &agent.id),
            ("scope", "agents:write"),
        ],
    )
    .await
    .assert_oauth_error(400, "invalid_scope");

    let denied = audit(&app, &admin, "oidc.denied").await;
    let reasons: Vec<String> = denied.iter().map(|e| string(&e["details"]["reason"])).collect();
    for reason in [
        "conditions_not_met",
        "wrong_audience",
        "expired",
        "issuer_not_registered",
        "scope_not_allowed",
    ] {
        assert!(reasons.iter().any(|r| r == reason), "{reason} not audited: {reasons:?}");
    }
    let exchanged = audit(&app, &admin, "oidc.exchanged").await;
    assert_eq!(exchanged.len(), 3);
    assert_eq!(exchanged[0]["details"]["grant"], "jwt-bearer");
    assert_eq!(
        exchanged[0]["details"]["subject"],
        "system:serviceaccount:prod:deployer"
    );
}

/// Issuers are refused at registration on http, loopback, private or
/// link-local addresses and `localhost` (the test setting is off here), and
/// an `oidc` policy needs an agent and a condition beyond the issuer.
pub async fn oidc_issuers_on_private_networks_are_refused_at_registration(start: impl StartFn) {
    let app = TestApp::start(start).await;
    let t = app.signup("Acme").await;
    let admin = app.admin_token(&t).await;
    let agent = app.register(&admin, "bot@acme.example", json!({})).await;
    for issuer in [
        "http://issuer.example",
        "https://127.0.0.1:8443",
        "https://localhost",
        "https://10.1.2.3",
        "https://169.254.169.254/latest",
        "https://[::1]",
        "https://[fd00::1]",
    ] {
        let a = app
            .post(
                "/oidc/trust-policies",
                &admin,
                &json!({"provider": "oidc", "issuer": issuer, "agentId": agent.id, "subject": "x"}),
            )
            .await;
        a.assert_error(400, "VALIDATION_ERROR");
        assert!(a.text.contains("issuer"), "{issuer}: {}", a.text);
    }
    for body in [
        json!({"provider": "oidc", "issuer": "https://gitlab.example", "agentId": agent.id}),
        json!({"provider": "oidc", "issuer": "https://gitlab.example", "subject": "x"}),
        json!({"provider": "oidc", "issuer": "https://gitlab.example", "agentId": agent.id, "subject": "x",
            "repository": "acme/app"}),
        json!({"provider": "github", "repository": "acme/app", "agentId": agent.id, "issuer": "https://gitlab.example"}),
        json!({"provider": "oidc", "issuer": "https://gitlab.example", "agentId": agent.id, "claims": {"sub": "x"}}),
    ] {
        app.post("/oidc/trust-policies", &admin, &body)
            .await
            .assert_error(400, "VALIDATION_ERROR");
    }
    let ok = app
        .post(
            "/oidc/trust-policies",
            &admin,
            &json!({"provider": "oidc", "issuer": "https://gitlab.example/", "agentId": agent.id,
                "claims": {"project_path": "acme/*", "ref_protected": "true"}}),
        )
        .await;
    ok.assert_status(201);
    assert_eq!(ok.json["issuer"]["issuer"], "https://gitlab.example");
    let created = audit(&app, &admin, "trust_policy.created").await;
    assert_eq!(created[0]["details"]["issuer"], "https://gitlab.example");
}

/// Refused jwt-bearer grants count against the address's failure budget:
/// past it the address gets 429 before anything is verified or audited.
pub async fn refused_jwt_bearer_grants_spend_the_address_budget(start: impl StartFn) {
    use sentryagent_core::ratelimit::RouteGroup;
    let app = TestApp::start_with(start, |b| {
        b.rate_limit(RouteGroup::TokenFailures, "3/60s".parse().expect("a quota"))
    })
    .await;
    let t = app.signup("Acme").await;
    let admin = app.admin_token(&t).await;
    let agent = app.register(&admin, "bot@acme.example", json!({})).await;
    let junk = forged(
        &json!({"alg": "RS256", "kid": "k"}),
        &json!({"iss": "https://gitlab.example"}),
        b"x",
    );
    let mut statuses = Vec::new();
    for _ in 0..6 {
        let a = app
            .form(
                "/oauth2/token",
                None,
                &[
                    ("grant_type", JWT_BEARER),
                    ("assertion", &junk),
                    ("agent_id", &agent.id),
                ],
            )
            .await;
        statuses.push(a.status.as_u16());
    }
    assert_eq!(statuses, [400, 400, 400, 429, 429, 429], "three failures, then 429");
    assert_eq!(
        audit(&app, &admin, "oidc.denied").await.len(),
        3,
        "the refused ones are not audited"
    );
}

/// `POST /oidc/trust-policies/evaluate` holds a registered issuer's token
/// (or its claims) against the tenant's `oidc` policies by the JWT bearer
/// grant's rule: the policy it names is the one the grant uses, the
/// refusal is the reason the grant audits, and a token of an issuer no
/// policy trusts is judged without any fetch. It issues and audits nothing.
pub async fn oidc_evaluate_holds_registered_issuers_by_the_grants_rule(start: impl StartFn) {
    let issuer = StandInIssuer::start().await;
    let stranger = StandInIssuer::start().await;
    let app = TestApp::start_with(start, |b| {
        let fetcher = sentryagent_federation_reqwest::GuardedFetcher::allowing_private_networks_for_tests()
            .expect("a reqwest client");
        b.issuer_fetcher(std::sync::Arc::new(fetcher))
            .allow_private_network_issuers_for_tests(true)
    })
    .await;
    let t = app.signup("Acme").await;
    let admin = app.admin_token(&t).await;
    let deployer = app.register(&admin, "deployer@acme.example", json!({})).await;
    let builder = app.register(&admin, "builder@acme.example", json!({})).await;
    let aud = "https://kubernetes.default.svc";
    let mut ids = Vec::new();
    for (agent, subject) in [
        (&deployer, "system:serviceaccount:prod:deployer"),
        (&builder, "system:serviceaccount:ci:*"),
    ] {
        let p = app
            .post(
                "/oidc/trust-policies",
                &admin,
                &json!({"provider": "oidc", "issuer": issuer.url(), "agentId": agent.id, "audience": aud,
                    "subject": subject, "claims": {"kubernetes.io/namespace": "*"}}),
            )
            .await;
        p.assert_status(201);
        ids.push(p.json["policyId"].clone());
    }
    let claims = |iss: &StandInIssuer, sub: &str, aud: &str, exp: i64| {
        json!({"iss": iss.url(), "sub": sub, "aud": [aud], "exp": exp, "iat": now(),
            "kubernetes.io": {"namespace": "prod"}})
    };
    let evaluate = |body: Value| {
        let (app, admin) = (&app, &admin);
        async move {
            let a = app.post("/oidc/trust-policies/evaluate", admin, &body).await;
            a.assert_status(200);
            a.json
        }
    };

    // A good token: verified, and the policy the grant would use.
    let good = issuer.sign(&claims(
        &issuer,
        "system:serviceaccount:prod:deployer",
        aud,
        now() + 600,
    ));
    let e = evaluate(json!({ "token": good })).await;
    assert_eq!(e["token"], json!({"valid": true}));
    assert_eq!(e["match"], ids[0]);
    assert_eq!(e["claims"]["sub"], "system:serviceaccount:prod:deployer");
    let verdicts = e["policies"].as_array().cloned().unwrap_or_default();
    assert_eq!(verdicts.len(), 2, "every oidc policy of the tenant");
    assert_eq!(verdicts[0]["admits"], true);
    assert_eq!(verdicts[0]["issuer"], issuer.url());
    assert_eq!(verdicts[1]["failed"]["condition"], "subject");
    // The grant agrees.
    app.form(
        "/oauth2/token",
        None,
        &[
            ("grant_type", JWT_BEARER),
            ("assertion", &good),
            ("agent_id", &deployer.id),
        ],
    )
    .await
    .assert_status(200);

    // Another audience: refused as the grant refuses it.
    let elsewhere = issuer.sign(&claims(
        &issuer,
        "system:serviceaccount:prod:deployer",
        "https://other.example",
        now() + 600,
    ));
    let e = evaluate(json!({ "token": elsewhere, "agentId": deployer.id })).await;
    assert_eq!(e["token"]["valid"], true);
    assert_eq!(e["match"], Value::Null);
    assert_eq!(e["refusal"], "wrong_audience");
    assert_eq!(e["policies"][0]["failed"]["condition"], "audience");
    assert_eq!(e["policies"][0]["failed"]["allowed"], aud);

    // Claims alone, narrowed to an agent: the other agent's policy is not used.
    let ci = claims(&issuer, "system:serviceaccount:ci:runner", aud, now() + 600);
    let e = evaluate(json!({ "claims": ci })).await;
    assert_eq!(e.get("token"), None);
    assert_eq!(e["match"], ids[1]);
    let e = evaluate(json!({ "claims": ci, "agentId": deployer.id })).await;
    assert_eq!(e["match"], Value::Null);
    assert_eq!(e["refusal"], "conditions_not_met");
    let mut no_namespace = ci.clone();
    no_namespace.as_object_mut().expect("an object").remove("kubernetes.io");
    let e = evaluate(json!({ "claims": no_namespace })).await;
    assert_eq!(e["refusal"], "conditions_not_met");
    assert_eq!(e["policies"][1]["failed"]["condition"], "claims");

    // Expired: the claims are evaluated anyway.
    let expired = issuer.sign(&claims(
        &issuer,
        "system:serviceaccount:prod:deployer",
        aud,
        now() - 3600,
    ));
    let e = evaluate(json!({ "token": expired })).await;
    assert_eq!(e["token"]["valid"], false);
    assert_eq!(e["token"]["code"], "expired");
    assert_eq!(e["match"], ids[0]);

    // An issuer the tenant did not register: judged without any fetch.
    let theirs = stranger.sign(&claims(
        &stranger,
        "system:serviceaccount:prod:deployer",
        aud,
        now() + 600,
    ));
    let e = evaluate(json!({ "token": theirs })).await;
    assert_eq!(e["token"]["code"], "issuer_not_registered");
    assert_eq!(e["refusal"], "issuer_not_registered");
    assert_eq!(e["policies"][0]["failed"]["condition"], "issuer");
    assert_eq!((stranger.jwks_fetches(), stranger.discovery_fetches()), (0, 0));

    // Another tenant sees none of these policies.
    let globex = app.signup("Globex").await;
    let globex_admin = app.admin_token(&globex).await;
    let a = app
        .post("/oidc/trust-policies/evaluate", &globex_admin, &json!({ "claims": ci }))
        .await;
    a.assert_status(200);
    assert_eq!(a.json["policies"], json!([]));
    assert_eq!(a.json["refusal"], "issuer_not_registered");

    // Evaluation issues and audits nothing (the one exchange above was the grant's).
    assert_eq!(audit(&app, &admin, "oidc.exchanged").await.len(), 1);
    assert!(audit(&app, &admin, "oidc.denied").await.is_empty());
}

/// The JWT bearer grant binds the token's `aud` to the requested
/// `resource`s by the client-credentials grant's rule (RFC 8707): each must
/// be an absolute URI without a fragment that a resource policy names for
/// the agent's tenant, else `invalid_target`, audited, and no token; the
/// token is then refused by every other resource.
pub async fn jwt_bearer_grant_binds_the_requested_resources(start: impl StartFn) {
    use crate::{RESOURCE_A_PATH, RESOURCE_B_PATH};
    use sentryagent_core::resource::ResourcePolicy;
    let issuer = StandInIssuer::start().await;
    let app = TestApp::start_with(start, |b| {
        let fetcher = sentryagent_federation_reqwest::GuardedFetcher::allowing_private_networks_for_tests()
            .expect("a reqwest client");
        b.issuer_fetcher(std::sync::Arc::new(fetcher))
            .allow_private_network_issuers_for_tests(true)
    })
    .await;
    let t = app.signup("Acme").await;
    let admin = app.admin_token(&t).await;
    let globex = app.signup("Globex").await;
    let (a, b) = (
        format!("{}{RESOURCE_A_PATH}", app.base),
        format!("{}{RESOURCE_B_PATH}", app.base),
    );
    app.idp.protect(
        ResourcePolicy::new(&a)
            .tenant(t.id.parse().expect("a tenant id"))
            .require_scope("tools:call"),
    );
    // B accepts Globex's agents only.
    app.idp
        .protect(ResourcePolicy::new(&b).tenant(globex.id.parse().expect("a tenant id")));
    let agent = app
        .register(&admin, "deployer@acme.example", json!({"scopes": ["tools:call"]}))
        .await;
    let aud = "https://kubernetes.default.svc";
    app.post(
        "/oidc/trust-policies",
        &admin,
        &json!({"provider": "oidc", "issuer": issuer.url(), "agentId": agent.id, "audience": aud,
            "subject": "system:serviceaccount:prod:*"}),
    )
    .await
    .assert_status(201);
    let t0 = now();
    let assertion = issuer.sign(
        &json!({"iss": issuer.url(), "sub": "system:serviceaccount:prod:deployer",
        "aud": aud, "exp": t0 + 600, "iat": t0}),
    );
    async fn grant_for(app: &TestApp, assertion: &str, agent: &str, resources: &[&str]) -> Answer {
        let mut pairs = vec![
            ("grant_type", JWT_BEARER),
            ("assertion", assertion),
            ("agent_id", agent),
        ];
        pairs.extend(resources.iter().map(|r| ("resource", *r)));
        app.form("/oauth2/token", None, &pairs).await
    }

    let for_a = grant_for(&app, &assertion, &agent.id, &[&a]).await;
    for_a.assert_status(200);
    let for_a = string(&for_a.json["access_token"]);
    assert_eq!(app.introspect(&admin, &for_a).await.json["aud"], json!(a));
    app.get(&format!("/{RESOURCE_A_PATH}"), &for_a).await.assert_status(200);
    app.get(&format!("/{RESOURCE_B_PATH}"), &for_a)
        .await
        .assert_error(401, "UNAUTHORIZED");
    app.whoami(&for_a).await.assert_error(401, "UNAUTHORIZED");

    let twice = grant_for(&app, &assertion, &agent.id, &[&a, &a]).await;
    twice.assert_status(200);
    assert_eq!(
        app.introspect(&admin, &string(&twice.json["access_token"])).await.json["aud"],
        json!(a)
    );
    // Without a resource: the IdP's own audience, as before.
    let plain = grant_for(&app, &assertion, &agent.id, &[]).await;
    plain.assert_status(200);
    app.whoami(&string(&plain.json["access_token"]))
        .await
        .assert_status(200);

    let fragment = format!("{a}#frag");
    let unknown = format!("{}/resource-c", app.base);
    for bad in ["/resource-a", fragment.as_str(), unknown.as_str(), b.as_str()] {
        grant_for(&app, &assertion, &agent.id, &[bad])
            .await
            .assert_oauth_error(400, "invalid_target");
        grant_for(&app, &assertion, &agent.id, &[&a, bad])
            .await
            .assert_oauth_error(400, "invalid_target");
    }
    let denied = audit(&app, &admin, "oidc.denied").await;
    assert!(
        denied
            .iter()
            .any(|e| e["details"]["reason"] == "audience_not_allowed" && e["details"]["resource"] == json!(b)),
        "{denied:?}"
    );
    let exchanged = audit(&app, &admin, "oidc.exchanged").await;
    assert_eq!(exchanged.len(), 3, "no token for a refused resource");
    assert!(exchanged.iter().any(|e| e["details"]["aud"] == json!(a)));
}
