//! The federation service: trust-policy management and its audit.
//!
//! Stores it needs: `agents`, `trust_policies`.

use super::*;
use crate::agent::{Agent, AgentStatus};
use crate::error::{Error, StoreErrorKind};
use crate::permission::Operation;
use crate::{Caller, SentryAgent, TenantId, TrustPolicyId, scope};

impl SentryAgent {
    /// Creates a trust policy. Needs `trust-policies:write`, and the
    /// permission rule ([`crate::permission`]) on what the policy hands out:
    /// for an agent policy, acting on that agent (the caller holds every
    /// scope it holds); for a bootstrap policy, granting `agents:write` and
    /// every scope of its `maxScopes`.
    ///
    /// # Errors
    /// Validation errors; 404 for an agent not in the tenant; 409
    /// `AGENT_DECOMMISSIONED`; 403 `INSUFFICIENT_SCOPE` or `SCOPE_CEILING`;
    /// 409 `TRUST_POLICY_LIMIT` past [`MAX_POLICIES_PER_TENANT`]; a store error.
    pub async fn create_trust_policy(&self, caller: &Caller, new: NewTrustPolicy) -> Result<TrustPolicy, Error> {
        caller.identity.require_scope(scope::TRUST_POLICIES_WRITE)?;
        let allow_private = self.inner.settings.federation.allow_private_network_issuers;
        let policy = new.into_policy_with(caller.tenant(), allow_private)?;
        match policy.agent_id {
            Some(id) => {
                let agent = self.agent_in_tenant(caller.tenant(), id).await?;
                self.authorize(caller, Operation::CreateTrustPolicy, Some(&agent), &[])
                    .await?;
                if agent.status == AgentStatus::Decommissioned {
                    return Err(crate::agent::decommissioned());
                }
            }
            None => {
                let mut granting = vec![scope::AGENTS_WRITE.to_owned()];
                granting.extend(policy.max_scopes.iter().cloned());
                self.authorize(caller, Operation::CreateTrustPolicy, None, &granting)
                    .await?;
            }
        }
        let stores = &self.inner.stores;
        let existing = stores
            .trust_policies
            .list_trust_policies(caller.tenant(), None, MAX_POLICIES_PER_TENANT)
            .await?;
        if existing.len() >= MAX_POLICIES_PER_TENANT {
            return Err(Error::Conflict {
                code: crate::ErrorCode::TrustPolicyLimit,
                message: format!("a tenant holds at most {MAX_POLICIES_PER_TENANT} trust policies").into(),
            });
        }
        let mut events = Vec::new();
        if policy.agent_id.is_none()
            && let Some(created) = self.ensure_bootstrap_agent(caller.tenant()).await?
        {
            events.push(
                caller
                    .event("agent.created", Some(created.id))
                    .detail("name", created.name.as_str()),
            );
        }
        stores.trust_policies.insert_trust_policy(&policy).await?;
        let mut created = caller
            .event("trust_policy.created", policy.agent_id)
            .detail("policyId", policy.id.to_string());
        created = match &policy.issuer {
            Some(trust) => created
                .detail("provider", policy.provider.as_str())
                .detail("issuer", trust.issuer.as_str()),
            None => created.detail("repository", policy.repository.as_str()),
        };
        events.push(created.detail(
            "mode",
            if policy.agent_id.is_some() {
                "agent"
            } else {
                "bootstrap"
            },
        ));
        self.record(caller.tenant(), events).await?;
        Ok(policy)
    }

    /// A page of the caller's trust policies in creation order. Needs
    /// `trust-policies:write`.
    ///
    /// # Errors
    /// Insufficient scope; a store error.
    pub async fn list_trust_policies(
        &self,
        caller: &Caller,
        after: Option<TrustPolicyId>,
        limit: usize,
    ) -> Result<Vec<TrustPolicy>, Error> {
        caller.identity.require_scope(scope::TRUST_POLICIES_WRITE)?;
        Ok(self
            .inner
            .stores
            .trust_policies
            .list_trust_policies(caller.tenant(), after, limit)
            .await?)
    }

    /// One trust policy of the caller's tenant. Needs `trust-policies:write`.
    ///
    /// # Errors
    /// 404; insufficient scope; a store error.
    pub async fn trust_policy(&self, caller: &Caller, id: TrustPolicyId) -> Result<TrustPolicy, Error> {
        caller.identity.require_scope(scope::TRUST_POLICIES_WRITE)?;
        self.inner
            .stores
            .trust_policies
            .trust_policy(caller.tenant(), id)
            .await?
            .ok_or(Error::NotFound("trust policy"))
    }

    /// Deletes a trust policy: from then on it admits nothing (tokens it
    /// issued live on until they expire or are revoked). Needs
    /// `trust-policies:write`.
    ///
    /// # Errors
    /// 404; insufficient scope; a store error.
    pub async fn delete_trust_policy(&self, caller: &Caller, id: TrustPolicyId) -> Result<TrustPolicy, Error> {
        let policy = self.trust_policy(caller, id).await?;
        let target = match policy.agent_id {
            Some(agent) => self.inner.stores.agents.agent(caller.tenant(), agent).await?,
            None => None,
        };
        self.authorize(caller, Operation::DeleteTrustPolicy, target.as_ref(), &[])
            .await?;
        if !self
            .inner
            .stores
            .trust_policies
            .delete_trust_policy(caller.tenant(), id)
            .await?
        {
            return Err(Error::NotFound("trust policy"));
        }
        let event = caller
            .event("trust_policy.deleted", policy.agent_id)
            .detail("policyId", id.to_string());
        let event = match &policy.issuer {
            Some(trust) => event.detail("issuer", trust.issuer.as_str()),
            None => event.detail("repository", policy.repository.as_str()),
        };
        self.record(caller.tenant(), vec![event]).await?;
        Ok(policy)
    }

    /// The tenant's bootstrap agent, created if missing; `Some` when this
    /// call created it.
    pub(crate) async fn ensure_bootstrap_agent(&self, tenant: TenantId) -> Result<Option<Agent>, Error> {
        let agents = &self.inner.stores.agents;
        let id = bootstrap_agent_id(tenant);
        if agents.agent(tenant, id).await?.is_some() {
            return Ok(None);
        }
        let now = crate::time::now();
        let agent = Agent {
            id,
            tenant_id: tenant,
            name: BOOTSTRAP_AGENT_NAME.to_owned(),
            description: "Acts for CI workflows admitted by a bootstrap trust policy: registers agents".to_owned(),
            capabilities: Vec::new(),
            metadata: serde_json::Map::new(),
            scopes: vec![scope::AGENTS_WRITE.to_owned()],
            status: AgentStatus::Active,
            listed: false,
            origin: None,
            created_at: now,
            updated_at: now,
        };
        match agents.insert_agent(&agent).await {
            Ok(()) => Ok(Some(agent)),
            // Created by a concurrent call, or the name is an agent of the tenant's own.
            Err(e) if e.kind() == StoreErrorKind::Conflict => {
                if agents.agent(tenant, id).await?.is_some() {
                    Ok(None)
                } else {
                    Err(Error::Conflict {
                        code: crate::ErrorCode::AgentNameTaken,
                        message: format!("bootstrap policies need the agent name {BOOTSTRAP_AGENT_NAME}, which an agent of the tenant holds").into(),
                    })
                }
            }
            Err(e) => Err(e.into()),
        }
    }
}
