//! The unit tests of the modules the example servers include.
//!
//! `cargo test` builds the examples but runs no test inside them (and
//! `test = true` on an example would build it as a test harness only, with
//! no server binary for the other suites to start), so the modules are
//! compiled here as well. What only the servers call is unused here.

#[allow(dead_code)]
#[path = "../demo_sign_in.rs"]
mod demo_sign_in;

#[allow(dead_code)]
#[path = "../log_writer.rs"]
mod log_writer;
