//! Agents: registered programs with an email-format name unique per tenant.

mod model;
mod service;

pub use model::*;
