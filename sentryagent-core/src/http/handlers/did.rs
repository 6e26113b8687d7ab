//! Agents' DID documents (public) and their registered public keys.

use std::net::IpAddr;

use http::StatusCode;
use http::header::{CACHE_CONTROL, CONTENT_TYPE, HeaderValue};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use utoipa::ToSchema;

use super::agents::Page;
use super::params::AgentIdParam;
use crate::did::{AgentKey, DID_MEDIA_TYPE};
use crate::http::body;
use crate::http::error::ErrorBody;
use crate::http::{HttpError, Request, Response};
use crate::{Caller, Error, SentryAgent};

/// A registered key as the API shows it to its tenant.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(as = AgentKey)]
pub(super) struct KeyView<'a> {
    /// The key's RFC 7638 thumbprint: its `kid`.
    key_id: &'a str,
    /// The key's verification method in the agent's DID document.
    verification_method: String,
    /// The public JWK.
    #[schema(value_type = Object)]
    jwk: &'a serde_json::Map<String, serde_json::Value>,
    #[serde(with = "crate::time::rfc3339")]
    created_at: OffsetDateTime,
}

fn view<'a>(sa: &SentryAgent, key: &'a AgentKey) -> KeyView<'a> {
    KeyView {
        key_id: &key.id,
        verification_method: format!("{}#{}", sa.agent_did(key.agent_id), key.id),
        jwk: &key.jwk,
        created_at: key.created_at,
    }
}

/// A W3C DID document of an agent's `did:web` DID.
#[derive(Serialize, ToSchema)]
#[allow(dead_code)]
pub(super) struct DidDocument {
    #[serde(rename = "@context")]
    context: Vec<String>,
    /// The DID.
    #[schema(example = "did:web:idp.example.com:agents:0192f0c1-7a3e-7c9a-9b1e-3f6f1c2d4e5a")]
    id: String,
    /// The DID itself.
    controller: String,
    /// Present, `true`, once the agent is decommissioned.
    #[schema(nullable = false)]
    deactivated: Option<bool>,
    /// The agent's registered public keys (`JsonWebKey2020`).
    #[schema(value_type = Option<Vec<Object>>, nullable = false)]
    verification_method: Option<Vec<serde_json::Value>>,
    /// Ids of the verification methods.
    #[schema(nullable = false)]
    authentication: Option<Vec<String>>,
    /// Ids of the verification methods.
    #[schema(nullable = false)]
    assertion_method: Option<Vec<String>>,
    /// The identity provider that issues the agent's tokens.
    #[schema(value_type = Option<Vec<Object>>, nullable = false)]
    service: Option<Vec<serde_json::Value>>,
}

#[utoipa::path(get, path = "/agents/{agentId}/did.json", tag = "DIDs", operation_id = "getAgentDidDocument",
    params(AgentIdParam),
    responses((status = 200, description = "The agent's `did:web` DID document; `deactivated` once decommissioned.",
        body = DidDocument, content_type = "application/did+ld+json")))]
pub(super) async fn document(sa: SentryAgent, req: Request, _ip: Option<IpAddr>) -> Result<Response, HttpError> {
    let doc = sa.did_document(body::path_id(&req, "agentId")?).await?;
    let mut response = Response::json(StatusCode::OK, &doc);
    response
        .headers
        .insert(CONTENT_TYPE, HeaderValue::from_static(DID_MEDIA_TYPE));
    response
        .headers
        .insert(CACHE_CONTROL, HeaderValue::from_static("public, max-age=300"));
    Ok(response)
}

/// A public key to register.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = AddAgentKey)]
pub(super) struct AddKeyBody {
    /// A public JWK (EC P-256, OKP Ed25519 or RSA); private members are refused.
    #[schema(required = true, value_type = Object, example = json!({"kty": "OKP", "crv": "Ed25519", "x": "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}))]
    jwk: Option<serde_json::Value>,
}

#[utoipa::path(post, path = "/agents/{agentId}/keys", tag = "DIDs", operation_id = "addAgentKey",
    params(AgentIdParam),
    request_body = AddKeyBody,
    responses(
        (status = 201, description = "The key, now in the agent's DID document.", body = KeyView),
        (status = 409, description = "`AGENT_KEY_EXISTS`, `AGENT_KEY_LIMIT` or `AGENT_DECOMMISSIONED`.", body = ErrorBody),
    ),
    security(("bearer" = ["agents:write"])))]
pub(super) async fn add_key(sa: SentryAgent, req: Request, caller: Caller) -> Result<Response, HttpError> {
    let agent = body::path_id(&req, "agentId")?;
    let body: AddKeyBody = body::json(&req, &["jwk"], false)?;
    let jwk = body.jwk.ok_or_else(|| Error::invalid("jwk", "is required"))?;
    let key = sa.add_agent_key(&caller, agent, &jwk).await?;
    Ok(Response::json(StatusCode::CREATED, &view(&sa, &key)))
}

#[utoipa::path(get, path = "/agents/{agentId}/keys", tag = "DIDs", operation_id = "listAgentKeys",
    params(AgentIdParam),
    responses((status = 200, description = "The agent's registered public keys.", body = Page<KeyView<'static>>)),
    security(("bearer" = ["agents:read"])))]
pub(super) async fn list_keys(sa: SentryAgent, req: Request, caller: Caller) -> Result<Response, HttpError> {
    let keys = sa.agent_keys(&caller, body::path_id(&req, "agentId")?).await?;
    let page = Page {
        items: keys.iter().map(|k| view(&sa, k)).collect(),
        next_cursor: None,
    };
    Ok(Response::json(StatusCode::OK, &page))
}

#[utoipa::path(delete, path = "/agents/{agentId}/keys/{keyId}", tag = "DIDs", operation_id = "removeAgentKey",
    params(AgentIdParam, ("keyId" = String, Path, description = "The key's thumbprint.")),
    responses(
        (status = 200, description = "The removed key.", body = KeyView),
        (status = 409, description = "`AGENT_DECOMMISSIONED`.", body = ErrorBody),
    ),
    security(("bearer" = ["agents:write"])))]
pub(super) async fn remove_key(sa: SentryAgent, req: Request, caller: Caller) -> Result<Response, HttpError> {
    let agent = body::path_id(&req, "agentId")?;
    let key = sa.remove_agent_key(&caller, agent, req.param("keyId")).await?;
    Ok(Response::json(StatusCode::OK, &view(&sa, &key)))
}
