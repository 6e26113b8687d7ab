//! The suites every SentryAgent backend and adapter must pass.
//!
//! - [`http_suite!`]: the HTTP behaviour of the API over a real socket, for an
//!   adapter. The adapter's test file provides one function that serves a
//!   router on a listener; the macro stamps every case into a `#[tokio::test]`.
//! - The cases are plain async functions over a [`TestApp`], grouped by area
//!   in [`http`].
//! - [`Coverage`]: the suite also checks that its cases send a request to
//!   every route of the core's table, on each adapter.
//! - [`composition`]: the adapters beside a host's own routes and fallback,
//!   mounted in either order.

mod backend;
pub mod composition;
pub mod conformance;
mod coverage;
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
/// then serve on `listener` (recording peer addresses) in a spawned task.
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
                (builder.store(memory.clone()), memory, None)
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

/// Stamps every HTTP case into a `#[tokio::test]` against the adapter that
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
        $crate::http_suite!(@cases $start, $backend;
            tokens::walkthrough_end_to_end,
            tokens::token_verifies_with_an_independent_library_and_the_jwks,
            tokens::client_authentication_methods_and_oauth_errors,
            tokens::scopes_are_down_selected_and_never_exceeded,
            tokens::audience_is_checked,
            tokens::forged_tokens_are_rejected,
            tokens::expired_tokens_are_rejected,
            tokens::key_rotation_keeps_old_tokens_valid,
            tokens::metadata_documents,
            agents::register_get_list_and_update,
            agents::list_filters_and_pages,
            agents::suspension_and_reactivation,
            agents::decommission_is_permanent,
            agents::scopes_cannot_be_escalated,
            permissions::privilege_matrix_over_http,
            permissions::demotion_reaches_live_tokens,
            permissions::host_routes_accept_only_their_tenants,
            credentials::rotation_kills_the_old_secret_at_once,
            credentials::revoking_one_credential_keeps_the_others,
            credentials::secrets_are_never_listed_logged_or_audited,
            isolation::tenants_never_see_each_other,
            audit::every_decision_is_audited,
            audit::filters_and_pages,
            audit::tampering_is_detected,
            audit::retention_keeps_the_chain_verifiable,
            audit::a_lost_checkpoint_is_reported_until_an_operator_reanchors,
            audit::signed_checkpoints_catch_a_rollback_and_a_wipe,
            errors::bad_input_gets_the_envelope,
            errors::wrong_methods_name_the_allowed_ones,
            errors::signup_with_an_operator_key,
            health::detailed_health_reports_each_backend,
            health::probes_are_never_rate_limited,
            oidc::oidc_trust_policy_crud,
            oidc::oidc_exchange_issues_an_agent_token,
            oidc::oidc_exchange_refusals,
            oidc::oidc_bootstrap_token_stays_in_its_lane,
            oidc::oidc_tenants_never_share_policies,
            oidc::oidc_a_strangers_policy_never_captures_a_repository,
            oidc::oidc_conditions_and_patterns,
            oidc::oidc_first_use_pins_the_repository,
            oidc::oidc_keys_are_refetched_sparingly,
            oidc::oidc_discovery_names_the_keys,
            oidc::oidc_evaluate_explains_each_policy,
            limits::token_endpoint_is_limited_per_client,
            limits::nobody_can_lock_a_client_out_of_the_token_endpoint,
            limits::refused_tokens_are_limited_and_audited_once,
            limits::management_routes_are_limited_per_agent_with_a_tenant_ceiling,
            limits::spoofed_forwarding_headers_do_not_escape_limits,
            limits::trusted_proxies_pass_the_client_address,
            limits::a_client_cannot_pick_its_address_behind_a_trusted_proxy,
            tiers::tiers_are_public,
            tiers::agent_limit_is_enforced,
            tiers::daily_quota_is_enforced,
            tiers::metering_goes_on_without_enforcement,
            tiers::billing_without_a_provider,
            marketplace::search_finds_agents_by_a_word_of_the_description,
            marketplace::capability_filter_is_exact,
            marketplace::opting_out_hides_an_agent,
            marketplace::suspension_hides_an_agent,
            marketplace::pages_are_stable_while_agents_are_added,
            marketplace::marketplace_off_answers_404,
            marketplace::marketplace_is_limited_per_ip,
            marketplace::no_private_field_in_any_answer,
            dids::did_documents_resolve_and_publish_keys,
            dids::deactivated_documents_say_so,
            openapi::openapi_document_matches_the_answers,
            openapi::explorer_is_served_from_the_binary,
        );
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
