//! OAuth 2.0: the client-credentials grant, introspection (RFC 7662),
//! revocation (RFC 7009) and the discovery documents. These messages keep
//! their RFCs' snake_case names.

use serde::{Deserialize, Serialize};

use crate::client::{Authn, Call, Client, ClientCredentials, Secret};
use crate::error::Error;
use crate::ops;

/// An access token (RFC 6749 §5.1).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct TokenResponse {
    /// The JWT.
    pub access_token: Secret,
    /// `Bearer`.
    pub token_type: String,
    /// Seconds until it expires.
    pub expires_in: u64,
    /// The scopes it carries, space-separated.
    pub scope: String,
}

/// What introspection says of a token (RFC 7662): `active: false` and
/// nothing else, or its claims.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct Introspection {
    /// Whether the token is valid now.
    pub active: bool,
    /// The agent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sub: Option<String>,
    /// The client id it was issued to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_id: Option<String>,
    /// Space-separated scopes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
    /// Expiry (Unix time).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exp: Option<i64>,
    /// Issued at (Unix time).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iat: Option<i64>,
    /// Not before (Unix time).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nbf: Option<i64>,
    /// Issuer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iss: Option<String>,
    /// Audience: one resource, or several.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub aud: Option<Audience>,
    /// Token id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jti: Option<String>,
    /// The agent's tenant.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tenant: Option<String>,
    /// `Bearer`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_type: Option<String>,
}

/// A token's audience: one identifier (a JSON string) or several (an
/// array, for a token asked for several resources).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Audience {
    /// One audience.
    One(String),
    /// Several audiences.
    Many(Vec<String>),
}

impl Audience {
    /// Its identifiers.
    pub fn values(&self) -> &[String] {
        match self {
            Audience::One(one) => std::slice::from_ref(one),
            Audience::Many(many) => many,
        }
    }
}

impl std::fmt::Display for Audience {
    /// The identifiers, space-separated.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.values().join(" "))
    }
}

/// One public signing key of the JWKS.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Jwk {
    /// `EC`, `OKP` or `RSA`.
    pub kty: String,
    /// The key id tokens name.
    pub kid: String,
    /// `ES256`, `EdDSA` or `RS256`.
    pub alg: String,
    /// `sig`.
    #[serde(rename = "use")]
    pub key_use: String,
    /// Curve.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub crv: Option<String>,
    /// Public coordinate or key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub x: Option<String>,
    /// EC only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub y: Option<String>,
    /// RSA modulus.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub n: Option<String>,
    /// RSA exponent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub e: Option<String>,
}

/// A JSON Web Key Set (RFC 7517).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Jwks {
    /// The current, next and retired signing keys.
    pub keys: Vec<Jwk>,
}

/// Authorization server metadata (RFC 8414); the OpenID configuration adds
/// two members. Members a server may leave out are optional here, so a
/// server that gains (or drops) a method or endpoint stays readable.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ServerMetadata {
    /// The issuer.
    pub issuer: String,
    /// The authorization endpoint, when the server has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub authorization_endpoint: Option<String>,
    /// The token endpoint.
    pub token_endpoint: String,
    /// The JWKS.
    pub jwks_uri: String,
    /// Introspection.
    pub introspection_endpoint: String,
    /// Revocation.
    pub revocation_endpoint: String,
    /// Dynamic client registration, when enabled.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub registration_endpoint: Option<String>,
    /// Grant types.
    #[serde(default)]
    pub grant_types_supported: Vec<String>,
    /// Response types of the authorization endpoint (empty without one).
    #[serde(default)]
    pub response_types_supported: Vec<String>,
    /// Client authentication at the token endpoint.
    #[serde(default)]
    pub token_endpoint_auth_methods_supported: Vec<String>,
    /// Signing algorithms of JWT client authentication, when a JWT-based
    /// method is listed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_endpoint_auth_signing_alg_values_supported: Option<Vec<String>>,
    /// Client authentication at revocation.
    #[serde(default)]
    pub revocation_endpoint_auth_methods_supported: Vec<String>,
    /// Client authentication at introspection.
    #[serde(default)]
    pub introspection_endpoint_auth_methods_supported: Vec<String>,
    /// Scopes.
    #[serde(default)]
    pub scopes_supported: Vec<String>,
    /// PKCE methods, when the server has an authorization endpoint.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code_challenge_methods_supported: Option<Vec<String>>,
    /// Whether authorization responses carry `iss` (RFC 9207), when the
    /// server has an authorization endpoint.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub authorization_response_iss_parameter_supported: Option<bool>,
    /// Whether a client may use the URL of its metadata document as its
    /// client id (draft-ietf-oauth-client-id-metadata-document).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_id_metadata_document_supported: Option<bool>,
    /// OpenID configuration only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id_token_signing_alg_values_supported: Option<Vec<String>>,
    /// OpenID configuration only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject_types_supported: Option<Vec<String>>,
}

impl Client {
    /// Gets an access token with client credentials (HTTP Basic). The
    /// client's own management token is [`Client::access_token`]; this is
    /// for any credentials.
    ///
    /// # Errors
    /// `invalid_client`, `invalid_scope`, `unauthorized_client` (a suspended
    /// agent), …
    pub async fn issue_token(&self, credentials: &ClientCredentials) -> Result<TokenResponse, Error> {
        let mut form = vec![("grant_type", "client_credentials".to_owned())];
        if let Some(scope) = &credentials.scope {
            form.push(("scope", scope.clone()));
        }
        if let Some(audience) = &credentials.audience {
            form.push(("audience", audience.clone()));
        }
        let call = Call::new(ops::ISSUE_TOKEN)
            .form(form)
            .authn(Authn::Basic(&credentials.client_id, &credentials.client_secret));
        self.json(call).await
    }

    /// Introspects a token (RFC 7662): as the client (which needs
    /// `tokens:introspect`) when it has credentials, else as the token itself.
    ///
    /// # Errors
    /// `invalid_token`, `insufficient_scope`, …
    pub async fn introspect(&self, token: &str) -> Result<Introspection, Error> {
        let secret = Secret::new(token);
        let authn = if self.has_credentials() {
            Authn::Bearer
        } else {
            Authn::Token(&secret)
        };
        let call = Call::new(ops::INTROSPECT_TOKEN)
            .form(vec![("token", token.to_owned())])
            .authn(authn);
        self.json(call).await
    }

    /// Revokes a token (RFC 7009), as the client when it has credentials,
    /// else as the token itself. Unknown tokens are "revoked" too: the
    /// answer does not say whether the token existed.
    ///
    /// # Errors
    /// `invalid_token`, `insufficient_scope`, …
    pub async fn revoke(&self, token: &str) -> Result<(), Error> {
        let secret = Secret::new(token);
        let authn = if self.has_credentials() {
            Authn::Bearer
        } else {
            Authn::Token(&secret)
        };
        let call = Call::new(ops::REVOKE_TOKEN)
            .form(vec![("token", token.to_owned())])
            .authn(authn);
        self.send(&call).await.map(drop)
    }

    /// The public keys tokens are signed with.
    ///
    /// # Errors
    /// No answer, or an unreadable one.
    pub async fn jwks(&self) -> Result<Jwks, Error> {
        self.json(Call::new(ops::GET_JWKS).public()).await
    }

    /// RFC 8414 authorization server metadata.
    ///
    /// # Errors
    /// No answer, or an unreadable one.
    pub async fn authorization_server_metadata(&self) -> Result<ServerMetadata, Error> {
        self.json(Call::new(ops::GET_AUTHORIZATION_SERVER_METADATA).public())
            .await
    }

    /// OpenID Connect discovery.
    ///
    /// # Errors
    /// No answer, or an unreadable one.
    pub async fn openid_configuration(&self) -> Result<ServerMetadata, Error> {
        self.json(Call::new(ops::GET_OPENID_CONFIGURATION).public()).await
    }
}
