use std::net::IpAddr;

use http::StatusCode;
use http::header::{CACHE_CONTROL, HeaderValue};
use serde::Serialize;
use utoipa::ToSchema;

use super::params::PageParams;

use crate::Caller;
use crate::audit::{AuditEvent, AuditQuery, Outcome};
use crate::http::body::{self, Query};
use crate::http::error::ErrorBody;
use crate::http::{HttpError, Request, Response};
use crate::{AgentId, SentryAgent};

/// One page of audit events, newest first.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(as = AuditPage)]
pub(super) struct Page {
    items: Vec<AuditEvent>,
    next_cursor: Option<String>,
}

#[utoipa::path(get, path = "/audit", tag = "Audit", operation_id = "queryAudit",
    params(
        ("agentId" = Option<AgentId>, Query, description = "Only events about this agent."),
        ("action" = Option<String>, Query, description = "Only this action, e.g. `token.issued`."),
        ("outcome" = Option<Outcome>, Query, description = "Only successes or only failures."),
        ("from" = Option<String>, Query, format = DateTime, description = "Events at or after this time (RFC 3339)."),
        ("to" = Option<String>, Query, format = DateTime, description = "Events before this time (RFC 3339)."),
        PageParams,
    ),
    responses((status = 200, description = "Matching events, newest first.", body = Page)),
    security(("bearer" = ["audit:read"])))]
pub(super) async fn query(sa: SentryAgent, req: Request, caller: Caller) -> Result<Response, HttpError> {
    let q = Query::parse(&req, &["agentId", "action", "outcome", "from", "to", "limit", "cursor"])?;
    let rfc3339 = "an RFC 3339 date-time such as 2026-01-31T12:00:00Z";
    let query = AuditQuery {
        agent_id: q.parse_with("agentId", "a UUID", |v| v.parse::<AgentId>().ok())?,
        action: q.get("action").map(str::to_owned),
        outcome: q.parse_with("outcome", "success or failure", Outcome::parse)?,
        from: q.parse_with("from", rfc3339, crate::time::parse_rfc3339)?,
        to: q.parse_with("to", rfc3339, crate::time::parse_rfc3339)?,
        before_seq: q.cursor::<8>()?.map(u64::from_be_bytes),
        limit: q.limit()? + 1,
    };
    let mut items = sa.query_audit(&caller, &query).await?;
    let next_cursor = if items.len() == query.limit {
        items.pop();
        items.last().map(|e| body::cursor(&e.seq.to_be_bytes()))
    } else {
        None
    };
    Ok(Response::json(StatusCode::OK, &Page { items, next_cursor }))
}

#[utoipa::path(get, path = "/audit/verify", tag = "Audit", operation_id = "verifyAudit",
    params(
        ("checkpoint" = Option<String>, Query, description = "A checkpoint saved from `GET /audit/checkpoint` (its JWS): \
            the chain must still hold it, so a rollback, a wipe or a rewrite since is caught. The verification is then \
            a full one, in one go."),
        ("mode" = Option<crate::audit::VerifyMode>, Query, description = "`incremental` (the default): the events since \
            the last verification, and that they link to the last event it reached. `full`: every stored event, in \
            slices of at most 50,000 events per call; call again while `complete` is false."),
    ),
    responses((status = 200, description = "Whether the tenant's hash chain is intact (and holds the saved checkpoint), \
        which verification ran and what it proves.", body = crate::audit::Verification)),
    security(("bearer" = ["audit:read"])))]
pub(super) async fn verify(sa: SentryAgent, req: Request, caller: Caller) -> Result<Response, HttpError> {
    let q = Query::parse(&req, &["checkpoint", "mode"])?;
    // `mode=` (empty) is refused too: it names no mode.
    let mode = q
        .parse_with("mode", "incremental or full", crate::audit::VerifyMode::parse)?
        .unwrap_or(crate::audit::VerifyMode::Incremental);
    let result = match q.get("checkpoint") {
        Some(saved) => sa.verify_audit_against(&caller, saved).await?,
        None => sa.verify_audit_in(&caller, mode).await?,
    };
    Ok(Response::json(StatusCode::OK, &result))
}

#[utoipa::path(get, path = "/audit/checkpoint", tag = "Audit", operation_id = "getAuditCheckpoint",
    responses(
        (status = 200, description = "The chain's checkpoint, signed by the audit key: keep `checkpoint` outside this \
            server and pass it to `GET /audit/verify?checkpoint=` later.", body = crate::audit::SignedCheckpoint),
        (status = 409, description = "`AUDIT_CHECKPOINT_MISSING`: the checkpoint was lost and nothing vouches for the \
            chain's head until an operator re-anchors it.", body = ErrorBody),
    ),
    security(("bearer" = ["audit:read"])))]
pub(super) async fn checkpoint(sa: SentryAgent, _req: Request, caller: Caller) -> Result<Response, HttpError> {
    let signed = sa.audit_checkpoint(&caller).await?;
    Ok(Response::json(StatusCode::OK, &signed).no_store())
}

#[utoipa::path(get, path = "/audit/keys", tag = "Audit", operation_id = "getAuditKeys",
    responses((status = 200, description = "The audit signing key that signs checkpoints (a JWKS): derived from the \
        server's master secret, it stays the same across restarts and token-key rotations.", body = super::meta::Jwks)))]
pub(super) async fn keys(sa: SentryAgent, _req: Request, _ip: Option<IpAddr>) -> Result<Response, HttpError> {
    let mut response = Response::json(StatusCode::OK, &sa.audit_keys());
    response
        .headers
        .insert(CACHE_CONTROL, HeaderValue::from_static("public, max-age=3600"));
    Ok(response)
}
