//! Rate limits: a quota per group, enforced in the core so every adapter
//! gets them. What a group counts, and under which key, follows one rule:
//! before authentication only *refusals* are counted, per source address
//! (never all traffic per address: fleets of agents share NATs and proxies);
//! after authentication requests are counted per authenticated client, with
//! a per-tenant ceiling. Unauthenticated routes count per address.
//!
//! | group | counts | key |
//! | --- | --- | --- |
//! | [`Token`](RouteGroup::Token) | token requests whose client authenticated (every grant) | client id |
//! | [`TokenFailures`](RouteGroup::TokenFailures) | failed client authentications at the token endpoint; over it, the address gets 429 before its secret is checked | address |
//! | [`ClientFailures`](RouteGroup::ClientFailures) | failed authentications of one existing client, from anywhere; over it, further failures get 429, the right secret never | client id |
//! | [`RefusedTokens`](RouteGroup::RefusedTokens) | bearer tokens refused on authenticated routes; over it, 429 instead of 401/403 | address |
//! | [`Management`](RouteGroup::Management) | authenticated calls | agent |
//! | [`AuditVerify`](RouteGroup::AuditVerify) | `GET /audit/verify` (a full verification reads up to 50,000 events a call) | tenant |
//! | [`Tenant`](RouteGroup::Tenant) | every authenticated call of a tenant's agents: the ceiling | tenant |
//! | [`OAuth`](RouteGroup::OAuth), [`Oidc`](RouteGroup::Oidc), [`Signup`](RouteGroup::Signup), [`Registration`](RouteGroup::Registration), [`Authorize`](RouteGroup::Authorize), [`Public`](RouteGroup::Public) | requests | address |
//! | [`AuthorizeClient`](RouteGroup::AuthorizeClient) | authorization requests for a known client | tenant and client id |
//! | [`ClientMetadataHost`](RouteGroup::ClientMetadataHost) | fetches of Client ID Metadata Documents (a cached document costs none) | host of the client id URL |
//! | [`ClientMetadataTenant`](RouteGroup::ClientMetadataTenant) | the same fetches | tenant |
//!
//! An address is an IPv4 address or an IPv6 /64. State exists only for
//! addresses, authenticated principals and existing clients, never for a
//! client id someone makes up (a metadata document's host is counted only
//! once its URL passed every check, and only when it is fetched), and the in-process limiter holds at most a
//! fixed number of keys whatever arrives.
//!
//! [`LocalRateLimiter`] is the default for one instance; a shared backend
//! (Redis) implements [`RateLimiter`] so many instances enforce one limit.
//! When the shared backend fails, the core falls back to a local limiter
//! with the same quota (bounded per instance, never unlimited) unless the
//! group is set to fail closed (503).

mod model;
mod service;

pub use model::*;
