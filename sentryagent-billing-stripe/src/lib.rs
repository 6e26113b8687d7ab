#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]

use std::fmt;
use std::time::Duration;

use async_trait::async_trait;
use sentryagent_core::billing::{BillingError, BillingEvent, BillingProvider, CheckoutRequest};
use time::OffsetDateTime;

mod checkout;
mod event;
mod signature;

/// How long one request to Stripe may take.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// The environment variable holding the secret API key.
pub const ENV_SECRET_KEY: &str = "STRIPE_SECRET_KEY";
/// The environment variable holding the webhook endpoint's signing secret.
pub const ENV_WEBHOOK_SECRET: &str = "STRIPE_WEBHOOK_SECRET";
/// The environment variable overriding Stripe's API base URL.
pub const ENV_API_BASE: &str = "STRIPE_API_BASE";

/// What [`StripeBilling`] needs. Its `Debug` output shows neither secret.
#[derive(Clone, PartialEq, Eq)]
pub struct StripeConfig {
    /// The secret API key (`sk_live_…`, `sk_test_…`, or a restricted `rk_…`
    /// key allowed to write Checkout Sessions).
    pub secret_key: String,
    /// The webhook endpoint's signing secret (`whsec_…`).
    pub webhook_secret: String,
    /// Stripe's API base URL, `https://api.stripe.com/` when `None`; set it to
    /// point the client at a stand-in server (tests, stripe-mock).
    pub api_base: Option<String>,
}

impl StripeConfig {
    /// Reads [`ENV_SECRET_KEY`], [`ENV_WEBHOOK_SECRET`] and [`ENV_API_BASE`].
    /// `Ok(None)` when no secret key is set: billing is off.
    ///
    /// ```
    /// # use sentryagent_billing_stripe::StripeConfig;
    /// match StripeConfig::from_env() {
    ///     Ok(Some(config)) => println!("billing with Stripe: {config:?}"),
    ///     Ok(None) => println!("STRIPE_SECRET_KEY is not set: billing is off"),
    ///     Err(e) => eprintln!("{e}"),
    /// }
    /// ```
    ///
    /// # Errors
    /// [`StripeConfigError::MissingWebhookSecret`] when the secret key is set
    /// but the webhook secret is not: webhooks could never be verified.
    pub fn from_env() -> Result<Option<Self>, StripeConfigError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Option<Self>, StripeConfigError> {
        let set = |name| lookup(name).filter(|value| !value.trim().is_empty());
        let Some(secret_key) = set(ENV_SECRET_KEY) else {
            return Ok(None);
        };
        let webhook_secret = set(ENV_WEBHOOK_SECRET).ok_or(StripeConfigError::MissingWebhookSecret)?;
        Ok(Some(Self {
            secret_key,
            webhook_secret,
            api_base: set(ENV_API_BASE),
        }))
    }
}

impl fmt::Debug for StripeConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StripeConfig")
            .field("secret_key", &Redacted(&self.secret_key))
            .field("webhook_secret", &Redacted(&self.webhook_secret))
            .field("api_base", &self.api_base)
            .finish()
    }
}

/// Shows a secret's kind when it has one of Stripe's prefixes, and nothing
/// of the secret itself.
struct Redacted<'a>(&'a str);

impl fmt::Debug for Redacted<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        const PREFIXES: [&str; 5] = ["sk_live_", "sk_test_", "rk_live_", "rk_test_", "whsec_"];
        match PREFIXES.iter().find(|prefix| self.0.starts_with(*prefix)) {
            Some(prefix) => write!(f, "\"{prefix}…\" (redacted)"),
            None => f.write_str("(redacted)"),
        }
    }
}

/// Why a [`StripeConfig`] cannot be used.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StripeConfigError {
    /// The secret API key is empty.
    #[error("the Stripe secret key is empty")]
    EmptySecretKey,
    /// The webhook signing secret is empty: anyone could sign with it.
    #[error("the Stripe webhook signing secret is empty")]
    EmptyWebhookSecret,
    /// A secret key is set but no webhook signing secret.
    #[error("{ENV_SECRET_KEY} is set but {ENV_WEBHOOK_SECRET} is not")]
    MissingWebhookSecret,
    /// The API base is not an absolute `http` or `https` URL.
    #[error("the Stripe API base {0:?} is not an http(s) URL")]
    InvalidApiBase(String),
    /// The Stripe client refused the configuration (e.g. a key with
    /// characters a header cannot carry).
    #[error("the Stripe client refused the configuration: {0}")]
    Client(String),
}

/// The Stripe billing provider: creates subscription Checkout Sessions and
/// verifies and parses webhook events. Cheap to clone.
///
/// Its `Debug` output shows the API base only.
#[derive(Clone)]
pub struct StripeBilling {
    client: stripe::Client,
    webhook_key: std::sync::Arc<signature::WebhookKey>,
    api_base: String,
}

impl StripeBilling {
    /// Builds the provider.
    ///
    /// ```
    /// use sentryagent_billing_stripe::{StripeBilling, StripeConfig};
    ///
    /// let billing = StripeBilling::new(StripeConfig {
    ///     secret_key: "sk_test_4eC39HqLyjWDarjtT1zdp7dc".into(),
    ///     webhook_secret: "whsec_5f2b8d0c9e1a4b7f".into(),
    ///     api_base: None,
    /// })?;
    /// assert_eq!(billing.api_base(), "https://api.stripe.com/");
    /// assert!(!format!("{billing:?}").contains("4eC39"));
    /// # Ok::<(), sentryagent_billing_stripe::StripeConfigError>(())
    /// ```
    ///
    /// # Errors
    /// [`StripeConfigError`] for an empty secret or an invalid API base.
    pub fn new(config: StripeConfig) -> Result<Self, StripeConfigError> {
        if config.secret_key.trim().is_empty() {
            return Err(StripeConfigError::EmptySecretKey);
        }
        if config.webhook_secret.trim().is_empty() {
            return Err(StripeConfigError::EmptyWebhookSecret);
        }
        let api_base = match config.api_base {
            Some(base) => normalise_api_base(&base)?,
            None => "https://api.stripe.com/".to_owned(),
        };
        install_crypto_provider();
        let client = stripe::ClientBuilder::new(config.secret_key)
            .url(api_base.as_str())
            .timeout(REQUEST_TIMEOUT)
            .app_info("SentryAgent", Some(env!("CARGO_PKG_VERSION").to_owned()), None)
            .build()
            .map_err(|e| StripeConfigError::Client(e.to_string()))?;
        Ok(Self {
            client,
            webhook_key: std::sync::Arc::new(signature::WebhookKey::new(&config.webhook_secret)),
            api_base,
        })
    }

    /// The API base URL requests go to (always ending in `/`).
    pub fn api_base(&self) -> &str {
        &self.api_base
    }
}

impl fmt::Debug for StripeBilling {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StripeBilling")
            .field("api_base", &self.api_base)
            .finish_non_exhaustive()
    }
}

#[async_trait]
impl BillingProvider for StripeBilling {
    async fn create_checkout(&self, request: &CheckoutRequest) -> Result<String, BillingError> {
        checkout::create(&self.client, request).await
    }

    fn verify_webhook(
        &self,
        payload: &[u8],
        signature: &str,
        now: OffsetDateTime,
    ) -> Result<BillingEvent, BillingError> {
        self.webhook_key.verify(payload, signature, now)?;
        let event = event::parse(payload)?;
        tracing::debug!(event = %event.id, "Stripe webhook verified");
        Ok(event)
    }
}

/// The client formats request URLs as `{base}v1/…`, so the base must end
/// in `/`.
fn normalise_api_base(base: &str) -> Result<String, StripeConfigError> {
    let trimmed = base.trim();
    let rest = trimmed
        .strip_prefix("https://")
        .or_else(|| trimmed.strip_prefix("http://"));
    match rest {
        Some(rest) if !rest.is_empty() && !rest.starts_with('/') => {}
        _ => return Err(StripeConfigError::InvalidApiBase(base.to_owned())),
    }
    if trimmed.contains(['?', '#']) {
        return Err(StripeConfigError::InvalidApiBase(base.to_owned()));
    }
    Ok(if trimmed.ends_with('/') {
        trimmed.to_owned()
    } else {
        format!("{trimmed}/")
    })
}

/// The Stripe client builds its TLS configuration with rustls's process-wide
/// default crypto provider. rustls picks one by itself when exactly one of
/// its `aws-lc-rs` and `ring` features is on (here: `aws-lc-rs`), and panics
/// when a host's other dependencies turn on both; installing aws-lc-rs first
/// (only when no default is set yet) is what rustls would do, minus the panic.
fn install_crypto_provider() {
    if rustls::crypto::CryptoProvider::get_default().is_none() {
        // Losing a race to another installer is fine: a provider is set.
        let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn api_bases_are_normalised_or_refused() {
        assert_eq!(
            normalise_api_base("http://127.0.0.1:12111").ok().as_deref(),
            Some("http://127.0.0.1:12111/")
        );
        assert_eq!(
            normalise_api_base("https://stripe.internal/api/").ok().as_deref(),
            Some("https://stripe.internal/api/")
        );
        for bad in [
            "",
            "api.stripe.com",
            "ftp://x",
            "http://",
            "http:///v1",
            "http://x/?a=b",
        ] {
            assert!(normalise_api_base(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn config_from_the_environment() {
        let env = |vars: &'static [(&'static str, &'static str)]| {
            move |name: &str| vars.iter().find(|(k, _)| *k == name).map(|(_, v)| (*v).to_owned())
        };
        assert_eq!(StripeConfig::from_lookup(env(&[])).ok(), Some(None));
        assert_eq!(
            StripeConfig::from_lookup(env(&[(ENV_SECRET_KEY, " ")])).ok(),
            Some(None)
        );
        assert!(matches!(
            StripeConfig::from_lookup(env(&[(ENV_SECRET_KEY, "sk_test_1")])),
            Err(StripeConfigError::MissingWebhookSecret)
        ));
        let config = StripeConfig::from_lookup(env(&[
            (ENV_SECRET_KEY, "sk_test_1"),
            (ENV_WEBHOOK_SECRET, "whsec_2"),
            (ENV_API_BASE, "http://127.0.0.1:12111"),
        ]));
        assert_eq!(
            config.ok().flatten(),
            Some(StripeConfig {
                secret_key: "sk_test_1".into(),
                webhook_secret: "whsec_2".into(),
                api_base: Some("http://127.0.0.1:12111".into()),
            })
        );
    }

    #[test]
    fn debug_output_hides_secrets() {
        let config = StripeConfig {
            secret_key: "sk_test_4eC39HqLyjWDarjtT1zdp7dc".into(),
            webhook_secret: "whsec_Xq9vT2mLp0RnB4kZ".into(),
            api_base: None,
        };
        let shown = format!("{config:?}");
        assert!(shown.contains("sk_test_…"), "{shown}");
        assert!(!shown.contains("4eC39") && !shown.contains("Xq9vT"), "{shown}");
        assert_eq!(format!("{:?}", Redacted("no-prefix-secret")), "(redacted)");
        assert_eq!(format!("{:?}", Redacted("sk_other_DEF")), "(redacted)");

        let billing = StripeBilling::new(config).expect("valid config");
        let shown = format!("{billing:?} {:#?}", billing);
        assert!(!shown.contains("4eC39") && !shown.contains("Xq9vT"), "{shown}");
    }

    #[test]
    fn empty_secrets_are_refused() {
        let config = |secret_key: &str, webhook_secret: &str| StripeConfig {
            secret_key: secret_key.into(),
            webhook_secret: webhook_secret.into(),
            api_base: None,
        };
        assert!(matches!(
            StripeBilling::new(config("", "whsec_1")),
            Err(StripeConfigError::EmptySecretKey)
        ));
        assert!(matches!(
            StripeBilling::new(config("sk_test_1", " ")),
            Err(StripeConfigError::EmptyWebhookSecret)
        ));
        assert!(matches!(
            StripeBilling::new(config("sk_test_\n1", "whsec_1")),
            Err(StripeConfigError::Client(_))
        ));
    }
}
