//! `did:web` identifiers for agents, their DID documents, and the public keys
//! a tenant registers for an agent (its DID's verification methods).
//!
//! Every agent's DID is `did:web:<host>[%3A<port>][:<path>]:agents:<agentId>`
//! under the issuer (the public base URL). `did:web` resolves it to
//! `https://<host>[:<port>][/<path>]/agents/<agentId>/did.json`, which is the
//! route `GET /agents/{agentId}/did.json` at the issuer's root: the route is
//! one of the documents a host serves at its root as well as under the API's
//! mount point ([`Route::well_known`](crate::http::Route::well_known)).
//!
//! # The document
//!
//! A W3C DID Core 1.0 document in JSON-LD (`application/did+ld+json`):
//! `@context`, `id`, `controller` (the DID itself: the IdP manages the
//! document on the agent's behalf, and naming the tenant would publish its
//! internal id), a `service` entry of type `OAuth2AuthorizationServer` whose
//! endpoint is the issuer (its RFC 8414 metadata is at the issuer's
//! `/.well-known/oauth-authorization-server`), and, for each registered key,
//! a `JsonWebKey2020` verification method referenced from `authentication`
//! and `assertionMethod`.
//!
//! Keys are published only while the agent may act: a suspended agent's
//! document keeps its id, controller and service but lists no verification
//! methods until it is reactivated.
//!
//! # Deactivation
//!
//! A decommissioned agent's document does not vanish: it is served with
//! `"deactivated": true`, the property name DID Resolution uses in its
//! document metadata, and without verification methods or services. We put
//! the flag in the document rather than wrapping the document in a resolution
//! result (`{didDocument, didDocumentMetadata}`) because a `did:web` resolver
//! reads `did.json` as the document itself and checks its `id`: a wrapper
//! would make every resolver fail, while an extra property is one DID Core
//! lets consumers ignore. A resolver that does ignore it still finds no key
//! to verify anything with.

mod model;
mod service;

pub use model::*;
