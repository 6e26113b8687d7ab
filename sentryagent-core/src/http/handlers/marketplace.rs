//! The public marketplace: listed agents' public fields only.

use std::net::IpAddr;

use http::StatusCode;
use http::header::{CACHE_CONTROL, HeaderValue};
use serde::Serialize;
use time::OffsetDateTime;
use utoipa::ToSchema;

use super::agents::Page;
use super::params::{AgentIdParam, PageParams};
use crate::http::body::{self, Query};
use crate::http::{HttpError, Request, Response};
use crate::marketplace::{MarketplaceAgent, MarketplaceQuery};
use crate::{AgentId, SentryAgent};

/// A listed agent as anyone may see it. Nothing else is ever shown: no
/// credentials, metadata, scopes, status or tenant id.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(as = MarketplaceAgent)]
pub(super) struct ListingView<'a> {
    agent_id: AgentId,
    name: &'a str,
    description: &'a str,
    capabilities: &'a [String],
    did: String,
    tenant_name: &'a str,
    #[serde(with = "crate::time::rfc3339")]
    created_at: OffsetDateTime,
}

fn view<'a>(sa: &SentryAgent, agent: &'a MarketplaceAgent) -> ListingView<'a> {
    ListingView {
        agent_id: agent.id,
        name: &agent.name,
        description: &agent.description,
        capabilities: &agent.capabilities,
        did: sa.agent_did(agent.id),
        tenant_name: &agent.tenant_name,
        created_at: agent.created_at,
    }
}

fn public(mut response: Response) -> Response {
    response
        .headers
        .insert(CACHE_CONTROL, HeaderValue::from_static("public, max-age=60"));
    response
}

fn check_enabled(sa: &SentryAgent) -> Result<(), HttpError> {
    if sa.settings().marketplace_enabled {
        Ok(())
    } else {
        Err(HttpError::RouteNotFound)
    }
}

#[utoipa::path(get, path = "/marketplace/agents", tag = "Marketplace", operation_id = "listMarketplaceAgents",
    params(
        ("q" = Option<String>, Query, description = "Words to look for in names and descriptions."),
        ("capability" = Option<String>, Query, description = "Only agents with this capability."),
        PageParams,
    ),
    responses((status = 200, description = "Listed agents' public fields.", body = Page<ListingView<'static>>)))]
pub(super) async fn list(sa: SentryAgent, req: Request, _ip: Option<IpAddr>) -> Result<Response, HttpError> {
    // Off means absent: no parameter is looked at.
    check_enabled(&sa)?;
    let q = Query::parse(&req, &["q", "capability", "limit", "cursor"])?;
    let query = MarketplaceQuery {
        q: q.get("q").map(str::to_owned),
        capability: q.get("capability").map(str::to_owned),
        after: q.cursor::<16>()?.map(|b| AgentId::from_uuid(uuid::Uuid::from_bytes(b))),
        limit: q.limit()? + 1,
    };
    let mut agents = sa.marketplace_agents(&query).await?;
    let next_cursor = if agents.len() == query.limit {
        agents.pop();
        agents.last().map(|a| body::cursor(a.id.as_uuid().as_bytes()))
    } else {
        None
    };
    let items = agents.iter().map(|a| view(&sa, a)).collect();
    Ok(public(Response::json(StatusCode::OK, &Page { items, next_cursor })))
}

#[utoipa::path(get, path = "/marketplace/agents/{agentId}", tag = "Marketplace", operation_id = "getMarketplaceAgent",
    params(AgentIdParam),
    responses((status = 200, description = "A listed agent's public fields.", body = ListingView)))]
pub(super) async fn get(sa: SentryAgent, req: Request, _ip: Option<IpAddr>) -> Result<Response, HttpError> {
    check_enabled(&sa)?;
    let agent = sa.marketplace_agent(body::path_id(&req, "agentId")?).await?;
    Ok(public(Response::json(StatusCode::OK, &view(&sa, &agent))))
}
