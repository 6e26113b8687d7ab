//! The suites every SentryAgent backend and adapter must pass.
//!
//! - [`http_suite!`]: the HTTP behaviour of the API over a real socket, for an
//!   adapter. The adapter's test file provides one function that serves a
//!   router on a listener; the macro stamps every case into a `#[tokio::test]`.
//! - The cases are plain async functions over a [`TestApp`], grouped by area
//!   in [`http`]. A case registers itself: the build script lists every
//!   top-level `pub async fn` of a case file (`src/http/*.rs`,
//!   `src/conformance*`, `src/hot_state.rs`) as a case of its suite, so none
//!   can be written and never run. Helpers in those files are private or not
//!   `async`.
//! - [`Coverage`]: the suite also checks that its cases send a request to
//!   every route of the core's table, on each adapter.
//! - [`composition`]: the adapters beside a host's own routes and fallback,
//!   mounted in either order.

pub mod authorization;
mod backend;
pub mod composition;
pub mod conformance;
mod coverage;
pub mod host;
pub mod hot_state;
pub mod http;
mod logs;
pub mod oidc;
pub mod services;

use std::future::Future;
use std::sync::Arc;

use reqwest::StatusCode;
use reqwest::header::HeaderMap;
use sentryagent_core::resource::ResourcePolicy;
use sentryagent_core::{MemoryStore, SentryAgent, SentryAgentBuilder, Signup};
use serde_json::Value;

pub use backend::{BackendFactory, Tamper, TestBackend, backend_ready, use_backend};
pub use coverage::Coverage;
pub use logs::captured_logs;

/// How a test serves the IdP: mount the API under `/api/v1`, the well-known
/// documents at the root, and a host route `GET /whoami` protected by the
/// adapter's extractor that answers `{agentId, tenantId, clientId, scopes}`;
/// the same at [`RESOURCE_A_PATH`] (the extractor bound to its resource)
/// and at [`RESOURCE_B_PATH`] (behind the adapter's `protect` middleware,
/// answering the `Principal` it put there); at [`RESOURCE_C_PATH`] the
/// extractor of either kind (`AgentOrUser`) bound to its resource, whose
/// handler requires `tools:call` and answers the `Principal`; and at
/// [`STEP_UP_PATH`] the agent extractor under the IdP's audience, whose
/// handler requires `reports:write` (`Agent::require_scope`); each resource being `http://<listener's address><path>` (see
/// [`resource_url`]); then serve on `listener` (recording peer
/// addresses) in a spawned task.
pub trait StartFn: Fn(tokio::net::TcpListener, SentryAgent) -> Self::Fut {
    /// The future that starts the server.
    type Fut: Future<Output = ()>;
}

impl<F, Fut> StartFn for F
where
    F: Fn(tokio::net::TcpListener, SentryAgent) -> Fut,
    Fut: Future<Output = ()>,
{
    type Fut = Fut;
}

/// A running server with an HTTP client and a handle on its store.
pub struct TestApp {
    /// `http://127.0.0.1:<port>`.
    pub base: String,
    /// The identity provider being served.
    pub idp: SentryAgent,
    /// Its in-memory store, for tamper tests.
    pub store: Arc<dyn Tamper>,
    client: reqwest::Client,
    coverage: Option<Coverage>,
    cleanup: Option<Box<dyn FnOnce() + Send + Sync>>,
}

/// An HTTP answer with its body parsed as JSON (`Null` when empty or not JSON).
#[derive(Debug)]
pub struct Answer {
    /// Status.
    pub status: StatusCode,
    /// Headers.
    pub headers: HeaderMap,
    /// Body as JSON.
    pub json: Value,
    /// Body as text.
    pub text: String,
}

impl Answer {
    /// A header's value, or "".
    pub fn header(&self, name: &str) -> &str {
        self.headers.get(name).and_then(|v| v.to_str().ok()).unwrap_or_default()
    }

    /// Asserts the API's error envelope with `status` and `code`.
    #[track_caller]
    pub fn assert_error(&self, status: u16, code: &str) -> &Self {
        assert_eq!(self.status.as_u16(), status, "status of {}", self.text);
        assert_eq!(self.json["code"], code, "code of {}", self.text);
        assert!(self.json["message"].is_string(), "message of {}", self.text);
        assert!(self.header("content-type").starts_with("application/json"));
        self
    }

    /// Asserts an RFC 6749 error with `status` and `error`.
    #[track_caller]
    pub fn assert_oauth_error(&self, status: u16, error: &str) -> &Self {
        assert_eq!(self.status.as_u16(), status, "status of {}", self.text);
        assert_eq!(self.json["error"], error, "error of {}", self.text);
        assert_eq!(self.header("cache-control"), "no-store");
        self
    }

    /// Asserts a status.
    #[track_caller]
    pub fn assert_status(&self, status: u16) -> &Self {
        assert_eq!(self.status.as_u16(), status, "status of {}", self.text);
        self
    }
}

/// A tenant made by sign-up, with its admin credential.
#[derive(Clone, Debug)]
pub struct Tenant {
    /// Its id.
    pub id: String,
    /// Admin client id.
    pub client_id: String,
    /// Admin client secret.
    pub secret: String,
}

/// A registered agent with its first credential.
#[derive(Clone, Debug)]
pub struct Registered {
    /// Agent id.
    pub id: String,
    /// Client id.
    pub client_id: String,
    /// Client secret.
    pub secret: String,
    /// Credential id.
    pub credential_id: String,
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if let Some(cleanup) = self.cleanup.take() {
            cleanup();
        }
    }
}

impl TestApp {
    /// Starts a server with default settings.
    pub async fn start(start: impl StartFn) -> Self {
        Self::start_with(start, |b| b).await
    }

    /// Starts a server whose builder `configure` adjusts.
    pub async fn start_with(
        start: impl StartFn,
        configure: impl FnOnce(SentryAgentBuilder) -> SentryAgentBuilder,
    ) -> Self {
        logs::install();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind a loopback port");
        let base = format!("http://{}", listener.local_addr().expect("local address"));
        // The suite tests the API a public SaaS serves: sign-up open, agents
        // listed unless they opt out, tiers enforced, and the `/whoami` host
        // route open to every tenant. The library's own defaults (closed,
        // unlisted, not enforced, one tenant per resource) have cases of
        // their own.
        let builder = SentryAgent::builder()
            .issuer(&base)
            .api_path("/api/v1")
            .signup(Signup::Open)
            .list_new_agents(true)
            .enforce_tiers(true)
            .resource(ResourcePolicy::new(&base).any_tenant());
        let (builder, store, cleanup): (_, Arc<dyn Tamper>, _) = match backend::factory() {
            None => {
                let memory = Arc::new(MemoryStore::new());
                (builder.durable(memory.clone()), memory, None)
            }
            Some(make) => {
                let b = make().await.expect("the test backend (check backend_ready first)");
                (builder.stores(b.stores).group_commit(true), b.tamper, b.cleanup)
            }
        };
        let idp = configure(builder).build().await.expect("build the IdP");
        start(listener, idp.clone()).await;
        Self {
            base,
            idp,
            store,
            cleanup,
            client: reqwest::Client::new(),
            coverage: Coverage::current(),
        }
    }

    /// The absolute URL of an API path (`/agents` → `…/api/v1/agents`);
    /// paths starting with `//` are taken from the root (`//whoami`).
    pub fn url(&self, path: &str) -> String {
        match path.strip_prefix("//") {
            Some(root) => format!("{}/{root}", self.base),
            None => format!("{}/api/v1{path}", self.base),
        }
    }

    /// Sends a request.
    pub async fn send(&self, request: reqwest::RequestBuilder) -> Answer {
        let (client, request) = request.build_split();
        let request = request.expect("a well-formed request");
        if let Some(coverage) = &self.coverage {
            coverage.record(request.method(), request.url().path());
        }
        let response = client.execute(request).await.expect("the request reaches the server");
        let status = response.status();
        let headers = response.headers().clone();
        let text = response.text().await.expect("a readable body");
        let json = serde_json::from_str(&text).unwrap_or(Value::Null);
        Answer {
            status,
            headers,
            json,
            text,
        }
    }

    /// A request builder for `method path` with an optional bearer token.
    pub fn request(&self, method: reqwest::Method, path: &str, token: Option<&str>) -> reqwest::RequestBuilder {
        let mut r = self.client.request(method, self.url(path));
        if let Some(token) = token {
            r = r.bearer_auth(token);
        }
        r
    }

    /// `GET path` with a bearer token.
    pub async fn get(&self, path: &str, token: &str) -> Answer {
        self.send(self.request(reqwest::Method::GET, path, Some(token))).await
    }

    /// `DELETE path` with a bearer token.
    pub async fn delete(&self, path: &str, token: &str) -> Answer {
        self.send(self.request(reqwest::Method::DELETE, path, Some(token)))
            .await
    }

    /// A JSON request with a bearer token.
    pub async fn json(&self, method: reqwest::Method, path: &str, token: Option<&str>, body: &Value) -> Answer {
        self.send(self.request(method, path, token).json(body)).await
    }

    /// `POST path` with a JSON body and a bearer token.
    pub async fn post(&self, path: &str, token: &str, body: &Value) -> Answer {
        self.json(reqwest::Method::POST, path, Some(token), body).await
    }

    /// `PATCH path` with a JSON body and a bearer token.
    pub async fn patch(&self, path: &str, token: &str, body: &Value) -> Answer {
        self.json(reqwest::Method::PATCH, path, Some(token), body).await
    }

    /// `POST path` with a form body; `auth` is an `Authorization` header value.
    pub async fn form(&self, path: &str, auth: Option<&str>, pairs: &[(&str, &str)]) -> Answer {
        let body = form_urlencoded::Serializer::new(String::new())
            .extend_pairs(pairs)
            .finish();
        let mut r = self
            .request(reqwest::Method::POST, path, None)
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body);
        if let Some(auth) = auth {
            r = r.header("authorization", auth);
        }
        self.send(r).await
    }

    /// Signs up a tenant.
    pub async fn signup(&self, name: &str) -> Tenant {
        let a = self
            .json(
                reqwest::Method::POST,
                "/tenants",
                None,
                &serde_json::json!({ "name": name }),
            )
            .await;
        a.assert_status(201);
        Tenant {
            id: string(&a.json["tenantId"]),
            client_id: string(&a.json["adminClientId"]),
            secret: string(&a.json["adminClientSecret"]),
        }
    }

    /// A token by the client-credentials grant (HTTP Basic); panics on failure.
    pub async fn token(&self, client_id: &str, secret: &str, scope: Option<&str>) -> String {
        let a = self.token_request(client_id, secret, scope).await;
        a.assert_status(200);
        string(&a.json["access_token"])
    }

    /// The raw answer of a client-credentials request (HTTP Basic).
    pub async fn token_request(&self, client_id: &str, secret: &str, scope: Option<&str>) -> Answer {
        let mut pairs = vec![("grant_type", "client_credentials")];
        if let Some(scope) = scope {
            pairs.push(("scope", scope));
        }
        self.form("/oauth2/token", Some(&basic(client_id, secret)), &pairs)
            .await
    }

    /// A tenant's admin token.
    pub async fn admin_token(&self, tenant: &Tenant) -> String {
        self.token(&tenant.client_id, &tenant.secret, None).await
    }

    /// Registers an agent named `name` with `body`'s extra fields.
    pub async fn register(&self, admin: &str, name: &str, extra: Value) -> Registered {
        let mut body = serde_json::json!({ "name": name });
        if let (Some(b), Value::Object(extra)) = (body.as_object_mut(), extra) {
            b.extend(extra);
        }
        let a = self.post("/agents", admin, &body).await;
        a.assert_status(201);
        Registered {
            id: string(&a.json["agentId"]),
            client_id: string(&a.json["clientId"]),
            secret: string(&a.json["clientSecret"]),
            credential_id: string(&a.json["credentialId"]),
        }
    }

    /// `GET /whoami` (the host route) with a bearer token.
    pub async fn whoami(&self, token: &str) -> Answer {
        self.get("//whoami", token).await
    }

    /// `POST /oauth2/introspect` of `token` by `caller`.
    pub async fn introspect(&self, caller: &str, token: &str) -> Answer {
        self.form(
            "/oauth2/introspect",
            Some(&format!("Bearer {caller}")),
            &[("token", token)],
        )
        .await
    }

    /// `POST /oauth2/revoke` of `token` by `caller`.
    pub async fn revoke(&self, caller: &str, token: &str) -> Answer {
        self.form("/oauth2/revoke", Some(&format!("Bearer {caller}")), &[("token", token)])
            .await
    }
}

/// A host route of its own resource (see [`StartFn`]).
pub const RESOURCE_A_PATH: &str = "/resource-a";
/// A second host route of its own resource (see [`StartFn`]).
pub const RESOURCE_B_PATH: &str = "/resource-b";
/// A host route of its own resource for agents or people (see [`StartFn`]).
pub const RESOURCE_C_PATH: &str = "/resource-c";
/// A host route whose handler requires `reports:write` (see [`StartFn`]).
pub const STEP_UP_PATH: &str = "/step-up";

/// The identifier of the resource a host serves at `path` on `listener`.
///
/// # Panics
/// When the listener has no local address (it is a test).
pub fn resource_url(listener: &tokio::net::TcpListener, path: &str) -> String {
    format!("http://{}{path}", listener.local_addr().expect("a local address"))
}

/// An HTTP Basic header value.
pub fn basic(client_id: &str, secret: &str) -> String {
    use base64::Engine as _;
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{client_id}:{secret}"))
    )
}

/// A JSON string's value, or "".
pub fn string(v: &Value) -> String {
    v.as_str().unwrap_or_default().to_owned()
}

// The case lists, one macro per suite, made by build.rs from the case files.
include!(concat!(env!("OUT_DIR"), "/cases.rs"));

/// The cleanup of a store or of hot state that needs none.
pub async fn no_cleanup<T>(_backend: T) {}

/// Stamps every HTTP case (each `pub async fn` of the [`http`] modules) into
/// a `#[tokio::test]` against the adapter that
/// `$start` (a [`StartFn`]) serves, and `every_route_is_exercised`, which runs
/// them all once more in sequence under a [`Coverage`] and fails naming each
/// route of the table that no case sent a request to.
#[macro_export]
macro_rules! http_suite {
    ($start:path, backend = $backend:path) => {
        $crate::http_suite!(@with $start, Some($backend as $crate::BackendFactory));
    };
    ($start:path) => {
        $crate::http_suite!(@with $start, None);
    };
    (@with $start:path, $backend:expr) => {
        $crate::__http_cases!($start, $backend);
    };
    (@cases $start:path, $backend:expr; $($module:ident :: $case:ident),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $case() {
                if let Some(factory) = $backend {
                    $crate::use_backend(factory);
                }
                if !$crate::backend_ready().await {
                    return;
                }
                $crate::http::$module::$case($start).await;
            }
        )*

        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn every_route_is_exercised() {
            if let Some(factory) = $backend {
                $crate::use_backend(factory);
            }
            if !$crate::backend_ready().await {
                return;
            }
            let coverage = $crate::Coverage::default();
            $(
                coverage.run($crate::http::$module::$case, $start).await;
            )*
            coverage.assert_every_route();
        }
    };
}
