//! The route table and its handlers, one module per area.

mod agents;
mod audit;
mod billing;
mod did;
mod marketplace;
mod meta;
mod oauth;
mod oidc;
mod params;
mod tenants;

use http::Method;

use super::{Auth, Ctx, Response, Route};
use crate::Error;
use crate::ratelimit::RouteGroup;

/// Turns a handler's result into a response.
trait Reply {
    fn reply(self) -> Response;
}

impl<E: Into<Response>> Reply for Result<Response, E> {
    fn reply(self) -> Response {
        self.unwrap_or_else(Into::into)
    }
}

macro_rules! route {
    // A management route: the core verifies the bearer token first and hands
    // the handler the caller.
    (bearer $group:ident $method:ident $path:literal, $op:literal, $handler:path) => {
        Route {
            method: Method::$method,
            path: $path,
            operation_id: $op,
            well_known: false,
            auth: Auth::Bearer,
            group: RouteGroup::$group,
            rate_limited: true,
            handler: |sa, req, ctx| {
                Box::pin(async move {
                    match ctx {
                        Ctx::Caller(caller) => Reply::reply($handler(sa, req, caller).await),
                        Ctx::Anonymous(_) => Error::unauthorized("a bearer access token is required").into(),
                    }
                })
            },
        }
    };
    // A route that authenticates on its own terms (or not at all).
    (open $group:ident $method:ident $path:literal, $op:literal, $handler:path) => {
        route!(@open $group $method $path, $op, $handler, false, true)
    };
    (well_known $method:ident $path:literal, $op:literal, $handler:path) => {
        route!(@open Public $method $path, $op, $handler, true, true)
    };
    // An orchestrator's probe: public, and never rate limited.
    (probe $method:ident $path:literal, $op:literal, $handler:path) => {
        route!(@open Public $method $path, $op, $handler, false, false)
    };
    (@open $group:ident $method:ident $path:literal, $op:literal, $handler:path, $wk:expr, $limited:expr) => {
        Route {
            method: Method::$method,
            path: $path,
            operation_id: $op,
            well_known: $wk,
            auth: Auth::None,
            group: RouteGroup::$group,
            rate_limited: $limited,
            handler: |sa, req, ctx| Box::pin(async move { Reply::reply($handler(sa, req, ctx.ip()).await) }),
        }
    };
}

/// Every operation, as the handlers describe them; `super::openapi` adds
/// what the route layer does.
#[derive(utoipa::OpenApi)]
#[openapi(
    paths(
        tenants::create, tenants::me,
        agents::register, agents::list, agents::get, agents::update, agents::decommission,
        agents::create_credential, agents::list_credentials, agents::rotate_credential, agents::revoke_credential,
        oauth::token, oauth::introspect, oauth::revoke,
        meta::jwks, meta::oauth_metadata, meta::openid_configuration, meta::openapi,
        did::add_key, did::list_keys, did::remove_key, did::document,
        marketplace::list, marketplace::get,
        audit::query, audit::verify, audit::checkpoint, audit::keys,
        billing::tiers, billing::usage, billing::checkout, billing::subscription, billing::webhook,
        oidc::create, oidc::list, oidc::evaluate, oidc::get, oidc::delete, oidc::token,
        meta::health, meta::health_detailed, meta::health_live, meta::health_ready,
    ),
    components(schemas(crate::OAuthError, super::openapi::ErrorBody)),
    tags(
        (name = "Tenants", description = "Sign-up and the caller's tenant."),
        (name = "Agents", description = "The agent registry."),
        (name = "Credentials", description = "Client credentials of an agent: generate, list, rotate, revoke."),
        (name = "OAuth 2.0", description = "The client-credentials grant, introspection (RFC 7662) and revocation (RFC 7009)."),
        (name = "Discovery", description = "JWKS, RFC 8414 and OpenID metadata, and this document."),
        (name = "DIDs", description = "Agents' `did:web` DID documents and public keys."),
        (name = "Marketplace", description = "The public directory of listed agents."),
        (name = "Audit", description = "The tamper-evident audit log."),
        (name = "Billing", description = "Tiers, usage and subscriptions."),
        (name = "Federation", description = "GitHub Actions OIDC trust policies and token exchange."),
        (name = "Health", description = "Liveness, readiness and backend probes."),
    )
)]
pub(super) struct ApiDoc;

pub(super) static ROUTES: &[Route] = &[
    route!(open Signup POST "/tenants", "createTenant", tenants::create),
    route!(bearer Management GET "/tenants/me", "getMyTenant", tenants::me),
    route!(bearer Management POST "/agents", "registerAgent", agents::register),
    route!(bearer Management GET "/agents", "listAgents", agents::list),
    route!(bearer Management GET "/agents/{agentId}", "getAgent", agents::get),
    route!(bearer Management PATCH "/agents/{agentId}", "updateAgent", agents::update),
    route!(bearer Management DELETE "/agents/{agentId}", "decommissionAgent", agents::decommission),
    route!(bearer Management POST "/agents/{agentId}/credentials", "createCredential", agents::create_credential),
    route!(bearer Management GET "/agents/{agentId}/credentials", "listCredentials", agents::list_credentials),
    route!(bearer Management POST "/agents/{agentId}/credentials/{credentialId}/rotate", "rotateCredential", agents::rotate_credential),
    route!(bearer Management DELETE "/agents/{agentId}/credentials/{credentialId}", "revokeCredential", agents::revoke_credential),
    route!(open Token POST "/oauth2/token", "issueToken", oauth::token),
    route!(open OAuth POST "/oauth2/introspect", "introspectToken", oauth::introspect),
    route!(open OAuth POST "/oauth2/revoke", "revokeToken", oauth::revoke),
    route!(well_known GET "/.well-known/jwks.json", "getJwks", meta::jwks),
    route!(well_known GET "/.well-known/oauth-authorization-server", "getAuthorizationServerMetadata", meta::oauth_metadata),
    route!(well_known GET "/.well-known/openid-configuration", "getOpenIdConfiguration", meta::openid_configuration),
    route!(bearer Management POST "/agents/{agentId}/keys", "addAgentKey", did::add_key),
    route!(bearer Management GET "/agents/{agentId}/keys", "listAgentKeys", did::list_keys),
    route!(bearer Management DELETE "/agents/{agentId}/keys/{keyId}", "removeAgentKey", did::remove_key),
    // Also served at the issuer's root, where did:web resolution looks.
    route!(well_known GET "/agents/{agentId}/did.json", "getAgentDidDocument", did::document),
    route!(open Public GET "/marketplace/agents", "listMarketplaceAgents", marketplace::list),
    route!(open Public GET "/marketplace/agents/{agentId}", "getMarketplaceAgent", marketplace::get),
    route!(bearer Management GET "/audit", "queryAudit", audit::query),
    route!(bearer AuditVerify GET "/audit/verify", "verifyAudit", audit::verify),
    route!(bearer Management GET "/audit/checkpoint", "getAuditCheckpoint", audit::checkpoint),
    route!(open Public GET "/audit/keys", "getAuditKeys", audit::keys),
    route!(open Public GET "/tiers", "listTiers", billing::tiers),
    route!(bearer Management GET "/usage", "getUsage", billing::usage),
    route!(bearer Management POST "/billing/checkout", "createCheckout", billing::checkout),
    route!(bearer Management GET "/billing/subscription", "getSubscription", billing::subscription),
    route!(open Public POST "/billing/webhook", "billingWebhook", billing::webhook),
    route!(bearer Management POST "/oidc/trust-policies", "createTrustPolicy", oidc::create),
    route!(bearer Management GET "/oidc/trust-policies", "listTrustPolicies", oidc::list),
    route!(bearer Management POST "/oidc/trust-policies/evaluate", "evaluateTrustPolicies", oidc::evaluate),
    route!(bearer Management GET "/oidc/trust-policies/{policyId}", "getTrustPolicy", oidc::get),
    route!(bearer Management DELETE "/oidc/trust-policies/{policyId}", "deleteTrustPolicy", oidc::delete),
    route!(open Oidc POST "/oidc/token", "exchangeOidcToken", oidc::token),
    route!(open Public GET "/health", "getHealth", meta::health),
    route!(open Public GET "/health/detailed", "getHealthDetailed", meta::health_detailed),
    route!(probe GET "/health/live", "getLiveness", meta::health_live),
    route!(probe GET "/health/ready", "getReadiness", meta::health_ready),
    route!(open Public GET "/openapi.json", "getOpenApi", meta::openapi),
];
