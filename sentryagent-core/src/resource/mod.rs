//! Resource policies: which tokens a host's own routes accept.
//!
//! A host that protects its own API (or MCP endpoint) with SentryAgent's
//! tokens says, once per resource, what a token must be to pass:
//!
//! - the resource's identifier, which is the audience (`aud`) its tokens
//!   must carry; clients ask for it with `resource` (or `audience`) at the
//!   token endpoint;
//! - the tenants whose tokens it accepts: one, a list, or explicitly any
//!   tenant of this IdP ([`ResourcePolicy::any_tenant`]), which includes
//!   tenants that signed up themselves when sign-up is open;
//! - optionally the scopes every call needs.
//!
//! A policy accepts no tenant until it is told one, so forgetting to say
//! refuses every token rather than admitting strangers. The IdP keeps the
//! policies ([`SentryAgentBuilder::resource`](crate::SentryAgentBuilder::resource),
//! or [`SentryAgent::protect`](crate::SentryAgent::protect) once tenants
//! exist); the adapters' extractors check a request against the policy of
//! the resource their route names, or against the policy whose identifier
//! is the IdP's own audience.
//!
//! Each policy also publishes its protected resource metadata (RFC 9728,
//! see [`ProtectedResourceMetadata`]; where it lives follows from the
//! identifier's path), and the extractors answer a refusal with the
//! challenge that points at it ([`Refusal`]).
//!
//! ```
//! # async fn demo() -> Result<(), sentryagent_core::Error> {
//! use sentryagent_core::SentryAgent;
//! use sentryagent_core::resource::ResourcePolicy;
//!
//! let idp = SentryAgent::builder().issuer("https://idp.example.com").build().await?;
//! let acme = idp.create_tenant("Acme").await?;
//! idp.protect(
//!     ResourcePolicy::new("https://api.example.com")
//!         .tenant(acme.tenant.id)
//!         .require_scope("reports:read"),
//! );
//! # Ok(()) }
//! ```

mod challenge;
mod metadata;
mod model;
mod service;

pub use challenge::Refusal;
pub use metadata::{ProtectedResourceMetadata, WELL_KNOWN, metadata_url};
pub use model::*;
pub use service::ScopeChallenge;
