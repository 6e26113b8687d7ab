//! A stand-in OIDC issuer for federation tests: GitHub's discovery document,
//! its JWKS and its Actions token endpoint, over HTTP on loopback, with RSA
//! keys made in the test and tokens carrying GitHub's real claim set.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock, PoisonError};

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::rsa::KeySize;
use aws_lc_rs::signature::{KeyPair as _, RSA_PKCS1_SHA256, RsaKeyPair};
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::get;
use axum::{Json, Router};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sentryagent_core::SentryAgentBuilder;
use serde_json::{Value, json};

/// The bearer the stand-in Actions token endpoint expects
/// (`ACTIONS_ID_TOKEN_REQUEST_TOKEN`).
pub const ACTIONS_REQUEST_TOKEN: &str = "actions-runtime-token-for-tests";

/// RSA key generation takes a while: a few keys serve every issuer of a run.
fn key_pool() -> &'static [Arc<RsaKeyPair>] {
    static POOL: OnceLock<Vec<Arc<RsaKeyPair>>> = OnceLock::new();
    POOL.get_or_init(|| {
        (0..3)
            .map(|_| Arc::new(RsaKeyPair::generate(KeySize::Rsa2048).expect("an RSA key")))
            .collect()
    })
}

struct Key {
    kid: String,
    pair: Arc<RsaKeyPair>,
    published: bool,
}

impl Key {
    fn jwk(&self) -> Value {
        let public = self.pair.public_key();
        json!({
            "kty": "RSA",
            "alg": "RS256",
            "use": "sig",
            "kid": self.kid,
            "n": URL_SAFE_NO_PAD.encode(public.modulus().big_endian_without_leading_zero()),
            "e": URL_SAFE_NO_PAD.encode(public.exponent().big_endian_without_leading_zero()),
        })
    }
}

/// What the Actions token endpoint issues tokens for.
#[derive(Clone, Debug)]
pub struct Workflow {
    /// `owner/name`.
    pub repository: String,
    /// `refs/heads/main`.
    pub git_ref: String,
    /// The token's `event_name`.
    pub event_name: String,
}

struct Inner {
    url: String,
    keys: Mutex<Vec<Key>>,
    jwks_fetches: AtomicUsize,
    discovery_fetches: AtomicUsize,
    jwks_failing: AtomicBool,
    workflow: Mutex<Workflow>,
    token_requests: Mutex<Vec<String>>,
}

/// A running stand-in issuer. Cheap to clone.
#[derive(Clone)]
pub struct StandInIssuer {
    inner: Arc<Inner>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

fn now() -> i64 {
    sentryagent_core::time::now().unix_timestamp()
}

/// A stable numeric id for a name, as GitHub's ids are numbers in strings.
pub fn numeric_id(name: &str) -> String {
    let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, name.to_ascii_lowercase().as_bytes());
    let mut b = [0u8; 4];
    b.copy_from_slice(&digest.as_ref()[..4]);
    (u32::from_be_bytes(b) % 900_000_000 + 100_000_000).to_string()
}

impl StandInIssuer {
    /// Starts the issuer on a loopback port with one published key.
    pub async fn start() -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind a loopback port");
        let url = format!("http://{}", listener.local_addr().expect("local address"));
        let issuer = Self {
            inner: Arc::new(Inner {
                url,
                keys: Mutex::new(Vec::new()),
                jwks_fetches: AtomicUsize::new(0),
                discovery_fetches: AtomicUsize::new(0),
                jwks_failing: AtomicBool::new(false),
                workflow: Mutex::new(Workflow {
                    repository: "acme/app".into(),
                    git_ref: "refs/heads/main".into(),
                    event_name: "push".into(),
                }),
                token_requests: Mutex::new(Vec::new()),
            }),
        };
        issuer.add_key(true);
        let app = Router::new()
            .route("/.well-known/openid-configuration", get(discovery))
            .route("/.well-known/jwks", get(jwks))
            .route("/actions/token", get(actions_token))
            .with_state(issuer.clone());
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        issuer
    }

    /// The issuer URL (`iss`).
    pub fn url(&self) -> &str {
        &self.inner.url
    }

    /// The JWKS URL.
    pub fn jwks_url(&self) -> String {
        format!("{}/.well-known/jwks", self.inner.url)
    }

    /// The Actions token endpoint as the runner gives it
    /// (`ACTIONS_ID_TOKEN_REQUEST_URL`): it has a query already.
    pub fn actions_token_url(&self) -> String {
        format!("{}/actions/token?api-version=2.0", self.inner.url)
    }

    /// Points `builder` at this issuer (JWKS URL given, fetched with
    /// `sentryagent-federation-reqwest`) with `audience`.
    pub fn configure(&self, builder: SentryAgentBuilder, audience: &str) -> SentryAgentBuilder {
        let fetcher = sentryagent_federation_reqwest::ReqwestFetcher::new().expect("a reqwest client");
        builder
            .jwks_fetcher(Arc::new(fetcher))
            .oidc_issuer(self.url())
            .oidc_jwks_url(self.jwks_url())
            .oidc_audience(audience)
    }

    /// How many times the JWKS was fetched.
    pub fn jwks_fetches(&self) -> usize {
        self.inner.jwks_fetches.load(Ordering::SeqCst)
    }

    /// How many times the discovery document was fetched.
    pub fn discovery_fetches(&self) -> usize {
        self.inner.discovery_fetches.load(Ordering::SeqCst)
    }

    /// Makes the JWKS answer 500 (or work again).
    pub fn set_jwks_failing(&self, failing: bool) {
        self.inner.jwks_failing.store(failing, Ordering::SeqCst);
    }

    /// Adds a key, published in the JWKS or not; returns its `kid`.
    pub fn add_key(&self, published: bool) -> String {
        let mut keys = lock(&self.inner.keys);
        let pool = key_pool();
        let kid = format!("kid-{}", crate::services::unique_name("k"));
        let pair = pool[keys.len() % pool.len()].clone();
        keys.push(Key {
            kid: kid.clone(),
            pair,
            published,
        });
        kid
    }

    /// Publishes a key added unpublished.
    pub fn publish(&self, kid: &str) {
        for k in lock(&self.inner.keys).iter_mut().filter(|k| k.kid == kid) {
            k.published = true;
        }
    }

    /// The first key's `kid`.
    pub fn kid(&self) -> String {
        lock(&self.inner.keys)[0].kid.clone()
    }

    /// The workflow the Actions token endpoint issues tokens for.
    pub fn set_workflow(&self, workflow: Workflow) {
        *lock(&self.inner.workflow) = workflow;
    }

    /// The audiences the Actions token endpoint was asked for.
    pub fn token_requests(&self) -> Vec<String> {
        lock(&self.inner.token_requests).clone()
    }

    /// GitHub's claim set for a push to `git_ref` of `repository`, valid for
    /// five minutes, with `audience`.
    pub fn claims(&self, repository: &str, git_ref: &str, audience: &str) -> Value {
        let owner = repository.split('/').next().unwrap_or_default();
        let t = now();
        let workflow = format!("{repository}/.github/workflows/ci.yml@{git_ref}");
        let ref_type = if git_ref.starts_with("refs/tags/") {
            "tag"
        } else {
            "branch"
        };
        json!({
            "jti": uuid::Uuid::new_v4().to_string(),
            "sub": format!("repo:{repository}:ref:{git_ref}"),
            "aud": audience,
            "ref": git_ref,
            "sha": "d6e3f0c5b7c0a8d9e1f2a3b4c5d6e7f8a9b0c1d2",
            "repository": repository,
            "repository_owner": owner,
            "repository_owner_id": numeric_id(owner),
            "run_id": "9876543210",
            "run_number": "42",
            "run_attempt": "1",
            "repository_visibility": "private",
            "repository_id": numeric_id(repository),
            "actor_id": "583231",
            "actor": "octocat",
            "workflow": "CI",
            "head_ref": "",
            "base_ref": "",
            "event_name": "push",
            "ref_protected": "true",
            "ref_type": ref_type,
            "workflow_ref": workflow,
            "workflow_sha": "d6e3f0c5b7c0a8d9e1f2a3b4c5d6e7f8a9b0c1d2",
            "job_workflow_ref": workflow,
            "job_workflow_sha": "d6e3f0c5b7c0a8d9e1f2a3b4c5d6e7f8a9b0c1d2",
            "runner_environment": "github-hosted",
            "iss": self.url(),
            "nbf": t - 5,
            "exp": t + 300,
            "iat": t - 5,
        })
    }

    /// `claims` signed RS256 with the first key.
    pub fn sign(&self, claims: &Value) -> String {
        self.sign_with(&self.kid(), claims)
    }

    /// `claims` signed RS256 with the key `kid` (published or not).
    pub fn sign_with(&self, kid: &str, claims: &Value) -> String {
        let pair = lock(&self.inner.keys)
            .iter()
            .find(|k| k.kid == kid)
            .map(|k| k.pair.clone())
            .expect("a key of this issuer");
        let header = json!({"alg": "RS256", "typ": "JWT", "kid": kid, "x5t": "stand-in"});
        let input = signing_input(&header, claims);
        let mut sig = vec![0u8; pair.public_modulus_len()];
        pair.sign(&RSA_PKCS1_SHA256, &SystemRandom::new(), input.as_bytes(), &mut sig)
            .expect("RSA signature");
        format!("{input}.{}", URL_SAFE_NO_PAD.encode(sig))
    }

    /// `claims` "signed" HS256 with the published key's modulus as the HMAC
    /// secret, under its `kid`: the key-confusion forgery.
    pub fn sign_hs256_with_public_key(&self, claims: &Value) -> String {
        let kid = self.kid();
        let secret = lock(&self.inner.keys)[0].jwk()["n"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        let header = json!({"alg": "HS256", "typ": "JWT", "kid": kid});
        let input = signing_input(&header, claims);
        let key = aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, secret.as_bytes());
        let tag = aws_lc_rs::hmac::sign(&key, input.as_bytes());
        format!("{input}.{}", URL_SAFE_NO_PAD.encode(tag.as_ref()))
    }

    /// `claims` with `alg: none` and an empty signature.
    pub fn unsigned(&self, claims: &Value) -> String {
        let header = json!({"alg": "none", "typ": "JWT", "kid": self.kid()});
        format!("{}.", signing_input(&header, claims))
    }
}

fn signing_input(header: &Value, claims: &Value) -> String {
    format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(header.to_string()),
        URL_SAFE_NO_PAD.encode(claims.to_string())
    )
}

async fn discovery(State(issuer): State<StandInIssuer>) -> Json<Value> {
    issuer.inner.discovery_fetches.fetch_add(1, Ordering::SeqCst);
    Json(json!({
        "issuer": issuer.url(),
        "jwks_uri": issuer.jwks_url(),
        "subject_types_supported": ["public", "pairwise"],
        "response_types_supported": ["id_token"],
        "claims_supported": ["sub", "aud", "exp", "iat", "iss", "jti", "nbf", "ref", "repository",
            "repository_id", "repository_owner", "repository_owner_id", "run_id", "ref_type",
            "environment", "job_workflow_ref", "event_name"],
        "id_token_signing_alg_values_supported": ["RS256"],
        "scopes_supported": ["openid"],
    }))
}

async fn jwks(State(issuer): State<StandInIssuer>) -> Result<Json<Value>, StatusCode> {
    issuer.inner.jwks_fetches.fetch_add(1, Ordering::SeqCst);
    if issuer.inner.jwks_failing.load(Ordering::SeqCst) {
        return Err(StatusCode::INTERNAL_SERVER_ERROR);
    }
    let keys: Vec<Value> = lock(&issuer.inner.keys)
        .iter()
        .filter(|k| k.published)
        .map(Key::jwk)
        .collect();
    Ok(Json(json!({ "keys": keys })))
}

/// GitHub's `ACTIONS_ID_TOKEN_REQUEST_URL`: bearer `ACTIONS_REQUEST_TOKEN`,
/// `audience` in the query (default: the owner's URL), `{count, value}`.
async fn actions_token(
    State(issuer): State<StandInIssuer>,
    headers: HeaderMap,
    Query(query): Query<std::collections::HashMap<String, String>>,
) -> Result<Json<Value>, (StatusCode, Json<Value>)> {
    let auth = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    if !auth.eq_ignore_ascii_case(&format!("bearer {ACTIONS_REQUEST_TOKEN}")) {
        return Err((StatusCode::UNAUTHORIZED, Json(json!({"message": "Bad credentials"}))));
    }
    if query.get("api-version").map(String::as_str) != Some("2.0") {
        return Err((StatusCode::BAD_REQUEST, Json(json!({"message": "api-version missing"}))));
    }
    let workflow = lock(&issuer.inner.workflow).clone();
    let owner = workflow.repository.split('/').next().unwrap_or_default().to_owned();
    let audience = query
        .get("audience")
        .cloned()
        .unwrap_or_else(|| format!("https://github.com/{owner}"));
    lock(&issuer.inner.token_requests).push(audience.clone());
    let mut claims = issuer.claims(&workflow.repository, &workflow.git_ref, &audience);
    claims["event_name"] = workflow.event_name.into();
    Ok(Json(json!({ "count": 1, "value": issuer.sign(&claims) })))
}
