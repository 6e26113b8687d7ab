//! Billing: a provider trait (Stripe is `sentryagent-billing-stripe`), the
//! events it reports, and the tenant's subscription record they drive.
//!
//! The provider only translates: it creates checkout sessions and turns a
//! signed webhook into a [`BillingEvent`]. What an event does to a
//! subscription (each event once, never an older state over a newer one) is
//! decided in the core.

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

use crate::audit::{NewAuditEvent, Outcome};
use crate::error::Error;
use crate::tier::FREE;
use crate::{Caller, SentryAgent};

/// Provider statuses under which the paid tier stays in force (a failed
/// payment keeps it during the provider's retry period).
const PAID_STATUSES: &[&str] = &["active", "trialing", "past_due"];

impl SentryAgent {
    fn billing_provider(&self) -> Result<&std::sync::Arc<dyn BillingProvider>, Error> {
        self.inner.billing.as_ref().ok_or(Error::BillingNotConfigured)
    }

    /// Starts buying `tier` for the caller's tenant: a provider checkout
    /// session, whose URL the buyer opens. Needs `billing:write`.
    ///
    /// # Errors
    /// 503 without a provider; a validation error for an unknown or free
    /// tier or one without a price; the provider's failure.
    pub async fn checkout(&self, caller: &Caller, tier: &str) -> Result<String, Error> {
        caller.identity.require_scope(crate::scope::BILLING_WRITE)?;
        let provider = self.billing_provider()?;
        let tiers = &self.inner.settings.tiers;
        if !tiers.contains(tier) {
            return Err(Error::invalid("tier", "is not a tier of GET /tiers"));
        }
        let price_id = tiers
            .get(tier)
            .price_id
            .clone()
            .ok_or_else(|| Error::invalid("tier", "cannot be bought (no price is configured for it)"))?;
        let settings = &self.inner.settings;
        let request = CheckoutRequest {
            tenant: caller.tenant(),
            tier: tier.to_owned(),
            price_id,
            success_url: format!("{}/billing/success", settings.issuer),
            cancel_url: format!("{}/billing/cancel", settings.issuer),
        };
        let url = provider
            .create_checkout(&request)
            .await
            .map_err(Error::BillingProvider)?;
        self.record(
            caller.tenant(),
            vec![caller.event("billing.checkout_started", None).detail("tier", tier)],
        )
        .await?;
        Ok(url)
    }

    /// The caller's subscription (`status: none` on the free tier). Needs
    /// `usage:read` or `billing:write`.
    ///
    /// # Errors
    /// Insufficient scope; a store error.
    pub async fn subscription(&self, caller: &Caller) -> Result<Subscription, Error> {
        if !caller.identity.has_scope(crate::scope::BILLING_WRITE) {
            caller.identity.require_scope(crate::scope::USAGE_READ)?;
        }
        let tenant = caller.tenant();
        Ok(match self.inner.stores.subscriptions.subscription(tenant).await? {
            Some(s) => s,
            None => Subscription {
                tenant_id: tenant,
                tier: self.tier_of(tenant).await?.name,
                status: "none".to_owned(),
                customer_id: None,
                subscription_id: None,
                current_period_end: None,
                updated_at: crate::time::now(),
            },
        })
    }

    /// Verifies and applies a provider webhook. The signature is checked
    /// before anything else; each event id is applied once; an event older
    /// than the state it would change is ignored. Returns whether the event
    /// changed anything.
    ///
    /// # Errors
    /// 503 without a provider; [`Error::WebhookRejected`] for a bad signature
    /// or payload; a store error (the provider retries).
    pub async fn handle_billing_webhook(&self, payload: &[u8], signature: Option<&str>) -> Result<bool, Error> {
        let provider = self.billing_provider()?;
        let signature = signature.ok_or_else(|| {
            Error::WebhookRejected(BillingError::BadSignature(
                "the Stripe-Signature header is missing".into(),
            ))
        })?;
        let event = provider
            .verify_webhook(payload, signature, OffsetDateTime::now_utc())
            .map_err(Error::WebhookRejected)?;
        let event_id = event.id.clone();
        let Some(sub) = self.billing_event_outcome(event).await? else {
            return Ok(false);
        };
        // Recorded as handled in the same transaction as the change: a
        // failure leaves the event unhandled, so the provider's retry
        // applies it.
        if !self
            .inner
            .stores
            .subscriptions
            .apply_billing_event(&event_id, &sub)
            .await?
        {
            tracing::info!(event = %event_id, "billing event already applied");
            return Ok(false);
        }
        self.forget_summary(sub.tenant_id);
        let audit = NewAuditEvent::new("billing.subscription_updated", Outcome::Success, "billing-provider")
            .detail("eventId", event_id.as_str())
            .detail("status", sub.status.as_str())
            .detail("tier", sub.tier.as_str());
        if let Err(e) = self.record(sub.tenant_id, vec![audit]).await {
            // Applied and committed; the provider's retry will find it handled.
            tracing::error!(error = %e, event = %event_id, tenant = %sub.tenant_id, status = %sub.status,
                tier = %sub.tier, "billing event applied but its audit event was not stored");
            return Err(e);
        }
        Ok(true)
    }

    /// The subscription as `event` leaves it, read from the current state;
    /// `None` when the event changes nothing (a kind not acted on, no known
    /// tenant, older than the stored state, about a deleted subscription).
    async fn billing_event_outcome(&self, event: BillingEvent) -> Result<Option<Subscription>, Error> {
        let subs = &self.inner.stores.subscriptions;
        let (tenant, provider_subscription) = match &event.kind {
            BillingEventKind::CheckoutCompleted {
                tenant, subscription, ..
            } => (*tenant, subscription.clone()),
            BillingEventKind::SubscriptionChanged {
                tenant, subscription, ..
            }
            | BillingEventKind::SubscriptionDeleted { tenant, subscription } => (*tenant, Some(subscription.clone())),
            BillingEventKind::PaymentSucceeded { subscription } | BillingEventKind::PaymentFailed { subscription } => {
                (None, subscription.clone())
            }
            BillingEventKind::Other(kind) => {
                tracing::debug!(kind, "billing event ignored");
                return Ok(None);
            }
        };
        let existing = match (tenant, &provider_subscription) {
            (Some(t), _) => subs.subscription(t).await?,
            (None, Some(id)) => subs.subscription_by_provider_id(id).await?,
            (None, None) => None,
        };
        let Some(tenant) = tenant.or(existing.as_ref().map(|s| s.tenant_id)) else {
            tracing::warn!(event = %event.id, "billing event names no known tenant");
            return Ok(None);
        };
        let mut sub = existing.unwrap_or_else(|| Subscription {
            tenant_id: tenant,
            tier: FREE.to_owned(),
            status: "none".to_owned(),
            customer_id: None,
            subscription_id: None,
            current_period_end: None,
            updated_at: OffsetDateTime::UNIX_EPOCH,
        });
        // Stripe does not promise delivery order: never let an older event
        // overwrite what a newer one set, and never revive a deleted subscription.
        let same_subscription = provider_subscription.is_some() && provider_subscription == sub.subscription_id;
        if event.created < sub.updated_at && same_subscription {
            tracing::info!(event = %event.id, "billing event older than the stored state; ignored");
            return Ok(None);
        }
        if sub.status == "canceled" && same_subscription {
            tracing::info!(event = %event.id, "billing event for a deleted subscription; ignored");
            return Ok(None);
        }
        let tiers = &self.inner.settings.tiers;
        match event.kind {
            BillingEventKind::CheckoutCompleted {
                customer, subscription, ..
            } => {
                sub.customer_id = customer.or(sub.customer_id);
                sub.subscription_id = subscription.or(sub.subscription_id);
                if sub.status == "none" {
                    sub.status = "incomplete".to_owned();
                }
            }
            BillingEventKind::SubscriptionChanged {
                subscription,
                customer,
                status,
                price_id,
                current_period_end,
                ..
            } => {
                let paid = PAID_STATUSES.contains(&status.as_str());
                let tier = price_id
                    .as_deref()
                    .and_then(|p| tiers.by_price(p))
                    .map(|t| t.name.clone());
                sub.tier = match (paid, tier) {
                    (true, Some(tier)) => tier,
                    (true, None) => sub.tier,
                    (false, _) => FREE.to_owned(),
                };
                sub.subscription_id = Some(subscription);
                sub.customer_id = customer.or(sub.customer_id);
                sub.status = status;
                sub.current_period_end = current_period_end.or(sub.current_period_end);
            }
            BillingEventKind::SubscriptionDeleted { subscription, .. } => {
                sub.subscription_id = Some(subscription);
                sub.status = "canceled".to_owned();
                sub.tier = FREE.to_owned();
            }
            BillingEventKind::PaymentSucceeded { .. } => sub.status = "active".to_owned(),
            BillingEventKind::PaymentFailed { .. } => sub.status = "past_due".to_owned(),
            BillingEventKind::Other(_) => return Ok(None),
        }
        sub.updated_at = event.created.max(sub.updated_at);
        Ok(Some(sub))
    }
}
