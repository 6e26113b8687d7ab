//! `sentryagent-client` against the live example server: every operation it
//! calls, with strict decoding (an answer field its types do not know fails),
//! its operation table against the server's OpenAPI document, token caching
//! and renewal, pagination, retries, and the crate's runnable example.

mod cli_support;
mod support;

use std::collections::BTreeSet;

use futures_util::TryStreamExt;
use sentryagent_client::{
    AgentFilter, AgentStatus, AgentUpdate, AuditFilter, Client, ClientCredentials, EvaluateRequest, ExchangeRequest,
    MarketplaceQuery, NewAgent, NewOAuthClient, NewTrustPolicy, OAuthClientUpdate, Outcome, RetryPolicy, ops,
};

use cli_support::{Server, shared, unique};

#[path = "../../sentryagent-client/examples/register_agent.rs"]
mod register_agent;

fn admin(server: &Server) -> Client {
    Client::builder(server.url())
        .client_credentials(ClientCredentials::new(&server.client_id, server.client_secret.as_str()))
        .strict(true)
        .build()
        .expect("a client")
}

/// The operations a test called, to compare with the table.
#[derive(Default)]
struct Called(BTreeSet<&'static str>);

impl Called {
    fn mark(&mut self, op: ops::Operation) {
        self.0.insert(op.id);
    }
}

#[tokio::test]
async fn every_operation_works_against_the_example_server_with_strict_types() {
    let server = shared();
    let client = admin(server);
    let public = Client::builder(server.url()).strict(true).build().expect("a client");
    let mut called = Called::default();

    // Tenants, tiers, usage, billing.
    let tenant = client.my_tenant().await.expect("my tenant");
    assert_eq!(tenant.name, "default");
    called.mark(ops::GET_MY_TENANT);
    called.mark(ops::ISSUE_TOKEN);
    let created = public
        .create_tenant("Client test tenant", None)
        .await
        .expect("sign-up is open");
    assert!(created.admin_client_secret.expose().starts_with("sa_sk_"));
    called.mark(ops::CREATE_TENANT);
    assert!(public.tiers().await.expect("tiers").iter().any(|t| t.name == "free"));
    called.mark(ops::LIST_TIERS);
    assert_eq!(client.usage().await.expect("usage").tenant_id, tenant.tenant_id);
    called.mark(ops::GET_USAGE);
    assert_eq!(client.subscription().await.expect("subscription").tier, "free");
    called.mark(ops::GET_SUBSCRIPTION);
    // No Stripe: a typed refusal, with the server's code.
    let refused = client.create_checkout("pro").await.expect_err("no billing provider");
    assert_eq!(refused.api().map(|e| e.status), Some(503), "{refused}");
    called.mark(ops::CREATE_CHECKOUT);

    // Agents.
    let mut new = NewAgent::named(unique("client-agent"));
    new.description = Some("client test".into());
    new.capabilities = Some(vec!["client-test".into()]);
    new.scopes = Some(vec!["agents:read".into()]);
    new.metadata = Some(
        serde_json::json!({"team": "ci"})
            .as_object()
            .cloned()
            .expect("an object"),
    );
    let agent = client.register_agent(&new).await.expect("register");
    assert!(agent.client_secret.expose().starts_with("sa_sk_"));
    called.mark(ops::REGISTER_AGENT);
    let id = agent.agent.agent_id.clone();
    let page = client
        .list_agents(&AgentFilter::default(), None)
        .await
        .expect("list agents");
    assert!(!page.items.is_empty());
    called.mark(ops::LIST_AGENTS);
    assert_eq!(client.agent(&id).await.expect("get").name, new.name);
    called.mark(ops::GET_AGENT);
    let update = AgentUpdate {
        status: Some(AgentStatus::Suspended),
        description: Some("changed".into()),
        ..AgentUpdate::default()
    };
    let updated = client.update_agent(&id, &update).await.expect("update");
    assert_eq!(
        (updated.status, updated.description.as_str()),
        (AgentStatus::Suspended, "changed")
    );
    called.mark(ops::UPDATE_AGENT);
    let update = AgentUpdate {
        status: Some(AgentStatus::Active),
        ..AgentUpdate::default()
    };
    client.update_agent(&id, &update).await.expect("reactivate");

    // Credentials.
    let credential = client.create_credential(&id, None).await.expect("create credential");
    called.mark(ops::CREATE_CREDENTIAL);
    let credentials = client.list_credentials(&id).await.expect("list credentials");
    assert_eq!(credentials.len(), 2);
    called.mark(ops::LIST_CREDENTIALS);
    let rotated = client
        .rotate_credential(&id, &credential.credential.credential_id)
        .await
        .expect("rotate");
    assert_ne!(rotated.client_secret, credential.client_secret);
    called.mark(ops::ROTATE_CREDENTIAL);
    let old = ClientCredentials::new(&credential.credential.client_id, credential.client_secret.clone());
    let refused = client.issue_token(&old).await.expect_err("the old secret fails");
    assert_eq!(refused.code(), Some("invalid_client"));
    let revoked = client
        .revoke_credential(&id, &credential.credential.credential_id)
        .await
        .expect("revoke");
    assert!(revoked.revoked_at.is_some());
    called.mark(ops::REVOKE_CREDENTIAL);

    // Tokens.
    let own = ClientCredentials::new(&agent.client_id, agent.client_secret.clone());
    let token = client.issue_token(&own).await.expect("the agent's token");
    assert_eq!(token.scope, "agents:read");
    let seen = client
        .introspect(token.access_token.expose())
        .await
        .expect("introspect");
    assert!(seen.active);
    assert_eq!(seen.sub.as_deref(), Some(id.as_str()));
    called.mark(ops::INTROSPECT_TOKEN);
    client.revoke(token.access_token.expose()).await.expect("revoke");
    called.mark(ops::REVOKE_TOKEN);
    assert!(
        !client
            .introspect(token.access_token.expose())
            .await
            .expect("introspect")
            .active
    );

    // Keys and DIDs.
    let jwk = serde_json::json!({"kty": "OKP", "crv": "Ed25519", "x": "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"});
    let key = client
        .add_agent_key(&id, jwk.as_object().expect("an object"))
        .await
        .expect("add key");
    called.mark(ops::ADD_AGENT_KEY);
    assert_eq!(client.list_agent_keys(&id).await.expect("keys").len(), 1);
    called.mark(ops::LIST_AGENT_KEYS);
    let document = public.did_document(&id).await.expect("DID document");
    assert_eq!(document["id"], agent.agent.did.as_str());
    called.mark(ops::GET_AGENT_DID_DOCUMENT);
    client.remove_agent_key(&id, &key.key_id).await.expect("remove key");
    called.mark(ops::REMOVE_AGENT_KEY);

    // Marketplace.
    let query = MarketplaceQuery {
        capability: Some("client-test".into()),
        ..MarketplaceQuery::default()
    };
    let listed = public.list_marketplace_agents(&query, None).await.expect("marketplace");
    assert!(listed.items.iter().any(|a| a.agent_id == id));
    called.mark(ops::LIST_MARKETPLACE_AGENTS);
    assert_eq!(public.marketplace_agent(&id).await.expect("listing").name, new.name);
    called.mark(ops::GET_MARKETPLACE_AGENT);

    // Trust policies and the exchange.
    let policy = client
        .create_trust_policy(&NewTrustPolicy {
            provider: "github".into(),
            repository: "acme/client-test".into(),
            agent_id: Some(id.clone()),
            branch: Some("main".into()),
            ..NewTrustPolicy::default()
        })
        .await
        .expect("create policy");
    called.mark(ops::CREATE_TRUST_POLICY);
    let page = client.list_trust_policies(None, None).await.expect("list policies");
    assert!(page.items.iter().any(|p| p.policy_id == policy.policy_id));
    called.mark(ops::LIST_TRUST_POLICIES);
    assert_eq!(
        client.trust_policy(&policy.policy_id).await.expect("get").repository,
        "acme/client-test"
    );
    called.mark(ops::GET_TRUST_POLICY);
    let claims = serde_json::json!({
        "repository": "acme/client-test", "repository_id": "1", "repository_owner": "acme",
        "repository_owner_id": "2", "ref": "refs/heads/dev", "ref_type": "branch", "event_name": "push",
    });
    let evaluation = client
        .evaluate_trust_policies(&EvaluateRequest {
            claims: Some(claims),
            ..EvaluateRequest::default()
        })
        .await
        .expect("evaluate");
    assert!(evaluation.matched.is_none());
    assert!(
        evaluation
            .policies
            .iter()
            .any(|v| v.policy_id == policy.policy_id && !v.admits)
    );
    called.mark(ops::EVALUATE_TRUST_POLICIES);
    let refused = public
        .exchange_oidc_token(&ExchangeRequest {
            token: "not-a-jwt".into(),
            ..ExchangeRequest::default()
        })
        .await
        .expect_err("not a GitHub token");
    assert_eq!(refused.code(), Some("OIDC_TOKEN_INVALID"), "{refused}");
    called.mark(ops::EXCHANGE_OIDC_TOKEN);
    client
        .delete_trust_policy(&policy.policy_id)
        .await
        .expect("delete policy");
    called.mark(ops::DELETE_TRUST_POLICY);

    // OAuth clients and consents.
    let registered = client
        .register_oauth_client(&NewOAuthClient {
            kind: "confidential".into(),
            redirect_uris: vec!["https://app.acme.example/cb".into()],
            client_name: Some("Client test app".into()),
            ..NewOAuthClient::default()
        })
        .await
        .expect("register an OAuth client");
    assert!(
        registered
            .client_secret
            .as_ref()
            .is_some_and(|s| s.expose().starts_with("sa_sk_"))
    );
    let oauth_id = registered.client.client_id.clone();
    called.mark(ops::REGISTER_OAUTH_CLIENT);
    let page = client.list_oauth_clients(None, None).await.expect("list OAuth clients");
    assert!(page.items.iter().any(|c| c.client_id == oauth_id));
    called.mark(ops::LIST_OAUTH_CLIENTS);
    assert_eq!(
        client
            .oauth_client(&oauth_id)
            .await
            .expect("get")
            .client_name
            .as_deref(),
        Some("Client test app")
    );
    called.mark(ops::GET_OAUTH_CLIENT);
    let update = OAuthClientUpdate {
        client_name: Some(None),
        ..OAuthClientUpdate::default()
    };
    let changed = client.update_oauth_client(&oauth_id, &update).await.expect("update");
    assert_eq!(changed.client_name, None);
    called.mark(ops::UPDATE_OAUTH_CLIENT);
    let consents = client
        .list_consents(Some("nobody"), None, None, None)
        .await
        .expect("consents");
    assert!(consents.items.is_empty());
    called.mark(ops::LIST_CONSENTS);
    let refused = client
        .revoke_consent("00000000-0000-7000-8000-000000000000")
        .await
        .expect_err("no such consent");
    assert_eq!(refused.code(), Some("NOT_FOUND"), "{refused}");
    called.mark(ops::REVOKE_CONSENT);
    let revoked = client
        .revoke_user_consents("nobody@acme.example")
        .await
        .expect("revoke");
    assert_eq!(revoked.consents_revoked, 0);
    called.mark(ops::REVOKE_USER_CONSENTS);
    client.delete_oauth_client(&oauth_id).await.expect("delete");
    called.mark(ops::DELETE_OAUTH_CLIENT);

    // Audit.
    let filter = AuditFilter {
        agent_id: Some(id.clone()),
        outcome: Some(Outcome::Success),
        ..AuditFilter::default()
    };
    let events = client.list_audit_events(&filter, None).await.expect("audit");
    assert!(events.items.iter().any(|e| e.action == "agent.created"));
    called.mark(ops::QUERY_AUDIT);
    assert!(client.verify_audit().await.expect("verify").valid);
    called.mark(ops::VERIFY_AUDIT);
    let signed = client.audit_checkpoint().await.expect("checkpoint");
    assert!(signed.seq > 0 && signed.checkpoint.split('.').count() == 3);
    called.mark(ops::GET_AUDIT_CHECKPOINT);
    let keys = public.audit_keys().await.expect("audit keys");
    assert!(!keys.keys.is_empty());
    called.mark(ops::GET_AUDIT_KEYS);

    // Decommissioning, last.
    let gone = client.decommission_agent(&id).await.expect("decommission");
    assert_eq!(gone.status, AgentStatus::Decommissioned);
    called.mark(ops::DECOMMISSION_AGENT);
    let refused = client.decommission_agent(&id).await.expect_err("twice");
    assert_eq!(refused.code(), Some("AGENT_DECOMMISSIONED"));

    // Discovery and health.
    assert!(!public.jwks().await.expect("jwks").keys.is_empty());
    called.mark(ops::GET_JWKS);
    let metadata = public.authorization_server_metadata().await.expect("RFC 8414");
    assert!(metadata.token_endpoint.ends_with("/oauth2/token"));
    called.mark(ops::GET_AUTHORIZATION_SERVER_METADATA);
    assert!(
        public
            .openid_configuration()
            .await
            .expect("OIDC")
            .subject_types_supported
            .is_some()
    );
    called.mark(ops::GET_OPENID_CONFIGURATION);
    assert_eq!(public.health().await.expect("health").status, "ok");
    called.mark(ops::GET_HEALTH);
    assert_eq!(public.health_detailed().await.expect("health").status, "ok");
    called.mark(ops::GET_HEALTH_DETAILED);
    assert_eq!(public.liveness().await.expect("live").status, "ok");
    called.mark(ops::GET_LIVENESS);
    assert_eq!(public.readiness().await.expect("ready").status, "ok");
    called.mark(ops::GET_READINESS);
    public.openapi().await.expect("the document");
    called.mark(ops::GET_OPENAPI);

    let table: BTreeSet<_> = ops::ALL.iter().map(|op| op.id).collect();
    let missed: Vec<_> = table.difference(&called.0).collect();
    assert!(
        missed.is_empty(),
        "operations of the client this test did not call: {missed:?}"
    );
}

#[tokio::test]
async fn the_operation_table_matches_the_openapi_document() {
    let server = shared();
    let document = reqwest::get(format!("{}/openapi.json", server.url()))
        .await
        .expect("the document")
        .json::<serde_json::Value>()
        .await
        .expect("JSON");
    let mut served = BTreeSet::new();
    for (path, item) in document["paths"].as_object().expect("paths") {
        for (method, operation) in item.as_object().expect("a path item") {
            let id = operation["operationId"].as_str().expect("an operation id");
            served.insert((id.to_owned(), method.to_uppercase(), path.clone()));
        }
    }
    let client: BTreeSet<_> = ops::ALL
        .iter()
        .map(|op| (op.id.to_owned(), op.method.as_str().to_owned(), op.path.to_owned()))
        .collect();
    let unknown: Vec<_> = client.difference(&served).collect();
    assert!(
        unknown.is_empty(),
        "the client calls operations the server does not have (id, method, path): {unknown:?}"
    );
    let left_out: Vec<_> = served
        .iter()
        .filter(|(id, ..)| !client.iter().any(|c| &c.0 == id) && !ops::NOT_CALLED.iter().any(|(n, _)| n == id))
        .collect();
    assert!(
        left_out.is_empty(),
        "the server has operations the client neither calls nor lists in ops::NOT_CALLED: {left_out:?}"
    );
}

#[tokio::test]
async fn the_access_token_is_cached_and_renewed_once_revoked() {
    let server = shared();
    let admin = admin(server);
    let mut new = NewAgent::named(unique("cached"));
    new.scopes = Some(vec!["agents:read".into()]);
    let agent = admin.register_agent(&new).await.expect("register");
    let reader = Client::builder(server.url())
        .client_credentials(ClientCredentials::new(&agent.client_id, agent.client_secret.clone()))
        .strict(true)
        .build()
        .expect("a client");
    let issued = || async {
        let filter = AuditFilter {
            agent_id: Some(agent.agent.agent_id.clone()),
            action: Some("token.issued".into()),
            ..AuditFilter::default()
        };
        admin.list_audit_events(&filter, None).await.expect("audit").items.len()
    };

    for _ in 0..3 {
        reader.agent(&agent.agent.agent_id).await.expect("a management call");
    }
    assert_eq!(issued().await, 1, "three calls, one token");

    // Revoked behind the client's back: the next call gets a 401, a new
    // token, and succeeds.
    let token = reader.access_token().await.expect("the cached token");
    admin.revoke(token.expose()).await.expect("revoke");
    reader.agent(&agent.agent.agent_id).await.expect("renewed");
    assert_eq!(issued().await, 2);
}

#[tokio::test]
async fn streams_follow_every_page() {
    let server = shared();
    let admin = admin(server);
    let capability = format!("paged-{}", std::process::id());
    for _ in 0..5 {
        let mut new = NewAgent::named(unique("paged"));
        new.capabilities = Some(vec![capability.clone()]);
        admin.register_agent(&new).await.expect("register");
    }
    let filter = AgentFilter {
        q: Some("paged-".into()),
        limit: Some(2),
        ..AgentFilter::default()
    };
    let first = admin.list_agents(&filter, None).await.expect("one page");
    assert_eq!(first.items.len(), 2);
    assert!(first.next_cursor.is_some());
    let all: Vec<_> = admin.agents(filter).try_collect().await.expect("every page");
    assert!(all.len() >= 5, "{}", all.len());

    let query = MarketplaceQuery {
        capability: Some(capability),
        limit: Some(2),
        ..MarketplaceQuery::default()
    };
    let listed: Vec<_> = admin.marketplace_agents(query).try_collect().await.expect("every page");
    assert_eq!(listed.len(), 5);
    let events: Vec<_> = admin
        .audit_events(AuditFilter {
            action: Some("agent.created".into()),
            limit: Some(3),
            ..AuditFilter::default()
        })
        .try_collect()
        .await
        .expect("every page");
    assert!(events.len() >= 5);
    assert!(events.windows(2).all(|w| w[0].seq > w[1].seq), "newest first");
}

#[tokio::test]
async fn rate_limited_reads_are_retried_after_retry_after_and_refusals_are_typed() {
    // Its own server: a public quota of 2 a second.
    let server = Server::start(&[("SENTRYAGENT_RATE_LIMIT_PUBLIC", "2/1s")], None, true);
    let patient = Client::builder(server.url()).build().expect("a client");
    for _ in 0..5 {
        patient.health().await.expect("retried until the quota allows it");
    }
    let impatient = Client::builder(server.url())
        .retry(RetryPolicy::none())
        .build()
        .expect("a client");
    let mut refusal = None;
    for _ in 0..5 {
        if let Err(e) = impatient.health().await {
            refusal = Some(e);
            break;
        }
    }
    let refusal = refusal.expect("a 429 without retries");
    let api = refusal.api().expect("the server's refusal");
    assert_eq!((api.status, api.code.as_str()), (429, "RATE_LIMITED"));
    assert!(api.retry_after.is_some(), "Retry-After is read");
    server.stop();
}

#[tokio::test]
async fn an_unreachable_server_is_its_own_error() {
    let port = support::free_port();
    let client = Client::builder(format!("http://127.0.0.1:{port}/api/v1"))
        .retry(RetryPolicy::none())
        .build()
        .expect("a client");
    let e = client.health().await.expect_err("nobody listens");
    assert!(e.is_unreachable(), "{e}");
}

#[tokio::test]
async fn the_crates_runnable_example_gets_a_token_and_registers_an_agent() {
    let server = shared();
    let name = unique("example");
    let registered = register_agent::register(&server.url(), &server.client_id, &server.client_secret, &name)
        .await
        .expect("the example runs");
    assert_eq!(registered.agent.name, name);
}
