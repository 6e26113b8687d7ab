//! Issue 17, point 1: made-up client ids at the token endpoint keep no
//! state, and the limiter holds at most its capacity of keys whatever the
//! addresses they come from. (`benches/abuse.sh` measures the example
//! server's RSS under the same flood.)

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Method};
use sentryagent_core::SentryAgent;
use sentryagent_core::http::Request;
use sentryagent_core::ratelimit::LocalRateLimiter;

/// A token request naming a made-up client id of about 1 KiB, from `peer`.
fn made_up(i: u32, peer: IpAddr) -> Request {
    let client_id = format!("sa_ci_{i:08}_{}", "x".repeat(1_000));
    let mut headers = HeaderMap::new();
    headers.insert(
        http::header::CONTENT_TYPE,
        HeaderValue::from_static("application/x-www-form-urlencoded"),
    );
    let basic = format!("Basic {}", STANDARD.encode(format!("{client_id}:sa_sk_guess")));
    headers.insert(http::header::AUTHORIZATION, basic.parse().expect("header"));
    Request {
        headers,
        body: Bytes::from_static(b"grant_type=client_credentials"),
        peer: Some(SocketAddr::new(peer, 40_000)),
        ..Request::default()
    }
}

#[tokio::test]
async fn made_up_client_ids_keep_the_limiter_within_its_capacity() {
    let limiter = Arc::new(LocalRateLimiter::with_capacity(1_000));
    let idp = SentryAgent::builder()
        .rate_limiter(limiter.clone())
        .build()
        .await
        .expect("idp");
    let token = Method::POST;

    // From one address: state for that address only, none per client id.
    let one = IpAddr::from([198, 51, 100, 7]);
    let mut refused = 0;
    for i in 0..5_000 {
        let answer = idp.serve(&token, "/oauth2/token", made_up(i, one)).await;
        refused += usize::from(answer.status == 429);
    }
    assert_eq!(limiter.len(), 1, "one key: the address");
    assert!(refused >= 4_900, "the address is limited: {refused} of 5000 refused");

    // From 10,000 addresses: never more keys than the capacity.
    let mut most = 0;
    for i in 0..10_000u32 {
        let peer = IpAddr::from([10, (i >> 16) as u8, (i >> 8) as u8, i as u8]);
        idp.serve(&token, "/oauth2/token", made_up(i, peer)).await;
        most = most.max(limiter.len());
    }
    assert!(
        most <= limiter.capacity() && limiter.capacity() <= 1_024,
        "{most} keys held at most, capacity {}",
        limiter.capacity()
    );
}
