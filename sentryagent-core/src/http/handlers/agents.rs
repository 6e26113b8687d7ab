use http::StatusCode;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use utoipa::ToSchema;

use super::params::{AgentIdParam, CredentialIdParam, PageParams};
use crate::http::error::ErrorBody;

use crate::Caller;
use crate::agent::{Agent, AgentPatch, AgentQuery, AgentStatus, NewAgent};
use crate::credential::Credential;
use crate::http::body::{self, Query};
use crate::http::{HttpError, Request, Response};
use crate::{AgentId, CredentialId, Error, SentryAgent};

/// An agent as the API shows it to its own tenant.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(as = Agent)]
pub(super) struct AgentView<'a> {
    agent_id: AgentId,
    /// Email-format identifier, unique in the tenant.
    #[schema(example = "build-bot@acme.example")]
    name: &'a str,
    description: &'a str,
    /// Short labels, shown in the marketplace.
    capabilities: &'a [String],
    /// The tenant's private key/value data; never shown publicly.
    #[schema(value_type = Object)]
    metadata: &'a serde_json::Map<String, serde_json::Value>,
    /// The scopes the agent may request in its tokens.
    scopes: &'a [String],
    status: AgentStatus,
    /// Whether the public marketplace lists the agent while it is active.
    listed: bool,
    /// The agent's `did:web` DID.
    did: String,
    /// Where the agent came from, when a CI workflow registered it through
    /// a bootstrap trust policy.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    origin: Option<&'a crate::agent::AgentOrigin>,
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
        origin: agent.origin.as_ref(),
        created_at: agent.created_at,
        updated_at: agent.updated_at,
    }
}

/// What registering an agent takes; `null` is the same as leaving a field out.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = RegisterAgent)]
pub(super) struct RegisterBody {
    /// Email-format identifier, unique in the tenant.
    #[schema(required = true, nullable = false, format = Email, max_length = 254, example = "build-bot@acme.example")]
    name: Option<String>,
    /// Free text, at most 1,000 characters.
    description: Option<String>,
    /// At most 50 labels of printable ASCII.
    capabilities: Option<Vec<String>>,
    /// Private key/value data, at most 8 KiB as JSON.
    #[schema(value_type = Option<Object>)]
    metadata: Option<serde_json::Map<String, serde_json::Value>>,
    /// The scopes the agent may request (default: none beyond its own).
    scopes: Option<Vec<String>>,
    /// Whether the marketplace lists it (default true).
    listed: Option<bool>,
}

/// A registered agent with its first credential; the secret is shown once.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(as = RegisteredAgent)]
pub(super) struct RegisteredView<'a> {
    #[serde(flatten)]
    agent: AgentView<'a>,
    client_id: &'a str,
    client_secret: &'a str,
    credential_id: CredentialId,
}

#[utoipa::path(post, path = "/agents", tag = "Agents", operation_id = "registerAgent",
    request_body = RegisterBody,
    responses(
        (status = 201, description = "The agent, with its first credential's secret (shown once).", body = RegisteredView),
        (status = 403, description = "`TIER_AGENT_LIMIT`: the tier's agent limit is reached, or `INSUFFICIENT_SCOPE`.", body = ErrorBody),
        (status = 409, description = "`AGENT_NAME_TAKEN`: the name is in use in this tenant.", body = ErrorBody),
    ),
    security(("bearer" = ["agents:write"])))]
pub(super) async fn register(sa: SentryAgent, req: Request, caller: Caller) -> Result<Response, HttpError> {
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

/// One page of a listing; `nextCursor` fetches the next.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(super) struct Page<T> {
    pub(super) items: Vec<T>,
    pub(super) next_cursor: Option<String>,
}

#[utoipa::path(get, path = "/agents", tag = "Agents", operation_id = "listAgents",
    params(
        ("status" = Option<AgentStatus>, Query, description = "Only agents in this state."),
        ("q" = Option<String>, Query, description = "Case-insensitive substring of the name or description."),
        PageParams,
    ),
    responses((status = 200, description = "Agents in registration order.", body = Page<AgentView<'static>>)),
    security(("bearer" = ["agents:read"])))]
pub(super) async fn list(sa: SentryAgent, req: Request, caller: Caller) -> Result<Response, HttpError> {
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

#[utoipa::path(get, path = "/agents/{agentId}", tag = "Agents", operation_id = "getAgent",
    params(AgentIdParam),
    responses((status = 200, description = "The agent.", body = AgentView)),
    security(("bearer" = ["agents:read"])))]
pub(super) async fn get(sa: SentryAgent, req: Request, caller: Caller) -> Result<Response, HttpError> {
    let agent = sa.agent(&caller, body::path_id(&req, "agentId")?).await?;
    Ok(Response::json(StatusCode::OK, &view(&sa, &agent)))
}

/// The fields to change; absent (or `null`) fields stay as they are.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = UpdateAgent)]
pub(super) struct PatchBody {
    description: Option<String>,
    capabilities: Option<Vec<String>>,
    #[schema(value_type = Option<Object>)]
    metadata: Option<serde_json::Map<String, serde_json::Value>>,
    scopes: Option<Vec<String>>,
    /// `active` or `suspended` (decommissioning is `DELETE`).
    status: Option<AgentStatus>,
    listed: Option<bool>,
}

#[utoipa::path(patch, path = "/agents/{agentId}", tag = "Agents", operation_id = "updateAgent",
    params(AgentIdParam),
    request_body = PatchBody,
    responses(
        (status = 200, description = "The agent as changed.", body = AgentView),
        (status = 409, description = "`AGENT_DECOMMISSIONED`: a decommissioned agent cannot change.", body = ErrorBody),
    ),
    security(("bearer" = ["agents:write"])))]
pub(super) async fn update(sa: SentryAgent, req: Request, caller: Caller) -> Result<Response, HttpError> {
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

#[utoipa::path(delete, path = "/agents/{agentId}", tag = "Agents", operation_id = "decommissionAgent",
    params(AgentIdParam),
    responses(
        (status = 200, description = "The agent, decommissioned: every credential revoked, every token dead.", body = AgentView),
        (status = 409, description = "`AGENT_DECOMMISSIONED`: it already is.", body = ErrorBody),
    ),
    security(("bearer" = ["agents:write"])))]
pub(super) async fn decommission(sa: SentryAgent, req: Request, caller: Caller) -> Result<Response, HttpError> {
    let agent = sa.decommission_agent(&caller, body::path_id(&req, "agentId")?).await?;
    Ok(Response::json(StatusCode::OK, &view(&sa, &agent)))
}

/// Options of a new credential (the body may be empty).
#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[schema(as = CreateCredential)]
pub(super) struct CreateCredentialBody {
    /// When the credential stops working; never, if absent.
    #[serde(default, with = "crate::time::rfc3339::option")]
    expires_at: Option<OffsetDateTime>,
    /// A public JWK (EC P-256, OKP Ed25519 or RSA ≥ 2048 bits): the
    /// credential authenticates with `private_key_jwt` assertions signed by
    /// its private half, and has no secret.
    #[schema(value_type = Option<Object>)]
    public_key: Option<serde_json::Value>,
}

/// A credential with its secret, shown this once.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(as = CredentialWithSecret)]
pub(super) struct CredentialSecretView<'a> {
    #[serde(flatten)]
    credential: &'a Credential,
    /// Absent for a public-key credential.
    #[serde(skip_serializing_if = "Option::is_none")]
    client_secret: Option<&'a str>,
}

#[utoipa::path(post, path = "/agents/{agentId}/credentials", tag = "Credentials", operation_id = "createCredential",
    params(AgentIdParam),
    request_body(content = Option<CreateCredentialBody>),
    responses(
        (status = 201, description = "The credential and its secret (shown once); for a public key, the credential without a secret.", body = CredentialSecretView),
        (status = 409, description = "`AGENT_DECOMMISSIONED`.", body = ErrorBody),
    ),
    security(("bearer" = ["credentials:write"])))]
pub(super) async fn create_credential(sa: SentryAgent, req: Request, caller: Caller) -> Result<Response, HttpError> {
    let agent = body::path_id(&req, "agentId")?;
    let body: CreateCredentialBody = body::json(&req, &["expiresAt", "publicKey"], true)?;
    if let Some(key) = &body.public_key {
        let credential = sa.create_key_credential(&caller, agent, key, body.expires_at).await?;
        let view = CredentialSecretView {
            credential: &credential,
            client_secret: None,
        };
        return Ok(Response::json(StatusCode::CREATED, &view).no_store());
    }
    let (credential, secret) = sa.create_credential(&caller, agent, body.expires_at).await?;
    let view = CredentialSecretView {
        credential: &credential,
        client_secret: Some(secret.expose()),
    };
    Ok(Response::json(StatusCode::CREATED, &view).no_store())
}

#[utoipa::path(get, path = "/agents/{agentId}/credentials", tag = "Credentials", operation_id = "listCredentials",
    params(AgentIdParam),
    responses((status = 200, description = "The agent's credentials, without secrets.", body = Page<Credential>)),
    security(("bearer" = ["agents:read"])))]
pub(super) async fn list_credentials(sa: SentryAgent, req: Request, caller: Caller) -> Result<Response, HttpError> {
    let credentials = sa.list_credentials(&caller, body::path_id(&req, "agentId")?).await?;
    Ok(Response::json(
        StatusCode::OK,
        &Page {
            items: credentials,
            next_cursor: None,
        },
    ))
}

#[utoipa::path(post, path = "/agents/{agentId}/credentials/{credentialId}/rotate", tag = "Credentials", operation_id = "rotateCredential",
    params(AgentIdParam, CredentialIdParam),
    responses(
        (status = 200, description = "The same credential with a new secret (shown once); the old secret fails at once.", body = CredentialSecretView),
        (status = 409, description = "`CREDENTIAL_REVOKED`: a revoked credential cannot rotate.", body = ErrorBody),
    ),
    security(("bearer" = ["credentials:write"])))]
pub(super) async fn rotate_credential(sa: SentryAgent, req: Request, caller: Caller) -> Result<Response, HttpError> {
    let agent = body::path_id(&req, "agentId")?;
    let id = body::path_id(&req, "credentialId")?;
    let (credential, secret) = sa.rotate_credential(&caller, agent, id).await?;
    let view = CredentialSecretView {
        credential: &credential,
        client_secret: Some(secret.expose()),
    };
    Ok(Response::json(StatusCode::OK, &view).no_store())
}

#[utoipa::path(delete, path = "/agents/{agentId}/credentials/{credentialId}", tag = "Credentials", operation_id = "revokeCredential",
    params(AgentIdParam, CredentialIdParam),
    responses(
        (status = 200, description = "The revoked credential; the agent keeps its other credentials.", body = Credential),
        (status = 409, description = "`CREDENTIAL_REVOKED`: it already is.", body = ErrorBody),
    ),
    security(("bearer" = ["credentials:write"])))]
pub(super) async fn revoke_credential(sa: SentryAgent, req: Request, caller: Caller) -> Result<Response, HttpError> {
    let agent = body::path_id(&req, "agentId")?;
    let id = body::path_id(&req, "credentialId")?;
    let credential = sa.revoke_credential(&caller, agent, id).await?;
    Ok(Response::json(StatusCode::OK, &credential))
}
