//! The two GitHub Actions' scripts, run end to end with bash, curl and jq
//! against a real server (the axum router over loopback) and a stand-in for
//! the Actions runtime's OIDC token endpoint: outputs land in
//! `$GITHUB_OUTPUT`, tokens appear in the log only behind `::add-mask::`,
//! and every failure prints its guidance and exits non-zero.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use axum::Router;
use sentryagent_core::SentryAgent;
use sentryagent_federation_reqwest::ReqwestFetcher;
use sentryagent_testkit::oidc::{ACTIONS_REQUEST_TOKEN, StandInIssuer, Workflow};
use serde_json::{Value, json};

struct Server {
    base: String,
    idp: SentryAgent,
    issuer: StandInIssuer,
    tenant: String,
    admin: String,
    client: reqwest::Client,
}

async fn server() -> Server {
    let issuer = StandInIssuer::start().await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let base = format!("http://{}", listener.local_addr().expect("address"));
    let idp = SentryAgent::builder()
        .issuer(&base)
        .api_path("/api/v1")
        .jwks_fetcher(Arc::new(ReqwestFetcher::new().expect("client")))
        .oidc_issuer(issuer.url())
        .oidc_jwks_url(issuer.jwks_url())
        .build()
        .await
        .expect("idp");
    let tenant = idp.create_tenant("Acme").await.expect("tenant");
    let app = Router::new()
        .nest("/api/v1", sentryagent_axum::router(idp.clone()))
        .with_state(idp.clone());
    tokio::spawn(async move {
        let _ = axum::serve(listener, app.into_make_service_with_connect_info::<SocketAddr>()).await;
    });
    let client = reqwest::Client::new();
    let admin = admin_token(&client, &format!("{base}/api/v1"), &tenant).await;
    Server {
        base,
        idp,
        issuer,
        tenant: tenant.tenant.id.to_string(),
        admin,
        client,
    }
}

/// A tenant admin's token, by the client-credentials grant.
async fn admin_token(client: &reqwest::Client, api: &str, tenant: &sentryagent_core::tenant::TenantCreated) -> String {
    let answer: Value = client
        .post(format!("{api}/oauth2/token"))
        .basic_auth(&tenant.admin_client_id, Some(tenant.admin_client_secret.expose()))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .expect("token request")
        .json()
        .await
        .expect("token json");
    answer["access_token"].as_str().expect("admin token").to_owned()
}

impl Server {
    fn api(&self) -> String {
        format!("{}/api/v1", self.base)
    }

    async fn call(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> (u16, Value) {
        let mut r = self
            .client
            .request(method, format!("{}{path}", self.api()))
            .bearer_auth(&self.admin);
        if let Some(body) = body {
            r = r.json(&body);
        }
        let response = r.send().await.expect("request");
        let status = response.status().as_u16();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    async fn policy(&self, body: Value) {
        let (status, answer) = self
            .call(reqwest::Method::POST, "/oidc/trust-policies", Some(body))
            .await;
        assert_eq!(status, 201, "{answer}");
    }

    /// The environment a runner gives the step, for `repository`.
    fn env(&self, repository: &str) -> Vec<(String, String)> {
        [
            ("SENTRYAGENT_API_URL", self.api()),
            ("SENTRYAGENT_TENANT_ID", self.tenant.clone()),
            ("ACTIONS_ID_TOKEN_REQUEST_URL", self.issuer.actions_token_url()),
            ("ACTIONS_ID_TOKEN_REQUEST_TOKEN", ACTIONS_REQUEST_TOKEN.to_owned()),
            ("GITHUB_REPOSITORY", repository.to_owned()),
            ("GITHUB_REF", "refs/heads/main".to_owned()),
            ("GITHUB_EVENT_NAME", "push".to_owned()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect()
    }
}

struct Run {
    ok: bool,
    log: String,
    outputs: HashMap<String, String>,
}

fn script(action: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../actions")
        .join(action)
        .join(format!("{action}.sh"))
}

/// Runs an action's script as a composite step would, with only `env` (and
/// PATH) in its environment, and reads back `$GITHUB_OUTPUT`.
async fn run(action: &str, env: &[(String, String)]) -> Run {
    let dir = std::env::temp_dir().join(sentryagent_testkit::services::unique_name("gh_output"));
    tokio::fs::create_dir_all(&dir).await.expect("temp dir");
    let output_file = dir.join("output");
    tokio::fs::write(&output_file, "").await.expect("output file");
    let out = tokio::process::Command::new("bash")
        .arg(script(action))
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("GITHUB_OUTPUT", &output_file)
        .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .output()
        .await
        .expect("bash runs");
    let written = tokio::fs::read_to_string(&output_file).await.unwrap_or_default();
    let _ = tokio::fs::remove_dir_all(&dir).await;
    let outputs = written
        .lines()
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
    let log = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    Run {
        ok: out.status.success(),
        log,
        outputs,
    }
}

/// `secret` appears in `log` only on its `::add-mask::` line, which comes
/// before any other line.
#[track_caller]
fn only_masked(log: &str, secret: &str) {
    let lines: Vec<&str> = log.lines().filter(|l| l.contains(secret)).collect();
    assert_eq!(lines, [format!("::add-mask::{secret}")], "in the log:\n{log}");
}

/// A failed step: non-zero exit, an `::error` line, no outputs.
#[track_caller]
fn failed(r: &Run) {
    assert!(!r.ok, "{}", r.log);
    assert!(r.log.contains("::error title=SentryAgent::"), "{}", r.log);
    assert!(r.outputs.is_empty(), "no outputs on failure: {:?}", r.outputs);
}

fn with(mut env: Vec<(String, String)>, key: &str, value: &str) -> Vec<(String, String)> {
    env.retain(|(k, _)| k != key);
    env.push((key.to_owned(), value.to_owned()));
    env
}

fn without(mut env: Vec<(String, String)>, key: &str) -> Vec<(String, String)> {
    env.retain(|(k, _)| k != key);
    env
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn register_agent_then_issue_tokens_for_it() {
    let s = server().await;
    s.policy(json!({"provider": "github", "repository": "acme/app", "branch": "main"}))
        .await;
    let env = with(s.env("acme/app"), "SENTRYAGENT_AGENT_NAME", "ci-bot@acme.example");
    let env = with(env, "SENTRYAGENT_AGENT_DESCRIPTION", "Registered from CI");
    let r = run("register-agent", &env).await;
    assert!(r.ok, "{}", r.log);
    let agent_id = r.outputs.get("agent-id").cloned().unwrap_or_default();
    assert!(
        uuid::Uuid::try_parse(&agent_id).is_ok(),
        "agent-id output: {:?}",
        r.outputs
    );
    assert!(
        r.log
            .contains(&format!("Registered agent ci-bot@acme.example: {agent_id}")),
        "{}",
        r.log
    );
    assert!(!r.log.contains("sa_sk_"), "no client secret in the log");
    let (status, agent) = s.call(reqwest::Method::GET, &format!("/agents/{agent_id}"), None).await;
    assert_eq!(status, 200);
    assert_eq!(agent["description"], "Registered from CI");
    assert!(
        s.issuer.token_requests().iter().all(|aud| *aud == s.base),
        "the audience defaults to the server's origin: {:?}",
        s.issuer.token_requests()
    );

    s.policy(json!({"provider": "github", "repository": "acme/app", "branch": "main", "agentId": agent_id}))
        .await;
    let env = with(s.env("acme/app"), "SENTRYAGENT_AGENT_ID", &agent_id);
    let r = run("issue-token", &env).await;
    assert!(r.ok, "{}", r.log);
    let token = r.outputs.get("access-token").cloned().unwrap_or_default();
    assert!(token.len() > 100, "access-token output: {:?}", r.outputs);
    only_masked(&r.log, &token);
    let expires = r.outputs.get("expires-at").cloned().unwrap_or_default();
    let expires = sentryagent_core::time::parse_rfc3339(&expires).expect("expires-at is RFC 3339");
    let ttl = expires - sentryagent_core::time::now();
    assert!(
        ttl > time::Duration::minutes(55) && ttl <= time::Duration::minutes(61),
        "{ttl}"
    );

    let introspected: Value = s
        .client
        .post(format!("{}/oauth2/introspect", s.api()))
        .bearer_auth(&token)
        .form(&[("token", token.as_str())])
        .send()
        .await
        .expect("introspect")
        .json()
        .await
        .expect("json");
    assert_eq!(introspected["active"], true);
    assert_eq!(introspected["sub"], agent_id.as_str());

    // The GitHub OIDC token is masked too.
    let mask_lines: Vec<&str> = r.log.lines().filter(|l| l.starts_with("::add-mask::")).collect();
    assert_eq!(mask_lines.len(), 2, "{}", r.log);
    let github_token = mask_lines[0].trim_start_matches("::add-mask::");
    only_masked(&r.log, github_token);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_failure_says_what_to_do_and_exits_non_zero() {
    let s = server().await;
    s.policy(json!({"provider": "github", "repository": "acme/app"})).await;
    let register = with(s.env("acme/app"), "SENTRYAGENT_AGENT_NAME", "ci-bot@acme.example");

    // No id-token permission: the runtime's variables are missing.
    let r = run(
        "register-agent",
        &without(register.clone(), "ACTIONS_ID_TOKEN_REQUEST_URL"),
    )
    .await;
    failed(&r);
    assert!(
        r.log
            .contains("::error title=SentryAgent::this job cannot request a GitHub OIDC token"),
        "{}",
        r.log
    );
    assert!(r.log.contains("id-token: write"), "{}", r.log);

    // No trust policy for this repository: 403 and how to register one.
    s.issuer.set_workflow(Workflow {
        repository: "acme/other".into(),
        git_ref: "refs/heads/main".into(),
        event_name: "push".into(),
    });
    let r = run(
        "register-agent",
        &with(register.clone(), "GITHUB_REPOSITORY", "acme/other"),
    )
    .await;
    failed(&r);
    assert!(r.log.contains("HTTP 403 TRUST_POLICY_NOT_FOUND"), "{}", r.log);
    assert!(
        r.log.contains(&format!("curl -X POST {}/oidc/trust-policies", s.api())),
        "{}",
        r.log
    );
    assert!(r.log.contains("\"repository\": \"acme/other\""), "{}", r.log);
    let agent = uuid::Uuid::new_v4().to_string();
    let issue = with(
        with(s.env("acme/other"), "SENTRYAGENT_AGENT_ID", &agent),
        "GITHUB_REPOSITORY",
        "acme/other",
    );
    let r = run("issue-token", &issue).await;
    failed(&r);
    assert!(r.log.contains(&format!("\"agentId\": \"{agent}\"")), "{}", r.log);
    s.issuer.set_workflow(Workflow {
        repository: "acme/app".into(),
        git_ref: "refs/heads/main".into(),
        event_name: "push".into(),
    });

    // The server cannot be reached.
    let closed = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let dead = format!("http://{}/api/v1", closed.local_addr().expect("address"));
    drop(closed);
    let r = run("register-agent", &with(register.clone(), "SENTRYAGENT_API_URL", &dead)).await;
    failed(&r);
    assert!(
        r.log.contains(&format!("could not reach {dead}/oidc/token")),
        "{}",
        r.log
    );
    assert!(r.log.contains("Check the api-url input"), "{}", r.log);

    // An HTTP error carries the server's own message and details.
    let r = run(
        "register-agent",
        &with(register.clone(), "SENTRYAGENT_AGENT_NAME", "not an email"),
    )
    .await;
    failed(&r);
    assert!(
        r.log
            .contains("HTTP 400 VALIDATION_ERROR: the request is invalid; see details"),
        "{}",
        r.log
    );
    assert!(r.log.contains("Details: {\"name\":"), "{}", r.log);

    // A wrong audience: the server says which one it expects.
    let r = run(
        "register-agent",
        &with(register.clone(), "SENTRYAGENT_AUDIENCE", "https://elsewhere.example"),
    )
    .await;
    failed(&r);
    assert!(r.log.contains("HTTP 401 OIDC_TOKEN_INVALID"), "{}", r.log);
    assert!(
        r.log.contains(&format!("request the token with audience={}", s.base)),
        "{}",
        r.log
    );

    // Missing inputs.
    let r = run("issue-token", &s.env("acme/app")).await;
    failed(&r);
    assert!(r.log.contains("the agent-id input is empty"), "{}", r.log);
    let r = run("register-agent", &without(register.clone(), "SENTRYAGENT_TENANT_ID")).await;
    failed(&r);
    assert!(r.log.contains("the tenant-id input is empty"), "{}", r.log);
    assert!(r.log.contains("GET /tenants/me"), "{}", r.log);

    // Scopes past the bootstrap policy's ceiling (none here).
    let r = run(
        "register-agent",
        &with(register.clone(), "SENTRYAGENT_AGENT_SCOPES", "admin"),
    )
    .await;
    failed(&r);
    assert!(r.log.contains("HTTP 403 SCOPE_CEILING"), "{}", r.log);
    assert!(r.log.contains("maxScopes"), "{}", r.log);
}

/// The Actions name their tenant, and only its policies are read: a
/// stranger's bootstrap policy for the victim's repository neither makes the
/// victim's registration ambiguous nor captures it when the victim's own
/// policy refuses, and the stranger's audit log learns nothing of it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_strangers_policy_never_captures_the_repository() {
    let s = server().await;
    s.policy(json!({"provider": "github", "repository": "acme/app", "branch": "main", "maxScopes": ["reports:read"]}))
        .await;
    let stranger = s.idp.create_tenant("Stranger").await.expect("tenant");
    let stranger_admin = admin_token(&s.client, &s.api(), &stranger).await;
    let created = s
        .client
        .post(format!("{}/oidc/trust-policies", s.api()))
        .bearer_auth(&stranger_admin)
        .json(&json!({"provider": "github", "repository": "acme/*"}))
        .send()
        .await
        .expect("policy");
    assert_eq!(created.status().as_u16(), 201);

    // The victim's registration goes to the victim, with the scope it asked for.
    let register = with(s.env("acme/app"), "SENTRYAGENT_AGENT_NAME", "ci-bot@acme.example");
    let r = run(
        "register-agent",
        &with(register.clone(), "SENTRYAGENT_AGENT_SCOPES", "reports:read"),
    )
    .await;
    assert!(r.ok, "{}", r.log);
    let agent_id = r.outputs.get("agent-id").cloned().unwrap_or_default();
    let (status, agent) = s.call(reqwest::Method::GET, &format!("/agents/{agent_id}"), None).await;
    assert_eq!(status, 200);
    assert_eq!(agent["scopes"], json!(["reports:read"]));
    assert_eq!(agent["origin"]["repository"], "acme/app");

    // Where the victim's policy refuses (another branch), the exchange is
    // refused: the stranger's policy, which would admit it, is not read.
    s.issuer.set_workflow(Workflow {
        repository: "acme/app".into(),
        git_ref: "refs/heads/feature".into(),
        event_name: "push".into(),
    });
    let r = run(
        "register-agent",
        &with(
            with(register, "GITHUB_REF", "refs/heads/feature"),
            "SENTRYAGENT_AGENT_NAME",
            "other@acme.example",
        ),
    )
    .await;
    failed(&r);
    assert!(r.log.contains("HTTP 403 TRUST_POLICY_BRANCH_MISMATCH"), "{}", r.log);

    let get = |path: &str| {
        let request = s.client.get(format!("{}{path}", s.api())).bearer_auth(&stranger_admin);
        async move { request.send().await.expect("request").text().await.expect("text") }
    };
    let theirs = get("/audit?limit=100").await;
    assert!(
        !theirs.contains("acme/app"),
        "nothing of the victim reaches the stranger: {theirs}"
    );
    let agents = get("/agents").await;
    assert!(!agents.contains("@acme.example"), "{agents}");
}
