//! What verification of a tenant's chain has already proven, so the next
//! one costs only what changed.
//!
//! Two modes ([`VerifyMode`]):
//! - **incremental** (the default) starts at the last event an earlier
//!   verification reached ([`VerifyProgress::verified_seq`]): it re-hashes
//!   that one event (it must still have the hash it had then), then checks
//!   every event after it up to the checkpoint. It proves that nothing
//!   after that point changed and that the chain still links to it; it
//!   says nothing about the events before it.
//! - **full** starts at the retention anchor (or genesis) and proves every
//!   stored event. It runs in slices of at most
//!   [`FULL_SLICE`] events per call, saving where it
//!   stopped ([`FullRun`]), so no call holds a request (or memory) for long;
//!   the caller calls again until `complete`. When it reaches the
//!   checkpoint intact, its time is kept as the last full verification.
//!
//! The progress is MACed with the server's audit key like the chain's
//! marks: whoever can write to the database cannot move it forward past
//! events they changed. Deleting it, or putting back an older one, only
//! makes the next verification read more.

use time::OffsetDateTime;

use super::chain::AuditChain;
use crate::TenantId;

/// At most this many events a full verification checks per call (some
/// tens of milliseconds of work), before it saves where it stopped.
pub const FULL_SLICE: u64 = 50_000;

/// Which verification `GET /audit/verify` runs.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum VerifyMode {
    /// From the last verified event forward: what changed since.
    #[default]
    Incremental,
    /// From the retention anchor (or genesis): every stored event.
    Full,
}

impl VerifyMode {
    /// Parses the query parameter (`incremental`, `full`).
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "incremental" => Some(Self::Incremental),
            "full" => Some(Self::Full),
            _ => None,
        }
    }
}

/// A full verification under way: where its last slice stopped.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FullRun {
    /// When its first slice ran.
    pub started_at: OffsetDateTime,
    /// The `seq` it started after (the retention anchor's; 0: genesis).
    pub from_seq: u64,
    /// The last event it checked.
    pub seq: u64,
    /// That event's hash.
    pub hash: [u8; 32],
    /// How many events it checked so far.
    pub checked: u64,
}

/// A tenant's verification progress, as a store keeps it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VerifyProgress {
    /// The last event a verification reached intact (0: none).
    pub verified_seq: u64,
    /// That event's hash.
    pub verified_hash: [u8; 32],
    /// When the last full verification that passed finished.
    pub full_passed_at: Option<OffsetDateTime>,
    /// The `seq` it reached (the checkpoint then).
    pub full_passed_seq: u64,
    /// A full verification under way.
    pub run: Option<FullRun>,
    /// MAC over all of the above and the tenant.
    pub mac: [u8; 32],
}

impl AuditChain {
    /// `progress` with its MAC set for `tenant`.
    pub fn seal_progress(&self, tenant: TenantId, mut progress: VerifyProgress) -> VerifyProgress {
        progress.mac = self.key().audit_mac(&progress_message(tenant, &progress));
        progress
    }

    /// Whether `progress` is authentic for `tenant`.
    pub fn progress_is_authentic(&self, tenant: TenantId, progress: &VerifyProgress) -> bool {
        self.key()
            .verify_audit_mac(&progress_message(tenant, progress), &progress.mac)
    }
}

fn micros(t: OffsetDateTime) -> i128 {
    t.unix_timestamp_nanos() / 1_000
}

fn progress_message(tenant: TenantId, p: &VerifyProgress) -> Vec<u8> {
    let mut m = Vec::with_capacity(200);
    m.extend_from_slice(b"verify-progress");
    m.extend_from_slice(tenant.as_uuid().as_bytes());
    m.extend_from_slice(&p.verified_seq.to_be_bytes());
    m.extend_from_slice(&p.verified_hash);
    match p.full_passed_at {
        Some(at) => {
            m.push(1);
            m.extend_from_slice(&micros(at).to_be_bytes());
        }
        None => m.push(0),
    }
    m.extend_from_slice(&p.full_passed_seq.to_be_bytes());
    match &p.run {
        Some(run) => {
            m.push(1);
            m.extend_from_slice(&micros(run.started_at).to_be_bytes());
            m.extend_from_slice(&run.from_seq.to_be_bytes());
            m.extend_from_slice(&run.seq.to_be_bytes());
            m.extend_from_slice(&run.hash);
            m.extend_from_slice(&run.checked.to_be_bytes());
        }
        None => m.push(0),
    }
    m
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::secret::ServerKey;

    #[test]
    fn progress_is_bound_to_its_tenant_and_fields() {
        let chain = AuditChain::new(ServerKey::random());
        let tenant = TenantId::new();
        let progress = chain.seal_progress(
            tenant,
            VerifyProgress {
                verified_seq: 7,
                verified_hash: [7; 32],
                full_passed_at: Some(crate::time::now()),
                full_passed_seq: 5,
                run: Some(FullRun {
                    started_at: crate::time::now(),
                    from_seq: 0,
                    seq: 3,
                    hash: [3; 32],
                    checked: 3,
                }),
                mac: [0; 32],
            },
        );
        assert!(chain.progress_is_authentic(tenant, &progress));
        assert!(!chain.progress_is_authentic(TenantId::new(), &progress));
        let mut moved = progress.clone();
        moved.verified_seq = 8;
        assert!(!chain.progress_is_authentic(tenant, &moved), "moved forward by hand");
        let mut fresher = progress.clone();
        fresher.full_passed_at = fresher.full_passed_at.map(|t| t + time::Duration::days(1));
        assert!(
            !chain.progress_is_authentic(tenant, &fresher),
            "a fresher full pass claimed"
        );
        let mut run = progress;
        run.run = None;
        assert!(!chain.progress_is_authentic(tenant, &run), "a run dropped by hand");
    }
}
