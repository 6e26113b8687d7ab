//! The canonical form of an event: the exact bytes its hash is computed
//! over, stored beside its fields when it is appended, so verification
//! hashes them instead of serialising the fields again.
//!
//! # What verifying an event with stored bytes proves
//!
//! An event is read for verification as a [`ChainLink`]: its place (`seq`,
//! `prev_hash`, `hash`) and either its stored canonical bytes
//! ([`LinkBody::Stored`]) or, for an event stored without them (written
//! before they were kept, PostgreSQL's migration 0013), its fields
//! ([`LinkBody::Fields`]), serialised again to be hashed as before.
//!
//! Hashing the stored bytes proves that they are the bytes written: they
//! are bound to the chain like the fields were (`prev_hash`, tenant and
//! `seq` go into the hash, and the checkpoint's MAC pins the head). But the
//! API serves an event's *fields* (its columns), not the bytes, so the
//! bytes proving intact is not enough: someone who edits only the columns
//! would go unseen. So the store also says whether the fields say what the
//! bytes say ([`LinkBody::Stored::fields_match`]), and an event whose
//! fields do not is reported changed:
//! - PostgreSQL compares them in the verification query itself: the bytes
//!   read as `jsonb` must equal the `jsonb` object built from the columns.
//!   That is PostgreSQL's work, not this process's; `jsonb` equality is the
//!   equality of JSON values (object keys in any order, numbers by value),
//!   so a column can differ from the bytes only in how a value is written
//!   (`1` and `1.0`), never in what it says. Bytes that are not JSON at all
//!   make the store compare the page here instead ([`fields_match`]).
//! - The in-memory store needs no comparison: its fields and bytes are
//!   written together and never apart, and process memory has no other
//!   writer (whoever could edit it could read the server key), so it reads
//!   its events with `fields_match` set; its test hooks that edit an event's
//!   fields write its bytes again from them, an edit the hash catches.
//!
//! So every edit is caught: of the columns only (they no longer match the
//! bytes), of the bytes only (their hash no longer matches), of both alike
//! (the hash, which only the server can chain and checkpoint). Deleting the
//! bytes gains nothing: the event is then hashed from its fields, as every
//! event was before.

use std::io;

use bytes::Bytes;
use serde::Serialize;
use serde::ser::{SerializeMap as _, Serializer};
use serde_json::{Map, Value};

use super::AuditEvent;
use crate::EventId;

/// One stored event as verification reads it (see the module).
#[derive(Clone, Debug, PartialEq)]
pub struct ChainLink {
    /// The event's id, as stored.
    pub id: EventId,
    /// Its place in the chain.
    pub seq: u64,
    /// The hash of the event before it.
    pub prev_hash: [u8; 32],
    /// Its hash.
    pub hash: [u8; 32],
    /// What its hash is checked against.
    pub body: LinkBody,
}

/// What an event's hash is recomputed from.
#[derive(Clone, Debug, PartialEq)]
pub enum LinkBody {
    /// The canonical bytes stored when it was appended.
    Stored {
        /// The bytes: hashed as they are.
        canonical: Bytes,
        /// Whether the event's stored fields (what the API serves) say what
        /// the bytes say, as the store found. `false` makes the event
        /// invalid even when its bytes hash right.
        fields_match: bool,
    },
    /// Its fields, for an event stored without its canonical bytes:
    /// serialised again to be hashed.
    Fields(Box<AuditEvent>),
}

impl From<AuditEvent> for ChainLink {
    fn from(event: AuditEvent) -> Self {
        Self {
            id: event.id,
            seq: event.seq,
            prev_hash: event.prev_hash,
            hash: event.hash,
            body: LinkBody::Fields(Box::new(event)),
        }
    }
}

impl ChainLink {
    /// `event` read with its stored canonical bytes: checked here against
    /// its fields ([`fields_match`]). For a store that reads the fields as
    /// Rust values and cannot compare them itself.
    pub fn checked(event: &AuditEvent, canonical: Bytes) -> Self {
        Self {
            id: event.id,
            seq: event.seq,
            prev_hash: event.prev_hash,
            hash: event.hash,
            body: LinkBody::Stored {
                fields_match: fields_match(event, &canonical),
                canonical,
            },
        }
    }
}

/// The hashed fields of an event, in the order and form they are hashed.
/// Ids and the address serialise as their display strings, as they were
/// hashed when they were first turned into `String`s.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Fields<'a> {
    id: EventId,
    agent_id: Option<crate::AgentId>,
    actor: &'a str,
    action: &'a str,
    outcome: &'a str,
    ip: Option<std::net::IpAddr>,
    at_micros: i128,
    details: CanonicalMap<'a>,
}

impl<'a> Fields<'a> {
    fn of(event: &'a AuditEvent) -> Self {
        Fields {
            id: event.id,
            agent_id: event.agent_id,
            actor: &event.actor,
            action: &event.action,
            outcome: event.outcome.as_str(),
            ip: event.ip,
            at_micros: event.at.unix_timestamp_nanos() / 1_000,
            details: CanonicalMap(&event.details),
        }
    }
}

/// Appends `event`'s canonical form to `out`: its fields as JSON, object
/// keys sorted at every level.
pub fn write_canonical(event: &AuditEvent, out: &mut Vec<u8>) {
    // Serialising a struct of strings and JSON values into memory cannot fail.
    let _ = serde_json::to_writer(out, &Fields::of(event));
}

/// Whether `event`'s fields serialise to exactly `canonical`: compared as
/// they are serialised, without a buffer, stopping at the first difference.
pub fn fields_match(event: &AuditEvent, canonical: &[u8]) -> bool {
    let mut compare = Compare { rest: canonical };
    serde_json::to_writer(&mut compare, &Fields::of(event)).is_ok() && compare.rest.is_empty()
}

/// A writer that only checks that what is written is the next bytes of `rest`.
struct Compare<'a> {
    rest: &'a [u8],
}

impl io::Write for Compare<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self.rest.strip_prefix(buf) {
            Some(rest) => {
                self.rest = rest;
                Ok(buf.len())
            }
            None => Err(io::Error::other("differs")),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// Serialises a JSON object with its keys sorted at every level, without
/// copying it: the same bytes as sorting a clone and serialising that.
pub(crate) struct CanonicalMap<'a>(pub(crate) &'a Map<String, Value>);

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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audit::{AuditChain, NewAuditEvent, Outcome};
    use crate::secret::ServerKey;

    fn event() -> AuditEvent {
        let chain = AuditChain::new(ServerKey::random());
        let tenant = crate::TenantId::new();
        chain.seal(
            tenant,
            &chain.genesis(tenant),
            NewAuditEvent::new("token.issued", Outcome::Success, "sa_x")
                .agent(crate::AgentId::new())
                .ip(Some([203, 0, 113, 7].into()))
                .detail("scope", "a b")
                .detail("nested", serde_json::json!({"z": 1, "a": [1.5, null]})),
        )
    }

    #[test]
    fn fields_match_their_canonical_form_and_nothing_else() {
        let e = event();
        let mut canonical = Vec::new();
        write_canonical(&e, &mut canonical);
        assert!(fields_match(&e, &canonical));
        assert!(!fields_match(&e, &canonical[..canonical.len() - 1]), "shorter");
        let mut longer = canonical.clone();
        longer.push(b' ');
        assert!(!fields_match(&e, &longer), "longer");
        let mut edited = e.clone();
        edited.details.insert("scope".into(), "admin".into());
        assert!(!fields_match(&edited, &canonical), "an edited detail");
        let mut edited = e.clone();
        edited.actor = "someone".into();
        assert!(!fields_match(&edited, &canonical), "an edited actor");
        assert!(!fields_match(&e, b"\xff\xfe"), "not even UTF-8");
    }
}
