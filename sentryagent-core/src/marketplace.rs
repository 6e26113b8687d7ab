//! The public marketplace: a read-only, cross-tenant directory of agents.
//!
//! Agents are listed by default (auto-publish, the seed's recommendation for
//! a first version) and a tenant opts one out with its `listed` flag. Only
//! active agents are listed; suspended and decommissioned ones, and the
//! agents the IdP creates in every tenant (its admin, the OIDC bootstrap
//! agent), never are. A listing shows public fields
//! only: name, description, capabilities, DID, the tenant's display name
//! and the registration time. Stores return nothing else
//! ([`MarketplaceAgent`]), so credentials, metadata and scopes never leave
//! them on this path.
//!
//! Search (`q`): each whitespace-separated word must occur, case-insensitively,
//! in the name or in the description (a literal substring: `%` and `_` are not
//! patterns). `capability` keeps agents having exactly that label. Pages are
//! in agent id order (UUID v7, so registration order) after a cursor, which
//! keeps them stable while agents are added: new agents sort after every
//! existing one.

use time::OffsetDateTime;

use crate::agent::{Agent, AgentStatus};
use crate::error::{Error, Validator};
use crate::{AgentId, SentryAgent};

/// Longest accepted `q`, in characters.
pub const MAX_QUERY_CHARS: usize = 200;
/// Most words in `q`.
pub const MAX_QUERY_TERMS: usize = 8;

/// Filters and page position of a marketplace listing, in id order.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct MarketplaceQuery {
    /// Words that must each occur in the name or the description.
    pub q: Option<String>,
    /// Only agents with this capability label (exact match).
    pub capability: Option<String>,
    /// Only agents after this one (the cursor).
    pub after: Option<AgentId>,
    /// At most this many.
    pub limit: usize,
}

impl MarketplaceQuery {
    /// The words of `q`, lowercased.
    pub fn terms(&self) -> Vec<String> {
        self.q
            .as_deref()
            .unwrap_or_default()
            .split_whitespace()
            .map(str::to_lowercase)
            .collect()
    }

    /// Whether a listed agent passes the filters (not the page position):
    /// the reference semantics every store must match.
    pub fn matches(&self, agent: &Agent) -> bool {
        let (name, description) = (agent.name.to_lowercase(), agent.description.to_lowercase());
        self.terms()
            .iter()
            .all(|t| name.contains(t.as_str()) || description.contains(t.as_str()))
            && self
                .capability
                .as_deref()
                .is_none_or(|c| agent.capabilities.iter().any(|have| have == c))
    }
}

/// The names of the agents the IdP creates in every tenant (its admin, the
/// OIDC bootstrap agent): never listed, whatever their flag says. A new
/// built-in agent belongs here.
pub const BUILT_IN_AGENT_NAMES: [&str; 2] = [crate::tenant::ADMIN_AGENT_NAME, crate::federation::BOOTSTRAP_AGENT_NAME];

/// Whether `name` is one of [`BUILT_IN_AGENT_NAMES`].
pub fn is_built_in(name: &str) -> bool {
    BUILT_IN_AGENT_NAMES.contains(&name)
}

/// Whether the marketplace lists `agent`: it is active, its tenant has not
/// opted it out, and it is not a built-in agent.
pub fn is_listed(agent: &Agent) -> bool {
    agent.status == AgentStatus::Active && agent.listed && !is_built_in(&agent.name)
}

/// A listed agent's public fields.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MarketplaceAgent {
    /// The agent's id.
    pub id: AgentId,
    /// Its email-format name.
    pub name: String,
    /// Its description.
    pub description: String,
    /// Its capability labels.
    pub capabilities: Vec<String>,
    /// Its tenant's display name.
    pub tenant_name: String,
    /// When it was registered.
    pub created_at: OffsetDateTime,
}

impl MarketplaceAgent {
    /// The public fields of `agent`, whose tenant is called `tenant_name`.
    pub fn new(agent: &Agent, tenant_name: &str) -> Self {
        Self {
            id: agent.id,
            name: agent.name.clone(),
            description: agent.description.clone(),
            capabilities: agent.capabilities.clone(),
            tenant_name: tenant_name.to_owned(),
            created_at: agent.created_at,
        }
    }
}

fn check_enabled(sa: &SentryAgent) -> Result<(), Error> {
    if sa.inner.settings.marketplace_enabled {
        Ok(())
    } else {
        Err(Error::NotFound("marketplace"))
    }
}

impl SentryAgent {
    /// A page of the marketplace: public, no caller.
    ///
    /// # Errors
    /// 404 when the marketplace is off; a validation error for an overlong
    /// `q` or `capability`; a store error.
    pub async fn marketplace_agents(&self, query: &MarketplaceQuery) -> Result<Vec<MarketplaceAgent>, Error> {
        check_enabled(self)?;
        let mut v = Validator::default();
        if let Some(q) = &query.q {
            v.check(
                q.chars().count() <= MAX_QUERY_CHARS,
                "q",
                format!("must be at most {MAX_QUERY_CHARS} characters"),
            );
            v.check(
                q.split_whitespace().count() <= MAX_QUERY_TERMS,
                "q",
                format!("must be at most {MAX_QUERY_TERMS} words"),
            );
        }
        if let Some(c) = &query.capability {
            v.check(c.len() <= 64, "capability", "must be at most 64 characters");
        }
        v.finish()?;
        Ok(self.inner.stores.directory.marketplace_agents(query).await?)
    }

    /// One listed agent: public, no caller.
    ///
    /// # Errors
    /// 404 when the marketplace is off or the agent is not listed; a store error.
    pub async fn marketplace_agent(&self, id: AgentId) -> Result<MarketplaceAgent, Error> {
        check_enabled(self)?;
        self.inner
            .stores
            .directory
            .marketplace_agent(id)
            .await?
            .ok_or(Error::NotFound("agent"))
    }
}
