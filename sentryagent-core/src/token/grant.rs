//! Which grant a token request asks for.

use super::request::{
    Form, GRANT_TYPE_JWT_BEARER, JwtBearerRequest, PresentedJwt, TokenRequest, parse_resources, parse_scope,
};
use crate::error::OAuthError;

/// What `POST /oauth2/token` was asked for.
#[derive(Clone, Debug)]
pub enum TokenGrant {
    /// `client_credentials`.
    ClientCredentials(TokenRequest),
    /// `urn:ietf:params:oauth:grant-type:jwt-bearer`.
    JwtBearer(JwtBearerRequest),
    /// `authorization_code` (a person's approval, with PKCE).
    AuthorizationCode(super::user_request::AuthorizationCodeRequest),
    /// `refresh_token` (rotated on every use).
    RefreshToken(super::user_request::RefreshTokenRequest),
}

impl TokenGrant {
    /// Reads a token request of either grant.
    ///
    /// # Errors
    /// The RFC 6749 error for a malformed or unsupported request.
    pub fn parse(authorization: Option<&str>, body: &[u8]) -> Result<Self, OAuthError> {
        let form = Form::parse_repeating(body, &["resource"])?;
        match form.get("grant_type") {
            Some(GRANT_TYPE_JWT_BEARER) => {}
            Some("authorization_code") => {
                return super::user_request::AuthorizationCodeRequest::parse(authorization, &form)
                    .map(TokenGrant::AuthorizationCode);
            }
            Some("refresh_token") => {
                return super::user_request::RefreshTokenRequest::parse(authorization, &form)
                    .map(TokenGrant::RefreshToken);
            }
            _ => return TokenRequest::from_form(authorization, &form).map(TokenGrant::ClientCredentials),
        }
        if authorization.is_some()
            || [
                "client_id",
                "client_secret",
                "client_assertion",
                "client_assertion_type",
            ]
            .iter()
            .any(|p| form.get(p).is_some())
        {
            return Err(OAuthError::invalid_request(
                "the jwt-bearer grant takes no client authentication: the assertion is the credential",
            ));
        }
        let assertion = PresentedJwt::new(
            form.get("assertion")
                .ok_or_else(|| OAuthError::invalid_request("assertion is required"))?,
        );
        let agent_id = form
            .get("agent_id")
            .ok_or_else(|| OAuthError::invalid_request("agent_id is required: name the agent the token is for"))?
            .parse()
            .map_err(|_| OAuthError::invalid_request("agent_id is not an agent id"))?;
        Ok(TokenGrant::JwtBearer(JwtBearerRequest {
            assertion,
            agent_id,
            scope: parse_scope(&form)?,
            resources: parse_resources(&form)?,
        }))
    }
}
