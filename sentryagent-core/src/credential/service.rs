//! The credential service: [`SentryAgent`](crate::SentryAgent)'s methods over the model and the stores.
//!
//! Stores it needs: `credentials`.
//! Shared parts it uses: `server_key`.

use super::ClientKey;
use super::model::*;
use crate::agent::{Agent, AgentStatus, decommissioned};
use crate::error::Error;
use crate::permission::Operation;
use crate::secret::{ClientSecret, generate_client_id};
use crate::{AgentId, CredentialId};
use crate::{Caller, SentryAgent, scope};
use time::OffsetDateTime;

impl SentryAgent {
    /// Makes and stores a credential for `agent`; returns it with its secret.
    pub(crate) async fn new_credential(
        &self,
        agent: &Agent,
        expires_at: Option<OffsetDateTime>,
    ) -> Result<(Credential, ClientSecret), Error> {
        let secret = ClientSecret::generate();
        let credential = Credential {
            id: CredentialId::new(),
            tenant_id: agent.tenant_id,
            agent_id: agent.id,
            client_id: generate_client_id(),
            secret_hash: self.inner.server_key.hash_secret(&secret).to_vec(),
            status: CredentialStatus::Active,
            created_at: crate::time::now(),
            expires_at,
            rotated_at: None,
            revoked_at: None,
            public_key: None,
        };
        self.inner.stores.credentials.insert_credential(&credential).await?;
        Ok((credential, secret))
    }

    /// Registers a public key as a `private_key_jwt` credential of an agent:
    /// the agent's program then authenticates with assertions signed by the
    /// private half, and no secret exists. Needs `credentials:write`, under
    /// the same rules as [`create_credential`](Self::create_credential).
    ///
    /// # Errors
    /// 400 for a key that is not an allowed public key or a past
    /// `expires_at`; 404; 409 for a decommissioned agent; insufficient
    /// scope; a store error.
    pub async fn create_key_credential(
        &self,
        caller: &Caller,
        agent: AgentId,
        public_key: &serde_json::Value,
        expires_at: Option<OffsetDateTime>,
    ) -> Result<Credential, Error> {
        caller.identity.require_scope(scope::CREDENTIALS_WRITE)?;
        let key = ClientKey::parse(public_key).map_err(|m| Error::invalid("publicKey", m))?;
        if expires_at.is_some_and(|t| t <= crate::time::now()) {
            return Err(Error::invalid("expiresAt", "must be in the future"));
        }
        let agent = self.live_agent(caller, Operation::CreateCredential, agent).await?;
        let credential = Credential {
            id: CredentialId::new(),
            tenant_id: agent.tenant_id,
            agent_id: agent.id,
            client_id: generate_client_id(),
            secret_hash: Vec::new(),
            status: CredentialStatus::Active,
            created_at: crate::time::now(),
            expires_at: expires_at.map(crate::time::truncate),
            rotated_at: None,
            revoked_at: None,
            public_key: Some(key),
        };
        self.inner.stores.credentials.insert_credential(&credential).await?;
        self.record(
            caller.tenant(),
            vec![
                caller
                    .event("credential.created", Some(agent.id))
                    .detail("credentialId", credential.id.to_string())
                    .detail("authMethod", "private_key_jwt"),
            ],
        )
        .await?;
        Ok(credential)
    }

    /// The agent `op` acts on, once the permission rule allows it; it must
    /// not be decommissioned.
    async fn live_agent(&self, caller: &Caller, op: Operation, agent: AgentId) -> Result<Agent, Error> {
        let agent = self.agent_in_tenant(caller.tenant(), agent).await?;
        self.authorize(caller, op, Some(&agent), &[]).await?;
        if agent.status == AgentStatus::Decommissioned {
            return Err(decommissioned());
        }
        Ok(agent)
    }

    async fn credential_of(&self, caller: &Caller, agent: AgentId, id: CredentialId) -> Result<Credential, Error> {
        self.inner
            .stores
            .credentials
            .credential(caller.tenant(), id)
            .await?
            .filter(|c| c.agent_id == agent)
            .ok_or(Error::NotFound("credential"))
    }

    /// Generates another credential for an agent. Needs `credentials:write`.
    ///
    /// # Errors
    /// 404; 409 for a decommissioned agent; a past `expires_at`; insufficient
    /// scope; a store error.
    pub async fn create_credential(
        &self,
        caller: &Caller,
        agent: AgentId,
        expires_at: Option<OffsetDateTime>,
    ) -> Result<(Credential, ClientSecret), Error> {
        caller.identity.require_scope(scope::CREDENTIALS_WRITE)?;
        if expires_at.is_some_and(|t| t <= crate::time::now()) {
            return Err(Error::invalid("expiresAt", "must be in the future"));
        }
        let agent = self.live_agent(caller, Operation::CreateCredential, agent).await?;
        let (credential, secret) = self
            .new_credential(&agent, expires_at.map(crate::time::truncate))
            .await?;
        self.record(
            caller.tenant(),
            vec![
                caller
                    .event("credential.created", Some(agent.id))
                    .detail("credentialId", credential.id.to_string()),
            ],
        )
        .await?;
        Ok((credential, secret))
    }

    /// An agent's credentials, without secrets. Needs `agents:read`.
    ///
    /// # Errors
    /// 404; insufficient scope; a store error.
    pub async fn list_credentials(&self, caller: &Caller, agent: AgentId) -> Result<Vec<Credential>, Error> {
        caller.identity.require_scope(scope::AGENTS_READ)?;
        let agent = self.agent_in_tenant(caller.tenant(), agent).await?;
        Ok(self
            .inner
            .stores
            .credentials
            .list_credentials(caller.tenant(), agent.id)
            .await?)
    }

    /// Replaces a credential's secret; the old one fails from now on.
    /// Needs `credentials:write`.
    ///
    /// # Errors
    /// 404; 409 `CREDENTIAL_REVOKED`; insufficient scope; a store error.
    pub async fn rotate_credential(
        &self,
        caller: &Caller,
        agent: AgentId,
        id: CredentialId,
    ) -> Result<(Credential, ClientSecret), Error> {
        caller.identity.require_scope(scope::CREDENTIALS_WRITE)?;
        self.live_agent(caller, Operation::RotateCredential, agent).await?;
        let mut credential = self.credential_of(caller, agent, id).await?;
        if credential.status == CredentialStatus::Revoked {
            return Err(revoked());
        }
        if credential.is_key() {
            return Err(Error::invalid(
                "credentialId",
                "a public-key credential has no secret to rotate: register the new key, then revoke this one",
            ));
        }
        let secret = ClientSecret::generate();
        credential.secret_hash = self.inner.server_key.hash_secret(&secret).to_vec();
        credential.rotated_at = Some(crate::time::now());
        self.inner.stores.credentials.update_credential(&credential).await?;
        self.record(
            caller.tenant(),
            vec![
                caller
                    .event("credential.rotated", Some(agent))
                    .detail("credentialId", id.to_string()),
            ],
        )
        .await?;
        Ok((credential, secret))
    }

    /// Revokes one credential; the agent keeps its others. Needs `credentials:write`.
    ///
    /// # Errors
    /// 404; 409 `CREDENTIAL_REVOKED`; insufficient scope; a store error.
    pub async fn revoke_credential(
        &self,
        caller: &Caller,
        agent: AgentId,
        id: CredentialId,
    ) -> Result<Credential, Error> {
        caller.identity.require_scope(scope::CREDENTIALS_WRITE)?;
        let target = self.agent_in_tenant(caller.tenant(), agent).await?;
        self.authorize(caller, Operation::RevokeCredential, Some(&target), &[])
            .await?;
        let mut credential = self.credential_of(caller, agent, id).await?;
        if credential.status == CredentialStatus::Revoked {
            return Err(revoked());
        }
        let now = crate::time::now();
        credential.status = CredentialStatus::Revoked;
        credential.revoked_at = Some(now);
        self.inner.stores.credentials.update_credential(&credential).await?;
        self.record(
            caller.tenant(),
            vec![
                caller
                    .event("credential.revoked", Some(agent))
                    .detail("credentialId", id.to_string()),
            ],
        )
        .await?;
        Ok(credential)
    }
}
