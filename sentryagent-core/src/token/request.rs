//! What a token request carries and what the token endpoint answers.

use crate::error::{OAuthError, OAuthErrorCode};
use crate::scope;
use crate::secret::ClientSecret;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde::Serialize;
use std::collections::HashSet;
use std::time::Duration;

/// The value of a `Bearer` authorization header.
pub fn bearer_token(authorization: &str) -> Option<&str> {
    let (scheme, token) = authorization.split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}

/// How the client authenticated.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ClientAuth {
    /// HTTP Basic (`client_secret_basic`).
    Basic {
        /// Client id.
        client_id: String,
        /// Client secret.
        secret: ClientSecret,
    },
    /// Form parameters (`client_secret_post`).
    Post {
        /// Client id.
        client_id: String,
        /// Client secret.
        secret: ClientSecret,
    },
}

impl ClientAuth {
    /// The client id presented.
    pub fn client_id(&self) -> &str {
        match self {
            ClientAuth::Basic { client_id, .. } | ClientAuth::Post { client_id, .. } => client_id,
        }
    }

    pub(crate) fn secret(&self) -> &ClientSecret {
        match self {
            ClientAuth::Basic { secret, .. } | ClientAuth::Post { secret, .. } => secret,
        }
    }

    /// Reads client authentication from an `Authorization` header and form
    /// parameters. `Ok(None)`: none presented.
    ///
    /// # Errors
    /// `invalid_request` for a malformed header or two methods at once.
    pub fn parse(authorization: Option<&str>, form: &Form) -> Result<Option<Self>, OAuthError> {
        let basic = match authorization {
            None => None,
            Some(header) => {
                let (kind, value) = header.split_once(' ').unwrap_or((header, ""));
                if !kind.eq_ignore_ascii_case("basic") {
                    return Err(OAuthError::new(
                        OAuthErrorCode::InvalidClient,
                        "client authentication must use HTTP Basic or form parameters",
                    ));
                }
                let bad = || OAuthError::invalid_request("malformed HTTP Basic credentials");
                let decoded = STANDARD.decode(value.trim()).map_err(|_| bad())?;
                let decoded = String::from_utf8(decoded).map_err(|_| bad())?;
                let (id, secret) = decoded.split_once(':').ok_or_else(bad)?;
                // RFC 6749 §2.3.1: both parts are form-urlencoded.
                let unescape = |s: &str| -> String {
                    form_urlencoded::parse(format!("v={s}").as_bytes())
                        .next()
                        .map(|(_, v)| v.into_owned())
                        .unwrap_or_default()
                };
                Some(ClientAuth::Basic {
                    client_id: unescape(id),
                    secret: ClientSecret::from_presented(unescape(secret)),
                })
            }
        };
        let post = match (form.get("client_id"), form.get("client_secret")) {
            (Some(id), Some(secret)) => Some(ClientAuth::Post {
                client_id: id.to_owned(),
                secret: ClientSecret::from_presented(secret),
            }),
            (None, None) => None,
            _ if basic.is_some() => None,
            _ => return Err(OAuthError::invalid_request("client_id and client_secret go together")),
        };
        match (basic, post) {
            (Some(_), Some(_)) => Err(OAuthError::invalid_request(
                "use one client authentication method, not both",
            )),
            (basic, post) => Ok(basic.or(post)),
        }
    }
}

/// Parsed `application/x-www-form-urlencoded` parameters, each at most once
/// unless the parser was told it may repeat.
#[derive(Clone, Debug, Default)]
pub struct Form(Vec<(String, String)>);

impl Form {
    /// Parses a form body.
    ///
    /// # Errors
    /// `invalid_request` when a parameter is repeated (RFC 6749 §3.2).
    pub fn parse(body: &[u8]) -> Result<Self, OAuthError> {
        Self::parse_repeating(body, &[])
    }

    /// Parses a form body in which the parameters named in `repeatable` may
    /// appear more than once (RFC 8707's `resource`); see
    /// [`get_all`](Self::get_all).
    ///
    /// # Errors
    /// `invalid_request` when another parameter is repeated.
    pub fn parse_repeating(body: &[u8], repeatable: &[&str]) -> Result<Self, OAuthError> {
        let mut seen = HashSet::new();
        let mut pairs = Vec::new();
        for (k, v) in form_urlencoded::parse(body) {
            if !seen.insert(k.clone()) && !repeatable.contains(&k.as_ref()) {
                return Err(OAuthError::invalid_request(format!("parameter `{k}` is repeated")));
            }
            pairs.push((k.into_owned(), v.into_owned()));
        }
        Ok(Self(pairs))
    }

    /// A parameter's value; empty values count as absent (RFC 6749 §3.1).
    pub fn get(&self, key: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, v)| k == key && !v.is_empty())
            .map(|(_, v)| v.as_str())
    }

    /// Every value of a repeatable parameter, in order; empty values count
    /// as absent.
    pub fn get_all<'a>(&'a self, key: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.0
            .iter()
            .filter(move |(k, v)| k == key && !v.is_empty())
            .map(|(_, v)| v.as_str())
    }
}

/// At most this many `resource` parameters in one request.
const MAX_RESOURCES: usize = 16;

/// Checks a `resource` parameter (RFC 8707 §2): an absolute URI without a
/// fragment, else `invalid_target`.
fn resource(value: &str) -> Result<String, OAuthError> {
    match url::Url::parse(value) {
        Ok(url) if url.fragment().is_none() => Ok(value.to_owned()),
        _ => Err(OAuthError::new(
            OAuthErrorCode::InvalidTarget,
            "a resource must be an absolute URI without a fragment",
        )),
    }
}

/// A token request of the client-credentials grant.
#[derive(Clone, Debug)]
pub struct TokenRequest {
    /// Client authentication.
    pub client: ClientAuth,
    /// Requested scopes; `None`: every scope the agent may hold.
    pub scope: Option<Vec<String>>,
    /// The `audience` parameter.
    pub audience: Option<String>,
    /// The `resource` parameters (RFC 8707), each an absolute URI without
    /// a fragment.
    pub resources: Vec<String>,
}

impl TokenRequest {
    /// Reads a token request from a form body and `Authorization` header.
    ///
    /// # Errors
    /// The RFC 6749 error for a malformed or unsupported request.
    pub fn parse(authorization: Option<&str>, body: &[u8]) -> Result<Self, OAuthError> {
        let form = Form::parse_repeating(body, &["resource"])?;
        match form.get("grant_type") {
            None => return Err(OAuthError::invalid_request("grant_type is required")),
            Some("client_credentials") => {}
            Some(_) => {
                return Err(OAuthError::new(
                    OAuthErrorCode::UnsupportedGrantType,
                    "only the client_credentials grant is supported",
                ));
            }
        }
        let client = ClientAuth::parse(authorization, &form)?.ok_or_else(OAuthError::invalid_client)?;
        let scope = match form.get("scope") {
            None => None,
            Some(s) => {
                let scopes: Vec<String> = s.split(' ').filter(|s| !s.is_empty()).map(str::to_owned).collect();
                if scopes.iter().any(|s| !scope::is_valid_syntax(s)) {
                    return Err(OAuthError::new(
                        OAuthErrorCode::InvalidScope,
                        "the scope parameter is malformed",
                    ));
                }
                Some(scopes)
            }
        };
        let resources = form.get_all("resource").map(resource).collect::<Result<Vec<_>, _>>()?;
        if resources.len() > MAX_RESOURCES {
            return Err(OAuthError::new(
                OAuthErrorCode::InvalidTarget,
                format!("at most {MAX_RESOURCES} resources per request"),
            ));
        }
        let audience = form.get("audience").map(str::to_owned);
        if let Some(a) = &audience
            && !resources.is_empty()
            && resources.iter().any(|r| r != a)
        {
            return Err(OAuthError::invalid_request("audience and resource disagree"));
        }
        Ok(Self {
            client,
            scope,
            audience,
            resources,
        })
    }

    /// The audiences the token is asked for: the `resource` parameters
    /// (each once), else the `audience` parameter; empty: the IdP's own
    /// audience.
    pub fn targets(&self) -> Vec<&str> {
        let mut targets: Vec<&str> = Vec::new();
        for r in self.resources.iter().chain(self.audience.iter()) {
            if !targets.contains(&r.as_str()) {
                targets.push(r);
            }
        }
        targets
    }
}

/// A successful token response (RFC 6749 §5.1).
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct TokenResponse {
    /// The JWT.
    pub access_token: String,
    /// Always `Bearer`.
    pub token_type: &'static str,
    /// Lifetime in seconds.
    pub expires_in: u64,
    /// Granted scopes, space-separated.
    pub scope: String,
}

/// Why the token endpoint refused, as the HTTP layer answers it.
#[derive(Debug)]
pub(crate) enum TokenRefusal {
    /// An RFC 6749 error.
    OAuth(OAuthError),
    /// A rate limit: `429 RATE_LIMITED` with `Retry-After`.
    RateLimited(Duration),
}

impl From<OAuthError> for TokenRefusal {
    fn from(e: OAuthError) -> Self {
        TokenRefusal::OAuth(e)
    }
}

impl From<crate::Error> for TokenRefusal {
    /// A limiter that fails closed, or a store error while auditing.
    fn from(e: crate::Error) -> Self {
        match e {
            crate::Error::Store(e) => TokenRefusal::OAuth(e.into()),
            crate::Error::RateLimited { retry_after } => TokenRefusal::RateLimited(retry_after),
            other => {
                tracing::error!(error = %other, "token endpoint");
                TokenRefusal::OAuth(OAuthError::new(
                    OAuthErrorCode::ServerError,
                    "an unexpected error occurred",
                ))
            }
        }
    }
}
