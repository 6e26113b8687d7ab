use std::net::IpAddr;

use http::StatusCode;
use http::header::{CACHE_CONTROL, HeaderValue};
use serde::Serialize;
use utoipa::ToSchema;

use crate::health::HealthReport;
use crate::http::{HttpError, Request, Response};
use crate::{SentryAgent, scope};

/// A JSON Web Key Set (RFC 7517), as `/.well-known/jwks.json` publishes it.
#[derive(Serialize, ToSchema)]
#[allow(dead_code)] // the answer is pre-serialised; this is its shape
pub(super) struct Jwks {
    /// The current, next and retired signing keys.
    keys: Vec<Jwk>,
}

/// One public signing key.
#[derive(Serialize, ToSchema)]
#[allow(dead_code)]
pub(super) struct Jwk {
    /// `EC`, `OKP` or `RSA`.
    kty: String,
    /// The key id tokens name in their header.
    kid: String,
    /// `ES256`, `EdDSA` or `RS256`.
    alg: String,
    /// `sig`.
    #[serde(rename = "use")]
    usage: String,
    /// Curve (`P-256`, `Ed25519`).
    crv: Option<String>,
    /// Public coordinate or key.
    x: Option<String>,
    /// EC only.
    y: Option<String>,
    /// RSA modulus.
    n: Option<String>,
    /// RSA exponent.
    e: Option<String>,
}

#[utoipa::path(get, path = "/.well-known/jwks.json", tag = "Discovery", operation_id = "getJwks",
    responses((status = 200, description = "The public keys tokens are signed with, the next key included.", body = Jwks)))]
pub(super) async fn jwks(sa: SentryAgent, _req: Request, _ip: Option<IpAddr>) -> Result<Response, HttpError> {
    let mut response = Response::raw_json(StatusCode::OK, sa.inner.keys.get().jwks.clone());
    // Short, so a rotation's next key is picked up well before it signs.
    response
        .headers
        .insert(CACHE_CONTROL, HeaderValue::from_static("public, max-age=300"));
    Ok(response)
}

/// Authorization server metadata (RFC 8414 §2), every member true of this
/// server; the OpenID configuration adds two members. Members with nothing
/// to say are left out: the authorization endpoint and its members only
/// when the host configured sign-in
/// ([`host_users`](crate::SentryAgentBuilder::host_users)), and the client
/// registration endpoint only while dynamic registration is open.
#[derive(Serialize, ToSchema)]
#[schema(as = AuthorizationServerMetadata)]
pub(super) struct Metadata<'a> {
    /// The issuer identifier; tokens' `iss`.
    issuer: &'a str,
    /// `GET /oauth2/authorize`, when the host configured sign-in.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    authorization_endpoint: Option<String>,
    /// `POST /oauth2/token`.
    token_endpoint: String,
    /// The public keys tokens are signed with.
    jwks_uri: String,
    /// `POST /oauth2/introspect` (RFC 7662).
    introspection_endpoint: String,
    /// `POST /oauth2/revoke` (RFC 7009).
    revocation_endpoint: String,
    /// `POST /oauth2/register` (RFC 7591), only while the host has opened
    /// dynamic client registration.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    registration_endpoint: Option<String>,
    /// Whether a client may use the `https` URL of its Client ID Metadata
    /// Document as its client id: true when the host configured a fetcher
    /// for them.
    client_id_metadata_document_supported: bool,
    /// The scopes this server issues: the management scopes and those the
    /// host's resource policies require (agents may hold other host scopes).
    scopes_supported: Vec<String>,
    /// `["code"]` with the authorization endpoint; else empty (RFC 8414
    /// makes the member REQUIRED, and its values are `response_type`s of an
    /// authorization endpoint).
    response_types_supported: Vec<&'static str>,
    /// `["S256"]` with the authorization endpoint (`plain` is refused).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    code_challenge_methods_supported: Option<Vec<&'static str>>,
    /// `true` with the authorization endpoint: its answers carry `iss`
    /// (RFC 9207).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    authorization_response_iss_parameter_supported: Option<bool>,
    /// The grants of the token endpoint.
    grant_types_supported: Vec<&'static str>,
    /// Client authentication at the token endpoint.
    token_endpoint_auth_methods_supported: Vec<&'static str>,
    /// The signing algorithms of JWT client authentication; only while a
    /// JWT-based method is listed.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    token_endpoint_auth_signing_alg_values_supported: Option<Vec<&'static str>>,
    /// Client authentication at revocation: client credentials, or the
    /// token itself (or one with `tokens:introspect`) as a bearer token.
    revocation_endpoint_auth_methods_supported: Vec<&'static str>,
    /// Client authentication at introspection: as at revocation.
    introspection_endpoint_auth_methods_supported: Vec<&'static str>,
    /// OpenID configuration only.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    subject_types_supported: Option<[&'static str; 1]>,
    /// OpenID configuration only.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    id_token_signing_alg_values_supported: Option<[&'static str; 1]>,
}

/// The grant types `POST /oauth2/token` accepts.
fn grant_types() -> Vec<&'static str> {
    vec![
        "client_credentials",
        "authorization_code",
        "refresh_token",
        crate::token::GRANT_TYPE_JWT_BEARER,
    ]
}

/// The client authentication methods `POST /oauth2/token` accepts: agents'
/// clients use a secret or `private_key_jwt`; clients of the
/// authorization-code flow a secret, or `none` (public clients, PKCE only).
fn token_auth_methods() -> Vec<&'static str> {
    vec!["client_secret_basic", "client_secret_post", "private_key_jwt", "none"]
}

/// The JWS algorithms accepted in JWT client authentication, published
/// only while [`token_auth_methods`] lists a JWT-based method (never `none`).
const CLIENT_ASSERTION_ALGS: &[&str] = crate::credential::CLIENT_KEY_ALGORITHMS;

/// Introspection and revocation take client credentials (`none`: a public
/// client of the authorization-code flow, for the tokens issued to it) or a
/// bearer token.
fn oauth_caller_methods() -> Vec<&'static str> {
    vec![
        "client_secret_basic",
        "client_secret_post",
        "private_key_jwt",
        "none",
        "bearer",
    ]
}

fn metadata(sa: &SentryAgent, openid: bool) -> Metadata<'_> {
    let s = sa.settings();
    let methods = token_auth_methods();
    let jwt_based = methods
        .iter()
        .any(|m| matches!(*m, "private_key_jwt" | "client_secret_jwt"));
    let mut scopes: Vec<String> = scope::MANAGEMENT.iter().map(|s| (*s).to_owned()).collect();
    for policy in sa.inner.resources.all() {
        scopes.extend(policy.required_scopes().iter().cloned());
    }
    scopes.sort();
    scopes.dedup();
    let authorize = sa.inner.host_users.is_some();
    Metadata {
        issuer: &s.issuer,
        authorization_endpoint: authorize.then(|| s.endpoint("/oauth2/authorize")),
        token_endpoint: s.endpoint("/oauth2/token"),
        jwks_uri: s.endpoint("/.well-known/jwks.json"),
        introspection_endpoint: s.endpoint("/oauth2/introspect"),
        revocation_endpoint: s.endpoint("/oauth2/revoke"),
        registration_endpoint: sa.dynamic_client_registration().map(|_| s.endpoint("/oauth2/register")),
        client_id_metadata_document_supported: sa.inner.client_metadata_fetcher.is_some(),
        scopes_supported: scopes,
        response_types_supported: if authorize { vec!["code"] } else { Vec::new() },
        code_challenge_methods_supported: authorize.then(|| vec![crate::authorization::pkce::S256]),
        authorization_response_iss_parameter_supported: authorize.then_some(true),
        grant_types_supported: grant_types(),
        token_endpoint_auth_methods_supported: methods,
        token_endpoint_auth_signing_alg_values_supported: jwt_based.then(|| CLIENT_ASSERTION_ALGS.to_vec()),
        revocation_endpoint_auth_methods_supported: oauth_caller_methods(),
        introspection_endpoint_auth_methods_supported: oauth_caller_methods(),
        subject_types_supported: openid.then_some(["public"]),
        id_token_signing_alg_values_supported: openid.then_some([s.algorithm.as_str()]),
    }
}

#[utoipa::path(get, path = "/.well-known/oauth-authorization-server", tag = "Discovery", operation_id = "getAuthorizationServerMetadata",
    responses((status = 200, description = "RFC 8414 metadata.", body = Metadata)))]
pub(super) async fn oauth_metadata(sa: SentryAgent, _req: Request, _ip: Option<IpAddr>) -> Result<Response, HttpError> {
    Ok(Response::json(StatusCode::OK, &metadata(&sa, false)))
}

#[utoipa::path(get, path = "/.well-known/openid-configuration", tag = "Discovery", operation_id = "getOpenIdConfiguration",
    responses((status = 200, description = "OpenID Connect discovery: the RFC 8414 metadata and two members more.", body = Metadata)))]
pub(super) async fn openid_configuration(
    sa: SentryAgent,
    _req: Request,
    _ip: Option<IpAddr>,
) -> Result<Response, HttpError> {
    Ok(Response::json(StatusCode::OK, &metadata(&sa, true)))
}

/// Liveness.
#[derive(Serialize, ToSchema)]
pub(super) struct Alive {
    /// `ok`.
    status: &'static str,
}

#[utoipa::path(get, path = "/health", tag = "Health", operation_id = "getHealth",
    responses((status = 200, description = "The process is up.", body = Alive)))]
pub(super) async fn health(_sa: SentryAgent, _req: Request, _ip: Option<IpAddr>) -> Result<Response, HttpError> {
    Ok(Response::json(StatusCode::OK, &Alive { status: "ok" }))
}

#[utoipa::path(get, path = "/health/detailed", tag = "Health", operation_id = "getHealthDetailed",
    responses(
        (status = 200, description = "Every backend up (`ok`), or an optional one down (`degraded`).", body = HealthReport),
        (status = 503, description = "A required backend is down.", body = HealthReport),
    ))]
pub(super) async fn health_detailed(
    sa: SentryAgent,
    _req: Request,
    _ip: Option<IpAddr>,
) -> Result<Response, HttpError> {
    Ok(report_response(&sa.health().await))
}

#[utoipa::path(get, path = "/health/live", tag = "Health", operation_id = "getLiveness",
    responses((status = 200, description = "The process is up and serving: an orchestrator's liveness probe. Never \
        rate limited, and never probes a backend (a database outage is no reason to restart the process).", body = Alive)))]
pub(super) async fn health_live(_sa: SentryAgent, _req: Request, _ip: Option<IpAddr>) -> Result<Response, HttpError> {
    let mut response = Response::json(StatusCode::OK, &Alive { status: "ok" });
    response
        .headers
        .insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(response)
}

#[utoipa::path(get, path = "/health/ready", tag = "Health", operation_id = "getReadiness",
    responses(
        (status = 200, description = "Every required backend answers (`ok`, or `degraded` when only an optional one \
            is down): route traffic here. Never rate limited; backends are probed at most once a second.", body = HealthReport),
        (status = 503, description = "A required backend is down: route traffic elsewhere until it is back.", body = HealthReport),
    ))]
pub(super) async fn health_ready(sa: SentryAgent, _req: Request, _ip: Option<IpAddr>) -> Result<Response, HttpError> {
    Ok(report_response(&sa.readiness().await))
}

/// A health report, uncached: 503 when a required backend is down.
fn report_response(report: &HealthReport) -> Response {
    let status = if report.status == "down" {
        StatusCode::SERVICE_UNAVAILABLE
    } else {
        StatusCode::OK
    };
    let mut response = Response::json(status, report);
    response
        .headers
        .insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

#[utoipa::path(get, path = "/openapi.json", tag = "Discovery", operation_id = "getOpenApi",
    responses((status = 200, description = "This document.", body = Object)))]
pub(super) async fn openapi(sa: SentryAgent, _req: Request, _ip: Option<IpAddr>) -> Result<Response, HttpError> {
    Ok(Response::raw_json(StatusCode::OK, sa.openapi_json()))
}
