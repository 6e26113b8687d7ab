//! The public marketplace: search, filters, what hides an agent, stable
//! pages, the off switch, and that no private field ever shows.

use sentryagent_core::ratelimit::{Quota, RouteGroup};
use serde_json::{Value, json};

use crate::{Answer, StartFn, TestApp, string};

/// An unauthenticated `GET` of an API path.
async fn public_get(app: &TestApp, path: &str) -> Answer {
    app.send(app.request(reqwest::Method::GET, path, None)).await
}

/// The agent ids of a marketplace page.
fn ids(page: &Answer) -> Vec<String> {
    page.json["items"]
        .as_array()
        .map(|items| items.iter().map(|i| string(&i["agentId"])).collect())
        .unwrap_or_default()
}

/// The marketplace's ids for a query string (`q=…&capability=…`).
async fn listed(app: &TestApp, query: &str) -> Vec<String> {
    let page = public_get(app, &format!("/marketplace/agents?{query}")).await;
    page.assert_status(200);
    ids(&page)
}

/// A word of the description finds an agent, case-insensitively, across
/// tenants; every word must match; a listing shows exactly the public
/// fields, the tenant's name among them; one agent can be fetched by id.
pub async fn search_finds_agents_by_a_word_of_the_description(start: impl StartFn) {
    let app = TestApp::start(start).await;
    let acme = app.signup("Acme Robotics").await;
    let globex = app.signup("Globex").await;
    let (acme_admin, globex_admin) = (app.admin_token(&acme).await, app.admin_token(&globex).await);
    let deployer = app
        .register(
            &acme_admin,
            "deployer@acme.example",
            json!({"description": "Deploys services to Kubernetes clusters", "capabilities": ["deploy"]}),
        )
        .await;
    let reviewer = app
        .register(
            &globex_admin,
            "reviewer@globex.example",
            json!({"description": "Reviews pull requests", "capabilities": ["review"]}),
        )
        .await;

    let page = public_get(&app, "/marketplace/agents?q=kubernetes").await;
    page.assert_status(200);
    assert_eq!(ids(&page), [deployer.id.as_str()]);
    assert!(page.json["nextCursor"].is_null());
    assert!(
        page.header("x-ratelimit-limit").parse::<u32>().is_ok(),
        "rate limited per IP"
    );
    assert!(page.header("cache-control").starts_with("public"));
    let item = &page.json["items"][0];
    let mut keys: Vec<&str> = item
        .as_object()
        .map(|o| o.keys().map(String::as_str).collect())
        .unwrap_or_default();
    keys.sort_unstable();
    assert_eq!(
        keys,
        [
            "agentId",
            "capabilities",
            "createdAt",
            "description",
            "did",
            "name",
            "tenantName"
        ],
        "public fields only"
    );
    assert_eq!(item["name"], "deployer@acme.example");
    assert_eq!(item["tenantName"], "Acme Robotics");
    assert_eq!(item["capabilities"], json!(["deploy"]));
    let did = string(&item["did"]);
    assert!(did.starts_with("did:web:") && did.ends_with(&deployer.id), "{did}");

    assert_eq!(
        listed(&app, "q=KUBERNETES").await,
        [deployer.id.as_str()],
        "case-insensitive"
    );
    assert_eq!(
        listed(&app, "q=reviewer%40globex").await,
        [reviewer.id.as_str()],
        "the name too"
    );
    assert_eq!(listed(&app, "q=deploys+clusters").await, [deployer.id.as_str()]);
    assert!(
        listed(&app, "q=deploys+reviews").await.is_empty(),
        "every word must match"
    );
    assert!(listed(&app, "q=%25").await.is_empty(), "% is not a pattern");
    assert_eq!(listed(&app, "").await, [deployer.id.as_str(), reviewer.id.as_str()]);

    let one = public_get(&app, &format!("/marketplace/agents/{}", reviewer.id)).await;
    one.assert_status(200);
    assert_eq!(one.json["tenantName"], "Globex");
    assert_eq!(one.json["description"], "Reviews pull requests");
    public_get(
        &app,
        &format!("/marketplace/agents/{}", sentryagent_core::AgentId::new()),
    )
    .await
    .assert_error(404, "NOT_FOUND");
    public_get(&app, "/marketplace/agents/not-a-uuid")
        .await
        .assert_error(400, "VALIDATION_ERROR");
    public_get(&app, &format!("/marketplace/agents?q={}", "w+".repeat(9)))
        .await
        .assert_error(400, "VALIDATION_ERROR");
    public_get(&app, "/marketplace/agents?tenant=x")
        .await
        .assert_error(400, "VALIDATION_ERROR");
}

/// `capability` keeps the agents having exactly that label.
pub async fn capability_filter_is_exact(start: impl StartFn) {
    let app = TestApp::start(start).await;
    let t = app.signup("Acme").await;
    let admin = app.admin_token(&t).await;
    let builder = app
        .register(
            &admin,
            "builder@acme.example",
            json!({"capabilities": ["build", "test"]}),
        )
        .await;
    let tester = app
        .register(&admin, "tester@acme.example", json!({"capabilities": ["test"]}))
        .await;
    app.register(&admin, "docs@acme.example", json!({"capabilities": ["build-docs"]}))
        .await;
    assert_eq!(listed(&app, "capability=build").await, [builder.id.as_str()]);
    assert_eq!(
        listed(&app, "capability=test").await,
        [builder.id.as_str(), tester.id.as_str()]
    );
    assert!(listed(&app, "capability=Test").await.is_empty());
    assert!(listed(&app, "capability=bui").await.is_empty());
    assert_eq!(listed(&app, "capability=test&q=tester").await, [tester.id]);
}

/// `listed: false` at registration or by PATCH hides an agent (the tenant
/// still sees the flag on its own views); `listed: true` shows it again.
/// Built-in agents (the tenant's admin, the OIDC bootstrap agent a bootstrap
/// trust policy creates) are never listed, and cannot be.
pub async fn opting_out_hides_an_agent(start: impl StartFn) {
    let app = TestApp::start(start).await;
    let t = app.signup("Acme").await;
    let admin = app.admin_token(&t).await;
    let shy = app
        .register(
            &admin,
            "shy@acme.example",
            json!({"listed": false, "description": "quiet"}),
        )
        .await;
    let open = app.register(&admin, "open@acme.example", json!({})).await;
    assert_eq!(
        listed(&app, "").await,
        [open.id.as_str()],
        "no admin agent, no opted-out agent"
    );
    public_get(&app, &format!("/marketplace/agents/{}", shy.id))
        .await
        .assert_error(404, "NOT_FOUND");
    let own = app.get(&format!("/agents/{}", shy.id), &admin).await;
    assert_eq!(own.json["listed"], false);
    assert_eq!(
        app.get(&format!("/agents/{}", open.id), &admin).await.json["listed"],
        true
    );

    let patched = app
        .patch(&format!("/agents/{}", shy.id), &admin, &json!({"listed": true}))
        .await;
    patched.assert_status(200);
    assert_eq!(patched.json["listed"], true);
    assert_eq!(listed(&app, "").await, [shy.id.as_str(), open.id.as_str()]);
    app.patch(&format!("/agents/{}", open.id), &admin, &json!({"listed": false}))
        .await
        .assert_status(200);
    assert_eq!(listed(&app, "").await, [shy.id.as_str()]);
    app.patch(&format!("/agents/{}", shy.id), &admin, &json!({"listed": "yes"}))
        .await
        .assert_error(400, "VALIDATION_ERROR");

    let agents = app.get("/agents", &admin).await;
    let admin_agent = agents.json["items"]
        .as_array()
        .and_then(|items| {
            items
                .iter()
                .find(|a| a["name"] == sentryagent_core::tenant::ADMIN_AGENT_NAME)
        })
        .map(|a| string(&a["agentId"]))
        .expect("the admin agent is in the tenant's list");
    assert_eq!(
        app.get(&format!("/agents/{admin_agent}"), &admin).await.json["listed"],
        false
    );
    let refused = app
        .patch(&format!("/agents/{admin_agent}"), &admin, &json!({"listed": true}))
        .await;
    refused.assert_error(400, "VALIDATION_ERROR");
    assert!(refused.json["details"]["listed"].is_string());
    public_get(&app, &format!("/marketplace/agents/{admin_agent}"))
        .await
        .assert_error(404, "NOT_FOUND");

    app.post(
        "/oidc/trust-policies",
        &admin,
        &json!({"provider": "github", "repository": "acme/app"}),
    )
    .await
    .assert_status(201);
    let agents = app.get("/agents", &admin).await;
    let bootstrap = agents.json["items"]
        .as_array()
        .and_then(|items| {
            items
                .iter()
                .find(|a| a["name"] == sentryagent_core::federation::BOOTSTRAP_AGENT_NAME)
        })
        .map(|a| string(&a["agentId"]))
        .expect("a bootstrap policy creates the bootstrap agent");
    assert_eq!(listed(&app, "").await, [shy.id.as_str()]);
    app.patch(&format!("/agents/{bootstrap}"), &admin, &json!({"listed": true}))
        .await
        .assert_error(400, "VALIDATION_ERROR");
}

/// Suspension hides an agent until it is reactivated; decommission for good.
pub async fn suspension_hides_an_agent(start: impl StartFn) {
    let app = TestApp::start(start).await;
    let t = app.signup("Acme").await;
    let admin = app.admin_token(&t).await;
    let bot = app.register(&admin, "bot@acme.example", json!({})).await;
    let path = format!("/agents/{}", bot.id);
    let public = format!("/marketplace/agents/{}", bot.id);
    public_get(&app, &public).await.assert_status(200);
    app.patch(&path, &admin, &json!({"status": "suspended"}))
        .await
        .assert_status(200);
    assert!(listed(&app, "").await.is_empty());
    public_get(&app, &public).await.assert_error(404, "NOT_FOUND");
    app.patch(&path, &admin, &json!({"status": "active"}))
        .await
        .assert_status(200);
    assert_eq!(listed(&app, "").await, [bot.id.as_str()]);
    app.delete(&path, &admin).await.assert_status(200);
    assert!(listed(&app, "").await.is_empty());
    public_get(&app, &public).await.assert_error(404, "NOT_FOUND");
}

/// Following `nextCursor` while agents are registered sees every agent that
/// was there at the start exactly once, in registration order, and the new
/// ones after them.
pub async fn pages_are_stable_while_agents_are_added(start: impl StartFn) {
    let app = TestApp::start(start).await;
    let t = app.signup("Acme").await;
    let admin = app.admin_token(&t).await;
    let mut expected = Vec::new();
    for i in 0..5 {
        let a = app
            .register(
                &admin,
                &format!("pager{i}@acme.example"),
                json!({"description": "pages"}),
            )
            .await;
        expected.push(a.id);
    }
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    for round in 0..10 {
        let path = match &cursor {
            Some(c) => format!("/marketplace/agents?q=pages&limit=2&cursor={c}"),
            None => "/marketplace/agents?q=pages&limit=2".to_owned(),
        };
        let page = public_get(&app, &path).await;
        page.assert_status(200);
        seen.extend(ids(&page));
        if round < 2 {
            let a = app
                .register(
                    &admin,
                    &format!("late{round}@acme.example"),
                    json!({"description": "pages too"}),
                )
                .await;
            expected.push(a.id);
        }
        match page.json["nextCursor"].as_str() {
            Some(c) => cursor = Some(c.to_owned()),
            None => break,
        }
    }
    assert_eq!(seen, expected);
    public_get(&app, "/marketplace/agents?cursor=garbage")
        .await
        .assert_error(400, "VALIDATION_ERROR");
}

/// With the marketplace off its routes answer 404 with the envelope, bad
/// parameters included; DID documents are still served.
pub async fn marketplace_off_answers_404(start: impl StartFn) {
    let app = TestApp::start_with(start, |b| b.marketplace(false)).await;
    let t = app.signup("Acme").await;
    let admin = app.admin_token(&t).await;
    let bot = app.register(&admin, "bot@acme.example", json!({})).await;
    for path in [
        "/marketplace/agents".to_owned(),
        "/marketplace/agents?q=bot&bogus=1".to_owned(),
        format!("/marketplace/agents/{}", bot.id),
    ] {
        public_get(&app, &path).await.assert_error(404, "NOT_FOUND");
    }
    public_get(&app, &format!("/agents/{}/did.json", bot.id))
        .await
        .assert_status(200);
}

/// The marketplace is limited per IP, like the other public routes.
pub async fn marketplace_is_limited_per_ip(start: impl StartFn) {
    let quota: Quota = "3/60s".parse().expect("a quota");
    let app = TestApp::start_with(start, |b| b.rate_limit(RouteGroup::Public, quota)).await;
    for _ in 0..3 {
        public_get(&app, "/marketplace/agents").await.assert_status(200);
    }
    let limited = public_get(&app, "/marketplace/agents").await;
    limited.assert_error(429, "RATE_LIMITED");
    assert!(!limited.header("retry-after").is_empty());
}

/// No marketplace answer ever carries a private field: an agent registered
/// with secret-looking metadata, scopes and credentials is fetched every
/// way the marketplace offers, and no body mentions any of it.
pub async fn no_private_field_in_any_answer(start: impl StartFn) {
    let app = TestApp::start(start).await;
    let t = app.signup("Acme").await;
    let admin = app.admin_token(&t).await;
    let canary = app
        .register(
            &admin,
            "canary@acme.example",
            json!({
                "description": "Sings in the mine",
                "capabilities": ["sing"],
                "metadata": {"apiKey": "sk_live_canary_123", "owner": "ops-secret-team"},
                "scopes": ["reports:read"]
            }),
        )
        .await;
    let extra = app
        .post(&format!("/agents/{}/credentials", canary.id), &admin, &json!({}))
        .await;
    extra.assert_status(201);
    let mut answers = Vec::new();
    for path in [
        "/marketplace/agents".to_owned(),
        "/marketplace/agents?q=mine".to_owned(),
        "/marketplace/agents?q=canary&capability=sing".to_owned(),
        "/marketplace/agents?limit=1".to_owned(),
        format!("/marketplace/agents/{}", canary.id),
    ] {
        let a = public_get(&app, &path).await;
        a.assert_status(200);
        answers.push((path, a));
    }
    let (_, first) = &answers[3];
    if let Some(cursor) = first.json["nextCursor"].as_str() {
        let a = public_get(&app, &format!("/marketplace/agents?limit=1&cursor={cursor}")).await;
        answers.push(("second page".to_owned(), a));
    }
    assert!(
        answers.iter().any(|(_, a)| a.text.contains("Sings in the mine")),
        "the agent is listed"
    );
    let secrets = [
        "sk_live_canary_123",
        "apiKey",
        "ops-secret-team",
        "metadata",
        "reports:read",
        "scopes",
        "clientId",
        "clientSecret",
        "credential",
        "sa_ci_",
        "sa_sk_",
        "status",
        "tenantId",
        t.id.as_str(),
        canary.client_id.as_str(),
        canary.secret.as_str(),
    ];
    for (path, a) in &answers {
        for secret in secrets {
            assert!(!a.text.contains(secret), "{path} shows {secret}: {}", a.text);
        }
        let items: Vec<&Value> = match a.json["items"].as_array() {
            Some(items) => items.iter().collect(),
            None => vec![&a.json],
        };
        for item in items {
            assert!(item.get("listed").is_none(), "{path}");
        }
    }
}
