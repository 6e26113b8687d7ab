//! Fixtures for the criterion benchmarks in `benches/hot_paths.rs`, and the
//! home of the load harness `load.sh`.
//!
//! Everything here goes through the public API of `sentryagent-core`: an
//! identity provider with the in-memory store and the default settings
//! (ES256, audit chain, tier quotas and metering on), a tenant, and one agent
//! with a credential and a token.

pub mod cpu;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use sentryagent_core::agent::NewAgent;
use sentryagent_core::http::Request;
use sentryagent_core::ratelimit::{Quota, RouteGroup};
use sentryagent_core::token::{SigningAlgorithm, TokenRequest};
use sentryagent_core::{Caller, SentryAgent, TenantId};

/// The issuer (and default audience) of the benchmark identity provider.
pub const ISSUER: &str = "http://127.0.0.1:3000";

/// The body of a client-credentials token request, as a client sends it.
pub const TOKEN_BODY: &[u8] = b"grant_type=client_credentials";

/// An identity provider with one tenant and one registered agent.
pub struct Fixture {
    /// The identity provider (in-memory store).
    pub idp: SentryAgent,
    /// The tenant.
    pub tenant: TenantId,
    /// `Basic …` header value of the agent's credential.
    pub agent_basic: String,
    /// A valid access token of the agent (management audience).
    pub agent_token: String,
    /// `Bearer …` header value of the tenant admin's token (it may introspect).
    pub admin_bearer: String,
}

/// `Basic base64(id:secret)`.
pub fn basic(client_id: &str, secret: &str) -> String {
    format!("Basic {}", STANDARD.encode(format!("{client_id}:{secret}")))
}

/// A current-thread runtime for driving the core's async API; the in-memory
/// store never waits, so this adds next to nothing to what is measured.
///
/// # Panics
/// If tokio cannot build a runtime.
pub fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("a tokio runtime")
}

impl Fixture {
    /// Builds the identity provider, a tenant, an agent (`reports:read`) and a
    /// token for it.
    ///
    /// # Panics
    /// If any step fails: a benchmark on a broken setup is meaningless.
    pub async fn new(algorithm: SigningAlgorithm) -> Self {
        // Tier enforcement and metering stay on; the free tier's daily API
        // calls are raised so that a benchmark's millions of tokens are not
        // refused after the first thousand.
        let mut builder = SentryAgent::builder().issuer(ISSUER).signing_algorithm(algorithm);
        // Rate limiting stays on (each request through the HTTP layer is
        // counted) with quotas no benchmark reaches.
        for group in RouteGroup::ALL {
            builder = builder.rate_limit(
                group,
                Quota {
                    limit: u32::MAX,
                    period: std::time::Duration::from_secs(1),
                },
            );
        }
        let idp = builder
            .tier("free", |t| t.limits.api_calls_per_day = Some(u64::MAX / 2))
            .build()
            .await
            .expect("identity provider");
        let created = idp.create_tenant("bench").await.expect("tenant");
        let admin_basic = basic(&created.admin_client_id, created.admin_client_secret.expose());
        let admin_token = issue(&idp, &admin_basic).await;
        let identity = idp
            .verify_access_token(&admin_token, None)
            .await
            .expect("admin token verifies");
        let caller = Caller { identity, ip: None };
        let agent = idp
            .register_agent(
                &caller,
                NewAgent {
                    name: "bench-bot@bench.example".into(),
                    scopes: vec!["reports:read".into()],
                    ..NewAgent::default()
                },
            )
            .await
            .expect("agent");
        let agent_basic = basic(&agent.credential.client_id, agent.secret.expose());
        let agent_token = issue(&idp, &agent_basic).await;
        Self {
            idp,
            tenant: created.tenant.id,
            agent_basic,
            agent_token,
            admin_bearer: format!("Bearer {admin_token}"),
        }
    }
}

/// Runs the client-credentials grant as the token endpoint does: parse the
/// request, then [`SentryAgent::issue_token`].
///
/// # Panics
/// If the token is refused.
pub async fn issue(idp: &SentryAgent, basic: &str) -> String {
    let request = TokenRequest::parse(Some(basic), TOKEN_BODY).expect("well-formed request");
    idp.issue_token(request, Some([127, 0, 0, 1].into()))
        .await
        .expect("token issued")
        .access_token
}

/// A request as an adapter hands it to the core, from 127.0.0.1.
fn http_request(authorization: &str, content_type: Option<&'static str>, body: &'static [u8]) -> Request {
    let mut headers = http::HeaderMap::new();
    if let Ok(value) = http::HeaderValue::from_str(authorization) {
        headers.insert(http::header::AUTHORIZATION, value);
    }
    if let Some(content_type) = content_type {
        headers.insert(http::header::CONTENT_TYPE, http::HeaderValue::from_static(content_type));
    }
    Request {
        headers,
        body: bytes::Bytes::from_static(body),
        peer: Some(([127, 0, 0, 1], 40_000).into()),
        ..Request::default()
    }
}

impl Fixture {
    /// `POST /oauth2/token` through the whole HTTP layer (request id, rate
    /// limits, metrics, access log), as an adapter runs it.
    ///
    /// # Panics
    /// If the token is refused.
    pub async fn http_token(&self) -> sentryagent_core::http::Response {
        let request = http_request(&self.agent_basic, Some("application/x-www-form-urlencoded"), TOKEN_BODY);
        let answer = self.idp.serve(&http::Method::POST, "/oauth2/token", request).await;
        assert_eq!(answer.status, http::StatusCode::OK);
        answer
    }

    /// `GET /tenants/me` with the admin's bearer token through the whole
    /// HTTP layer: a bearer-verified request.
    ///
    /// # Panics
    /// If it is refused.
    pub async fn http_bearer(&self) -> sentryagent_core::http::Response {
        let request = http_request(&self.admin_bearer, None, b"");
        let answer = self.idp.serve(&http::Method::GET, "/tenants/me", request).await;
        assert_eq!(answer.status, http::StatusCode::OK);
        answer
    }
}
