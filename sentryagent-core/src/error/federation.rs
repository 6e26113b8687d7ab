//! The errors of the token exchange, each with its code (the HTTP layer
//! gives each code its status).

use super::ErrorCode;

/// Why `POST /oidc/token` refused. The messages say what to do; none
/// repeats the token.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum FederationError {
    /// 401 `OIDC_TOKEN_EXPIRED`.
    #[error("the OIDC token has expired; request a new one from the Actions runtime")]
    TokenExpired,
    /// 401 `OIDC_TOKEN_INVALID`: signature, algorithm, `kid`, issuer,
    /// audience, times or claims; the reason is one short phrase.
    #[error("the OIDC token is invalid: {0}")]
    TokenInvalid(String),
    /// 403 `TRUST_POLICY_NOT_FOUND`.
    #[error("no trust policy matches the OIDC token's claims (repository {repository}, ref {git_ref})")]
    PolicyNotFound {
        /// The token's repository.
        repository: String,
        /// The token's ref, or `-`.
        git_ref: String,
        /// The token's event, or `-`.
        event: String,
    },
    /// 403 `TRUST_POLICY_BRANCH_MISMATCH`.
    #[error("the token's branch does not match the trust policy's constraint")]
    BranchMismatch {
        /// The policy's branch pattern.
        allowed: String,
        /// The token's branch (or ref, when it is not a branch).
        provided: String,
    },
    /// 400 `TRUST_POLICY_AMBIGUOUS`: several tenants' (or agents') policies
    /// match and the request does not say which.
    #[error("trust policies for {count} different {what}s match this token; name one with `{field}`")]
    Ambiguous {
        /// The request field that settles it: `tenantId` or `agentId`.
        field: &'static str,
        /// `tenant` or `agent`.
        what: &'static str,
        /// How many match.
        count: usize,
    },
    /// 403 `AGENT_DECOMMISSIONED`: the policy's agent is gone for good.
    #[error("the agent of the matching trust policy is decommissioned")]
    AgentDecommissioned,
    /// 503 `OIDC_PROVIDER_UNAVAILABLE`: the issuer's keys could not be fetched.
    #[error("the OIDC issuer's keys cannot be fetched right now; retry shortly")]
    ProviderUnavailable,
    /// 503 `OIDC_NOT_CONFIGURED`: the server has no JWKS fetcher.
    #[error("OIDC token exchange is not configured on this server")]
    NotConfigured,
}

impl FederationError {
    /// The stable code of the refusal.
    pub fn code(&self) -> ErrorCode {
        match self {
            FederationError::TokenExpired => ErrorCode::OidcTokenExpired,
            FederationError::TokenInvalid(_) => ErrorCode::OidcTokenInvalid,
            FederationError::PolicyNotFound { .. } => ErrorCode::TrustPolicyNotFound,
            FederationError::BranchMismatch { .. } => ErrorCode::TrustPolicyBranchMismatch,
            FederationError::Ambiguous { .. } => ErrorCode::TrustPolicyAmbiguous,
            FederationError::AgentDecommissioned => ErrorCode::AgentDecommissioned,
            FederationError::ProviderUnavailable => ErrorCode::OidcProviderUnavailable,
            FederationError::NotConfigured => ErrorCode::OidcNotConfigured,
        }
    }

    /// The `reason` of the `oidc.denied` audit event.
    pub(crate) fn reason(&self) -> &'static str {
        match self {
            FederationError::TokenExpired => "token_expired",
            FederationError::TokenInvalid(_) => "token_invalid",
            FederationError::PolicyNotFound { .. } => "trust_policy_not_found",
            FederationError::BranchMismatch { .. } => "branch_mismatch",
            FederationError::Ambiguous { .. } => "ambiguous",
            FederationError::AgentDecommissioned => "agent_decommissioned",
            FederationError::ProviderUnavailable => "provider_unavailable",
            FederationError::NotConfigured => "not_configured",
        }
    }
}
