//! GitHub Actions OIDC federation: trust policies and the token exchange.

use futures_core::Stream;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::client::{Call, Client};
use crate::error::Error;
use crate::ids::{AgentId, TenantId, TrustPolicyId};
use crate::oauth::TokenResponse;
use crate::ops;
use crate::page::Page;

/// A trust policy; unset conditions are `None`.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TrustPolicy {
    /// Its id.
    pub policy_id: TrustPolicyId,
    /// Its tenant.
    pub tenant_id: TenantId,
    /// `github`.
    pub provider: String,
    /// `owner/name`; the name may be a pattern.
    pub repository: String,
    /// The agent tokens are issued for; `None`: a bootstrap policy.
    #[serde(default)]
    pub agent_id: Option<AgentId>,
    /// `agent` or `bootstrap`.
    pub mode: String,
    /// Required `repository_id`.
    #[serde(default)]
    pub repository_id: Option<String>,
    /// Required `repository_owner_id`.
    #[serde(default)]
    pub repository_owner_id: Option<String>,
    /// When the ids were pinned by a first exchange.
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub pinned_at: Option<OffsetDateTime>,
    /// Branch name pattern.
    #[serde(default)]
    pub branch: Option<String>,
    /// Full-ref pattern.
    #[serde(default, rename = "ref")]
    pub ref_pattern: Option<String>,
    /// `branch` or `tag`.
    #[serde(default)]
    pub ref_type: Option<String>,
    /// Environment pattern.
    #[serde(default)]
    pub environment: Option<String>,
    /// `job_workflow_ref` pattern.
    #[serde(default)]
    pub job_workflow_ref: Option<String>,
    /// Only these events.
    #[serde(default)]
    pub allowed_events: Option<Vec<String>>,
    /// Never these events.
    pub denied_events: Vec<String>,
    /// Free text.
    pub description: String,
    /// Bootstrap policies: the most an agent registered through it may hold.
    #[serde(default)]
    pub max_scopes: Vec<String>,
    /// Provider `oidc`: `{issuer, audience, subject, claims}`.
    #[serde(default)]
    pub issuer: Option<serde_json::Value>,
    /// When it was created.
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
}

/// A new trust policy: `provider` and `repository`, and any conditions.
#[derive(Clone, Debug, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct NewTrustPolicy {
    /// `github`, or `oidc` for an issuer the tenant registers.
    pub provider: String,
    /// `owner/name` or `owner/pattern` (provider `github`).
    #[serde(skip_serializing_if = "String::is_empty")]
    pub repository: String,
    /// The agent to issue tokens for; `None`: bootstrap.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub agent_id: Option<AgentId>,
    /// Required `repository_id`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub repository_id: Option<String>,
    /// Required `repository_owner_id`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub repository_owner_id: Option<String>,
    /// Branch name pattern.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub branch: Option<String>,
    /// Full-ref pattern.
    #[serde(skip_serializing_if = "Option::is_none", rename = "ref")]
    pub ref_pattern: Option<String>,
    /// `branch` or `tag`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ref_type: Option<String>,
    /// Environment pattern.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub environment: Option<String>,
    /// `job_workflow_ref` pattern.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub job_workflow_ref: Option<String>,
    /// Only these events.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub allowed_events: Option<Vec<String>>,
    /// Never these events.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub denied_events: Option<Vec<String>>,
    /// Free text.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Bootstrap policies only: the scopes agents registered through it may
    /// be given (default none).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_scopes: Option<Vec<String>>,
    /// Provider `oidc`: the issuer URL (`iss`), https.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub issuer: Option<String>,
    /// Provider `oidc`: the audience its tokens carry (default: the IdP's issuer).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub audience: Option<String>,
    /// Provider `oidc`: pattern over `sub`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub subject: Option<String>,
    /// Provider `oidc`: patterns over named claims (`/` steps into objects).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub claims: Option<std::collections::BTreeMap<String, String>>,
}

/// A workflow token's claims, as GitHub names them.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct GitHubClaims {
    /// `owner/name`.
    pub repository: String,
    /// The repository's numeric id, as a string.
    pub repository_id: String,
    /// The owner.
    pub repository_owner: String,
    /// The owner's numeric id, as a string.
    pub repository_owner_id: String,
    /// Who started the run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub actor: Option<String>,
    /// The deployment environment.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub environment: Option<String>,
    /// The triggering event.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub event_name: Option<String>,
    /// The reusable workflow running the job.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub job_workflow_ref: Option<String>,
    /// The full ref.
    #[serde(default, rename = "ref", skip_serializing_if = "Option::is_none")]
    pub git_ref: Option<String>,
    /// `branch` or `tag`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ref_type: Option<String>,
    /// The run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub run_id: Option<String>,
    /// The subject.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sub: Option<String>,
}

/// What to evaluate: a workflow token (expired ones too) or a claim set.
#[derive(Clone, Debug, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct EvaluateRequest {
    /// A workflow's OIDC token.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub token: Option<String>,
    /// Or its claims.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub claims: Option<serde_json::Value>,
    /// As in the exchange.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub agent_id: Option<AgentId>,
}

/// The first condition of a policy that failed.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Failure {
    /// The condition.
    pub condition: String,
    /// What the policy allows.
    pub allowed: serde_json::Value,
    /// What the claims said.
    pub provided: serde_json::Value,
}

/// One policy's verdict.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PolicyVerdict {
    /// The policy.
    pub policy_id: TrustPolicyId,
    /// Its repository.
    pub repository: String,
    /// Whether it admits the claims.
    pub admits: bool,
    /// Its agent; `None`: bootstrap.
    #[serde(default)]
    pub agent_id: Option<AgentId>,
    /// The first condition that failed.
    #[serde(default)]
    pub failed: Option<Failure>,
}

/// How a presented token verified.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct TokenCheck {
    /// Whether it verified.
    pub valid: bool,
    /// The exchange's error code when it did not.
    #[serde(default)]
    pub code: Option<String>,
    /// Why not.
    #[serde(default)]
    pub message: Option<String>,
}

/// Which policy an exchange would use, and every policy's verdict.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Evaluation {
    /// The claims evaluated.
    pub claims: GitHubClaims,
    /// The policy an exchange would use.
    #[serde(default, rename = "match")]
    pub matched: Option<TrustPolicyId>,
    /// Every policy of the tenant for this provider.
    pub policies: Vec<PolicyVerdict>,
    /// Why no policy would be used, as the exchange's error code.
    #[serde(default)]
    pub refusal: Option<String>,
    /// How the token verified (`None` when claims were given).
    #[serde(default)]
    pub token: Option<TokenCheck>,
}

/// The body of an OIDC token exchange.
#[derive(Clone, Debug, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ExchangeRequest {
    /// The workflow's OIDC token.
    pub token: String,
    /// Only this tenant's policies.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tenant_id: Option<TenantId>,
    /// A token for this agent.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub agent_id: Option<AgentId>,
}

impl Client {
    /// Creates a trust policy (`trust-policies:write` plus the scopes it
    /// hands out).
    ///
    /// # Errors
    /// `VALIDATION_ERROR`, `TRUST_POLICY_LIMIT`, …
    pub async fn create_trust_policy(&self, policy: &NewTrustPolicy) -> Result<TrustPolicy, Error> {
        self.json(Call::new(ops::CREATE_TRUST_POLICY).json(policy)?).await
    }

    /// One page of the tenant's trust policies.
    ///
    /// # Errors
    /// The server's refusal, or no answer.
    pub async fn list_trust_policies(
        &self,
        limit: Option<u8>,
        cursor: Option<&str>,
    ) -> Result<Page<TrustPolicy>, Error> {
        let call = Call::new(ops::LIST_TRUST_POLICIES)
            .query("limit", limit)
            .query("cursor", cursor);
        self.json(call).await
    }

    /// Every trust policy of the tenant, page after page.
    pub fn trust_policies(&self) -> impl Stream<Item = Result<TrustPolicy, Error>> + Send + 'static {
        self.pages(|client, cursor| async move { client.list_trust_policies(Some(100), cursor.as_deref()).await })
    }

    /// One trust policy.
    ///
    /// # Errors
    /// `NOT_FOUND`, …
    pub async fn trust_policy(&self, id: &TrustPolicyId) -> Result<TrustPolicy, Error> {
        self.json(Call::new(ops::GET_TRUST_POLICY).param(id.as_str())).await
    }

    /// Deletes a trust policy; the answer is the policy as it was.
    ///
    /// # Errors
    /// `NOT_FOUND`, …
    pub async fn delete_trust_policy(&self, id: &TrustPolicyId) -> Result<TrustPolicy, Error> {
        self.json(Call::new(ops::DELETE_TRUST_POLICY).param(id.as_str())).await
    }

    /// Which policy would admit a token or claim set, without issuing.
    ///
    /// # Errors
    /// `VALIDATION_ERROR`, …
    pub async fn evaluate_trust_policies(&self, request: &EvaluateRequest) -> Result<Evaluation, Error> {
        self.json(Call::new(ops::EVALUATE_TRUST_POLICIES).json(request)?).await
    }

    /// Exchanges a workflow's OIDC token for an access token (public).
    ///
    /// # Errors
    /// `OIDC_TOKEN_INVALID`, `OIDC_TOKEN_EXPIRED`, `TRUST_POLICY_NOT_FOUND`, …
    pub async fn exchange_oidc_token(&self, request: &ExchangeRequest) -> Result<TokenResponse, Error> {
        self.json(Call::new(ops::EXCHANGE_OIDC_TOKEN).json(request)?.public())
            .await
    }
}
