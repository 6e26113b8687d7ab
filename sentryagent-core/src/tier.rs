//! Tiers as data: their limits and prices. The catalog is a setting, so an
//! operator (or a test) can change the free tier's limits.

use serde::Serialize;

/// The limits of a tier. `None` is unlimited.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct TierLimits {
    /// How many agents a tenant may have (its built-in admin and
    /// decommissioned agents do not count).
    pub max_agents: Option<u64>,
    /// API calls per UTC day.
    pub api_calls_per_day: Option<u64>,
    /// How long audit events are kept.
    pub audit_retention_days: u32,
}

/// One tier of the catalog.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Tier {
    /// `free`, `pro`, `enterprise`.
    pub name: String,
    /// A name for people.
    pub display_name: String,
    /// Monthly price in the smallest currency unit (cents).
    pub monthly_price: u64,
    /// ISO currency code, lower case.
    pub currency: String,
    /// Its limits.
    pub limits: TierLimits,
    /// The billing provider's price id, for tiers that can be bought.
    #[serde(skip)]
    pub price_id: Option<String>,
}

/// The catalog of tiers; the first is the default (free) tier.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Tiers(Vec<Tier>);

impl Default for Tiers {
    fn default() -> Self {
        let tier = |name: &str, display: &str, price, agents, calls, days| Tier {
            name: name.to_owned(),
            display_name: display.to_owned(),
            monthly_price: price,
            currency: "usd".to_owned(),
            limits: TierLimits {
                max_agents: agents,
                api_calls_per_day: calls,
                audit_retention_days: days,
            },
            price_id: None,
        };
        Self(vec![
            tier("free", "Free", 0, Some(10), Some(1_000), 90),
            tier("pro", "Pro", 4_900, Some(1_000), Some(1_000_000), 365),
            tier("enterprise", "Enterprise", 49_900, None, None, 2_555),
        ])
    }
}

/// The name of the default tier.
pub const FREE: &str = "free";

impl Tiers {
    /// A tier by name; unknown names get the free tier.
    pub fn get(&self, name: &str) -> &Tier {
        self.0.iter().find(|t| t.name == name).unwrap_or(&self.0[0])
    }

    /// Whether a tier of this name exists.
    pub fn contains(&self, name: &str) -> bool {
        self.0.iter().any(|t| t.name == name)
    }

    /// The tier sold at this provider price.
    pub fn by_price(&self, price_id: &str) -> Option<&Tier> {
        self.0.iter().find(|t| t.price_id.as_deref() == Some(price_id))
    }

    /// Every tier.
    pub fn iter(&self) -> impl Iterator<Item = &Tier> {
        self.0.iter()
    }

    /// Changes a tier in place (limits, price id).
    pub fn edit(&mut self, name: &str, change: impl FnOnce(&mut Tier)) {
        if let Some(t) = self.0.iter_mut().find(|t| t.name == name) {
            change(t);
        }
    }
}
