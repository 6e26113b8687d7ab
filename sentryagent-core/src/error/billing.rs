//! The errors of a billing provider.

/// Why a provider call failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BillingError {
    /// The webhook's signature header is missing, malformed, wrong, or too old.
    #[error("webhook signature rejected: {0}")]
    BadSignature(String),
    /// The webhook body is not an event the provider's format describes.
    #[error("webhook payload rejected: {0}")]
    BadPayload(String),
    /// The provider answered with an error or could not be reached.
    #[error("billing provider error: {message}")]
    Provider {
        /// What the provider said, for the operator's log.
        message: String,
        /// The provider client's own error, when there is one.
        #[source]
        source: Option<Box<dyn std::error::Error + Send + Sync>>,
    },
}

impl BillingError {
    /// A provider failure with no error of its own behind it.
    pub fn provider(message: impl Into<String>) -> Self {
        BillingError::Provider {
            message: message.into(),
            source: None,
        }
    }

    /// A provider failure caused by the provider client's `source`.
    pub fn provider_caused_by(
        message: impl Into<String>,
        source: impl std::error::Error + Send + Sync + 'static,
    ) -> Self {
        BillingError::Provider {
            message: message.into(),
            source: Some(Box::new(source)),
        }
    }
}
