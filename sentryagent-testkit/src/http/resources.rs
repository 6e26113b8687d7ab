//! Protected resources over a real socket: their RFC 9728 metadata where
//! each identifier puts it, the extractors' `WWW-Authenticate` challenges,
//! and RFC 8707 resource indicators at the token endpoint, with tokens bound
//! to the resource they were asked for.

use serde_json::{Value, json};

use crate::{RESOURCE_A_PATH, RESOURCE_B_PATH, StartFn, TestApp, basic, string};
use sentryagent_core::resource::ResourcePolicy;

const WELL_KNOWN: &str = "/.well-known/oauth-protected-resource";

/// The members of RFC 9728 §2 and the JSON type of each.
const RFC_9728_MEMBERS: &[(&str, &str)] = &[
    ("resource", "string"),
    ("authorization_servers", "array"),
    ("jwks_uri", "string"),
    ("scopes_supported", "array"),
    ("bearer_methods_supported", "array"),
    ("resource_signing_alg_values_supported", "array"),
    ("resource_name", "string"),
    ("resource_documentation", "string"),
    ("resource_policy_uri", "string"),
    ("resource_tos_uri", "string"),
    ("tls_client_certificate_bound_access_tokens", "boolean"),
    ("authorization_details_types_supported", "array"),
    ("dpop_signing_alg_values_supported", "array"),
    ("dpop_bound_access_tokens_required", "boolean"),
    ("signed_metadata", "string"),
];

fn json_type(v: &Value) -> &'static str {
    match v {
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Bool(_) => "boolean",
        Value::Object(_) => "object",
        Value::Number(_) => "number",
        Value::Null => "null",
    }
}

/// Every member is one RFC 9728 names, of its type, and none is empty.
fn assert_rfc_9728(doc: &Value) {
    let members = doc.as_object().expect("an object");
    for (name, value) in members {
        let expected = RFC_9728_MEMBERS
            .iter()
            .find(|(n, _)| n == name)
            .unwrap_or_else(|| panic!("`{name}` is not an RFC 9728 member: {doc}"));
        assert_eq!(json_type(value), expected.1, "`{name}`: {doc}");
        assert_ne!(value, &json!([]), "`{name}` is empty (§2: omit it): {doc}");
    }
}

/// Protects the resources at `RESOURCE_A_PATH` and `RESOURCE_B_PATH` for
/// `tenant`, A with a required scope; returns their identifiers.
fn protect_both(app: &TestApp, tenant: &str) -> (String, String) {
    let tenant = tenant.parse().expect("a tenant id");
    let a = format!("{}{RESOURCE_A_PATH}", app.base);
    let b = format!("{}{RESOURCE_B_PATH}", app.base);
    app.idp.protect(
        ResourcePolicy::new(&a)
            .tenant(tenant)
            .require_scope("tools:call")
            .name("Tools"),
    );
    app.idp.protect(ResourcePolicy::new(&b).tenant(tenant));
    (a, b)
}

/// A token for `resources` (repeated `resource` parameters).
async fn token_for(app: &TestApp, client_id: &str, secret: &str, resources: &[&str]) -> crate::Answer {
    let mut pairs = vec![("grant_type", "client_credentials")];
    pairs.extend(resources.iter().map(|r| ("resource", *r)));
    app.form("/oauth2/token", Some(&basic(client_id, secret)), &pairs).await
}

/// Each policy publishes its metadata where its identifier puts it: the
/// root form for a resource at the root, the path-suffixed form for one at
/// a path; nowhere else.
pub async fn resource_metadata_is_published_where_the_identifier_puts_it(start: impl StartFn) {
    let app = TestApp::start(start).await;
    let t = app.signup("Acme").await;
    let (a, _) = protect_both(&app, &t.id);

    let root = app
        .send(app.request(reqwest::Method::GET, &format!("/{WELL_KNOWN}"), None))
        .await;
    root.assert_status(200);
    assert_eq!(
        root.json,
        json!({
            "resource": app.base,
            "authorization_servers": [app.base],
            "bearer_methods_supported": ["header"],
        })
    );
    assert_rfc_9728(&root.json);

    let at_a = app
        .send(app.request(reqwest::Method::GET, &format!("/{WELL_KNOWN}{RESOURCE_A_PATH}"), None))
        .await;
    at_a.assert_status(200);
    assert_eq!(
        at_a.json,
        json!({
            "resource": a,
            "authorization_servers": [app.base],
            "scopes_supported": ["tools:call"],
            "bearer_methods_supported": ["header"],
            "resource_name": "Tools",
        })
    );
    assert_rfc_9728(&at_a.json);
    assert!(at_a.header("content-type").starts_with("application/json"));

    for nowhere in ["/nope", "/resource-a/deeper", "/resource"] {
        let answer = app
            .send(app.request(reqwest::Method::GET, &format!("/{WELL_KNOWN}{nowhere}"), None))
            .await;
        answer.assert_error(404, "NOT_FOUND");
    }
}

/// The extractor's refusals carry RFC 6750 challenges that point at the
/// resource's metadata: no token (or another scheme) gets none of the error
/// codes, a bad token `invalid_token`, a missing scope 403
/// `insufficient_scope` naming it; the body stays the API's envelope.
pub async fn refusals_challenge_with_the_resource_metadata(start: impl StartFn) {
    let app = TestApp::start(start).await;
    let t = app.signup("Acme").await;
    let admin = app.admin_token(&t).await;
    protect_both(&app, &t.id);
    let metadata = format!("{}{WELL_KNOWN}{RESOURCE_A_PATH}", app.base);
    let a = format!("/{RESOURCE_A_PATH}");

    for authorization in [None, Some("Basic Zm9vOmJhcg==")] {
        let mut request = app.request(reqwest::Method::GET, &a, None);
        if let Some(value) = authorization {
            request = request.header("authorization", value);
        }
        let answer = app.send(request).await;
        answer.assert_error(401, "UNAUTHORIZED");
        assert_eq!(
            answer.header("www-authenticate"),
            format!("Bearer realm=\"sentryagent\", resource_metadata=\"{metadata}\"")
        );
    }

    let bad = app.get(&a, "not-a-token").await;
    bad.assert_error(401, "UNAUTHORIZED");
    assert_eq!(
        bad.header("www-authenticate"),
        format!(
            "Bearer realm=\"sentryagent\", error=\"invalid_token\", \
             error_description=\"the access token is invalid or expired\", resource_metadata=\"{metadata}\""
        )
    );

    // A token of the resource without its required scope: step up.
    let agent = app
        .register(&admin, "reader@acme.example", json!({ "scopes": ["reports:read"] }))
        .await;
    let a_url = format!("{}{RESOURCE_A_PATH}", app.base);
    let issued = token_for(&app, &agent.client_id, &agent.secret, &[&a_url]).await;
    issued.assert_status(200);
    let short = app.get(&a, &string(&issued.json["access_token"])).await;
    short.assert_error(403, "INSUFFICIENT_SCOPE");
    assert_eq!(
        short.header("www-authenticate"),
        format!(
            "Bearer realm=\"sentryagent\", error=\"insufficient_scope\", scope=\"tools:call\", \
             resource_metadata=\"{metadata}\""
        )
    );
}

/// A token asked for resource A carries A as its audience: A's extractor
/// takes it, B's and the IdP's own routes refuse it; a token asked for both
/// carries both (an array) and reaches both.
pub async fn a_token_for_one_resource_is_refused_by_another(start: impl StartFn) {
    let app = TestApp::start(start).await;
    let t = app.signup("Acme").await;
    let admin = app.admin_token(&t).await;
    let (a, b) = protect_both(&app, &t.id);
    let agent = app
        .register(&admin, "tools@acme.example", json!({ "scopes": ["tools:call"] }))
        .await;

    let issued = token_for(&app, &agent.client_id, &agent.secret, &[&a]).await;
    issued.assert_status(200);
    let for_a = string(&issued.json["access_token"]);
    app.get(&format!("/{RESOURCE_A_PATH}"), &for_a).await.assert_status(200);
    let refused = app.get(&format!("/{RESOURCE_B_PATH}"), &for_a).await;
    refused.assert_error(401, "UNAUTHORIZED");
    assert!(refused.header("www-authenticate").contains("error=\"invalid_token\""));
    app.whoami(&for_a).await.assert_error(401, "UNAUTHORIZED");
    app.get("/agents", &for_a).await.assert_error(401, "UNAUTHORIZED");
    assert_eq!(app.introspect(&admin, &for_a).await.json["aud"], json!(a));

    let issued = token_for(&app, &agent.client_id, &agent.secret, &[&a, &b, &a]).await;
    issued.assert_status(200);
    let for_both = string(&issued.json["access_token"]);
    app.get(&format!("/{RESOURCE_A_PATH}"), &for_both)
        .await
        .assert_status(200);
    app.get(&format!("/{RESOURCE_B_PATH}"), &for_both)
        .await
        .assert_status(200);
    app.whoami(&for_both).await.assert_error(401, "UNAUTHORIZED");
    assert_eq!(app.introspect(&admin, &for_both).await.json["aud"], json!([a, b]));
}

/// RFC 8707 §2: each `resource` must be an absolute URI without a fragment,
/// and one a policy names for the client's tenant; anything else is
/// `invalid_target` and no token. Only `resource` may repeat.
pub async fn resource_indicators_are_checked(start: impl StartFn) {
    let app = TestApp::start(start).await;
    let t = app.signup("Acme").await;
    let admin = app.admin_token(&t).await;
    let (a, _) = protect_both(&app, &t.id);
    let agent = app.register(&admin, "tools@acme.example", json!({})).await;
    let (id, secret) = (agent.client_id.as_str(), agent.secret.as_str());

    let fragment = format!("{a}#frag");
    let unknown = format!("{}/resource-c", app.base);
    for bad in ["/resource-a", "resource-a", fragment.as_str(), unknown.as_str()] {
        token_for(&app, id, secret, &[bad])
            .await
            .assert_oauth_error(400, "invalid_target");
        // One bad resource among good ones spoils the request.
        token_for(&app, id, secret, &[&a, bad])
            .await
            .assert_oauth_error(400, "invalid_target");
    }

    // A policy that does not accept the tenant: as if it did not exist.
    let stranger = app.signup("Stranger").await;
    let stranger_admin = app.admin_token(&stranger).await;
    let theirs = app.register(&stranger_admin, "x@stranger.example", json!({})).await;
    token_for(&app, &theirs.client_id, &theirs.secret, &[&a])
        .await
        .assert_oauth_error(400, "invalid_target");

    let basic = basic(id, secret);
    let cc = ("grant_type", "client_credentials");
    app.form("/oauth2/token", Some(&basic), &[cc, ("scope", "a"), ("scope", "b")])
        .await
        .assert_oauth_error(400, "invalid_request");
    app.form(
        "/oauth2/token",
        Some(&basic),
        &[cc, ("audience", &app.base), ("resource", &a)],
    )
    .await
    .assert_oauth_error(400, "invalid_request");
    let same = app
        .form("/oauth2/token", Some(&basic), &[cc, ("audience", &a), ("resource", &a)])
        .await;
    same.assert_status(200);
    assert_eq!(
        app.introspect(&admin, &string(&same.json["access_token"])).await.json["aud"],
        json!(a)
    );
    let audience_only = app.form("/oauth2/token", Some(&basic), &[cc, ("audience", &a)]).await;
    audience_only.assert_status(200);
}
