//! Repeated refusals, audited boundedly.
//!
//! A client that hammers with a revoked token, or with a wrong secret past
//! its failure budget, must not write one event per request. The first
//! refusal of a key (a token, a client) is recorded at once; the ones after
//! it within the window are only counted, and when the window ends the
//! count is recorded as one more event: the first one's action, actor and
//! details plus `repeats`, the number of refusals it stands for. One key thus
//! writes at most two events per window, however fast it is refused, and a
//! refusal that comes back after the window starts a new one.
//!
//! At most [`CAPACITY`] keys are tracked at once; past that, each refusal is
//! recorded on its own (the bound on writes lapses, nothing is lost). The
//! count of a window still open when the process stops is logged with its
//! tenant, not recorded.

use std::collections::HashMap;
use std::sync::Mutex;

use crate::TenantId;

/// Keys tracked at most.
pub(crate) const CAPACITY: usize = 10_000;

/// The open windows: key → its tenant and the refusals counted since the first.
#[derive(Default)]
pub(crate) struct Repeats {
    open: Mutex<HashMap<String, (TenantId, u64)>>,
}

impl Repeats {
    fn open(&self) -> std::sync::MutexGuard<'_, HashMap<String, (TenantId, u64)>> {
        self.open.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// `true`: a window is open for `key`, and this refusal is counted in it.
    /// `false`: record the refusal; a window was opened if there is room.
    pub(crate) fn counted(&self, tenant: TenantId, key: &str) -> Option<bool> {
        let mut open = self.open();
        if let Some((_, n)) = open.get_mut(key) {
            *n += 1;
            return Some(true);
        }
        if open.len() >= CAPACITY {
            return None;
        }
        open.insert(key.to_owned(), (tenant, 0));
        Some(false)
    }

    pub(crate) fn close(&self, key: &str) -> u64 {
        self.open().remove(key).map_or(0, |(_, n)| n)
    }
}

impl Drop for Repeats {
    fn drop(&mut self) {
        let open = self.open.get_mut().unwrap_or_else(|e| e.into_inner());
        for (key, (tenant, n)) in open.iter().filter(|(_, (_, n))| *n > 0) {
            tracing::warn!(%tenant, key, repeats = n, "repeated refusals not audited: the process stopped within their window");
        }
    }
}
