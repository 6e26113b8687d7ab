//! The protected resource metadata documents (RFC 9728) the adapters serve
//! beside the root documents, one per resource policy.

use http::header::{CACHE_CONTROL, HOST, HeaderValue};
use http::{HeaderMap, StatusCode};

use super::{HttpError, Response};
use crate::SentryAgent;
use crate::resource::WELL_KNOWN;

impl SentryAgent {
    /// The answer to `GET` on a path under
    /// [`WELL_KNOWN`](crate::resource::WELL_KNOWN) (the whole request path
    /// and query): the metadata of the resource that publishes there (see
    /// [`protected_resource_metadata`](Self::protected_resource_metadata)),
    /// else the API's 404 envelope.
    pub fn protected_resource_metadata_response(
        &self,
        path: &str,
        query: Option<&str>,
        headers: &HeaderMap,
    ) -> Response {
        let host = headers.get(HOST).and_then(|h| h.to_str().ok());
        let found = path
            .strip_prefix(WELL_KNOWN)
            .filter(|rest| rest.is_empty() || rest.starts_with('/'))
            .and_then(|rest| self.protected_resource_metadata(rest, query, host));
        let Some(metadata) = found else {
            return HttpError::RouteNotFound.into();
        };
        let mut response = Response::json(StatusCode::OK, &metadata);
        // Short: a policy can change while the IdP runs.
        response
            .headers
            .insert(CACHE_CONTROL, HeaderValue::from_static("public, max-age=300"));
        response
    }
}
