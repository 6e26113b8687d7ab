//! A verification page packed by PostgreSQL into one `bytea`: what
//! verification needs of each event, one after the other, decoded here by
//! position. One row per page instead of one per event: the per-row work of
//! the driver (a message, its column offsets, a row, each column's type
//! checked and decoded, the bytes copied into their own allocation) was most
//! of this process's CPU per event after hashing. The canonical bytes are
//! copied once per page and handed out as slices of it.
//!
//! Each event, in `seq` order: `seq` (8 bytes, big-endian), `id` (16), the
//! length of `prev_hash` (4) and `prev_hash`, the length of `hash` (4) and
//! `hash`, `fields_match` (1: 0 or 1), the length of `canonical` (4) and
//! `canonical`. Lengths are sent rather than assumed so that a row edited to
//! another length is reported as corrupt, as the row-by-row read reports it.
//!
//! Only events stored with their canonical bytes can be packed: with
//! `canonical` NULL the whole entry is NULL, which `string_agg` skips. The
//! query also counts the page's events and those with bytes; when they
//! differ, the page is read row by row instead ([`super::AUDIT_LINKS`]).

use bytes::{Buf, Bytes};
use sentryagent_core::audit::{ChainLink, LinkBody};
use sentryagent_core::{EventId, StoreResult};
use uuid::Uuid;

use crate::error::corrupt;

/// The page after `$2` of tenant `$1`, at most `$3` events: how many there
/// are, how many have their canonical bytes, and those packed (see the
/// module). `fields_match` as in [`super::AUDIT_LINKS`]: PostgreSQL's own
/// comparison of the bytes, read as `jsonb`, with the columns.
pub(super) const AUDIT_PAGE: &str = concat!(
    "SELECT count(*), count(canonical), \
       string_agg(int8send(seq) || uuid_send(id) || int4send(length(prev_hash)) || prev_hash \
           || int4send(length(hash)) || hash \
           || CASE WHEN fields_match THEN '\\x01'::bytea ELSE '\\x00'::bytea END \
           || int4send(length(canonical)) || canonical, ''::bytea ORDER BY seq) \
     FROM (SELECT seq, id, prev_hash, hash, canonical, ",
    fields_match!(),
    " AS fields_match FROM ",
    canonical_json!(),
    " WHERE tenant_id = $1 AND seq > $2 ORDER BY seq LIMIT $3) page"
);

/// A page's row, owning the packed bytes (its third column, checked to be
/// a `bytea` or NULL): the links' canonical bytes are slices of the row as
/// it arrived, where a copy of a 600 KB page was 4 % of a verification's CPU.
pub(super) struct PackedRow(pub(super) sqlx::postgres::PgRow);

impl AsRef<[u8]> for PackedRow {
    fn as_ref(&self) -> &[u8] {
        use sqlx::Row as _;
        // NULL (an empty page) reads as no bytes.
        self.0
            .try_get_raw(2)
            .ok()
            .and_then(|value| value.as_bytes().ok())
            .unwrap_or_default()
    }
}

/// The `events` links packed in `page` (see the module), each one's
/// canonical bytes a slice of it.
pub(super) fn links_from_page(mut page: Bytes, events: usize) -> StoreResult<Vec<ChainLink>> {
    let mut links = Vec::with_capacity(events);
    while page.has_remaining() {
        links.push(link(&mut page)?);
    }
    if links.len() != events {
        return Err(corrupt("a packed audit page does not hold its events"));
    }
    Ok(links)
}

fn link(page: &mut Bytes) -> StoreResult<ChainLink> {
    need(page, 8 + 16)?;
    let seq = u64::try_from(page.get_i64()).map_err(|_| corrupt("negative audit seq"))?;
    let id = Uuid::from_u128(page.get_u128());
    let prev_hash = hash(page)?;
    let hash = hash(page)?;
    need(page, 1)?;
    let fields_match = match page.get_u8() {
        0 => false,
        1 => true,
        _ => return Err(corrupt("a packed audit page is malformed")),
    };
    let n = length(page)?;
    need(page, n)?;
    let canonical = page.split_to(n);
    Ok(ChainLink {
        id: EventId::from_uuid(id),
        seq,
        prev_hash,
        hash,
        body: LinkBody::Stored {
            canonical,
            fields_match,
        },
    })
}

/// An error unless `page` holds `n` more bytes.
fn need(page: &Bytes, n: usize) -> StoreResult<()> {
    if page.remaining() < n {
        return Err(corrupt("a packed audit page is cut short"));
    }
    Ok(())
}

/// The length (4 bytes, big-endian) of what comes next.
fn length(page: &mut Bytes) -> StoreResult<usize> {
    need(page, 4)?;
    usize::try_from(page.get_u32()).map_err(|_| corrupt("a packed audit length"))
}

/// A hash with its length, which must be 32.
fn hash(page: &mut Bytes) -> StoreResult<[u8; 32]> {
    if length(page)? != 32 {
        return Err(corrupt("an audit hash is not 32 bytes"));
    }
    need(page, 32)?;
    let mut hash = [0; 32];
    page.copy_to_slice(&mut hash);
    Ok(hash)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn packed(seq: i64, prev: &[u8], hash: &[u8], fields_match: u8, canonical: &[u8]) -> Vec<u8> {
        let mut out = seq.to_be_bytes().to_vec();
        out.extend_from_slice(Uuid::from_u128(7).as_bytes());
        for part in [prev, hash] {
            out.extend_from_slice(&(part.len() as u32).to_be_bytes());
            out.extend_from_slice(part);
        }
        out.push(fields_match);
        out.extend_from_slice(&(canonical.len() as u32).to_be_bytes());
        out.extend_from_slice(canonical);
        out
    }

    #[test]
    fn a_page_decodes_and_anything_else_is_corrupt() {
        let mut page = packed(1, &[0; 32], &[1; 32], 1, b"{\"a\":1}");
        page.extend(packed(2, &[1; 32], &[2; 32], 0, b""));
        let links = links_from_page(Bytes::from(page.clone()), 2).expect("decodes");
        assert_eq!(links.len(), 2);
        assert_eq!((links[1].seq, links[1].prev_hash, links[1].hash), (2, [1; 32], [2; 32]));
        assert_eq!(links[0].id, EventId::from_uuid(Uuid::from_u128(7)));
        assert_eq!(
            links[0].body,
            LinkBody::Stored {
                canonical: Bytes::from_static(b"{\"a\":1}"),
                fields_match: true
            }
        );
        assert!(matches!(
            links[1].body,
            LinkBody::Stored {
                fields_match: false,
                ..
            }
        ));

        assert!(
            links_from_page(Bytes::from(page.clone()), 3).is_err(),
            "an event missing"
        );
        assert!(
            links_from_page(Bytes::from(page[..page.len() - 1].to_vec()), 2).is_err(),
            "cut short"
        );
        for bad in [
            packed(-1, &[0; 32], &[1; 32], 1, b"{}"),
            packed(1, &[0; 31], &[1; 32], 1, b"{}"),
            packed(1, &[0; 32], &[1; 33], 1, b"{}"),
            packed(1, &[0; 32], &[1; 32], 2, b"{}"),
        ] {
            assert!(links_from_page(Bytes::from(bad), 1).is_err());
        }
        assert_eq!(links_from_page(Bytes::new(), 0).expect("empty"), []);
    }
}
