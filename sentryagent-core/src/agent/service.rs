//! The agent service: [`SentryAgent`](crate::SentryAgent)'s methods over the model and the stores.
//!
//! Stores it needs: `agents`, `credentials`.

use super::model::*;
use crate::error::{Error, StoreErrorKind, Validator};
use crate::permission::Operation;
use crate::{AgentId, TenantId};
use crate::{Caller, SentryAgent, scope};

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
            crate::observe::record::tier_refused("agents");
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
