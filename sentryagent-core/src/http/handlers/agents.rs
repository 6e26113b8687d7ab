use http::StatusCode;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::Caller;
use crate::agent::{Agent, AgentPatch, AgentQuery, AgentStatus, NewAgent};
use crate::credential::Credential;
use crate::http::body::{self, Query};
use crate::http::{Request, Response};
use crate::{AgentId, CredentialId, Error, SentryAgent};

/// An agent as the API shows it to its own tenant.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct AgentView<'a> {
    agent_id: AgentId,
    name: &'a str,
    description: &'a str,
    capabilities: &'a [String],
    metadata: &'a serde_json::Map<String, serde_json::Value>,
    scopes: &'a [String],
    status: AgentStatus,
    listed: bool,
    did: String,
    #[serde(with = "crate::time::rfc3339")]
    created_at: OffsetDateTime,
    #[serde(with = "crate::time::rfc3339")]
    updated_at: OffsetDateTime,
}

fn view<'a>(sa: &SentryAgent, agent: &'a Agent) -> AgentView<'a> {
    AgentView {
        agent_id: agent.id,
        name: &agent.name,
        description: &agent.description,
        capabilities: &agent.capabilities,
        metadata: &agent.metadata,
        scopes: &agent.scopes,
        status: agent.status,
        listed: agent.listed,
        did: crate::did::agent_did(&sa.settings().issuer, agent.id),
        created_at: agent.created_at,
        updated_at: agent.updated_at,
    }
}

#[derive(Deserialize)]
struct RegisterBody {
    name: Option<String>,
    description: Option<String>,
    capabilities: Option<Vec<String>>,
    metadata: Option<serde_json::Map<String, serde_json::Value>>,
    scopes: Option<Vec<String>>,
    listed: Option<bool>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct RegisteredView<'a> {
    #[serde(flatten)]
    agent: AgentView<'a>,
    client_id: &'a str,
    client_secret: &'a str,
    credential_id: CredentialId,
}

pub(super) async fn register(sa: SentryAgent, req: Request, caller: Caller) -> Result<Response, Error> {
    let body: RegisterBody = body::json(
        &req,
        &["name", "description", "capabilities", "metadata", "scopes", "listed"],
        false,
    )?;
    let new = NewAgent {
        name: body.name.ok_or_else(|| Error::invalid("name", "is required"))?,
        description: body.description,
        capabilities: body.capabilities.unwrap_or_default(),
        metadata: body.metadata.unwrap_or_default(),
        scopes: body.scopes.unwrap_or_default(),
        listed: body.listed,
    };
    let created = sa.register_agent(&caller, new).await?;
    let view = RegisteredView {
        agent: view(&sa, &created.agent),
        client_id: &created.credential.client_id,
        client_secret: created.secret.expose(),
        credential_id: created.credential.id,
    };
    Ok(Response::json(StatusCode::CREATED, &view).no_store())
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct Page<T> {
    pub(super) items: Vec<T>,
    pub(super) next_cursor: Option<String>,
}

pub(super) async fn list(sa: SentryAgent, req: Request, caller: Caller) -> Result<Response, Error> {
    let q = Query::parse(&req, &["status", "q", "limit", "cursor"])?;
    let query = AgentQuery {
        status: q.parse_with("status", "active, suspended or decommissioned", AgentStatus::parse)?,
        q: q.get("q").map(str::to_owned),
        after: q.cursor::<16>()?.map(|b| AgentId::from_uuid(uuid::Uuid::from_bytes(b))),
        limit: q.limit()? + 1,
    };
    let mut agents = sa.list_agents(&caller, &query).await?;
    let next_cursor = if agents.len() == query.limit {
        agents.pop();
        agents.last().map(|a| body::cursor(a.id.as_uuid().as_bytes()))
    } else {
        None
    };
    let items = agents.iter().map(|a| view(&sa, a)).collect();
    Ok(Response::json(StatusCode::OK, &Page { items, next_cursor }))
}

pub(super) async fn get(sa: SentryAgent, req: Request, caller: Caller) -> Result<Response, Error> {
    let agent = sa.agent(&caller, body::path_id(&req, "agentId")?).await?;
    Ok(Response::json(StatusCode::OK, &view(&sa, &agent)))
}

#[derive(Deserialize)]
struct PatchBody {
    description: Option<String>,
    capabilities: Option<Vec<String>>,
    metadata: Option<serde_json::Map<String, serde_json::Value>>,
    scopes: Option<Vec<String>>,
    status: Option<AgentStatus>,
    listed: Option<bool>,
}

pub(super) async fn update(sa: SentryAgent, req: Request, caller: Caller) -> Result<Response, Error> {
    let id = body::path_id(&req, "agentId")?;
    let body: PatchBody = body::json(
        &req,
        &["description", "capabilities", "metadata", "scopes", "status", "listed"],
        false,
    )?;
    let patch = AgentPatch {
        description: body.description,
        capabilities: body.capabilities,
        metadata: body.metadata,
        scopes: body.scopes,
        status: body.status,
        listed: body.listed,
    };
    let agent = sa.update_agent(&caller, id, patch).await?;
    Ok(Response::json(StatusCode::OK, &view(&sa, &agent)))
}

pub(super) async fn decommission(sa: SentryAgent, req: Request, caller: Caller) -> Result<Response, Error> {
    let agent = sa.decommission_agent(&caller, body::path_id(&req, "agentId")?).await?;
    Ok(Response::json(StatusCode::OK, &view(&sa, &agent)))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct CreateCredentialBody {
    #[serde(default, with = "crate::time::rfc3339::option")]
    expires_at: Option<OffsetDateTime>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct CredentialSecretView<'a> {
    #[serde(flatten)]
    credential: &'a Credential,
    client_secret: &'a str,
}

pub(super) async fn create_credential(sa: SentryAgent, req: Request, caller: Caller) -> Result<Response, Error> {
    let agent = body::path_id(&req, "agentId")?;
    let body: CreateCredentialBody = body::json(&req, &["expiresAt"], true)?;
    let (credential, secret) = sa.create_credential(&caller, agent, body.expires_at).await?;
    let view = CredentialSecretView {
        credential: &credential,
        client_secret: secret.expose(),
    };
    Ok(Response::json(StatusCode::CREATED, &view).no_store())
}

pub(super) async fn list_credentials(sa: SentryAgent, req: Request, caller: Caller) -> Result<Response, Error> {
    let credentials = sa.list_credentials(&caller, body::path_id(&req, "agentId")?).await?;
    Ok(Response::json(
        StatusCode::OK,
        &Page {
            items: credentials,
            next_cursor: None,
        },
    ))
}

pub(super) async fn rotate_credential(sa: SentryAgent, req: Request, caller: Caller) -> Result<Response, Error> {
    let agent = body::path_id(&req, "agentId")?;
    let id = body::path_id(&req, "credentialId")?;
    let (credential, secret) = sa.rotate_credential(&caller, agent, id).await?;
    let view = CredentialSecretView {
        credential: &credential,
        client_secret: secret.expose(),
    };
    Ok(Response::json(StatusCode::OK, &view).no_store())
}

pub(super) async fn revoke_credential(sa: SentryAgent, req: Request, caller: Caller) -> Result<Response, Error> {
    let agent = body::path_id(&req, "agentId")?;
    let id = body::path_id(&req, "credentialId")?;
    let credential = sa.revoke_credential(&caller, agent, id).await?;
    Ok(Response::json(StatusCode::OK, &credential))
}
