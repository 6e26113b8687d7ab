//! The claims of a person's access token, and what a verified token of
//! either kind holds.
//!
//! An agent's token ([`AccessClaims`]) names its tenant in `tenant` and its
//! agent in `sub`. A person's token ([`UserClaims`]) names the host's user in
//! `sub`, carries `token_kind: "user"`, the grant it came from in `gid`, and
//! its tenant in `user_tenant`, never in `tenant`: agent verification
//! requires `tenant`, so it can never take a person's token for an agent's,
//! whatever the user id looks like.

use serde::{Deserialize, Serialize};

use super::{AccessClaims, Audience};
use crate::{GrantId, TenantId, TokenId};

/// The value of a person's token's `token_kind` claim.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum UserTokenKind {
    /// `user`.
    User,
}

/// The claims of a person's access token, issued through the
/// authorization-code flow (RFC 9068 plus `gid`, `user_tenant` and
/// `token_kind`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserClaims {
    /// Issuer.
    pub iss: String,
    /// The host's user id.
    pub sub: String,
    /// Audience: the resource(s) of the grant the token was asked for.
    pub aud: Audience,
    /// Expiry (seconds since the epoch).
    pub exp: i64,
    /// Issued at.
    pub iat: i64,
    /// Not before.
    pub nbf: i64,
    /// Token id.
    pub jti: TokenId,
    /// The client acting for the person.
    pub client_id: String,
    /// Space-separated scopes (host scopes only).
    pub scope: String,
    /// The grant the token was issued from: revoking it ends the token.
    pub gid: GrantId,
    /// The person's tenant.
    pub user_tenant: TenantId,
    /// Always `user`: what tells a person's token from an agent's.
    pub token_kind: UserTokenKind,
}

/// A token whose signature, header and issuer checked out: an agent's or
/// a person's. A person's is tried first: its required `token_kind`,
/// `gid` and `user_tenant` never occur in an agent's token, and an agent's
/// required `tenant` never occurs in a person's.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(untagged)]
pub(crate) enum TokenClaims {
    /// A person's token.
    User(UserClaims),
    /// An agent's token.
    Agent(AccessClaims),
}

impl TokenClaims {
    /// Issuer.
    pub(crate) fn iss(&self) -> &str {
        match self {
            TokenClaims::User(c) => &c.iss,
            TokenClaims::Agent(c) => &c.iss,
        }
    }

    /// Expiry.
    pub(crate) fn exp(&self) -> i64 {
        match self {
            TokenClaims::User(c) => c.exp,
            TokenClaims::Agent(c) => c.exp,
        }
    }

    /// Not before.
    pub(crate) fn nbf(&self) -> i64 {
        match self {
            TokenClaims::User(c) => c.nbf,
            TokenClaims::Agent(c) => c.nbf,
        }
    }

    /// Audience.
    pub(crate) fn aud(&self) -> &Audience {
        match self {
            TokenClaims::User(c) => &c.aud,
            TokenClaims::Agent(c) => &c.aud,
        }
    }
}

impl From<AccessClaims> for TokenClaims {
    fn from(c: AccessClaims) -> Self {
        TokenClaims::Agent(c)
    }
}

impl From<UserClaims> for TokenClaims {
    fn from(c: UserClaims) -> Self {
        TokenClaims::User(c)
    }
}

impl UserClaims {
    /// The scopes, one by one.
    pub(crate) fn scopes(&self) -> Vec<String> {
        self.scope
            .split(' ')
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::AgentId;

    fn user() -> UserClaims {
        UserClaims {
            iss: "https://idp.example".into(),
            // A user id that looks like an agent id changes nothing.
            sub: AgentId::new().to_string(),
            aud: "https://mcp.example".into(),
            exp: 2,
            iat: 1,
            nbf: 1,
            jti: TokenId::new(),
            client_id: "sa_oc_1".into(),
            scope: "tools:call".into(),
            gid: GrantId::new(),
            user_tenant: TenantId::new(),
            token_kind: UserTokenKind::User,
        }
    }

    #[test]
    fn a_persons_token_never_reads_as_an_agents() {
        let json = serde_json::to_value(user()).unwrap_or_default();
        assert!(json.get("tenant").is_none());
        assert_eq!(json["token_kind"], "user");
        assert!(serde_json::from_value::<AccessClaims>(json.clone()).is_err());
        let read: Option<TokenClaims> = serde_json::from_value(json).ok();
        assert!(matches!(read, Some(TokenClaims::User(_))));
    }

    #[test]
    fn an_agents_token_never_reads_as_a_persons() {
        let agent = AccessClaims {
            iss: "https://idp.example".into(),
            sub: AgentId::new(),
            aud: "https://idp.example".into(),
            exp: 2,
            iat: 1,
            nbf: 1,
            jti: TokenId::new(),
            client_id: "sa_ci_1".into(),
            scope: "admin".into(),
            tenant: TenantId::new(),
            act: None,
        };
        let json = serde_json::to_value(&agent).unwrap_or_default();
        assert!(serde_json::from_value::<UserClaims>(json.clone()).is_err());
        let read: Option<TokenClaims> = serde_json::from_value(json).ok();
        assert_eq!(read, Some(TokenClaims::Agent(agent)));
    }
}
