//! The agent model: records, requests, answers and their validation.

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::error::{Error, Validator};
use crate::scope;
use crate::secret::ClientSecret;
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

pub(crate) fn check_description(v: &mut Validator, description: &str) {
    v.check(
        description.chars().count() <= MAX_DESCRIPTION,
        "description",
        format!("must be at most {MAX_DESCRIPTION} characters"),
    );
}

pub(crate) fn check_capabilities(v: &mut Validator, capabilities: &[String]) {
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

pub(crate) fn check_metadata(v: &mut Validator, metadata: &serde_json::Map<String, serde_json::Value>) {
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
pub(crate) const RESERVED_DOMAIN: &str = "@sentryagent.local";

pub(crate) fn decommissioned() -> Error {
    Error::Conflict {
        code: crate::ErrorCode::AgentDecommissioned,
        message: "the agent is decommissioned".into(),
    }
}

/// The names of the agents the IdP creates in every tenant (its admin, the
/// OIDC bootstrap agent): never listed, whatever their flag says. A new
/// built-in agent belongs here.
pub const BUILT_IN_AGENT_NAMES: [&str; 2] = [ADMIN_AGENT_NAME, BOOTSTRAP_AGENT_NAME];

/// Whether `name` is one of [`BUILT_IN_AGENT_NAMES`].
pub fn is_built_in(name: &str) -> bool {
    BUILT_IN_AGENT_NAMES.contains(&name)
}

/// The name of every tenant's built-in admin agent.
pub const ADMIN_AGENT_NAME: &str = "admin@sentryagent.local";

/// The name of each tenant's built-in agent that bootstrap tokens act as:
/// it holds `agents:write` only. Suspending it turns bootstrap exchanges off
/// for the tenant.
pub const BOOTSTRAP_AGENT_NAME: &str = "oidc-bootstrap@sentryagent.local";
