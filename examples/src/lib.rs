//! Example servers; see `server.rs`.
