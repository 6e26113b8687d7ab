//! The credential model: records, requests, answers and their validation.

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::error::Error;
use crate::{AgentId, CredentialId, TenantId};

/// Whether a credential can still authenticate.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum CredentialStatus {
    /// Usable.
    Active,
    /// Revoked: never usable again.
    Revoked,
}

impl CredentialStatus {
    /// The name the API and stores use.
    pub fn as_str(self) -> &'static str {
        match self {
            CredentialStatus::Active => "active",
            CredentialStatus::Revoked => "revoked",
        }
    }

    /// Parses [`as_str`](Self::as_str)'s output.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "active" => Some(CredentialStatus::Active),
            "revoked" => Some(CredentialStatus::Revoked),
            _ => None,
        }
    }
}

/// A stored credential. The secret itself is never stored, only its keyed
/// hash; this type never serialises the hash.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Credential {
    /// The credential's id; stays the same across rotations.
    #[serde(rename = "credentialId")]
    pub id: CredentialId,
    /// The owning tenant.
    #[serde(skip)]
    pub tenant_id: TenantId,
    /// The owning agent.
    pub agent_id: AgentId,
    /// The public client id presented at the token endpoint.
    pub client_id: String,
    /// HMAC-SHA-256 of the secret under the server's pepper.
    #[serde(skip)]
    pub secret_hash: Vec<u8>,
    /// Active or revoked.
    pub status: CredentialStatus,
    /// When it was generated.
    #[serde(with = "crate::time::rfc3339")]
    pub created_at: OffsetDateTime,
    /// When it stops working, if ever.
    #[serde(with = "crate::time::rfc3339::option")]
    pub expires_at: Option<OffsetDateTime>,
    /// When its secret was last rotated.
    #[serde(with = "crate::time::rfc3339::option")]
    pub rotated_at: Option<OffsetDateTime>,
    /// When it was revoked.
    #[serde(with = "crate::time::rfc3339::option")]
    pub revoked_at: Option<OffsetDateTime>,
    /// The public key of a `private_key_jwt` credential; `None` for a
    /// secret credential. A key credential has no secret (its hash is empty).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub public_key: Option<super::ClientKey>,
}

impl Credential {
    /// Whether it is a public-key credential (`private_key_jwt`) rather
    /// than a secret one (`client_secret_basic`/`client_secret_post`).
    pub fn is_key(&self) -> bool {
        self.public_key.is_some()
    }

    /// Whether it may authenticate at `now`.
    pub fn is_usable(&self, now: OffsetDateTime) -> bool {
        self.status == CredentialStatus::Active && self.expires_at.is_none_or(|at| at > now)
    }
}

pub(crate) fn revoked() -> Error {
    Error::Conflict {
        code: crate::ErrorCode::CredentialRevoked,
        message: "the credential is revoked".into(),
    }
}
