//! The bundled example servers (see `server.rs`) and their typed
//! configuration ([`config`]); this crate's docs are the project's README,
//! so its code blocks are compiled as doctests.
#![doc = include_str!("../../README.md")]

pub mod config;
