//! The errors of the token exchange, each with its status and code.

use http::StatusCode;

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
    /// The status and envelope code.
    pub fn status_and_code(&self) -> (StatusCode, &'static str) {
        match self {
            FederationError::TokenExpired => (StatusCode::UNAUTHORIZED, "OIDC_TOKEN_EXPIRED"),
            FederationError::TokenInvalid(_) => (StatusCode::UNAUTHORIZED, "OIDC_TOKEN_INVALID"),
            FederationError::PolicyNotFound { .. } => (StatusCode::FORBIDDEN, "TRUST_POLICY_NOT_FOUND"),
            FederationError::BranchMismatch { .. } => (StatusCode::FORBIDDEN, "TRUST_POLICY_BRANCH_MISMATCH"),
            FederationError::Ambiguous { .. } => (StatusCode::BAD_REQUEST, "TRUST_POLICY_AMBIGUOUS"),
            FederationError::AgentDecommissioned => (StatusCode::FORBIDDEN, "AGENT_DECOMMISSIONED"),
            FederationError::ProviderUnavailable => (StatusCode::SERVICE_UNAVAILABLE, "OIDC_PROVIDER_UNAVAILABLE"),
            FederationError::NotConfigured => (StatusCode::SERVICE_UNAVAILABLE, "OIDC_NOT_CONFIGURED"),
        }
    }

    /// The envelope's `details`.
    pub fn details(&self) -> Option<serde_json::Value> {
        match self {
            FederationError::BranchMismatch { allowed, provided } => {
                Some(serde_json::json!({ "allowed": allowed, "provided": provided }))
            }
            FederationError::PolicyNotFound {
                repository,
                git_ref,
                event,
            } => Some(serde_json::json!({ "repository": repository, "ref": git_ref, "eventName": event })),
            FederationError::Ambiguous { field, count, .. } => {
                Some(serde_json::json!({ "field": field, "matches": count }))
            }
            _ => None,
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
