//! The route table and its handlers, one module per area.

mod agents;
mod audit;
mod meta;
mod oauth;
mod tenants;

use http::Method;
use http::header::AUTHORIZATION;

use super::{Request, Response, Route};
use crate::{Caller, Error, SentryAgent};

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
    ($method:ident $path:literal, $op:literal, $handler:path) => {
        route!(@ $method $path, $op, $handler, false)
    };
    (well_known $method:ident $path:literal, $op:literal, $handler:path) => {
        route!(@ $method $path, $op, $handler, true)
    };
    (@ $method:ident $path:literal, $op:literal, $handler:path, $wk:expr) => {
        Route {
            method: Method::$method,
            path: $path,
            operation_id: $op,
            well_known: $wk,
            handler: |sa, req| Box::pin(async move { Reply::reply($handler(sa, req).await) }),
        }
    };
}

pub(super) static ROUTES: &[Route] = &[
    route!(POST "/tenants", "createTenant", tenants::create),
    route!(GET "/tenants/me", "getMyTenant", tenants::me),
    route!(POST "/agents", "registerAgent", agents::register),
    route!(GET "/agents", "listAgents", agents::list),
    route!(GET "/agents/{agentId}", "getAgent", agents::get),
    route!(PATCH "/agents/{agentId}", "updateAgent", agents::update),
    route!(DELETE "/agents/{agentId}", "decommissionAgent", agents::decommission),
    route!(POST "/agents/{agentId}/credentials", "createCredential", agents::create_credential),
    route!(GET "/agents/{agentId}/credentials", "listCredentials", agents::list_credentials),
    route!(POST "/agents/{agentId}/credentials/{credentialId}/rotate", "rotateCredential", agents::rotate_credential),
    route!(DELETE "/agents/{agentId}/credentials/{credentialId}", "revokeCredential", agents::revoke_credential),
    route!(POST "/oauth2/token", "issueToken", oauth::token),
    route!(POST "/oauth2/introspect", "introspectToken", oauth::introspect),
    route!(POST "/oauth2/revoke", "revokeToken", oauth::revoke),
    route!(well_known GET "/.well-known/jwks.json", "getJwks", meta::jwks),
    route!(well_known GET "/.well-known/oauth-authorization-server", "getAuthorizationServerMetadata", meta::oauth_metadata),
    route!(well_known GET "/.well-known/openid-configuration", "getOpenIdConfiguration", meta::openid_configuration),
    route!(GET "/audit", "queryAudit", audit::query),
    route!(GET "/audit/verify", "verifyAudit", audit::verify),
    route!(GET "/health", "getHealth", meta::health),
    route!(GET "/health/detailed", "getHealthDetailed", meta::health_detailed),
];

/// The verified caller of a management route.
async fn caller(sa: &SentryAgent, req: &Request) -> Result<Caller, Error> {
    let token = req
        .header(AUTHORIZATION)
        .and_then(super::bearer_token)
        .ok_or_else(|| Error::unauthorized("a bearer access token is required"))?;
    let identity = sa.verify_access_token(token, None).await?;
    Ok(Caller {
        identity,
        ip: req.peer.map(|p| p.ip()),
    })
}
