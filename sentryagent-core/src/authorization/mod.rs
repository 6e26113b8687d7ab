//! The authorization-code flow's foundation (OAuth 2.1 with PKCE, for MCP
//! clients acting for a person): its durable records, the pure rules they
//! are checked with, and the host's part.
//!
//! - [`OAuthClient`]s belong to one tenant: registered by it (confidential
//!   or public), known by their Client ID Metadata Document
//!   ([`metadata_document`]), or registered dynamically.
//! - An [`AuthorizationCode`] is redeemed once, across instances, into its
//!   [`Grant`]; a second redemption revokes the grant.
//! - A grant's [`RefreshToken`]s form one family, rotated on every use; a
//!   rotated token used again revokes the family.
//! - [`Consent`]s are remembered per user, client, resource and scopes.
//! - People consent to the host's scopes only
//!   ([`check_consentable_scopes`]); PKCE is `S256` only ([`pkce`]);
//!   redirect URIs match exactly, loopback ones with any port
//!   ([`redirect_uri_matches`]).
//! - The authorization endpoint asks the host who is signed in, checks the
//!   request, and shows the consent page ([`ConsentPage`]) or finds the
//!   consent remembered, then redirects with a code.
//! - The host says who is signed in ([`HostUsers`]); the tokens speak for
//!   that person through the client
//!   ([`UserIdentity`](crate::token::UserIdentity)).
//!
//! - The tenant registers clients and withdraws consents over the API
//!   (`/oauth-clients`, `/consents`); the host withdraws everything of one
//!   person in Rust ([`SentryAgent::revoke_user`](crate::SentryAgent::revoke_user)).
//!
//! The records live behind [`OAuthClientStore`](crate::store::OAuthClientStore)
//! and [`AuthorizationStore`](crate::store::AuthorizationStore).

mod client_auth;
mod client_metadata;
mod code;
mod consent_token;
mod dynamic;
mod endpoint;
mod exchange;
mod fetch;
mod host;
mod host_client;
pub mod metadata_document;
mod model;
mod page;
pub mod pkce;
mod redirect;
mod registration;
mod request;
mod resolve;
mod service;

pub use client_metadata::{ClientMetadataError, MAX_METADATA_DOCUMENT_CLIENTS_PER_TENANT};
pub use code::{Approval, IssuedCode};
pub use dynamic::{DynamicRegistration, MAX_DYNAMIC_CLIENTS_PER_TENANT, RegistrationError};
pub(crate) use endpoint::{AuthorizeAnswer, page as error_answer};
pub use fetch::{
    ClientMetadataFetcher, DocumentFetchError, FetchedDocument, MAX_METADATA_CACHE, MIN_METADATA_CACHE,
    http_cache_lifetime,
};
pub use host::{HostError, HostUser, HostUsers, SignIn, SignInRequest};
pub use model::*;
pub use page::{ConsentPage, ConsentView, DefaultConsentPage, escape_html};
pub use redirect::{MAX_REDIRECT_URI_LEN, RedirectUriError, check_redirect_uri, redirect_uri_matches};
pub use registration::{
    MAX_CLIENT_NAME_CHARS, MAX_OAUTH_CLIENTS_PER_TENANT, MAX_REDIRECT_URIS, NewOAuthClient, OAUTH_CLIENT_ID_PREFIX,
    OAuthClientPatch, RegisteredKind, generate_oauth_client_id,
};
pub use service::{AuthorizationPrune, UserRevocation};
