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
    /// A signed client assertion (`private_key_jwt`, RFC 7523 §2.2).
    Assertion {
        /// The form's `client_id`, else the assertion's (unverified) `iss`,
        /// else its `sub`: which credential's key to verify it with. The
        /// verified assertion must name this id as `iss` and `sub`.
        client_id: String,
        /// The JWT.
        assertion: PresentedJwt,
    },
}

/// A JWT presented as a credential (a client assertion, a workload
/// token): its `Debug` does not print it, so it stays out of logs.
#[derive(Clone, PartialEq, Eq)]
pub struct PresentedJwt(String);

impl PresentedJwt {
    /// Wraps a presented JWT.
    pub fn new(jwt: impl Into<String>) -> Self {
        Self(jwt.into())
    }

    /// The JWT itself.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for PresentedJwt {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PresentedJwt([redacted])")
    }
}

/// `client_assertion_type` of a JWT client assertion (RFC 7523 §2.2).
pub const CLIENT_ASSERTION_TYPE_JWT: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

/// `grant_type` of the JWT bearer grant (RFC 7523 §2.1).
pub const GRANT_TYPE_JWT_BEARER: &str = "urn:ietf:params:oauth:grant-type:jwt-bearer";

/// The client id an assertion names, unverified: `iss`, else `sub`.
fn assertion_client_id(assertion: &str) -> Option<String> {
    #[derive(serde::Deserialize)]
    struct Named {
        iss: Option<String>,
        sub: Option<String>,
    }
    let named: Named = jsonwebtoken::dangerous::insecure_decode_claims(assertion).ok()?;
    named.iss.or(named.sub).filter(|id| !id.is_empty())
}

impl ClientAuth {
    /// The client id presented.
    pub fn client_id(&self) -> &str {
        match self {
            ClientAuth::Basic { client_id, .. }
            | ClientAuth::Post { client_id, .. }
            | ClientAuth::Assertion { client_id, .. } => client_id,
        }
    }

    /// The secret presented; `None` for an assertion.
    pub(crate) fn secret(&self) -> Option<&ClientSecret> {
        match self {
            ClientAuth::Basic { secret, .. } | ClientAuth::Post { secret, .. } => Some(secret),
            ClientAuth::Assertion { .. } => None,
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
                // Generated ids and secrets have nothing to unescape: only a
                // part with `%` or `+` goes through the form decoder.
                let unescape = |s: &str| -> String {
                    if !s.contains(['%', '+']) {
                        return s.to_owned();
                    }
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
        match (form.get("client_assertion_type"), form.get("client_assertion")) {
            (None, None) => {}
            (Some(CLIENT_ASSERTION_TYPE_JWT), Some(jwt)) => {
                if basic.is_some() || form.get("client_secret").is_some() {
                    return Err(OAuthError::invalid_request(
                        "use one client authentication method, not both",
                    ));
                }
                let client_id = match form.get("client_id") {
                    Some(id) => Some(id.to_owned()),
                    None => assertion_client_id(jwt),
                };
                let Some(client_id) = client_id else {
                    return Err(OAuthError::new(
                        OAuthErrorCode::InvalidClient,
                        "the client assertion names no client (iss and sub are missing)",
                    ));
                };
                return Ok(Some(ClientAuth::Assertion {
                    client_id,
                    assertion: PresentedJwt::new(jwt),
                }));
            }
            (Some(_), Some(_)) => {
                return Err(OAuthError::new(
                    OAuthErrorCode::InvalidClient,
                    format!("client_assertion_type must be {CLIENT_ASSERTION_TYPE_JWT}"),
                ));
            }
            _ => {
                return Err(OAuthError::invalid_request(
                    "client_assertion_type and client_assertion go together",
                ));
            }
        }
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
pub(super) const MAX_RESOURCES: usize = 16;

/// Checks a `resource` parameter (RFC 8707 §2): an absolute URI without a
/// fragment, else `invalid_target`.
pub(super) fn resource(value: &str) -> Result<String, OAuthError> {
    match url::Url::parse(value) {
        Ok(url) if url.fragment().is_none() => Ok(value.to_owned()),
        _ => Err(OAuthError::new(
            OAuthErrorCode::InvalidTarget,
            "a resource must be an absolute URI without a fragment",
        )),
    }
}

/// The `resource` parameters (RFC 8707 §2), each checked, at most
/// [`MAX_RESOURCES`].
pub(super) fn parse_resources(form: &Form) -> Result<Vec<String>, OAuthError> {
    let resources = form.get_all("resource").map(resource).collect::<Result<Vec<_>, _>>()?;
    if resources.len() > MAX_RESOURCES {
        return Err(OAuthError::new(
            OAuthErrorCode::InvalidTarget,
            format!("at most {MAX_RESOURCES} resources per request"),
        ));
    }
    Ok(resources)
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
        Self::from_form(authorization, &Form::parse_repeating(body, &["resource"])?)
    }

    /// [`parse`](Self::parse) of a form already parsed (with `resource`
    /// repeatable).
    pub(super) fn from_form(authorization: Option<&str>, form: &Form) -> Result<Self, OAuthError> {
        match form.get("grant_type") {
            None => return Err(OAuthError::invalid_request("grant_type is required")),
            Some("client_credentials") => {}
            Some(_) => {
                return Err(OAuthError::new(
                    OAuthErrorCode::UnsupportedGrantType,
                    "the grants are client_credentials, authorization_code, refresh_token and urn:ietf:params:oauth:grant-type:jwt-bearer",
                ));
            }
        }
        let client = ClientAuth::parse(authorization, form)?.ok_or_else(OAuthError::invalid_client)?;
        let scope = parse_scope(form)?;
        let resources = parse_resources(form)?;
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

/// The `scope` parameter: `None` when absent.
pub(super) fn parse_scope(form: &Form) -> Result<Option<Vec<String>>, OAuthError> {
    let Some(s) = form.get("scope") else {
        return Ok(None);
    };
    let scopes: Vec<String> = s.split(' ').filter(|s| !s.is_empty()).map(str::to_owned).collect();
    if scopes.iter().any(|s| !scope::is_valid_syntax(s)) {
        return Err(OAuthError::new(
            OAuthErrorCode::InvalidScope,
            "the scope parameter is malformed",
        ));
    }
    Ok(Some(scopes))
}

/// A token request of the JWT bearer grant (RFC 7523 §2.1): a workload
/// token from an OIDC issuer the agent's tenant registered, for a token of
/// the agent it names.
#[derive(Clone, Debug)]
pub struct JwtBearerRequest {
    /// The workload's JWT (`assertion`).
    pub assertion: PresentedJwt,
    /// The agent the token is for (`agent_id`): it names the tenant whose
    /// trust policies are read, and no other tenant's.
    pub agent_id: crate::AgentId,
    /// Requested scopes; `None`: every scope the agent holds.
    pub scope: Option<Vec<String>>,
    /// The `resource` parameters (RFC 8707): the token's audience, under
    /// the client-credentials grant's rule; empty: the IdP's own audience.
    pub resources: Vec<String>,
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
    /// The refresh token (authorization-code flow only): one use, its
    /// successor comes with the next access token.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub refresh_token: Option<String>,
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
