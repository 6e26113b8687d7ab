#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]

use std::sync::Arc;

use poem::endpoint::make_sync;
use poem::http::Method;
use poem::http::header::{ALLOW, AUTHORIZATION, HeaderValue};
use poem::{Endpoint, FromRequest, RequestBody, RouteMethod};

use sentryagent_core::Error;
use sentryagent_core::http::{HttpError, Request, Response, Route, routes};
use sentryagent_core::resource::WELL_KNOWN;
#[doc(inline)]
pub use sentryagent_core::resource::{Principals, Refusal, Resource, ResourcePolicy, ScopeChallenge};
#[doc(inline)]
pub use sentryagent_core::{AgentIdentity, Principal, SentryAgent, UserIdentity};

/// The whole SentryAgent API as a [`poem::Route`] to nest under any prefix.
/// Unknown paths and methods under it answer the API's error envelope.
///
/// ```
/// # async fn demo() -> Result<(), sentryagent_core::Error> {
/// let idp = sentryagent_poem::SentryAgent::builder().build().await?;
/// let app = poem::Route::new().nest("/api/v1", sentryagent_poem::endpoint(idp));
/// # Ok(()) }
/// ```
pub fn endpoint(idp: SentryAgent) -> poem::Route {
    let page = idp.clone();
    let files = idp.clone();
    let bare = idp.clone();
    let unmatched = idp.clone();
    mount(poem::Route::new(), idp, |_| true)
        // The API explorer at `/docs/` (the core serves its files).
        .at("/docs", poem::get(make_sync(move |req| docs(&bare, &req, None))))
        .at("/docs/", poem::get(make_sync(move |req| docs(&page, &req, Some("")))))
        .at(
            "/docs/*file",
            poem::get(make_sync(move |req: poem::Request| {
                docs(&files, &req, Some(req.raw_path_param("file").unwrap_or_default()))
            })),
        )
        // Nested, this catch-all answers only the paths under the prefix.
        .at(
            "/*",
            make_sync(move |req: poem::Request| into_poem(refuse(&unmatched, None, &req, HttpError::RouteNotFound))),
        )
}

/// Adds the root documents (JWKS, RFC 8414 and OpenID discovery, the
/// agents' DID documents that `did:web` resolves at the root, and the
/// RFC 9728 metadata of each resource policy at
/// `/.well-known/oauth-protected-resource` and below, where each resource's
/// identifier puts it) to the host's own `route`, beside its paths.
///
/// It adds no catch-all: whether the host's own `/*` route comes before or
/// after, they never clash, and the host's unknown paths get the host's
/// answer (its `/*` route, or poem's 404). (Nesting at `/` would take every
/// path the host does not match, and clash with a host's `/*`.)
///
/// ```
/// # async fn demo() -> Result<(), sentryagent_core::Error> {
/// use poem::{Route, endpoint::make_sync, http::StatusCode};
///
/// let idp = sentryagent_poem::SentryAgent::builder().build().await?;
/// let host = Route::new()
///     .nest("/api/v1", sentryagent_poem::endpoint(idp.clone()))
///     .at("/*", make_sync(|_| StatusCode::NOT_FOUND));
/// let app = sentryagent_poem::well_known(host, idp);
/// # Ok(()) }
/// ```
pub fn well_known(route: poem::Route, idp: SentryAgent) -> poem::Route {
    let documents = idp.clone();
    // The whole path picks the resource, so both forms share an endpoint.
    let metadata = poem::get(make_sync(move |req: poem::Request| {
        let peer = req.remote_addr().as_socket_addr().copied();
        into_poem(
            documents.answer_outside_routes(WELL_KNOWN, req.method(), req.headers(), peer, || {
                documents.protected_resource_metadata_response(req.uri().path(), req.uri().query(), req.headers())
            }),
        )
    }));
    let metadata = Arc::new(metadata);
    mount(route, idp, |r| r.well_known)
        .at(WELL_KNOWN, metadata.clone())
        .at(format!("{WELL_KNOWN}/*resource"), metadata)
}

fn mount(mut router: poem::Route, idp: SentryAgent, keep: impl Fn(&Route) -> bool) -> poem::Route {
    // poem takes a path's methods together; the table lists routes one by one.
    let mut paths: Vec<(&'static str, Vec<&'static Route>)> = Vec::new();
    for route in routes().iter().filter(|r| keep(r)) {
        match paths.iter_mut().find(|(path, _)| *path == route.path) {
            Some((_, same_path)) => same_path.push(route),
            None => paths.push((route.path, vec![route])),
        }
    }
    for (path, same_path) in paths {
        router = router.at(poem_path(path), methods(&idp, &same_path));
    }
    router
}

/// One path's routes. As with axum, a `GET` route answers `HEAD` too (the
/// server sends no body), and another method gets the envelope with `Allow`.
fn methods(idp: &SentryAgent, same_path: &[&'static Route]) -> impl Endpoint<Output = poem::Response> + 'static {
    let mut methods = RouteMethod::new();
    let mut allowed = Vec::new();
    for &route in same_path {
        let head = (route.method == Method::GET).then_some(Method::HEAD);
        for method in std::iter::once(route.method.clone()).chain(head) {
            allowed.push(method.clone());
            methods = methods.method(
                method,
                Handle {
                    idp: idp.clone(),
                    route,
                },
            );
        }
    }
    let allow = allowed.iter().map(Method::as_str).collect::<Vec<_>>().join(",");
    SamePath {
        idp: idp.clone(),
        methods,
        allow: HeaderValue::from_str(&allow).ok(),
        allowed,
    }
}

/// One path's methods; another method is refused here, before dispatch,
/// so the refusal has the request (for its id) at hand.
struct SamePath {
    idp: SentryAgent,
    methods: RouteMethod,
    allowed: Vec<Method>,
    allow: Option<HeaderValue>,
}

impl Endpoint for SamePath {
    type Output = poem::Response;

    async fn call(&self, req: poem::Request) -> poem::Result<poem::Response> {
        if !self.allowed.contains(req.method()) {
            let mut response = into_poem(refuse(&self.idp, None, &req, HttpError::MethodNotAllowed));
            if let Some(allow) = self.allow.clone() {
                response.headers_mut().insert(ALLOW, allow);
            }
            return Ok(response);
        }
        self.methods.call(req).await
    }
}

/// The core's answer to a request refused before its route ran, with the
/// request id, metrics and access-log line of any other.
/// The explorer's answer, with a request id like every other answer.
fn docs(idp: &SentryAgent, req: &poem::Request, file: Option<&str>) -> poem::Response {
    let peer = req.remote_addr().as_socket_addr().copied();
    into_poem(idp.answer_outside_routes("/docs", req.method(), req.headers(), peer, || idp.explorer(file)))
}

fn refuse(idp: &SentryAgent, route: Option<&Route>, req: &poem::Request, error: HttpError) -> Response {
    let peer = req.remote_addr().as_socket_addr().copied();
    idp.refuse(route, req.method(), req.headers(), peer, error)
}

/// `/agents/{agentId}` → `/agents/:agentId` (poem 3 reads only `:name`).
fn poem_path(template: &str) -> String {
    template
        .split('/')
        .map(|segment| match param_name(segment) {
            Some(name) => format!(":{name}"),
            None => segment.to_owned(),
        })
        .collect::<Vec<_>>()
        .join("/")
}

fn param_name(segment: &str) -> Option<&str> {
    segment.strip_prefix('{')?.strip_suffix('}')
}

struct Handle {
    idp: SentryAgent,
    route: &'static Route,
}

impl Endpoint for Handle {
    type Output = poem::Response;

    async fn call(&self, mut req: poem::Request) -> poem::Result<poem::Response> {
        Ok(into_poem(self.handle(&mut req).await))
    }
}

impl Handle {
    async fn handle(&self, req: &mut poem::Request) -> Response {
        let mut params = Vec::new();
        for name in self.route.path.split('/').filter_map(param_name) {
            // poem leaves out a parameter that is not UTF-8 once decoded.
            let Some(value) = req.raw_path_param(name) else {
                return refuse(&self.idp, Some(self.route), req, HttpError::RouteNotFound);
            };
            params.push((name.to_owned(), value.to_owned()));
        }
        let limit = self.idp.max_body_bytes();
        let body = match req.take_body().into_bytes_limit(limit).await {
            Ok(bytes) => bytes,
            Err(_) => return refuse(&self.idp, Some(self.route), req, HttpError::PayloadTooLarge { limit }),
        };
        let request = Request {
            params,
            query: req.uri().query().map(str::to_owned),
            headers: std::mem::take(req.headers_mut()),
            body,
            peer: req.remote_addr().as_socket_addr().copied(),
        };
        self.idp.handle(self.route, request).await
    }
}

fn into_poem(response: Response) -> poem::Response {
    let mut out = poem::Response::from(poem::Body::from_bytes(response.body));
    out.set_status(response.status);
    *out.headers_mut() = response.headers;
    out
}

fn answer(error: impl Into<HttpError>) -> poem::Response {
    into_poem(error.into().into())
}

/// The core's error as a poem error whose response is the API's envelope.
fn reject(error: Error) -> poem::Error {
    poem::Error::from_response(answer(error))
}

/// Middleware that protects any endpoint (one no extractor reaches, such as
/// an MCP server's) with the policy of a resource: the same check and
/// challenges as [`AgentOrUser`], run before the endpoint, so the policy
/// says whose tokens pass ([`ResourcePolicy::accept`]). The caller's
/// [`Principal`] is in the request data, and with it its [`AgentIdentity`]
/// or [`UserIdentity`].
///
/// ```
/// # async fn demo() -> Result<(), sentryagent_core::Error> {
/// use poem::{EndpointExt, Route, handler, post};
/// use sentryagent_poem::{Protect, ResourcePolicy, SentryAgent};
///
/// #[handler]
/// fn tools() -> &'static str {
///     "tools"
/// }
///
/// let idp = SentryAgent::builder().issuer("https://idp.example.com").build().await?;
/// idp.protect(ResourcePolicy::new("https://api.example.com/mcp").any_tenant());
/// let routes = Route::new().at(
///     "/mcp",
///     post(tools).with(Protect::new(idp.clone(), "https://api.example.com/mcp")),
/// );
/// let app = sentryagent_poem::well_known(routes, idp);
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct Protect {
    idp: SentryAgent,
    resource: Arc<str>,
}

impl Protect {
    /// Protects with the policy of `resource`.
    pub fn new(idp: SentryAgent, resource: impl Into<String>) -> Self {
        Self {
            idp,
            resource: resource.into().into(),
        }
    }
}

impl<E: Endpoint> poem::Middleware<E> for Protect {
    type Output = Protected<E>;

    fn transform(&self, inner: E) -> Protected<E> {
        Protected {
            protect: self.clone(),
            inner,
        }
    }
}

/// An endpoint behind [`Protect`].
pub struct Protected<E> {
    protect: Protect,
    inner: E,
}

impl<E: Endpoint> Endpoint for Protected<E> {
    type Output = poem::Response;

    async fn call(&self, mut req: poem::Request) -> poem::Result<poem::Response> {
        let Protect { idp, resource } = &self.protect;
        let authorization = req.headers().get(AUTHORIZATION).and_then(|v| v.to_str().ok());
        match idp.authorize_bearer_principal(authorization, Some(resource)).await {
            Ok(principal) => {
                match &principal {
                    Principal::Agent(agent) => req.set_data(agent.clone()),
                    Principal::User(user) => req.set_data(user.clone()),
                }
                req.set_data(principal);
                self.inner.call(req).await.map(poem::IntoResponse::into_response)
            }
            Err(refusal) => Ok(into_poem(refusal.into())),
        }
    }
}

/// The agent behind a valid bearer token, for a host's own routes.
///
/// Applies the [`ResourcePolicy`] of the route's resource (the one a
/// [`Resource`] in the request data names, else the policy whose identifier
/// is the IdP's audience): signature, `exp`/`nbf`, issuer, the resource as
/// audience, revocation, the agent's status, the token's tenant and the
/// policy's scopes, on the scopes the agent holds now. Needs
/// [`SentryAgent`] in the request data (`.data(idp)` on the host's route).
/// A refusal answers 401 or 403 with a `WWW-Authenticate` challenge that
/// points clients at the resource's metadata ([`well_known`] serves it).
///
/// ```
/// use poem::web::Json;
/// use poem::{EndpointExt, Route, get, handler};
/// use sentryagent_poem::{Agent, Resource, ResourcePolicy, SentryAgent};
///
/// #[handler]
/// async fn reports(agent: Agent) -> poem::Result<Json<String>> {
///     Ok(Json(format!("hello {}", agent.agent_id)))
/// }
///
/// # async fn demo() -> Result<(), sentryagent_core::Error> {
/// let idp = SentryAgent::builder().issuer("https://idp.example.com").build().await?;
/// let acme = idp.create_tenant("Acme").await?;
/// // Acme's agents with `reports:read`, and nobody else's tokens.
/// idp.protect(
///     ResourcePolicy::new("https://api.example.com")
///         .tenant(acme.tenant.id)
///         .require_scope("reports:read"),
/// );
/// let app = Route::new()
///     .at("/reports", get(reports).data(Resource::new("https://api.example.com")))
///     .data(idp);
/// # Ok(()) }
/// ```
///
/// A refusal is a [`poem::Error`] whose response is the API's envelope.
#[derive(Clone, Debug)]
pub struct Agent(pub AgentIdentity, ScopeChallenge);

impl std::ops::Deref for Agent {
    type Target = AgentIdentity;

    fn deref(&self) -> &AgentIdentity {
        &self.0
    }
}

impl Agent {
    /// `Ok` if the token grants `scope`; otherwise a 403 `INSUFFICIENT_SCOPE`
    /// whose challenge points at the resource's metadata (RFC 9728 §5.1),
    /// so the client can ask for a token with the scope (step-up).
    ///
    /// # Errors
    /// The refusal to return from the handler.
    pub fn require_scope(&self, scope: &'static str) -> poem::Result<()> {
        step_up(self.0.has_scope(scope), &self.1, scope)
    }
}

fn step_up(granted: bool, challenge: &ScopeChallenge, scope: &str) -> poem::Result<()> {
    match granted {
        true => Ok(()),
        false => Err(refused(challenge.refuse(scope))),
    }
}

fn refused(refusal: Refusal) -> poem::Error {
    poem::Error::from_response(into_poem(refusal.into()))
}

/// The IdP, the `Authorization` header and the route's resource of a request.
fn bearer_parts(req: &poem::Request) -> poem::Result<(&SentryAgent, Option<&str>, Option<&str>)> {
    let idp = req.data::<SentryAgent>().ok_or_else(|| {
        reject(Error::Internal(
            "no SentryAgent in the request data: add .data(idp)".into(),
        ))
    })?;
    let authorization = req.headers().get(AUTHORIZATION).and_then(|v| v.to_str().ok());
    let resource = req.data::<Resource>().map(|r| r.0.as_str());
    Ok((idp, authorization, resource))
}

impl<'a> FromRequest<'a> for Agent {
    async fn from_request(req: &'a poem::Request, _body: &mut RequestBody) -> poem::Result<Self> {
        let (idp, authorization, resource) = bearer_parts(req)?;
        let agent = idp.authorize_bearer(authorization, resource).await.map_err(refused)?;
        Ok(Agent(agent, idp.scope_challenge(resource)))
    }
}

/// A person acting through a client (the authorization-code flow), for a
/// host's own routes that serve people only: as [`Agent`], under a policy
/// that accepts people ([`ResourcePolicy::accept`]); an agent's token is
/// refused.
#[derive(Clone, Debug)]
pub struct User(pub UserIdentity, ScopeChallenge);

impl std::ops::Deref for User {
    type Target = UserIdentity;

    fn deref(&self) -> &UserIdentity {
        &self.0
    }
}

impl User {
    /// `Ok` if the token grants `scope`; otherwise a 403 `INSUFFICIENT_SCOPE`
    /// whose challenge points at the resource's metadata.
    ///
    /// # Errors
    /// The refusal to return from the handler.
    pub fn require_scope(&self, scope: &str) -> poem::Result<()> {
        step_up(self.0.has_scope(scope), &self.1, scope)
    }
}

impl<'a> FromRequest<'a> for User {
    async fn from_request(req: &'a poem::Request, _body: &mut RequestBody) -> poem::Result<Self> {
        let (idp, authorization, resource) = bearer_parts(req)?;
        let user = idp
            .authorize_bearer_user(authorization, resource)
            .await
            .map_err(refused)?;
        Ok(User(user, idp.scope_challenge(resource)))
    }
}

/// The caller behind a valid bearer token, an agent or a person acting
/// through a client, as the route's policy accepts
/// ([`ResourcePolicy::accept`]): for routes that serve both.
#[derive(Clone, Debug)]
pub struct AgentOrUser(pub Principal, ScopeChallenge);

impl std::ops::Deref for AgentOrUser {
    type Target = Principal;

    fn deref(&self) -> &Principal {
        &self.0
    }
}

impl AgentOrUser {
    /// `Ok` if the token grants `scope` (by the rule of its kind); otherwise
    /// a 403 `INSUFFICIENT_SCOPE` whose challenge points at the resource's
    /// metadata.
    ///
    /// # Errors
    /// The refusal to return from the handler.
    pub fn require_scope(&self, scope: &str) -> poem::Result<()> {
        step_up(self.0.has_scope(scope), &self.1, scope)
    }
}

impl<'a> FromRequest<'a> for AgentOrUser {
    async fn from_request(req: &'a poem::Request, _body: &mut RequestBody) -> poem::Result<Self> {
        let (idp, authorization, resource) = bearer_parts(req)?;
        let principal = idp
            .authorize_bearer_principal(authorization, resource)
            .await
            .map_err(refused)?;
        Ok(AgentOrUser(principal, idp.scope_challenge(resource)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn templates_become_poem_paths() {
        assert_eq!(poem_path("/agents"), "/agents");
        assert_eq!(
            poem_path("/agents/{agentId}/credentials/{credentialId}/rotate"),
            "/agents/:agentId/credentials/:credentialId/rotate"
        );
    }
}
