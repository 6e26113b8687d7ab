//! Dynamic client registration (RFC 7591), when the host opened it.

use std::net::IpAddr;

use http::StatusCode;
use serde::Serialize;
use utoipa::ToSchema;

use crate::authorization::{DynamicRegistration, GrantType, RegistrationError};
use crate::error::OAuthError;
use crate::http::body;
use crate::http::error::ErrorBody;
use crate::http::{HttpError, Request, Response};
use crate::{Error, ErrorCode, SentryAgent};

/// The RFC 7591 §2 client metadata this server reads; other members are
/// ignored.
#[derive(ToSchema)]
#[allow(dead_code)]
pub(super) struct RegistrationRequest {
    /// Required: 1 to 20 URIs, each `https`, a loopback `http` URI, or a
    /// private-use scheme (RFC 8252); matched exactly (loopback with any port).
    redirect_uris: Vec<String>,
    /// `none` (a public client, PKCE only), `client_secret_basic` (the
    /// default) or `client_secret_post`.
    #[schema(example = "none")]
    token_endpoint_auth_method: Option<String>,
    /// `authorization_code` (the default) and `refresh_token`.
    grant_types: Option<Vec<String>>,
    /// `code` only.
    response_types: Option<Vec<String>>,
    /// Shown on the consent page; at most 100 characters.
    client_name: Option<String>,
    /// An `https` URL.
    logo_uri: Option<String>,
    /// An `https` URL.
    client_uri: Option<String>,
}

/// The registered client (RFC 7591 §3.2.1); its secret shown this once.
#[derive(Serialize, ToSchema)]
#[schema(as = RegisteredClient)]
pub(super) struct Registered<'a> {
    client_id: &'a str,
    /// Seconds since the epoch.
    client_id_issued_at: i64,
    /// For a confidential client only.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    client_secret: Option<&'a str>,
    /// `0`: the secret does not expire (the client does, unused).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    client_secret_expires_at: Option<u8>,
    token_endpoint_auth_method: &'static str,
    redirect_uris: &'a [String],
    grant_types: &'a [GrantType],
    response_types: [&'static str; 1],
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    client_name: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    logo_uri: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    client_uri: Option<&'a str>,
}

#[utoipa::path(post, path = "/oauth2/register", tag = "OAuth 2.0", operation_id = "registerClient",
    request_body = RegistrationRequest,
    responses(
        (status = 201, description = "The client, in the tenant the host opened dynamic registration for; a \
            confidential client's secret is shown this once. A client never used for 30 days (by default) is deleted.", body = Registered),
        (status = 400, description = "`invalid_redirect_uri` or `invalid_client_metadata` (RFC 7591 §3.2.2).", body = OAuthError),
        (status = 404, description = "`NOT_FOUND`: dynamic registration is not enabled on this server.", body = ErrorBody),
        (status = 409, description = "`OAUTH_CLIENT_LIMIT`: the tenant holds as many dynamically registered clients as it may.", body = ErrorBody),
        (status = 415, description = "`UNSUPPORTED_MEDIA_TYPE`: the body must be `application/json`.", body = ErrorBody),
    ),
    security(()))]
pub(super) async fn register(sa: SentryAgent, req: Request, ip: Option<IpAddr>) -> Result<Response, HttpError> {
    if sa.dynamic_client_registration().is_none() {
        return Err(HttpError::RouteNotFound);
    }
    if !body::is_json_body(&req) {
        return Err(HttpError::UnsupportedMediaType {
            expected: "application/json",
        });
    }
    let registered = match DynamicRegistration::from_json(&req.body) {
        Ok(registration) => sa.register_dynamic_client(registration, ip).await,
        Err(e) => Err(e),
    };
    let (client, secret) = match registered {
        Ok(done) => done,
        Err(RegistrationError::Closed) => return Err(HttpError::RouteNotFound),
        Err(RegistrationError::Limit) => {
            return Err(Error::Conflict {
                code: ErrorCode::OAuthClientLimit,
                message: "no more clients can be registered dynamically".into(),
            }
            .into());
        }
        Err(RegistrationError::Internal(e)) => return Err(e.into()),
        Err(e) => {
            let oauth = e
                .oauth_error()
                .unwrap_or_else(|| OAuthError::invalid_request(e.to_string()));
            return Ok(oauth.into());
        }
    };
    let view = Registered {
        client_id: &client.client_id,
        client_id_issued_at: client.created_at.unix_timestamp(),
        client_secret: secret.as_ref().map(|s| s.expose()),
        client_secret_expires_at: secret.as_ref().map(|_| 0),
        token_endpoint_auth_method: client.auth_method.as_str(),
        redirect_uris: &client.redirect_uris,
        grant_types: &client.grant_types,
        response_types: ["code"],
        client_name: client.name.as_deref(),
        logo_uri: client.logo_uri.as_deref(),
        client_uri: client.client_uri.as_deref(),
    };
    Ok(Response::json(StatusCode::CREATED, &view).no_store())
}
