//! Runs one hot-path operation a fixed number of times, for profilers whose
//! numbers must not depend on how busy the machine is:
//!
//! ```text
//! cargo build --release -p sentryagent-benches --example ops
//! valgrind --tool=callgrind target/release/examples/ops issue 0
//! valgrind --tool=callgrind target/release/examples/ops issue 2000
//! ```
//!
//! The difference of the two instruction counts over 2,000 is the cost of one
//! operation. Operations: `issue` (ES256), `issue-eddsa`, `verify`,
//! `verify-uncached`, `introspect`, `record`, `uuid` (one id, as every
//! event and token takes; its cost is mostly the kernel's when the random
//! bits come from the OS, so measure it with `perf stat -e task-clock`),
//! `http-token` (the token request through the core's HTTP layer: request
//! id, span, rate limits, metrics facade, access-log event) and
//! `http-token-logged` (the same with the example servers' subscriber,
//! `info` text lines written to a sink: the difference is what the request
//! span and the access-log line cost to format).

use std::hint::black_box;

use sentryagent_benches::{Fixture, issue, runtime};
use sentryagent_core::audit::{NewAuditEvent, Outcome};
use sentryagent_core::token::SigningAlgorithm;

fn main() {
    let mut args = std::env::args().skip(1);
    let (Some(op), Some(n)) = (args.next(), args.next().and_then(|n| n.parse::<usize>().ok())) else {
        eprintln!(
            "usage: ops <issue|issue-eddsa|verify|verify-uncached|introspect|record|uuid|http-token|http-token-logged> \
             <count>"
        );
        std::process::exit(2);
    };
    if op == "http-token-logged" {
        tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::new("info"))
            .with_ansi(false)
            .with_writer(std::io::sink)
            .init();
    }
    let rt = runtime();
    rt.block_on(async {
        let alg = if op == "issue-eddsa" {
            SigningAlgorithm::EdDsa
        } else {
            SigningAlgorithm::Es256
        };
        let f = Fixture::new(alg).await;
        // Tokens for `verify-uncached` are made before the measured part.
        let tokens = if op == "verify-uncached" {
            let mut tokens = Vec::with_capacity(n);
            for _ in 0..n {
                tokens.push(issue(&f.idp, &f.agent_basic).await);
            }
            tokens
        } else {
            Vec::new()
        };
        let mut uncached = tokens.iter();
        let body = format!("token={}", f.agent_token);
        for _ in 0..n {
            match op.as_str() {
                "issue" | "issue-eddsa" => {
                    black_box(issue(&f.idp, &f.agent_basic).await);
                }
                "verify" => {
                    black_box(f.idp.verify_access_token(&f.agent_token, None).await.expect("valid"));
                }
                "verify-uncached" => {
                    let token = uncached.next().expect("one token per run");
                    black_box(f.idp.verify_access_token(token, None).await.expect("valid"));
                }
                "introspect" => {
                    let r = f.idp.introspect(Some(&f.admin_bearer), body.as_bytes()).await;
                    assert!(r.expect("answer").active);
                }
                "http-token" | "http-token-logged" => {
                    black_box(f.http_token().await);
                }
                "uuid" => {
                    // The id every audit event and token takes (UUIDv7).
                    black_box(sentryagent_core::EventId::new());
                }
                "record" => {
                    let event = NewAuditEvent::new("token.issued", Outcome::Success, "sa_ci_0123456789abcdef")
                        .ip(Some([127, 0, 0, 1].into()))
                        .detail("clientId", "sa_ci_0123456789abcdef")
                        .detail("credentialId", "0196a0b1-7c2d-7e3f-8a4b-5c6d7e8f9a0b")
                        .detail("jti", "0196a0b1-7c2d-7e3f-8a4b-5c6d7e8f9a0c")
                        .detail("scope", "reports:read")
                        .detail("aud", "http://127.0.0.1:3000");
                    black_box(f.idp.record(f.tenant, vec![event]).await.expect("appended"));
                }
                other => {
                    eprintln!("unknown operation {other}");
                    std::process::exit(2);
                }
            }
        }
    });
}
