//! The route table and its handlers, one module per area.

mod agents;
mod audit;
mod authorization;
mod authorize;
mod billing;
mod did;
mod marketplace;
mod meta;
mod oauth;
mod oidc;
mod params;
mod registration;
mod tenants;

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

/// One route, declared once: its method, path and operation id are those of
/// the handler's `#[utoipa::path]`, read through a one-operation document
/// the macro derives for it (a derive needs only the handler's path, where
/// naming utoipa's generated type would need identifier pasting).
macro_rules! route {
    // A management route: the core verifies the bearer token first and hands
    // the handler the caller.
    (bearer $group:ident, $module:ident :: $handler:ident) => {
        route!(@decl $module::$handler, Auth::Bearer, $group, false, true, |sa, req, ctx| {
            Box::pin(async move {
                match ctx {
                    Ctx::Caller(caller) => Reply::reply($module::$handler(sa, req, caller).await),
                    Ctx::Anonymous(_) => Error::unauthorized("a bearer access token is required").into(),
                }
            })
        })
    };
    // A route that authenticates on its own terms (or not at all).
    (open $group:ident, $module:ident :: $handler:ident) => {
        route!(@open $group, $module::$handler, false, true)
    };
    (well_known, $module:ident :: $handler:ident) => {
        route!(@open Public, $module::$handler, true, true)
    };
    // An orchestrator's probe: public, and never rate limited.
    (probe, $module:ident :: $handler:ident) => {
        route!(@open Public, $module::$handler, false, false)
    };
    (@open $group:ident, $module:ident :: $handler:ident, $wk:expr, $limited:expr) => {
        route!(@decl $module::$handler, Auth::None, $group, $wk, $limited, |sa, req, ctx| {
            Box::pin(async move { Reply::reply($module::$handler(sa, req, ctx.ip()).await) })
        })
    };
    (@decl $module:ident :: $handler:ident, $auth:expr, $group:ident, $wk:expr, $limited:expr, $run:expr) => {{
        fn operation() -> utoipa::openapi::OpenApi {
            #[derive(utoipa::OpenApi)]
            #[openapi(paths($module::$handler))]
            struct Operation;
            <Operation as utoipa::OpenApi>::openapi()
        }
        Route::declared(operation, $auth, RouteGroup::$group, $wk, $limited, $run)
    }};
}

/// The route table, in the order routes are matched.
pub(super) fn table() -> Vec<Route> {
    vec![
        route!(open Signup, tenants::create),
        route!(bearer Management, tenants::me),
        route!(bearer Management, agents::register),
        route!(bearer Management, agents::list),
        route!(bearer Management, agents::get),
        route!(bearer Management, agents::update),
        route!(bearer Management, agents::decommission),
        route!(bearer Management, agents::create_credential),
        route!(bearer Management, agents::list_credentials),
        route!(bearer Management, agents::rotate_credential),
        route!(bearer Management, agents::revoke_credential),
        route!(open Token, oauth::token),
        route!(open OAuth, oauth::introspect),
        route!(open OAuth, oauth::revoke),
        route!(open Registration, registration::register),
        route!(open Authorize, authorize::authorize),
        route!(open Authorize, authorize::consent),
        route!(well_known, meta::jwks),
        route!(well_known, meta::oauth_metadata),
        route!(well_known, meta::openid_configuration),
        route!(bearer Management, did::add_key),
        route!(bearer Management, did::list_keys),
        route!(bearer Management, did::remove_key),
        // Also served at the issuer's root, where did:web resolution looks.
        route!(well_known, did::document),
        route!(open Public, marketplace::list),
        route!(open Public, marketplace::get),
        route!(bearer Management, audit::query),
        route!(bearer AuditVerify, audit::verify),
        route!(bearer Management, audit::checkpoint),
        route!(open Public, audit::keys),
        route!(open Public, billing::tiers),
        route!(bearer Management, billing::usage),
        route!(bearer Management, billing::checkout),
        route!(bearer Management, billing::subscription),
        route!(open Public, billing::webhook),
        route!(bearer Management, oidc::create),
        route!(bearer Management, oidc::list),
        route!(bearer Management, oidc::evaluate),
        route!(bearer Management, oidc::get),
        route!(bearer Management, oidc::delete),
        route!(open Oidc, oidc::token),
        route!(bearer Management, authorization::register),
        route!(bearer Management, authorization::list),
        route!(bearer Management, authorization::get),
        route!(bearer Management, authorization::update),
        route!(bearer Management, authorization::delete),
        route!(bearer Management, authorization::list_consents),
        route!(bearer Management, authorization::revoke_consent),
        route!(bearer Management, authorization::revoke_user_consents),
        route!(open Public, meta::health),
        route!(open Public, meta::health_detailed),
        route!(probe, meta::health_live),
        route!(probe, meta::health_ready),
        route!(open Public, meta::openapi),
    ]
}
