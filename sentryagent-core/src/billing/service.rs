//! The billing service: [`SentryAgent`](crate::SentryAgent)'s methods over the model and the stores.
//!
//! Stores it needs: `subscriptions`.
//! Shared parts it uses: `billing`.

use super::model::*;
use crate::audit::{NewAuditEvent, Outcome};
use crate::error::Error;
use crate::tier::FREE;
use crate::{Caller, SentryAgent};
use time::OffsetDateTime;

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
