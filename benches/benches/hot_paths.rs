//! Criterion benchmarks of the hot paths, in process, with the in-memory
//! store and every check on (ES256, audit chain, revocation, agent status).
//!
//! ```text
//! cargo bench                         # from the workspace root
//! cargo bench -p sentryagent-benches -- token/   # one group
//! ```
//!
//! - `token/issue_*`: the client-credentials grant end to end through the
//!   core: request parsing, client lookup, secret check (HMAC), agent lookup,
//!   signing, and the `token.issued` audit append.
//! - `token/verify`: a bearer token checked as the host-route extractor does
//!   (`verify_access_token`: signature, claims, revocation, agent status),
//!   the same token each time as an agent presents it: after the first call
//!   the signature check is remembered. `token/verify_uncached` cycles through
//!   20,000 tokens, so every call checks a signature.
//! - `token/introspect_*`: RFC 7662 introspection, by the token itself and by
//!   an admin's bearer token (which is verified too).
//! - `audit/record`: one event appended to the tenant's hash chain;
//!   `audit/record_two_threads` the same from two threads at once, into one
//!   tenant's chain (what the tenant's lock serialises).
//! - `crypto/*`: the bare signature and verification with aws-lc, over a
//!   real token's signing input: the floor the token path cannot beat.

use std::hint::black_box;
use std::time::{Duration, Instant};

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{
    ECDSA_P256_SHA256_FIXED, ECDSA_P256_SHA256_FIXED_SIGNING, ED25519, EcdsaKeyPair, Ed25519KeyPair, KeyPair as _,
    UnparsedPublicKey,
};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use sentryagent_benches::{Fixture, TOKEN_BODY, issue, runtime};
use sentryagent_core::audit::{NewAuditEvent, Outcome};
use sentryagent_core::token::{SigningAlgorithm, TokenRequest};

/// More tokens than the core remembers as verified (see `verify_uncached`).
const UNCACHED_TOKENS: usize = 20_000;

/// Times `iters` runs of an async operation inside one `block_on`, so the
/// runtime's entry cost is not counted per run.
macro_rules! async_iter {
    ($b:expr, $rt:expr, $body:expr) => {
        $b.iter_custom(|iters| {
            $rt.block_on(async {
                let start = Instant::now();
                for _ in 0..iters {
                    black_box($body.await);
                }
                start.elapsed()
            })
        })
    };
}

fn token(c: &mut Criterion) {
    let rt = runtime();
    let es = rt.block_on(Fixture::new(SigningAlgorithm::Es256));
    let ed = rt.block_on(Fixture::new(SigningAlgorithm::EdDsa));
    let ip = Some([127, 0, 0, 1].into());
    let mut g = c.benchmark_group("token");
    g.throughput(Throughput::Elements(1));

    for (name, f) in [("issue_es256", &es), ("issue_eddsa", &ed)] {
        g.bench_function(name, |b| {
            async_iter!(b, rt, async {
                let request =
                    TokenRequest::parse(Some(&f.agent_basic), black_box(TOKEN_BODY)).expect("well-formed request");
                f.idp.issue_token(request, ip).await.expect("token issued")
            })
        });
    }

    g.bench_function("verify", |b| {
        async_iter!(b, rt, async {
            es.idp
                .verify_access_token(black_box(&es.agent_token), None)
                .await
                .expect("valid token")
        })
    });

    // Round-robin over more distinct tokens than the core's verified-token
    // cache holds (8,192 per key set), so every verification is a miss and
    // pays for the signature check.
    let tokens: Vec<String> = rt.block_on(async {
        let mut tokens = Vec::with_capacity(UNCACHED_TOKENS);
        for _ in 0..UNCACHED_TOKENS {
            tokens.push(issue(&es.idp, &es.agent_basic).await);
        }
        tokens
    });
    let mut next = tokens.iter().cycle();
    g.bench_function("verify_uncached", |b| {
        async_iter!(b, rt, async {
            let token = next.next().expect("an endless cycle");
            es.idp
                .verify_access_token(black_box(token), None)
                .await
                .expect("valid token")
        })
    });

    let body = format!("token={}", es.agent_token);
    let own_bearer = format!("Bearer {}", es.agent_token);
    g.bench_function("introspect_self", |b| {
        async_iter!(b, rt, async {
            let r = es
                .idp
                .introspect(Some(&own_bearer), black_box(body.as_bytes()))
                .await
                .expect("introspection");
            assert!(r.active);
            r
        })
    });
    g.bench_function("introspect_by_admin", |b| {
        async_iter!(b, rt, async {
            let r = es
                .idp
                .introspect(Some(&es.admin_bearer), black_box(body.as_bytes()))
                .await
                .expect("introspection");
            assert!(r.active);
            r
        })
    });
    g.finish();
}

fn audit(c: &mut Criterion) {
    let rt = runtime();
    let f = rt.block_on(Fixture::new(SigningAlgorithm::Es256));
    let mut g = c.benchmark_group("audit");
    g.throughput(Throughput::Elements(1));
    g.bench_function("record", |b| {
        async_iter!(b, rt, async {
            f.idp.record(f.tenant, vec![token_issued()]).await.expect("appended")
        })
    });
    // Two threads appending to one tenant's chain, as two runtime workers
    // issuing tokens do: the time per event is half of `record`'s when
    // nothing is serialised, and `record`'s when everything is.
    g.bench_function("record_two_threads", |b| {
        b.iter_custom(|iters| {
            // Timed from when both threads have their runtime.
            let ready = std::sync::Barrier::new(3);
            std::thread::scope(|s| {
                for share in [iters / 2, iters - iters / 2] {
                    let (idp, ready) = (&f.idp, &ready);
                    s.spawn(move || {
                        let rt = runtime();
                        ready.wait();
                        rt.block_on(async {
                            for _ in 0..share {
                                black_box(idp.record(f.tenant, vec![token_issued()]).await.expect("appended"));
                            }
                        })
                    });
                }
                ready.wait();
                Instant::now()
            })
            .elapsed()
        })
    });
    g.finish();
}

/// The event the token endpoint appends on success.
fn token_issued() -> NewAuditEvent {
    NewAuditEvent::new("token.issued", Outcome::Success, "sa_ci_0123456789abcdef")
        .ip(Some([127, 0, 0, 1].into()))
        .detail("clientId", "sa_ci_0123456789abcdef")
        .detail("credentialId", "0196a0b1-7c2d-7e3f-8a4b-5c6d7e8f9a0b")
        .detail("jti", "0196a0b1-7c2d-7e3f-8a4b-5c6d7e8f9a0c")
        .detail("scope", "reports:read")
        .detail("aud", "http://127.0.0.1:3000")
}

fn crypto(c: &mut Criterion) {
    let rt = runtime();
    let f = rt.block_on(Fixture::new(SigningAlgorithm::Es256));
    // A real token's signing input: header.payload.
    let (input, _) = f.agent_token.rsplit_once('.').expect("a compact JWS");
    let input = input.as_bytes();
    let rng = SystemRandom::new();
    let es = EcdsaKeyPair::generate(&ECDSA_P256_SHA256_FIXED_SIGNING).expect("P-256 key");
    let ed = Ed25519KeyPair::generate().expect("Ed25519 key");
    let es_sig = es.sign(&rng, input).expect("signature");
    let ed_sig = ed.sign(input);
    let es_pub = UnparsedPublicKey::new(&ECDSA_P256_SHA256_FIXED, es.public_key().as_ref().to_vec());
    let ed_pub = UnparsedPublicKey::new(&ED25519, ed.public_key().as_ref().to_vec());

    let mut g = c.benchmark_group("crypto");
    g.throughput(Throughput::Elements(1));
    g.bench_function("sign_es256", |b| {
        b.iter(|| es.sign(&rng, black_box(input)).expect("signature"))
    });
    g.bench_function("sign_eddsa", |b| b.iter(|| ed.sign(black_box(input))));
    g.bench_function("verify_es256", |b| {
        b.iter(|| es_pub.verify(black_box(input), es_sig.as_ref()).expect("valid"))
    });
    g.bench_function("verify_eddsa", |b| {
        b.iter(|| ed_pub.verify(black_box(input), ed_sig.as_ref()).expect("valid"))
    });
    g.finish();
}

fn config() -> Criterion {
    // Shorter than criterion's defaults so that `cargo bench` stays around a
    // minute on a 2-core machine; still ~100 samples per benchmark.
    Criterion::default()
        .warm_up_time(Duration::from_secs(2))
        .measurement_time(Duration::from_secs(4))
}

criterion_group! {
    name = benches;
    config = config();
    targets = token, audit, crypto
}
criterion_main!(benches);
