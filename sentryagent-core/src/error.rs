//! The error types of the core. [`Error`] is what every operation returns,
//! with a stable [`ErrorCode`]; `http::error` gives each code its status and
//! writes the API's error envelope, in one place. [`OAuthError`] is the
//! RFC 6749 §5.2 error of the OAuth endpoints.

mod billing;
mod federation;

use std::borrow::Cow;
use std::fmt;

use serde::Serialize;

pub use billing::BillingError;
pub use federation::FederationError;

/// Declares the codes once, with their spelling on the wire.
macro_rules! error_codes {
    ($($(#[doc = $doc:literal])* $variant:ident = $code:literal,)*) => {
        /// The stable code of an error: the `code` of the API's error
        /// envelope (`SCREAMING_SNAKE`, as in `API.md`).
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        #[non_exhaustive]
        pub enum ErrorCode {
            $($(#[doc = $doc])* $variant,)*
        }

        impl ErrorCode {
            /// Every code.
            pub const ALL: &[ErrorCode] = &[$(ErrorCode::$variant,)*];

            /// The code as the envelope spells it.
            pub fn as_str(self) -> &'static str {
                match self {
                    $(ErrorCode::$variant => $code,)*
                }
            }
        }
    };
}

error_codes! {
    /// A malformed request or an invalid field.
    ValidationError = "VALIDATION_ERROR",
    /// No valid credentials.
    Unauthorized = "UNAUTHORIZED",
    /// The token lacks a scope the call needs.
    InsufficientScope = "INSUFFICIENT_SCOPE",
    /// The caller may not do this.
    Forbidden = "FORBIDDEN",
    /// The scope-ceiling rule refused.
    ScopeCeiling = "SCOPE_CEILING",
    /// Sign-up over HTTP is closed.
    SignupClosed = "SIGNUP_CLOSED",
    /// The agent is suspended.
    AgentSuspended = "AGENT_SUSPENDED",
    /// The agent is decommissioned.
    AgentDecommissioned = "AGENT_DECOMMISSIONED",
    /// Nothing with this id (or no such route).
    NotFound = "NOT_FOUND",
    /// The path exists, not with this method (HTTP layer only).
    MethodNotAllowed = "METHOD_NOT_ALLOWED",
    /// The body is over the limit (HTTP layer only).
    PayloadTooLarge = "PAYLOAD_TOO_LARGE",
    /// The body is not of the content type the route takes (HTTP layer only).
    UnsupportedMediaType = "UNSUPPORTED_MEDIA_TYPE",
    /// The agent's name is in use in the tenant.
    AgentNameTaken = "AGENT_NAME_TAKEN",
    /// The key is already registered to the agent.
    AgentKeyExists = "AGENT_KEY_EXISTS",
    /// The agent has as many keys as it may.
    AgentKeyLimit = "AGENT_KEY_LIMIT",
    /// The credential is revoked.
    CredentialRevoked = "CREDENTIAL_REVOKED",
    /// The tenant has as many trust policies as it may.
    TrustPolicyLimit = "TRUST_POLICY_LIMIT",
    /// The tenant has as many OAuth clients as it may.
    OAuthClientLimit = "OAUTH_CLIENT_LIMIT",
    /// The audit log's signed checkpoint is missing.
    AuditCheckpointMissing = "AUDIT_CHECKPOINT_MISSING",
    /// Over a rate limit.
    RateLimited = "RATE_LIMITED",
    /// The tier's agent limit is reached.
    TierAgentLimit = "TIER_AGENT_LIMIT",
    /// The tier's daily call quota is used up.
    TierQuotaExceeded = "TIER_QUOTA_EXCEEDED",
    /// No billing provider is configured.
    BillingNotConfigured = "BILLING_NOT_CONFIGURED",
    /// A billing webhook failed verification.
    WebhookRejected = "WEBHOOK_REJECTED",
    /// The billing provider failed.
    BillingProviderError = "BILLING_PROVIDER_ERROR",
    /// The OIDC token has expired.
    OidcTokenExpired = "OIDC_TOKEN_EXPIRED",
    /// The OIDC token is invalid.
    OidcTokenInvalid = "OIDC_TOKEN_INVALID",
    /// No trust policy matches the OIDC token.
    TrustPolicyNotFound = "TRUST_POLICY_NOT_FOUND",
    /// The OIDC token's branch is not the policy's.
    TrustPolicyBranchMismatch = "TRUST_POLICY_BRANCH_MISMATCH",
    /// Several tenants' or agents' policies match; the request must name one.
    TrustPolicyAmbiguous = "TRUST_POLICY_AMBIGUOUS",
    /// The OIDC issuer's keys cannot be fetched.
    OidcProviderUnavailable = "OIDC_PROVIDER_UNAVAILABLE",
    /// OIDC token exchange is not configured.
    OidcNotConfigured = "OIDC_NOT_CONFIGURED",
    /// A backend is down.
    ServiceUnavailable = "SERVICE_UNAVAILABLE",
    /// Anything unexpected; nothing internal is revealed.
    InternalServerError = "INTERNAL_SERVER_ERROR",
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What went wrong with one field of a request.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct FieldError {
    /// The field's name as the API spells it (`name`, `capabilities[2]`, `from`).
    pub field: String,
    /// A human sentence about the problem.
    pub message: String,
}

/// `field: message; field: message`, for [`Error::Validation`]'s text.
fn field_errors(fields: &[FieldError]) -> String {
    let each: Vec<String> = fields.iter().map(|f| format!("{}: {}", f.field, f.message)).collect();
    each.join("; ")
}

/// The error of every SentryAgent operation.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The request is malformed or a field is invalid (400 `VALIDATION_ERROR`).
    #[error("the request is invalid: {}", field_errors(.0))]
    Validation(Vec<FieldError>),
    /// No valid credentials were presented (401 `UNAUTHORIZED`).
    #[error("{0}")]
    Unauthorized(Cow<'static, str>),
    /// The caller is authenticated but lacks a scope (403 `INSUFFICIENT_SCOPE`).
    #[error("this call needs the `{0}` scope")]
    InsufficientScope(Cow<'static, str>),
    /// The scope-ceiling rule refused (403 `SCOPE_CEILING`); see
    /// [`permission`](crate::permission).
    #[error("{}", .0.message())]
    ScopeCeiling(crate::permission::Refusal),
    /// Sign-up over HTTP is closed on this server (403 `SIGNUP_CLOSED`).
    #[error("sign-up is closed on this server; the operator creates tenants")]
    SignupClosed,
    /// The caller may not do this (403 `FORBIDDEN`).
    #[error("{0}")]
    Forbidden(Cow<'static, str>),
    /// The agent is suspended (403 `AGENT_SUSPENDED`).
    #[error("the agent is suspended")]
    AgentSuspended,
    /// The resource does not exist in the caller's tenant (404 `NOT_FOUND`).
    #[error("{0} not found")]
    NotFound(&'static str),
    /// The request conflicts with the current state (409, with a specific code).
    #[error("{message}")]
    Conflict {
        /// The envelope's code, e.g. [`ErrorCode::AgentNameTaken`].
        code: ErrorCode,
        /// A human sentence.
        message: Cow<'static, str>,
    },
    /// Registering one more agent would pass the tier's limit (403 `TIER_AGENT_LIMIT`).
    #[error("the tier allows {limit} agents; upgrade to register more")]
    TierAgentLimit {
        /// The tier's agent limit.
        limit: u64,
    },
    /// The tier's daily call quota is used up (429 `TIER_QUOTA_EXCEEDED`).
    #[error("the tier's quota of {limit} API calls per day is used up; it resets at 00:00 UTC")]
    TierQuotaExceeded {
        /// The tier's daily quota.
        limit: u64,
        /// Until the next UTC midnight.
        retry_after: std::time::Duration,
    },
    /// Billing is not configured on this server (503 `BILLING_NOT_CONFIGURED`).
    #[error("billing is not configured on this server")]
    BillingNotConfigured,
    /// A billing webhook failed verification (400 `WEBHOOK_REJECTED`); the
    /// provider's refusal is the source.
    #[error("the billing webhook was rejected")]
    WebhookRejected(#[source] BillingError),
    /// The billing provider failed (502 `BILLING_PROVIDER_ERROR`); its error
    /// is the source.
    #[error("the billing provider failed")]
    BillingProvider(#[source] BillingError),
    /// Over the rate limit (429 `RATE_LIMITED`).
    #[error("too many requests; retry after {} s", retry_after.as_secs().max(1))]
    RateLimited {
        /// When a request would be allowed again.
        retry_after: std::time::Duration,
    },
    /// The OIDC token exchange refused (status and code per variant).
    #[error(transparent)]
    Federation(#[from] FederationError),
    /// A backend failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A bug or an unexpected state; the message is logged, never sent.
    #[error("internal error: {0}")]
    Internal(Cow<'static, str>),
}

impl Error {
    /// A validation error about one field.
    pub fn invalid(field: impl Into<String>, message: impl Into<String>) -> Self {
        Error::Validation(vec![FieldError {
            field: field.into(),
            message: message.into(),
        }])
    }

    /// An unauthorized error with a static reason.
    pub fn unauthorized(reason: &'static str) -> Self {
        Error::Unauthorized(Cow::Borrowed(reason))
    }

    /// The stable code of this error; a backend that is down is
    /// `SERVICE_UNAVAILABLE`, any other store failure or bug
    /// `INTERNAL_SERVER_ERROR`.
    pub fn code(&self) -> ErrorCode {
        match self {
            Error::Validation(_) => ErrorCode::ValidationError,
            Error::Unauthorized(_) => ErrorCode::Unauthorized,
            Error::InsufficientScope(_) => ErrorCode::InsufficientScope,
            Error::ScopeCeiling(_) => ErrorCode::ScopeCeiling,
            Error::SignupClosed => ErrorCode::SignupClosed,
            Error::Forbidden(_) => ErrorCode::Forbidden,
            Error::AgentSuspended => ErrorCode::AgentSuspended,
            Error::NotFound(_) => ErrorCode::NotFound,
            Error::Conflict { code, .. } => *code,
            Error::TierAgentLimit { .. } => ErrorCode::TierAgentLimit,
            Error::TierQuotaExceeded { .. } => ErrorCode::TierQuotaExceeded,
            Error::BillingNotConfigured => ErrorCode::BillingNotConfigured,
            Error::WebhookRejected(_) => ErrorCode::WebhookRejected,
            Error::BillingProvider(_) => ErrorCode::BillingProviderError,
            Error::RateLimited { .. } => ErrorCode::RateLimited,
            Error::Federation(e) => e.code(),
            Error::Store(e) if e.kind() == StoreErrorKind::Unavailable => ErrorCode::ServiceUnavailable,
            Error::Store(_) | Error::Internal(_) => ErrorCode::InternalServerError,
        }
    }
}

/// Collects field errors, so a caller is told about every bad field at once.
#[derive(Debug, Default)]
pub(crate) struct Validator(Vec<FieldError>);

impl Validator {
    pub(crate) fn check(&mut self, ok: bool, field: &str, message: impl Into<String>) {
        if !ok {
            self.0.push(FieldError {
                field: field.to_owned(),
                message: message.into(),
            });
        }
    }

    pub(crate) fn push(&mut self, field: impl Into<String>, message: impl Into<String>) {
        self.check(false, &field.into(), message);
    }

    pub(crate) fn finish(self) -> Result<(), Error> {
        if self.0.is_empty() {
            Ok(())
        } else {
            Err(Error::Validation(self.0))
        }
    }
}

/// How a store operation failed; callers branch on it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum StoreErrorKind {
    /// A uniqueness constraint was violated.
    Conflict,
    /// The backend could not be reached or timed out; retrying later may work.
    Unavailable,
    /// Stored data could not be decoded.
    Corrupt,
    /// Anything else.
    Other,
}

impl fmt::Display for StoreErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            StoreErrorKind::Conflict => "conflict",
            StoreErrorKind::Unavailable => "backend unavailable",
            StoreErrorKind::Corrupt => "corrupt data",
            StoreErrorKind::Other => "store error",
        })
    }
}

/// The one error type of every store trait. Backends keep their own error as
/// the [`source`](std::error::Error::source).
#[derive(Debug, thiserror::Error)]
#[error("{kind}: {message}")]
pub struct StoreError {
    kind: StoreErrorKind,
    message: Cow<'static, str>,
    #[source]
    source: Option<Box<dyn std::error::Error + Send + Sync>>,
}

impl StoreError {
    /// A store error of `kind`.
    pub fn new(kind: StoreErrorKind, message: impl Into<Cow<'static, str>>) -> Self {
        Self {
            kind,
            message: message.into(),
            source: None,
        }
    }

    /// Attaches the backend's own error.
    pub fn with_source(mut self, source: impl std::error::Error + Send + Sync + 'static) -> Self {
        self.source = Some(Box::new(source));
        self
    }

    /// What kind of failure this is.
    pub fn kind(&self) -> StoreErrorKind {
        self.kind
    }

    /// A uniqueness violation.
    pub fn conflict(message: impl Into<Cow<'static, str>>) -> Self {
        Self::new(StoreErrorKind::Conflict, message)
    }
}

/// An OAuth 2.0 error code (RFC 6749 §5.2, RFC 7009, RFC 8707).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum OAuthErrorCode {
    /// The request is missing a required parameter, includes an unsupported
    /// parameter value, repeats a parameter, or is otherwise malformed.
    InvalidRequest,
    /// Client authentication failed (unknown client, no client authentication
    /// included, or unsupported authentication method).
    InvalidClient,
    /// The provided authorization grant is invalid, expired or revoked.
    InvalidGrant,
    /// The authenticated client is not authorized to use this grant type.
    UnauthorizedClient,
    /// The authorization grant type is not supported by the authorization server.
    UnsupportedGrantType,
    /// The requested scope is invalid, unknown, malformed, or exceeds the
    /// scope granted by the resource owner.
    InvalidScope,
    /// The requested resource (audience) is invalid or unknown (RFC 8707).
    InvalidTarget,
    /// The bearer token presented is invalid, expired or revoked (RFC 6750).
    InvalidToken,
    /// The bearer token lacks the scope this call needs (RFC 6750).
    InsufficientScope,
    /// The tenant's daily call quota is used up (not an RFC code; 429).
    TierQuotaExceeded,
    /// The server is temporarily unable to handle the request.
    TemporarilyUnavailable,
    /// The server met an unexpected condition.
    ServerError,
    /// A redirect URI of a dynamic registration is refused (RFC 7591 §3.2.2).
    InvalidRedirectUri,
    /// A field of a dynamic registration is refused (RFC 7591 §3.2.2).
    InvalidClientMetadata,
}

/// An RFC 6749 §5.2 error answer.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error, Serialize, utoipa::ToSchema)]
#[error("{error:?}: {error_description}")]
pub struct OAuthError {
    /// The error code.
    pub error: OAuthErrorCode,
    /// A human sentence.
    pub error_description: Cow<'static, str>,
    /// For `Retry-After`, when retrying later can succeed.
    #[serde(skip)]
    pub retry_after: Option<std::time::Duration>,
}

impl OAuthError {
    /// An error with a description.
    pub fn new(error: OAuthErrorCode, description: impl Into<Cow<'static, str>>) -> Self {
        Self {
            error,
            error_description: description.into(),
            retry_after: None,
        }
    }

    pub(crate) fn invalid_request(description: impl Into<Cow<'static, str>>) -> Self {
        Self::new(OAuthErrorCode::InvalidRequest, description)
    }

    pub(crate) fn invalid_client() -> Self {
        Self::new(OAuthErrorCode::InvalidClient, "client authentication failed")
    }

    /// `invalid_target` (RFC 8707) for a resource a grant may not bind.
    pub(crate) fn target_refused() -> Self {
        Self::new(
            OAuthErrorCode::InvalidTarget,
            "the resource is unknown, or does not accept this client",
        )
    }
}

impl From<StoreError> for OAuthError {
    fn from(err: StoreError) -> Self {
        match err.kind() {
            StoreErrorKind::Unavailable => {
                tracing::warn!(error = %err, "store unavailable during an OAuth request");
                Self::new(
                    OAuthErrorCode::TemporarilyUnavailable,
                    "the service is temporarily unavailable; retry later",
                )
            }
            _ => {
                tracing::error!(error = %err, "store error during an OAuth request");
                Self::new(OAuthErrorCode::ServerError, "an unexpected error occurred")
            }
        }
    }
}

impl From<Error> for OAuthError {
    fn from(err: Error) -> Self {
        match err {
            Error::Store(e) => e.into(),
            Error::TierQuotaExceeded { retry_after, .. } => Self {
                retry_after: Some(retry_after),
                ..Self::new(OAuthErrorCode::TierQuotaExceeded, err.to_string())
            },
            other => {
                tracing::error!(error = %other, "unexpected error during an OAuth request");
                Self::new(OAuthErrorCode::ServerError, "an unexpected error occurred")
            }
        }
    }
}

/// Shorthand for results of store operations.
pub type StoreResult<T> = Result<T, StoreError>;
