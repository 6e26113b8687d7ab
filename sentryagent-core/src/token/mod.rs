//! Access tokens: issuance (client credentials), verification, introspection
//! and revocation.
//!
//! Tokens are JWTs per RFC 9068 (`typ: at+jwt`). Verification pins the
//! algorithm of each key: the `alg` in a token's header must equal the
//! algorithm its `kid` was made for, so `none` and HMAC-with-a-public-key
//! tokens fail by construction.

mod assertion;
mod caller;
mod claims;
mod grant;
mod identity;
mod issue;
pub(crate) mod keys;
mod people;
mod principal;
mod request;
mod stored_key;
mod user_request;
mod verified;
mod verify;

use std::time::Duration;

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

pub use assertion::MAX_ASSERTION_LIFETIME;
pub(crate) use claims::TokenClaims;
pub use claims::{UserClaims, UserTokenKind};
pub use grant::TokenGrant;
pub use identity::{AgentIdentity, IntrospectedClaims, IntrospectedToken, IntrospectedUserClaims, Introspection};
pub(crate) use keys::Keyring;
pub use principal::{Principal, UserIdentity};
pub(crate) use request::TokenRefusal;
pub use request::{
    CLIENT_ASSERTION_TYPE_JWT, ClientAuth, Form, GRANT_TYPE_JWT_BEARER, JwtBearerRequest, PresentedJwt, TokenRequest,
    TokenResponse, bearer_token,
};
pub use stored_key::{KeyState, SigningAlgorithm, StoredKey};
pub use user_request::{AuthorizationCodeRequest, PresentedClient, RefreshTokenRequest};

use crate::{AgentId, TenantId, TokenId};

/// The claims of an access token (RFC 9068 plus `tenant`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccessClaims {
    /// Issuer.
    pub iss: String,
    /// The agent.
    pub sub: AgentId,
    /// Audience: the resource(s) the token was issued for.
    pub aud: Audience,
    /// Expiry (seconds since the epoch).
    pub exp: i64,
    /// Issued at.
    pub iat: i64,
    /// Not before.
    pub nbf: i64,
    /// Token id.
    pub jti: TokenId,
    /// The client id the token was issued to.
    pub client_id: String,
    /// Space-separated scopes.
    pub scope: String,
    /// The agent's tenant.
    pub tenant: TenantId,
    /// Who acts through the token when it is not the agent's own program
    /// (RFC 8693 §4.1): the CI workflow of a bootstrap exchange.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub act: Option<Actor>,
}

/// A token's audience (RFC 7519 §4.1.3): one identifier, sent as a JSON
/// string, or several (RFC 8707's repeated `resource`), sent as an array.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(untagged)]
pub enum Audience {
    /// One audience.
    One(String),
    /// Several audiences.
    Many(Vec<String>),
}

impl Audience {
    /// The audience of these identifiers: a string for one, an array for
    /// several.
    pub fn of(mut audiences: Vec<String>) -> Self {
        match audiences.len() {
            1 => Audience::One(audiences.remove(0)),
            _ => Audience::Many(audiences),
        }
    }

    /// Its identifiers.
    pub fn values(&self) -> &[String] {
        match self {
            Audience::One(one) => std::slice::from_ref(one),
            Audience::Many(many) => many,
        }
    }

    /// Whether `audience` is one of them.
    pub fn contains(&self, audience: &str) -> bool {
        self.values().iter().any(|a| a == audience)
    }
}

impl std::fmt::Display for Audience {
    /// The identifiers, space-separated (for the audit log).
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.values().join(" "))
    }
}

impl From<String> for Audience {
    fn from(one: String) -> Self {
        Audience::One(one)
    }
}

impl From<&str> for Audience {
    fn from(one: &str) -> Self {
        Audience::One(one.to_owned())
    }
}

/// The actor of a token issued to a CI workflow (RFC 8693's `act` claim).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Actor {
    /// `oidc:<repository>`, as the audit log names the workflow.
    pub sub: String,
    /// The repository (`owner/name`).
    pub repository: String,
    /// Its numeric id.
    pub repository_id: String,
    /// The ref the workflow ran on.
    #[serde(rename = "ref", default, skip_serializing_if = "Option::is_none")]
    pub git_ref: Option<String>,
    /// The workflow run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub run_id: Option<String>,
}

/// The first instant at which a token expiring at `exp` (seconds since the
/// epoch) no longer verifies. Verification compares whole seconds and allows
/// the clock skew's whole seconds past `exp`, so a token still verifies
/// during the whole second `exp + skew`; the skew is rounded up here so the
/// answer stays late enough whatever the rounding. What must outlive a token
/// (its revocation, a replay guard's entry) is kept until this instant.
pub(crate) fn stops_verifying(exp: i64, clock_skew: Duration) -> OffsetDateTime {
    let skew = clock_skew
        .as_secs()
        .saturating_add(u64::from(clock_skew.subsec_nanos() > 0));
    let secs = exp
        .saturating_add(i64::try_from(skew).unwrap_or(i64::MAX))
        .saturating_add(1);
    OffsetDateTime::from_unix_timestamp(secs).unwrap_or_else(|_| time::PrimitiveDateTime::MAX.assume_utc())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_token_stops_verifying_after_the_second_of_exp_plus_skew() {
        let at = |exp, skew| stops_verifying(exp, skew).unix_timestamp();
        assert_eq!(at(1_000, Duration::ZERO), 1_001);
        assert_eq!(at(1_000, Duration::from_secs(30)), 1_031);
        assert_eq!(at(1_000, Duration::from_millis(1_500)), 1_003);
        assert_eq!(
            stops_verifying(i64::MAX, Duration::from_secs(30)),
            time::PrimitiveDateTime::MAX.assume_utc()
        );
    }
}
