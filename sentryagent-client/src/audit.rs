//! The tamper-evident audit log.

use futures_core::Stream;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::client::{Call, Client};
use crate::error::Error;
use crate::ids::{AgentId, EventId, TenantId};
use crate::ops;
use crate::page::Page;

/// Whether an audited action succeeded.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Outcome {
    /// It did.
    Success,
    /// It was refused or failed.
    Failure,
    /// An outcome this client does not know yet.
    #[serde(other)]
    Unknown,
}

impl Outcome {
    /// The API's name of the outcome.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Success => "success",
            Self::Failure => "failure",
            Self::Unknown => "unknown",
        }
    }
}

/// One audit event with its place in the tenant's hash chain.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AuditEvent {
    /// Its id.
    pub event_id: EventId,
    /// The tenant whose chain holds it.
    pub tenant_id: TenantId,
    /// Its position in the chain, from 1, without gaps.
    pub seq: u64,
    /// The agent it is about.
    #[serde(default)]
    pub agent_id: Option<AgentId>,
    /// Who acted.
    pub actor: String,
    /// Dotted action name, e.g. `token.issued`.
    pub action: String,
    /// Success or failure.
    pub outcome: Outcome,
    /// The caller's address.
    #[serde(default)]
    pub ip: Option<String>,
    /// When it happened.
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
    /// Structured details.
    pub details: serde_json::Map<String, serde_json::Value>,
}

/// Which events to list.
#[derive(Clone, Debug, Default)]
pub struct AuditFilter {
    /// Only events about this agent.
    pub agent_id: Option<AgentId>,
    /// Only this action.
    pub action: Option<String>,
    /// Only this outcome.
    pub outcome: Option<Outcome>,
    /// At or after this time.
    pub from: Option<OffsetDateTime>,
    /// Before this time.
    pub to: Option<OffsetDateTime>,
    /// The page size, 1 to 100.
    pub limit: Option<u8>,
}

/// Whether the tenant's hash chain is intact.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Verification {
    /// Intact.
    pub valid: bool,
    /// How many events were checked.
    pub checked: u64,
    /// The first event found altered, out of place or after a gap.
    #[serde(default)]
    pub first_invalid_event_id: Option<EventId>,
    /// What was wrong.
    #[serde(default)]
    pub reason: Option<String>,
    /// Which verification ran: `incremental` (the events after `from_seq`)
    /// or `full` (every stored event).
    #[serde(default)]
    pub mode: Option<String>,
    /// Whether it reached the chain's head; a full verification runs in
    /// slices: while `false`, call again.
    #[serde(default)]
    pub complete: Option<bool>,
    /// The `seq` the proof starts after.
    #[serde(default)]
    pub from_seq: Option<u64>,
    /// The last event checked intact.
    #[serde(default)]
    pub reached_seq: Option<u64>,
    /// The last full verification that passed.
    #[serde(default)]
    pub last_full_verification: Option<FullVerification>,
}

/// When the last full verification passed, and how far it reached.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FullVerification {
    /// When it finished.
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
    /// The chain's head then.
    pub seq: u64,
}

/// A signed, exportable checkpoint of a tenant's audit chain.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SignedCheckpoint {
    /// The compact JWS (`typ: audit-checkpoint+jwt`).
    pub checkpoint: String,
    /// The id of the audit key that signed it.
    pub kid: String,
    /// The tenant.
    pub tenant_id: TenantId,
    /// The `seq` of the chain's last event.
    pub seq: u64,
    /// That event's hash, base64url.
    pub head_hash: String,
    /// When it was signed.
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
}

fn rfc3339(t: Option<OffsetDateTime>) -> Option<String> {
    t.and_then(|t| t.format(&Rfc3339).ok())
}

impl Client {
    /// One page of audit events, newest first (`audit:read`).
    ///
    /// # Errors
    /// `VALIDATION_ERROR` for a bad filter or cursor, …
    pub async fn list_audit_events(
        &self,
        filter: &AuditFilter,
        cursor: Option<&str>,
    ) -> Result<Page<AuditEvent>, Error> {
        let call = Call::new(ops::QUERY_AUDIT)
            .query("agentId", filter.agent_id.as_ref())
            .query("action", filter.action.as_deref())
            .query("outcome", filter.outcome.map(Outcome::as_str))
            .query("from", rfc3339(filter.from))
            .query("to", rfc3339(filter.to))
            .query("limit", filter.limit)
            .query("cursor", cursor);
        self.json(call).await
    }

    /// Every audit event the filter admits, newest first, page after page as
    /// the stream is read.
    pub fn audit_events(&self, filter: AuditFilter) -> impl Stream<Item = Result<AuditEvent, Error>> + Send + 'static {
        self.pages(move |client, cursor| {
            let filter = filter.clone();
            async move { client.list_audit_events(&filter, cursor.as_deref()).await }
        })
    }

    /// Verifies the tenant's hash chain incrementally (`audit:read`): the
    /// events since the last verification.
    ///
    /// # Errors
    /// The server's refusal (rate limited to a few a minute), or no answer.
    pub async fn verify_audit(&self) -> Result<Verification, Error> {
        self.json(Call::new(ops::VERIFY_AUDIT)).await
    }

    /// Verifies the tenant's whole hash chain (`audit:read`), slice after
    /// slice until it is complete or something is found wrong.
    ///
    /// # Errors
    /// The server's refusal (rate limited to a few a minute), or no answer.
    pub async fn verify_audit_full(&self) -> Result<Verification, Error> {
        loop {
            let v: Verification = self
                .json(Call::new(ops::VERIFY_AUDIT).query("mode", Some("full")))
                .await?;
            if !v.valid || v.complete != Some(false) {
                return Ok(v);
            }
        }
    }

    /// The tenant's chain head, signed by the server's audit key: keep it
    /// outside the server to prove later that the chain still holds it.
    ///
    /// # Errors
    /// The server's refusal (`audit:read`), or no answer.
    pub async fn audit_checkpoint(&self) -> Result<SignedCheckpoint, Error> {
        self.json(Call::new(ops::GET_AUDIT_CHECKPOINT)).await
    }

    /// The public keys that sign audit checkpoints (a JWKS; public).
    ///
    /// # Errors
    /// No answer, or an unreadable one.
    pub async fn audit_keys(&self) -> Result<crate::oauth::Jwks, Error> {
        self.json(Call::new(ops::GET_AUDIT_KEYS).public()).await
    }
}
