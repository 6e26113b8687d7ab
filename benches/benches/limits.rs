//! Rate limits and metering on the request path: one in-process rate-limit
//! check, one Redis check over loopback (skipped without Redis), one
//! metering increment, and one tier-quota check against the cached summary.

use std::hint::black_box;
use std::sync::Arc;
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use sentryagent_core::SentryAgent;
use sentryagent_core::metering::metric;
use sentryagent_core::ratelimit::{LocalRateLimiter, Quota, RateLimiter, RouteGroup};
use sentryagent_store_redis::{RedisOptions, RedisStore};

fn quota() -> Quota {
    // Large enough that the bench measures allowed checks, as most are.
    Quota {
        limit: 1_000_000_000,
        period: Duration::from_secs(1),
    }
}

fn rate_limits(c: &mut Criterion) {
    let mut g = c.benchmark_group("ratelimit");
    let local = LocalRateLimiter::new();
    g.bench_function("local_check", |b| {
        b.iter(|| black_box(local.check_now(RouteGroup::Token, black_box("client:sa_ci_bench"), quota())))
    });
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime");
    let url = std::env::var("REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".to_owned());
    match rt.block_on(RedisStore::connect(&url, RedisOptions::default().prefix("sa_bench:"))) {
        Ok(redis) => {
            let redis = Arc::new(redis);
            g.bench_function("redis_check", |b| {
                b.iter(|| {
                    rt.block_on(redis.check(RouteGroup::Token, "client:sa_ci_bench", quota()))
                        .expect("a Redis answer")
                })
            });
        }
        Err(e) => eprintln!("ratelimit/redis_check skipped: {e}"),
    }
    g.finish();
}

fn metering(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime");
    let idp = rt.block_on(SentryAgent::builder().build()).expect("an IdP");
    let tenant = rt.block_on(idp.create_tenant("Bench")).expect("a tenant").tenant.id;
    let mut g = c.benchmark_group("metering");
    g.bench_function("increment", |b| {
        b.iter(|| idp.meter(black_box(tenant), metric::API_CALLS))
    });
    // The tier check as the route layer runs it: the cached summary plus the
    // unflushed count. `block_on` of a future that is ready at once adds a
    // few tens of nanoseconds.
    g.bench_function("tier_check", |b| {
        b.iter(|| rt.block_on(idp.check_quota(black_box(tenant))).is_ok())
    });
    g.bench_function("block_on_ready_future", |b| {
        b.iter(|| rt.block_on(async { black_box(1) }))
    });
    g.finish();
}

criterion_group!(benches, rate_limits, metering);
criterion_main!(benches);
