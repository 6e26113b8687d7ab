#![doc = include_str!("../README.md")]
//!
//! # Example
//!
//! Gets a token with client credentials and registers an agent
//! (`examples/register_agent.rs`, which the example server's tests run):
//!
//! ```no_run
#![doc = include_str!("../examples/register_agent.rs")]
//! ```
#![forbid(unsafe_code)]

mod agents;
mod audit;
mod authorization;
mod client;
mod error;
mod federation;
mod ids;
mod jwt;
mod marketplace;
mod meta;
mod oauth;
pub mod ops;
mod page;
mod tenants;

pub use agents::{
    Agent, AgentFilter, AgentKey, AgentStatus, AgentUpdate, Credential, CredentialStatus, CredentialWithSecret,
    NewAgent, RegisteredAgent,
};
pub use audit::{AuditEvent, AuditFilter, FullVerification, Outcome, Verification};
pub use authorization::{
    Consent, NewOAuthClient, OAuthClient, OAuthClientUpdate, RegisteredOAuthClient, UserConsentsRevoked,
};
pub use client::{Client, ClientBuilder, ClientCredentials, RetryPolicy, Secret};
pub use error::{ApiError, Error};
pub use federation::{
    EvaluateRequest, Evaluation, ExchangeRequest, Failure, GitHubClaims, NewTrustPolicy, PolicyVerdict, TokenCheck,
    TrustPolicy,
};
pub use ids::{AgentId, CredentialId, EventId, KeyId, TenantId, TrustPolicyId};
pub use jwt::{DecodedToken, decode_unverified};
pub use marketplace::{MarketplaceAgent, MarketplaceQuery};
pub use meta::{Alive, CheckResult, HealthReport};
pub use oauth::{Audience, Introspection, Jwk, Jwks, ServerMetadata, TokenResponse};
pub use page::Page;
/// The reqwest this client is built on, for [`ClientBuilder::http_client`].
pub use reqwest;
pub use tenants::{Checkout, Subscription, Tenant, TenantCreated, Tier, TierLimits, Usage, UsagePeriod};
