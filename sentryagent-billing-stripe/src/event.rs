//! Parsing a (verified) Stripe event into a [`BillingEvent`].
//!
//! Only the fields SentryAgent uses are read, and unknown fields are
//! ignored, so an event parses whichever API version the webhook endpoint
//! renders it in. Two fields moved in API version 2025-03-31 (basil), and
//! both places are read:
//! - a subscription's `current_period_end` moved from the subscription to
//!   each of its items;
//! - an invoice's `subscription` moved to
//!   `parent.subscription_details.subscription`.

use std::collections::HashMap;

use sentryagent_core::TenantId;
use sentryagent_core::billing::{BillingError, BillingEvent, BillingEventKind};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use time::OffsetDateTime;

/// The metadata key naming the tenant on a subscription.
pub(crate) const TENANT_METADATA_KEY: &str = "tenant_id";

/// An event envelope: `{"id", "object": "event", "type", "created", "data": {"object"}}`.
#[derive(Deserialize)]
struct Envelope {
    id: String,
    #[serde(default)]
    object: Option<String>,
    #[serde(rename = "type")]
    kind: String,
    created: i64,
    data: Data,
}

#[derive(Deserialize)]
struct Data {
    object: serde_json::Value,
}

/// A reference that Stripe sends as an id, or as the object when expanded.
#[derive(Deserialize)]
#[serde(untagged)]
enum Expandable {
    Id(String),
    Object { id: String },
}

impl Expandable {
    fn into_id(self) -> String {
        match self {
            Self::Id(id) | Self::Object { id } => id,
        }
    }
}

#[derive(Deserialize)]
struct CheckoutSession {
    #[serde(default)]
    client_reference_id: Option<String>,
    #[serde(default)]
    customer: Option<Expandable>,
    #[serde(default)]
    subscription: Option<Expandable>,
}

#[derive(Deserialize)]
struct Subscription {
    id: String,
    #[serde(default)]
    customer: Option<Expandable>,
    status: String,
    #[serde(default)]
    metadata: HashMap<String, String>,
    #[serde(default)]
    items: Option<List<SubscriptionItem>>,
    /// Before 2025-03-31 (basil).
    #[serde(default)]
    current_period_end: Option<i64>,
}

#[derive(Deserialize)]
struct List<T> {
    data: Vec<T>,
}

#[derive(Deserialize)]
struct SubscriptionItem {
    #[serde(default)]
    price: Option<Expandable>,
    /// From 2025-03-31 (basil) on.
    #[serde(default)]
    current_period_end: Option<i64>,
}

#[derive(Deserialize)]
struct Invoice {
    /// Before 2025-03-31 (basil).
    #[serde(default)]
    subscription: Option<Expandable>,
    /// From 2025-03-31 (basil) on.
    #[serde(default)]
    parent: Option<InvoiceParent>,
}

#[derive(Deserialize)]
struct InvoiceParent {
    #[serde(default)]
    subscription_details: Option<InvoiceSubscriptionDetails>,
}

#[derive(Deserialize)]
struct InvoiceSubscriptionDetails {
    #[serde(default)]
    subscription: Option<Expandable>,
}

/// Parses a verified payload.
pub(crate) fn parse(payload: &[u8]) -> Result<BillingEvent, BillingError> {
    let envelope: Envelope = serde_json::from_slice(payload).map_err(|e| bad(format!("not a Stripe event: {e}")))?;
    if let Some(object) = &envelope.object
        && object != "event"
    {
        return Err(bad(format!("object is {object:?}, not \"event\"")));
    }
    let created = OffsetDateTime::from_unix_timestamp(envelope.created)
        .map_err(|_| bad(format!("created {} is not a Unix time", envelope.created)))?;
    let object = envelope.data.object;
    let kind = match envelope.kind.as_str() {
        "checkout.session.completed" => {
            let session: CheckoutSession = object_of(&envelope.kind, object)?;
            BillingEventKind::CheckoutCompleted {
                tenant: session
                    .client_reference_id
                    .as_deref()
                    .and_then(|id| tenant_id(id, "client_reference_id")),
                customer: session.customer.map(Expandable::into_id),
                subscription: session.subscription.map(Expandable::into_id),
            }
        }
        "customer.subscription.created" | "customer.subscription.updated" => {
            let subscription: Subscription = object_of(&envelope.kind, object)?;
            subscription_changed(subscription)?
        }
        "customer.subscription.deleted" => {
            let subscription: Subscription = object_of(&envelope.kind, object)?;
            BillingEventKind::SubscriptionDeleted {
                tenant: metadata_tenant(&subscription.metadata),
                subscription: subscription.id,
            }
        }
        "invoice.payment_succeeded" => {
            let invoice: Invoice = object_of(&envelope.kind, object)?;
            BillingEventKind::PaymentSucceeded {
                subscription: invoice_subscription(invoice),
            }
        }
        "invoice.payment_failed" => {
            let invoice: Invoice = object_of(&envelope.kind, object)?;
            BillingEventKind::PaymentFailed {
                subscription: invoice_subscription(invoice),
            }
        }
        _ => BillingEventKind::Other(envelope.kind),
    };
    Ok(BillingEvent {
        id: envelope.id,
        created,
        kind,
    })
}

fn subscription_changed(subscription: Subscription) -> Result<BillingEventKind, BillingError> {
    let tenant = metadata_tenant(&subscription.metadata);
    let first_item = subscription.items.and_then(|items| items.data.into_iter().next());
    let (price_id, item_period_end) = match first_item {
        Some(item) => (item.price.map(Expandable::into_id), item.current_period_end),
        None => (None, None),
    };
    let current_period_end = subscription
        .current_period_end
        .or(item_period_end)
        .map(|end| {
            OffsetDateTime::from_unix_timestamp(end)
                .map_err(|_| bad(format!("current_period_end {end} is not a Unix time")))
        })
        .transpose()?;
    Ok(BillingEventKind::SubscriptionChanged {
        subscription: subscription.id,
        customer: subscription.customer.map(Expandable::into_id),
        tenant,
        status: subscription.status,
        price_id,
        current_period_end,
    })
}

fn invoice_subscription(invoice: Invoice) -> Option<String> {
    invoice
        .parent
        .and_then(|parent| parent.subscription_details)
        .and_then(|details| details.subscription)
        .or(invoice.subscription)
        .map(Expandable::into_id)
}

fn metadata_tenant(metadata: &HashMap<String, String>) -> Option<TenantId> {
    metadata
        .get(TENANT_METADATA_KEY)
        .and_then(|id| tenant_id(id, "metadata.tenant_id"))
}

/// A tenant id, or `None` (logged) when the field holds something else: the
/// event is still Stripe's, and the core can find the tenant by subscription.
fn tenant_id(value: &str, field: &str) -> Option<TenantId> {
    match value.parse() {
        Ok(tenant) => Some(tenant),
        Err(_) => {
            tracing::warn!(field, "Stripe event names a tenant that is not a SentryAgent tenant id");
            None
        }
    }
}

fn object_of<T: DeserializeOwned>(kind: &str, object: serde_json::Value) -> Result<T, BillingError> {
    serde_json::from_value(object).map_err(|e| bad(format!("{kind}: data.object: {e}")))
}

fn bad(message: String) -> BillingError {
    BillingError::BadPayload(message)
}
