//! The framework-neutral HTTP layer: a table of routes whose handlers take a
//! neutral [`Request`] and return a neutral [`Response`]. All validation,
//! authorisation, error mapping and JSON shaping happen here; an adapter
//! only registers each [`Route`] with its framework and converts requests
//! and responses (see `docs/adapters.md`).

mod body;
mod error;
mod handlers;

use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;

use bytes::Bytes;
use http::header::{CACHE_CONTROL, CONTENT_TYPE, HeaderValue};
use http::{HeaderMap, Method, StatusCode};
use serde::Serialize;

use crate::{Error, SentryAgent};

/// A request as the core sees it.
#[derive(Clone, Debug, Default)]
pub struct Request {
    /// Path parameters by their name in the route's template (`agentId`).
    pub params: Vec<(String, String)>,
    /// The raw query string, without `?`.
    pub query: Option<String>,
    /// Request headers.
    pub headers: HeaderMap,
    /// The whole body (adapters stop reading past [`SentryAgent::max_body_bytes`]).
    pub body: Bytes,
    /// The peer's socket address.
    pub peer: Option<SocketAddr>,
}

impl Request {
    fn header(&self, name: http::header::HeaderName) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    fn param(&self, name: &str) -> &str {
        self.params
            .iter()
            .find(|(k, _)| k == name)
            .map_or("", |(_, v)| v.as_str())
    }
}

/// A response as the core produces it.
#[derive(Clone, Debug)]
pub struct Response {
    /// Status code.
    pub status: StatusCode,
    /// Headers.
    pub headers: HeaderMap,
    /// Body.
    pub body: Bytes,
}

impl Response {
    /// A JSON response.
    pub fn json<T: Serialize + ?Sized>(status: StatusCode, value: &T) -> Self {
        match serde_json::to_vec(value) {
            Ok(body) => Self::raw_json(status, Bytes::from(body)),
            Err(e) => Self::from(Error::Internal(format!("response does not serialise: {e}").into())),
        }
    }

    fn raw_json(status: StatusCode, body: Bytes) -> Self {
        let mut headers = HeaderMap::new();
        headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        Self { status, headers, body }
    }

    /// An empty response.
    pub fn empty(status: StatusCode) -> Self {
        Self {
            status,
            headers: HeaderMap::new(),
            body: Bytes::new(),
        }
    }

    fn no_store(mut self) -> Self {
        self.headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
        self.headers
            .insert(http::header::PRAGMA, HeaderValue::from_static("no-cache"));
        self
    }
}

type Handler = fn(SentryAgent, Request) -> Pin<Box<dyn Future<Output = Response> + Send>>;

/// One route of the API.
pub struct Route {
    /// HTTP method.
    pub method: Method,
    /// Path template relative to the mount point, with `{name}` parameters
    /// (the syntax axum 0.8 and poem's `{}` both read).
    pub path: &'static str,
    /// Stable operation id (the OpenAPI `operationId`).
    pub operation_id: &'static str,
    /// Whether the route is one of the well-known documents a host may also
    /// serve at its root.
    pub well_known: bool,
    handler: Handler,
}

impl std::fmt::Debug for Route {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {} ({})", self.method, self.path, self.operation_id)
    }
}

/// How a method and path resolve against the route table.
#[derive(Debug)]
pub enum RouteMatch<'a> {
    /// A route, with its path parameters.
    Found(&'a Route, Vec<(String, String)>),
    /// The path exists, not with this method.
    MethodNotAllowed,
    /// No route has this path.
    NotFound,
}

/// The route table.
pub fn routes() -> &'static [Route] {
    handlers::ROUTES
}

/// Resolves a method and a path (relative to the mount point) against the
/// table; for adapters whose router cannot take the table directly.
pub fn match_route<'a>(method: &Method, path: &str) -> RouteMatch<'a> {
    let mut path_exists = false;
    for route in routes() {
        if let Some(params) = match_template(route.path, path) {
            if route.method == *method {
                return RouteMatch::Found(route, params);
            }
            path_exists = true;
        }
    }
    if path_exists {
        RouteMatch::MethodNotAllowed
    } else {
        RouteMatch::NotFound
    }
}

fn match_template(template: &str, path: &str) -> Option<Vec<(String, String)>> {
    let mut params = Vec::new();
    let mut t = template.trim_matches('/').split('/');
    let mut p = path.trim_matches('/').split('/');
    loop {
        match (t.next(), p.next()) {
            (None, None) => return Some(params),
            (Some(ts), Some(ps)) => {
                if let Some(name) = ts.strip_prefix('{').and_then(|s| s.strip_suffix('}')) {
                    if ps.is_empty() {
                        return None;
                    }
                    params.push((name.to_owned(), ps.to_owned()));
                } else if ts != ps {
                    return None;
                }
            }
            _ => return None,
        }
    }
}

/// The value of a `Bearer` authorization header.
pub fn bearer_token(authorization: &str) -> Option<&str> {
    let (scheme, token) = authorization.split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}

impl SentryAgent {
    /// Runs `route`'s handler on `request`.
    pub async fn handle(&self, route: &Route, request: Request) -> Response {
        let limit = self.max_body_bytes();
        if request.body.len() > limit {
            return Error::PayloadTooLarge { limit }.into();
        }
        (route.handler)(self.clone(), request).await
    }

    /// Resolves and handles a request (path relative to the mount point):
    /// unknown paths and methods get the API's error envelope.
    pub async fn serve(&self, method: &Method, path: &str, mut request: Request) -> Response {
        match match_route(method, path) {
            RouteMatch::Found(route, params) => {
                request.params = params;
                self.handle(route, request).await
            }
            RouteMatch::MethodNotAllowed => Error::MethodNotAllowed.into(),
            RouteMatch::NotFound => Error::RouteNotFound.into(),
        }
    }

    /// The largest body a route accepts; adapters stop reading past it and
    /// answer [`Error::PayloadTooLarge`].
    pub fn max_body_bytes(&self) -> usize {
        self.inner.settings.max_body_bytes
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn templates_match_segments() {
        assert_eq!(
            match_template("/agents/{agentId}", "/agents/abc"),
            Some(vec![("agentId".into(), "abc".into())])
        );
        assert_eq!(match_template("/agents/{agentId}", "/agents"), None);
        assert_eq!(match_template("/agents/{agentId}", "/agents/a/b"), None);
        assert_eq!(match_template("/agents", "/agents"), Some(vec![]));
    }

    #[test]
    fn every_route_resolves_to_itself() {
        for route in routes() {
            let path = route.path.replace('{', "x").replace('}', "");
            match match_route(&route.method, &path) {
                RouteMatch::Found(found, _) => assert_eq!(found.operation_id, route.operation_id),
                other => panic!("{route:?} resolved to {other:?}"),
            }
        }
    }

    #[test]
    fn operation_ids_are_unique() {
        let mut ids: Vec<_> = routes().iter().map(|r| r.operation_id).collect();
        ids.sort_unstable();
        let before = ids.len();
        ids.dedup();
        assert_eq!(before, ids.len());
    }
}
