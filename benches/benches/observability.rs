//! The cost of metrics per request: `POST /oauth2/token` and a
//! bearer-verified `GET /tenants/me` through the core's HTTP layer (request
//! id, span, rate limits, metrics, access log; the in-memory store), with
//! no metrics recorder installed (every metric call a no-op) or with the
//! Prometheus recorder the example server installs:
//!
//! ```text
//! cargo bench -p sentryagent-benches --bench observability
//! SENTRYAGENT_BENCH_RECORDER=prometheus cargo bench -p sentryagent-benches --bench observability
//! ```
//!
//! One process per recorder: the hot paths keep their metric handles from
//! the recorder installed at their first use. `benches/examples/observability.rs`
//! runs the same requests a fixed number of times for callgrind's
//! instruction counts.

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use sentryagent_benches::{Fixture, runtime};
use sentryagent_core::token::SigningAlgorithm;

fn requests(c: &mut Criterion) {
    let recorder = std::env::var("SENTRYAGENT_BENCH_RECORDER").unwrap_or_else(|_| "none".to_owned());
    if recorder == "prometheus" {
        metrics_exporter_prometheus::PrometheusBuilder::new()
            .install_recorder()
            .expect("the only recorder of this process");
    }
    let rt = runtime();
    let f = rt.block_on(Fixture::new(SigningAlgorithm::Es256));
    let mut g = c.benchmark_group("http");
    g.throughput(Throughput::Elements(1));
    g.bench_function(format!("token/{recorder}"), |b| {
        b.iter_custom(|iters| {
            rt.block_on(async {
                let start = Instant::now();
                for _ in 0..iters {
                    black_box(f.http_token().await);
                }
                start.elapsed()
            })
        })
    });
    g.bench_function(format!("bearer/{recorder}"), |b| {
        b.iter_custom(|iters| {
            rt.block_on(async {
                let start = Instant::now();
                for _ in 0..iters {
                    black_box(f.http_bearer().await);
                }
                start.elapsed()
            })
        })
    });
    g.finish();
}

fn config() -> Criterion {
    Criterion::default()
        .warm_up_time(Duration::from_secs(2))
        .measurement_time(Duration::from_secs(5))
}

criterion_group! {
    name = benches;
    config = config();
    targets = requests
}
criterion_main!(benches);
