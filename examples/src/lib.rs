//! The bundled example servers (see `server.rs`); this crate's docs are the
//! project's README, so its code blocks are compiled as doctests.
#![doc = include_str!("../../README.md")]
