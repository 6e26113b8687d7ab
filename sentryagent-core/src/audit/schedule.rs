//! Where the background's full verification of the audit chains is, in
//! this process (see [`scheduled`](super::scheduled)).

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};

use time::OffsetDateTime;

use crate::TenantId;

/// Failed chains remembered at most; past that, they are forgotten (and so
/// verified again at the next turn that reaches them).
pub(crate) const FAILED_REMEMBERED: usize = 10_000;

/// Where the background's full verification is, in this process.
#[derive(Debug, Default)]
pub(crate) struct Schedule(Mutex<State>);

#[derive(Debug, Default)]
pub(crate) struct State {
    /// The last tenant looked at (`None`: start from the first).
    pub(crate) cursor: Option<TenantId>,
    /// Whether this pass over the tenants found one due.
    pub(crate) found_due: bool,
    /// The soonest a tenant looked at this pass comes due.
    pub(crate) next_due: Option<OffsetDateTime>,
    /// Nothing is due before this: turns read nothing until then.
    pub(crate) idle_until: Option<OffsetDateTime>,
    /// Tenants whose chain was found altered, and when.
    pub(crate) failed: HashMap<TenantId, OffsetDateTime>,
}

impl Schedule {
    pub(crate) fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }
}
