//! The one place where errors become HTTP answers: [`Error`] becomes the
//! API's envelope `{code, message, details?}`, [`OAuthError`] the RFC 6749
//! §5.2 body.

use http::StatusCode;
use http::header::{HeaderValue, RETRY_AFTER, WWW_AUTHENTICATE};
use serde::Serialize;

use super::Response;
use crate::error::{Error, OAuthError, OAuthErrorCode, StoreErrorKind};

/// The API's error envelope.
#[derive(Serialize, utoipa::ToSchema)]
#[schema(as = Error)]
pub(crate) struct ErrorBody<'a> {
    /// A stable `SCREAMING_SNAKE` code, e.g. `VALIDATION_ERROR`.
    #[schema(example = "VALIDATION_ERROR")]
    code: &'a str,
    /// A human sentence.
    message: &'a str,
    /// More about the error: for `VALIDATION_ERROR`, a message per bad field.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>, nullable = false)]
    details: Option<serde_json::Value>,
}

impl Error {
    /// The status and envelope code this error is answered with.
    pub fn status_and_code(&self) -> (StatusCode, &'static str) {
        match self {
            Error::Validation(_) => (StatusCode::BAD_REQUEST, "VALIDATION_ERROR"),
            Error::Unauthorized(_) => (StatusCode::UNAUTHORIZED, "UNAUTHORIZED"),
            Error::InsufficientScope(_) => (StatusCode::FORBIDDEN, "INSUFFICIENT_SCOPE"),
            Error::Forbidden(_) => (StatusCode::FORBIDDEN, "FORBIDDEN"),
            Error::ScopeCeiling(_) => (StatusCode::FORBIDDEN, "SCOPE_CEILING"),
            Error::SignupClosed => (StatusCode::FORBIDDEN, "SIGNUP_CLOSED"),
            Error::AgentSuspended => (StatusCode::FORBIDDEN, "AGENT_SUSPENDED"),
            Error::NotFound(_) | Error::RouteNotFound => (StatusCode::NOT_FOUND, "NOT_FOUND"),
            Error::MethodNotAllowed => (StatusCode::METHOD_NOT_ALLOWED, "METHOD_NOT_ALLOWED"),
            Error::Conflict { code, .. } => (StatusCode::CONFLICT, code),
            Error::RateLimited { .. } => (StatusCode::TOO_MANY_REQUESTS, "RATE_LIMITED"),
            Error::TierAgentLimit { .. } => (StatusCode::FORBIDDEN, "TIER_AGENT_LIMIT"),
            Error::TierQuotaExceeded { .. } => (StatusCode::TOO_MANY_REQUESTS, "TIER_QUOTA_EXCEEDED"),
            Error::BillingNotConfigured => (StatusCode::SERVICE_UNAVAILABLE, "BILLING_NOT_CONFIGURED"),
            Error::WebhookRejected(_) => (StatusCode::BAD_REQUEST, "WEBHOOK_REJECTED"),
            Error::BillingProvider(_) => (StatusCode::BAD_GATEWAY, "BILLING_PROVIDER_ERROR"),
            Error::PayloadTooLarge { .. } => (StatusCode::PAYLOAD_TOO_LARGE, "PAYLOAD_TOO_LARGE"),
            Error::UnsupportedMediaType { .. } => (StatusCode::UNSUPPORTED_MEDIA_TYPE, "UNSUPPORTED_MEDIA_TYPE"),
            Error::Federation(e) => e.status_and_code(),
            Error::Store(e) if e.kind() == StoreErrorKind::Unavailable => {
                (StatusCode::SERVICE_UNAVAILABLE, "SERVICE_UNAVAILABLE")
            }
            Error::Store(_) | Error::Internal(_) => (StatusCode::INTERNAL_SERVER_ERROR, "INTERNAL_SERVER_ERROR"),
        }
    }
}

impl From<Error> for Response {
    fn from(err: Error) -> Self {
        let (status, code) = err.status_and_code();
        let mut details = None;
        let message = match &err {
            Error::Validation(fields) => {
                let map: serde_json::Map<_, _> = fields
                    .iter()
                    .map(|f| (f.field.clone(), serde_json::Value::from(f.message.clone())))
                    .collect();
                details = Some(serde_json::Value::Object(map));
                "the request is invalid; see details".to_owned()
            }
            Error::InsufficientScope(scope) => {
                details = Some(serde_json::json!({ "requiredScope": scope }));
                err.to_string()
            }
            Error::ScopeCeiling(refusal) => {
                let mut d = serde_json::json!({ "rule": refusal.rule() });
                if let Some(scope) = refusal.scope() {
                    d["scope"] = scope.into();
                }
                details = Some(d);
                err.to_string()
            }
            Error::Federation(e) => {
                details = e.details();
                err.to_string()
            }
            Error::TierAgentLimit { limit } | Error::TierQuotaExceeded { limit, .. } => {
                details = Some(serde_json::json!({ "limit": limit }));
                err.to_string()
            }
            Error::BillingNotConfigured => err.to_string(),
            _ if status == StatusCode::SERVICE_UNAVAILABLE => {
                tracing::warn!(error = %err, "backend unavailable");
                "the service is temporarily unavailable; retry later".to_owned()
            }
            _ if status.is_server_error() => {
                tracing::error!(error = %err, "internal error");
                "an unexpected error occurred".to_owned()
            }
            _ => err.to_string(),
        };
        let mut response = Response::json(
            status,
            &ErrorBody {
                code,
                message: &message,
                details,
            },
        );
        let challenge = match &err {
            Error::Unauthorized(_) => Some("Bearer realm=\"sentryagent\", error=\"invalid_token\"".to_owned()),
            Error::InsufficientScope(scope) => Some(format!(
                "Bearer realm=\"sentryagent\", error=\"insufficient_scope\", scope=\"{scope}\""
            )),
            _ => None,
        };
        if let Some(value) = challenge.and_then(|c| HeaderValue::from_str(&c).ok()) {
            response.headers.insert(WWW_AUTHENTICATE, value);
        }
        if status == StatusCode::SERVICE_UNAVAILABLE {
            response.headers.insert(RETRY_AFTER, HeaderValue::from_static("5"));
        }
        if let Error::RateLimited { retry_after } | Error::TierQuotaExceeded { retry_after, .. } = err {
            let secs = retry_after.as_secs() + u64::from(retry_after.subsec_nanos() > 0);
            response.headers.insert(RETRY_AFTER, HeaderValue::from(secs.max(1)));
        }
        response
    }
}

impl From<OAuthError> for Response {
    fn from(err: OAuthError) -> Self {
        let status = match err.error {
            OAuthErrorCode::InvalidClient | OAuthErrorCode::InvalidToken => StatusCode::UNAUTHORIZED,
            OAuthErrorCode::InsufficientScope => StatusCode::FORBIDDEN,
            OAuthErrorCode::TemporarilyUnavailable => StatusCode::SERVICE_UNAVAILABLE,
            OAuthErrorCode::TierQuotaExceeded => StatusCode::TOO_MANY_REQUESTS,
            OAuthErrorCode::ServerError => StatusCode::INTERNAL_SERVER_ERROR,
            _ => StatusCode::BAD_REQUEST,
        };
        let mut response = Response::json(status, &err).no_store();
        let challenge = match err.error {
            OAuthErrorCode::InvalidClient => Some("Basic realm=\"sentryagent\""),
            OAuthErrorCode::InvalidToken => Some("Bearer realm=\"sentryagent\", error=\"invalid_token\""),
            _ => None,
        };
        if let Some(c) = challenge {
            response.headers.insert(WWW_AUTHENTICATE, HeaderValue::from_static(c));
        }
        if let Some(retry_after) = err.retry_after {
            response
                .headers
                .insert(RETRY_AFTER, HeaderValue::from(retry_after.as_secs().max(1)));
        } else if status == StatusCode::SERVICE_UNAVAILABLE {
            response.headers.insert(RETRY_AFTER, HeaderValue::from_static("5"));
        }
        response
    }
}

impl From<crate::token::TokenRefusal> for Response {
    fn from(refusal: crate::token::TokenRefusal) -> Self {
        match refusal {
            crate::token::TokenRefusal::OAuth(e) => e.into(),
            crate::token::TokenRefusal::RateLimited(retry_after) => Error::RateLimited { retry_after }.into(),
        }
    }
}
