//! The API explorer: Swagger UI over [`openapi`](super::openapi)'s document,
//! at `<mount>/docs/`. Its files are compiled into the binary (the
//! `explorer` feature, on by default), so it works with no network.

use http::StatusCode;
use http::header::{HeaderValue, LOCATION};

use super::{HttpError, Response};
use crate::SentryAgent;

impl SentryAgent {
    /// The explorer's answer for a path under `<mount>/docs`: `file` is what
    /// follows `/docs/` (`""` for the page itself), or `None` for `/docs`
    /// without its slash, which redirects to `docs/` so the page's relative
    /// links resolve under the mount point. An adapter mounts `/docs`,
    /// `/docs/` and `/docs/{*file}` and passes the tail on.
    pub fn explorer(&self, file: Option<&str>) -> Response {
        let Some(file) = file else {
            let mut response = Response::empty(StatusCode::PERMANENT_REDIRECT);
            response.headers.insert(LOCATION, HeaderValue::from_static("docs/"));
            return response;
        };
        asset(file).unwrap_or_else(|| HttpError::RouteNotFound.into())
    }
}

#[cfg(feature = "explorer")]
fn asset(file: &str) -> Option<Response> {
    use std::sync::{Arc, LazyLock};

    use http::header::{CACHE_CONTROL, CONTENT_TYPE};

    // Relative to `<mount>/docs/`, so the page works under any mount point.
    static CONFIG: LazyLock<Arc<utoipa_swagger_ui::Config<'static>>> =
        LazyLock::new(|| Arc::new(utoipa_swagger_ui::Config::from("../openapi.json").try_it_out_enabled(true)));
    let found = utoipa_swagger_ui::serve(file, CONFIG.clone()).ok().flatten()?;
    let mut response = Response::empty(StatusCode::OK);
    response.body = bytes::Bytes::from(found.bytes.into_owned());
    let content_type = HeaderValue::from_str(&found.content_type).ok()?;
    response.headers.insert(CONTENT_TYPE, content_type);
    if found.gzpipped {
        response
            .headers
            .insert(http::header::CONTENT_ENCODING, HeaderValue::from_static("gzip"));
    }
    response
        .headers
        .insert(CACHE_CONTROL, HeaderValue::from_static("public, max-age=3600"));
    Some(response)
}

#[cfg(not(feature = "explorer"))]
fn asset(_file: &str) -> Option<Response> {
    None
}
