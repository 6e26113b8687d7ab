//! Runs HTTP-layer requests a fixed number of times with or without a
//! metrics recorder, for callgrind's instruction counts, which do not
//! depend on how busy the machine is. Only the requests are counted
//! (`measured_requests`): the setup's cost is not the same from one run to
//! the next (the Prometheus recorder calibrates its clock for as long as it
//! takes, aws-lc gathers jitter entropy), and it swamped the difference
//! when the counts of whole runs were subtracted.
//!
//! ```text
//! cargo build --release -p sentryagent-benches --example observability
//! valgrind --tool=callgrind --collect-atstart=no --toggle-collect='observability::measured_requests' \
//!     target/release/examples/observability none bearer 2000
//! valgrind --tool=callgrind --collect-atstart=no --toggle-collect='observability::measured_requests' \
//!     target/release/examples/observability prometheus bearer 2000
//! ```
//!
//! The count over 2,000 is the cost of one request. The function's exact
//! name, not a pattern: `*measured_requests*` also matches its async
//! block, and entering that toggles collection off again (a run then counts
//! a few thousand instructions in all).
//! Recorders: `none`, `prometheus`; requests: `token`, `bearer`.

use std::hint::black_box;

use sentryagent_benches::{Fixture, runtime};
use sentryagent_core::token::SigningAlgorithm;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (Some(recorder), Some(request), Some(n)) = (
        args.first(),
        args.get(1),
        args.get(2).and_then(|n| n.parse::<usize>().ok()),
    ) else {
        eprintln!("usage: observability <none|prometheus> <token|bearer> <count>");
        std::process::exit(2);
    };
    if recorder == "prometheus" {
        // The exporter's upkeep task is not started: nothing here scrapes.
        let recorder = metrics_exporter_prometheus::PrometheusBuilder::new().build_recorder();
        if metrics::set_global_recorder(recorder).is_err() {
            eprintln!("a recorder is installed already");
            std::process::exit(1);
        }
    }
    let rt = runtime();
    let f = rt.block_on(async {
        let f = Fixture::new(SigningAlgorithm::Es256).await;
        // The first request of each kind makes its metrics' series.
        f.http_token().await;
        f.http_bearer().await;
        f
    });
    measured_requests(&rt, &f, request == "token", n);
}

/// The requests callgrind counts (`--toggle-collect`).
#[inline(never)]
fn measured_requests(rt: &tokio::runtime::Runtime, f: &Fixture, token: bool, n: usize) {
    rt.block_on(async {
        for _ in 0..n {
            if token {
                black_box(f.http_token().await);
            } else {
                black_box(f.http_bearer().await);
            }
        }
    });
}
