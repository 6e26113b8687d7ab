//! Classifies sqlx errors into the core's store error kinds.

use sentryagent_core::{StoreError, StoreErrorKind};

/// Maps a sqlx error, keeping it as the source.
pub(crate) fn store_error(err: sqlx::Error) -> StoreError {
    let kind = match &err {
        sqlx::Error::Database(db) if db.is_unique_violation() => StoreErrorKind::Conflict,
        // Class 08: connection exceptions; 57P0x: the server is shutting down
        // or starting; 53300: too many connections.
        sqlx::Error::Database(db)
            if db
                .code()
                .is_some_and(|c| c.starts_with("08") || c.starts_with("57P") || c == "53300") =>
        {
            StoreErrorKind::Unavailable
        }
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
