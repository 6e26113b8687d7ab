//! Workload identity federation: CI jobs exchange the OIDC token their
//! platform gives them (GitHub Actions) for an access token of this IdP,
//! under a tenant's trust policies, with no stored secret.
//!
//! - [`TrustPolicy`]: which workflows a tenant trusts, and for which agent
//!   (or, without one, for registering agents: bootstrap). Conditions are
//!   held against the token's claims one by one ([`evaluate`]), never
//!   against `sub`. Patterns are [`glob`]s whose `*` stays within a path
//!   segment.
//! - A policy that names one repository but not its id pins
//!   `repository_id` and `repository_owner_id` on its first successful
//!   exchange (trust on first use), so a repository deleted and re-created
//!   under the same name by someone else never matches afterwards.
//! - The issuer's keys come through a [`JwksFetcher`] (the core has no HTTP
//!   client) and are cached under the policy described in `jwks`.
//! - [`SentryAgent::exchange_oidc_token`] is `POST /oidc/token`;
//!   [`SentryAgent::evaluate_trust_policies`] answers which policy would
//!   admit a token, and why the others would not.

mod exchange;
pub mod glob;
mod jwks;
mod policy;

use std::sync::Arc;
use std::time::Duration;

pub use crate::error::FederationError;
pub use exchange::{EvaluateRequest, Evaluation, ExchangeRequest, PolicyVerdict, TokenCheck};
pub use jwks::{FetchError, JwksFetcher};
pub use policy::{
    Failure, GitHubClaims, NewTrustPolicy, PULL_REQUEST_EVENTS, Provider, RefType, TrustPolicy, evaluate, owner_key,
};

use crate::agent::{Agent, AgentStatus};
use crate::error::{Error, StoreErrorKind};
use crate::permission::Operation;
use crate::{AgentId, Caller, SentryAgent, TenantId, TrustPolicyId, scope};

/// GitHub Actions' OIDC issuer.
pub const GITHUB_ISSUER: &str = "https://token.actions.githubusercontent.com";

/// The name of each tenant's built-in agent that bootstrap tokens act as:
/// it holds `agents:write` only. Suspending it turns bootstrap exchanges off
/// for the tenant.
pub const BOOTSTRAP_AGENT_NAME: &str = "oidc-bootstrap@sentryagent.local";

/// Settings of the token exchange.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct FederationSettings {
    /// The issuer tokens must carry (`iss`); GitHub's by default. GitHub
    /// Enterprise Server: `https://HOST/_services/token`.
    pub issuer: String,
    /// Where the issuer's JWKS is; `None`: the `jwks_uri` of the issuer's
    /// discovery document (`{issuer}/.well-known/openid-configuration`).
    pub jwks_url: Option<String>,
    /// The audience tokens must carry (`aud`); `None`: this IdP's issuer URL.
    /// Workflows request their token with this audience.
    pub audience: Option<String>,
    /// Least time between two fetches of the keys (default 30 s).
    pub jwks_refetch_interval: Duration,
    /// Cached keys older than this are refetched on next use (default 1 h).
    pub jwks_max_age: Duration,
}

impl Default for FederationSettings {
    fn default() -> Self {
        Self {
            issuer: GITHUB_ISSUER.to_owned(),
            jwks_url: None,
            audience: None,
            jwks_refetch_interval: Duration::from_secs(30),
            jwks_max_age: Duration::from_secs(3600),
        }
    }
}

/// The exchange's run-time state: the issuer's cached keys.
pub(crate) struct Federation {
    pub(crate) jwks: jwks::JwksCache,
}

impl Federation {
    pub(crate) fn new(settings: &FederationSettings, fetcher: Option<Arc<dyn JwksFetcher>>) -> Self {
        let source = jwks::JwksSource {
            issuer: settings.issuer.trim_end_matches('/').to_owned(),
            jwks_url: settings.jwks_url.clone(),
            refetch_interval: settings.jwks_refetch_interval,
            max_age: settings.jwks_max_age,
        };
        Self {
            jwks: jwks::JwksCache::new(fetcher, source),
        }
    }
}

/// Most policies a tenant may hold.
pub const MAX_POLICIES_PER_TENANT: usize = 200;

/// The id of a tenant's bootstrap agent: derived from the tenant id, so it is
/// found without a lookup by name.
pub fn bootstrap_agent_id(tenant: TenantId) -> AgentId {
    let mut input = b"sentryagent oidc bootstrap agent ".to_vec();
    input.extend_from_slice(tenant.as_uuid().as_bytes());
    let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, &input);
    let mut bytes = [0u8; 16];
    bytes.copy_from_slice(&digest.as_ref()[..16]);
    AgentId::from_uuid(uuid::Builder::from_random_bytes(bytes).into_uuid())
}

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
        let policy = new.into_policy(caller.tenant())?;
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
        events.push(
            caller
                .event("trust_policy.created", policy.agent_id)
                .detail("policyId", policy.id.to_string())
                .detail("repository", policy.repository.as_str())
                .detail(
                    "mode",
                    if policy.agent_id.is_some() {
                        "agent"
                    } else {
                        "bootstrap"
                    },
                ),
        );
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
            .detail("policyId", id.to_string())
            .detail("repository", policy.repository.as_str());
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
