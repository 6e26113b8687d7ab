//! Full verification run by the background task: every tenant's chain
//! verified from its retention anchor once per
//! [`audit_full_verification`](crate::SentryAgentBuilder::audit_full_verification)
//! period (daily by default), a bounded slice per turn.
//!
//! Stores it needs: `audit`, `tenants`.
//! Shared parts it uses: `chain`.
//!
//! Each turn ([`SentryAgent::audit_verification_turn`](crate::SentryAgent::audit_verification_turn)) walks the tenants
//! from where the last turn stopped, reading each one's verification
//! progress (one small read), and runs one slice of at most
//! [`FULL_SLICE`](super::FULL_SLICE) events of the first tenant that is
//! due: one whose last full verification passed longer than a period ago
//! (or never), or that has a full verification under way. The slice is the
//! same as `GET /audit/verify?mode=full` runs, so its progress is the same
//! MACed record: a run resumes where it stopped, after a restart or on
//! another instance, and when it reaches the checkpoint intact the time
//! `/audit/verify` reports as the last full verification moves on. A
//! chain found altered is logged (an error, naming the tenant, the event
//! and the reason) and left for a period before it is verified again.
//! After a pass over every tenant finds none due, turns read nothing until
//! the first one comes due again.

use std::time::Duration;

use time::OffsetDateTime;

use super::schedule::FAILED_REMEMBERED;
use super::{Verification, VerifyMode};
use crate::TenantId;

/// Tenants read per page while looking for one that is due.
const PAGE: usize = 200;
/// Tenants looked at per turn at most (each one progress read).
const LOOKED_PER_TURN: usize = 1_000;

/// What one turn did: the slice it ran, if a tenant was due.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VerificationTurn {
    /// The tenant whose chain it verified a slice of.
    pub tenant: TenantId,
    /// The slice's answer (`complete` once the run reached the checkpoint).
    pub verification: Verification,
}

fn since(at: OffsetDateTime, now: OffsetDateTime) -> Duration {
    Duration::try_from(now - at).unwrap_or_default()
}

impl crate::SentryAgent {
    /// One turn of the background's full verification (see the module):
    /// one slice of at most `budget` events of the first tenant due, from
    /// where the last turn stopped. `None` when no tenant is due (or the
    /// verification is off).
    ///
    /// # Errors
    /// A store error.
    pub async fn audit_verification_turn(&self, budget: u64) -> Result<Option<VerificationTurn>, crate::Error> {
        let Some(period) = self.inner.settings.background.audit_full_verification else {
            return Ok(None);
        };
        let schedule = &self.inner.verify_schedule;
        let now = crate::time::now();
        let mut cursor = {
            let mut state = schedule.state();
            if state.idle_until.is_some_and(|until| now < until) {
                return Ok(None);
            }
            state.idle_until = None;
            state.cursor
        };
        let stores = &self.inner.stores;
        let chain = &self.inner.chain;
        let mut looked = 0;
        while looked < LOOKED_PER_TURN {
            let tenants = stores.tenants.tenants(cursor, PAGE).await?;
            for tenant in &tenants {
                looked += 1;
                let failed_at = schedule.state().failed.get(&tenant.id).copied();
                let progress = stores
                    .audit
                    .audit_verify_progress(tenant.id)
                    .await?
                    .filter(|p| chain.progress_is_authentic(tenant.id, p));
                let under_way = progress.as_ref().is_some_and(|p| p.run.is_some());
                let due_at = match (failed_at, progress.as_ref().and_then(|p| p.full_passed_at)) {
                    (Some(failed), _) => Some(failed + period),
                    (None, Some(passed)) if !under_way => Some(passed + period),
                    _ => None,
                };
                if let Some(due_at) = due_at.filter(|at| *at > now) {
                    let mut state = schedule.state();
                    state.next_due = Some(state.next_due.map_or(due_at, |d| d.min(due_at)));
                    cursor = Some(tenant.id);
                    continue;
                }
                let verification = self.verify_audit_step(tenant.id, VerifyMode::Full, budget).await?;
                let mut state = schedule.state();
                state.found_due = true;
                if verification.valid {
                    state.failed.remove(&tenant.id);
                } else {
                    tracing::error!(
                        tenant = %tenant.id,
                        first_invalid_event_id = ?verification.first_invalid_event_id,
                        reason = verification.reason.as_deref().unwrap_or_default(),
                        "the background full verification found the audit chain altered"
                    );
                    if state.failed.len() >= FAILED_REMEMBERED {
                        state.failed.clear();
                    }
                    state.failed.insert(tenant.id, now);
                }
                // A run not finished goes on at the next turn, this tenant first.
                state.cursor = if verification.complete || !verification.valid {
                    Some(tenant.id)
                } else {
                    cursor
                };
                if verification.complete && verification.valid {
                    let due_at = now + period;
                    state.next_due = Some(state.next_due.map_or(due_at, |d| d.min(due_at)));
                }
                return Ok(Some(VerificationTurn {
                    tenant: tenant.id,
                    verification,
                }));
            }
            if tenants.len() < PAGE {
                // A pass over every tenant ended: with none due, idle until
                // the first comes due (new tenants wait at most a period).
                let mut state = schedule.state();
                if !state.found_due {
                    let until = state.next_due.unwrap_or(now + period).min(now + period);
                    state.idle_until = Some(until);
                    tracing::debug!(
                        idle_for = ?since(now, until),
                        "no audit chain due for a full verification"
                    );
                }
                state.cursor = None;
                state.found_due = false;
                state.next_due = None;
                return Ok(None);
            }
        }
        schedule.state().cursor = cursor;
        Ok(None)
    }
}
