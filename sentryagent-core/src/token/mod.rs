//! Access tokens: issuance (client credentials), verification, introspection
//! and revocation.
//!
//! Tokens are JWTs per RFC 9068 (`typ: at+jwt`). Verification pins the
//! algorithm of each key: the `alg` in a token's header must equal the
//! algorithm its `kid` was made for, so `none` and HMAC-with-a-public-key
//! tokens fail by construction.

mod issue;
pub(crate) mod keys;
mod verified;
mod verify;

use serde::{Deserialize, Serialize};

pub use issue::{ClientAuth, Form, TokenRequest, TokenResponse};
pub(crate) use keys::Keyring;
pub use keys::{KeyState, SigningAlgorithm, StoredKey};
pub use verify::{AgentIdentity, Introspection};

use crate::{AgentId, TenantId, TokenId};

/// The claims of an access token (RFC 9068 plus `tenant`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccessClaims {
    /// Issuer.
    pub iss: String,
    /// The agent.
    pub sub: AgentId,
    /// Audience.
    pub aud: String,
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
}
