//! The marketplace model: records, requests, answers and their validation.

use time::OffsetDateTime;

use crate::AgentId;
use crate::agent::{Agent, AgentStatus};
use crate::marketplace::is_built_in;

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
