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
//! marks ([`AuditChain::seal_progress`](super::AuditChain::seal_progress)): whoever can write to the database cannot move it forward past
//! events they changed. Deleting it, or putting back an older one, only
//! makes the next verification read more.

use time::OffsetDateTime;

/// At most this many events a full verification checks per call (a
/// fraction of a second: about 2 µs of this process's CPU an event on
/// PostgreSQL with stored canonical bytes), before it saves where it stopped.
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
