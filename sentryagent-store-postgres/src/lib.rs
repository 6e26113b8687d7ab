//! Placeholder: the PostgreSQL store is being written.
