//! The public marketplace: a read-only, cross-tenant directory of agents.
//!
//! Agents are listed by default (auto-publish, the seed's recommendation for
//! a first version) and a tenant opts one out with its `listed` flag. Only
//! active agents are listed; suspended and decommissioned ones, and the
//! agents the IdP creates in every tenant (its admin, the OIDC bootstrap
//! agent), never are. A listing shows public fields
//! only: name, description, capabilities, DID, the tenant's display name
//! and the registration time. Stores return nothing else
//! ([`MarketplaceAgent`]), so credentials, metadata and scopes never leave
//! them on this path.
//!
//! Search (`q`): each whitespace-separated word must occur, case-insensitively,
//! in the name or in the description (a literal substring: `%` and `_` are not
//! patterns). `capability` keeps agents having exactly that label. Pages are
//! in agent id order (UUID v7, so registration order) after a cursor, which
//! keeps them stable while agents are added: new agents sort after every
//! existing one.

mod model;
mod service;

pub use crate::agent::{BUILT_IN_AGENT_NAMES, is_built_in};
pub use model::*;
