//! Time helpers. Every stored instant is truncated to whole microseconds,
//! the precision of PostgreSQL's `timestamptz`, so a record read back from
//! any store is equal to the one written (the audit chain hashes instants).

use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

/// Now, in UTC, truncated to microseconds.
pub fn now() -> OffsetDateTime {
    truncate(OffsetDateTime::now_utc())
}

/// `t` truncated to microseconds.
pub fn truncate(t: OffsetDateTime) -> OffsetDateTime {
    let micros = t.microsecond();
    t.replace_nanosecond(micros * 1_000).unwrap_or(t)
}

/// Parses an RFC 3339 instant.
pub fn parse_rfc3339(s: &str) -> Option<OffsetDateTime> {
    OffsetDateTime::parse(s, &Rfc3339).ok()
}

/// Serde helpers writing instants as RFC 3339 UTC strings.
pub mod rfc3339 {
    pub use time::serde::rfc3339::*;

    /// The same for `Option`.
    pub mod option {
        pub use time::serde::rfc3339::option::*;
    }
}
