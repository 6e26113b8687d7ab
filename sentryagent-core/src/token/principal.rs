//! Who a token speaks for: an agent, or a person acting through a client.
//!
//! Tokens of the client-credentials and workload grants speak for an agent
//! ([`AgentIdentity`]). Tokens of the authorization-code flow speak for one
//! of the host's people, acting through a client (an MCP client such as an
//! IDE): [`UserIdentity`]. A resource accepts either or both, as its policy
//! says; [`Principal`] holds whichever a token turned out to be.

use serde::Serialize;

use super::AgentIdentity;
use crate::{GrantId, TenantId, TokenId};

/// A person acting through a client: `sub` is the host's user id,
/// `client_id` the client, `aud` the resource(s) the token is for.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct UserIdentity {
    /// The host's user id (`sub`).
    pub user_id: String,
    /// The user's tenant.
    pub tenant_id: TenantId,
    /// The client acting for them.
    pub client_id: String,
    /// The resources the token is for (`aud`).
    pub audience: Vec<String>,
    /// The scopes granted: the host's own scopes only, never a management
    /// scope ([`check_consentable_scopes`](crate::authorization::check_consentable_scopes)).
    pub scopes: Vec<String>,
    /// The grant the token was issued from: revoking it ends the token.
    pub grant_id: GrantId,
    /// The token's id (`jti`).
    pub token_id: TokenId,
    /// Expiry, seconds since the epoch.
    pub expires_at: i64,
}

impl UserIdentity {
    /// The verified person behind a token's claims.
    pub(crate) fn from_claims(claims: &super::UserClaims) -> Self {
        Self {
            user_id: claims.sub.clone(),
            tenant_id: claims.user_tenant,
            client_id: claims.client_id.clone(),
            audience: claims.aud.values().to_vec(),
            scopes: claims.scopes(),
            grant_id: claims.gid,
            token_id: claims.jti,
            expires_at: claims.exp,
        }
    }

    /// Whether the token grants `scope`. Exact match only: `admin` means
    /// nothing here, since no management scope is ever granted to a person
    /// through a client.
    pub fn has_scope(&self, required: &str) -> bool {
        self.scopes.iter().any(|s| s == required)
    }

    /// Whether the token is for `resource`.
    pub fn is_for(&self, resource: &str) -> bool {
        self.audience.iter().any(|a| a == resource)
    }
}

/// The verified caller behind a bearer token: an agent, or a person acting
/// through a client.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "camelCase")]
pub enum Principal {
    /// An agent (client credentials, workload identity).
    Agent(AgentIdentity),
    /// A person acting through a client (authorization code).
    User(UserIdentity),
}

impl Principal {
    /// The tenant the token belongs to.
    pub fn tenant_id(&self) -> TenantId {
        match self {
            Principal::Agent(a) => a.tenant_id,
            Principal::User(u) => u.tenant_id,
        }
    }

    /// The client the token was issued to.
    pub fn client_id(&self) -> &str {
        match self {
            Principal::Agent(a) => &a.client_id,
            Principal::User(u) => &u.client_id,
        }
    }

    /// The token's id (`jti`).
    pub fn token_id(&self) -> TokenId {
        match self {
            Principal::Agent(a) => a.token_id,
            Principal::User(u) => u.token_id,
        }
    }

    /// Whether the token grants `scope`, by the rule of its kind.
    pub fn has_scope(&self, required: &str) -> bool {
        match self {
            Principal::Agent(a) => a.has_scope(required),
            Principal::User(u) => u.has_scope(required),
        }
    }

    /// The agent, if an agent's token.
    pub fn as_agent(&self) -> Option<&AgentIdentity> {
        match self {
            Principal::Agent(a) => Some(a),
            Principal::User(_) => None,
        }
    }

    /// The person and client, if a person's token.
    pub fn as_user(&self) -> Option<&UserIdentity> {
        match self {
            Principal::Agent(_) => None,
            Principal::User(u) => Some(u),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::AgentId;

    fn user() -> UserIdentity {
        UserIdentity {
            user_id: "user-17".into(),
            tenant_id: TenantId::new(),
            client_id: "https://app.example.com/client.json".into(),
            audience: vec!["https://mcp.example.com".into()],
            scopes: vec!["tools:call".into(), "admin".into()],
            grant_id: GrantId::new(),
            token_id: TokenId::new(),
            expires_at: 1_000,
        }
    }

    #[test]
    fn a_person_through_a_client_holds_exact_scopes_only() {
        let u = user();
        assert!(u.has_scope("tools:call"));
        // Even if `admin` got into a token, it grants no management scope.
        assert!(!u.has_scope(crate::scope::AGENTS_WRITE));
        assert!(u.is_for("https://mcp.example.com"));
        assert!(!u.is_for("https://other.example.com"));
        let p = Principal::User(u.clone());
        assert_eq!(p.tenant_id(), u.tenant_id);
        assert_eq!(p.client_id(), u.client_id);
        assert_eq!(p.token_id(), u.token_id);
        assert!(!p.has_scope(crate::scope::AUDIT_READ));
        assert_eq!(p.as_user(), Some(&u));
        assert_eq!(p.as_agent(), None);
        let json = serde_json::to_value(&p).unwrap_or_default();
        assert_eq!(json["kind"], "user");
        assert_eq!(json["userId"], "user-17");
    }

    #[test]
    fn an_agent_keeps_its_rules() {
        let a = AgentIdentity {
            agent_id: AgentId::new(),
            tenant_id: TenantId::new(),
            client_id: "sa_ci_1".into(),
            scopes: vec!["admin".into()],
            token_id: TokenId::new(),
            expires_at: 1_000,
            actor: None,
        };
        let p = Principal::Agent(a.clone());
        assert!(
            p.has_scope(crate::scope::AGENTS_WRITE),
            "admin grants management scopes to agents"
        );
        assert_eq!(p.as_agent(), Some(&a));
        assert_eq!(p.as_user(), None);
        assert_eq!(serde_json::to_value(&p).unwrap_or_default()["kind"], "agent");
    }
}
