//! The permission rule over a real socket: a representative privilege
//! matrix (each single management scope, a host scope, admin, a bootstrap
//! token, a demoted agent), demotion reaching live tokens, and host routes
//! that accept only the tenants their resource policy names. The
//! exhaustive matrix runs in process against the core's decision function
//! (`sentryagent-core`'s `permission` tests).

use std::time::Duration;

use reqwest::Method;
use serde_json::{Value, json};

use crate::oidc::StandInIssuer;
use crate::{StartFn, TestApp, string};
use sentryagent_core::resource::ResourcePolicy;

const AUD: &str = "https://sentryagent.test/oidc";

const MANAGEMENT: &[&str] = &[
    "agents:read",
    "agents:write",
    "credentials:write",
    "tokens:introspect",
    "audit:read",
    "trust-policies:write",
    "billing:write",
    "usage:read",
    "oauth-clients:write",
    "admin",
];

/// One request of the matrix: who may make it, given what the caller holds.
struct Case {
    what: &'static str,
    method: Method,
    path: String,
    body: Option<Value>,
    expect: fn(&Held) -> (u16, &'static str),
}

/// What a principal holds now, as the rule reads it.
struct Held {
    scopes: Vec<String>,
    bootstrap: bool,
}

impl Held {
    fn has(&self, scope: &str) -> bool {
        let admin = self.scopes.iter().any(|s| s == "admin");
        self.scopes.iter().any(|s| s == scope) || (admin && MANAGEMENT.contains(&scope))
    }

    fn holds(&self, scope: &str) -> bool {
        self.scopes.iter().any(|s| s == scope || s == "admin")
    }

    fn admin(&self) -> bool {
        self.scopes.iter().any(|s| s == "admin")
    }
}

const OK: (u16, &str) = (200, "");
const CREATED: (u16, &str) = (201, "");
const SCOPE: (u16, &str) = (403, "INSUFFICIENT_SCOPE");
const CEILING: (u16, &str) = (403, "SCOPE_CEILING");

fn needs(h: &Held, scope: &str, then: (u16, &'static str)) -> (u16, &'static str) {
    if h.has(scope) { then } else { SCOPE }
}

/// Acting on an agent: the route's scope, no bootstrap token, the built-in
/// rule, then the target ceiling.
fn act(h: &Held, scope: &str, target: &[&str], built_in: bool, then: (u16, &'static str)) -> (u16, &'static str) {
    if !h.has(scope) {
        SCOPE
    } else if h.bootstrap || (built_in && !h.admin()) || target.iter().any(|s| !h.holds(s)) {
        CEILING
    } else {
        then
    }
}

async fn agent_with(app: &TestApp, admin: &str, name: &str, scopes: &[&str]) -> (String, String) {
    let r = app.register(admin, name, json!({ "scopes": scopes })).await;
    let token = app.token(&r.client_id, &r.secret, None).await;
    (r.id, token)
}

/// Each kind of principal against a representative set of routes, with the
/// status and code the rule gives.
pub async fn privilege_matrix_over_http(start: impl StartFn) {
    let issuer = StandInIssuer::start().await;
    let configured = issuer.clone();
    let app = TestApp::start_with(start, move |b| {
        configured
            .configure(b, AUD)
            .jwks_refetch_interval(Duration::from_secs(30))
            .enforce_tiers(false)
    })
    .await;
    let t = app.signup("Acme").await;
    let admin = app.admin_token(&t).await;
    let agents = app.get("/agents?q=admin%40sentryagent.local", &admin).await;
    let admin_agent = string(&agents.json["items"][0]["agentId"]);
    let plain = app.register(&admin, "plain@acme.example", json!({})).await.id;
    let rich = app
        .register(
            &admin,
            "rich@acme.example",
            json!({"scopes": ["billing:write", "reports:write"]}),
        )
        .await
        .id;

    let mut principals: Vec<(String, String, Held)> = Vec::new();
    let mut sets: Vec<Vec<&str>> = vec![
        vec![],
        vec!["reports:read"],
        vec!["agents:read", "agents:write", "credentials:write"],
    ];
    sets.extend(MANAGEMENT.iter().map(|s| vec![*s]));
    for (i, set) in sets.iter().enumerate() {
        let (_, token) = agent_with(&app, &admin, &format!("p{i}@acme.example"), set).await;
        let held = Held {
            scopes: set.iter().map(|s| (*s).to_owned()).collect(),
            bootstrap: false,
        };
        principals.push((format!("{set:?}"), token, held));
    }
    // Demoted after its token was issued: the token says admin, the agent
    // now holds nothing.
    let (demoted, token) = agent_with(&app, &admin, "demoted@acme.example", &["admin"]).await;
    app.patch(&format!("/agents/{demoted}"), &admin, &json!({"scopes": []}))
        .await
        .assert_status(200);
    principals.push((
        "demoted admin".into(),
        token,
        Held {
            scopes: vec![],
            bootstrap: false,
        },
    ));
    // A bootstrap token from a policy whose ceiling is empty.
    app.post(
        "/oidc/trust-policies",
        &admin,
        &json!({"provider": "github", "repository": "acme/app"}),
    )
    .await
    .assert_status(201);
    let github = issuer.sign(&issuer.claims("acme/app", "refs/heads/main", AUD));
    let exchanged = app
        .json(
            Method::POST,
            "/oidc/token",
            None,
            &json!({"token": github, "tenantId": t.id}),
        )
        .await;
    exchanged.assert_status(200);
    principals.push((
        "bootstrap".into(),
        string(&exchanged.json["access_token"]),
        Held {
            scopes: vec!["agents:write".into()],
            bootstrap: true,
        },
    ));

    let cases = |n: usize| -> Vec<Case> {
        vec![
            Case {
                what: "register an agent",
                method: Method::POST,
                path: "/agents".into(),
                body: Some(json!({"name": format!("new{n}@acme.example")})),
                expect: |h| needs(h, "agents:write", CREATED),
            },
            Case {
                what: "register an agent with a host scope",
                method: Method::POST,
                path: "/agents".into(),
                body: Some(json!({"name": format!("host{n}@acme.example"), "scopes": ["reports:read"]})),
                expect: |h| {
                    let granted = !h.bootstrap && h.holds("reports:read");
                    needs(h, "agents:write", if granted { CREATED } else { CEILING })
                },
            },
            Case {
                what: "update an agent without scopes",
                method: Method::PATCH,
                path: format!("/agents/{plain}"),
                body: Some(json!({"description": format!("changed {n}")})),
                expect: |h| act(h, "agents:write", &[], false, OK),
            },
            Case {
                what: "update the admin agent",
                method: Method::PATCH,
                path: format!("/agents/{admin_agent}"),
                body: Some(json!({"description": "The tenant's built-in administrator"})),
                expect: |h| act(h, "agents:write", &["admin"], true, OK),
            },
            Case {
                what: "a credential for the admin agent",
                method: Method::POST,
                path: format!("/agents/{admin_agent}/credentials"),
                body: Some(json!({})),
                expect: |h| act(h, "credentials:write", &["admin"], true, CREATED),
            },
            Case {
                what: "a credential for an agent holding more",
                method: Method::POST,
                path: format!("/agents/{rich}/credentials"),
                body: Some(json!({})),
                expect: |h| {
                    act(
                        h,
                        "credentials:write",
                        &["billing:write", "reports:write"],
                        false,
                        CREATED,
                    )
                },
            },
            Case {
                what: "a credential for an agent without scopes",
                method: Method::POST,
                path: format!("/agents/{plain}/credentials"),
                body: Some(json!({})),
                expect: |h| act(h, "credentials:write", &[], false, CREATED),
            },
            Case {
                what: "list agents",
                method: Method::GET,
                path: "/agents".into(),
                body: None,
                expect: |h| needs(h, "agents:read", OK),
            },
            Case {
                what: "read the audit log",
                method: Method::GET,
                path: "/audit?limit=1".into(),
                body: None,
                expect: |h| needs(h, "audit:read", OK),
            },
            Case {
                what: "read usage",
                method: Method::GET,
                path: "/usage".into(),
                body: None,
                expect: |h| needs(h, "usage:read", OK),
            },
            Case {
                what: "register an OAuth client",
                method: Method::POST,
                path: "/oauth-clients".into(),
                body: Some(json!({"kind": "public", "redirectUris": ["http://127.0.0.1/cb"]})),
                expect: |h| act(h, "oauth-clients:write", &[], false, CREATED),
            },
            Case {
                what: "list people's consents",
                method: Method::GET,
                path: "/consents".into(),
                body: None,
                expect: |h| act(h, "admin", &[], false, OK),
            },
            Case {
                what: "a bootstrap policy with a host-scope ceiling",
                method: Method::POST,
                path: "/oidc/trust-policies".into(),
                body: Some(json!({"provider": "github", "repository": "acme/ci", "maxScopes": ["reports:read"]})),
                expect: |h| {
                    let granted = !h.bootstrap && h.holds("agents:write") && h.holds("reports:read");
                    needs(h, "trust-policies:write", if granted { CREATED } else { CEILING })
                },
            },
        ]
    };
    let mut n = 0;
    for (who, token, held) in &principals {
        for case in cases(n) {
            n += 1;
            let mut request = app.request(case.method.clone(), &case.path, Some(token));
            if let Some(body) = &case.body {
                request = request.json(body);
            }
            let a = app.send(request).await;
            let (status, code) = (case.expect)(held);
            assert_eq!(a.status.as_u16(), status, "{who}: {}: {}", case.what, a.text);
            if !code.is_empty() {
                assert_eq!(a.json["code"], code, "{who}: {}: {}", case.what, a.text);
            }
        }
    }
    // The admin agent is as it was: no one below admin changed it.
    let seen = app.get(&format!("/agents/{admin_agent}"), &admin).await;
    assert_eq!(seen.json["scopes"], json!(["admin"]));
    assert_eq!(seen.json["status"], "active");
}

/// An agent demoted from `admin` loses `admin` on its live token at once: on
/// management routes, at introspection and at host routes.
pub async fn demotion_reaches_live_tokens(start: impl StartFn) {
    let app = TestApp::start(start).await;
    let t = app.signup("Acme").await;
    let admin = app.admin_token(&t).await;
    let (deputy, token) = agent_with(&app, &admin, "deputy@acme.example", &["admin", "reports:read"]).await;
    app.get("/audit", &token).await.assert_status(200);
    app.patch(
        &format!("/agents/{deputy}"),
        &admin,
        &json!({"scopes": ["agents:read"]}),
    )
    .await
    .assert_status(200);
    app.get("/audit", &token).await.assert_error(403, "INSUFFICIENT_SCOPE");
    app.post("/agents", &token, &json!({"name": "x@acme.example"}))
        .await
        .assert_error(403, "INSUFFICIENT_SCOPE");
    // The token never carried `agents:read`: it is worth what it says and
    // the agent still holds, which is nothing.
    app.get("/agents", &token).await.assert_error(403, "INSUFFICIENT_SCOPE");
    let me = app.whoami(&token).await;
    me.assert_status(200);
    assert_eq!(me.json["scopes"], json!([]));
    let seen = app.introspect(&admin, &token).await;
    assert_eq!(seen.json["active"], true);
    assert_eq!(seen.json["scope"], "");
    // A token issued now carries what the agent holds now.
    app.patch(
        &format!("/agents/{deputy}"),
        &admin,
        &json!({"scopes": ["admin", "reports:read"]}),
    )
    .await
    .assert_status(200);
    app.get("/audit", &token).await.assert_status(200);
    assert_eq!(
        app.whoami(&token).await.json["scopes"],
        json!(["admin", "reports:read"])
    );
}

/// A host route accepts the tenants its resource policy names and no
/// other: a self-signed-up stranger holding the same host scope is refused.
pub async fn host_routes_accept_only_their_tenants(start: impl StartFn) {
    let app = TestApp::start(start).await;
    let ours = app.signup("Acme").await;
    let our_admin = app.admin_token(&ours).await;
    let tenant = ours.id.parse().expect("a tenant id");
    app.idp.protect(
        ResourcePolicy::new(app.base.clone())
            .tenant(tenant)
            .require_scope("reports:read"),
    );
    let (_, reader) = agent_with(&app, &our_admin, "reader@acme.example", &["reports:read"]).await;
    let (_, other) = agent_with(&app, &our_admin, "other@acme.example", &["agents:read"]).await;
    app.whoami(&reader).await.assert_status(200);
    app.whoami(&other).await.assert_error(403, "INSUFFICIENT_SCOPE");
    app.whoami(&our_admin).await.assert_error(403, "INSUFFICIENT_SCOPE");

    let stranger = app.signup("Stranger").await;
    let stranger_admin = app.admin_token(&stranger).await;
    let (_, theirs) = agent_with(&app, &stranger_admin, "reader@stranger.example", &["reports:read"]).await;
    let refused = app.whoami(&theirs).await;
    refused.assert_error(401, "UNAUTHORIZED");
    assert!(string(&refused.json["message"]).contains("tenant"), "{}", refused.text);
}
