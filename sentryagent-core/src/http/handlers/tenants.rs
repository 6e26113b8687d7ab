use std::net::IpAddr;

use http::StatusCode;
use http::header::AUTHORIZATION;
use serde::{Deserialize, Serialize};

use crate::Caller;
use crate::http::body;
use crate::http::{Request, Response};
use crate::tenant::Tenant;
use crate::tier::TierLimits;
use crate::{Error, SentryAgent, TenantId};

#[derive(Deserialize)]
struct CreateTenant {
    name: Option<String>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct TenantCreatedView<'a> {
    tenant_id: TenantId,
    name: &'a str,
    tier: &'a str,
    admin_client_id: &'a str,
    admin_client_secret: &'a str,
}

pub(super) async fn create(sa: SentryAgent, req: Request, ip: Option<IpAddr>) -> Result<Response, Error> {
    let body: CreateTenant = body::json(&req, &["name"], false)?;
    let name = body.name.ok_or_else(|| Error::invalid("name", "is required"))?;
    let key = req.header(AUTHORIZATION).and_then(crate::http::bearer_token);
    let created = sa.create_tenant(&name, key, ip).await?;
    let view = TenantCreatedView {
        tenant_id: created.tenant.id,
        name: &created.tenant.name,
        tier: &created.tenant.tier,
        admin_client_id: &created.admin_client_id,
        admin_client_secret: created.admin_client_secret.expose(),
    };
    Ok(Response::json(StatusCode::CREATED, &view).no_store())
}

#[derive(Serialize)]
struct TenantView {
    #[serde(flatten)]
    tenant: Tenant,
    limits: TierLimits,
}

pub(super) async fn me(sa: SentryAgent, _req: Request, caller: Caller) -> Result<Response, Error> {
    let tenant = sa.tenant(&caller).await?;
    let limits = sa.settings().tiers.get(&tenant.tier).limits.clone();
    Ok(Response::json(StatusCode::OK, &TenantView { tenant, limits }))
}
