//! Creating a subscription Checkout Session, and Stripe's errors.

use std::collections::HashMap;

use sentryagent_core::billing::{BillingError, CheckoutRequest};
use stripe::{Client, StripeError};
use stripe_checkout::CheckoutSessionMode;
use stripe_checkout::checkout_session::{
    CreateCheckoutSession, CreateCheckoutSessionLineItems, CreateCheckoutSessionSubscriptionData,
};

use crate::event::TENANT_METADATA_KEY;

/// The metadata key naming the tier on a subscription (for people reading the
/// Stripe dashboard; SentryAgent goes by the price).
const TIER_METADATA_KEY: &str = "tier";

/// `POST /v1/checkout/sessions`, and the session's `url`.
pub(crate) async fn create(client: &Client, request: &CheckoutRequest) -> Result<String, BillingError> {
    let tenant = request.tenant.to_string();

    let mut line_item = CreateCheckoutSessionLineItems::new();
    line_item.price = Some(request.price_id.clone());
    line_item.quantity = Some(1);

    // Subscription events carry the subscription's metadata, not the
    // session's: this is how `customer.subscription.*` names the tenant.
    let mut subscription_data = CreateCheckoutSessionSubscriptionData::new();
    subscription_data.metadata = Some(HashMap::from([
        (TENANT_METADATA_KEY.to_owned(), tenant.clone()),
        (TIER_METADATA_KEY.to_owned(), request.tier.clone()),
    ]));

    let session = CreateCheckoutSession::new()
        .mode(CheckoutSessionMode::Subscription)
        .line_items(vec![line_item])
        .client_reference_id(tenant)
        .subscription_data(subscription_data)
        .success_url(request.success_url.as_str())
        .cancel_url(request.cancel_url.as_str())
        .send(client)
        .await
        .map_err(provider_error)?;

    tracing::debug!(session = %session.id, tenant = %request.tenant, tier = %request.tier, "Stripe Checkout Session created");
    session
        .url
        .ok_or_else(|| BillingError::provider(format!("Stripe returned Checkout Session {} without a url", session.id)))
}

/// A [`BillingError::Provider`] that says what Stripe said, with Stripe's
/// error as its source.
fn provider_error(error: StripeError) -> BillingError {
    let message = match &error {
        StripeError::Stripe(error, status) => {
            let kind = error.type_.as_str().to_owned();
            let code = error
                .code
                .as_ref()
                .map(|code| format!(" ({})", code.as_str()))
                .unwrap_or_default();
            match &error.message {
                Some(message) => format!("Stripe answered {status} {kind}{code}: {message}"),
                None => format!("Stripe answered {status} {kind}{code}"),
            }
        }
        StripeError::JSONDeserialize(detail) => format!("unexpected answer from Stripe: {detail}"),
        StripeError::ClientError(detail) => format!("could not reach Stripe: {detail}"),
        StripeError::ConfigError(detail) => format!("Stripe client configuration: {detail}"),
        StripeError::Timeout => "Stripe did not answer in time".to_owned(),
    };
    tracing::warn!(error = %message, "Stripe request failed");
    BillingError::provider_caused_by(message, error)
}
