//! `examples/mcp_server.rs` against rmcp's own client with its OAuth
//! support: the client is refused with the 401 challenge, discovers
//! SentryAgent through the resource's metadata (RFC 9728) and the
//! authorization server's (RFC 8414), gets a client-credentials token bound
//! to the MCP endpoint (RFC 8707), and calls a tool; the same token is
//! refused by the host's other resource. Then the same with no secret at
//! all: rmcp's `private_key_jwt` client authentication (its
//! `auth-client-credentials-jwt` feature) signs client assertions with a
//! P-256 key made by aws-lc-rs, whose public half is registered as the
//! agent's credential.

#[path = "support/rmcp_http.rs"]
mod rmcp_http;
mod support;

use std::sync::Arc;

use rmcp::ServiceExt;
use rmcp::model::ClientConfig;
use rmcp::transport::StreamableHttpClientTransport;
use rmcp::transport::auth::{ClientCredentialsConfig, JwtSigningAlgorithm, OAuthState};
use rmcp_http::Recording;
use serde_json::{Value, json};
use support::{ExampleServer, line_value};

/// An agent of the example's tenant holding `tools:call`.
struct ToolsAgent {
    agent_id: String,
    client_id: String,
    client_secret: String,
    /// The tenant admin's token, to register the agent's key.
    admin: String,
}

async fn tools_agent(http: &reqwest::Client, base: &str, server: &ExampleServer) -> ToolsAgent {
    let admin_id = line_value(&server.env_lines, "SENTRYAGENT_ADMIN_CLIENT_ID");
    let admin_secret = line_value(&server.env_lines, "SENTRYAGENT_ADMIN_CLIENT_SECRET");
    let token: Value = http
        .post(format!("{base}/api/v1/oauth2/token"))
        .basic_auth(&admin_id, Some(&admin_secret))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .expect("the token endpoint answers")
        .json()
        .await
        .expect("a token");
    let admin = token["access_token"].as_str().expect("a token").to_owned();
    let agent: Value = http
        .post(format!("{base}/api/v1/agents"))
        .bearer_auth(&admin)
        .json(&json!({ "name": "mcp-client@example.com", "scopes": ["tools:call"] }))
        .send()
        .await
        .expect("registration answers")
        .json()
        .await
        .expect("the agent");
    let field = |name: &str| {
        agent[name]
            .as_str()
            .unwrap_or_else(|| panic!("{name}: {agent}"))
            .to_owned()
    };
    ToolsAgent {
        agent_id: field("agentId"),
        client_id: field("clientId"),
        client_secret: field("clientSecret"),
        admin,
    }
}

/// A fresh P-256 key pair made by aws-lc-rs: the private key as PKCS#8 PEM
/// (what rmcp's `PrivateKeyJwt` signs with) and the public JWK.
fn p256_key() -> (Vec<u8>, Value) {
    use aws_lc_rs::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair as _};
    use base64::Engine as _;
    let pair = EcdsaKeyPair::generate(&ECDSA_P256_SHA256_FIXED_SIGNING).expect("a P-256 key");
    let der = pair.to_pkcs8v1().expect("PKCS#8");
    let body = base64::engine::general_purpose::STANDARD.encode(der.as_ref());
    let mut pem = String::from("-----BEGIN PRIVATE KEY-----\n");
    for line in body.as_bytes().chunks(64) {
        pem.push_str(std::str::from_utf8(line).expect("base64"));
        pem.push('\n');
    }
    pem.push_str("-----END PRIVATE KEY-----\n");
    // The uncompressed point: 0x04, x, y.
    let point = pair.public_key().as_ref();
    let b64 = |bytes: &[u8]| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes);
    let jwk = json!({"kty": "EC", "crv": "P-256", "x": b64(&point[1..33]), "y": b64(&point[33..65]), "kid": "mcp-1"});
    (pem.into_bytes(), jwk)
}

/// rmcp's client, authorized through `config`, calls the `whoami` tool at
/// `mcp`: the tool's answer, and the token rmcp used.
async fn call_whoami(mcp: &str, recording: Arc<Recording>, config: ClientCredentialsConfig) -> (String, String) {
    let mut oauth = OAuthState::new_with_oauth_http_client(mcp, recording)
        .await
        .expect("an OAuth state");
    oauth
        .authenticate_client_credentials(config)
        .await
        .expect("rmcp discovers SentryAgent and gets a token");
    let manager = oauth.into_authorization_manager().expect("authorized");
    let token = manager.get_access_token().await.expect("the token");
    (rmcp_http::whoami(mcp, manager).await, token)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_rmcp_client_discovers_sentryagent_and_calls_a_tool() {
    let server = ExampleServer::start("mcp_server", &[]);
    let base = format!("http://127.0.0.1:{}", server.port);
    let mcp = format!("{base}/mcp");
    let http = reqwest::Client::new();
    let agent = tools_agent(&http, &base, &server).await;

    // Without a token: refused, with the challenge that points at the metadata.
    let refused = http
        .post(&mcp)
        .header("accept", "application/json, text/event-stream")
        .json(&json!({ "jsonrpc": "2.0", "id": 1, "method": "ping" }))
        .send()
        .await
        .expect("the MCP endpoint answers");
    assert_eq!(refused.status(), 401);
    assert_eq!(
        refused.headers()["www-authenticate"],
        format!("Bearer realm=\"sentryagent\", resource_metadata=\"{base}/.well-known/oauth-protected-resource/mcp\"")
            .as_str()
    );
    let anonymous = ClientConfig::default()
        .serve(StreamableHttpClientTransport::from_uri(mcp.as_str()))
        .await;
    assert!(anonymous.is_err(), "rmcp's client without a token is refused");

    // rmcp's own OAuth support: discovery from the endpoint, then client credentials.
    let recording = Arc::new(Recording::default());
    let (text, token) = call_whoami(
        &mcp,
        recording.clone(),
        ClientCredentialsConfig::ClientSecret {
            client_id: agent.client_id.clone(),
            client_secret: agent.client_secret.clone(),
            scopes: vec!["tools:call".to_owned()],
            resource: Some(mcp.clone()),
        },
    )
    .await;
    let seen = recording.seen.lock().expect("the record").clone();
    for expected in [
        format!("GET {base}/.well-known/oauth-protected-resource/mcp"),
        format!("GET {base}/.well-known/oauth-authorization-server"),
        format!("POST {base}/api/v1/oauth2/token"),
    ] {
        assert!(seen.contains(&expected), "{expected} in {seen:#?}");
    }
    // The token is bound to the MCP endpoint, and called a tool.
    assert!(text.contains("agent "), "{text}");

    // No secret at all: the agent's public key is its credential, and rmcp
    // signs a private_key_jwt assertion with the private half.
    let (pem, jwk) = p256_key();
    let registered = http
        .post(format!("{base}/api/v1/agents/{}/credentials", agent.agent_id))
        .bearer_auth(&agent.admin)
        .json(&json!({ "publicKey": jwk }))
        .send()
        .await
        .expect("the credentials route answers");
    assert_eq!(registered.status(), 201);
    let key: Value = registered.json().await.expect("the credential");
    let key_client_id = key["clientId"].as_str().expect("a client id").to_owned();
    assert!(key.get("clientSecret").is_none(), "{key}");
    let recording = Arc::new(Recording::default());
    let (text, keyed_token) = call_whoami(
        &mcp,
        recording.clone(),
        ClientCredentialsConfig::PrivateKeyJwt {
            client_id: key_client_id,
            signing_key: pem,
            signing_algorithm: JwtSigningAlgorithm::ES256,
            token_endpoint_audience: None,
            scopes: vec!["tools:call".to_owned()],
            resource: Some(mcp.clone()),
        },
    )
    .await;
    assert!(text.contains("agent "), "{text}");
    assert_ne!(keyed_token, token);
    let seen = recording.seen.lock().expect("the record").clone();
    assert!(seen.contains(&format!("POST {base}/api/v1/oauth2/token")), "{seen:#?}");

    // The same tokens at the host's other resource: refused.
    for token in [&token, &keyed_token] {
        let other = http
            .get(format!("{base}/reports"))
            .bearer_auth(token)
            .send()
            .await
            .expect("the reports route answers");
        assert_eq!(other.status(), 401);
        let challenge = other.headers()["www-authenticate"].to_str().expect("ASCII").to_owned();
        assert!(challenge.contains("error=\"invalid_token\""), "{challenge}");
        assert!(
            challenge.contains(&format!(
                "resource_metadata=\"{base}/.well-known/oauth-protected-resource/reports\""
            )),
            "{challenge}"
        );
    }
    server.stop();
}
