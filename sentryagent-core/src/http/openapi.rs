//! The OpenAPI 3.1 document of the route table, served at `GET /openapi.json`.
//!
//! Each handler describes its own operation with `#[utoipa::path]` (method,
//! path, operation id, request body, success and route-specific answers),
//! and the route table is built from those descriptions; this module joins
//! them and adds what the route layer does for every route of a kind, read
//! from the table itself:
//! the security of bearer routes, the answers of authentication, rate
//! limits, body checks and backend outages, and the rate-limit headers.

use bytes::Bytes;
use serde_json::{Map, Value, json};
use utoipa::OpenApi as _;

use super::error::ErrorBody;
use super::{Auth, routes};
use crate::{OAuthError, SentryAgent, Settings};

/// What the document has beside its operations: the schemas no operation
/// names on its own, and the tags.
#[derive(utoipa::OpenApi)]
#[openapi(
    components(schemas(OAuthError, ErrorBody)),
    tags(
        (name = "Tenants", description = "Sign-up and the caller's tenant."),
        (name = "Agents", description = "The agent registry."),
        (name = "Credentials", description = "Client credentials of an agent: generate, list, rotate, revoke."),
        (name = "OAuth 2.0", description = "The client-credentials grant, introspection (RFC 7662) and revocation (RFC 7009)."),
        (name = "Discovery", description = "JWKS, RFC 8414 and OpenID metadata, and this document."),
        (name = "DIDs", description = "Agents' `did:web` DID documents and public keys."),
        (name = "Marketplace", description = "The public directory of listed agents."),
        (name = "Audit", description = "The tamper-evident audit log."),
        (name = "Billing", description = "Tiers, usage and subscriptions."),
        (name = "Federation", description = "GitHub Actions OIDC trust policies and token exchange."),
        (name = "OAuth clients", description = "Clients of the authorization-code flow (MCP clients acting for a person): pre-registered, metadata-document and dynamic."),
        (name = "Consents", description = "What the tenant's people consented to, and withdrawing it."),
        (name = "Health", description = "Liveness, readiness and backend probes."),
    )
)]
struct Base;

const DESCRIPTION: &str = "Identity for AI agents: an agent registry, client credentials, \
OAuth 2.0 client-credentials tokens (RFC 9068 JWTs, JWKS, introspection, revocation), a \
tamper-evident audit log, GitHub Actions OIDC federation, DIDs, a public marketplace, usage \
and billing.\n\nErrors outside the OAuth endpoints are `{code, message, details?}`; the OAuth \
endpoints answer RFC 6749 §5.2 errors `{error, error_description}`. Every answer carries \
`X-RateLimit-Limit`, `X-RateLimit-Remaining` and `X-RateLimit-Reset`, except those of the \
orchestrators' probes `/health/live` and `/health/ready`, which are never rate limited.";

/// The document for an instance with these settings (the server URL is the
/// mount point, relative to the host).
pub fn document(settings: &Settings) -> Value {
    let mut api = Base::openapi();
    for route in routes() {
        api.merge(route.operation_document());
    }
    let mut doc = match serde_json::to_value(api) {
        Ok(doc) => doc,
        Err(e) => return json!({ "error": e.to_string() }),
    };
    doc["info"] = json!({
        "title": "SentryAgent",
        "version": env!("CARGO_PKG_VERSION"),
        "description": DESCRIPTION,
        "license": { "name": "Apache-2.0", "identifier": "Apache-2.0" },
    });
    let server = if settings.api_path.is_empty() {
        "/"
    } else {
        &settings.api_path
    };
    doc["servers"] = json!([{ "url": server }]);
    let components = ensure_object(&mut doc, "components");
    components.insert("securitySchemes".into(), security_schemes());
    components.insert("responses".into(), common_responses());
    components.insert("headers".into(), rate_limit_headers());
    for route in routes() {
        let Some(op) = doc
            .pointer_mut(&format!("/paths/{}/{}", escape(route.path), method_key(&route.method)))
            .and_then(Value::as_object_mut)
        else {
            continue; // the table test reports it
        };
        complete(op, route.auth, route.rate_limited);
    }
    doc
}

impl SentryAgent {
    /// The OpenAPI document as served, built once per instance.
    pub fn openapi_json(&self) -> Bytes {
        self.inner
            .openapi
            .get_or_init(|| Bytes::from(serde_json::to_vec(&document(self.settings())).unwrap_or_default()))
            .clone()
    }
}

fn escape(path: &str) -> String {
    path.replace('~', "~0").replace('/', "~1")
}

fn method_key(method: &http::Method) -> String {
    method.as_str().to_ascii_lowercase()
}

fn ensure_object<'a>(value: &'a mut Value, key: &str) -> &'a mut Map<String, Value> {
    if !value[key].is_object() {
        value[key] = json!({});
    }
    match value[key].as_object_mut() {
        Some(map) => map,
        None => unreachable!("just made an object"),
    }
}

fn security_schemes() -> Value {
    json!({
        "bearer": {
            "type": "http", "scheme": "bearer", "bearerFormat": "JWT",
            "description": "An access token of this issuer, from `POST /oauth2/token`. \
                Operations list the scope they need; `admin` grants them all.",
        },
        "clientBasic": {
            "type": "http", "scheme": "basic",
            "description": "A client id and secret (or `client_id` and `client_secret` in the form).",
        },
        "operatorKey": {
            "type": "http", "scheme": "bearer",
            "description": "The operator key, when sign-up is not open.",
        },
    })
}

/// The answers the route layer gives on any route of a kind.
fn common_responses() -> Value {
    let envelope = json!({ "application/json": { "schema": { "$ref": "#/components/schemas/Error" } } });
    let either = json!({ "application/json": { "schema": { "oneOf": [
        { "$ref": "#/components/schemas/Error" },
        { "$ref": "#/components/schemas/OAuthError" },
    ] } } });
    let limit_headers = json!({
        "X-RateLimit-Limit": { "$ref": "#/components/headers/X-RateLimit-Limit" },
        "X-RateLimit-Remaining": { "$ref": "#/components/headers/X-RateLimit-Remaining" },
        "X-RateLimit-Reset": { "$ref": "#/components/headers/X-RateLimit-Reset" },
    });
    let mut retry = limit_headers.clone();
    retry["Retry-After"] = json!({ "$ref": "#/components/headers/Retry-After" });
    let answer = |description: &str, content: &Value, headers: &Value| json!({ "description": description, "content": content, "headers": headers });
    json!({
        "BadRequest": answer("`VALIDATION_ERROR`: `details` names each bad field, parameter or path id.", &envelope, &limit_headers),
        "Unauthorized": answer("`UNAUTHORIZED`: no valid bearer token (`WWW-Authenticate: Bearer`).", &envelope, &limit_headers),
        "Forbidden": answer("`INSUFFICIENT_SCOPE` (`details.requiredScope`), `FORBIDDEN`, or `AGENT_SUSPENDED`.", &envelope, &limit_headers),
        "NotFound": answer("`NOT_FOUND`: nothing with this id in the caller's tenant.", &envelope, &limit_headers),
        "PayloadTooLarge": answer("`PAYLOAD_TOO_LARGE`: the body is over the limit (64 KiB by default).", &envelope, &limit_headers),
        "UnsupportedMediaType": answer("`UNSUPPORTED_MEDIA_TYPE`: the body is not of the content type the operation takes.", &envelope, &limit_headers),
        "TooManyRequests": answer("`RATE_LIMITED` (the route's rate limit) or `TIER_QUOTA_EXCEEDED` (the tier's daily calls); see `Retry-After`.", &either, &retry),
        "InternalError": answer("`INTERNAL_SERVER_ERROR`; nothing internal is revealed.", &either, &limit_headers),
        "Unavailable": answer("`SERVICE_UNAVAILABLE` (`temporarily_unavailable` at the OAuth endpoints): a backend is down; see `Retry-After`.", &either, &retry),
    })
}

fn rate_limit_headers() -> Value {
    let integer =
        |description: &str| json!({ "description": description, "schema": { "type": "integer", "minimum": 0 } });
    json!({
        "X-RateLimit-Limit": integer("Requests allowed in the route group's window."),
        "X-RateLimit-Remaining": integer("Requests left now."),
        "X-RateLimit-Reset": integer("Seconds until the allowance is full again."),
        "Retry-After": integer("Seconds to wait before retrying."),
    })
}

/// Adds the route layer's answers, the rate-limit headers and the security
/// an operation of this kind has.
fn complete(op: &mut Map<String, Value>, auth: Auth, rate_limited: bool) {
    let has_body = op.contains_key("requestBody");
    let params: Vec<String> = op
        .get("parameters")
        .and_then(Value::as_array)
        .map(|ps| ps.iter().filter_map(|p| p["in"].as_str().map(str::to_owned)).collect())
        .unwrap_or_default();
    let mut common = vec![("500", "InternalError"), ("503", "Unavailable")];
    if rate_limited {
        common.push(("429", "TooManyRequests"));
    }
    if auth == Auth::Bearer {
        common.extend([("401", "Unauthorized"), ("403", "Forbidden")]);
    }
    if has_body {
        common.extend([
            ("400", "BadRequest"),
            ("413", "PayloadTooLarge"),
            ("415", "UnsupportedMediaType"),
        ]);
    }
    if params.iter().any(|p| p == "query") {
        common.push(("400", "BadRequest"));
    }
    if params.iter().any(|p| p == "path") {
        common.extend([("400", "BadRequest"), ("404", "NotFound")]);
    }
    let responses = ensure_object_in(op, "responses");
    for (status, name) in common {
        // An operation's own description of a status wins.
        responses
            .entry(status)
            .or_insert_with(|| json!({ "$ref": format!("#/components/responses/{name}") }));
    }
    for answer in responses.values_mut() {
        if answer.get("$ref").is_some() || !rate_limited {
            continue;
        }
        let headers = ensure_object(answer, "headers");
        for name in ["X-RateLimit-Limit", "X-RateLimit-Remaining", "X-RateLimit-Reset"] {
            headers.insert(name.into(), json!({ "$ref": format!("#/components/headers/{name}") }));
        }
    }
}

fn ensure_object_in<'a>(map: &'a mut Map<String, Value>, key: &str) -> &'a mut Map<String, Value> {
    let slot = map.entry(key).or_insert_with(|| json!({}));
    if !slot.is_object() {
        *slot = json!({});
    }
    match slot.as_object_mut() {
        Some(map) => map,
        None => unreachable!("just made an object"),
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;

    fn settings() -> Settings {
        Settings::default()
    }

    #[test]
    fn the_document_has_exactly_the_routes_of_the_table() {
        let doc = document(&settings());
        let mut documented = BTreeSet::new();
        for (path, item) in doc["paths"].as_object().into_iter().flatten() {
            for (method, op) in item.as_object().into_iter().flatten() {
                let id = op["operationId"].as_str().unwrap_or("<none>");
                documented.insert((method.to_uppercase(), path.clone(), id.to_owned()));
            }
        }
        let table: BTreeSet<_> = routes()
            .iter()
            .map(|r| (r.method.to_string(), r.path.to_owned(), r.operation_id.to_owned()))
            .collect();
        let missing: Vec<_> = table.difference(&documented).collect();
        let extra: Vec<_> = documented.difference(&table).collect();
        assert!(
            missing.is_empty() && extra.is_empty(),
            "in the table, not the document: {missing:?}\nin the document, not the table: {extra:?}"
        );
    }

    #[test]
    fn every_reference_resolves() {
        fn refs<'a>(value: &'a Value, out: &mut Vec<&'a str>) {
            match value {
                Value::Object(map) => {
                    if let Some(Value::String(r)) = map.get("$ref") {
                        out.push(r);
                    }
                    map.values().for_each(|v| refs(v, out));
                }
                Value::Array(items) => items.iter().for_each(|v| refs(v, out)),
                _ => {}
            }
        }
        let doc = document(&settings());
        let mut found = Vec::new();
        refs(&doc, &mut found);
        let dangling: Vec<_> = found
            .into_iter()
            .filter(|r| r.strip_prefix('#').and_then(|p| doc.pointer(p)).is_none())
            .collect();
        assert!(dangling.is_empty(), "references to nothing: {dangling:?}");
    }
}
