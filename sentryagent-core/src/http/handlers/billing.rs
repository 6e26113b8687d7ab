use std::net::IpAddr;

use http::StatusCode;
use serde::Deserialize;
use serde_json::json;

use crate::http::body;
use crate::http::{Request, Response};
use crate::{Caller, Error, SentryAgent};

pub(super) async fn tiers(sa: SentryAgent, _req: Request, _ip: Option<IpAddr>) -> Result<Response, Error> {
    let tiers: Vec<_> = sa.settings().tiers.iter().collect();
    Ok(Response::json(StatusCode::OK, &json!({ "items": tiers })))
}

pub(super) async fn usage(sa: SentryAgent, _req: Request, caller: Caller) -> Result<Response, Error> {
    Ok(Response::json(StatusCode::OK, &sa.usage_report(&caller).await?))
}

#[derive(Deserialize)]
struct CheckoutBody {
    tier: Option<String>,
}

pub(super) async fn checkout(sa: SentryAgent, req: Request, caller: Caller) -> Result<Response, Error> {
    let body: CheckoutBody = body::json(&req, &["tier"], false)?;
    let tier = body.tier.ok_or_else(|| Error::invalid("tier", "is required"))?;
    let url = sa.checkout(&caller, &tier).await?;
    Ok(Response::json(StatusCode::OK, &json!({ "url": url })))
}

pub(super) async fn subscription(sa: SentryAgent, _req: Request, caller: Caller) -> Result<Response, Error> {
    Ok(Response::json(StatusCode::OK, &sa.subscription(&caller).await?))
}

pub(super) async fn webhook(sa: SentryAgent, req: Request, _ip: Option<IpAddr>) -> Result<Response, Error> {
    let signature = req.header(http::HeaderName::from_static("stripe-signature"));
    let applied = sa.handle_billing_webhook(&req.body, signature).await?;
    Ok(Response::json(
        StatusCode::OK,
        &json!({ "received": true, "applied": applied }),
    ))
}
