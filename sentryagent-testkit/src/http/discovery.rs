//! The authorization server metadata (RFC 8414) against the RFC's list of
//! members: every member one the RFC (or OpenID discovery, for the OpenID
//! configuration) names, of its type, required ones present, and true of
//! this server.

use serde_json::{Value, json};

use crate::{StartFn, TestApp};
use sentryagent_core::resource::ResourcePolicy;

/// RFC 8414 §2's members with their JSON types, and whether each is
/// REQUIRED (`authorization_endpoint` is, unless no grant uses it: none does
/// here).
const RFC_8414: &[(&str, &str, bool)] = &[
    ("issuer", "string", true),
    ("authorization_endpoint", "string", false),
    ("token_endpoint", "string", false),
    ("jwks_uri", "string", false),
    ("registration_endpoint", "string", false),
    ("scopes_supported", "array", false),
    ("response_types_supported", "array", true),
    ("response_modes_supported", "array", false),
    ("grant_types_supported", "array", false),
    ("token_endpoint_auth_methods_supported", "array", false),
    ("token_endpoint_auth_signing_alg_values_supported", "array", false),
    ("service_documentation", "string", false),
    ("ui_locales_supported", "array", false),
    ("op_policy_uri", "string", false),
    ("op_tos_uri", "string", false),
    ("revocation_endpoint", "string", false),
    ("revocation_endpoint_auth_methods_supported", "array", false),
    ("revocation_endpoint_auth_signing_alg_values_supported", "array", false),
    ("introspection_endpoint", "string", false),
    ("introspection_endpoint_auth_methods_supported", "array", false),
    (
        "introspection_endpoint_auth_signing_alg_values_supported",
        "array",
        false,
    ),
    ("code_challenge_methods_supported", "array", false),
    // Registered by draft-ietf-oauth-client-id-metadata-document.
    ("client_id_metadata_document_supported", "boolean", false),
    // RFC 9207 §3.
    ("authorization_response_iss_parameter_supported", "boolean", false),
];

/// The two OpenID Connect Discovery members the OpenID configuration adds.
const OPENID_EXTRA: &[(&str, &str)] = &[
    ("subject_types_supported", "array"),
    ("id_token_signing_alg_values_supported", "array"),
];

fn json_type(v: &Value) -> &'static str {
    match v {
        Value::String(_) => "string",
        Value::Bool(_) => "boolean",
        Value::Array(a) if a.iter().all(Value::is_string) => "array",
        _ => "other",
    }
}

pub(crate) fn check_members(doc: &Value, extra: &[(&str, &str)]) {
    let members = doc.as_object().expect("an object");
    for (name, value) in members {
        let expected = RFC_8414
            .iter()
            .map(|(n, t, _)| (*n, *t))
            .chain(extra.iter().copied())
            .find(|(n, _)| n == name)
            .unwrap_or_else(|| panic!("`{name}` is no RFC 8414 member: {doc}"));
        assert_eq!(json_type(value), expected.1, "`{name}`: {doc}");
    }
    for (name, _, required) in RFC_8414 {
        assert!(!required || members.contains_key(*name), "`{name}` is REQUIRED: {doc}");
    }
}

/// The metadata names only RFC 8414 members of the right types, and says
/// what this server does: the client-credentials grant at the token
/// and JWT-bearer grants at the token endpoint, no authorization endpoint (so
/// no response type, no PKCE), `private_key_jwt` with the algorithms its
/// assertions may use, and the scopes of the management API and of the
/// host's resources.
pub async fn authorization_server_metadata_follows_rfc_8414(start: impl StartFn) {
    let app = TestApp::start(start).await;
    app.idp.protect(
        ResourcePolicy::new(format!("{}/mcp", app.base))
            .any_tenant()
            .require_scope("tools:call"),
    );
    let get = |path: &'static str| app.send(app.request(reqwest::Method::GET, path, None));

    let doc = get("//.well-known/oauth-authorization-server").await;
    doc.assert_status(200);
    let doc = doc.json;
    check_members(&doc, &[]);
    assert_eq!(doc["issuer"], json!(app.base));
    assert_eq!(
        doc["token_endpoint"],
        json!(format!("{}/api/v1/oauth2/token", app.base))
    );
    assert_eq!(doc["response_types_supported"], json!([]));
    assert_eq!(
        doc["grant_types_supported"],
        json!([
            "client_credentials",
            "authorization_code",
            "refresh_token",
            "urn:ietf:params:oauth:grant-type:jwt-bearer"
        ])
    );
    assert_eq!(
        doc["token_endpoint_auth_methods_supported"],
        json!(["client_secret_basic", "client_secret_post", "private_key_jwt", "none"])
    );
    assert_eq!(
        doc["token_endpoint_auth_signing_alg_values_supported"],
        json!(["ES256", "RS256", "EdDSA"])
    );
    for absent in [
        "authorization_endpoint",
        "code_challenge_methods_supported",
        "registration_endpoint",
    ] {
        assert!(
            doc.get(absent).is_none(),
            "`{absent}` claims what the server lacks: {doc}"
        );
    }
    for method in [
        "revocation_endpoint_auth_methods_supported",
        "introspection_endpoint_auth_methods_supported",
    ] {
        assert_eq!(
            doc[method],
            json!([
                "client_secret_basic",
                "client_secret_post",
                "private_key_jwt",
                "none",
                "bearer"
            ])
        );
    }
    let scopes = doc["scopes_supported"].as_array().expect("scopes");
    for scope in ["agents:read", "tokens:introspect", "tools:call"] {
        assert!(scopes.contains(&json!(scope)), "{scope}: {doc}");
    }

    let openid = get("//.well-known/openid-configuration").await;
    openid.assert_status(200);
    check_members(&openid.json, OPENID_EXTRA);
    assert_eq!(openid.json["subject_types_supported"], json!(["public"]));
}
