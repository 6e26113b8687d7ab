//! Tokens for people acting through a client (the authorization-code
//! flow's token endpoint), as an attacker sees them: a code redeems once,
//! only by its client, with its verifier and redirect; refresh tokens
//! rotate and a reused one ends the whole grant; a person's token is never
//! an agent's or a management token; revocation cascades as documented.
//! Codes come from `issue_authorization_code`, what the authorization
//! endpoint calls once the person approved.

use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Value, json};

use sentryagent_core::authorization::Approval;

use sentryagent_core::resource::{Principals, ResourcePolicy};

use crate::{RESOURCE_B_PATH, RESOURCE_C_PATH, STEP_UP_PATH, StartFn, Tenant, TestApp, basic, string};

const RESOURCE: &str = "https://mcp.acme.example/mcp";
const OTHER_RESOURCE: &str = "https://tools.acme.example/mcp";
const REDIRECT: &str = "http://127.0.0.1/callback";
// RFC 7636 Appendix B.
const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
const CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";

/// A registered client: its id and, for a confidential one, its secret.
struct Client {
    id: String,
    secret: String,
}

async fn client(app: &TestApp, admin: &str, body: Value) -> Client {
    let a = app.post("/oauth-clients", admin, &body).await;
    a.assert_status(201);
    Client {
        id: string(&a.json["clientId"]),
        secret: a.json["clientSecret"].as_str().unwrap_or_default().to_owned(),
    }
}

async fn public_client(app: &TestApp, admin: &str) -> Client {
    client(
        app,
        admin,
        json!({"kind": "public", "redirectUris": [REDIRECT], "clientName": "Editor"}),
    )
    .await
}

async fn confidential_client(app: &TestApp, admin: &str, method: &str) -> Client {
    client(
        app,
        admin,
        json!({"kind": "confidential", "tokenEndpointAuthMethod": method, "redirectUris": [REDIRECT]}),
    )
    .await
}

/// A person's approval, as the authorization endpoint would issue it.
async fn new_code(app: &TestApp, tenant: &Tenant, client_id: &str, user: &str) -> String {
    new_code_for(app, tenant, client_id, user, &[RESOURCE, OTHER_RESOURCE]).await
}

async fn new_code_for(app: &TestApp, tenant: &Tenant, client_id: &str, user: &str, resources: &[&str]) -> String {
    let issued = app
        .idp
        .issue_authorization_code(Approval {
            tenant_id: tenant.id.parse().expect("tenant id"),
            user_id: user.into(),
            client_id: client_id.into(),
            redirect_uri: REDIRECT.into(),
            code_challenge: CHALLENGE.into(),
            scopes: vec!["tools:call".into(), "tools:list".into()],
            resources: resources.iter().map(|r| (*r).to_owned()).collect(),
        })
        .await
        .expect("code");
    issued.code.expose().to_owned()
}

/// `POST /oauth2/token` with `grant_type=authorization_code` by a public client.
async fn redeem(app: &TestApp, client_id: &str, code: &str, extra: &[(&str, &str)]) -> crate::Answer {
    let mut form = vec![
        ("grant_type", "authorization_code"),
        ("client_id", client_id),
        ("code", code),
        ("redirect_uri", REDIRECT),
        ("code_verifier", VERIFIER),
    ];
    for (k, v) in extra {
        form.retain(|(key, _)| key != k);
        if !v.is_empty() {
            form.push((k, v));
        }
    }
    app.form("/oauth2/token", None, &form).await
}

async fn refresh(app: &TestApp, client_id: &str, token: &str, extra: &[(&str, &str)]) -> crate::Answer {
    let mut form = vec![
        ("grant_type", "refresh_token"),
        ("client_id", client_id),
        ("refresh_token", token),
    ];
    form.extend_from_slice(extra);
    app.form("/oauth2/token", None, &form).await
}

/// Introspection by the client the token was issued to (a public client).
async fn active(app: &TestApp, client_id: &str, token: &str) -> bool {
    let a = app
        .form(
            "/oauth2/introspect",
            None,
            &[("client_id", client_id), ("token", token)],
        )
        .await;
    a.assert_status(200);
    a.json["active"] == json!(true)
}

fn payload(token: &str) -> Value {
    let part = token.split('.').nth(1).unwrap_or_default();
    let bytes = URL_SAFE_NO_PAD.decode(part).unwrap_or_default();
    serde_json::from_slice(&bytes).unwrap_or(Value::Null)
}

async fn audited(app: &TestApp, admin: &str, action: &str) -> Vec<Value> {
    let a = app.get(&format!("/audit?action={action}&limit=100"), admin).await;
    a.assert_status(200);
    a.json["items"].as_array().cloned().unwrap_or_default()
}

/// Code → tokens → refresh → rotated: the answers, the claims of a
/// person's token, the client marked used, each step audited without a
/// secret; a narrower scope and resource on refresh, never a wider one.
pub async fn a_code_becomes_tokens_that_refresh_and_rotate(start: impl StartFn) {
    let app = TestApp::start(start).await;
    let t = app.signup("Acme").await;
    let admin = app.admin_token(&t).await;
    let c = public_client(&app, &admin).await;
    let code = new_code(&app, &t, &c.id, "user-17").await;

    let first = redeem(&app, &c.id, &code, &[]).await;
    first.assert_status(200);
    assert_eq!(first.header("cache-control"), "no-store");
    assert!(first.header("content-type").starts_with("application/json"));
    assert_eq!(first.json["token_type"], "Bearer");
    assert_eq!(first.json["scope"], "tools:call tools:list");
    assert!(first.json["expires_in"].as_u64().is_some_and(|s| s > 0));
    let access = string(&first.json["access_token"]);
    let refresh_1 = string(&first.json["refresh_token"]);
    assert!(refresh_1.starts_with("sa_rt_"));
    let claims = payload(&access);
    assert_eq!(claims["sub"], "user-17");
    assert_eq!(claims["client_id"], json!(c.id));
    assert_eq!(claims["aud"], json!([RESOURCE, OTHER_RESOURCE]));
    assert_eq!(claims["token_kind"], "user");
    assert_eq!(claims["user_tenant"], json!(t.id));
    assert!(claims["gid"].is_string());
    assert!(claims.get("tenant").is_none(), "no claim agent verification reads");

    let introspected = app
        .form("/oauth2/introspect", None, &[("client_id", &c.id), ("token", &access)])
        .await;
    introspected.assert_status(200);
    assert_eq!(introspected.json["active"], true);
    assert_eq!(introspected.json["sub"], "user-17");
    assert_eq!(introspected.json["client_id"], json!(c.id));
    assert_eq!(introspected.json["scope"], "tools:call tools:list");
    assert_eq!(introspected.json["token_kind"], "user");
    assert!(introspected.json["exp"].is_i64());
    assert!(
        !active(&app, &c.id, &refresh_1).await,
        "refresh tokens do not introspect"
    );

    // Narrower is fine, wider is not, and neither spends the token.
    refresh(&app, &c.id, &refresh_1, &[("scope", "tools:call admin")])
        .await
        .assert_oauth_error(400, "invalid_scope");
    refresh(&app, &c.id, &refresh_1, &[("resource", "https://elsewhere.example/")])
        .await
        .assert_oauth_error(400, "invalid_target");
    let second = refresh(
        &app,
        &c.id,
        &refresh_1,
        &[("scope", "tools:call"), ("resource", RESOURCE)],
    )
    .await;
    second.assert_status(200);
    assert_eq!(second.header("cache-control"), "no-store");
    assert_eq!(second.json["scope"], "tools:call");
    let refresh_2 = string(&second.json["refresh_token"]);
    assert_ne!(refresh_2, refresh_1, "rotated");
    let narrowed = payload(&string(&second.json["access_token"]));
    assert_eq!(narrowed["aud"], json!(RESOURCE));
    assert_eq!(narrowed["gid"], claims["gid"], "the same grant");
    let third = refresh(&app, &c.id, &refresh_2, &[]).await;
    third.assert_status(200);
    assert_eq!(third.json["scope"], "tools:call tools:list", "absent: the grant's");

    let got = app.get(&format!("/oauth-clients/{}", c.id), &admin).await;
    assert!(got.json["lastUsedAt"].is_string(), "{}", got.json);
    for action in ["authorization.code_redeemed", "authorization.refreshed"] {
        assert!(!audited(&app, &admin, action).await.is_empty(), "{action}");
    }
    let audit = app.get("/audit?limit=100", &admin).await.text;
    for secret in [&code, &refresh_1, &refresh_2, &access] {
        assert!(!audit.contains(secret.as_str()), "no code or token in the audit log");
    }
}

/// A rotated refresh token used again revokes the grant: the newest refresh
/// token and every access token of the grant stop working.
pub async fn a_reused_refresh_token_ends_the_grant(start: impl StartFn) {
    let app = TestApp::start(start).await;
    let t = app.signup("Acme").await;
    let admin = app.admin_token(&t).await;
    let c = public_client(&app, &admin).await;
    let first = redeem(&app, &c.id, &new_code(&app, &t, &c.id, "user-17").await, &[]).await;
    first.assert_status(200);
    let old = string(&first.json["refresh_token"]);
    let second = refresh(&app, &c.id, &old, &[]).await;
    second.assert_status(200);
    let (newest, access) = (
        string(&second.json["refresh_token"]),
        string(&second.json["access_token"]),
    );
    assert!(active(&app, &c.id, &access).await);
    refresh(&app, &c.id, &old, &[])
        .await
        .assert_oauth_error(400, "invalid_grant");
    refresh(&app, &c.id, &newest, &[])
        .await
        .assert_oauth_error(400, "invalid_grant");
    assert!(!active(&app, &c.id, &access).await, "the grant's access tokens die");
    assert!(!active(&app, &c.id, &string(&first.json["access_token"])).await);
    let reused = audited(&app, &admin, "authorization.refresh_reused").await;
    assert_eq!(reused.len(), 1);
    assert_eq!(reused[0]["details"]["grantRevoked"], true);
}

/// A second use of a code is refused and revokes what the first issued.
pub async fn a_reused_code_revokes_what_it_issued(start: impl StartFn) {
    let app = TestApp::start(start).await;
    let t = app.signup("Acme").await;
    let admin = app.admin_token(&t).await;
    let c = public_client(&app, &admin).await;
    let code = new_code(&app, &t, &c.id, "user-17").await;
    let first = redeem(&app, &c.id, &code, &[]).await;
    first.assert_status(200);
    let access = string(&first.json["access_token"]);
    assert!(active(&app, &c.id, &access).await);
    redeem(&app, &c.id, &code, &[])
        .await
        .assert_oauth_error(400, "invalid_grant");
    assert!(!active(&app, &c.id, &access).await, "the first access token dies");
    refresh(&app, &c.id, &string(&first.json["refresh_token"]), &[])
        .await
        .assert_oauth_error(400, "invalid_grant");
    let reused = audited(&app, &admin, "authorization.code_reused").await;
    assert_eq!(reused.len(), 1);
    assert_eq!(reused[0]["details"]["grantRevoked"], true);
}

/// What is changed in a code request, and the status and error expected.
type BadCase<'a> = (&'a str, Vec<(&'a str, &'a str)>, u16, &'a str);

/// Each bad input is refused with its RFC 6749 error (never a 500), and
/// each refusal of a known code is audited with its reason.
pub async fn bad_code_requests_are_refused(start: impl StartFn) {
    let app = TestApp::start_with(start, |b| b.authorization_code_ttl(Duration::from_secs(1))).await;
    let t = app.signup("Acme").await;
    let admin = app.admin_token(&t).await;
    let c = public_client(&app, &admin).await;
    let other = public_client(&app, &admin).await;
    let wrong = "wrong-verifier-wrong-verifier-wrong-verifier-x";
    let cases: Vec<BadCase> = vec![
        ("wrong verifier", vec![("code_verifier", wrong)], 400, "invalid_grant"),
        ("missing verifier", vec![("code_verifier", "")], 400, "invalid_grant"),
        ("short verifier", vec![("code_verifier", "abc")], 400, "invalid_grant"),
        (
            "redirect differs",
            vec![("redirect_uri", "http://127.0.0.1/other")],
            400,
            "invalid_grant",
        ),
        (
            "resource outside the grant",
            vec![("resource", "https://elsewhere.example/")],
            400,
            "invalid_target",
        ),
        (
            "another client",
            vec![("client_id", other.id.as_str())],
            400,
            "invalid_grant",
        ),
    ];
    for (what, extra, status, error) in cases {
        let code = new_code(&app, &t, &c.id, "user-17").await;
        let a = redeem(&app, &c.id, &code, &extra).await;
        assert_eq!(a.status.as_u16(), status, "{what}: {}", a.text);
        assert_eq!(a.json["error"], error, "{what}: {}", a.text);
    }
    redeem(&app, &c.id, "sa_ac_unknown", &[])
        .await
        .assert_oauth_error(400, "invalid_grant");
    redeem(
        &app,
        &c.id,
        &new_code(&app, &t, &c.id, "u").await,
        &[("redirect_uri", "")],
    )
    .await
    .assert_oauth_error(400, "invalid_request");
    // Expired: the shortest code lifetime is a second.
    let stale = new_code(&app, &t, &c.id, "user-17").await;
    tokio::time::sleep(Duration::from_millis(2_100)).await;
    redeem(&app, &c.id, &stale, &[])
        .await
        .assert_oauth_error(400, "invalid_grant");
    let denied = audited(&app, &admin, "token.denied").await;
    let reasons: Vec<String> = denied.iter().map(|e| string(&e["details"]["reason"])).collect();
    for reason in [
        "code_verifier_mismatch",
        "code_verifier_missing",
        "redirect_uri_mismatch",
        "resource_outside_grant",
        "code_of_another_client",
        "code_expired",
    ] {
        assert!(reasons.iter().any(|r| r == reason), "{reason} in {reasons:?}");
    }

    // A client of tenant B cannot redeem a code of tenant A, even with its
    // own id and secret.
    let b = app.signup("Beta").await;
    let b_admin = app.admin_token(&b).await;
    let theirs = confidential_client(&app, &b_admin, "client_secret_basic").await;
    let code = new_code(&app, &t, &c.id, "user-17").await;
    let a = app
        .form(
            "/oauth2/token",
            Some(&basic(&theirs.id, &theirs.secret)),
            &[
                ("grant_type", "authorization_code"),
                ("code", &code),
                ("redirect_uri", REDIRECT),
                ("code_verifier", VERIFIER),
            ],
        )
        .await;
    a.assert_oauth_error(400, "invalid_grant");
    // Nor may B's admin see A's tokens.
    let mine = redeem(&app, &c.id, &code_again(&app, &t, &c.id).await, &[]).await;
    mine.assert_status(200);
    let seen = app.introspect(&b_admin, &string(&mine.json["access_token"])).await;
    assert_eq!(seen.json["active"], false);
}

async fn code_again(app: &TestApp, t: &Tenant, client_id: &str) -> String {
    new_code(app, t, client_id, "user-17").await
}

/// Clients authenticate as they registered: Basic or form secret for a
/// confidential client, the client id alone for a public one; anything
/// else is `invalid_client` (401, with a Basic challenge).
pub async fn clients_authenticate_as_registered(start: impl StartFn) {
    let app = TestApp::start(start).await;
    let t = app.signup("Acme").await;
    let admin = app.admin_token(&t).await;
    let basic_client = confidential_client(&app, &admin, "client_secret_basic").await;
    let post_client = confidential_client(&app, &admin, "client_secret_post").await;
    let public = public_client(&app, &admin).await;
    let grant = |code: &str| {
        vec![
            ("grant_type".to_owned(), "authorization_code".to_owned()),
            ("code".to_owned(), code.to_owned()),
            ("redirect_uri".to_owned(), REDIRECT.to_owned()),
            ("code_verifier".to_owned(), VERIFIER.to_owned()),
        ]
    };
    let send = |auth: Option<String>, form: Vec<(String, String)>| {
        let app = &app;
        async move {
            let pairs: Vec<(&str, &str)> = form.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
            app.form("/oauth2/token", auth.as_deref(), &pairs).await
        }
    };
    let with = |mut form: Vec<(String, String)>, extra: &[(&str, &str)]| {
        form.extend(extra.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())));
        form
    };

    // Confidential, Basic: without its secret, with a wrong one, or by
    // form when it registered Basic: refused.
    let refusals = [
        (None, vec![("client_id", basic_client.id.as_str())]),
        (Some(basic(&basic_client.id, "sa_sk_wrong")), vec![]),
        (
            None,
            vec![
                ("client_id", basic_client.id.as_str()),
                ("client_secret", basic_client.secret.as_str()),
            ],
        ),
    ];
    for (auth, extra) in refusals {
        let code = new_code(&app, &t, &basic_client.id, "user-17").await;
        let a = send(auth, with(grant(&code), &extra)).await;
        a.assert_oauth_error(401, "invalid_client");
        assert!(a.header("www-authenticate").starts_with("Basic"), "{}", a.text);
    }
    let code = new_code(&app, &t, &basic_client.id, "user-17").await;
    let ok = send(Some(basic(&basic_client.id, &basic_client.secret)), grant(&code)).await;
    ok.assert_status(200);
    let rotated = send(
        Some(basic(&basic_client.id, &basic_client.secret)),
        vec![
            ("grant_type".into(), "refresh_token".into()),
            ("refresh_token".into(), string(&ok.json["refresh_token"])),
        ],
    )
    .await;
    rotated.assert_status(200);

    // Confidential, form secret.
    let code = new_code(&app, &t, &post_client.id, "user-17").await;
    send(None, with(grant(&code), &[("client_id", &post_client.id)]))
        .await
        .assert_oauth_error(401, "invalid_client");
    let code = new_code(&app, &t, &post_client.id, "user-17").await;
    send(
        None,
        with(
            grant(&code),
            &[("client_id", &post_client.id), ("client_secret", &post_client.secret)],
        ),
    )
    .await
    .assert_status(200);

    // A public client that sends a secret is refused.
    let code = new_code(&app, &t, &public.id, "user-17").await;
    send(Some(basic(&public.id, "sa_sk_made_up")), grant(&code))
        .await
        .assert_oauth_error(401, "invalid_client");
    // Nobody named at all.
    let code = new_code(&app, &t, &public.id, "user-17").await;
    send(None, grant(&code)).await.assert_oauth_error(401, "invalid_client");
}

/// The host locking a person ends their tokens at once; revoking a
/// refresh token revokes its grant, an access token only itself; a
/// person's token never reaches SentryAgent's management routes nor a
/// resource that accepts agents only.
pub async fn person_tokens_end_at_once_and_never_manage(start: impl StartFn) {
    let app = TestApp::start(start).await;
    let t = app.signup("Acme").await;
    let admin = app.admin_token(&t).await;
    let c = public_client(&app, &admin).await;
    let tokens = redeem(&app, &c.id, &new_code(&app, &t, &c.id, "user-17").await, &[]).await;
    tokens.assert_status(200);
    let access = string(&tokens.json["access_token"]);

    app.get("/agents", &access).await.assert_status(401);
    app.get("/tenants/me", &access).await.assert_status(401);
    // The suite's `/whoami` resource accepts agents only.
    app.get("//whoami", &access).await.assert_status(401);
    app.introspect(&access, &admin)
        .await
        .assert_oauth_error(401, "invalid_token");

    // An access token revoked by its client: that token only.
    let revoke = |token: String| {
        let (app, id) = (&app, c.id.clone());
        async move {
            app.form(
                "/oauth2/revoke",
                None,
                &[("client_id", id.as_str()), ("token", token.as_str())],
            )
            .await
        }
    };
    // Another client may not revoke it.
    let other = public_client(&app, &admin).await;
    app.form("/oauth2/revoke", None, &[("client_id", &other.id), ("token", &access)])
        .await
        .assert_oauth_error(400, "unauthorized_client");
    revoke(access.clone()).await.assert_status(200);
    assert!(!active(&app, &c.id, &access).await);
    let next = refresh(&app, &c.id, &string(&tokens.json["refresh_token"]), &[]).await;
    next.assert_status(200);
    let next_access = string(&next.json["access_token"]);
    assert!(active(&app, &c.id, &next_access).await);
    // A refresh token revoked by its client: the whole grant.
    revoke(string(&next.json["refresh_token"])).await.assert_status(200);
    assert!(!active(&app, &c.id, &next_access).await, "cascade to access tokens");
    refresh(&app, &c.id, &string(&next.json["refresh_token"]), &[])
        .await
        .assert_oauth_error(400, "invalid_grant");
    revoke("sa_rt_unknown".into()).await.assert_status(200);

    // The host locks the person: every token of theirs ends at once.
    let tokens = redeem(&app, &c.id, &new_code(&app, &t, &c.id, "user-18").await, &[]).await;
    tokens.assert_status(200);
    let access = string(&tokens.json["access_token"]);
    assert!(active(&app, &c.id, &access).await);
    app.idp
        .revoke_user(t.id.parse().expect("tenant"), "user-18")
        .await
        .expect("locked");
    assert!(!active(&app, &c.id, &access).await);
    refresh(&app, &c.id, &string(&tokens.json["refresh_token"]), &[])
        .await
        .assert_oauth_error(400, "invalid_grant");
}

/// A resource accepts people, agents or both as its policy says, through
/// the extractor of either kind and the `protect` middleware; a handler's
/// own scope check answers 403 with the resource's metadata (step-up).
pub async fn resources_accept_people_as_their_policy_says(start: impl StartFn) {
    let app = TestApp::start(start).await;
    let t = app.signup("Acme").await;
    let admin = app.admin_token(&t).await;
    let tenant = t.id.parse().expect("tenant");
    let either = format!("{}{RESOURCE_C_PATH}", app.base);
    let people = format!("{}{RESOURCE_B_PATH}", app.base);
    app.idp.protect(
        ResourcePolicy::new(&either)
            .any_tenant()
            .accept(Principals::AgentsAndPeople),
    );
    app.idp
        .protect(ResourcePolicy::new(&people).tenant(tenant).accept(Principals::People));
    let c = public_client(&app, &admin).await;
    let code = new_code_for(&app, &t, &c.id, "user-17", &[&either, &people]).await;
    let tokens = redeem(&app, &c.id, &code, &[]).await;
    tokens.assert_status(200);
    let person = string(&tokens.json["access_token"]);

    for path in [RESOURCE_C_PATH, RESOURCE_B_PATH] {
        let a = app.get(&format!("/{path}"), &person).await;
        a.assert_status(200);
        assert_eq!(a.json["kind"], "user", "{path}: {}", a.text);
        assert_eq!(a.json["userId"], "user-17");
        assert_eq!(a.json["clientId"], json!(c.id));
    }
    // An agent's token for the people-only resource is refused.
    let agent = app
        .form(
            "/oauth2/token",
            Some(&basic(&t.client_id, &t.secret)),
            &[("grant_type", "client_credentials"), ("resource", &people)],
        )
        .await;
    agent.assert_status(200);
    let a = app
        .get(&format!("/{RESOURCE_B_PATH}"), &string(&agent.json["access_token"]))
        .await;
    a.assert_status(401);
    assert!(
        a.header("www-authenticate").contains("resource_metadata="),
        "{}",
        a.text
    );
    // An agent without the handler's scope: 403 pointing at the metadata.
    let agent = app
        .form(
            "/oauth2/token",
            Some(&basic(&t.client_id, &t.secret)),
            &[("grant_type", "client_credentials"), ("resource", &either)],
        )
        .await;
    let a = app
        .get(&format!("/{RESOURCE_C_PATH}"), &string(&agent.json["access_token"]))
        .await;
    a.assert_error(403, "INSUFFICIENT_SCOPE");
    let challenge = a.header("www-authenticate");
    assert!(challenge.contains("error=\"insufficient_scope\""), "{challenge}");
    assert!(challenge.contains("scope=\"tools:call\""), "{challenge}");
    assert!(
        challenge.contains(&format!(
            "resource_metadata=\"{}/.well-known/oauth-protected-resource{RESOURCE_C_PATH}\"",
            app.base
        )),
        "{challenge}"
    );
    // `Agent::require_scope` answers the same way (RFC 9728 §5.1).
    let a = app.get(&format!("/{STEP_UP_PATH}"), &admin).await;
    a.assert_error(403, "INSUFFICIENT_SCOPE");
    let challenge = a.header("www-authenticate");
    assert!(challenge.contains("scope=\"reports:write\""), "{challenge}");
    assert!(
        challenge.contains(&format!(
            "resource_metadata=\"{}/.well-known/oauth-protected-resource\"",
            app.base
        )),
        "{challenge}"
    );

    // Locked: the person's token stops at once everywhere.
    app.idp.revoke_user(tenant, "user-17").await.expect("locked");
    let a = app.get(&format!("/{RESOURCE_C_PATH}"), &person).await;
    a.assert_status(401);
    assert!(a.header("www-authenticate").contains("invalid_token"));
}

/// A code is read before it is spent: another client, a wrong secret, a
/// wrong redirect URI, a missing or wrong verifier or a resource outside
/// the grant are refused and leave the code to its client, which then
/// redeems it once (a stolen code is worth nothing without the verifier,
/// and cannot be burnt by the thief either); no replay is detected.
pub async fn a_stolen_code_stays_its_clients(start: impl StartFn) {
    let app = TestApp::start(start).await;
    let t = app.signup("Acme").await;
    let admin = app.admin_token(&t).await;
    let c = public_client(&app, &admin).await;
    let other = public_client(&app, &admin).await;
    let code = new_code(&app, &t, &c.id, "user-17").await;
    let wrong = "wrong-verifier-wrong-verifier-wrong-verifier-x";
    for (what, extra) in [
        ("another client", vec![("client_id", other.id.as_str())]),
        ("wrong verifier", vec![("code_verifier", wrong)]),
        ("no verifier", vec![("code_verifier", "")]),
        ("redirect differs", vec![("redirect_uri", "http://127.0.0.1/other")]),
        ("resource outside", vec![("resource", "https://elsewhere.example/")]),
    ] {
        let a = redeem(&app, &c.id, &code, &extra).await;
        assert_eq!(a.status.as_u16(), 400, "{what}: {}", a.text);
    }
    let ok = redeem(&app, &c.id, &code, &[]).await;
    ok.assert_status(200);
    redeem(&app, &c.id, &code, &[])
        .await
        .assert_oauth_error(400, "invalid_grant");
    assert_eq!(audited(&app, &admin, "authorization.code_reused").await.len(), 1);

    // A confidential client: a wrong secret does not spend its code either.
    let conf = confidential_client(&app, &admin, "client_secret_basic").await;
    let code = new_code(&app, &t, &conf.id, "user-17").await;
    let form = [
        ("grant_type", "authorization_code"),
        ("code", code.as_str()),
        ("redirect_uri", REDIRECT),
        ("code_verifier", VERIFIER),
    ];
    app.form("/oauth2/token", Some(&basic(&conf.id, "sa_sk_wrong")), &form)
        .await
        .assert_oauth_error(401, "invalid_client");
    app.form("/oauth2/token", Some(&basic(&conf.id, &conf.secret)), &form)
        .await
        .assert_status(200);
}

/// The code and refresh grants count against the client's own quota (the
/// `token` group, per client of its tenant), as the client-credentials
/// grant does: over it, 429 with `Retry-After`, the code not spent and the
/// refresh token not rotated; another client is not affected.
pub async fn code_and_refresh_grants_are_limited_per_client(start: impl StartFn) {
    use sentryagent_core::ratelimit::RouteGroup;
    let app = TestApp::start_with(start, |b| {
        b.rate_limit(RouteGroup::Token, "2/4s".parse().expect("a quota"))
    })
    .await;
    let t = app.signup("Acme").await;
    let admin = app.admin_token(&t).await;
    let c = public_client(&app, &admin).await;
    let other = public_client(&app, &admin).await;
    let first = redeem(&app, &c.id, &new_code(&app, &t, &c.id, "u1").await, &[]).await;
    first.assert_status(200);
    let second = refresh(&app, &c.id, &string(&first.json["refresh_token"]), &[]).await;
    second.assert_status(200);
    let code = new_code(&app, &t, &c.id, "u2").await;
    let limited = redeem(&app, &c.id, &code, &[]).await;
    limited.assert_error(429, "RATE_LIMITED");
    let retry: u64 = limited.header("retry-after").parse().expect("Retry-After seconds");
    assert!((1..=4).contains(&retry), "{retry}");
    let refresh_token = string(&second.json["refresh_token"]);
    refresh(&app, &c.id, &refresh_token, &[])
        .await
        .assert_error(429, "RATE_LIMITED");
    redeem(&app, &other.id, &new_code(&app, &t, &other.id, "u3").await, &[])
        .await
        .assert_status(200);
    // Once the quota refills, the code and the token still work: neither
    // was spent by the refusal.
    tokio::time::sleep(Duration::from_millis(4_100)).await;
    redeem(&app, &c.id, &code, &[]).await.assert_status(200);
    refresh(&app, &c.id, &refresh_token, &[]).await.assert_status(200);
}
