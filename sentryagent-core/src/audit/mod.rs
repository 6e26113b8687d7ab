//! The tamper-evident audit log.
//!
//! Every event of a tenant is linked to the one before by a SHA-256 hash
//! chain ([`chain`]). The chain's head is also kept outside the events, in a
//! checkpoint MACed with a server key, so deleting the newest events is
//! caught as well as editing or deleting any other. Retention pruning leaves
//! a MACed anchor where the chain was cut, so it stays verifiable.
//!
//! A checkpoint that goes missing is never made again by itself: appends
//! go on after the last stored event, but verification reports the chain
//! invalid ("checkpoint missing at seq N") until an operator re-anchors it
//! ([`SentryAgent::reanchor_audit`](crate::SentryAgent::reanchor_audit)),
//! which is itself audited. Signed checkpoints ([`checkpoint`]), exported
//! and kept elsewhere, also catch a database rolled back or wiped whole.
//!
//! Verification costs what changed: by default it goes on from the last
//! event an earlier verification reached; a full one, from the retention
//! anchor, runs in bounded slices. Both save their progress, MACed
//! ([`progress`]).

pub mod canonical;
pub mod chain;
pub mod checkpoint;
pub mod progress;
pub(crate) mod repeats;
pub(crate) mod schedule;
pub mod scheduled;
mod service;
pub(crate) mod writer;

use std::net::IpAddr;

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::{AgentId, EventId, TenantId};

pub use canonical::{ChainLink, LinkBody};
pub use chain::{AuditChain, ChainMark, FullVerification, SavedCheckpoint, Unsealed, Verification};
pub use checkpoint::SignedCheckpoint;
pub use progress::{FULL_SLICE, FullRun, VerifyMode, VerifyProgress};
pub use scheduled::VerificationTurn;

/// Whether the audited action succeeded.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Outcome {
    /// It succeeded.
    Success,
    /// It was refused or failed.
    Failure,
}

impl Outcome {
    /// The name the API and stores use.
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Success => "success",
            Outcome::Failure => "failure",
        }
    }

    /// Parses [`as_str`](Self::as_str)'s output.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "success" => Some(Outcome::Success),
            "failure" => Some(Outcome::Failure),
            _ => None,
        }
    }
}

/// An event about to be appended: the store gives it its place in the chain.
#[derive(Clone, Debug, PartialEq)]
pub struct NewAuditEvent {
    /// The event's id.
    pub id: EventId,
    /// The agent the event is about, if any.
    pub agent_id: Option<AgentId>,
    /// Who acted: an agent id, `operator`, `oidc:<repository>`, or `anonymous`.
    pub actor: String,
    /// Dotted action name, e.g. `token.issued`.
    pub action: String,
    /// Success or failure.
    pub outcome: Outcome,
    /// The caller's IP address, when known.
    pub ip: Option<IpAddr>,
    /// When it happened (microsecond precision).
    pub at: OffsetDateTime,
    /// Structured details; never a secret or a token.
    pub details: serde_json::Map<String, serde_json::Value>,
}

impl NewAuditEvent {
    /// An event happening now.
    pub fn new(action: &str, outcome: Outcome, actor: impl Into<String>) -> Self {
        Self {
            id: EventId::new(),
            agent_id: None,
            actor: actor.into(),
            action: action.to_owned(),
            outcome,
            ip: None,
            at: crate::time::now(),
            details: serde_json::Map::new(),
        }
    }

    /// Sets the agent the event is about.
    pub fn agent(mut self, agent: AgentId) -> Self {
        self.agent_id = Some(agent);
        self
    }

    /// Sets the caller's address.
    pub fn ip(mut self, ip: Option<IpAddr>) -> Self {
        self.ip = ip;
        self
    }

    /// Adds one detail.
    pub fn detail(mut self, key: &str, value: impl Into<serde_json::Value>) -> Self {
        self.details.insert(key.to_owned(), value.into());
        self
    }
}

/// An event taken out of its chain (its `seq` and hashes dropped), to be
/// linked again elsewhere: a store whose append lost a race for the head
/// seals it anew on the head it finds.
impl From<AuditEvent> for NewAuditEvent {
    fn from(event: AuditEvent) -> Self {
        Self {
            id: event.id,
            agent_id: event.agent_id,
            actor: event.actor,
            action: event.action,
            outcome: event.outcome,
            ip: event.ip,
            at: event.at,
            details: event.details,
        }
    }
}

/// A stored audit event with its place in the tenant's chain.
#[derive(Clone, Debug, PartialEq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AuditEvent {
    /// The event's id.
    #[serde(rename = "eventId")]
    pub id: EventId,
    /// The tenant whose chain holds it.
    pub tenant_id: TenantId,
    /// Position in the tenant's chain, from 1, without gaps.
    pub seq: u64,
    /// The agent the event is about.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub agent_id: Option<AgentId>,
    /// Who acted.
    pub actor: String,
    /// Dotted action name.
    pub action: String,
    /// Success or failure.
    pub outcome: Outcome,
    /// The caller's address.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>, example = "203.0.113.7")]
    pub ip: Option<IpAddr>,
    /// When it happened.
    #[serde(with = "crate::time::rfc3339")]
    pub at: OffsetDateTime,
    /// Structured details.
    pub details: serde_json::Map<String, serde_json::Value>,
    /// Hash of the event before (zeros for the first).
    #[serde(skip)]
    pub prev_hash: [u8; 32],
    /// This event's hash.
    #[serde(skip)]
    pub hash: [u8; 32],
}

/// Where a prune cuts a tenant's chain: the events up to the cut go, as a
/// prefix, and the last of them becomes the retention anchor, so the rest
/// still verifies.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AuditCut {
    /// The events older than this instant (retention by age).
    Before(OffsetDateTime),
    /// All but the newest this many events (a bound on the history kept).
    KeepNewest(u64),
}

/// Filters and page position of an audit query, newest first.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AuditQuery {
    /// Only events about this agent.
    pub agent_id: Option<AgentId>,
    /// Only events with this action.
    pub action: Option<String>,
    /// Only events with this outcome.
    pub outcome: Option<Outcome>,
    /// Only events at or after this instant.
    pub from: Option<OffsetDateTime>,
    /// Only events before this instant.
    pub to: Option<OffsetDateTime>,
    /// Only events with a `seq` below this one (the cursor).
    pub before_seq: Option<u64>,
    /// At most this many.
    pub limit: usize,
}

impl AuditQuery {
    /// Whether `event` passes the filters (not the page position): the
    /// reference semantics every store must match.
    pub fn matches(&self, event: &AuditEvent) -> bool {
        self.agent_id.is_none_or(|a| event.agent_id == Some(a))
            && self.action.as_deref().is_none_or(|a| event.action == a)
            && self.outcome.is_none_or(|o| event.outcome == o)
            && self.from.is_none_or(|f| event.at >= f)
            && self.to.is_none_or(|t| event.at < t)
    }
}
