//! Billing: a provider trait (Stripe is `sentryagent-billing-stripe`), the
//! events it reports, and the tenant's subscription record they drive.
//!
//! The provider only translates: it creates checkout sessions and turns a
//! signed webhook into a [`BillingEvent`]. What an event does to a
//! subscription (each event once, never an older state over a newer one) is
//! decided in the core.

mod model;
mod service;

pub use model::*;
