//! Client credentials: a client id and a secret, belonging to one agent.

mod model;
mod service;

pub use model::*;
