//! The hash chain and its MACed marks (checkpoint and retention anchor).
//!
//! `hash(e) = SHA-256(prev_hash ‖ "sentryagent-audit-v1" ‖ tenant ‖ seq ‖
//! canonical JSON of the event's fields)`. Object keys in the canonical JSON
//! are sorted at every level, so the hash does not depend on the order a
//! backend returns JSON keys in.

use std::borrow::Cow;

use aws_lc_rs::digest;
use bytes::Bytes;
use serde::Serialize;
use time::OffsetDateTime;

use super::canonical::{ChainLink, LinkBody, write_canonical};
use super::progress::{VerifyMode, VerifyProgress};
use super::{AuditEvent, NewAuditEvent};
use crate::secret::ServerKey;
use crate::{EventId, TenantId};

/// A position in a tenant's chain (`seq`, `hash`) with a MAC under the
/// server's audit key. The checkpoint (the head) and the retention anchor
/// (the last pruned event) are marks.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChainMark {
    /// Sequence number of the event the mark points at (0: none).
    pub seq: u64,
    /// That event's hash (zeros: none).
    pub hash: [u8; 32],
    /// MAC over tenant, kind, seq and hash (and `lost_at`, when set).
    pub mac: [u8; 32],
    /// Set on a head made after the checkpoint went missing: the `seq` of
    /// the last stored event then. Appends go on from there, but no
    /// checkpoint vouches for the events up to it (they could have been
    /// rewritten or cut), so verification fails, naming it, until an
    /// operator re-anchors the chain ([`AuditChain::reanchor`]). It is part
    /// of the MAC: clearing it by hand makes the head not authentic.
    pub lost_at: Option<u64>,
}

#[derive(Clone, Copy)]
enum MarkKind {
    Checkpoint,
    /// A head made when the checkpoint was found missing at this `seq`.
    LostCheckpoint(u64),
    Anchor,
}

thread_local! {
    /// The canonical JSON of the event being hashed.
    static JSON_BUFFER: std::cell::RefCell<Vec<u8>> = std::cell::RefCell::new(Vec::with_capacity(1024));
}

/// Runs `f` on this thread's canonical-JSON buffer, emptied.
fn with_json_buffer<T>(f: impl FnOnce(&mut Vec<u8>) -> T) -> T {
    JSON_BUFFER.with_borrow_mut(|json| {
        json.clear();
        let out = f(json);
        if json.capacity() > 64 * 1024 {
            // One huge event does not keep its buffer for good.
            *json = Vec::with_capacity(1024);
        }
        out
    })
}

/// An event of a tenant serialised to its canonical form but not yet linked
/// into the chain. The canonical form does not depend on the event's place
/// (its `seq` and `prev_hash` are hashed beside it, not in it), so a store
/// makes this before it takes the tenant's chain head, and holds the head
/// only for [`AuditChain::seal_unsealed`]'s one SHA-256.
///
/// ```
/// use sentryagent_core::audit::{AuditChain, NewAuditEvent, Outcome, Unsealed};
/// use sentryagent_core::secret::ServerKey;
/// use sentryagent_core::TenantId;
///
/// let (chain, tenant) = (AuditChain::new(ServerKey::random()), TenantId::new());
/// let event = NewAuditEvent::new("token.issued", Outcome::Success, "sa_ci_1");
/// let unsealed = Unsealed::new(tenant, event.clone());
/// // ...the tenant's head is taken here...
/// let head = chain.genesis(tenant);
/// let (sealed, bytes) = chain.seal_unsealed(&head, unsealed);
/// assert_eq!((sealed.seq, sealed.hash), {
///     let (again, again_bytes) = chain.seal_canonical(tenant, &head, event);
///     assert_eq!(again_bytes, bytes);
///     (again.seq, again.hash)
/// });
/// ```
#[derive(Clone, Debug)]
pub struct Unsealed {
    event: AuditEvent,
    canonical: Bytes,
}

impl Unsealed {
    /// Serialises `event` of `tenant`.
    pub fn new(tenant: TenantId, event: NewAuditEvent) -> Self {
        let event = AuditChain::linked(tenant, 0, [0; 32], event);
        // Written into the thread's buffer and copied out at its length: one
        // allocation, where a growing `Vec` turned into `Bytes` took three.
        let canonical = with_json_buffer(|json| {
            write_canonical(&event, json);
            Bytes::copy_from_slice(json)
        });
        Self { event, canonical }
    }

    /// The event, its `seq`, `prev_hash` and `hash` not yet set.
    pub fn event(&self) -> &AuditEvent {
        &self.event
    }
}

/// Computes and checks hashes and marks. Stores call it while they hold a
/// tenant's chain head, so that appends are linked atomically.
#[derive(Clone, Debug)]
pub struct AuditChain {
    key: ServerKey,
}

impl AuditChain {
    /// A chain keyed with the server's key.
    pub fn new(key: ServerKey) -> Self {
        Self { key }
    }

    /// The head of an empty chain: `seq` 0, zero hash.
    pub fn genesis(&self, tenant: TenantId) -> ChainMark {
        self.checkpoint(tenant, 0, [0; 32])
    }

    /// Links `event` after `head` and returns the stored form.
    pub fn seal(&self, tenant: TenantId, head: &ChainMark, event: NewAuditEvent) -> AuditEvent {
        let mut sealed = Self::linked(tenant, head.seq + 1, head.hash, event);
        sealed.hash = self.hash(&sealed);
        sealed
    }

    /// Links `event` after `head` and returns the stored form with its
    /// canonical bytes (what its hash is computed over), for a store to keep
    /// beside it so that verification hashes them as they are (see
    /// [`canonical`](super::canonical)).
    pub fn seal_canonical(&self, tenant: TenantId, head: &ChainMark, event: NewAuditEvent) -> (AuditEvent, Bytes) {
        self.seal_unsealed(head, Unsealed::new(tenant, event))
    }

    /// [`seal_canonical`](Self::seal_canonical) of an event already
    /// serialised: only its link to `head` (one SHA-256) is computed here.
    pub fn seal_unsealed(&self, head: &ChainMark, unsealed: Unsealed) -> (AuditEvent, Bytes) {
        let Unsealed { mut event, canonical } = unsealed;
        event.seq = head.seq + 1;
        event.prev_hash = head.hash;
        event.hash = self.hash_canonical(event.tenant_id, event.seq, &event.prev_hash, &canonical);
        (event, canonical)
    }

    /// Links `unsealed` one after another onto `head`, each with its
    /// canonical bytes, and returns them with the head after the last
    /// (`head` itself when there are none). Linking reads only a head's
    /// `seq` and `hash`, so the new head's MAC is computed once, at the end.
    pub fn seal_all(
        &self,
        tenant: TenantId,
        head: &ChainMark,
        unsealed: impl IntoIterator<Item = Unsealed>,
    ) -> (Vec<(AuditEvent, Bytes)>, ChainMark) {
        let mut link = head.clone();
        let sealed: Vec<_> = unsealed
            .into_iter()
            .map(|unsealed| {
                let (event, canonical) = self.seal_unsealed(&link, unsealed);
                (link.seq, link.hash) = (event.seq, event.hash);
                (event, canonical)
            })
            .collect();
        let new_head = match sealed.is_empty() {
            true => link,
            false => self.advance(tenant, head, link.seq, link.hash),
        };
        (sealed, new_head)
    }

    fn linked(tenant: TenantId, seq: u64, prev_hash: [u8; 32], event: NewAuditEvent) -> AuditEvent {
        AuditEvent {
            id: event.id,
            tenant_id: tenant,
            seq,
            agent_id: event.agent_id,
            actor: event.actor,
            action: event.action,
            outcome: event.outcome,
            ip: event.ip,
            at: event.at,
            details: event.details,
            prev_hash,
            hash: [0; 32],
        }
    }

    /// The checkpoint MAC for a chain head.
    pub fn checkpoint(&self, tenant: TenantId, seq: u64, hash: [u8; 32]) -> ChainMark {
        self.mark(MarkKind::Checkpoint, tenant, seq, hash)
    }

    /// The head after appending up to (`seq`, `hash`) onto `head`: a
    /// checkpoint, or, while `head` carries a lost checkpoint, a head that
    /// still says where it was lost.
    pub fn advance(&self, tenant: TenantId, head: &ChainMark, seq: u64, hash: [u8; 32]) -> ChainMark {
        match head.lost_at {
            Some(lost_at) => self.mark(MarkKind::LostCheckpoint(lost_at), tenant, seq, hash),
            None => self.checkpoint(tenant, seq, hash),
        }
    }

    /// The head a store makes when it finds a tenant's events (or its
    /// retention anchor) without their checkpoint: on the last stored event
    /// (`seq`, `hash`), marked lost there. Never a plain checkpoint: that
    /// would vouch for whatever the events now say.
    pub fn lost(&self, tenant: TenantId, seq: u64, hash: [u8; 32]) -> ChainMark {
        self.mark(MarkKind::LostCheckpoint(seq), tenant, seq, hash)
    }

    /// `head` as a plain checkpoint again: what an operator's re-anchoring
    /// stores (see `SentryAgent::reanchor_audit`).
    pub fn reanchor(&self, tenant: TenantId, head: &ChainMark) -> ChainMark {
        self.checkpoint(tenant, head.seq, head.hash)
    }

    /// The anchor MAC for the last event removed by retention.
    pub fn anchor(&self, tenant: TenantId, seq: u64, hash: [u8; 32]) -> ChainMark {
        self.mark(MarkKind::Anchor, tenant, seq, hash)
    }

    fn mark(&self, kind: MarkKind, tenant: TenantId, seq: u64, hash: [u8; 32]) -> ChainMark {
        let mac = self.key.audit_mac(&mark_message(kind, tenant, seq, &hash));
        let lost_at = match kind {
            MarkKind::LostCheckpoint(at) => Some(at),
            MarkKind::Checkpoint | MarkKind::Anchor => None,
        };
        ChainMark {
            seq,
            hash,
            mac,
            lost_at,
        }
    }

    /// Whether `head` is an authentic checkpoint (or lost-checkpoint head)
    /// of `tenant`.
    pub fn head_is_authentic(&self, tenant: TenantId, head: &ChainMark) -> bool {
        let kind = match head.lost_at {
            Some(at) => MarkKind::LostCheckpoint(at),
            None => MarkKind::Checkpoint,
        };
        self.mark_is_authentic(kind, tenant, head)
    }

    fn mark_is_authentic(&self, kind: MarkKind, tenant: TenantId, mark: &ChainMark) -> bool {
        self.key
            .verify_audit_mac(&mark_message(kind, tenant, mark.seq, &mark.hash), &mark.mac)
    }

    /// Recomputes an event's hash from its fields and `prev_hash`.
    pub fn hash(&self, event: &AuditEvent) -> [u8; 32] {
        // One buffer per thread, reused: an event without stored canonical
        // bytes is serialised again to be verified.
        with_json_buffer(|json| {
            write_canonical(event, json);
            self.hash_canonical(event.tenant_id, event.seq, &event.prev_hash, json)
        })
    }

    /// The hash of the event at `seq` of `tenant`'s chain, after
    /// `prev_hash`, whose canonical form is `canonical`
    /// ([`write_canonical`]).
    pub fn hash_canonical(&self, tenant: TenantId, seq: u64, prev_hash: &[u8; 32], canonical: &[u8]) -> [u8; 32] {
        let mut ctx = digest::Context::new(&digest::SHA256);
        ctx.update(prev_hash);
        ctx.update(b"sentryagent-audit-v1");
        ctx.update(tenant.as_uuid().as_bytes());
        ctx.update(&seq.to_be_bytes());
        ctx.update(canonical);
        let mut out = [0u8; 32];
        out.copy_from_slice(ctx.finish().as_ref());
        out
    }

    /// Starts a verification of `tenant`'s chain. `anchor` is the retention
    /// anchor, if any; `checkpoint` the head read before the events (events
    /// appended after it are not checked). Without a checkpoint every event
    /// is read: events without their checkpoint are not a valid chain.
    pub fn verifier(
        &self,
        tenant: TenantId,
        anchor: Option<&ChainMark>,
        checkpoint: Option<ChainMark>,
    ) -> ChainVerifier<'_> {
        let mut v = ChainVerifier {
            chain: self,
            tenant,
            expected_seq: 1,
            prev: [0; 32],
            checked: 0,
            checkpoint,
            anchor: None,
            saved: None,
            saved_seen: None,
            resume: None,
            failure: None,
        };
        if let Some(anchor) = anchor {
            if self.mark_is_authentic(MarkKind::Anchor, tenant, anchor) {
                v.expected_seq = anchor.seq + 1;
                v.prev = anchor.hash;
                v.anchor = Some(anchor.clone());
            } else {
                v.failure = Some((None, "the retention anchor is not authentic".into()));
            }
        }
        v
    }
}

fn mark_message(kind: MarkKind, tenant: TenantId, seq: u64, hash: &[u8; 32]) -> Vec<u8> {
    let label: &[u8] = match kind {
        MarkKind::Checkpoint => b"checkpoint",
        MarkKind::LostCheckpoint(_) => b"checkpoint-lost",
        MarkKind::Anchor => b"anchor",
    };
    let mut m = Vec::with_capacity(label.len() + 16 + 8 + 32 + 8);
    m.extend_from_slice(label);
    m.extend_from_slice(tenant.as_uuid().as_bytes());
    m.extend_from_slice(&seq.to_be_bytes());
    m.extend_from_slice(hash);
    if let MarkKind::LostCheckpoint(at) = kind {
        m.extend_from_slice(&at.to_be_bytes());
    }
    m
}

impl AuditChain {
    /// `progress` with its MAC set for `tenant`.
    pub fn seal_progress(&self, tenant: TenantId, mut progress: VerifyProgress) -> VerifyProgress {
        progress.mac = self.key.audit_mac(&progress_message(tenant, &progress));
        progress
    }

    /// Whether `progress` is authentic for `tenant`.
    pub fn progress_is_authentic(&self, tenant: TenantId, progress: &VerifyProgress) -> bool {
        self.key
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

/// Walks a chain in `seq` order; see [`AuditChain::verifier`].
pub struct ChainVerifier<'a> {
    chain: &'a AuditChain,
    tenant: TenantId,
    expected_seq: u64,
    prev: [u8; 32],
    checked: u64,
    checkpoint: Option<ChainMark>,
    /// The authentic retention anchor.
    anchor: Option<ChainMark>,
    /// A checkpoint saved earlier (`seq`, head hash) the chain must hold.
    saved: Option<(u64, [u8; 32])>,
    /// The hash of the event at the saved checkpoint's `seq`, once read.
    saved_seen: Option<[u8; 32]>,
    /// An event verified before (`seq`, hash) the walk resumes at.
    resume: Option<(u64, [u8; 32])>,
    failure: Option<(Option<EventId>, Cow<'static, str>)>,
}

impl ChainVerifier<'_> {
    /// The highest `seq` worth reading: the checkpoint's, or every event
    /// when there is none.
    pub fn last_seq(&self) -> u64 {
        self.checkpoint.as_ref().map_or(u64::MAX, |c| c.seq)
    }

    /// Whether a failure was already found (stop feeding).
    pub fn failed(&self) -> bool {
        self.failure.is_some()
    }

    /// Also proves that the chain holds a checkpoint saved earlier: the
    /// event at `seq` must still have the hash `head_hash` (`seq` 0: the
    /// empty chain, a prefix of every chain). A chain rolled back before
    /// it, wiped, or rewritten at or before it does not.
    pub fn expect_saved(&mut self, seq: u64, head_hash: [u8; 32]) {
        self.saved = Some((seq, head_hash));
    }

    /// Starts the walk at an event an earlier verification reached (`seq`
    /// after the retention anchor, and its hash then) instead of the anchor:
    /// the first event fed must be that one, still with that hash, and is
    /// not counted again. What it proves is then only that the events after
    /// it are intact and link to it.
    pub fn resume_at(&mut self, seq: u64, hash: [u8; 32]) {
        self.resume = Some((seq, hash));
        self.expected_seq = seq;
    }

    /// How many events were checked and found intact so far.
    pub fn checked(&self) -> u64 {
        self.checked
    }

    /// The last event checked intact (`seq`, hash), or where the walk
    /// started while none was.
    pub fn position(&self) -> (u64, [u8; 32]) {
        match self.resume {
            Some((seq, hash)) => (seq, hash),
            None => (self.expected_seq - 1, self.prev),
        }
    }

    /// Checks the next event, hashing its fields.
    pub fn feed(&mut self, event: &AuditEvent) {
        let chain = self.chain;
        self.step(event.id, event.seq, &event.prev_hash, event.hash, || {
            (chain.hash(event) != event.hash).then_some(CHANGED)
        });
    }

    /// Checks the next event as a store read it for verification: its
    /// stored canonical bytes hashed as they are, and its fields found to
    /// say the same (see [`canonical`](super::canonical)); or, stored
    /// without them, its fields hashed.
    pub fn feed_link(&mut self, link: &ChainLink) {
        let (chain, tenant) = (self.chain, self.tenant);
        self.step(link.id, link.seq, &link.prev_hash, link.hash, || match &link.body {
            LinkBody::Stored {
                canonical,
                fields_match,
            } => {
                if chain.hash_canonical(tenant, link.seq, &link.prev_hash, canonical) != link.hash {
                    Some(CHANGED)
                } else if !fields_match {
                    Some("this event's fields were changed after it was written: they differ from the form its hash covers")
                } else {
                    None
                }
            }
            LinkBody::Fields(event) => (chain.hash(event) != link.hash).then_some(CHANGED),
        });
    }

    /// Checks the event at `seq`: its place, then (lazily) `altered`, which
    /// says what is wrong with its contents, if anything.
    fn step(
        &mut self,
        id: EventId,
        seq: u64,
        prev_hash: &[u8; 32],
        hash: [u8; 32],
        altered: impl FnOnce() -> Option<&'static str>,
    ) {
        if self.failure.is_some() || seq > self.last_seq() {
            return;
        }
        if let Some((resumed, resumed_hash)) = self.resume {
            if seq != resumed {
                self.failure = Some((None, missing_verified(resumed)));
                return;
            }
            let reason = match altered() {
                Some(reason) => Some(reason),
                None if hash != resumed_hash => Some("this event was rewritten since it was last verified"),
                None => None,
            };
            if let Some(reason) = reason {
                self.failure = Some((Some(id), reason.into()));
                return;
            }
            self.resume = None;
            self.prev = hash;
            self.expected_seq = seq + 1;
            return;
        }
        let reason = if seq != self.expected_seq {
            Some("an event before this one is missing")
        } else if *prev_hash != self.prev {
            Some("this event does not link to the one before it")
        } else {
            altered()
        };
        if let Some(reason) = reason {
            self.failure = Some((Some(id), reason.into()));
            return;
        }
        if self.saved.is_some_and(|(saved, _)| saved == seq) {
            self.saved_seen = Some(hash);
        }
        self.prev = hash;
        self.expected_seq += 1;
        self.checked += 1;
    }

    /// The result of a walk stopped before [`last_seq`](Self::last_seq)
    /// (a slice): whether the events so far are intact; nothing about the
    /// end of the chain yet.
    pub fn finish_slice(self) -> Verification {
        let (reached_seq, _) = self.position();
        Verification {
            valid: self.failure.is_none(),
            checked: self.checked,
            first_invalid_event_id: self.failure.as_ref().and_then(|f| f.0),
            reason: self.failure.map(|f| f.1),
            saved_checkpoint: None,
            mode: VerifyMode::Full,
            complete: false,
            from_seq: 0,
            reached_seq,
            last_full_verification: None,
        }
    }

    /// The result, after every event up to [`last_seq`](Self::last_seq).
    pub fn finish(mut self) -> Verification {
        if let Some((seq, _)) = self.resume
            && self.failure.is_none()
        {
            self.failure = Some((None, missing_verified(seq)));
        }
        let last = self.expected_seq - 1;
        if self.failure.is_none() {
            let lost = |seq: u64| -> Cow<'static, str> {
                format!("checkpoint missing at seq {seq}: no checkpoint vouches for the events up to it until an operator re-anchors the chain").into()
            };
            match &self.checkpoint {
                // An empty chain (or none ever appended).
                None if last == 0 => {}
                None => self.failure = Some((None, lost(last))),
                Some(c) if !self.chain.head_is_authentic(self.tenant, c) => {
                    self.failure = Some((None, "the chain's checkpoint is not authentic".into()))
                }
                Some(c) if c.seq != last || c.hash != self.prev => {
                    self.failure = Some((None, "events at the end of the chain are missing".into()))
                }
                Some(ChainMark { lost_at: Some(at), .. }) => self.failure = Some((None, lost(*at))),
                Some(_) => {}
            }
        }
        let saved_checkpoint = self.saved.map(|(seq, hash)| {
            let anchored = self.anchor.as_ref();
            let held = if seq == 0 {
                SavedCheckpoint::Contained
            } else if anchored.is_some_and(|a| seq < a.seq) {
                SavedCheckpoint::Pruned
            } else if anchored.is_some_and(|a| seq == a.seq) {
                if anchored.is_some_and(|a| a.hash == hash) {
                    SavedCheckpoint::Contained
                } else {
                    SavedCheckpoint::NotContained
                }
            } else if self.saved_seen == Some(hash) {
                SavedCheckpoint::Contained
            } else {
                SavedCheckpoint::NotContained
            };
            if held == SavedCheckpoint::NotContained && self.failure.is_none() {
                self.failure = Some((
                    None,
                    format!(
                        "the chain does not hold the saved checkpoint at seq {seq}: it was rolled back, wiped or \
                         rewritten since"
                    )
                    .into(),
                ));
            }
            held
        });
        let (reached_seq, _) = self.position();
        Verification {
            valid: self.failure.is_none(),
            checked: self.checked,
            first_invalid_event_id: self.failure.as_ref().and_then(|f| f.0),
            reason: self.failure.map(|f| f.1),
            saved_checkpoint,
            mode: VerifyMode::Full,
            complete: true,
            from_seq: self.anchor.as_ref().map_or(0, |a| a.seq),
            reached_seq,
            last_full_verification: None,
        }
    }
}

/// Why an event whose hash does not match its contents is invalid.
const CHANGED: &str = "this event was changed after it was written";

fn missing_verified(seq: u64) -> Cow<'static, str> {
    format!("the event at seq {seq}, verified before, is missing: the chain was cut back or rewritten since").into()
}

/// What verification found of a saved checkpoint.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub enum SavedCheckpoint {
    /// The chain holds it: the event at its `seq` has its head hash.
    Contained,
    /// It lies before the retention anchor: the events it vouched for were
    /// pruned, and the chain goes on past it.
    Pruned,
    /// The chain does not hold it (then `valid` is false).
    NotContained,
}

/// The answer of `GET /audit/verify`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Verification {
    /// Whether the whole chain is intact.
    pub valid: bool,
    /// How many events were checked and found intact.
    pub checked: u64,
    /// The first event found altered, out of place or after a gap.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub first_invalid_event_id: Option<EventId>,
    /// What was wrong.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>)]
    pub reason: Option<Cow<'static, str>>,
    /// Given a saved checkpoint (`?checkpoint=`): whether the chain holds it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub saved_checkpoint: Option<SavedCheckpoint>,
    /// Which verification ran. `incremental` proves only that the events
    /// after `fromSeq` are intact and link to the event at `fromSeq` (which
    /// an earlier verification reached, and which still has the hash it had
    /// then); `full` proves every stored event after the retention anchor.
    pub mode: VerifyMode,
    /// Whether it reached the chain's checkpoint. A full verification runs
    /// in slices: while `false`, call again (same mode) to go on from
    /// `reachedSeq`; `valid` then says only that nothing was wrong so far.
    pub complete: bool,
    /// The `seq` the proof starts after: events after it were checked (0:
    /// genesis; for a full verification, the retention anchor's).
    pub from_seq: u64,
    /// The last event checked intact (where the next slice goes on).
    pub reached_seq: u64,
    /// The last full verification that passed, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_full_verification: Option<FullVerification>,
}

/// When the last full verification passed, and how far it reached.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct FullVerification {
    /// When it finished.
    #[serde(with = "crate::time::rfc3339")]
    pub at: OffsetDateTime,
    /// The chain's checkpoint then: every event up to it was proven.
    pub seq: u64,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audit::Outcome;
    use crate::audit::canonical::CanonicalMap;
    use serde_json::Value;

    fn chain_of(n: usize) -> (AuditChain, TenantId, Vec<AuditEvent>, ChainMark) {
        let chain = AuditChain::new(ServerKey::random());
        let tenant = TenantId::new();
        let mut head = chain.genesis(tenant);
        let mut events = Vec::new();
        for i in 0..n {
            let e = chain.seal(
                tenant,
                &head,
                NewAuditEvent::new("agent.created", Outcome::Success, "operator").detail("i", i as u64),
            );
            head = chain.checkpoint(tenant, e.seq, e.hash);
            events.push(e);
        }
        (chain, tenant, events, head)
    }

    fn verify(chain: &AuditChain, tenant: TenantId, events: &[AuditEvent], head: ChainMark) -> Verification {
        let mut v = chain.verifier(tenant, None, Some(head));
        for e in events {
            v.feed(e);
        }
        v.finish()
    }

    #[test]
    fn sealing_a_batch_is_sealing_its_events_one_by_one() {
        let (chain, tenant, events, head) = chain_of(3);
        let unsealed = |e: &AuditEvent| Unsealed::new(tenant, NewAuditEvent::from(e.clone()));
        let (sealed, new_head) = chain.seal_all(tenant, &chain.genesis(tenant), events.iter().map(unsealed));
        assert_eq!(sealed.into_iter().map(|(e, _)| e).collect::<Vec<_>>(), events);
        assert_eq!(new_head, head, "one MAC, for the last event");
        let (none, same) = chain.seal_all(tenant, &head, []);
        assert!(none.is_empty());
        assert_eq!(same, head, "nothing sealed: the head as it was");
    }

    #[test]
    fn intact_chain_verifies() {
        let (chain, tenant, events, head) = chain_of(5);
        let r = verify(&chain, tenant, &events, head);
        assert!(r.valid, "{r:?}");
        assert_eq!(r.checked, 5);
    }

    #[test]
    fn edited_event_is_named() {
        let (chain, tenant, mut events, head) = chain_of(5);
        events[2].actor = "someone-else".into();
        let r = verify(&chain, tenant, &events, head);
        assert!(!r.valid);
        assert_eq!(r.first_invalid_event_id, Some(events[2].id));
    }

    #[test]
    fn deleted_newest_events_are_caught() {
        let (chain, tenant, events, head) = chain_of(5);
        let r = verify(&chain, tenant, &events[..3], head);
        assert!(!r.valid);
        assert_eq!(r.reason.as_deref(), Some("events at the end of the chain are missing"));
    }

    #[test]
    fn forged_checkpoint_is_caught() {
        let (chain, tenant, events, mut head) = chain_of(3);
        head.seq = 2;
        head.hash = events[1].hash;
        let r = verify(&chain, tenant, &events[..2], head);
        assert!(!r.valid);
    }

    #[test]
    fn events_without_their_checkpoint_are_invalid_and_say_where() {
        let (chain, tenant, events, _) = chain_of(4);
        let mut v = chain.verifier(tenant, None, None);
        assert_eq!(v.last_seq(), u64::MAX, "every event is read");
        for e in &events {
            v.feed(e);
        }
        let r = v.finish();
        assert!(!r.valid);
        assert_eq!(r.checked, 4);
        assert!(
            r.reason
                .as_deref()
                .is_some_and(|r| r.starts_with("checkpoint missing at seq 4")),
            "{r:?}"
        );
        // No events and no checkpoint: an empty chain.
        assert!(chain.verifier(tenant, None, None).finish().valid);
    }

    #[test]
    fn a_head_made_after_the_loss_keeps_saying_so_until_reanchored() {
        let (chain, tenant, mut events, _) = chain_of(3);
        // The checkpoint is gone; appends go on from the last event.
        let mut head = chain.lost(tenant, 3, events[2].hash);
        for i in 0..2 {
            let e = chain.seal(
                tenant,
                &head,
                NewAuditEvent::new("token.issued", Outcome::Success, "x").detail("i", i),
            );
            head = chain.advance(tenant, &head, e.seq, e.hash);
            events.push(e);
        }
        assert_eq!(head.lost_at, Some(3));
        let r = verify(&chain, tenant, &events, head.clone());
        assert!(!r.valid);
        assert_eq!(r.checked, 5);
        assert!(
            r.reason
                .as_deref()
                .is_some_and(|r| r.starts_with("checkpoint missing at seq 3")),
            "{r:?}"
        );

        let mut cleared = head.clone();
        cleared.lost_at = None;
        let r = verify(&chain, tenant, &events, cleared);
        assert_eq!(
            r.reason.as_deref(),
            Some("the chain's checkpoint is not authentic"),
            "clearing the mark by hand"
        );

        let anchored = chain.reanchor(tenant, &head);
        assert!(verify(&chain, tenant, &events, anchored).valid);
    }

    #[test]
    fn a_saved_checkpoint_is_held_pruned_or_not_held() {
        let (chain, tenant, events, head) = chain_of(6);
        let check = |anchor: Option<&ChainMark>, events: &[AuditEvent], head: ChainMark, saved: (u64, [u8; 32])| {
            let mut v = chain.verifier(tenant, anchor, Some(head));
            v.expect_saved(saved.0, saved.1);
            for e in events {
                v.feed(e);
            }
            v.finish()
        };
        let r = check(None, &events, head.clone(), (4, events[3].hash));
        assert!(
            r.valid && r.saved_checkpoint == Some(SavedCheckpoint::Contained),
            "{r:?}"
        );
        let r = check(None, &events, head.clone(), (0, [0; 32]));
        assert_eq!(r.saved_checkpoint, Some(SavedCheckpoint::Contained), "the empty chain");
        // Rewritten at seq 4 (another hash), or rolled back before seq 9.
        for saved in [(4, [9; 32]), (9, [1; 32])] {
            let r = check(None, &events, head.clone(), saved);
            assert!(
                !r.valid && r.saved_checkpoint == Some(SavedCheckpoint::NotContained),
                "{r:?}"
            );
        }
        // Pruned up to seq 3: before it, at it, after it.
        let anchor = chain.anchor(tenant, 3, events[2].hash);
        let r = check(Some(&anchor), &events[3..], head.clone(), (2, events[1].hash));
        assert!(r.valid && r.saved_checkpoint == Some(SavedCheckpoint::Pruned), "{r:?}");
        let r = check(Some(&anchor), &events[3..], head.clone(), (3, events[2].hash));
        assert!(
            r.valid && r.saved_checkpoint == Some(SavedCheckpoint::Contained),
            "{r:?}"
        );
        let r = check(Some(&anchor), &events[3..], head, (5, events[4].hash));
        assert!(
            r.valid && r.saved_checkpoint == Some(SavedCheckpoint::Contained),
            "{r:?}"
        );
    }

    /// The hash before it streamed the canonical form: sort a clone, then
    /// serialise. Stored chains depend on the bytes staying the same.
    fn reference_canonical(value: Value) -> Value {
        match value {
            Value::Object(map) => {
                let mut entries: Vec<_> = map.into_iter().collect();
                entries.sort_by(|a, b| a.0.cmp(&b.0));
                let mut out = serde_json::Map::new();
                for (k, v) in entries {
                    out.insert(k, reference_canonical(v));
                }
                Value::Object(out)
            }
            Value::Array(items) => Value::Array(items.into_iter().map(reference_canonical).collect()),
            other => other,
        }
    }

    #[test]
    fn canonical_form_is_byte_identical_to_sorting_a_copy() {
        let details = serde_json::json!({
            "z": [3, {"b": 1, "a": [{"d": null, "c": "x\"y"}]}],
            "a": {"y": 1.5, "x": true, "é": "ü", "A": -1},
            "m": "plain",
        });
        let Value::Object(map) = details.clone() else {
            unreachable!()
        };
        let streamed = serde_json::to_vec(&CanonicalMap(&map)).expect("serialises");
        let reference = serde_json::to_vec(&reference_canonical(details)).expect("serialises");
        assert_eq!(String::from_utf8_lossy(&streamed), String::from_utf8_lossy(&reference));
    }

    /// The hash as it was computed before ids and the address were
    /// serialised without a `String` each: stored chains depend on it.
    fn reference_hash(event: &AuditEvent) -> [u8; 32] {
        #[derive(Serialize)]
        #[serde(rename_all = "camelCase")]
        struct Fields<'a> {
            id: EventId,
            agent_id: Option<String>,
            actor: &'a str,
            action: &'a str,
            outcome: &'a str,
            ip: Option<String>,
            at_micros: i128,
            details: CanonicalMap<'a>,
        }
        let fields = Fields {
            id: event.id,
            agent_id: event.agent_id.map(|a| a.to_string()),
            actor: &event.actor,
            action: &event.action,
            outcome: event.outcome.as_str(),
            ip: event.ip.map(|ip| ip.to_string()),
            at_micros: event.at.unix_timestamp_nanos() / 1_000,
            details: CanonicalMap(&event.details),
        };
        let mut ctx = digest::Context::new(&digest::SHA256);
        ctx.update(&event.prev_hash);
        ctx.update(b"sentryagent-audit-v1");
        ctx.update(event.tenant_id.as_uuid().as_bytes());
        ctx.update(&event.seq.to_be_bytes());
        ctx.update(&serde_json::to_vec(&fields).expect("serialises"));
        let mut out = [0u8; 32];
        out.copy_from_slice(ctx.finish().as_ref());
        out
    }

    #[test]
    fn hash_is_unchanged_for_every_kind_of_field() {
        let (chain, _, mut events, _) = chain_of(1);
        let e = &mut events[0];
        assert_eq!(chain.hash(e), reference_hash(e), "no agent, no address");
        e.agent_id = Some(crate::AgentId::new());
        for ip in ["203.0.113.7", "2001:db8::1", "::ffff:192.0.2.1"] {
            e.ip = Some(ip.parse().expect("an address"));
            e.details.insert("quote".into(), "a \"quoted\" é\n".into());
            assert_eq!(chain.hash(e), reference_hash(e), "{ip}");
        }
    }

    #[test]
    fn key_order_of_details_does_not_matter() {
        let (chain, _, mut events, _) = chain_of(1);
        let e = &mut events[0];
        e.details.insert("b".into(), 1.into());
        e.details.insert("a".into(), serde_json::json!({"z": 1, "y": 2}));
        let h1 = chain.hash(e);
        let mut reordered = serde_json::Map::new();
        for key in ["i", "a", "b"] {
            reordered.insert(key.into(), e.details[key].clone());
        }
        e.details = reordered;
        assert_eq!(h1, chain.hash(e));
    }

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
                run: Some(super::super::progress::FullRun {
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
