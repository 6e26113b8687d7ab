//! Tenants: the unit of isolation, and their tiers.

mod model;
mod service;

pub use crate::agent::ADMIN_AGENT_NAME;
pub use model::*;
