//! What an embedder gets from `SentryAgent::builder()` without asking: sign-up
//! over HTTP closed, tier limits not enforced (unless billing is configured),
//! new agents not in the marketplace, and host routes closed to every tenant
//! until a resource policy names one.

use std::sync::Arc;

use http::{Method, StatusCode};
use sentryagent_core::agent::NewAgent;
use sentryagent_core::billing::{BillingError, BillingEvent, BillingProvider, CheckoutRequest};
use sentryagent_core::http::Request;
use sentryagent_core::marketplace::MarketplaceQuery;
use sentryagent_core::resource::ResourcePolicy;
use sentryagent_core::token::TokenRequest;
use sentryagent_core::{Caller, Error, SentryAgent, Signup};

async fn admin(idp: &SentryAgent, id: &str, secret: &str) -> (Caller, String) {
    let body = format!("grant_type=client_credentials&client_id={id}&client_secret={secret}");
    let request = TokenRequest::parse(None, body.as_bytes()).expect("request");
    let token = idp.issue_token(request, None).await.expect("token").access_token;
    let identity = idp.verify_access_token(&token, None).await.expect("identity");
    (Caller { identity, ip: None }, token)
}

#[tokio::test]
async fn an_embedder_gets_every_door_closed() {
    let idp = SentryAgent::builder().build().await.expect("idp");
    assert_eq!(idp.settings().signup, Signup::Closed);
    assert!(!idp.settings().enforce_tiers);
    assert!(!idp.settings().list_new_agents);

    // Sign-up over HTTP is closed; tenants are made in Rust.
    let request = Request {
        body: br#"{"name": "Stranger"}"#.as_slice().into(),
        headers: [(http::header::CONTENT_TYPE, "application/json".parse().expect("header"))]
            .into_iter()
            .collect(),
        ..Request::default()
    };
    let answer = idp.serve(&Method::POST, "/tenants", request).await;
    assert_eq!(answer.status, StatusCode::FORBIDDEN);
    assert!(String::from_utf8_lossy(&answer.body).contains("SIGNUP_CLOSED"));
    assert!(idp.is_empty().await.expect("empty"), "nothing was created");
    let t = idp.create_tenant("Acme").await.expect("tenant");

    // Tier limits are not enforced: the free tier's 10 agents are no limit.
    let (caller, token) = admin(&idp, &t.admin_client_id, t.admin_client_secret.expose()).await;
    for i in 0..12 {
        let new = NewAgent {
            name: format!("bot{i}@acme.example"),
            ..NewAgent::default()
        };
        let made = idp.register_agent(&caller, new).await.expect("registered");
        assert!(!made.agent.listed, "not listed unless asked");
    }
    let usage = idp.usage_report(&caller).await.expect("usage");
    assert!(!usage.enforced);
    let query = MarketplaceQuery {
        limit: 50,
        ..MarketplaceQuery::default()
    };
    assert!(idp.marketplace_agents(&query).await.expect("marketplace").is_empty());

    // Host routes accept nobody until a resource policy says who.
    let refused = idp.authorize_resource(&token, None).await;
    assert!(matches!(refused, Err(Error::Internal(_))), "{refused:?}");
    idp.protect(ResourcePolicy::new(idp.settings().audience.clone()));
    let refused = idp.authorize_resource(&token, None).await;
    assert!(matches!(refused, Err(Error::Unauthorized(_))), "{refused:?}");
    idp.protect(ResourcePolicy::new(idp.settings().audience.clone()).tenant(t.tenant.id));
    idp.authorize_resource(&token, None)
        .await
        .expect("the named tenant passes");
}

struct NoProvider;

#[async_trait::async_trait]
impl BillingProvider for NoProvider {
    async fn create_checkout(&self, _: &CheckoutRequest) -> Result<String, BillingError> {
        Err(BillingError::provider("not in this test"))
    }

    fn verify_webhook(&self, _: &[u8], _: &str, _: time::OffsetDateTime) -> Result<BillingEvent, BillingError> {
        Err(BillingError::provider("not in this test"))
    }
}

#[tokio::test]
async fn billing_turns_tier_enforcement_on_unless_told_otherwise() {
    let with_billing = SentryAgent::builder()
        .billing(Arc::new(NoProvider))
        .build()
        .await
        .expect("idp");
    assert!(with_billing.settings().enforce_tiers);
    let told = SentryAgent::builder()
        .enforce_tiers(false)
        .billing(Arc::new(NoProvider))
        .build()
        .await
        .expect("idp");
    assert!(!told.settings().enforce_tiers);
    let asked = SentryAgent::builder().enforce_tiers(true).build().await.expect("idp");
    assert!(asked.settings().enforce_tiers);
}
