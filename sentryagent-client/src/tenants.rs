//! Tenants, tiers, usage and billing.

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::client::{Authn, Call, Client, Secret};
use crate::error::Error;
use crate::ids::TenantId;
use crate::ops;

/// A new tenant with its first admin credential.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TenantCreated {
    /// Its id.
    pub tenant_id: TenantId,
    /// Its name.
    pub name: String,
    /// Its tier (`free`).
    pub tier: String,
    /// The admin credential's client id.
    pub admin_client_id: String,
    /// The admin credential's secret: shown this once.
    pub admin_client_secret: Secret,
}

/// A tier's limits; `None`: unlimited.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TierLimits {
    /// Agents at most.
    #[serde(default)]
    pub max_agents: Option<u64>,
    /// API calls per UTC day at most.
    #[serde(default)]
    pub api_calls_per_day: Option<u64>,
    /// How long audit events are kept.
    pub audit_retention_days: u64,
}

/// The caller's tenant with its tier's limits.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Tenant {
    /// Its id.
    pub tenant_id: TenantId,
    /// Its name.
    pub name: String,
    /// Its tier.
    pub tier: String,
    /// When it was created.
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    /// Its tier's limits.
    pub limits: TierLimits,
    /// Whether the server enforces them (metering goes on either way).
    pub limits_enforced: bool,
}

/// A tier with its price and limits.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Tier {
    /// `free`, `pro`, `enterprise`.
    pub name: String,
    /// For people.
    pub display_name: String,
    /// In the currency's minor unit.
    pub monthly_price: u64,
    /// ISO 4217, lower case.
    pub currency: String,
    /// Its limits.
    pub limits: TierLimits,
}

#[derive(Serialize, Deserialize)]
struct Tiers {
    items: Vec<Tier>,
}

/// Counts over a period.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UsagePeriod {
    /// `2026-11-23` or `2026-11`.
    pub period: String,
    /// API calls.
    pub api_calls: u64,
    /// Tokens issued.
    pub token_issuances: u64,
}

/// A tenant's usage beside its limits.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Usage {
    /// The tenant.
    pub tenant_id: TenantId,
    /// Its tier.
    pub tier: String,
    /// Today (UTC).
    pub today: UsagePeriod,
    /// This month (UTC).
    pub month: UsagePeriod,
    /// The tier's limits.
    pub limits: TierLimits,
    /// Whether the limits are enforced.
    pub enforced: bool,
}

/// Where to pay for a tier.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Checkout {
    /// The billing provider's checkout page.
    pub url: String,
}

/// A tenant's subscription.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Subscription {
    /// The tenant.
    pub tenant_id: TenantId,
    /// Its tier.
    pub tier: String,
    /// The subscription's state.
    pub status: String,
    /// The billing provider's customer.
    #[serde(default)]
    pub customer_id: Option<String>,
    /// The billing provider's subscription.
    #[serde(default)]
    pub subscription_id: Option<String>,
    /// When the paid period ends.
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub current_period_end: Option<OffsetDateTime>,
    /// When it last changed.
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
}

impl Client {
    /// Signs up a tenant; `operator_key` when sign-up needs it. The answer
    /// carries the admin credential's secret, shown this once.
    ///
    /// # Errors
    /// `UNAUTHORIZED` when sign-up needs the operator key, …
    pub async fn create_tenant(&self, name: &str, operator_key: Option<&Secret>) -> Result<TenantCreated, Error> {
        let call = Call::new(ops::CREATE_TENANT).json(&serde_json::json!({ "name": name }))?;
        let call = match operator_key {
            Some(key) => call.authn(Authn::Token(key)),
            None => call.public(),
        };
        self.json(call).await
    }

    /// The caller's tenant, its tier and limits.
    ///
    /// # Errors
    /// The server's refusal, or no answer.
    pub async fn my_tenant(&self) -> Result<Tenant, Error> {
        self.json(Call::new(ops::GET_MY_TENANT)).await
    }

    /// The tiers with their limits and prices (public).
    ///
    /// # Errors
    /// No answer, or an unreadable one.
    pub async fn tiers(&self) -> Result<Vec<Tier>, Error> {
        let tiers: Tiers = self.json(Call::new(ops::LIST_TIERS).public()).await?;
        Ok(tiers.items)
    }

    /// This tenant's counts for today and this month (`usage:read`).
    ///
    /// # Errors
    /// The server's refusal, or no answer.
    pub async fn usage(&self) -> Result<Usage, Error> {
        self.json(Call::new(ops::GET_USAGE)).await
    }

    /// A checkout session for a paid tier (`billing:write`).
    ///
    /// # Errors
    /// `BILLING_NOT_CONFIGURED` (503) without a billing provider, …
    pub async fn create_checkout(&self, tier: &str) -> Result<Checkout, Error> {
        self.json(Call::new(ops::CREATE_CHECKOUT).json(&serde_json::json!({ "tier": tier }))?)
            .await
    }

    /// The tenant's subscription (`billing:write`).
    ///
    /// # Errors
    /// The server's refusal, or no answer.
    pub async fn subscription(&self) -> Result<Subscription, Error> {
        self.json(Call::new(ops::GET_SUBSCRIPTION)).await
    }
}
