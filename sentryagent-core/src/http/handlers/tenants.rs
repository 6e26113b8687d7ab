use std::net::IpAddr;

use http::StatusCode;
use http::header::AUTHORIZATION;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::Caller;
use crate::http::body;
use crate::http::error::ErrorBody;
use crate::http::{HttpError, Request, Response};
use crate::tenant::Tenant;
use crate::tier::TierLimits;
use crate::{Error, SentryAgent, TenantId};

/// What signing up takes.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct CreateTenant {
    /// Display name, 1 to 200 characters.
    #[schema(required = true, nullable = false, example = "Acme")]
    name: Option<String>,
}

/// A new tenant with its first admin credential; the secret is shown once.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(as = TenantCreated)]
pub(super) struct TenantCreatedView<'a> {
    tenant_id: TenantId,
    name: &'a str,
    tier: &'a str,
    admin_client_id: &'a str,
    admin_client_secret: &'a str,
}

#[utoipa::path(post, path = "/tenants", tag = "Tenants", operation_id = "createTenant",
    request_body = CreateTenant,
    responses(
        (status = 201, description = "The tenant and its admin credential (secret shown once).", body = TenantCreatedView),
        (status = 401, description = "Sign-up needs the operator key (`Authorization: Bearer <operator key>`).", body = ErrorBody),
        (status = 403, description = "`SIGNUP_CLOSED`: sign-up over HTTP is closed on this server.", body = ErrorBody),
    ),
    security((), ("operatorKey" = [])))]
pub(super) async fn create(sa: SentryAgent, req: Request, ip: Option<IpAddr>) -> Result<Response, HttpError> {
    let body: CreateTenant = body::json(&req, &["name"], false)?;
    let name = body.name.ok_or_else(|| Error::invalid("name", "is required"))?;
    let key = req.header(AUTHORIZATION).and_then(crate::http::bearer_token);
    let created = sa.sign_up(&name, key, ip).await?;
    let view = TenantCreatedView {
        tenant_id: created.tenant.id,
        name: &created.tenant.name,
        tier: &created.tenant.tier,
        admin_client_id: &created.admin_client_id,
        admin_client_secret: created.admin_client_secret.expose(),
    };
    Ok(Response::json(StatusCode::CREATED, &view).no_store())
}

/// The caller's tenant with its tier's limits.
#[derive(Serialize, ToSchema)]
#[schema(as = TenantWithLimits)]
pub(super) struct TenantView {
    #[serde(flatten)]
    tenant: Tenant,
    limits: TierLimits,
    /// Whether this server enforces the tier's limits (off unless the host
    /// turns enforcement on; metering goes on either way).
    #[serde(rename = "limitsEnforced")]
    limits_enforced: bool,
}

#[utoipa::path(get, path = "/tenants/me", tag = "Tenants", operation_id = "getMyTenant",
    responses((status = 200, description = "The caller's tenant, its tier and limits.", body = TenantView)),
    security(("bearer" = [])))]
pub(super) async fn me(sa: SentryAgent, _req: Request, caller: Caller) -> Result<Response, HttpError> {
    let tenant = sa.tenant(&caller).await?;
    let limits = sa.settings().tiers.get(&tenant.tier).limits.clone();
    let limits_enforced = sa.settings().enforce_tiers;
    Ok(Response::json(
        StatusCode::OK,
        &TenantView {
            tenant,
            limits,
            limits_enforced,
        },
    ))
}
