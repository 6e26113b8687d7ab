#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]

use std::net::SocketAddr;

use axum::Router;
use axum::body::Body;
use axum::extract::connect_info::ConnectInfo;
use axum::extract::{FromRef, FromRequestParts, Path, RawPathParams};
use axum::response::IntoResponse;
use axum::routing::{MethodFilter, get, on};
use http::header::AUTHORIZATION;
use http::request::Parts;

use sentryagent_core::Error;
use sentryagent_core::http::{HttpError, Request, Response, Route, routes};
use sentryagent_core::resource::WELL_KNOWN;
#[doc(inline)]
pub use sentryagent_core::resource::{Principals, Refusal, Resource, ResourcePolicy, ScopeChallenge};
#[doc(inline)]
pub use sentryagent_core::{AgentIdentity, Principal, SentryAgent, UserIdentity};

/// The whole SentryAgent API as a router to nest under any prefix. It carries
/// its own state, so it nests into a host router of any state type. Unknown
/// paths under the prefix answer the API's error envelope; the host's other
/// paths keep the host's fallback, set before or after nesting.
///
/// ```
/// # async fn demo() -> Result<(), sentryagent_core::Error> {
/// let idp = sentryagent_axum::SentryAgent::builder().build().await?;
/// let app: axum::Router = axum::Router::new().nest("/api/v1", sentryagent_axum::router(idp));
/// # Ok(()) }
/// ```
pub fn router<S: Clone + Send + Sync + 'static>(idp: SentryAgent) -> Router<S> {
    // Nested, this fallback answers only the paths under the prefix.
    let unmatched = idp.clone();
    explorer(idp.clone()).merge(mount(idp, |_| true, false)).fallback(
        move |request: axum::extract::Request| async move {
            into_axum(refuse(&unmatched, None, &request, HttpError::RouteNotFound))
        },
    )
}

/// The API explorer at `/docs/` (the core serves its files, with a
/// request id like every other answer).
fn explorer<S: Clone + Send + Sync + 'static>(idp: SentryAgent) -> Router<S> {
    let page = idp.clone();
    let files = idp.clone();
    Router::new()
        .route(
            "/docs",
            get(move |request: axum::extract::Request| async move { docs(&idp, &request, None) }),
        )
        .route(
            "/docs/",
            get(move |request: axum::extract::Request| async move { docs(&page, &request, Some("")) }),
        )
        .route(
            "/docs/{*file}",
            get(
                move |Path(file): Path<String>, request: axum::extract::Request| async move {
                    docs(&files, &request, Some(&file))
                },
            ),
        )
}

fn docs(idp: &SentryAgent, request: &axum::extract::Request, file: Option<&str>) -> axum::response::Response {
    let peer = request.extensions().get::<ConnectInfo<SocketAddr>>().map(|c| c.0);
    into_axum(
        idp.answer_outside_routes("/docs", request.method(), request.headers(), peer, || {
            idp.explorer(file)
        }),
    )
}

/// Only the root documents (JWKS, RFC 8414 and OpenID discovery, the
/// agents' DID documents that `did:web` resolves at the root, and the
/// RFC 9728 metadata of each resource policy at
/// `/.well-known/oauth-protected-resource` and below, where each resource's
/// identifier puts it), for a host to merge at its root as well.
///
/// It has no fallback of its own: merged before or after the host's
/// `.fallback(..)`, it never clashes with it, and the host's unknown paths
/// get the host's answer (its fallback, or axum's plain 404).
///
/// ```
/// # async fn demo() -> Result<(), sentryagent_core::Error> {
/// let idp = sentryagent_axum::SentryAgent::builder().build().await?;
/// let app: axum::Router = axum::Router::new()
///     .fallback(|| async { (http::StatusCode::NOT_FOUND, "not here") })
///     .merge(sentryagent_axum::well_known(idp.clone()))
///     .nest("/api/v1", sentryagent_axum::router(idp));
/// # Ok(()) }
/// ```
pub fn well_known<S: Clone + Send + Sync + 'static>(idp: SentryAgent) -> Router<S> {
    mount(idp, |r| r.well_known, true)
}

fn mount<S: Clone + Send + Sync + 'static>(
    idp: SentryAgent,
    keep: impl Fn(&Route) -> bool,
    resource_metadata: bool,
) -> Router<S> {
    let mut router = Router::new();
    if resource_metadata {
        // The whole path picks the resource, so both forms share a handler.
        let documents = idp.clone();
        let metadata = get(move |request: axum::extract::Request| async move {
            let uri = request.uri();
            let peer = request.extensions().get::<ConnectInfo<SocketAddr>>().map(|c| c.0);
            into_axum(
                documents.answer_outside_routes(WELL_KNOWN, request.method(), request.headers(), peer, || {
                    documents.protected_resource_metadata_response(uri.path(), uri.query(), request.headers())
                }),
            )
        });
        router = router
            .route(WELL_KNOWN, metadata.clone())
            .route(&format!("{WELL_KNOWN}/{{*resource}}"), metadata);
    }
    for route in routes().iter().filter(|r| keep(r)) {
        // Every method in the table is a standard one.
        let Ok(filter) = MethodFilter::try_from(route.method.clone()) else {
            continue;
        };
        let idp = idp.clone();
        router = router.route(
            route.path,
            on(filter, move |request: axum::extract::Request| async move {
                into_axum(handle(&idp, route, request).await)
            }),
        );
    }
    // Per route, so it never meets a host's fallback.
    router.method_not_allowed_fallback(move |request: axum::extract::Request| async move {
        into_axum(refuse(&idp, None, &request, HttpError::MethodNotAllowed))
    })
}

/// The core's answer to a request refused before its route ran, with the
/// request id, metrics and access-log line of any other.
fn refuse(idp: &SentryAgent, route: Option<&Route>, request: &axum::extract::Request, error: HttpError) -> Response {
    let peer = request.extensions().get::<ConnectInfo<SocketAddr>>().map(|c| c.0);
    idp.refuse(route, request.method(), request.headers(), peer, error)
}

async fn handle(idp: &SentryAgent, route: &'static Route, request: axum::extract::Request) -> Response {
    let (mut parts, body) = request.into_parts();
    let refused = |parts: &Parts, error| idp.refuse(Some(route), &parts.method, &parts.headers, peer(parts), error);
    let params = match RawPathParams::from_request_parts(&mut parts, &()).await {
        Ok(raw) => raw.iter().map(|(k, v)| (k.to_owned(), v.to_owned())).collect(),
        Err(_) => return refused(&parts, HttpError::RouteNotFound),
    };
    let limit = idp.max_body_bytes();
    let body = match axum::body::to_bytes(body, limit).await {
        Ok(bytes) => bytes,
        Err(_) => return refused(&parts, HttpError::PayloadTooLarge { limit }),
    };
    let request = Request {
        params,
        query: parts.uri.query().map(str::to_owned),
        peer: peer(&parts),
        headers: parts.headers,
        body,
    };
    idp.handle(route, request).await
}

fn peer(parts: &Parts) -> Option<SocketAddr> {
    parts.extensions.get::<ConnectInfo<SocketAddr>>().map(|c| c.0)
}

fn into_axum(response: Response) -> axum::response::Response {
    let mut out = axum::response::Response::new(Body::from(response.body));
    *out.status_mut() = response.status;
    *out.headers_mut() = response.headers;
    out
}

/// Protects every route of `router` (any service, such as an MCP server's
/// tower service, which no extractor reaches) with the policy of
/// `resource`: the same check and challenges as [`AgentOrUser`], run before
/// the service, so the policy says whose tokens pass
/// ([`ResourcePolicy::accept`]). The caller's [`Principal`] is in the
/// request's extensions, and with it its [`AgentIdentity`] or
/// [`UserIdentity`].
///
/// ```
/// # async fn demo() -> Result<(), sentryagent_core::Error> {
/// use sentryagent_axum::{ResourcePolicy, SentryAgent};
///
/// let idp = SentryAgent::builder().issuer("https://idp.example.com").build().await?;
/// idp.protect(ResourcePolicy::new("https://api.example.com/mcp").any_tenant());
/// let mcp: axum::Router = axum::Router::new().route("/", axum::routing::post(|| async { "tools" }));
/// let app: axum::Router = axum::Router::new()
///     .nest("/mcp", sentryagent_axum::protect(mcp, idp.clone(), "https://api.example.com/mcp"))
///     .merge(sentryagent_axum::well_known(idp));
/// # Ok(()) }
/// ```
pub fn protect<S: Clone + Send + Sync + 'static>(
    router: Router<S>,
    idp: SentryAgent,
    resource: impl Into<String>,
) -> Router<S> {
    let resource: std::sync::Arc<str> = resource.into().into();
    router.layer(axum::middleware::from_fn(
        move |mut request: axum::extract::Request, next: axum::middleware::Next| {
            let (idp, resource) = (idp.clone(), resource.clone());
            async move {
                let authorization = request.headers().get(AUTHORIZATION).and_then(|v| v.to_str().ok());
                match idp.authorize_bearer_principal(authorization, Some(&resource)).await {
                    Ok(principal) => {
                        match &principal {
                            Principal::Agent(agent) => {
                                request.extensions_mut().insert(agent.clone());
                            }
                            Principal::User(user) => {
                                request.extensions_mut().insert(user.clone());
                            }
                        }
                        request.extensions_mut().insert(principal);
                        next.run(request).await
                    }
                    Err(refusal) => Rejection(refusal).into_response(),
                }
            }
        },
    ))
}

/// The agent behind a valid bearer token, for a host's own routes.
///
/// Applies the [`ResourcePolicy`] of the route's resource (the one a
/// [`Resource`] extension names, else the policy whose identifier is the
/// IdP's audience): signature, `exp`/`nbf`, issuer, the resource as
/// audience, revocation, the agent's status, the token's tenant and the
/// policy's scopes, on the scopes the agent holds now. Needs
/// [`SentryAgent`] in the host's state (via `FromRef`). A refusal answers
/// 401 or 403 with a `WWW-Authenticate` challenge that points clients at
/// the resource's metadata (merge [`well_known`] to serve it).
///
/// ```
/// use axum::{Extension, Json, Router, routing::get};
/// use sentryagent_axum::{Agent, Resource, ResourcePolicy, SentryAgent};
///
/// async fn reports(agent: Agent) -> Json<String> {
///     Json(format!("hello {}", agent.agent_id))
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
/// let app: Router = Router::new()
///     .route("/reports", get(reports).layer(Extension(Resource::new("https://api.example.com"))))
///     .with_state(idp);
/// # Ok(()) }
/// ```
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
    /// The rejection to return from the handler.
    pub fn require_scope(&self, scope: &'static str) -> Result<(), Rejection> {
        step_up(self.0.has_scope(scope), &self.1, scope)
    }
}

/// A person acting through a client (the authorization-code flow), for a
/// host's own routes that serve people only: as [`Agent`], under a policy
/// that accepts people ([`ResourcePolicy::accept`]); an agent's token is
/// refused.
///
/// ```
/// use axum::{Json, Router, routing::get};
/// use sentryagent_axum::{Principals, ResourcePolicy, SentryAgent, User};
///
/// async fn me(user: User) -> Json<String> {
///     Json(format!("hello {} through {}", user.user_id, user.client_id))
/// }
///
/// # async fn demo() -> Result<(), sentryagent_core::Error> {
/// let idp = SentryAgent::builder().issuer("https://idp.example.com").build().await?;
/// idp.protect(ResourcePolicy::new("https://idp.example.com").any_tenant().accept(Principals::People));
/// let app: Router = Router::new().route("/me", get(me)).with_state(idp);
/// # Ok(()) }
/// ```
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
    /// The rejection to return from the handler.
    pub fn require_scope(&self, scope: &str) -> Result<(), Rejection> {
        step_up(self.0.has_scope(scope), &self.1, scope)
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
    /// The rejection to return from the handler.
    pub fn require_scope(&self, scope: &str) -> Result<(), Rejection> {
        step_up(self.0.has_scope(scope), &self.1, scope)
    }
}

/// Why a request was refused: answered with the API's error envelope and,
/// from the extractor, the resource's `WWW-Authenticate` challenge (see
/// [`SentryAgent::authorize_bearer`]).
#[derive(Debug)]
pub struct Rejection(pub Refusal);

impl From<Error> for Rejection {
    fn from(error: Error) -> Self {
        Rejection(error.into())
    }
}

impl IntoResponse for Rejection {
    fn into_response(self) -> axum::response::Response {
        into_axum(self.0.into())
    }
}

/// What every extractor reads: the `Authorization` header and the route's
/// [`Resource`], if any.
fn presented(parts: &Parts) -> (Option<&str>, Option<&str>) {
    let authorization = parts.headers.get(AUTHORIZATION).and_then(|v| v.to_str().ok());
    let resource = parts.extensions.get::<Resource>().map(|r| r.0.as_str());
    (authorization, resource)
}

/// `Ok` when `granted`; otherwise the 403 step-up challenge for `scope`.
fn step_up(granted: bool, challenge: &ScopeChallenge, scope: &str) -> Result<(), Rejection> {
    match granted {
        true => Ok(()),
        false => Err(Rejection(challenge.refuse(scope))),
    }
}

impl<S> FromRequestParts<S> for Agent
where
    S: Send + Sync,
    SentryAgent: FromRef<S>,
{
    type Rejection = Rejection;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Rejection> {
        let idp = SentryAgent::from_ref(state);
        let (authorization, resource) = presented(parts);
        let agent = idp.authorize_bearer(authorization, resource).await.map_err(Rejection)?;
        Ok(Agent(agent, idp.scope_challenge(resource)))
    }
}

impl<S> FromRequestParts<S> for User
where
    S: Send + Sync,
    SentryAgent: FromRef<S>,
{
    type Rejection = Rejection;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Rejection> {
        let idp = SentryAgent::from_ref(state);
        let (authorization, resource) = presented(parts);
        let user = idp
            .authorize_bearer_user(authorization, resource)
            .await
            .map_err(Rejection)?;
        Ok(User(user, idp.scope_challenge(resource)))
    }
}

impl<S> FromRequestParts<S> for AgentOrUser
where
    S: Send + Sync,
    SentryAgent: FromRef<S>,
{
    type Rejection = Rejection;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Rejection> {
        let idp = SentryAgent::from_ref(state);
        let (authorization, resource) = presented(parts);
        let principal = idp
            .authorize_bearer_principal(authorization, resource)
            .await
            .map_err(Rejection)?;
        Ok(AgentOrUser(principal, idp.scope_challenge(resource)))
    }
}
