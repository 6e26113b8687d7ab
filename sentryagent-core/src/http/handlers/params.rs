//! Parameters several operations share, for the OpenAPI document only: the
//! handlers read them from the neutral request.
#![allow(dead_code)] // never built: utoipa reads their shape

use utoipa::IntoParams;

use crate::{AgentId, CredentialId, TrustPolicyId};

/// `{agentId}` in the path.
#[derive(IntoParams)]
#[into_params(parameter_in = Path, rename_all = "camelCase")]
pub(super) struct AgentIdParam {
    /// The agent's id.
    agent_id: AgentId,
}

/// `{credentialId}` in the path.
#[derive(IntoParams)]
#[into_params(parameter_in = Path, rename_all = "camelCase")]
pub(super) struct CredentialIdParam {
    /// The credential's id.
    credential_id: CredentialId,
}

/// `{policyId}` in the path.
#[derive(IntoParams)]
#[into_params(parameter_in = Path, rename_all = "camelCase")]
pub(super) struct PolicyIdParam {
    /// The trust policy's id.
    policy_id: TrustPolicyId,
}

/// A page's size and position.
#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
pub(super) struct PageParams {
    /// At most this many items, 1 to 100 (default 20).
    #[param(minimum = 1, maximum = 100)]
    limit: Option<u8>,
    /// `nextCursor` of the page before.
    cursor: Option<String>,
}
