//! Agents' DID documents (public) and their registered public keys.

use std::net::IpAddr;

use http::StatusCode;
use http::header::{CACHE_CONTROL, CONTENT_TYPE, HeaderValue};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use super::agents::Page;
use crate::did::{AgentKey, DID_MEDIA_TYPE};
use crate::http::body;
use crate::http::{Request, Response};
use crate::{Caller, Error, SentryAgent};

/// A registered key as the API shows it to its tenant.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct KeyView<'a> {
    key_id: &'a str,
    verification_method: String,
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

pub(super) async fn document(sa: SentryAgent, req: Request, _ip: Option<IpAddr>) -> Result<Response, Error> {
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

#[derive(Deserialize)]
struct AddKeyBody {
    jwk: Option<serde_json::Value>,
}

pub(super) async fn add_key(sa: SentryAgent, req: Request, caller: Caller) -> Result<Response, Error> {
    let agent = body::path_id(&req, "agentId")?;
    let body: AddKeyBody = body::json(&req, &["jwk"], false)?;
    let jwk = body.jwk.ok_or_else(|| Error::invalid("jwk", "is required"))?;
    let key = sa.add_agent_key(&caller, agent, &jwk).await?;
    Ok(Response::json(StatusCode::CREATED, &view(&sa, &key)))
}

pub(super) async fn list_keys(sa: SentryAgent, req: Request, caller: Caller) -> Result<Response, Error> {
    let keys = sa.agent_keys(&caller, body::path_id(&req, "agentId")?).await?;
    let page = Page {
        items: keys.iter().map(|k| view(&sa, k)).collect(),
        next_cursor: None,
    };
    Ok(Response::json(StatusCode::OK, &page))
}

pub(super) async fn remove_key(sa: SentryAgent, req: Request, caller: Caller) -> Result<Response, Error> {
    let agent = body::path_id(&req, "agentId")?;
    let key = sa.remove_agent_key(&caller, agent, req.param("keyId")).await?;
    Ok(Response::json(StatusCode::OK, &view(&sa, &key)))
}
