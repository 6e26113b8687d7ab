//! The floor of SentryAgent's in-memory token endpoint: a bare axum server
//! that does only what any client-credentials endpoint must do, so that
//! `benches/load.sh` (`SERVER=bare`) and `benches/compare.sh`
//! (`SIDES="memory bare"`) can say how close the real one runs to it
//! (issue 24's target: at least 0.95 of its rate).
//!
//! `POST /api/v1/oauth2/token` with `grant_type=client_credentials` and HTTP
//! Basic: parse the form and the header, look the client up in a `HashMap`,
//! check the secret with the core's own keyed hash ([`ServerKey`], the same
//! HMAC-SHA-256 and cost), sign an ES256 JWT with the core's claims
//! ([`AccessClaims`]) and the same aws-lc signer setup (a parsed key pair,
//! the header encoded once), queue an audit line on a tokio channel drained
//! by a task, and answer the core's JSON ([`TokenResponse`]). Nothing else:
//! no tenants, rate limits, quotas, metering, metrics or access log, which
//! is exactly the part of the real endpoint's cost it leaves out.
//!
//! ```text
//! cargo build --release -p sentryagent-benches --example bare
//! SENTRYAGENT_BIND=127.0.0.1:3900 target/release/examples/bare
//! ```
//!
//! `BARE_SIGNER=jsonwebtoken` signs with `jsonwebtoken::encode` instead of
//! the core's parsed key pair: the floor of an endpoint written the obvious
//! way with that crate, which parses its key for every token.
//!
//! It prints `SENTRYAGENT_ADMIN_CLIENT_ID=…` and
//! `SENTRYAGENT_ADMIN_CLIENT_SECRET=…` on stdout, as the example server
//! does, and stops on SIGINT or SIGTERM.

use std::collections::HashMap;
use std::hint::black_box;
use std::net::SocketAddr;
use std::sync::Arc;

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair};
use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use sentryagent_core::secret::{ClientSecret, ServerKey, generate_client_id};
use sentryagent_core::token::{AccessClaims, Audience, TokenResponse};
use sentryagent_core::{AgentId, TenantId, TokenId};
use tokio::sync::mpsc;

/// The issuer and audience of the tokens (the example server's defaults).
const ISSUER: &str = "http://127.0.0.1:3900";
/// Token lifetime: the core's default.
const TTL_SECS: u64 = 3600;

/// A registered client.
struct Client {
    secret_hash: [u8; 32],
    agent: AgentId,
    tenant: TenantId,
    scope: String,
}

/// What a token issuance leaves in the audit queue.
struct AuditLine {
    client_id: String,
    jti: TokenId,
    at: i64,
}

/// An ES256 signer as the core keeps one: the parsed key pair and the
/// base64url JOSE header, both made once. With `BARE_SIGNER=jsonwebtoken`,
/// `jsonwebtoken::encode` instead, as an endpoint written the obvious way
/// with that crate signs: it parses the PKCS#8 key again for every token.
struct Signer {
    pair: EcdsaKeyPair,
    header_b64: String,
    rng: SystemRandom,
    /// `BARE_SIGNER=jsonwebtoken`: the key and header `encode` takes.
    jsonwebtoken: Option<(jsonwebtoken::EncodingKey, jsonwebtoken::Header)>,
}

impl Signer {
    fn generate() -> Result<Self, Box<dyn std::error::Error>> {
        let rng = SystemRandom::new();
        let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng)
            .map_err(|_| "cannot generate a P-256 key")?;
        let pair = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8.as_ref())
            .map_err(|_| "cannot parse the P-256 key")?;
        let kid = TokenId::new().to_string();
        let header = serde_json::json!({"alg": "ES256", "typ": "at+jwt", "kid": kid});
        let jsonwebtoken = match std::env::var("BARE_SIGNER").as_deref() {
            Err(_) | Ok("" | "aws-lc") => None,
            Ok("jsonwebtoken") => {
                let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::ES256);
                header.typ = Some("at+jwt".to_owned());
                header.kid = Some(kid);
                Some((jsonwebtoken::EncodingKey::from_ec_der(pkcs8.as_ref()), header))
            }
            Ok(other) => return Err(format!("BARE_SIGNER must be aws-lc or jsonwebtoken, not {other:?}").into()),
        };
        Ok(Self {
            pair,
            header_b64: URL_SAFE_NO_PAD.encode(header.to_string()),
            rng,
            jsonwebtoken,
        })
    }

    fn sign(&self, claims: &AccessClaims) -> Option<String> {
        if let Some((key, header)) = &self.jsonwebtoken {
            return jsonwebtoken::encode(header, claims, key).ok();
        }
        let payload = serde_json::to_vec(claims).ok()?;
        let mut token = String::with_capacity(self.header_b64.len() + payload.len() * 4 / 3 + 400);
        token.push_str(&self.header_b64);
        token.push('.');
        URL_SAFE_NO_PAD.encode_string(&payload, &mut token);
        let signature = self.pair.sign(&self.rng, token.as_bytes()).ok()?;
        token.push('.');
        URL_SAFE_NO_PAD.encode_string(signature.as_ref(), &mut token);
        Some(token)
    }
}

struct Bare {
    key: ServerKey,
    clients: HashMap<String, Client>,
    signer: Signer,
    audit: mpsc::UnboundedSender<AuditLine>,
}

#[tokio::main]
async fn main() {
    if let Err(e) = run().await {
        eprintln!("bare: {e}");
        std::process::exit(1);
    }
}

async fn run() -> Result<(), Box<dyn std::error::Error>> {
    let bind = std::env::var("SENTRYAGENT_BIND").unwrap_or_else(|_| "127.0.0.1:3900".to_owned());
    let key = ServerKey::random();
    let client_id = generate_client_id();
    let secret = ClientSecret::generate();
    let mut clients = HashMap::new();
    clients.insert(
        client_id.clone(),
        Client {
            secret_hash: key.hash_secret(&secret),
            agent: AgentId::new(),
            tenant: TenantId::new(),
            scope: "reports:read".to_owned(),
        },
    );
    let (audit, mut lines) = mpsc::unbounded_channel::<AuditLine>();
    // The audit task: takes each line off the queue, as an audit writer would.
    let drain = tokio::spawn(async move {
        let mut count = 0u64;
        while let Some(line) = lines.recv().await {
            black_box((&line.client_id, line.jti, line.at));
            count += 1;
        }
        count
    });
    let state = Arc::new(Bare {
        key,
        clients,
        signer: Signer::generate()?,
        audit,
    });
    let app = Router::new()
        .route("/api/v1/oauth2/token", post(token))
        .with_state(state);
    // Installed before the port opens, so an early SIGTERM still drains.
    let mut terminate = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    let listener = tokio::net::TcpListener::bind(&bind).await?;
    println!("SENTRYAGENT_ADMIN_CLIENT_ID={client_id}");
    println!("SENTRYAGENT_ADMIN_CLIENT_SECRET={}", secret.expose());
    eprintln!("bare: listening on {}", listener.local_addr()?);
    axum::serve(listener, app.into_make_service_with_connect_info::<SocketAddr>())
        .with_graceful_shutdown(async move {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = terminate.recv() => {}
            }
        })
        .await?;
    // The router (and with it the last sender) is gone: the queue drains.
    let audited = drain.await?;
    eprintln!("bare: stopped; {audited} audit lines");
    Ok(())
}

/// An RFC 6749 §5.2 error.
fn refuse(status: StatusCode, error: &'static str) -> Response {
    let body = format!(r#"{{"error":"{error}"}}"#);
    (status, [(header::CONTENT_TYPE, "application/json")], body).into_response()
}

/// `client_id:secret` from `Authorization: Basic …`.
fn basic(headers: &HeaderMap) -> Option<(String, String)> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let encoded = value.strip_prefix("Basic ")?;
    let decoded = String::from_utf8(STANDARD.decode(encoded).ok()?).ok()?;
    let (id, secret) = decoded.split_once(':')?;
    Some((id.to_owned(), secret.to_owned()))
}

async fn token(State(bare): State<Arc<Bare>>, headers: HeaderMap, body: Bytes) -> Response {
    let grant = form_urlencoded::parse(&body).find(|(k, _)| k == "grant_type");
    if grant.is_none_or(|(_, v)| v != "client_credentials") {
        return refuse(StatusCode::BAD_REQUEST, "unsupported_grant_type");
    }
    let Some((client_id, secret)) = basic(&headers) else {
        return refuse(StatusCode::UNAUTHORIZED, "invalid_client");
    };
    let secret = ClientSecret::from_presented(secret);
    let Some(client) = bare.clients.get(&client_id) else {
        // Same work for an unknown id, as the core does.
        let _ = bare.key.verify_secret(&secret, &[0u8; 32]);
        return refuse(StatusCode::UNAUTHORIZED, "invalid_client");
    };
    if !bare.key.verify_secret(&secret, &client.secret_hash) {
        return refuse(StatusCode::UNAUTHORIZED, "invalid_client");
    }
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let claims = AccessClaims {
        iss: ISSUER.to_owned(),
        sub: client.agent,
        aud: Audience::One(ISSUER.to_owned()),
        exp: now + TTL_SECS as i64,
        iat: now,
        nbf: now,
        jti: TokenId::new(),
        client_id,
        scope: client.scope.clone(),
        tenant: client.tenant,
        act: None,
    };
    let Some(access_token) = bare.signer.sign(&claims) else {
        return refuse(StatusCode::INTERNAL_SERVER_ERROR, "server_error");
    };
    // The receiver lives as long as the server; a send can only fail after.
    let _ = bare.audit.send(AuditLine {
        client_id: claims.client_id,
        jti: claims.jti,
        at: now,
    });
    let response = TokenResponse {
        access_token,
        token_type: "Bearer",
        expires_in: TTL_SECS,
        scope: claims.scope,
        refresh_token: None,
    };
    let Ok(body) = serde_json::to_vec(&response) else {
        return refuse(StatusCode::INTERNAL_SERVER_ERROR, "server_error");
    };
    (
        [
            (header::CONTENT_TYPE, HeaderValue::from_static("application/json")),
            (header::CACHE_CONTROL, HeaderValue::from_static("no-store")),
        ],
        body,
    )
        .into_response()
}
