//! Client credentials belonging to one agent: a client id with a secret, or
//! a client id with a public key (`private_key_jwt`).

mod key;
mod model;
mod service;

pub use key::{CLIENT_KEY_ALGORITHMS, ClientKey};
pub use model::*;
