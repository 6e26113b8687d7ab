//! Agents: registered programs with an email-format name unique per tenant.

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::{AgentId, TenantId};

/// Lifecycle state of an agent.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum AgentStatus {
    /// Can obtain and use tokens.
    Active,
    /// Temporarily barred: its tokens fail until it is reactivated.
    Suspended,
    /// Permanently retired: credentials revoked, tokens dead.
    Decommissioned,
}

impl AgentStatus {
    /// The name the API and stores use.
    pub fn as_str(self) -> &'static str {
        match self {
            AgentStatus::Active => "active",
            AgentStatus::Suspended => "suspended",
            AgentStatus::Decommissioned => "decommissioned",
        }
    }

    /// Parses [`as_str`](Self::as_str)'s output.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "active" => Some(AgentStatus::Active),
            "suspended" => Some(AgentStatus::Suspended),
            "decommissioned" => Some(AgentStatus::Decommissioned),
            _ => None,
        }
    }
}

/// A registered agent.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Agent {
    /// The agent's id; the `sub` of its tokens.
    pub id: AgentId,
    /// The owning tenant.
    pub tenant_id: TenantId,
    /// Email-format identifier, unique in the tenant.
    pub name: String,
    /// Free text, at most 1,000 characters.
    pub description: String,
    /// What the agent can do, as short labels (shown in the marketplace).
    pub capabilities: Vec<String>,
    /// Private key/value data of the tenant's; never shown publicly.
    pub metadata: serde_json::Map<String, serde_json::Value>,
    /// The scopes the agent may request in tokens.
    pub scopes: Vec<String>,
    /// Lifecycle state.
    pub status: AgentStatus,
    /// Whether the public marketplace lists the agent (while it is active).
    /// New agents are listed only when asked (or when the host lists new
    /// agents by default). Built-in agents (the tenant's admin, the OIDC
    /// bootstrap agent) are never listed.
    pub listed: bool,
    /// Where the agent came from, when a CI workflow registered it through a
    /// bootstrap trust policy.
    pub origin: Option<AgentOrigin>,
    /// When it was registered.
    pub created_at: OffsetDateTime,
    /// When it last changed.
    pub updated_at: OffsetDateTime,
}

/// Where an agent registered by a CI workflow came from: the bootstrap trust
/// policy that admitted the workflow, and the workflow run.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AgentOrigin {
    /// The bootstrap trust policy.
    pub trust_policy_id: crate::TrustPolicyId,
    /// The repository (`owner/name`) whose workflow registered the agent.
    pub repository: String,
    /// Its numeric id.
    pub repository_id: String,
    /// The ref the workflow ran on.
    #[serde(rename = "ref", default, skip_serializing_if = "Option::is_none")]
    pub git_ref: Option<String>,
    /// The workflow run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub run_id: Option<String>,
}

/// Filters and page position of an agent listing, in registration order.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AgentQuery {
    /// Only agents in this state.
    pub status: Option<AgentStatus>,
    /// Case-insensitive substring of the name or the description.
    pub q: Option<String>,
    /// Only agents registered after this one (the cursor).
    pub after: Option<AgentId>,
    /// At most this many.
    pub limit: usize,
}

impl AgentQuery {
    /// Whether `agent` passes the filters (not the page position): the
    /// reference semantics every store must match.
    pub fn matches(&self, agent: &Agent) -> bool {
        self.status.is_none_or(|s| agent.status == s)
            && self.q.as_deref().is_none_or(|q| {
                let q = q.to_lowercase();
                agent.name.to_lowercase().contains(&q) || agent.description.to_lowercase().contains(&q)
            })
    }
}

/// Whether `name` is an email-format identifier: `local@domain`, with a dot in
/// the domain, no spaces, at most 254 characters.
pub fn is_email_format(name: &str) -> bool {
    let Some((local, domain)) = name.split_once('@') else {
        return false;
    };
    let atom_ok = |s: &str| {
        !s.is_empty()
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+/=?^_`{|}~.-".contains(&b))
            && !s.starts_with('.')
            && !s.ends_with('.')
            && !s.contains("..")
    };
    name.len() <= 254
        && local.len() <= 64
        && atom_ok(local)
        && atom_ok(domain)
        && domain.contains('.')
        && domain.split('.').all(|label| {
            !label.is_empty()
                && label.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
                && !label.starts_with('-')
                && !label.ends_with('-')
        })
}

#[cfg(test)]
mod tests {
    use super::is_email_format;

    #[test]
    fn email_format_names() {
        for ok in ["a@b.co", "build-bot@acme.example", "x.y+z@sub.acme.io"] {
            assert!(is_email_format(ok), "{ok}");
        }
        for bad in [
            "", "a", "a@b", "@b.co", "a@.co", "a b@c.co", "a@b..co", "a@-b.co", ".a@b.co",
        ] {
            assert!(!is_email_format(bad), "{bad}");
        }
    }
}

use crate::error::{Error, StoreErrorKind, Validator};
use crate::permission::Operation;
use crate::secret::ClientSecret;
use crate::{Caller, SentryAgent, scope};

/// What registering an agent takes.
#[derive(Clone, Debug, Default)]
pub struct NewAgent {
    /// Email-format name, unique in the tenant.
    pub name: String,
    /// Free text.
    pub description: Option<String>,
    /// Capability labels.
    pub capabilities: Vec<String>,
    /// Private metadata (a JSON object).
    pub metadata: serde_json::Map<String, serde_json::Value>,
    /// Scopes the agent may request. A caller grants only scopes it holds
    /// ([`crate::permission`]).
    pub scopes: Vec<String>,
    /// Whether the public marketplace lists the agent; `None`: the host's
    /// default (not listed, unless the host lists new agents).
    pub listed: Option<bool>,
}

/// A change to an agent; `None` leaves a field alone.
#[derive(Clone, Debug, Default)]
pub struct AgentPatch {
    /// New description.
    pub description: Option<String>,
    /// New capabilities.
    pub capabilities: Option<Vec<String>>,
    /// New metadata.
    pub metadata: Option<serde_json::Map<String, serde_json::Value>>,
    /// New scopes.
    pub scopes: Option<Vec<String>>,
    /// `Active` (reactivate) or `Suspended`.
    pub status: Option<AgentStatus>,
    /// List the agent in the marketplace, or not.
    pub listed: Option<bool>,
}

/// A registered agent with its first credential; the secret is shown once.
#[derive(Debug)]
pub struct AgentCreated {
    /// The agent.
    pub agent: Agent,
    /// Its first credential.
    pub credential: crate::credential::Credential,
    /// That credential's secret, in the clear this once.
    pub secret: ClientSecret,
}

const MAX_DESCRIPTION: usize = 1_000;
const MAX_LIST: usize = 50;
const MAX_LABEL: usize = 64;
const MAX_METADATA_BYTES: usize = 8 * 1024;

fn check_description(v: &mut Validator, description: &str) {
    v.check(
        description.chars().count() <= MAX_DESCRIPTION,
        "description",
        format!("must be at most {MAX_DESCRIPTION} characters"),
    );
}

fn check_capabilities(v: &mut Validator, capabilities: &[String]) {
    v.check(
        capabilities.len() <= MAX_LIST,
        "capabilities",
        format!("at most {MAX_LIST} items"),
    );
    for (i, c) in capabilities.iter().enumerate() {
        let ok = !c.is_empty() && c.len() <= MAX_LABEL && c.chars().all(|ch| ch.is_ascii_graphic());
        v.check(
            ok,
            &format!("capabilities[{i}]"),
            format!("must be 1 to {MAX_LABEL} printable characters without spaces"),
        );
    }
}

fn check_metadata(v: &mut Validator, metadata: &serde_json::Map<String, serde_json::Value>) {
    let size = serde_json::to_vec(metadata).map_or(usize::MAX, |b| b.len());
    v.check(
        size <= MAX_METADATA_BYTES,
        "metadata",
        format!("must be at most {MAX_METADATA_BYTES} bytes of JSON"),
    );
}

/// The syntax of a scope list; who may grant which scope is the permission
/// rule's business ([`crate::permission`]).
pub(crate) fn check_scopes(v: &mut Validator, field: &str, scopes: &[String]) {
    v.check(scopes.len() <= MAX_LIST, field, format!("at most {MAX_LIST} items"));
    for (i, s) in scopes.iter().enumerate() {
        if !scope::is_valid_syntax(s) {
            v.push(format!("{field}[{i}]"), "is not a valid scope");
        }
    }
}

/// The domain of the built-in agents' names, reserved so that no
/// registered agent can pass for one.
const RESERVED_DOMAIN: &str = "@sentryagent.local";

impl SentryAgent {
    /// Registers an agent and its first credential. Needs `agents:write`.
    ///
    /// # Errors
    /// Validation errors; 409 `AGENT_NAME_TAKEN`; insufficient scope; a store error.
    pub async fn register_agent(&self, caller: &Caller, new: NewAgent) -> Result<AgentCreated, Error> {
        caller.identity.require_scope(scope::AGENTS_WRITE)?;
        let mut v = Validator::default();
        v.check(
            is_email_format(&new.name),
            "name",
            "must be an email-format identifier such as build-bot@acme.example",
        );
        check_description(&mut v, new.description.as_deref().unwrap_or_default());
        check_capabilities(&mut v, &new.capabilities);
        check_metadata(&mut v, &new.metadata);
        v.check(
            !new.name.to_ascii_lowercase().ends_with(RESERVED_DOMAIN),
            "name",
            format!("names ending in {RESERVED_DOMAIN} are reserved for built-in agents"),
        );
        check_scopes(&mut v, "scopes", &new.scopes);
        v.finish()?;
        self.authorize(caller, Operation::RegisterAgent, None, &new.scopes)
            .await?;
        let origin = self.origin_of(caller).await?;
        self.check_agent_limit(caller.tenant()).await?;
        let now = crate::time::now();
        let agent = Agent {
            id: AgentId::new(),
            tenant_id: caller.tenant(),
            name: new.name,
            description: new.description.unwrap_or_default(),
            capabilities: new.capabilities,
            metadata: new.metadata,
            scopes: new.scopes,
            status: AgentStatus::Active,
            listed: new.listed.unwrap_or(self.inner.settings.list_new_agents),
            origin,
            created_at: now,
            updated_at: now,
        };
        match self.inner.stores.agents.insert_agent(&agent).await {
            Err(e) if e.kind() == StoreErrorKind::Conflict => {
                return Err(Error::Conflict {
                    code: crate::ErrorCode::AgentNameTaken,
                    message: "an agent with this name already exists in the tenant".into(),
                });
            }
            other => other?,
        }
        let (credential, secret) = self.new_credential(&agent, None).await?;
        self.record(
            caller.tenant(),
            vec![
                caller
                    .event("agent.created", Some(agent.id))
                    .detail("name", agent.name.as_str()),
                caller
                    .event("credential.created", Some(agent.id))
                    .detail("credentialId", credential.id.to_string()),
            ],
        )
        .await?;
        Ok(AgentCreated {
            agent,
            credential,
            secret,
        })
    }

    /// Refuses a registration past the tier's agent limit (the built-in admin
    /// and OIDC bootstrap agents and decommissioned agents do not count).
    async fn check_agent_limit(&self, tenant: TenantId) -> Result<(), Error> {
        if !self.inner.settings.enforce_tiers {
            return Ok(());
        }
        let Some(limit) = self.tier_of(tenant).await?.limits.max_agents else {
            return Ok(());
        };
        let mut counted = 0u64;
        for status in [AgentStatus::Active, AgentStatus::Suspended] {
            let query = AgentQuery {
                status: Some(status),
                limit: usize::try_from(limit).unwrap_or(usize::MAX).saturating_add(2),
                ..AgentQuery::default()
            };
            let agents = self.inner.stores.agents.list_agents(tenant, &query).await?;
            counted += agents
                .iter()
                .filter(|a| {
                    a.name != crate::tenant::ADMIN_AGENT_NAME && a.name != crate::federation::BOOTSTRAP_AGENT_NAME
                })
                .count() as u64;
        }
        if counted >= limit {
            return Err(Error::TierAgentLimit { limit });
        }
        Ok(())
    }

    /// One agent of the caller's tenant. Needs `agents:read`.
    ///
    /// # Errors
    /// 404 if it is not in the caller's tenant; insufficient scope; a store error.
    pub async fn agent(&self, caller: &Caller, id: AgentId) -> Result<Agent, Error> {
        caller.identity.require_scope(scope::AGENTS_READ)?;
        self.agent_in_tenant(caller.tenant(), id).await
    }

    pub(crate) async fn agent_in_tenant(&self, tenant: TenantId, id: AgentId) -> Result<Agent, Error> {
        self.inner
            .stores
            .agents
            .agent(tenant, id)
            .await?
            .ok_or(Error::NotFound("agent"))
    }

    /// A page of the caller's agents. Needs `agents:read`.
    ///
    /// # Errors
    /// Insufficient scope; a store error.
    pub async fn list_agents(&self, caller: &Caller, query: &AgentQuery) -> Result<Vec<Agent>, Error> {
        caller.identity.require_scope(scope::AGENTS_READ)?;
        Ok(self.inner.stores.agents.list_agents(caller.tenant(), query).await?)
    }

    /// Changes an agent; suspends or reactivates it. Needs `agents:write`.
    ///
    /// # Errors
    /// Validation errors; 404; 409 `AGENT_DECOMMISSIONED`; 403 when an agent
    /// would suspend itself; insufficient scope; a store error.
    pub async fn update_agent(&self, caller: &Caller, id: AgentId, patch: AgentPatch) -> Result<Agent, Error> {
        caller.identity.require_scope(scope::AGENTS_WRITE)?;
        let mut v = Validator::default();
        if let Some(d) = &patch.description {
            check_description(&mut v, d);
        }
        if let Some(c) = &patch.capabilities {
            check_capabilities(&mut v, c);
        }
        if let Some(m) = &patch.metadata {
            check_metadata(&mut v, m);
        }
        if let Some(s) = &patch.scopes {
            check_scopes(&mut v, "scopes", s);
        }
        v.check(
            patch.status != Some(AgentStatus::Decommissioned),
            "status",
            "must be active or suspended; decommission with DELETE",
        );
        v.finish()?;
        let mut agent = self.agent_in_tenant(caller.tenant(), id).await?;
        self.authorize(
            caller,
            Operation::UpdateAgent,
            Some(&agent),
            patch.scopes.as_deref().unwrap_or_default(),
        )
        .await?;
        if agent.status == AgentStatus::Decommissioned {
            return Err(decommissioned());
        }
        if patch.status == Some(AgentStatus::Suspended) && id == caller.identity.agent_id {
            return Err(Error::Forbidden("an agent cannot suspend itself".into()));
        }
        if patch.listed == Some(true) && crate::marketplace::is_built_in(&agent.name) {
            return Err(Error::invalid("listed", "built-in agents are never listed"));
        }
        let before = agent.status;
        let mut changed = Vec::new();
        if let Some(d) = patch.description {
            agent.description = d;
            changed.push("description");
        }
        if let Some(c) = patch.capabilities {
            agent.capabilities = c;
            changed.push("capabilities");
        }
        if let Some(m) = patch.metadata {
            agent.metadata = m;
            changed.push("metadata");
        }
        if let Some(s) = patch.scopes {
            agent.scopes = s;
            changed.push("scopes");
        }
        if let Some(l) = patch.listed {
            agent.listed = l;
            changed.push("listed");
        }
        if let Some(s) = patch.status {
            agent.status = s;
        }
        agent.updated_at = crate::time::now();
        self.inner.stores.agents.update_agent(&agent).await?;
        let mut events = Vec::new();
        if !changed.is_empty() {
            events.push(caller.event("agent.updated", Some(id)).detail("fields", changed));
        }
        match (before, agent.status) {
            (AgentStatus::Active, AgentStatus::Suspended) => events.push(caller.event("agent.suspended", Some(id))),
            (AgentStatus::Suspended, AgentStatus::Active) => events.push(caller.event("agent.reactivated", Some(id))),
            _ => {}
        }
        if !events.is_empty() {
            self.record(caller.tenant(), events).await?;
        }
        Ok(agent)
    }

    /// Decommissions an agent, permanently: every credential is revoked and
    /// every token it holds fails from now on. Needs `agents:write`.
    ///
    /// # Errors
    /// 404; 409 `AGENT_DECOMMISSIONED`; 403 for the caller's own agent;
    /// insufficient scope; a store error.
    pub async fn decommission_agent(&self, caller: &Caller, id: AgentId) -> Result<Agent, Error> {
        caller.identity.require_scope(scope::AGENTS_WRITE)?;
        let mut agent = self.agent_in_tenant(caller.tenant(), id).await?;
        self.authorize(caller, Operation::DecommissionAgent, Some(&agent), &[])
            .await?;
        if agent.status == AgentStatus::Decommissioned {
            return Err(decommissioned());
        }
        if id == caller.identity.agent_id {
            return Err(Error::Forbidden("an agent cannot decommission itself".into()));
        }
        let now = crate::time::now();
        agent.status = AgentStatus::Decommissioned;
        agent.updated_at = now;
        // Status first: from this write on, every token of the agent fails.
        self.inner.stores.agents.update_agent(&agent).await?;
        let revoked = self
            .inner
            .stores
            .credentials
            .revoke_agent_credentials(caller.tenant(), id, now)
            .await?;
        self.record(
            caller.tenant(),
            vec![
                caller
                    .event("agent.decommissioned", Some(id))
                    .detail("credentialsRevoked", revoked),
            ],
        )
        .await?;
        Ok(agent)
    }
}

impl SentryAgent {
    /// The origin to record for an agent that `caller` registers: set when
    /// the caller is a bootstrap token from a CI workflow.
    async fn origin_of(&self, caller: &Caller) -> Result<Option<AgentOrigin>, Error> {
        let (Some(Some(policy)), Some(actor)) = (self.bootstrap_policy_of(caller).await?, &caller.identity.actor)
        else {
            return Ok(None);
        };
        Ok(Some(AgentOrigin {
            trust_policy_id: policy.id,
            repository: actor.repository.clone(),
            repository_id: actor.repository_id.clone(),
            git_ref: actor.git_ref.clone(),
            run_id: actor.run_id.clone(),
        }))
    }
}

pub(crate) fn decommissioned() -> Error {
    Error::Conflict {
        code: crate::ErrorCode::AgentDecommissioned,
        message: "the agent is decommissioned".into(),
    }
}
