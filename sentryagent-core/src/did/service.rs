//! The did service: [`SentryAgent`](crate::SentryAgent)'s methods over the model and the stores.
//!
//! Stores it needs: `agent_keys`, `directory`.

use super::model::*;
use crate::agent::AgentStatus;
use crate::error::{Error, StoreErrorKind};
use crate::{AgentId, Caller, SentryAgent, scope};
use serde_json::Value;

impl SentryAgent {
    /// The `did:web` DID of an agent under this issuer.
    pub fn agent_did(&self, agent: AgentId) -> String {
        agent_did(&self.inner.settings.issuer, agent)
    }

    /// Registers a public key (a JWK) for an agent, published in its DID
    /// document. Needs `agents:write`.
    ///
    /// # Errors
    /// Validation errors (see [`validate_public_jwk`]); 404; 409
    /// `AGENT_DECOMMISSIONED`, `AGENT_KEY_EXISTS`, `AGENT_KEY_LIMIT` (at most
    /// [`MAX_AGENT_KEYS`]); insufficient scope; a store error.
    pub async fn add_agent_key(&self, caller: &Caller, agent: AgentId, jwk: &Value) -> Result<AgentKey, Error> {
        caller.identity.require_scope(scope::AGENTS_WRITE)?;
        let public = validate_public_jwk(jwk)?;
        let found = self.agent_in_tenant(caller.tenant(), agent).await?;
        self.authorize(caller, crate::permission::Operation::AddAgentKey, Some(&found), &[])
            .await?;
        if found.status == AgentStatus::Decommissioned {
            return Err(crate::agent::decommissioned());
        }
        let stores = &self.inner.stores;
        let keys = stores.agent_keys.agent_keys(caller.tenant(), agent).await?;
        if keys.iter().any(|k| k.id == public.thumbprint) {
            return Err(key_exists());
        }
        if keys.len() >= MAX_AGENT_KEYS {
            return Err(Error::Conflict {
                code: crate::ErrorCode::AgentKeyLimit,
                message: format!("an agent can have at most {MAX_AGENT_KEYS} keys; remove one first").into(),
            });
        }
        let key = AgentKey {
            id: public.thumbprint,
            tenant_id: caller.tenant(),
            agent_id: agent,
            jwk: public.jwk,
            created_at: crate::time::now(),
        };
        match stores.agent_keys.insert_agent_key(&key).await {
            Err(e) if e.kind() == StoreErrorKind::Conflict => return Err(key_exists()),
            other => other?,
        }
        self.record(
            caller.tenant(),
            vec![
                caller
                    .event("agent.key_added", Some(agent))
                    .detail("keyId", key.id.as_str()),
            ],
        )
        .await?;
        Ok(key)
    }

    /// An agent's registered keys, oldest first. Needs `agents:read`.
    ///
    /// # Errors
    /// 404; insufficient scope; a store error.
    pub async fn agent_keys(&self, caller: &Caller, agent: AgentId) -> Result<Vec<AgentKey>, Error> {
        caller.identity.require_scope(scope::AGENTS_READ)?;
        self.agent_in_tenant(caller.tenant(), agent).await?;
        Ok(self.inner.stores.agent_keys.agent_keys(caller.tenant(), agent).await?)
    }

    /// Removes a key from an agent (and from its DID document). Needs
    /// `agents:write`.
    ///
    /// # Errors
    /// 404 for an unknown agent or key; 409 `AGENT_DECOMMISSIONED`;
    /// insufficient scope; a store error.
    pub async fn remove_agent_key(&self, caller: &Caller, agent: AgentId, key_id: &str) -> Result<AgentKey, Error> {
        caller.identity.require_scope(scope::AGENTS_WRITE)?;
        let found = self.agent_in_tenant(caller.tenant(), agent).await?;
        self.authorize(caller, crate::permission::Operation::RemoveAgentKey, Some(&found), &[])
            .await?;
        if found.status == AgentStatus::Decommissioned {
            return Err(crate::agent::decommissioned());
        }
        let stores = &self.inner.stores;
        let key = stores
            .agent_keys
            .agent_keys(caller.tenant(), agent)
            .await?
            .into_iter()
            .find(|k| k.id == key_id)
            .ok_or(Error::NotFound("key"))?;
        if !stores
            .agent_keys
            .delete_agent_key(caller.tenant(), agent, key_id)
            .await?
        {
            return Err(Error::NotFound("key"));
        }
        self.record(
            caller.tenant(),
            vec![caller.event("agent.key_removed", Some(agent)).detail("keyId", key_id)],
        )
        .await?;
        Ok(key)
    }

    /// The DID document of any agent, for `did:web` resolution: public, no
    /// caller. Decommissioned agents' documents say `deactivated: true`.
    ///
    /// # Errors
    /// 404 when no agent has this id; a store error.
    pub async fn did_document(&self, agent: AgentId) -> Result<Value, Error> {
        let subject = self
            .inner
            .stores
            .directory
            .did_subject(agent)
            .await?
            .ok_or(Error::NotFound("agent"))?;
        Ok(did_document(&self.inner.settings.issuer, &subject))
    }
}
