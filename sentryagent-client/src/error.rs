//! What a call can fail with: the server's refusal (its error envelope, or an
//! OAuth error answer), an unreachable server, or an answer this client
//! cannot read.

use std::fmt;
use std::time::Duration;

/// A refusal by the server, from its error envelope
/// (`{"code", "message", "details"}`) or, on the OAuth endpoints, from an
/// RFC 6749 error answer (`{"error", "error_description"}`; `code` is then
/// the OAuth code, e.g. `invalid_client`).
///
/// `code` is the server's string as it came: new codes flow through without a
/// new release of this crate.
#[derive(Clone, Debug, PartialEq)]
pub struct ApiError {
    /// The HTTP status.
    pub status: u16,
    /// The stable code, e.g. `AGENT_NAME_TAKEN` or `invalid_client`.
    pub code: String,
    /// The server's human sentence.
    pub message: String,
    /// More about the error (for `VALIDATION_ERROR`, a message per bad field).
    pub details: Option<serde_json::Value>,
    /// The `Retry-After` the server asked for (429, 503).
    pub retry_after: Option<Duration>,
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}: {}", self.status, self.code, self.message)
    }
}

/// Everything a call of [`Client`](crate::Client) can fail with.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The server answered and refused.
    #[error("{0}")]
    Api(ApiError),
    /// No answer: the server could not be reached, or the connection failed
    /// or timed out.
    #[error("cannot reach {url}: {source}")]
    Unreachable {
        /// The URL called.
        url: String,
        /// What failed.
        #[source]
        source: reqwest::Error,
    },
    /// The server answered something this client cannot read.
    #[error("unexpected answer from {url} ({status}): {reason}")]
    Decode {
        /// The URL called.
        url: String,
        /// The HTTP status of the answer.
        status: u16,
        /// What did not fit.
        reason: String,
    },
    /// The client was set up or called wrongly (no credentials, a bad URL,
    /// a token that is not a JWT).
    #[error("{0}")]
    Usage(String),
}

impl Error {
    /// The server's refusal, if it was one.
    pub fn api(&self) -> Option<&ApiError> {
        match self {
            Self::Api(e) => Some(e),
            _ => None,
        }
    }

    /// The server's error code, if it refused.
    pub fn code(&self) -> Option<&str> {
        self.api().map(|e| e.code.as_str())
    }

    /// Whether the server could not be reached at all.
    pub fn is_unreachable(&self) -> bool {
        matches!(self, Self::Unreachable { .. })
    }
}
