use std::net::IpAddr;

use http::StatusCode;
use http::header::{CACHE_CONTROL, HeaderValue};
use serde_json::json;

use crate::http::{Request, Response};
use crate::{Error, SentryAgent, scope};

pub(super) async fn jwks(sa: SentryAgent, _req: Request, _ip: Option<IpAddr>) -> Result<Response, Error> {
    let mut response = Response::raw_json(StatusCode::OK, sa.inner.keys.get().jwks.clone());
    // Short, so a rotation's next key is picked up well before it signs.
    response
        .headers
        .insert(CACHE_CONTROL, HeaderValue::from_static("public, max-age=300"));
    Ok(response)
}

fn metadata(sa: &SentryAgent) -> serde_json::Value {
    let s = sa.settings();
    let auth_methods = ["client_secret_basic", "client_secret_post"];
    json!({
        "issuer": s.issuer,
        "token_endpoint": s.endpoint("/oauth2/token"),
        "jwks_uri": s.endpoint("/.well-known/jwks.json"),
        "introspection_endpoint": s.endpoint("/oauth2/introspect"),
        "revocation_endpoint": s.endpoint("/oauth2/revoke"),
        "grant_types_supported": ["client_credentials"],
        "response_types_supported": ["token"],
        "token_endpoint_auth_methods_supported": auth_methods,
        "revocation_endpoint_auth_methods_supported": auth_methods,
        "introspection_endpoint_auth_methods_supported": ["bearer"],
        "scopes_supported": scope::MANAGEMENT,
        "token_endpoint_auth_signing_alg_values_supported": [s.algorithm.as_str()],
    })
}

pub(super) async fn oauth_metadata(sa: SentryAgent, _req: Request, _ip: Option<IpAddr>) -> Result<Response, Error> {
    Ok(Response::json(StatusCode::OK, &metadata(&sa)))
}

pub(super) async fn openid_configuration(
    sa: SentryAgent,
    _req: Request,
    _ip: Option<IpAddr>,
) -> Result<Response, Error> {
    let mut doc = metadata(&sa);
    if let Some(map) = doc.as_object_mut() {
        map.insert("subject_types_supported".into(), json!(["public"]));
        map.insert(
            "id_token_signing_alg_values_supported".into(),
            json!([sa.settings().algorithm.as_str()]),
        );
    }
    Ok(Response::json(StatusCode::OK, &doc))
}

pub(super) async fn health(_sa: SentryAgent, _req: Request, _ip: Option<IpAddr>) -> Result<Response, Error> {
    Ok(Response::json(StatusCode::OK, &json!({"status": "ok"})))
}

pub(super) async fn health_detailed(sa: SentryAgent, _req: Request, _ip: Option<IpAddr>) -> Result<Response, Error> {
    let report = sa.health().await;
    let status = if report.status == "down" {
        StatusCode::SERVICE_UNAVAILABLE
    } else {
        StatusCode::OK
    };
    let mut response = Response::json(status, &report);
    response
        .headers
        .insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(response)
}
