//! The billing model: records, requests, answers and their validation.

use async_trait::async_trait;
use serde::Serialize;
use time::OffsetDateTime;

use crate::TenantId;
pub use crate::error::BillingError;

/// What a checkout session is for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CheckoutRequest {
    /// The paying tenant (Stripe's `client_reference_id`).
    pub tenant: TenantId,
    /// The tier bought.
    pub tier: String,
    /// The provider's price id of that tier.
    pub price_id: String,
    /// Where the provider sends the buyer after paying.
    pub success_url: String,
    /// Where it sends a buyer who gives up.
    pub cancel_url: String,
}

/// A provider event, already verified and parsed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BillingEvent {
    /// The provider's event id (`evt_…`): each is applied once.
    pub id: String,
    /// When the provider created the event: an older event never overwrites
    /// the state a newer one set.
    pub created: OffsetDateTime,
    /// What happened.
    pub kind: BillingEventKind,
}

/// The events SentryAgent acts on.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum BillingEventKind {
    /// `checkout.session.completed`.
    CheckoutCompleted {
        /// From `client_reference_id`.
        tenant: Option<TenantId>,
        /// The customer created or used.
        customer: Option<String>,
        /// The subscription created.
        subscription: Option<String>,
    },
    /// `customer.subscription.created` and `customer.subscription.updated`.
    SubscriptionChanged {
        /// The subscription (`sub_…`).
        subscription: String,
        /// Its customer.
        customer: Option<String>,
        /// From the subscription's `metadata.tenant_id`, when set.
        tenant: Option<TenantId>,
        /// The provider's status (`active`, `trialing`, `past_due`, `canceled`…).
        status: String,
        /// The price of its first item.
        price_id: Option<String>,
        /// End of the paid period.
        current_period_end: Option<OffsetDateTime>,
    },
    /// `customer.subscription.deleted`.
    SubscriptionDeleted {
        /// The subscription.
        subscription: String,
        /// From `metadata.tenant_id`, when set.
        tenant: Option<TenantId>,
    },
    /// `invoice.payment_succeeded`.
    PaymentSucceeded {
        /// The invoice's subscription.
        subscription: Option<String>,
    },
    /// `invoice.payment_failed`.
    PaymentFailed {
        /// The invoice's subscription.
        subscription: Option<String>,
    },
    /// Any other event type (acknowledged, not applied).
    Other(String),
}

/// A payment provider.
#[async_trait]
pub trait BillingProvider: Send + Sync + 'static {
    /// Creates a subscription checkout session and returns its URL.
    ///
    /// # Errors
    /// [`BillingError::Provider`].
    async fn create_checkout(&self, request: &CheckoutRequest) -> Result<String, BillingError>;

    /// Verifies a webhook's signature header (rejecting timestamps more
    /// than five minutes from `now`) before parsing anything, then parses it.
    ///
    /// # Errors
    /// [`BillingError::BadSignature`] or [`BillingError::BadPayload`].
    fn verify_webhook(
        &self,
        payload: &[u8],
        signature: &str,
        now: OffsetDateTime,
    ) -> Result<BillingEvent, BillingError>;
}

/// A tenant's subscription as the webhooks have left it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Subscription {
    /// The tenant.
    pub tenant_id: TenantId,
    /// The tier in force (`free` without an active subscription).
    pub tier: String,
    /// `none`, or the provider's status (`active`, `past_due`, `canceled`…).
    pub status: String,
    /// The provider's customer id.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub customer_id: Option<String>,
    /// The provider's subscription id.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub subscription_id: Option<String>,
    /// End of the paid period.
    #[serde(with = "crate::time::rfc3339::option", skip_serializing_if = "Option::is_none")]
    pub current_period_end: Option<OffsetDateTime>,
    /// The creation time of the last event applied.
    #[serde(with = "crate::time::rfc3339")]
    pub updated_at: OffsetDateTime,
}

/// Provider statuses under which the paid tier stays in force (a failed
/// payment keeps it during the provider's retry period).
pub(crate) const PAID_STATUSES: &[&str] = &["active", "trialing", "past_due"];
