use std::net::IpAddr;

use http::StatusCode;
use http::header::AUTHORIZATION;
use serde::Deserialize;
use utoipa::ToSchema;

use crate::SentryAgent;
use crate::error::OAuthError;
use crate::http::body;
use crate::http::{Request, Response, rate_headers};
use crate::token::{Introspection, TokenGrant, TokenResponse};

/// The token request's form (RFC 6749 §4.1.3, §4.4, §6; RFC 7523), for the
/// document: the core parses the form itself.
#[derive(Deserialize, ToSchema)]
#[allow(dead_code)]
pub(super) struct TokenForm {
    /// `client_credentials`; `authorization_code` (with `code`,
    /// `redirect_uri`, `code_verifier`; a public client names itself with
    /// `client_id` alone); `refresh_token` (with `refresh_token`); or
    /// `urn:ietf:params:oauth:grant-type:jwt-bearer` (with `assertion` and
    /// `agent_id`).
    #[schema(
        pattern = "^(client_credentials|authorization_code|refresh_token|urn:ietf:params:oauth:grant-type:jwt-bearer)$",
        example = "client_credentials"
    )]
    grant_type: String,
    /// Space-separated scopes: within what the agent may hold; for
    /// `refresh_token`, within the grant's (narrower, never wider).
    scope: Option<String>,
    /// `authorization_code`: the code from the authorization response (one use).
    code: Option<String>,
    /// `authorization_code`: the `redirect_uri` of the authorization request, exactly.
    redirect_uri: Option<String>,
    /// `authorization_code`: the PKCE verifier (RFC 7636, `S256`).
    code_verifier: Option<String>,
    /// `refresh_token`: the refresh token (rotated: each is good once).
    refresh_token: Option<String>,
    /// The audience of the token: the IdP's own, an extra audience, or a
    /// protected resource; with `resource`, it must equal it.
    audience: Option<String>,
    /// Resource indicators (RFC 8707): absolute URIs without a fragment,
    /// each named by a resource policy that accepts the client's tenant;
    /// repeat the parameter for a token of several resources (its `aud` is
    /// then an array).
    resource: Option<Vec<String>>,
    /// With `client_secret`, instead of HTTP Basic; alone, a public client
    /// of the authorization-code flow (`none`).
    client_id: Option<String>,
    /// With `client_id`, instead of HTTP Basic.
    client_secret: Option<String>,
    /// `urn:ietf:params:oauth:client-assertion-type:jwt-bearer` (`private_key_jwt`).
    client_assertion_type: Option<String>,
    /// The client assertion: a JWT signed with the credential's private key.
    client_assertion: Option<String>,
    /// The jwt-bearer grant: the workload token.
    assertion: Option<String>,
    /// The jwt-bearer grant: the agent the token is for.
    agent_id: Option<String>,
}

/// The form of introspection (RFC 7662) and revocation (RFC 7009).
#[derive(Deserialize, ToSchema)]
#[allow(dead_code)]
pub(super) struct TokenHintForm {
    /// An access token, or (revocation) a refresh token.
    token: String,
    /// `access_token` or `refresh_token`; the token's form decides.
    token_type_hint: Option<String>,
    /// With `client_secret`, when the caller authenticates as a client;
    /// alone, a public client of the authorization-code flow.
    client_id: Option<String>,
    /// With `client_id`.
    client_secret: Option<String>,
}

fn require_form(req: &Request) -> Result<(), OAuthError> {
    if body::is_form(req) {
        Ok(())
    } else {
        Err(OAuthError::invalid_request(
            "the body must be application/x-www-form-urlencoded",
        ))
    }
}

#[utoipa::path(post, path = "/oauth2/token", tag = "OAuth 2.0", operation_id = "issueToken",
    request_body(content = TokenForm, content_type = "application/x-www-form-urlencoded"),
    responses(
        (status = 200, description = "An access token (RFC 9068 JWT); for `authorization_code` and `refresh_token`, a person's token with a `refresh_token` when the client may refresh.", body = TokenResponse),
        (status = 400, description = "`invalid_request`, `invalid_grant` (a code or refresh token unknown, expired, spent, revoked or another client's; a redirect URI that differs; a missing or wrong PKCE verifier), `invalid_scope`, `invalid_target`, `unsupported_grant_type`, or `unauthorized_client` (the agent is suspended or decommissioned, or the client is not registered for the grant).", body = OAuthError),
        (status = 401, description = "`invalid_client`: unknown client, wrong secret or client assertion, a method the client did not register, or a revoked or expired credential.", body = OAuthError),
        (status = 503, description = "`temporarily_unavailable`: the jwt-bearer grant cannot fetch the issuer's keys.", body = OAuthError),
    ),
    security(("clientBasic" = []), ()))]
pub(super) async fn token(sa: SentryAgent, req: Request, ip: Option<IpAddr>) -> Result<Response, OAuthError> {
    require_form(&req)?;
    let grant = TokenGrant::parse(req.header(AUTHORIZATION), &req.body)?;
    // The token endpoint counts its rate limits itself, around client authentication.
    let mut decision = None;
    let result = match grant {
        TokenGrant::ClientCredentials(request) => sa.issue_token_limited(request, ip, &mut decision).await,
        TokenGrant::JwtBearer(request) => sa.jwt_bearer_grant_limited(request, ip, &mut decision).await,
        TokenGrant::AuthorizationCode(request) => sa.authorization_code_grant_limited(request, ip, &mut decision).await,
        TokenGrant::RefreshToken(request) => sa.refresh_token_grant_limited(request, ip, &mut decision).await,
    };
    let mut response = match result {
        Ok(token) => Response::json(StatusCode::OK, &token).no_store(),
        Err(refusal) => refusal.into(),
    };
    if let Some(d) = decision {
        rate_headers(&mut response.headers, &d);
    }
    Ok(response)
}

#[utoipa::path(post, path = "/oauth2/introspect", tag = "OAuth 2.0", operation_id = "introspectToken",
    request_body(content = TokenHintForm, content_type = "application/x-www-form-urlencoded"),
    responses(
        (status = 200, description = "`{\"active\": false}`, or the active token's claims.", body = Introspection),
        (status = 400, description = "`invalid_request`.", body = OAuthError),
        (status = 401, description = "`invalid_client` or `invalid_token`: the caller is not authenticated.", body = OAuthError),
        (status = 403, description = "`insufficient_scope`: introspecting another token needs `tokens:introspect`.", body = OAuthError),
    ),
    security(("bearer" = ["tokens:introspect"]), ("clientBasic" = [])))]
pub(super) async fn introspect(sa: SentryAgent, req: Request, _ip: Option<IpAddr>) -> Result<Response, OAuthError> {
    require_form(&req)?;
    let answer = sa.introspect(req.header(AUTHORIZATION), &req.body).await?;
    crate::observe::record::introspected(if answer.active { "active" } else { "inactive" });
    Ok(Response::json(StatusCode::OK, &answer).no_store())
}

#[utoipa::path(post, path = "/oauth2/revoke", tag = "OAuth 2.0", operation_id = "revokeToken",
    request_body(content = TokenHintForm, content_type = "application/x-www-form-urlencoded"),
    responses(
        (status = 200, description = "Revoked (or not a token of this issuer): the answer is the same."),
        (status = 400, description = "`invalid_request`.", body = OAuthError),
        (status = 401, description = "`invalid_client` or `invalid_token`.", body = OAuthError),
        (status = 403, description = "`insufficient_scope`.", body = OAuthError),
    ),
    security(("bearer" = []), ("clientBasic" = [])))]
pub(super) async fn revoke(sa: SentryAgent, req: Request, ip: Option<IpAddr>) -> Result<Response, OAuthError> {
    require_form(&req)?;
    sa.revoke_token(req.header(AUTHORIZATION), &req.body, ip).await?;
    crate::observe::record::revoked("accepted");
    Ok(Response::empty(StatusCode::OK).no_store())
}
