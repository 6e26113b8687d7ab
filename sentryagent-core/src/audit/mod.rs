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

pub mod chain;
pub mod checkpoint;
pub(crate) mod repeats;
pub(crate) mod writer;

use std::net::IpAddr;

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::{AgentId, EventId, TenantId};

pub use chain::{AuditChain, ChainMark, SavedCheckpoint, Verification};
pub use checkpoint::SignedCheckpoint;

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

impl crate::SentryAgent {
    /// A page of the caller's audit events, newest first. Needs `audit:read`.
    ///
    /// # Errors
    /// Insufficient scope; a store error.
    pub async fn query_audit(
        &self,
        caller: &crate::Caller,
        query: &AuditQuery,
    ) -> Result<Vec<AuditEvent>, crate::Error> {
        caller.identity.require_scope(crate::scope::AUDIT_READ)?;
        Ok(self.inner.stores.audit.query_audit(caller.tenant(), query).await?)
    }

    /// Recomputes the caller's tenant's chain. Needs `audit:read`.
    ///
    /// # Errors
    /// Insufficient scope; a store error.
    pub async fn verify_audit(&self, caller: &crate::Caller) -> Result<Verification, crate::Error> {
        caller.identity.require_scope(crate::scope::AUDIT_READ)?;
        self.verify_audit_chain(caller.tenant()).await
    }

    /// Recomputes the caller's tenant's chain and proves it still holds a
    /// checkpoint saved earlier (the JWS of [`audit_checkpoint`](Self::audit_checkpoint)):
    /// a chain rolled back, wiped or rewritten since is not valid. Needs
    /// `audit:read`.
    ///
    /// # Errors
    /// Insufficient scope; a validation error for a checkpoint that is not
    /// one of this server's for this tenant; a store error.
    pub async fn verify_audit_against(
        &self,
        caller: &crate::Caller,
        saved_checkpoint: &str,
    ) -> Result<Verification, crate::Error> {
        caller.identity.require_scope(crate::scope::AUDIT_READ)?;
        let saved = checkpoint::verify(&self.inner.server_key, caller.tenant(), saved_checkpoint)?;
        self.verify_chain(caller.tenant(), Some(saved)).await
    }

    /// Recomputes a tenant's chain from its anchor to its checkpoint.
    ///
    /// # Errors
    /// A store error.
    pub async fn verify_audit_chain(&self, tenant: TenantId) -> Result<Verification, crate::Error> {
        self.verify_chain(tenant, None).await
    }

    async fn verify_chain(
        &self,
        tenant: TenantId,
        saved: Option<(u64, [u8; 32])>,
    ) -> Result<Verification, crate::Error> {
        const PAGE: usize = 1_000;
        let store = &self.inner.stores.audit;
        let mut attempts = 0;
        loop {
            attempts += 1;
            // The checkpoint first: events appended while we read are past it and not checked.
            let checkpoint = store.audit_checkpoint(tenant).await?;
            let had_checkpoint = checkpoint.is_some();
            let anchor = store.audit_anchor(tenant).await?;
            let mut after = anchor.as_ref().map_or(0, |a| a.seq);
            let mut verifier = self.inner.chain.verifier(tenant, anchor.as_ref(), checkpoint);
            if let Some((seq, hash)) = saved {
                verifier.expect_saved(seq, hash);
            }
            while !verifier.failed() && after < verifier.last_seq() {
                let page = store.audit_chain(tenant, after, PAGE).await?;
                for event in &page {
                    verifier.feed(event);
                }
                match page.last() {
                    Some(last) if page.len() == PAGE => after = last.seq,
                    _ => break,
                }
            }
            let verification = verifier.finish();
            // A new tenant's first events may land between reading no
            // checkpoint and reading them: look once more before calling
            // the checkpoint missing.
            if had_checkpoint || verification.valid || attempts > 1 {
                return Ok(verification);
            }
        }
    }

    /// Signs the checkpoint of the caller's tenant's chain as it stands: a
    /// JWS to keep outside this server, proof of what the chain held at
    /// this time. Needs `audit:read`.
    ///
    /// # Errors
    /// Insufficient scope; 409 `AUDIT_CHECKPOINT_MISSING` while the
    /// checkpoint is lost (nothing vouches for the head then; an operator
    /// re-anchors first) or not authentic; a store error.
    pub async fn audit_checkpoint(&self, caller: &crate::Caller) -> Result<SignedCheckpoint, crate::Error> {
        caller.identity.require_scope(crate::scope::AUDIT_READ)?;
        let tenant = caller.tenant();
        let store = &self.inner.stores.audit;
        let missing = |message: String| crate::Error::Conflict {
            code: crate::ErrorCode::AuditCheckpointMissing,
            message: message.into(),
        };
        let head = match store.audit_checkpoint(tenant).await? {
            Some(head) => head,
            None => {
                let anchor = store.audit_anchor(tenant).await?;
                let events = store
                    .audit_chain(tenant, anchor.as_ref().map_or(0, |a| a.seq), 1)
                    .await?;
                if anchor.is_some() || !events.is_empty() {
                    return Err(missing(
                        "the chain's checkpoint is missing; an operator must re-anchor the chain before it can be \
                         signed"
                            .into(),
                    ));
                }
                self.inner.chain.genesis(tenant)
            }
        };
        if !self.inner.chain.head_is_authentic(tenant, &head) {
            return Err(missing("the chain's checkpoint is not authentic".into()));
        }
        if let Some(at) = head.lost_at {
            return Err(missing(format!(
                "the chain's checkpoint was missing at seq {at}; an operator must re-anchor the chain before it can \
                 be signed"
            )));
        }
        checkpoint::sign(&self.inner.server_key, &self.inner.settings.issuer, tenant, &head)
    }

    /// The public key document of the audit signing key (`GET /audit/keys`),
    /// a JWKS with one Ed25519 key.
    pub fn audit_keys(&self) -> serde_json::Value {
        checkpoint::audit_jwks(&self.inner.server_key)
    }

    /// An operator's re-anchoring of a tenant's chain whose checkpoint was
    /// lost: the chain as it stands becomes the checkpoint again, and an
    /// `audit.reanchored` event by `actor` (`operator`) records where it was
    /// lost and where it was re-anchored. Use it only once the events since
    /// the loss have been checked otherwise (a saved signed checkpoint,
    /// `verify_audit_against`): re-anchoring vouches for whatever they say.
    /// Returns the `seq` where the checkpoint was lost; `None` when nothing
    /// was lost (no event then).
    ///
    /// # Errors
    /// A store error.
    pub async fn reanchor_audit(&self, tenant: TenantId, actor: &str) -> Result<Option<u64>, crate::Error> {
        let Some(lost) = self
            .inner
            .stores
            .audit
            .reanchor_audit(tenant, &self.inner.chain)
            .await?
        else {
            return Ok(None);
        };
        let lost_at = lost.lost_at.unwrap_or(lost.seq);
        tracing::warn!(%tenant, lost_at, seq = lost.seq, actor, "audit chain re-anchored");
        let event = NewAuditEvent::new("audit.reanchored", Outcome::Success, actor)
            .detail("lostAt", lost_at)
            .detail("reanchoredAt", lost.seq);
        self.record(tenant, vec![event]).await?;
        Ok(Some(lost_at))
    }

    /// Deletes every tenant's events older than its tier's retention window,
    /// leaving an anchor so the chains stay verifiable. Returns how many
    /// events were deleted. The example server runs it daily.
    ///
    /// # Errors
    /// A store error.
    pub async fn prune_audit(&self, now: OffsetDateTime) -> Result<u64, crate::Error> {
        let stores = &self.inner.stores;
        let mut after = None;
        let mut pruned = 0;
        loop {
            let tenants = stores.tenants.tenants(after, 500).await?;
            for tenant in &tenants {
                let days = self.inner.settings.tiers.get(&tenant.tier).limits.audit_retention_days;
                let cutoff = now - time::Duration::days(i64::from(days));
                pruned += stores.audit.prune_audit(tenant.id, cutoff, &self.inner.chain).await?;
            }
            match tenants.last() {
                Some(last) if tenants.len() == 500 => after = Some(last.id),
                _ => break,
            }
        }
        Ok(pruned)
    }
}
