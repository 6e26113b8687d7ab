//! Who is asking to introspect or revoke a token.

use super::{AgentIdentity, PresentedClient};
use crate::{AgentId, TenantId};

/// Who is asking to introspect or revoke.
pub(super) enum OAuthCaller {
    /// The token itself was presented as the bearer.
    Itself,
    /// Another token of this IdP.
    Bearer(AgentIdentity),
    /// An agent's client, authenticated with its credentials.
    Client {
        tenant: TenantId,
        agent: AgentId,
        client_id: String,
    },
    /// A client of the authorization-code flow, not authenticated yet: it
    /// is, in the tenant of the token it presents (one client id may be
    /// known to several tenants), and only for tokens issued to it.
    OAuthClient(PresentedClient),
}

impl OAuthCaller {
    /// Whether the caller is in the token's tenant (a client of the
    /// authorization-code flow is checked apart).
    pub(super) fn may_see(&self, tenant: TenantId) -> bool {
        match self {
            OAuthCaller::Itself => true,
            OAuthCaller::Bearer(id) => id.tenant_id == tenant,
            OAuthCaller::Client { tenant: own, .. } => *own == tenant,
            OAuthCaller::OAuthClient(_) => false,
        }
    }
}
