//! The conformance suite of the shared hot state: rate limiter, revocation
//! list, replay guard and usage counters. Stamp it with
//! [`hot_state_conformance!`](crate::hot_state_conformance).

use std::sync::Arc;
use std::time::Duration;

use sentryagent_core::ratelimit::{Quota, RateLimiter, RouteGroup};
use sentryagent_core::store::{ReplayGuard, RevocationList, UsageCounters};
use sentryagent_core::{TenantId, TokenId, time};

use crate::services::unique_name;

/// The hot-state backends under test.
#[derive(Clone)]
pub struct HotState {
    /// Rate limiter.
    pub limiter: Arc<dyn RateLimiter>,
    /// Revocation list.
    pub revocations: Arc<dyn RevocationList>,
    /// Replay guard.
    pub replay: Arc<dyn ReplayGuard>,
    /// Usage counters.
    pub usage: Arc<dyn UsageCounters>,
    /// The namespace (key prefix) of this instance, for its cleanup.
    pub namespace: String,
}

fn quota(limit: u32, period: Duration) -> Quota {
    Quota { limit, period }
}

/// A burst of `limit`, then refusals with a sensible `retry_after`; keys and
/// groups are independent.
pub async fn limiter_allows_the_burst_then_refuses(s: HotState) {
    let key = unique_name("k");
    let q = quota(5, Duration::from_secs(60));
    let mut remaining = Vec::new();
    for _ in 0..5 {
        let d = s.limiter.check(RouteGroup::Token, &key, q).await.expect("check");
        assert!(d.allowed);
        assert_eq!(d.limit, 5);
        remaining.push(d.remaining);
    }
    assert_eq!(remaining, vec![4, 3, 2, 1, 0]);
    let refused = s.limiter.check(RouteGroup::Token, &key, q).await.expect("check");
    assert!(!refused.allowed);
    assert!(
        refused.retry_after > Duration::from_secs(10) && refused.retry_after <= Duration::from_secs(12),
        "{refused:?}"
    );
    assert!(
        s.limiter
            .check(RouteGroup::Token, &unique_name("k"), q)
            .await
            .expect("check")
            .allowed
    );
    assert!(
        s.limiter
            .check(RouteGroup::Signup, &key, q)
            .await
            .expect("check")
            .allowed
    );
}

/// A peek says whether a request would pass without counting it, and
/// refuses once the quota is spent, with the same `retry_after` as a check.
pub async fn limiter_peeks_without_counting(s: HotState) {
    let key = unique_name("k");
    let q = quota(2, Duration::from_secs(60));
    for _ in 0..5 {
        let d = s.limiter.peek(RouteGroup::TokenFailures, &key, q).await.expect("peek");
        assert!(d.allowed);
        assert_eq!(d.remaining, 2);
    }
    assert!(
        s.limiter
            .check(RouteGroup::TokenFailures, &key, q)
            .await
            .expect("check")
            .allowed
    );
    let d = s.limiter.peek(RouteGroup::TokenFailures, &key, q).await.expect("peek");
    assert!(d.allowed);
    assert_eq!(d.remaining, 1);
    assert!(
        s.limiter
            .check(RouteGroup::TokenFailures, &key, q)
            .await
            .expect("check")
            .allowed
    );
    let over = s.limiter.peek(RouteGroup::TokenFailures, &key, q).await.expect("peek");
    assert!(!over.allowed);
    assert!(
        over.retry_after > Duration::from_secs(25) && over.retry_after <= Duration::from_secs(30),
        "{over:?}"
    );
    let checked = s
        .limiter
        .check(RouteGroup::TokenFailures, &key, q)
        .await
        .expect("check");
    assert!(!checked.allowed);
}

/// Concurrent checks are counted exactly once each.
pub async fn limiter_counts_concurrent_checks_once(s: HotState) {
    let key = unique_name("k");
    let q = quota(20, Duration::from_secs(60));
    let mut tasks = Vec::new();
    for _ in 0..50 {
        let (limiter, key) = (s.limiter.clone(), key.clone());
        tasks.push(tokio::spawn(async move {
            limiter.check(RouteGroup::Token, &key, q).await.expect("check").allowed
        }));
    }
    let mut allowed = 0;
    for t in tasks {
        allowed += usize::from(t.await.expect("task"));
    }
    assert_eq!(allowed, 20);
}

/// The quota replenishes evenly.
pub async fn limiter_replenishes(s: HotState) {
    let key = unique_name("k");
    let q = quota(2, Duration::from_millis(400));
    for _ in 0..2 {
        assert!(
            s.limiter
                .check(RouteGroup::Token, &key, q)
                .await
                .expect("check")
                .allowed
        );
    }
    assert!(
        !s.limiter
            .check(RouteGroup::Token, &key, q)
            .await
            .expect("check")
            .allowed
    );
    tokio::time::sleep(Duration::from_millis(260)).await;
    assert!(
        s.limiter
            .check(RouteGroup::Token, &key, q)
            .await
            .expect("check")
            .allowed
    );
}

/// Revocations hold until the token's expiry, then lapse.
pub async fn revocations_hold_until_expiry(s: HotState) {
    let (long, short, never) = (TokenId::new(), TokenId::new(), TokenId::new());
    s.revocations
        .revoke(long, time::now() + ::time::Duration::hours(1))
        .await
        .expect("revoke");
    s.revocations
        .revoke(short, time::now() + ::time::Duration::milliseconds(300))
        .await
        .expect("revoke");
    assert!(s.revocations.is_revoked(long).await.expect("check"));
    assert!(s.revocations.is_revoked(short).await.expect("check"));
    assert!(!s.revocations.is_revoked(never).await.expect("check"));
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert!(s.revocations.is_revoked(long).await.expect("check"));
    assert!(
        !s.revocations.is_revoked(short).await.expect("check"),
        "lapsed with the token"
    );
}

/// A revoked token is refused at every instant until it would have stopped
/// verifying anyway: its revocation outlives `exp` plus the clock skew,
/// through the second in which verification still accepts it.
pub async fn revoked_tokens_never_verify_again(s: HotState) {
    let idp = sentryagent_core::SentryAgent::builder()
        .issuer("https://idp.example.com")
        .token_ttl(Duration::from_secs(1))
        .clock_skew(Duration::from_secs(1))
        .stores({
            let mut stores = sentryagent_core::store::Stores::new(Arc::new(sentryagent_core::MemoryStore::new()));
            stores.revocations = s.revocations.clone();
            stores
        })
        .build()
        .await
        .expect("idp");
    let tenant = idp.create_tenant("Acme").await.expect("tenant");
    let body = format!(
        "grant_type=client_credentials&client_id={}&client_secret={}",
        tenant.admin_client_id,
        tenant.admin_client_secret.expose()
    );
    let request = sentryagent_core::token::TokenRequest::parse(None, body.as_bytes()).expect("request");
    let token = idp.issue_token(request, None).await.expect("token").access_token;
    idp.verify_access_token(&token, None)
        .await
        .expect("valid before revocation");
    idp.revoke_token(
        Some(&format!("Bearer {token}")),
        format!("token={token}").as_bytes(),
        None,
    )
    .await
    .expect("revoked");
    // Poll until verification says expired (about 3 s: 1 s of life, 1 s of
    // skew and the second of exp + skew); not one answer may accept it.
    let mut checks = 0;
    loop {
        checks += 1;
        match idp.verify_access_token(&token, None).await {
            Ok(_) => panic!("the revoked token verified again after {checks} checks"),
            Err(sentryagent_core::Error::Unauthorized(why)) if why.contains("expired") => break,
            Err(sentryagent_core::Error::Unauthorized(_)) => {}
            Err(e) => panic!("{e}"),
        }
        assert!(checks < 1_000, "the token never expired");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// An id is accepted once until it expires.
pub async fn replay_guard_accepts_an_id_once(s: HotState) {
    let id = unique_name("jti");
    let soon = time::now() + ::time::Duration::milliseconds(300);
    assert!(s.replay.first_use(&id, soon).await.expect("first"));
    assert!(!s.replay.first_use(&id, soon).await.expect("again"));
    assert!(s.replay.first_use(&unique_name("jti"), soon).await.expect("other"));
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert!(
        s.replay
            .first_use(&id, soon + ::time::Duration::hours(1))
            .await
            .expect("after expiry")
    );
}

/// Counters add up, also when many instances add at once.
pub async fn usage_counters_add_up(s: HotState) {
    let tenant = TenantId::new();
    let day = time::now().date();
    assert_eq!(s.usage.add_usage(tenant, day, "api_calls", 3).await.expect("add"), 3);
    assert_eq!(s.usage.add_usage(tenant, day, "api_calls", 4).await.expect("add"), 7);
    assert_eq!(s.usage.usage(tenant, day, "api_calls").await.expect("get"), 7);
    assert_eq!(s.usage.usage(tenant, day, "tokens").await.expect("get"), 0);
    assert_eq!(s.usage.usage(TenantId::new(), day, "api_calls").await.expect("get"), 0);
    assert_eq!(
        s.usage
            .usage(tenant, day.previous_day().expect("a day"), "api_calls")
            .await
            .expect("get"),
        0
    );
    let mut tasks = Vec::new();
    for _ in 0..20 {
        let usage = s.usage.clone();
        tasks.push(tokio::spawn(
            async move { usage.add_usage(tenant, day, "tokens", 5).await },
        ));
    }
    for t in tasks {
        t.await.expect("task").expect("add");
    }
    assert_eq!(s.usage.usage(tenant, day, "tokens").await.expect("get"), 100);
}

/// Stamps every hot-state case (each `pub async fn` of this module) into a
/// `#[tokio::test]` for the backends that `$make` (an
/// `async fn() -> Option<HotState>`; `None` skips) returns.
/// `$cleanup` (an `async fn(HotState)`), if given, runs after each case.
#[macro_export]
macro_rules! hot_state_conformance {
    ($make:path) => {
        $crate::hot_state_conformance!($make, $crate::no_cleanup);
    };
    ($make:path, $cleanup:path) => {
        $crate::__hot_state_cases!($make, $cleanup);
    };
    (@cases $make:path, $cleanup:path; $($case:ident),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $case() {
                if let Some(state) = $make().await {
                    $crate::hot_state::$case(state.clone()).await;
                    $cleanup(state).await;
                }
            }
        )*
    };
}
