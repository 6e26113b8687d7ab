use std::net::IpAddr;

use http::StatusCode;
use serde::Serialize;
use time::OffsetDateTime;
use utoipa::ToSchema;

use super::agents::Page;
use super::params::{PageParams, PolicyIdParam};
use crate::federation::{EvaluateRequest, Evaluation, ExchangeRequest, IssuerTrust, NewTrustPolicy, TrustPolicy};
use crate::http::body::{self, Query};
use crate::http::error::ErrorBody;
use crate::http::{HttpError, Request, Response};
use crate::token::TokenResponse;
use crate::{AgentId, Caller, Error, SentryAgent, TenantId, TrustPolicyId};

/// A trust policy as the API shows it; unset conditions are `null`.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(as = TrustPolicy)]
pub(super) struct PolicyView<'a> {
    policy_id: TrustPolicyId,
    tenant_id: TenantId,
    /// `github` or `oidc`.
    provider: &'static str,
    /// `owner/name`; the name may be a pattern.
    repository: &'a str,
    /// The agent tokens are issued for; `null`: a bootstrap policy.
    agent_id: Option<AgentId>,
    /// `agent` or `bootstrap`.
    mode: &'static str,
    /// Required `repository_id`, given or pinned on first use.
    repository_id: Option<&'a str>,
    /// Required `repository_owner_id`, given or pinned on first use.
    repository_owner_id: Option<&'a str>,
    /// When the ids were pinned by a first exchange.
    #[serde(with = "crate::time::rfc3339::option")]
    pinned_at: Option<OffsetDateTime>,
    /// Branch name pattern.
    branch: Option<&'a str>,
    /// Full-ref pattern.
    #[serde(rename = "ref")]
    ref_pattern: Option<&'a str>,
    /// `branch` or `tag`.
    ref_type: Option<&'static str>,
    /// Environment pattern.
    environment: Option<&'a str>,
    /// `job_workflow_ref` pattern.
    job_workflow_ref: Option<&'a str>,
    /// Only these events (`null`: any but the denied ones).
    allowed_events: Option<&'a [String]>,
    /// Never these events.
    denied_events: &'a [String],
    description: &'a str,
    /// Bootstrap policies: the most an agent registered through the policy
    /// may be given (empty: no scope at all).
    max_scopes: &'a [String],
    /// Provider `oidc`: the issuer and the conditions on its tokens
    /// (absent for `github`).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    issuer: Option<&'a IssuerTrust>,
    #[serde(with = "crate::time::rfc3339")]
    created_at: OffsetDateTime,
}

fn view(p: &TrustPolicy) -> PolicyView<'_> {
    PolicyView {
        policy_id: p.id,
        tenant_id: p.tenant_id,
        provider: p.provider.as_str(),
        repository: &p.repository,
        agent_id: p.agent_id,
        mode: if p.agent_id.is_some() { "agent" } else { "bootstrap" },
        repository_id: p.repository_id.as_deref(),
        repository_owner_id: p.repository_owner_id.as_deref(),
        pinned_at: p.pinned_at,
        branch: p.branch.as_deref(),
        ref_pattern: p.ref_pattern.as_deref(),
        ref_type: p.ref_type.map(|t| t.as_str()),
        environment: p.environment.as_deref(),
        job_workflow_ref: p.job_workflow_ref.as_deref(),
        allowed_events: p.allowed_events.as_deref(),
        denied_events: &p.denied_events,
        description: &p.description,
        max_scopes: &p.max_scopes,
        issuer: p.issuer.as_ref(),
        created_at: p.created_at,
    }
}

const POLICY_FIELDS: &[&str] = &[
    "provider",
    "repository",
    "agentId",
    "repositoryId",
    "repositoryOwnerId",
    "branch",
    "ref",
    "refType",
    "environment",
    "jobWorkflowRef",
    "allowedEvents",
    "deniedEvents",
    "description",
    "maxScopes",
    "issuer",
    "audience",
    "subject",
    "claims",
];

#[utoipa::path(post, path = "/oidc/trust-policies", tag = "Federation", operation_id = "createTrustPolicy",
    request_body = NewTrustPolicy,
    responses(
        (status = 201, description = "The policy.", body = PolicyView),
        (status = 409, description = "`TRUST_POLICY_LIMIT` or `AGENT_DECOMMISSIONED`.", body = ErrorBody),
    ),
    security(("bearer" = ["trust-policies:write"])))]
pub(super) async fn create(sa: SentryAgent, req: Request, caller: Caller) -> Result<Response, HttpError> {
    let new: NewTrustPolicy = body::json(&req, POLICY_FIELDS, false)?;
    let policy = sa.create_trust_policy(&caller, new).await?;
    Ok(Response::json(StatusCode::CREATED, &view(&policy)))
}

#[utoipa::path(get, path = "/oidc/trust-policies", tag = "Federation", operation_id = "listTrustPolicies",
    params(PageParams),
    responses((status = 200, description = "The tenant's policies.", body = Page<PolicyView<'static>>)),
    security(("bearer" = ["trust-policies:write"])))]
pub(super) async fn list(sa: SentryAgent, req: Request, caller: Caller) -> Result<Response, HttpError> {
    let q = Query::parse(&req, &["limit", "cursor"])?;
    let after = q
        .cursor::<16>()?
        .map(|b| TrustPolicyId::from_uuid(uuid::Uuid::from_bytes(b)));
    let limit = q.limit()?;
    let mut policies = sa.list_trust_policies(&caller, after, limit + 1).await?;
    let next_cursor = if policies.len() > limit {
        policies.pop();
        policies.last().map(|p| body::cursor(p.id.as_uuid().as_bytes()))
    } else {
        None
    };
    let items = policies.iter().map(view).collect();
    Ok(Response::json(StatusCode::OK, &Page { items, next_cursor }))
}

#[utoipa::path(get, path = "/oidc/trust-policies/{policyId}", tag = "Federation", operation_id = "getTrustPolicy",
    params(PolicyIdParam),
    responses((status = 200, description = "The policy.", body = PolicyView)),
    security(("bearer" = ["trust-policies:write"])))]
pub(super) async fn get(sa: SentryAgent, req: Request, caller: Caller) -> Result<Response, HttpError> {
    let policy = sa.trust_policy(&caller, body::path_id(&req, "policyId")?).await?;
    Ok(Response::json(StatusCode::OK, &view(&policy)))
}

#[utoipa::path(delete, path = "/oidc/trust-policies/{policyId}", tag = "Federation", operation_id = "deleteTrustPolicy",
    params(PolicyIdParam),
    responses((status = 200, description = "The deleted policy.", body = PolicyView)),
    security(("bearer" = ["trust-policies:write"])))]
pub(super) async fn delete(sa: SentryAgent, req: Request, caller: Caller) -> Result<Response, HttpError> {
    let policy = sa
        .delete_trust_policy(&caller, body::path_id(&req, "policyId")?)
        .await?;
    Ok(Response::json(StatusCode::OK, &view(&policy)))
}

#[utoipa::path(post, path = "/oidc/trust-policies/evaluate", tag = "Federation", operation_id = "evaluateTrustPolicies",
    request_body = EvaluateRequest,
    responses((status = 200, description = "Which policy an exchange would use, and each policy's first failed condition.", body = Evaluation)),
    security(("bearer" = ["trust-policies:write"])))]
pub(super) async fn evaluate(sa: SentryAgent, req: Request, caller: Caller) -> Result<Response, HttpError> {
    let request: EvaluateRequest = body::json(&req, &["token", "claims", "agentId"], false)?;
    let evaluation = sa.evaluate_trust_policies(&caller, request).await?;
    Ok(Response::json(StatusCode::OK, &evaluation))
}

#[utoipa::path(post, path = "/oidc/token", tag = "Federation", operation_id = "exchangeOidcToken",
    request_body = ExchangeRequest,
    responses(
        (status = 200, description = "An access token for the policy's agent, or a bootstrap token.", body = TokenResponse),
        (status = 401, description = "`OIDC_TOKEN_EXPIRED` or `OIDC_TOKEN_INVALID`.", body = ErrorBody),
        (status = 403, description = "`TRUST_POLICY_NOT_FOUND`, `TRUST_POLICY_BRANCH_MISMATCH` (details: allowed, provided), `AGENT_SUSPENDED` or `AGENT_DECOMMISSIONED`.", body = ErrorBody),
    ))]
pub(super) async fn token(sa: SentryAgent, req: Request, ip: Option<IpAddr>) -> Result<Response, HttpError> {
    let answer = async {
        let request: ExchangeRequest = body::json(&req, &["token", "tenantId", "agentId"], false)?;
        if request.token.trim().is_empty() {
            return Err(Error::invalid("token", "is required: the workflow's OIDC token").into());
        }
        let response = sa.exchange_oidc_token(request, ip).await;
        crate::observe::record::federation_exchange(match &response {
            Ok(_) => "exchanged",
            Err(e) => e.code().as_str(),
        });
        let response = response?;
        Ok::<_, HttpError>(Response::json(StatusCode::OK, &response))
    };
    // Token answers, refusals included, are never cached.
    Ok(answer.await.unwrap_or_else(Response::from).no_store())
}
