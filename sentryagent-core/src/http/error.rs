//! The one place where errors become HTTP answers: an [`HttpError`] (a
//! domain [`Error`] or the HTTP layer's own refusal) becomes the API's
//! envelope `{code, message, details?}` with its code's status,
//! [`OAuthError`] the RFC 6749 §5.2 body.

use http::StatusCode;
use http::header::{HeaderValue, RETRY_AFTER, WWW_AUTHENTICATE};
use serde::Serialize;

use super::Response;
use crate::error::{Error, ErrorCode, FederationError, OAuthError, OAuthErrorCode};

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
    /// The request's id, as in the `X-Request-Id` header: quote it when
    /// reporting the error.
    #[serde(rename = "requestId", skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>, nullable = false, example = "4bf92f3577b34da6a3ce929d0e0e4736")]
    request_id: Option<Box<str>>,
}

/// An error as the API answers it: a domain [`Error`], or a refusal of the
/// HTTP layer itself (no such route or method, a body too large or of the
/// wrong type). The one place an error gets its status.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum HttpError {
    /// What an operation of the core returned.
    #[error(transparent)]
    Domain(#[from] Error),
    /// No route has this path (404 `NOT_FOUND`).
    #[error("no route matches this path")]
    RouteNotFound,
    /// The path exists but not with this method (405 `METHOD_NOT_ALLOWED`).
    #[error("this method is not allowed on this path")]
    MethodNotAllowed,
    /// The body is larger than the configured limit (413 `PAYLOAD_TOO_LARGE`).
    #[error("the request body is larger than {limit} bytes")]
    PayloadTooLarge {
        /// The limit in bytes.
        limit: usize,
    },
    /// The body's content type is not the one the route takes (415
    /// `UNSUPPORTED_MEDIA_TYPE`).
    #[error("this route takes a body of type {expected}")]
    UnsupportedMediaType {
        /// The expected media type.
        expected: &'static str,
    },
}

impl HttpError {
    /// The envelope's code.
    pub fn code(&self) -> ErrorCode {
        match self {
            HttpError::Domain(e) => e.code(),
            HttpError::RouteNotFound => ErrorCode::NotFound,
            HttpError::MethodNotAllowed => ErrorCode::MethodNotAllowed,
            HttpError::PayloadTooLarge { .. } => ErrorCode::PayloadTooLarge,
            HttpError::UnsupportedMediaType { .. } => ErrorCode::UnsupportedMediaType,
        }
    }

    /// The status: a conflict is 409 whatever its code (registering for a
    /// decommissioned agent is 409 `AGENT_DECOMMISSIONED`, exchanging a
    /// token for one is 403); any other error has its code's status.
    pub fn status(&self) -> StatusCode {
        match self {
            HttpError::Domain(Error::Conflict { .. }) => StatusCode::CONFLICT,
            other => status_of(other.code()),
        }
    }

    /// The envelope's `details`, for the codes that have them.
    fn details(&self) -> Option<serde_json::Value> {
        let HttpError::Domain(err) = self else {
            return None;
        };
        match err {
            Error::Validation(fields) => Some(serde_json::Value::Object(
                fields
                    .iter()
                    .map(|f| (f.field.clone(), serde_json::Value::from(f.message.clone())))
                    .collect(),
            )),
            Error::InsufficientScope(scope) => Some(serde_json::json!({ "requiredScope": scope })),
            Error::ScopeCeiling(refusal) => {
                let mut d = serde_json::json!({ "rule": refusal.rule() });
                if let Some(scope) = refusal.scope() {
                    d["scope"] = scope.into();
                }
                Some(d)
            }
            Error::Federation(FederationError::BranchMismatch { allowed, provided }) => {
                Some(serde_json::json!({ "allowed": allowed, "provided": provided }))
            }
            Error::Federation(FederationError::PolicyNotFound {
                repository,
                git_ref,
                event,
            }) => Some(serde_json::json!({ "repository": repository, "ref": git_ref, "eventName": event })),
            Error::Federation(FederationError::Ambiguous { field, count, .. }) => {
                Some(serde_json::json!({ "field": field, "matches": count }))
            }
            Error::TierAgentLimit { limit } | Error::TierQuotaExceeded { limit, .. } => {
                Some(serde_json::json!({ "limit": limit }))
            }
            _ => None,
        }
    }

    /// The envelope's sentence: a server error's stays in the log.
    fn message(&self, status: StatusCode) -> String {
        match self {
            HttpError::Domain(Error::Validation(_)) => "the request is invalid; see details".to_owned(),
            // The provider's refusal says what was wrong with the webhook.
            HttpError::Domain(Error::WebhookRejected(why)) => why.to_string(),
            // These say what the operator must set up or wait for.
            HttpError::Domain(Error::Federation(_) | Error::BillingNotConfigured) => self.to_string(),
            _ if status == StatusCode::SERVICE_UNAVAILABLE => {
                tracing::warn!(error = %Report(self), "backend unavailable");
                "the service is temporarily unavailable; retry later".to_owned()
            }
            _ if status.is_server_error() => {
                tracing::error!(error = %Report(self), "internal error");
                "an unexpected error occurred".to_owned()
            }
            _ => self.to_string(),
        }
    }
}

/// The code→status table of the API's error envelope, federation included.
fn status_of(code: ErrorCode) -> StatusCode {
    use ErrorCode as C;
    match code {
        C::ValidationError | C::WebhookRejected | C::TrustPolicyAmbiguous => StatusCode::BAD_REQUEST,
        C::Unauthorized | C::OidcTokenExpired | C::OidcTokenInvalid => StatusCode::UNAUTHORIZED,
        C::InsufficientScope
        | C::Forbidden
        | C::ScopeCeiling
        | C::SignupClosed
        | C::AgentSuspended
        | C::AgentDecommissioned
        | C::TierAgentLimit
        | C::TrustPolicyNotFound
        | C::TrustPolicyBranchMismatch => StatusCode::FORBIDDEN,
        C::NotFound => StatusCode::NOT_FOUND,
        C::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
        C::AgentNameTaken
        | C::AgentKeyExists
        | C::AgentKeyLimit
        | C::CredentialRevoked
        | C::TrustPolicyLimit
        | C::OAuthClientLimit
        | C::AuditCheckpointMissing => StatusCode::CONFLICT,
        C::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
        C::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
        C::RateLimited | C::TierQuotaExceeded => StatusCode::TOO_MANY_REQUESTS,
        C::BillingProviderError => StatusCode::BAD_GATEWAY,
        C::BillingNotConfigured | C::OidcProviderUnavailable | C::OidcNotConfigured | C::ServiceUnavailable => {
            StatusCode::SERVICE_UNAVAILABLE
        }
        C::InternalServerError => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

/// An error with its sources, for the log.
struct Report<'a>(&'a (dyn std::error::Error + 'static));

impl std::fmt::Display for Report<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.0)?;
        let mut source = self.0.source();
        while let Some(cause) = source {
            write!(f, ": {cause}")?;
            source = cause.source();
        }
        Ok(())
    }
}

impl From<Error> for Response {
    fn from(err: Error) -> Self {
        HttpError::from(err).into()
    }
}

impl From<HttpError> for Response {
    fn from(err: HttpError) -> Self {
        let status = err.status();
        let message = err.message(status);
        let mut response = Response::json(
            status,
            &ErrorBody {
                code: err.code().as_str(),
                message: &message,
                details: err.details(),
                request_id: crate::observe::request::current_id(),
            },
        );
        let challenge = match &err {
            HttpError::Domain(Error::Unauthorized(_)) => {
                Some("Bearer realm=\"sentryagent\", error=\"invalid_token\"".to_owned())
            }
            HttpError::Domain(Error::InsufficientScope(scope)) => Some(format!(
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
        if let HttpError::Domain(Error::RateLimited { retry_after } | Error::TierQuotaExceeded { retry_after, .. }) =
            err
        {
            let secs = retry_after.as_secs() + u64::from(retry_after.subsec_nanos() > 0);
            response.headers.insert(RETRY_AFTER, HeaderValue::from(secs.max(1)));
        }
        response
    }
}

impl From<crate::resource::Refusal> for Response {
    /// The envelope of the refusal's error, with the resource's challenge
    /// in place of the envelope's default one.
    fn from(refusal: crate::resource::Refusal) -> Self {
        let challenge = refusal.challenge().and_then(|c| HeaderValue::from_str(c).ok());
        let mut response = Response::from(HttpError::from(refusal.error));
        if let Some(value) = challenge {
            response.headers.insert(WWW_AUTHENTICATE, value);
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_unique_screaming_snake_and_never_a_success() {
        let mut seen = std::collections::HashSet::new();
        for code in ErrorCode::ALL {
            let s = code.as_str();
            assert!(seen.insert(s), "{s} twice");
            assert!(s.chars().all(|c| c.is_ascii_uppercase() || c == '_'), "{s}");
            let status = status_of(*code);
            assert!(status.is_client_error() || status.is_server_error(), "{s}: {status}");
        }
    }

    #[test]
    fn a_conflict_is_409_whatever_its_code() {
        let conflict = HttpError::from(Error::Conflict {
            code: ErrorCode::AgentDecommissioned,
            message: "gone".into(),
        });
        assert_eq!(conflict.status(), StatusCode::CONFLICT);
        let exchange = HttpError::from(Error::Federation(FederationError::AgentDecommissioned));
        assert_eq!(exchange.status(), StatusCode::FORBIDDEN);
        assert_eq!(conflict.code(), exchange.code());
    }
}
