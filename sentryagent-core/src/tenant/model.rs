//! The tenant model: records, requests, answers and their validation.

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::TenantId;

/// A tenant: an organisation with its own agents, credentials and audit log.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Tenant {
    /// The tenant's id.
    #[serde(rename = "tenantId")]
    pub id: TenantId,
    /// Display name, 1 to 200 characters.
    pub name: String,
    /// The tier's name (`free`, `pro`, `enterprise`).
    pub tier: String,
    /// When the tenant signed up.
    #[serde(with = "crate::time::rfc3339")]
    pub created_at: OffsetDateTime,
}

/// A new tenant with its first admin credential. The secret is shown once.
#[derive(Debug)]
pub struct TenantCreated {
    /// The tenant.
    pub tenant: Tenant,
    /// The tenant's admin agent.
    pub admin_agent_id: crate::AgentId,
    /// The admin credential's client id.
    pub admin_client_id: String,
    /// The admin credential's secret, in the clear this once.
    pub admin_client_secret: crate::secret::ClientSecret,
}

/// A new admin credential made by an operator's recovery. The secret is
/// shown once.
#[derive(Debug)]
pub struct RecoveredAdmin {
    /// The tenant's admin agent.
    pub admin_agent_id: crate::AgentId,
    /// The new credential's id.
    pub credential_id: crate::CredentialId,
    /// The new credential's client id.
    pub admin_client_id: String,
    /// Its secret, in the clear this once.
    pub admin_client_secret: crate::secret::ClientSecret,
}
