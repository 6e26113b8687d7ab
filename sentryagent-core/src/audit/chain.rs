//! The hash chain and its MACed marks (checkpoint and retention anchor).
//!
//! `hash(e) = SHA-256(prev_hash ‖ "sentryagent-audit-v1" ‖ tenant ‖ seq ‖
//! canonical JSON of the event's fields)`. Object keys in the canonical JSON
//! are sorted at every level, so the hash does not depend on the order a
//! backend returns JSON keys in.

use aws_lc_rs::digest;
use serde::Serialize;
use serde::ser::{SerializeMap as _, Serializer};
use serde_json::{Map, Value};

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
    /// MAC over tenant, kind, seq and hash.
    pub mac: [u8; 32],
}

#[derive(Clone, Copy)]
enum MarkKind {
    Checkpoint,
    Anchor,
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
        let mut sealed = AuditEvent {
            id: event.id,
            tenant_id: tenant,
            seq: head.seq + 1,
            agent_id: event.agent_id,
            actor: event.actor,
            action: event.action,
            outcome: event.outcome,
            ip: event.ip,
            at: event.at,
            details: event.details,
            prev_hash: head.hash,
            hash: [0; 32],
        };
        sealed.hash = self.hash(&sealed);
        sealed
    }

    /// The checkpoint MAC for a chain head.
    pub fn checkpoint(&self, tenant: TenantId, seq: u64, hash: [u8; 32]) -> ChainMark {
        self.mark(MarkKind::Checkpoint, tenant, seq, hash)
    }

    /// The anchor MAC for the last event removed by retention.
    pub fn anchor(&self, tenant: TenantId, seq: u64, hash: [u8; 32]) -> ChainMark {
        self.mark(MarkKind::Anchor, tenant, seq, hash)
    }

    fn mark(&self, kind: MarkKind, tenant: TenantId, seq: u64, hash: [u8; 32]) -> ChainMark {
        let mac = self.key.audit_mac(&mark_message(kind, tenant, seq, &hash));
        ChainMark { seq, hash, mac }
    }

    fn mark_is_authentic(&self, kind: MarkKind, tenant: TenantId, mark: &ChainMark) -> bool {
        self.key
            .verify_audit_mac(&mark_message(kind, tenant, mark.seq, &mark.hash), &mark.mac)
    }

    /// Recomputes an event's hash from its fields and `prev_hash`.
    pub fn hash(&self, event: &AuditEvent) -> [u8; 32] {
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
        // One buffer sized for a typical event; serialising a struct of
        // strings and JSON values cannot fail.
        let mut json = Vec::with_capacity(512);
        let _ = serde_json::to_writer(&mut json, &fields);
        ctx.update(&json);
        let mut out = [0u8; 32];
        out.copy_from_slice(ctx.finish().as_ref());
        out
    }

    /// Starts a verification of `tenant`'s chain. `anchor` is the retention
    /// anchor, if any; `checkpoint` the head read before the events (events
    /// appended after it are not checked).
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
            failure: None,
        };
        if let Some(anchor) = anchor {
            if self.mark_is_authentic(MarkKind::Anchor, tenant, anchor) {
                v.expected_seq = anchor.seq + 1;
                v.prev = anchor.hash;
            } else {
                v.failure = Some((None, "the retention anchor is not authentic"));
            }
        }
        v
    }
}

fn mark_message(kind: MarkKind, tenant: TenantId, seq: u64, hash: &[u8; 32]) -> Vec<u8> {
    let label: &[u8] = match kind {
        MarkKind::Checkpoint => b"checkpoint",
        MarkKind::Anchor => b"anchor",
    };
    let mut m = Vec::with_capacity(label.len() + 16 + 8 + 32);
    m.extend_from_slice(label);
    m.extend_from_slice(tenant.as_uuid().as_bytes());
    m.extend_from_slice(&seq.to_be_bytes());
    m.extend_from_slice(hash);
    m
}

/// Serialises a JSON object with its keys sorted at every level, without
/// copying it: the same bytes as sorting a clone and serialising that.
struct CanonicalMap<'a>(&'a Map<String, Value>);

/// A JSON value serialised as [`CanonicalMap`] serialises objects.
struct Canonical<'a>(&'a Value);

impl Serialize for CanonicalMap<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut entries: Vec<(&String, &Value)> = self.0.iter().collect();
        // serde_json's default map iterates in key order already; a map that
        // keeps insertion order (the `preserve_order` feature) is sorted here.
        if !entries.is_sorted_by(|a, b| a.0 <= b.0) {
            entries.sort_by(|a, b| a.0.cmp(b.0));
        }
        let mut map = serializer.serialize_map(Some(entries.len()))?;
        for (k, v) in entries {
            map.serialize_entry(k, &Canonical(v))?;
        }
        map.end()
    }
}

impl Serialize for Canonical<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self.0 {
            Value::Object(map) => CanonicalMap(map).serialize(serializer),
            Value::Array(items) => serializer.collect_seq(items.iter().map(Canonical)),
            other => other.serialize(serializer),
        }
    }
}

/// Walks a chain in `seq` order; see [`AuditChain::verifier`].
pub struct ChainVerifier<'a> {
    chain: &'a AuditChain,
    tenant: TenantId,
    expected_seq: u64,
    prev: [u8; 32],
    checked: u64,
    checkpoint: Option<ChainMark>,
    failure: Option<(Option<EventId>, &'static str)>,
}

impl ChainVerifier<'_> {
    /// The highest `seq` worth reading (the checkpoint's), or 0.
    pub fn last_seq(&self) -> u64 {
        self.checkpoint.as_ref().map_or(0, |c| c.seq)
    }

    /// Whether a failure was already found (stop feeding).
    pub fn failed(&self) -> bool {
        self.failure.is_some()
    }

    /// Checks the next event.
    pub fn feed(&mut self, event: &AuditEvent) {
        if self.failure.is_some() || event.seq > self.last_seq() {
            return;
        }
        let reason = if event.seq != self.expected_seq {
            Some("an event before this one is missing")
        } else if event.prev_hash != self.prev {
            Some("this event does not link to the one before it")
        } else if self.chain.hash(event) != event.hash {
            Some("this event was changed after it was written")
        } else {
            None
        };
        if let Some(reason) = reason {
            self.failure = Some((Some(event.id), reason));
            return;
        }
        self.prev = event.hash;
        self.expected_seq += 1;
        self.checked += 1;
    }

    /// The result, after every event up to [`last_seq`](Self::last_seq).
    pub fn finish(mut self) -> Verification {
        if self.failure.is_none() {
            match &self.checkpoint {
                None if self.expected_seq == 1 && self.checked == 0 => {}
                None => self.failure = Some((None, "the chain's checkpoint is missing")),
                Some(c) if !self.chain.mark_is_authentic(MarkKind::Checkpoint, self.tenant, c) => {
                    self.failure = Some((None, "the chain's checkpoint is not authentic"))
                }
                Some(c) if c.seq + 1 != self.expected_seq || c.hash != self.prev => {
                    self.failure = Some((None, "events at the end of the chain are missing"))
                }
                Some(_) => {}
            }
        }
        Verification {
            valid: self.failure.is_none(),
            checked: self.checked,
            first_invalid_event_id: self.failure.and_then(|f| f.0),
            reason: self.failure.map(|f| f.1),
        }
    }
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
    pub reason: Option<&'static str>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audit::Outcome;

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
        assert_eq!(r.reason, Some("events at the end of the chain are missing"));
    }

    #[test]
    fn forged_checkpoint_is_caught() {
        let (chain, tenant, events, mut head) = chain_of(3);
        head.seq = 2;
        head.hash = events[1].hash;
        let r = verify(&chain, tenant, &events[..2], head);
        assert!(!r.valid);
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
}
