//! Issue 17, point 2: a refused token presented again and again is audited
//! once at first, then once more with the count of the rest when the
//! window ends, not once per request.

use std::sync::Arc;
use std::time::Duration;

use sentryagent_core::audit::AuditQuery;
use sentryagent_core::store::AuditStore;
use sentryagent_core::token::TokenRequest;
use sentryagent_core::{Error, MemoryStore, SentryAgent};

#[tokio::test]
async fn repeated_refusals_of_a_token_are_audited_as_a_count() {
    let store = Arc::new(MemoryStore::new());
    let idp = SentryAgent::builder()
        .durable(store.clone())
        .refusal_audit_window(Duration::from_millis(300))
        .build()
        .await
        .expect("idp");
    let tenant = idp.create_tenant("Acme").await.expect("tenant");
    let body = format!(
        "grant_type=client_credentials&client_id={}&client_secret={}",
        tenant.admin_client_id,
        tenant.admin_client_secret.expose()
    );
    let request = TokenRequest::parse(None, body.as_bytes()).expect("request");
    let token = idp.issue_token(request, None).await.expect("token").access_token;
    idp.revoke_token(
        Some(&format!("Bearer {token}")),
        format!("token={token}").as_bytes(),
        None,
    )
    .await
    .expect("revoked");

    let rejected = || async {
        let query = AuditQuery {
            action: Some("token.rejected".into()),
            limit: 100,
            ..AuditQuery::default()
        };
        store.query_audit(tenant.tenant.id, &query).await.expect("query")
    };
    for _ in 0..50 {
        let refused = idp.verify_access_token(&token, None).await;
        assert!(matches!(refused, Err(Error::Unauthorized(_))), "{refused:?}");
    }
    let first = rejected().await;
    assert_eq!(first.len(), 1, "only the first refusal is recorded at once");
    assert!(first[0].details.get("repeats").is_none());

    // When the window ends, one more event carries the count of the others.
    let mut events = first;
    for _ in 0..200 {
        events = rejected().await;
        if events.len() > 1 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    assert_eq!(events.len(), 2, "{events:?}");
    assert_eq!(events[0].details["repeats"], 49);
    assert_eq!(events[0].details["reason"], "token_revoked");

    // A refusal after the window opens a new one: recorded at once.
    assert!(idp.verify_access_token(&token, None).await.is_err());
    assert_eq!(rejected().await.len(), 3);
}
