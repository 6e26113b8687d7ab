//! Classifies sqlx errors into the core's store error kinds.

use sentryagent_core::{StoreError, StoreErrorKind};

/// Maps a sqlx error, keeping it as the source.
pub(crate) fn store_error(err: sqlx::Error) -> StoreError {
    let kind = match &err {
        sqlx::Error::Database(db) if db.is_unique_violation() => StoreErrorKind::Conflict,
        sqlx::Error::Database(db) if db.code().is_some_and(|c| transient(&c)) => StoreErrorKind::Unavailable,
        sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::Protocol(_)
        | sqlx::Error::WorkerCrashed => StoreErrorKind::Unavailable,
        sqlx::Error::ColumnDecode { .. } | sqlx::Error::Decode(_) | sqlx::Error::ColumnNotFound(_) => {
            StoreErrorKind::Corrupt
        }
        _ => StoreErrorKind::Other,
    };
    StoreError::new(kind, "PostgreSQL").with_source(err)
}

/// SQLSTATEs after which the same request may succeed later: the database
/// is busy, locked or restarting, not the request wrong. Each answers 503
/// with `Retry-After`, never 500.
fn transient(code: &str) -> bool {
    // 08: connection exceptions; 53: insufficient resources (too many
    // connections, out of memory, disk full); 57P0x: the server is shutting
    // down or starting.
    code.starts_with("08") || code.starts_with("53") || code.starts_with("57P")
        // statement_timeout (or a cancel), lock_timeout
        || code == "57014" || code == "55P03"
        // serialization failure, deadlock: the other transaction won this time
        || code == "40001" || code == "40P01"
        // a failover left us on a read-only standby
        || code == "25006"
}

/// A stored value that does not parse.
pub(crate) fn corrupt(what: &'static str) -> StoreError {
    StoreError::new(StoreErrorKind::Corrupt, what)
}

pub(crate) trait ResultExt<T> {
    fn store(self) -> Result<T, StoreError>;
}

impl<T> ResultExt<T> for Result<T, sqlx::Error> {
    fn store(self) -> Result<T, StoreError> {
        self.map_err(store_error)
    }
}

#[cfg(test)]
mod tests {
    use super::transient;

    #[test]
    fn busy_locked_and_restarting_databases_are_transient() {
        for code in [
            "57014", "55P03", "40001", "40P01", "53300", "53100", "57P01", "08006", "25006",
        ] {
            assert!(transient(code), "{code}");
        }
        for code in ["23505", "42P01", "22P02", "42501"] {
            assert!(!transient(code), "{code}");
        }
    }
}
