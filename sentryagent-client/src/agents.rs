//! The agent registry, agents' credentials, and their public keys and DID
//! documents.

use futures_core::Stream;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::client::{Call, Client, Secret};
use crate::error::Error;
use crate::ids::{AgentId, CredentialId, KeyId};
use crate::ops;
use crate::page::Page;

type Json = serde_json::Map<String, serde_json::Value>;

/// An agent's lifecycle state.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AgentStatus {
    /// Can get tokens.
    Active,
    /// Its tokens fail until it is reactivated.
    Suspended,
    /// Permanently retired.
    Decommissioned,
    /// A state this client does not know yet.
    #[serde(other)]
    Unknown,
}

impl AgentStatus {
    /// The API's name of the state.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Active => "active",
            Self::Suspended => "suspended",
            Self::Decommissioned => "decommissioned",
            Self::Unknown => "unknown",
        }
    }
}

/// An agent as its tenant sees it.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Agent {
    /// Its id.
    pub agent_id: AgentId,
    /// Email-format identifier, unique in the tenant.
    pub name: String,
    /// Free text.
    pub description: String,
    /// Short labels, shown in the marketplace.
    pub capabilities: Vec<String>,
    /// The tenant's private key/value data.
    pub metadata: Json,
    /// The scopes it may request.
    pub scopes: Vec<String>,
    /// Its state.
    pub status: AgentStatus,
    /// Whether the marketplace lists it while it is active.
    pub listed: bool,
    /// Its `did:web` DID.
    pub did: String,
    /// Where it came from, when a CI workflow registered it through a
    /// bootstrap trust policy.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub origin: Option<AgentOrigin>,
    /// When it was registered.
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    /// When it last changed.
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
}

/// The bootstrap trust policy and workflow run that registered an agent.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AgentOrigin {
    /// The bootstrap trust policy.
    pub trust_policy_id: crate::ids::TrustPolicyId,
    /// The repository (`owner/name`).
    pub repository: String,
    /// Its numeric id.
    pub repository_id: String,
    /// The ref the workflow ran on.
    #[serde(default, rename = "ref")]
    pub git_ref: Option<String>,
    /// The workflow run.
    #[serde(default)]
    pub run_id: Option<String>,
}

/// A newly registered agent with its first credential.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RegisteredAgent {
    /// The agent.
    #[serde(flatten)]
    pub agent: Agent,
    /// Its first credential's client id.
    pub client_id: String,
    /// Its first credential's secret: shown this once.
    pub client_secret: Secret,
    /// Its first credential's id.
    pub credential_id: CredentialId,
}

/// What registering an agent takes.
#[derive(Clone, Debug, Default, Serialize)]
pub struct NewAgent {
    /// Email-format identifier, unique in the tenant.
    pub name: String,
    /// Free text, at most 1,000 characters.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// At most 50 labels.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub capabilities: Option<Vec<String>>,
    /// Private key/value data, at most 8 KiB as JSON.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub metadata: Option<Json>,
    /// The scopes it may request (within the caller's own).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scopes: Option<Vec<String>>,
    /// Whether the marketplace lists it. Unset, the server's setting decides:
    /// the library's default lists an agent only when asked; the example
    /// server lists it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub listed: Option<bool>,
}

impl NewAgent {
    /// An agent with this name and nothing else.
    pub fn named(name: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            ..Self::default()
        }
    }
}

/// The fields to change; `None` leaves a field as it is.
#[derive(Clone, Debug, Default, Serialize)]
pub struct AgentUpdate {
    /// New description.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// New capabilities.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub capabilities: Option<Vec<String>>,
    /// New metadata.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub metadata: Option<Json>,
    /// New scopes.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scopes: Option<Vec<String>>,
    /// `Active` (reactivate) or `Suspended` (decommissioning is
    /// [`Client::decommission_agent`]).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<AgentStatus>,
    /// Whether the marketplace lists it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub listed: Option<bool>,
}

/// Which agents to list.
#[derive(Clone, Debug, Default)]
pub struct AgentFilter {
    /// Only agents in this state.
    pub status: Option<AgentStatus>,
    /// A case-insensitive substring of the name or description.
    pub q: Option<String>,
    /// The page size, 1 to 100 (the server's default: 20).
    pub limit: Option<u8>,
}

/// A credential's state.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CredentialStatus {
    /// Can authenticate.
    Active,
    /// Cannot any more.
    Revoked,
    /// A state this client does not know yet.
    #[serde(other)]
    Unknown,
}

/// A credential, without its secret.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Credential {
    /// Its id, the same across rotations.
    pub credential_id: CredentialId,
    /// The agent it belongs to.
    pub agent_id: AgentId,
    /// The client id presented at the token endpoint.
    pub client_id: String,
    /// Active or revoked.
    pub status: CredentialStatus,
    /// When it was generated.
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    /// When it stops working, if ever.
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub expires_at: Option<OffsetDateTime>,
    /// When it was revoked.
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub revoked_at: Option<OffsetDateTime>,
    /// When its secret was last rotated.
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub rotated_at: Option<OffsetDateTime>,
    /// A `private_key_jwt` credential's public JWK; `None` for a secret.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub public_key: Option<serde_json::Value>,
}

/// A credential with its secret, shown this once.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CredentialWithSecret {
    /// The credential.
    #[serde(flatten)]
    pub credential: Credential,
    /// Its secret.
    pub client_secret: Secret,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct NewCredential<'a> {
    #[serde(skip_serializing_if = "Option::is_none", with = "time::serde::rfc3339::option")]
    expires_at: Option<OffsetDateTime>,
    #[serde(skip_serializing_if = "Option::is_none")]
    public_key: Option<&'a serde_json::Value>,
}

/// A public key registered for an agent's DID document.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AgentKey {
    /// Its RFC 7638 thumbprint, also its `kid`.
    pub key_id: KeyId,
    /// Its verification method in the DID document.
    pub verification_method: String,
    /// The public JWK.
    pub jwk: Json,
    /// When it was registered.
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
}

impl Client {
    /// Registers an agent (`agents:write`); the answer carries its first
    /// credential's secret, shown this once.
    ///
    /// # Errors
    /// `AGENT_NAME_TAKEN`, `VALIDATION_ERROR`, `TIER_AGENT_LIMIT`, …
    pub async fn register_agent(&self, agent: &NewAgent) -> Result<RegisteredAgent, Error> {
        self.json(Call::new(ops::REGISTER_AGENT).json(agent)?).await
    }

    /// One page of the tenant's agents (`agents:read`), in registration order.
    ///
    /// # Errors
    /// The server's refusal, or no answer.
    pub async fn list_agents(&self, filter: &AgentFilter, cursor: Option<&str>) -> Result<Page<Agent>, Error> {
        let call = Call::new(ops::LIST_AGENTS)
            .query("status", filter.status.map(AgentStatus::as_str))
            .query("q", filter.q.as_deref())
            .query("limit", filter.limit)
            .query("cursor", cursor);
        self.json(call).await
    }

    /// Every agent the filter admits, page after page as the stream is read.
    pub fn agents(&self, filter: AgentFilter) -> impl Stream<Item = Result<Agent, Error>> + Send + 'static {
        self.pages(move |client, cursor| {
            let filter = filter.clone();
            async move { client.list_agents(&filter, cursor.as_deref()).await }
        })
    }

    /// One agent (`agents:read`).
    ///
    /// # Errors
    /// `NOT_FOUND`, …
    pub async fn agent(&self, id: &AgentId) -> Result<Agent, Error> {
        self.json(Call::new(ops::GET_AGENT).param(id.as_str())).await
    }

    /// Changes an agent (`agents:write`); suspends or reactivates it through
    /// `status`.
    ///
    /// # Errors
    /// `AGENT_DECOMMISSIONED`, `VALIDATION_ERROR`, …
    pub async fn update_agent(&self, id: &AgentId, update: &AgentUpdate) -> Result<Agent, Error> {
        self.json(Call::new(ops::UPDATE_AGENT).param(id.as_str()).json(update)?)
            .await
    }

    /// Decommissions an agent (`agents:write`): permanent; every credential
    /// revoked, every token dead.
    ///
    /// # Errors
    /// `AGENT_DECOMMISSIONED` when it already is, …
    pub async fn decommission_agent(&self, id: &AgentId) -> Result<Agent, Error> {
        self.json(Call::new(ops::DECOMMISSION_AGENT).param(id.as_str())).await
    }

    /// Generates a new credential for an agent (`credentials:write`); its
    /// secret is shown this once.
    ///
    /// # Errors
    /// `AGENT_DECOMMISSIONED`, …
    pub async fn create_credential(
        &self,
        agent: &AgentId,
        expires_at: Option<OffsetDateTime>,
    ) -> Result<CredentialWithSecret, Error> {
        let call = Call::new(ops::CREATE_CREDENTIAL)
            .param(agent.as_str())
            .json(&NewCredential {
                expires_at,
                public_key: None,
            })?;
        self.json(call).await
    }

    /// Registers a public JWK as a `private_key_jwt` credential of an agent
    /// (`credentials:write`): no secret exists; the agent authenticates
    /// with client assertions signed by the private half.
    ///
    /// # Errors
    /// `VALIDATION_ERROR` for a private, symmetric or unsupported key, …
    pub async fn register_client_key(
        &self,
        agent: &AgentId,
        public_key: &serde_json::Value,
        expires_at: Option<OffsetDateTime>,
    ) -> Result<Credential, Error> {
        let call = Call::new(ops::CREATE_CREDENTIAL)
            .param(agent.as_str())
            .json(&NewCredential {
                expires_at,
                public_key: Some(public_key),
            })?;
        self.json(call).await
    }

    /// An agent's credentials, without secrets (`agents:read`).
    ///
    /// # Errors
    /// `NOT_FOUND`, …
    pub async fn list_credentials(&self, agent: &AgentId) -> Result<Vec<Credential>, Error> {
        let page: Page<Credential> = self
            .json(Call::new(ops::LIST_CREDENTIALS).param(agent.as_str()))
            .await?;
        Ok(page.items)
    }

    /// Gives a credential a new secret (`credentials:write`); the old one
    /// fails at once.
    ///
    /// # Errors
    /// `CREDENTIAL_REVOKED`, …
    pub async fn rotate_credential(
        &self,
        agent: &AgentId,
        credential: &CredentialId,
    ) -> Result<CredentialWithSecret, Error> {
        let call = Call::new(ops::ROTATE_CREDENTIAL)
            .param(agent.as_str())
            .param(credential.as_str());
        self.json(call).await
    }

    /// Revokes a credential (`credentials:write`); the agent keeps its others.
    ///
    /// # Errors
    /// `CREDENTIAL_REVOKED`, …
    pub async fn revoke_credential(&self, agent: &AgentId, credential: &CredentialId) -> Result<Credential, Error> {
        let call = Call::new(ops::REVOKE_CREDENTIAL)
            .param(agent.as_str())
            .param(credential.as_str());
        self.json(call).await
    }

    /// Registers a public key (a JWK without private members) for an agent's
    /// DID document (`agents:write`).
    ///
    /// # Errors
    /// `VALIDATION_ERROR` for a private or malformed key, …
    pub async fn add_agent_key(&self, agent: &AgentId, jwk: &Json) -> Result<AgentKey, Error> {
        let call = Call::new(ops::ADD_AGENT_KEY)
            .param(agent.as_str())
            .json(&serde_json::json!({ "jwk": jwk }))?;
        self.json(call).await
    }

    /// An agent's registered keys (`agents:read`).
    ///
    /// # Errors
    /// `NOT_FOUND`, …
    pub async fn list_agent_keys(&self, agent: &AgentId) -> Result<Vec<AgentKey>, Error> {
        let page: Page<AgentKey> = self.json(Call::new(ops::LIST_AGENT_KEYS).param(agent.as_str())).await?;
        Ok(page.items)
    }

    /// Removes a registered key (`agents:write`).
    ///
    /// # Errors
    /// `NOT_FOUND`, …
    pub async fn remove_agent_key(&self, agent: &AgentId, key: &KeyId) -> Result<AgentKey, Error> {
        let call = Call::new(ops::REMOVE_AGENT_KEY)
            .param(agent.as_str())
            .param(key.as_str());
        self.json(call).await
    }

    /// An agent's W3C DID document (public).
    ///
    /// # Errors
    /// `NOT_FOUND`, …
    pub async fn did_document(&self, agent: &AgentId) -> Result<Json, Error> {
        self.json(Call::new(ops::GET_AGENT_DID_DOCUMENT).param(agent.as_str()).public())
            .await
    }
}
