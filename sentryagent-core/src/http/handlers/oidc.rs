use std::net::IpAddr;

use http::StatusCode;
use serde_json::{Value, json};

use crate::federation::{EvaluateRequest, ExchangeRequest, NewTrustPolicy, TrustPolicy};
use crate::http::body::{self, Query};
use crate::http::{Request, Response};
use crate::{Caller, Error, SentryAgent, TrustPolicyId};

/// A policy as the API shows it; unset conditions are `null`.
fn view(p: &TrustPolicy) -> Value {
    let at =
        |t: Option<time::OffsetDateTime>| t.and_then(|t| t.format(&time::format_description::well_known::Rfc3339).ok());
    json!({
        "policyId": p.id,
        "tenantId": p.tenant_id,
        "provider": p.provider.as_str(),
        "repository": p.repository,
        "agentId": p.agent_id,
        "mode": if p.agent_id.is_some() { "agent" } else { "bootstrap" },
        "repositoryId": p.repository_id,
        "repositoryOwnerId": p.repository_owner_id,
        "pinnedAt": at(p.pinned_at),
        "branch": p.branch,
        "ref": p.ref_pattern,
        "refType": p.ref_type.map(|t| t.as_str()),
        "environment": p.environment,
        "jobWorkflowRef": p.job_workflow_ref,
        "allowedEvents": p.allowed_events,
        "deniedEvents": p.denied_events,
        "description": p.description,
        "createdAt": at(Some(p.created_at)),
    })
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
];

pub(super) async fn create(sa: SentryAgent, req: Request, caller: Caller) -> Result<Response, Error> {
    let new: NewTrustPolicy = body::json(&req, POLICY_FIELDS, false)?;
    let policy = sa.create_trust_policy(&caller, new).await?;
    Ok(Response::json(StatusCode::CREATED, &view(&policy)))
}

pub(super) async fn list(sa: SentryAgent, req: Request, caller: Caller) -> Result<Response, Error> {
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
    let items: Vec<Value> = policies.iter().map(view).collect();
    Ok(Response::json(
        StatusCode::OK,
        &json!({ "items": items, "nextCursor": next_cursor }),
    ))
}

pub(super) async fn get(sa: SentryAgent, req: Request, caller: Caller) -> Result<Response, Error> {
    let policy = sa.trust_policy(&caller, body::path_id(&req, "policyId")?).await?;
    Ok(Response::json(StatusCode::OK, &view(&policy)))
}

pub(super) async fn delete(sa: SentryAgent, req: Request, caller: Caller) -> Result<Response, Error> {
    let policy = sa
        .delete_trust_policy(&caller, body::path_id(&req, "policyId")?)
        .await?;
    Ok(Response::json(StatusCode::OK, &view(&policy)))
}

pub(super) async fn evaluate(sa: SentryAgent, req: Request, caller: Caller) -> Result<Response, Error> {
    let request: EvaluateRequest = body::json(&req, &["token", "claims", "agentId"], false)?;
    let evaluation = sa.evaluate_trust_policies(&caller, request).await?;
    Ok(Response::json(StatusCode::OK, &evaluation))
}

pub(super) async fn token(sa: SentryAgent, req: Request, ip: Option<IpAddr>) -> Result<Response, Error> {
    let answer = async {
        let request: ExchangeRequest = body::json(&req, &["token", "tenantId", "agentId"], false)?;
        if request.token.trim().is_empty() {
            return Err(Error::invalid("token", "is required: the workflow's OIDC token"));
        }
        let response = sa.exchange_oidc_token(request, ip).await?;
        Ok(Response::json(StatusCode::OK, &response))
    };
    // Token answers, refusals included, are never cached.
    Ok(answer.await.unwrap_or_else(Response::from).no_store())
}
