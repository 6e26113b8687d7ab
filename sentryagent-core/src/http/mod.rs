//! The framework-neutral HTTP layer: a table of routes whose handlers take a
//! neutral [`Request`] and return a neutral [`Response`]. All validation,
//! authorisation, error mapping and JSON shaping happen here; an adapter
//! only registers each [`Route`] with its framework and converts requests
//! and responses (see `docs/adapters.md`).

mod body;
mod error;
mod explorer;
mod handlers;
pub mod openapi;
mod resource;

pub use error::HttpError;

use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::LazyLock;

use bytes::Bytes;
use http::header::{CACHE_CONTROL, CONTENT_TYPE, HeaderName, HeaderValue};
use http::{HeaderMap, Method, StatusCode};
use serde::Serialize;

use crate::observe::REQUEST_ID_HEADER;
use crate::observe::request::RequestScope;
use crate::ratelimit::{RateDecision, RouteGroup};
use crate::{Caller, Error, SentryAgent, observe};

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

type Handler = fn(SentryAgent, Request, Ctx) -> Pin<Box<dyn Future<Output = Response> + Send>>;

/// How a route authenticates its caller.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Auth {
    /// The core verifies a bearer access token before the handler runs.
    Bearer,
    /// The route authenticates on its own terms (client credentials at the
    /// token endpoint), or is public.
    None,
}

/// What the route layer learned before the handler runs.
pub(crate) enum Ctx {
    /// The verified caller of a bearer route.
    Caller(Caller),
    /// The client address of any other route.
    Anonymous(Option<IpAddr>),
}

impl Ctx {
    pub(crate) fn ip(&self) -> Option<IpAddr> {
        match self {
            Ctx::Caller(c) => c.ip,
            Ctx::Anonymous(ip) => *ip,
        }
    }
}

/// One route of the API.
pub struct Route {
    /// HTTP method.
    pub method: Method,
    /// Path template relative to the mount point, with `{name}` parameters
    /// (axum 0.8's syntax; the poem adapter rewrites it to poem's `:name`).
    pub path: &'static str,
    /// Stable operation id (the OpenAPI `operationId`).
    pub operation_id: &'static str,
    /// Whether the route is one of the documents a host may also serve at
    /// its root: the `/.well-known` metadata, and the agents' DID documents
    /// (`/agents/{agentId}/did.json`), which `did:web` resolves from the
    /// issuer's root.
    pub well_known: bool,
    /// How the caller is authenticated.
    pub auth: Auth,
    /// The rate-limit group.
    pub group: RouteGroup,
    /// Whether the route counts against its group's quota. Only the
    /// orchestrators' probes (`/health/live`, `/health/ready`) do not: a
    /// probe refused under load would get a healthy instance restarted.
    pub rate_limited: bool,
    handler: Handler,
    /// Its place in the table (its metrics keep their handles by it).
    index: usize,
    /// The route's own OpenAPI document: this one operation, with the
    /// schemas it names.
    operation: fn() -> utoipa::openapi::OpenApi,
}

impl Route {
    /// A route whose method, path and operation id are read from its
    /// handler's one-operation document, so they are written once, in the
    /// handler's `#[utoipa::path]`.
    fn declared(
        operation: fn() -> utoipa::openapi::OpenApi,
        auth: Auth,
        group: RouteGroup,
        well_known: bool,
        rate_limited: bool,
        handler: Handler,
    ) -> Self {
        let doc = serde_json::to_value(operation()).unwrap_or_default();
        let mut operations = doc["paths"].as_object().into_iter().flatten().flat_map(|(path, item)| {
            item.as_object()
                .into_iter()
                .flatten()
                .map(move |(method, op)| (path, method, op["operationId"].as_str()))
        });
        // A declaration is code, not input: every test builds the table.
        let (path, method, Some(operation_id)) = (match (operations.next(), operations.next()) {
            (Some(one), None) => one,
            _ => panic!("a route's handler must document exactly one operation: {doc}"),
        }) else {
            panic!("a route's operation needs an operation_id: {doc}");
        };
        let Ok(method) = Method::from_bytes(method.to_ascii_uppercase().as_bytes()) else {
            panic!("not an HTTP method: {method}");
        };
        // The table is built once per process, so these few strings live
        // as long as it does.
        Self {
            method,
            path: String::leak(path.clone()),
            operation_id: String::leak(operation_id.to_owned()),
            well_known,
            auth,
            group,
            rate_limited,
            handler,
            index: 0,
            operation,
        }
    }

    /// The route's operation as its handler documents it.
    pub(crate) fn operation_document(&self) -> utoipa::openapi::OpenApi {
        (self.operation)()
    }
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
    static ROUTES: LazyLock<Vec<Route>> = LazyLock::new(|| {
        let mut table = handlers::table();
        for (index, route) in table.iter_mut().enumerate() {
            route.index = index;
        }
        table
    });
    &ROUTES
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

/// The request's id (see [`crate::observe`]).
fn request_id(request: &Request, trusted: &[client_ip::IpNet]) -> Box<str> {
    observe::request::request_id(request.peer.map(|p| p.ip()), &request.headers, trusted)
}

/// The key an unauthenticated request is counted under: its address.
fn address_key(ip: Option<IpAddr>) -> String {
    ip.map_or_else(|| "ip:unknown".to_owned(), client_ip::limit_key)
}

// Header names built at compile time: a `&str` name is parsed and checked
// again on every insert.
static RATE_LIMIT_LIMIT: HeaderName = HeaderName::from_static("x-ratelimit-limit");
static RATE_LIMIT_REMAINING: HeaderName = HeaderName::from_static("x-ratelimit-remaining");
static RATE_LIMIT_RESET: HeaderName = HeaderName::from_static("x-ratelimit-reset");
static REQUEST_ID: HeaderName = HeaderName::from_static(REQUEST_ID_HEADER);

pub(crate) fn rate_headers(headers: &mut HeaderMap, d: &RateDecision) {
    let secs = |d: std::time::Duration| d.as_secs() + u64::from(d.subsec_nanos() > 0);
    for (name, value) in [
        (&RATE_LIMIT_LIMIT, u64::from(d.limit)),
        (&RATE_LIMIT_REMAINING, u64::from(d.remaining)),
        (&RATE_LIMIT_RESET, secs(d.reset)),
    ] {
        headers.insert(name.clone(), HeaderValue::from(value));
    }
    if !d.allowed {
        headers.insert(http::header::RETRY_AFTER, HeaderValue::from(secs(d.retry_after).max(1)));
    }
}

pub use crate::client_ip;
pub use crate::token::bearer_token;

impl SentryAgent {
    /// Runs `route` on `request`: body limit, authentication of bearer
    /// routes, the rate limits (see [`crate::ratelimit`]), then the handler.
    /// A bearer route counts a refusal per address, and an authenticated
    /// call per agent and per tenant; the token endpoint counts around its
    /// own client authentication; other routes count per address, except
    /// the probes, which nothing counts. Every counted answer carries the
    /// rate-limit headers.
    ///
    /// Each request gets an id ([`crate::observe`]), returned as
    /// `X-Request-Id`, and runs in a `request` span; its metrics and its
    /// access-log line are recorded when it is answered.
    pub async fn handle(&self, route: &Route, request: Request) -> Response {
        use tracing::Instrument as _;
        let started = std::time::Instant::now();
        let id = request_id(&request, &self.inner.settings.trusted_proxies);
        let method = observe::record::method_label(&route.method);
        let span = tracing::info_span!("request", request_id = &*id, method, route = route.path);
        let answer = self.answer(route, request).instrument(span);
        let (mut response, who) = RequestScope::new(id.clone()).run(answer).await;
        self.answered(&mut response, Some(route), route.path, method, &id, started, who);
        response
    }

    /// An answer given before any route ran (no route matches, a method
    /// the path does not take, a body too large for the adapter to read):
    /// with its request id, metrics and access-log line like any other.
    /// For adapters; `route` is the matched one, if any.
    pub fn refuse(
        &self,
        route: Option<&Route>,
        method: &Method,
        headers: &HeaderMap,
        peer: Option<SocketAddr>,
        error: HttpError,
    ) -> Response {
        let label = route.map_or("unmatched", |r| r.path);
        self.outside_routes(route, label, method, headers, peer, || Response::from(error))
    }

    /// An answer that no route of the table gives (the API explorer's
    /// pages, a resource's RFC 9728 metadata), with its request id
    /// (`X-Request-Id`), metrics under the route label `label` and
    /// access-log line like any other. For adapters.
    pub fn answer_outside_routes(
        &self,
        label: &'static str,
        method: &Method,
        headers: &HeaderMap,
        peer: Option<SocketAddr>,
        answer: impl FnOnce() -> Response,
    ) -> Response {
        self.outside_routes(None, label, method, headers, peer, answer)
    }

    fn outside_routes(
        &self,
        route: Option<&Route>,
        label: &'static str,
        method: &Method,
        headers: &HeaderMap,
        peer: Option<SocketAddr>,
        answer: impl FnOnce() -> Response,
    ) -> Response {
        let started = std::time::Instant::now();
        let trusted = &self.inner.settings.trusted_proxies;
        let id = observe::request::request_id(peer.map(|p| p.ip()), headers, trusted);
        let mut response = RequestScope::new(id.clone()).run_sync(answer);
        let method = observe::record::method_label(method);
        self.answered(&mut response, route, label, method, &id, started, None);
        response
    }

    #[allow(clippy::too_many_arguments)]
    fn answered(
        &self,
        response: &mut Response,
        route: Option<&Route>,
        label: &'static str,
        method: &'static str,
        id: &str,
        started: std::time::Instant,
        who: Option<(crate::TenantId, Option<crate::AgentId>)>,
    ) {
        if let Ok(value) = HeaderValue::from_str(id) {
            response.headers.insert(REQUEST_ID.clone(), value);
        }
        observe::record::Answered {
            slot: route.map(|r| r.index),
            route: label,
            method,
            status: response.status,
            started,
            request_id: id,
            who,
            tenant_label: self.inner.settings.metrics_tenant_label,
        }
        .record();
    }

    /// [`handle`](Self::handle) inside the request's scope.
    async fn answer(&self, route: &Route, request: Request) -> Response {
        let limit = self.max_body_bytes();
        if request.body.len() > limit {
            return HttpError::PayloadTooLarge { limit }.into();
        }
        let settings = &self.inner.settings;
        let ip = client_ip::client_ip(
            request.peer.map(|p| p.ip()),
            &request.headers,
            &settings.trusted_proxies,
            settings.forwarded_header,
        );
        let counted = match route.auth {
            Auth::Bearer => match self.authenticate(&request, ip).await {
                Ok(caller) if !route.rate_limited => Ok((Ctx::Caller(caller), None)),
                Ok(caller) => self
                    .limit_caller(route.group, &caller)
                    .await
                    .map(|d| (Ctx::Caller(caller), d)),
                Err(refusal) => return self.refused(refusal, ip).await,
            },
            Auth::None if !route.rate_limited => Ok((Ctx::Anonymous(ip), None)),
            Auth::None if route.group == RouteGroup::Token => Ok((Ctx::Anonymous(ip), None)),
            Auth::None => self
                .rate_limit(route.group, &address_key(ip))
                .await
                .map(|d| (Ctx::Anonymous(ip), d)),
        };
        let (ctx, decision) = match counted {
            Ok(counted) => counted,
            Err(e) => return e.into(),
        };
        let mut response = match decision {
            Some(d) if !d.allowed => Error::RateLimited {
                retry_after: d.retry_after,
            }
            .into(),
            _ => match &ctx {
                Ctx::Caller(caller) => {
                    let tenant = caller.tenant();
                    match self.check_quota(tenant).await {
                        Ok(()) => {
                            self.meter(tenant, crate::metering::metric::API_CALLS);
                            (route.handler)(self.clone(), request, ctx).await
                        }
                        Err(e) => e.into(),
                    }
                }
                Ctx::Anonymous(_) => (route.handler)(self.clone(), request, ctx).await,
            },
        };
        if let Some(d) = decision {
            rate_headers(&mut response.headers, &d);
        }
        response
    }

    /// An authenticated call's quotas: its agent's own (its tenant's for
    /// `GET /audit/verify`, which reads the tenant's whole chain), then the
    /// tenant's ceiling. Reports the refusal, or the decision with fewer
    /// requests left.
    async fn limit_caller(&self, group: RouteGroup, caller: &Caller) -> Result<Option<RateDecision>, Error> {
        let tenant_key = format!("tenant:{}", caller.tenant());
        let own_key = match group {
            RouteGroup::AuditVerify => tenant_key.clone(),
            _ => format!("agent:{}", caller.identity.agent_id),
        };
        let own = self.rate_limit(group, &own_key).await?;
        if own.is_some_and(|d| !d.allowed) {
            return Ok(own);
        }
        let ceiling = self.rate_limit(RouteGroup::Tenant, &tenant_key).await?;
        Ok(match (own, ceiling) {
            (Some(own), Some(ceiling)) if ceiling.allowed && own.remaining <= ceiling.remaining => Some(own),
            (own, ceiling) => ceiling.or(own),
        })
    }

    /// The answer to a bearer route whose caller did not authenticate (or
    /// was refused): the refusal is counted per address, and past that
    /// quota it is 429, so a revoked or suspended token hammering a route
    /// is told to back off. Valid tokens from the same address are not
    /// counted here.
    async fn refused(&self, refusal: Error, ip: Option<IpAddr>) -> Response {
        let refusal = HttpError::from(refusal);
        let status = refusal.status();
        if status != StatusCode::UNAUTHORIZED && status != StatusCode::FORBIDDEN {
            return refusal.into();
        }
        let decision = match self.rate_limit(RouteGroup::RefusedTokens, &address_key(ip)).await {
            Ok(decision) => decision,
            Err(e) => return e.into(),
        };
        let mut response: Response = match decision {
            Some(d) if !d.allowed => Error::RateLimited {
                retry_after: d.retry_after,
            }
            .into(),
            _ => refusal.into(),
        };
        if let Some(d) = decision {
            rate_headers(&mut response.headers, &d);
        }
        response
    }

    /// Verifies the bearer token of a management request.
    async fn authenticate(&self, request: &Request, ip: Option<IpAddr>) -> Result<Caller, Error> {
        let token = request
            .header(http::header::AUTHORIZATION)
            .and_then(bearer_token)
            .ok_or_else(|| Error::unauthorized("a bearer access token is required"))?;
        let identity = self.verify_access_token(token, None).await?;
        observe::request::identify(identity.tenant_id, Some(identity.agent_id));
        Ok(Caller { identity, ip })
    }

    /// Resolves and handles a request (path relative to the mount point):
    /// unknown paths and methods get the API's error envelope.
    pub async fn serve(&self, method: &Method, path: &str, mut request: Request) -> Response {
        match match_route(method, path) {
            RouteMatch::Found(route, params) => {
                request.params = params;
                self.handle(route, request).await
            }
            RouteMatch::MethodNotAllowed => self.refuse(
                None,
                method,
                &request.headers,
                request.peer,
                HttpError::MethodNotAllowed,
            ),
            RouteMatch::NotFound => self.refuse(None, method, &request.headers, request.peer, HttpError::RouteNotFound),
        }
    }

    /// The largest body a route accepts; adapters stop reading past it and
    /// answer [`HttpError::PayloadTooLarge`].
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
