use std::net::IpAddr;

use http::StatusCode;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::http::body;
use crate::http::error::ErrorBody;
use crate::http::{HttpError, Request, Response};
use crate::metering::UsageReport;
use crate::tier::Tier;
use crate::{Caller, Error, SentryAgent};

/// The tiers.
#[derive(Serialize, ToSchema)]
#[schema(as = Tiers)]
pub(super) struct TierList<'a> {
    items: Vec<&'a Tier>,
}

/// Where to pay.
#[derive(Serialize, ToSchema)]
pub(super) struct Checkout {
    /// The billing provider's checkout page.
    url: String,
}

/// A webhook's acknowledgement.
#[derive(Serialize, ToSchema)]
pub(super) struct WebhookAck {
    /// Always `true`.
    received: bool,
    /// `false` when the event was seen before, is older than the state, or is of no interest.
    applied: bool,
}

#[utoipa::path(get, path = "/tiers", tag = "Billing", operation_id = "listTiers",
    responses((status = 200, description = "The tiers with their limits and prices.", body = TierList)))]
pub(super) async fn tiers(sa: SentryAgent, _req: Request, _ip: Option<IpAddr>) -> Result<Response, HttpError> {
    let items = sa.settings().tiers.iter().collect();
    Ok(Response::json(StatusCode::OK, &TierList { items }))
}

#[utoipa::path(get, path = "/usage", tag = "Billing", operation_id = "getUsage",
    responses((status = 200, description = "This tenant's counts for today and this month, beside its limits.", body = UsageReport)),
    security(("bearer" = ["usage:read"])))]
pub(super) async fn usage(sa: SentryAgent, _req: Request, caller: Caller) -> Result<Response, HttpError> {
    Ok(Response::json(StatusCode::OK, &sa.usage_report(&caller).await?))
}

/// The tier to buy.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = CreateCheckout)]
pub(super) struct CheckoutBody {
    /// `pro` or `enterprise`.
    #[schema(required = true, nullable = false, example = "pro")]
    tier: Option<String>,
}

#[utoipa::path(post, path = "/billing/checkout", tag = "Billing", operation_id = "createCheckout",
    request_body = CheckoutBody,
    responses(
        (status = 200, description = "A checkout session's URL.", body = Checkout),
        (status = 502, description = "`BILLING_PROVIDER_ERROR`: the billing provider failed.", body = ErrorBody),
    ),
    security(("bearer" = ["billing:write"])))]
pub(super) async fn checkout(sa: SentryAgent, req: Request, caller: Caller) -> Result<Response, HttpError> {
    let body: CheckoutBody = body::json(&req, &["tier"], false)?;
    let tier = body.tier.ok_or_else(|| Error::invalid("tier", "is required"))?;
    let url = sa.checkout(&caller, &tier).await?;
    Ok(Response::json(StatusCode::OK, &Checkout { url }))
}

#[utoipa::path(get, path = "/billing/subscription", tag = "Billing", operation_id = "getSubscription",
    responses((status = 200, description = "The tenant's subscription state.", body = crate::billing::Subscription)),
    security(("bearer" = ["usage:read"])))]
pub(super) async fn subscription(sa: SentryAgent, _req: Request, caller: Caller) -> Result<Response, HttpError> {
    Ok(Response::json(StatusCode::OK, &sa.subscription(&caller).await?))
}

#[utoipa::path(post, path = "/billing/webhook", tag = "Billing", operation_id = "billingWebhook",
    request_body(content = Object, description = "The provider's event, verified by its `Stripe-Signature` header."),
    params(("Stripe-Signature" = Option<String>, Header, description = "`t=<unix time>,v1=<HMAC-SHA-256>`, within 5 minutes.")),
    responses(
        (status = 200, description = "Received; each event is applied once.", body = WebhookAck),
        (status = 400, description = "`WEBHOOK_REJECTED`: a missing, malformed, wrong or stale signature.", body = ErrorBody),
    ))]
pub(super) async fn webhook(sa: SentryAgent, req: Request, _ip: Option<IpAddr>) -> Result<Response, HttpError> {
    let signature = req.header(http::HeaderName::from_static("stripe-signature"));
    let applied = sa.handle_billing_webhook(&req.body, signature).await?;
    Ok(Response::json(
        StatusCode::OK,
        &WebhookAck {
            received: true,
            applied,
        },
    ))
}
