//! Workload identity federation: trust policies and `POST /oidc/token`
//! against a stand-in GitHub OIDC issuer on loopback.

use std::time::Duration;

use reqwest::Method;
use serde_json::{Value, json};

use crate::oidc::{StandInIssuer, numeric_id};
use crate::{Answer, StartFn, Tenant, TestApp, string};

/// The audience the IdPs of these cases expect.
const AUD: &str = "https://sentryagent.test/oidc";

struct Fed {
    app: TestApp,
    issuer: StandInIssuer,
    tenant: Tenant,
    admin: String,
}

async fn federation(start: impl StartFn, refetch: Duration) -> Fed {
    let issuer = StandInIssuer::start().await;
    let configured = issuer.clone();
    let app = TestApp::start_with(start, move |b| {
        configured.configure(b, AUD).jwks_refetch_interval(refetch)
    })
    .await;
    let tenant = app.signup("Acme").await;
    let admin = app.admin_token(&tenant).await;
    Fed {
        app,
        issuer,
        tenant,
        admin,
    }
}

impl Fed {
    async fn policy(&self, body: Value) -> Value {
        let a = self.app.post("/oidc/trust-policies", &self.admin, &body).await;
        a.assert_status(201);
        a.json
    }

    async fn exchange(&self, body: Value) -> Answer {
        self.app.json(Method::POST, "/oidc/token", None, &body).await
    }

    /// An exchange naming the case's tenant.
    async fn exchange_token(&self, token: &str) -> Answer {
        self.exchange(json!({ "token": token, "tenantId": self.tenant.id }))
            .await
    }

    fn token(&self, repository: &str, git_ref: &str) -> String {
        self.issuer.sign(&self.issuer.claims(repository, git_ref, AUD))
    }

    async fn audit(&self, action: &str) -> Vec<Value> {
        let a = self.app.get(&format!("/audit?action={action}"), &self.admin).await;
        a.assert_status(200);
        a.json["items"].as_array().cloned().unwrap_or_default()
    }
}

#[track_caller]
fn assert_token(a: &Answer) -> String {
    a.assert_status(200);
    assert_eq!(a.header("cache-control"), "no-store");
    assert_eq!(a.json["token_type"], "Bearer");
    assert!(a.json["expires_in"].as_u64().is_some_and(|n| n > 0));
    string(&a.json["access_token"])
}

/// Policies are created, listed page by page, read and deleted with
/// `trust-policies:write`, in the caller's tenant only; bad fields are named.
pub async fn oidc_trust_policy_crud(start: impl StartFn) {
    let f = federation(start, Duration::from_secs(30)).await;
    let app = &f.app;
    let agent = app.register(&f.admin, "deploy@acme.example", json!({})).await;
    let p = f
        .policy(json!({
            "provider": "github", "repository": "acme/app", "branch": "main", "agentId": agent.id,
            "environment": "prod", "deniedEvents": ["schedule"], "description": "deploys"
        }))
        .await;
    assert_eq!(p["mode"], "agent");
    assert_eq!(p["branch"], "main");
    assert_eq!(p["repositoryId"], Value::Null, "pinned on first use");
    assert_eq!(p["deniedEvents"], json!(["schedule"]));
    let id = string(&p["policyId"]);
    for i in 0..3 {
        f.policy(json!({"provider": "github", "repository": format!("acme/r{i}")}))
            .await;
    }
    let page = app.get("/oidc/trust-policies?limit=3", &f.admin).await;
    page.assert_status(200);
    assert_eq!(page.json["items"].as_array().map(Vec::len), Some(3));
    assert_eq!(page.json["items"][0]["policyId"], id.as_str());
    let cursor = string(&page.json["nextCursor"]);
    let rest = app
        .get(&format!("/oidc/trust-policies?limit=3&cursor={cursor}"), &f.admin)
        .await;
    assert_eq!(rest.json["items"].as_array().map(Vec::len), Some(1));
    assert_eq!(rest.json["nextCursor"], Value::Null);
    let got = app.get(&format!("/oidc/trust-policies/{id}"), &f.admin).await;
    got.assert_status(200);
    assert_eq!(got.json, p);

    let bad = app
        .post(
            "/oidc/trust-policies",
            &f.admin,
            &json!({"provider": "gitlab", "repository": "*/app", "refType": "commit", "color": 1}),
        )
        .await;
    bad.assert_error(400, "VALIDATION_ERROR");
    assert!(bad.json["details"]["color"].is_string(), "unknown field named");
    let bad = app
        .post(
            "/oidc/trust-policies",
            &f.admin,
            &json!({"provider": "gitlab", "repository": "*/app", "refType": "commit"}),
        )
        .await;
    for field in ["provider", "repository", "refType"] {
        assert!(bad.json["details"][field].is_string(), "{field} in {}", bad.text);
    }
    let missing = app
        .post(
            "/oidc/trust-policies",
            &f.admin,
            &json!({"provider": "github", "repository": "acme/app", "agentId": uuid::Uuid::new_v4()}),
        )
        .await;
    missing.assert_error(404, "NOT_FOUND");

    // Scope and tenant.
    let reader = app
        .register(&f.admin, "reader@acme.example", json!({"scopes": ["agents:read"]}))
        .await;
    let reader_token = app.token(&reader.client_id, &reader.secret, None).await;
    app.get("/oidc/trust-policies", &reader_token)
        .await
        .assert_error(403, "INSUFFICIENT_SCOPE");
    let other = app.signup("Other").await;
    let other_admin = app.admin_token(&other).await;
    app.get(&format!("/oidc/trust-policies/{id}"), &other_admin)
        .await
        .assert_error(404, "NOT_FOUND");
    app.delete(&format!("/oidc/trust-policies/{id}"), &other_admin)
        .await
        .assert_error(404, "NOT_FOUND");
    let listed = app.get("/oidc/trust-policies", &other_admin).await;
    assert_eq!(listed.json["items"], json!([]));
    app.get("/oidc/trust-policies/not-a-uuid", &f.admin)
        .await
        .assert_error(400, "VALIDATION_ERROR");

    app.delete(&format!("/oidc/trust-policies/{id}"), &f.admin)
        .await
        .assert_status(200);
    app.get(&format!("/oidc/trust-policies/{id}"), &f.admin)
        .await
        .assert_error(404, "NOT_FOUND");
    assert_eq!(f.audit("trust_policy.created").await.len(), 4);
    assert_eq!(f.audit("trust_policy.deleted").await.len(), 1);
}

/// A workflow of the policy's repository and branch gets a token for the
/// policy's agent; the answer is not cached; the exchange is audited
/// without the token; a GitHub token is exchanged once.
pub async fn oidc_exchange_issues_an_agent_token(start: impl StartFn) {
    let f = federation(start, Duration::from_secs(30)).await;
    let agent = f
        .app
        .register(&f.admin, "deploy@acme.example", json!({"scopes": ["deploy:run"]}))
        .await;
    let p = f
        .policy(json!({"provider": "github", "repository": "acme/app", "branch": "main", "agentId": agent.id}))
        .await;
    let github = f.token("acme/app", "refs/heads/main");
    let a = f.exchange_token(&github).await;
    let token = assert_token(&a);
    assert_eq!(a.json["scope"], "deploy:run");
    let me = f.app.whoami(&token).await;
    me.assert_status(200);
    assert_eq!(me.json["agentId"], agent.id.as_str());
    assert_eq!(me.json["tenantId"], f.tenant.id.as_str());
    assert_eq!(me.json["clientId"], format!("oidc:{}", string(&p["policyId"])));

    let events = f.audit("oidc.exchanged").await;
    assert_eq!(events.len(), 1);
    let e = &events[0];
    assert_eq!(e["agentId"], agent.id.as_str());
    assert_eq!(e["actor"], "oidc:acme/app");
    assert_eq!(e["details"]["repository"], "acme/app");
    assert_eq!(e["details"]["ref"], "refs/heads/main");
    assert_eq!(e["details"]["mode"], "agent");
    assert_eq!(e["details"]["policyId"], p["policyId"]);
    let all = f.app.get("/audit?limit=100", &f.admin).await.text;
    assert!(
        !all.contains(&github) && !all.contains(&token),
        "no token in the audit log"
    );

    let again = f.exchange_token(&github).await;
    again.assert_error(401, "OIDC_TOKEN_INVALID");
    assert_eq!(again.header("cache-control"), "no-store");
    assert!(string(&again.json["message"]).contains("exchanged before"));
    let denied = f.audit("oidc.denied").await;
    assert_eq!(denied[0]["details"]["reason"], "token_invalid");
}

/// Every refusal with its status and code, audited where a tenant is concerned.
pub async fn oidc_exchange_refusals(start: impl StartFn) {
    let plain = TestApp::start(&start).await;
    let a = plain
        .json(Method::POST, "/oidc/token", None, &json!({"token": "x.y.z"}))
        .await;
    a.assert_error(503, "OIDC_NOT_CONFIGURED");

    let f = federation(&start, Duration::from_secs(30)).await;
    let agent = f.app.register(&f.admin, "deploy@acme.example", json!({})).await;
    f.policy(json!({"provider": "github", "repository": "acme/app", "branch": "main", "agentId": agent.id}))
        .await;
    let is = &f.issuer;

    let a = f.exchange_token(&f.token("acme/other", "refs/heads/main")).await;
    a.assert_error(403, "TRUST_POLICY_NOT_FOUND");
    assert_eq!(a.json["details"]["repository"], "acme/other");
    let a = f.exchange_token(&f.token("acme/app", "refs/heads/feature/xyz")).await;
    a.assert_error(403, "TRUST_POLICY_BRANCH_MISMATCH");
    assert_eq!(a.json["details"], json!({"allowed": "main", "provided": "feature/xyz"}));
    assert_eq!(a.header("cache-control"), "no-store");

    let mut c = is.claims("acme/app", "refs/heads/main", AUD);
    c["exp"] = json!(sentryagent_core::time::now().unix_timestamp() - 3600);
    c["iat"] = json!(sentryagent_core::time::now().unix_timestamp() - 4000);
    f.exchange_token(&is.sign(&c))
        .await
        .assert_error(401, "OIDC_TOKEN_EXPIRED");

    let good = is.claims("acme/app", "refs/heads/main", AUD);
    let signed = is.sign(&good);
    let mut parts: Vec<&str> = signed.split('.').collect();
    let mut forged_claims = good.clone();
    forged_claims["repository"] = "acme/app".into();
    forged_claims["ref"] = "refs/heads/main".into();
    forged_claims["jti"] = "forged".into();
    let forged_payload = {
        use base64::Engine as _;
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(forged_claims.to_string())
    };
    parts[1] = &forged_payload;
    let unknown = is.add_key(false);
    let mut wrong_iss = good.clone();
    wrong_iss["iss"] = "https://token.actions.example.com".into();
    let mut wrong_aud = good.clone();
    wrong_aud["aud"] = "https://github.com/acme".into();
    let mut no_repo = good.clone();
    no_repo.as_object_mut().map(|m| m.remove("repository_id"));
    for (what, token) in [
        ("bad signature", parts.join(".")),
        ("alg none", is.unsigned(&good)),
        ("HS256 with the JWKS key", is.sign_hs256_with_public_key(&good)),
        ("unknown kid", is.sign_with(&unknown, &good)),
        ("wrong iss", is.sign(&wrong_iss)),
        ("wrong aud", is.sign(&wrong_aud)),
        ("no repository_id", is.sign(&no_repo)),
        ("garbage", "not-a-jwt".to_owned()),
    ] {
        let a = f.exchange_token(&token).await;
        assert_eq!(a.json["code"], "OIDC_TOKEN_INVALID", "{what}: {}", a.text);
        a.assert_error(401, "OIDC_TOKEN_INVALID");
        assert_eq!(a.header("cache-control"), "no-store");
    }
    let a = f.exchange_token(&is.sign(&wrong_aud)).await;
    assert!(
        string(&a.json["message"]).contains(AUD),
        "says which audience: {}",
        a.text
    );

    f.exchange(json!({})).await.assert_error(400, "VALIDATION_ERROR");
    f.exchange(json!({"token": 7}))
        .await
        .assert_error(400, "VALIDATION_ERROR");
    let wrong_type = f
        .app
        .send(
            f.app
                .request(Method::POST, "/oidc/token", None)
                .header("content-type", "text/plain")
                .body("token"),
        )
        .await;
    wrong_type.assert_error(415, "UNSUPPORTED_MEDIA_TYPE");

    let mut pr = is.claims("acme/app", "refs/heads/main", AUD);
    pr["event_name"] = "pull_request_target".into();
    f.exchange_token(&is.sign(&pr))
        .await
        .assert_error(403, "TRUST_POLICY_NOT_FOUND");

    f.app
        .patch(
            &format!("/agents/{}", agent.id),
            &f.admin,
            &json!({"status": "suspended"}),
        )
        .await
        .assert_status(200);
    f.exchange_token(&f.token("acme/app", "refs/heads/main"))
        .await
        .assert_error(403, "AGENT_SUSPENDED");
    f.app
        .delete(&format!("/agents/{}", agent.id), &f.admin)
        .await
        .assert_status(200);
    f.exchange_token(&f.token("acme/app", "refs/heads/main"))
        .await
        .assert_error(403, "AGENT_DECOMMISSIONED");

    let reasons: Vec<String> = f
        .audit("oidc.denied")
        .await
        .iter()
        .map(|e| string(&e["details"]["reason"]))
        .collect();
    assert_eq!(
        reasons,
        [
            "agent_decommissioned",
            "agent_suspended",
            "trust_policy_not_found",
            "branch_mismatch"
        ],
        "newest first; other repositories and unverified tokens are not the tenant's business"
    );
}

/// A bootstrap policy gives a token with `agents:write` that registers
/// agents in its own tenant and does nothing else.
pub async fn oidc_bootstrap_token_stays_in_its_lane(start: impl StartFn) {
    let f = federation(start, Duration::from_secs(30)).await;
    let p = f.policy(json!({"provider": "github", "repository": "acme/app"})).await;
    assert_eq!(p["mode"], "bootstrap");
    let other = f.app.signup("Other").await;
    let other_admin = f.app.admin_token(&other).await;
    let theirs = f.app.register(&other_admin, "theirs@other.example", json!({})).await;

    let a = f.exchange_token(&f.token("acme/app", "refs/heads/dev")).await;
    let token = assert_token(&a);
    assert_eq!(a.json["scope"], "agents:write");
    let me = f.app.whoami(&token).await;
    assert_eq!(me.json["tenantId"], f.tenant.id.as_str());
    assert_eq!(me.json["scopes"], json!(["agents:write"]));

    let made = f
        .app
        .post("/agents", &token, &json!({"name": "ci-bot@acme.example"}))
        .await;
    made.assert_status(201);
    // The policy set no ceiling: agents it registers hold nothing.
    for scopes in [json!(["admin"]), json!(["agents:write"]), json!(["reports:read"])] {
        let escalate = f
            .app
            .post(
                "/agents",
                &token,
                &json!({"name": "root@acme.example", "scopes": scopes}),
            )
            .await;
        escalate.assert_error(403, "SCOPE_CEILING");
        assert_eq!(escalate.json["details"]["rule"], "grant_ceiling");
    }
    // It registers and does nothing else, even with `agents:write`.
    let made_id = string(&made.json["agentId"]);
    let own = f
        .app
        .patch(
            &format!("/agents/{made_id}"),
            &token,
            &json!({"description": "changed"}),
        )
        .await;
    own.assert_error(403, "SCOPE_CEILING");
    assert_eq!(own.json["details"]["rule"], "bootstrap_registers_only");
    f.app
        .delete(&format!("/agents/{made_id}"), &token)
        .await
        .assert_error(403, "SCOPE_CEILING");
    // The admin sees where the agent came from.
    let seen = f.app.get(&format!("/agents/{made_id}"), &f.admin).await;
    assert_eq!(seen.json["origin"]["trustPolicyId"], p["policyId"]);
    assert_eq!(seen.json["origin"]["repository"], "acme/app");
    assert_eq!(seen.json["origin"]["ref"], "refs/heads/dev");
    assert!(seen.json["origin"]["runId"].is_string(), "{}", seen.text);
    f.app
        .get("/agents", &token)
        .await
        .assert_error(403, "INSUFFICIENT_SCOPE");
    f.app
        .post(
            "/oidc/trust-policies",
            &token,
            &json!({"provider": "github", "repository": "acme/app"}),
        )
        .await
        .assert_error(403, "INSUFFICIENT_SCOPE");
    f.app
        .get("/audit", &token)
        .await
        .assert_error(403, "INSUFFICIENT_SCOPE");
    f.app
        .patch(
            &format!("/agents/{}", theirs.id),
            &token,
            &json!({"status": "suspended"}),
        )
        .await
        .assert_error(404, "NOT_FOUND");
    f.app
        .delete(&format!("/agents/{}", theirs.id), &token)
        .await
        .assert_error(404, "NOT_FOUND");

    let created = f.audit("agent.created").await;
    assert_eq!(created[0]["details"]["name"], "ci-bot@acme.example");
    let exchanged = f.audit("oidc.exchanged").await;
    assert_eq!(exchanged[0]["details"]["mode"], "bootstrap");
    assert_eq!(
        created[0]["actor"], exchanged[0]["agentId"],
        "the bootstrap agent acted"
    );
}

/// A policy of tenant A never admits a token into tenant B; when both
/// tenants trust the repository the caller must name one.
pub async fn oidc_tenants_never_share_policies(start: impl StartFn) {
    let f = federation(start, Duration::from_secs(30)).await;
    f.policy(json!({"provider": "github", "repository": "acme/app"})).await;
    let b = f.app.signup("Beta").await;
    let b_admin = f.app.admin_token(&b).await;

    let a = f
        .exchange(json!({"token": f.token("acme/app", "refs/heads/main"), "tenantId": b.id}))
        .await;
    a.assert_error(403, "TRUST_POLICY_NOT_FOUND");
    let a = f
        .exchange(json!({"token": f.token("acme/app", "refs/heads/main"), "tenantId": f.tenant.id}))
        .await;
    let token = assert_token(&a);
    assert_eq!(f.app.whoami(&token).await.json["tenantId"], f.tenant.id.as_str());

    let bp = f
        .app
        .post(
            "/oidc/trust-policies",
            &b_admin,
            &json!({"provider": "github", "repository": "ACME/*"}),
        )
        .await;
    bp.assert_status(201);
    // No tenant is guessed: an exchange names its tenant.
    let a = f
        .exchange(json!({"token": f.token("acme/app", "refs/heads/main")}))
        .await;
    a.assert_error(400, "VALIDATION_ERROR");
    assert!(string(&a.json["details"]["tenantId"]).contains("required"));
    // B's policy neither blocks nor observes A's exchanges.
    let a = f.exchange_token(&f.token("acme/app", "refs/heads/main")).await;
    assert_eq!(
        f.app.whoami(&assert_token(&a)).await.json["tenantId"],
        f.tenant.id.as_str()
    );
    let a = f
        .exchange(json!({"token": f.token("acme/app", "refs/heads/main"), "tenantId": b.id}))
        .await;
    let token = assert_token(&a);
    assert_eq!(f.app.whoami(&token).await.json["tenantId"], b.id.as_str());
    assert_eq!(
        f.audit("oidc.exchanged").await.len(),
        2,
        "B's exchange is not in A's log"
    );
    let b_log = f.app.get("/audit?action=oidc.exchanged", &b_admin).await;
    assert_eq!(
        b_log.json["items"].as_array().map(Vec::len),
        Some(1),
        "A's exchanges are not in B's log"
    );
}

/// A stranger's tenant cannot capture a victim's repository: where the
/// victim's own policy refuses (another branch), the exchange is refused,
/// never issued in the stranger's tenant, and the stranger's log learns
/// nothing of it.
pub async fn oidc_a_strangers_policy_never_captures_a_repository(start: impl StartFn) {
    let f = federation(start, Duration::from_secs(30)).await;
    f.policy(json!({"provider": "github", "repository": "acme/app", "branch": "main"}))
        .await;
    let stranger = f.app.signup("Stranger").await;
    let stranger_admin = f.app.admin_token(&stranger).await;
    f.app
        .post(
            "/oidc/trust-policies",
            &stranger_admin,
            &json!({"provider": "github", "repository": "acme/*"}),
        )
        .await
        .assert_status(201);
    let a = f.exchange_token(&f.token("acme/app", "refs/heads/feature")).await;
    a.assert_error(403, "TRUST_POLICY_BRANCH_MISMATCH");
    let a = f.exchange_token(&f.token("acme/app", "refs/heads/main")).await;
    assert_eq!(
        f.app.whoami(&assert_token(&a)).await.json["tenantId"],
        f.tenant.id.as_str()
    );
    let theirs = f.app.get("/audit?limit=100", &stranger_admin).await;
    assert!(
        !theirs.text.contains("acme/app"),
        "nothing of the victim's workflows reaches the stranger: {}",
        theirs.text
    );
}

/// Patterns stay within a segment; the stricter conditions hold claim by
/// claim; pull-request events are admitted only when asked for.
pub async fn oidc_conditions_and_patterns(start: impl StartFn) {
    let f = federation(start, Duration::from_secs(30)).await;
    let agent = f.app.register(&f.admin, "rel@acme.example", json!({})).await;
    let rel = f
        .policy(json!({"provider": "github", "repository": "acme/*", "branch": "release/*", "agentId": agent.id}))
        .await;
    f.exchange_token(&f.token("acme/app", "refs/heads/release/1.2"))
        .await
        .assert_status(200);
    f.exchange_token(&f.token("acme/lib", "refs/heads/release/1.2"))
        .await
        .assert_status(200);
    let a = f.exchange_token(&f.token("acme/app", "refs/heads/release/a/b")).await;
    a.assert_error(403, "TRUST_POLICY_BRANCH_MISMATCH");
    assert_eq!(a.json["details"]["provided"], "release/a/b");
    f.exchange_token(&f.token("acme/app", "refs/heads/release/a:b"))
        .await
        .assert_error(403, "TRUST_POLICY_BRANCH_MISMATCH");
    f.exchange_token(&f.token("acme-evil/app", "refs/heads/release/1"))
        .await
        .assert_error(403, "TRUST_POLICY_NOT_FOUND");
    f.app
        .delete(&format!("/oidc/trust-policies/{}", string(&rel["policyId"])), &f.admin)
        .await
        .assert_status(200);

    f.policy(json!({
        "provider": "github", "repository": "acme/app", "agentId": agent.id,
        "refType": "tag", "ref": "refs/tags/v*", "environment": "prod*",
        "jobWorkflowRef": "acme/app/.github/workflows/ci.yml@refs/tags/*",
        "allowedEvents": ["push", "pull_request_target"]
    }))
    .await;
    let is = &f.issuer;
    let tag = |env: Option<&str>, event: &str| {
        let mut c = is.claims("acme/app", "refs/tags/v1.4.0", AUD);
        if let Some(env) = env {
            c["environment"] = env.into();
        }
        c["event_name"] = event.into();
        is.sign(&c)
    };
    f.exchange_token(&tag(Some("Production"), "push"))
        .await
        .assert_status(200);
    f.exchange_token(&tag(Some("production"), "pull_request_target"))
        .await
        .assert_status(200);
    f.exchange_token(&tag(None, "push"))
        .await
        .assert_error(403, "TRUST_POLICY_NOT_FOUND");
    f.exchange_token(&tag(Some("prod"), "workflow_dispatch"))
        .await
        .assert_error(403, "TRUST_POLICY_NOT_FOUND");
    f.exchange_token(&f.token("acme/app", "refs/heads/v1"))
        .await
        .assert_error(403, "TRUST_POLICY_NOT_FOUND");
}

/// A policy naming a repository pins its ids on the first exchange
/// (audited); a repository re-created under the name, or a new owner of
/// the name, never matches afterwards.
pub async fn oidc_first_use_pins_the_repository(start: impl StartFn) {
    let f = federation(start, Duration::from_secs(30)).await;
    let p = f.policy(json!({"provider": "github", "repository": "acme/app"})).await;
    let id = string(&p["policyId"]);
    assert_token(&f.exchange_token(&f.token("acme/app", "refs/heads/main")).await);
    let got = f.app.get(&format!("/oidc/trust-policies/{id}"), &f.admin).await;
    assert_eq!(got.json["repositoryId"], numeric_id("acme/app").as_str());
    assert_eq!(got.json["repositoryOwnerId"], numeric_id("acme").as_str());
    assert!(got.json["pinnedAt"].is_string());
    let pinned = f.audit("trust_policy.pinned").await;
    assert_eq!(pinned.len(), 1);
    assert_eq!(pinned[0]["details"]["repositoryId"], numeric_id("acme/app").as_str());
    assert_token(&f.exchange_token(&f.token("acme/app", "refs/heads/main")).await);
    assert_eq!(f.audit("trust_policy.pinned").await.len(), 1, "pinned once");

    let is = &f.issuer;
    let mut squatter = is.claims("acme/app", "refs/heads/main", AUD);
    squatter["repository_id"] = "555".into();
    f.exchange_token(&is.sign(&squatter))
        .await
        .assert_error(403, "TRUST_POLICY_NOT_FOUND");
    let mut transferred = is.claims("acme/app", "refs/heads/main", AUD);
    transferred["repository_owner_id"] = "556".into();
    f.exchange_token(&is.sign(&transferred))
        .await
        .assert_error(403, "TRUST_POLICY_NOT_FOUND");

    // A pattern pins only the owner.
    let q = f.policy(json!({"provider": "github", "repository": "beta/*"})).await;
    assert_token(&f.exchange_token(&f.token("beta/one", "refs/heads/main")).await);
    assert_token(&f.exchange_token(&f.token("beta/two", "refs/heads/main")).await);
    let got = f
        .app
        .get(&format!("/oidc/trust-policies/{}", string(&q["policyId"])), &f.admin)
        .await;
    assert_eq!(got.json["repositoryId"], Value::Null);
    assert_eq!(got.json["repositoryOwnerId"], numeric_id("beta").as_str());
    let mut new_owner = is.claims("beta/three", "refs/heads/main", AUD);
    new_owner["repository_owner_id"] = "557".into();
    f.exchange_token(&is.sign(&new_owner))
        .await
        .assert_error(403, "TRUST_POLICY_NOT_FOUND");
}

/// The issuer's keys are fetched once, refetched for an unknown `kid` at
/// most once per interval however many tokens ask, and kept when a
/// refetch fails.
pub async fn oidc_keys_are_refetched_sparingly(start: impl StartFn) {
    let interval = Duration::from_millis(800);
    let f = federation(start, interval).await;
    let is = &f.issuer;
    f.policy(json!({"provider": "github", "repository": "acme/*"})).await;
    assert_eq!(is.jwks_fetches(), 0, "nothing fetched before a token needs it");
    for _ in 0..3 {
        assert_token(&f.exchange_token(&f.token("acme/app", "refs/heads/main")).await);
    }
    assert_eq!(is.jwks_fetches(), 1);

    tokio::time::sleep(interval).await;
    let rotated = is.add_key(false);
    let claims = is.claims("acme/app", "refs/heads/main", AUD);
    f.exchange_token(&is.sign_with(&rotated, &claims))
        .await
        .assert_error(401, "OIDC_TOKEN_INVALID");
    assert_eq!(is.jwks_fetches(), 2, "an unknown kid refetches");
    let client = reqwest::Client::new();
    let storm: Vec<_> = (0..20)
        .map(|i| {
            let mut c = is.claims("acme/app", "refs/heads/main", AUD);
            c["run_id"] = i.to_string().into();
            let request = client
                .post(f.app.url("/oidc/token"))
                .json(&json!({ "token": is.sign_with(&rotated, &c), "tenantId": f.tenant.id }));
            tokio::spawn(async move { request.send().await.map(|r| r.status().as_u16()) })
        })
        .collect();
    for task in storm {
        assert_eq!(task.await.expect("task").expect("answer"), 401);
    }
    assert_eq!(is.jwks_fetches(), 2, "no fetch storm within the interval");

    is.publish(&rotated);
    tokio::time::sleep(interval).await;
    let c = is.claims("acme/app", "refs/heads/main", AUD);
    assert_token(&f.exchange_token(&is.sign_with(&rotated, &c)).await);
    assert_eq!(is.jwks_fetches(), 3, "the rotated key is picked up");

    is.set_jwks_failing(true);
    tokio::time::sleep(interval).await;
    let fresh = is.add_key(true);
    let c = is.claims("acme/app", "refs/heads/main", AUD);
    f.exchange_token(&is.sign_with(&fresh, &c))
        .await
        .assert_error(503, "OIDC_PROVIDER_UNAVAILABLE");
    assert_eq!(is.jwks_fetches(), 4);
    assert_token(&f.exchange_token(&f.token("acme/app", "refs/heads/main")).await);
    assert_eq!(is.jwks_fetches(), 4, "known keys keep working through the outage");
    is.set_jwks_failing(false);
}

/// Without a JWKS URL the issuer's discovery document names it, read once.
pub async fn oidc_discovery_names_the_keys(start: impl StartFn) {
    let issuer = StandInIssuer::start().await;
    let configured = issuer.clone();
    let app = TestApp::start_with(start, move |b| {
        let fetcher = sentryagent_federation_reqwest::ReqwestFetcher::new().expect("client");
        b.jwks_fetcher(std::sync::Arc::new(fetcher))
            .oidc_issuer(configured.url())
    })
    .await;
    let tenant = app.signup("Acme").await;
    let admin = app.admin_token(&tenant).await;
    app.post(
        "/oidc/trust-policies",
        &admin,
        &json!({"provider": "github", "repository": "acme/app"}),
    )
    .await
    .assert_status(201);
    // The default audience is this IdP's issuer URL.
    for _ in 0..2 {
        let token = issuer.sign(&issuer.claims("acme/app", "refs/heads/main", &app.base));
        let a = app
            .json(
                Method::POST,
                "/oidc/token",
                None,
                &json!({ "token": token, "tenantId": tenant.id }),
            )
            .await;
        assert_token(&a);
    }
    assert_eq!((issuer.discovery_fetches(), issuer.jwks_fetches()), (1, 1));
}

/// Evaluation names the policy that would admit a token and the first
/// failed condition of every other one, issuing and pinning nothing.
pub async fn oidc_evaluate_explains_each_policy(start: impl StartFn) {
    let f = federation(start, Duration::from_secs(30)).await;
    let agent = f.app.register(&f.admin, "deploy@acme.example", json!({})).await;
    let main = f
        .policy(json!({"provider": "github", "repository": "acme/app", "branch": "main", "agentId": agent.id}))
        .await;
    let other = f.policy(json!({"provider": "github", "repository": "acme/lib"})).await;
    let token = f.token("acme/app", "refs/heads/dev");
    let a = f
        .app
        .post("/oidc/trust-policies/evaluate", &f.admin, &json!({ "token": token }))
        .await;
    a.assert_status(200);
    assert_eq!(a.json["token"]["valid"], true);
    assert_eq!(a.json["match"], Value::Null);
    assert_eq!(a.json["refusal"], "TRUST_POLICY_BRANCH_MISMATCH");
    let verdicts = a.json["policies"].as_array().cloned().unwrap_or_default();
    assert_eq!(verdicts.len(), 2);
    assert_eq!(verdicts[0]["policyId"], main["policyId"]);
    assert_eq!(
        verdicts[0]["failed"],
        json!({"condition": "branch", "allowed": "main", "provided": "dev"})
    );
    assert_eq!(verdicts[1]["policyId"], other["policyId"]);
    assert_eq!(verdicts[1]["failed"]["condition"], "repository");

    let claims = f.issuer.claims("acme/app", "refs/heads/main", AUD);
    let a = f
        .app
        .post("/oidc/trust-policies/evaluate", &f.admin, &json!({ "claims": claims }))
        .await;
    a.assert_status(200);
    assert_eq!(a.json["match"], main["policyId"]);
    assert_eq!(a.json["policies"][0]["admits"], true);

    let mut expired = f.issuer.claims("acme/app", "refs/heads/main", AUD);
    expired["exp"] = json!(sentryagent_core::time::now().unix_timestamp() - 600);
    let a = f
        .app
        .post(
            "/oidc/trust-policies/evaluate",
            &f.admin,
            &json!({ "token": f.issuer.sign(&expired) }),
        )
        .await;
    assert_eq!(a.json["token"]["code"], "OIDC_TOKEN_EXPIRED");
    assert_eq!(a.json["match"], main["policyId"], "claims evaluated anyway");
    let got = f
        .app
        .get(&format!("/oidc/trust-policies/{}", string(&main["policyId"])), &f.admin)
        .await;
    assert_eq!(got.json["repositoryId"], Value::Null, "evaluation pins nothing");
    assert!(f.audit("oidc.exchanged").await.is_empty());

    f.app
        .post("/oidc/trust-policies/evaluate", &f.admin, &json!({}))
        .await
        .assert_error(400, "VALIDATION_ERROR");
    let writer = f
        .app
        .register(&f.admin, "tp@acme.example", json!({"scopes": ["trust-policies:write"]}))
        .await;
    let writer_token = f.app.token(&writer.client_id, &writer.secret, None).await;
    f.app
        .post(
            "/oidc/trust-policies/evaluate",
            &writer_token,
            &json!({ "claims": claims }),
        )
        .await
        .assert_error(403, "INSUFFICIENT_SCOPE");
}
