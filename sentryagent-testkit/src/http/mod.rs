//! The HTTP cases, one module per area. Each case starts its own server.

pub mod agents;
pub mod audit;
pub mod authorize;
pub mod credentials;
pub mod dids;
pub mod discovery;
pub mod errors;
pub mod health;
pub mod isolation;
pub mod limits;
pub mod marketplace;
pub mod oauth_clients;
pub mod observability;
pub mod oidc;
pub mod openapi;
pub mod permissions;
pub mod registration;
pub mod resources;
pub mod secretless;
pub mod tiers;
pub mod tokens;
pub mod user_tokens;
