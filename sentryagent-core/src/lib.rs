#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]

pub mod agent;
pub mod audit;
pub mod authorization;
mod background;
pub mod billing;
mod builder;
pub mod client_ip;
pub mod credential;
pub mod did;
mod error;
pub mod federation;
pub mod health;
pub mod http;
mod ids;
pub mod marketplace;
pub mod memory;
pub mod metering;
pub mod observe;
pub mod permission;
pub mod ratelimit;
pub mod resource;
pub mod scope;
pub mod secret;
mod sentry;
mod settings;
pub mod store;
pub mod tenant;
pub mod tier;
pub mod time;
pub mod token;

/// The address-range crate of [`SentryAgentBuilder::trusted_proxy`], re-exported so
/// hosts build against the same version.
pub use ipnet;

pub use background::BackgroundTask;
pub use builder::SentryAgentBuilder;
pub use error::{Error, ErrorCode, FieldError, OAuthError, OAuthErrorCode, StoreError, StoreErrorKind, StoreResult};
pub use ids::{AgentId, ConsentId, CredentialId, EventId, GrantId, TenantId, TokenId, TrustPolicyId};
pub use memory::MemoryStore;
pub use sentry::{Caller, SentryAgent};
pub use settings::{AuthorizationSettings, BackgroundSettings, Settings, Signup};
pub use token::{AgentIdentity, Principal, UserIdentity};
