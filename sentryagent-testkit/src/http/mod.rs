//! The HTTP cases, one module per area. Each case starts its own server.

pub mod agents;
pub mod audit;
pub mod credentials;
pub mod dids;
pub mod errors;
pub mod health;
pub mod isolation;
pub mod limits;
pub mod marketplace;
pub mod observability;
pub mod oidc;
pub mod openapi;
pub mod permissions;
pub mod tiers;
pub mod tokens;
