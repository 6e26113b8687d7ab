//! Route coverage: which operations of the core's route table the HTTP cases
//! reach, so that a route cannot ship untested on one adapter.

use std::collections::BTreeSet;
use std::future::Future;
use std::sync::{Arc, Mutex, PoisonError};

use reqwest::Method;
use sentryagent_core::http::{RouteMatch, match_route, routes};

tokio::task_local! {
    static CURRENT: Coverage;
}

/// The operation ids that the requests of the cases it runs resolved to.
/// [`http_suite!`](crate::http_suite) runs every case under one and then
/// calls [`Coverage::assert_every_route`].
#[derive(Clone, Debug, Default)]
pub struct Coverage(Arc<Mutex<BTreeSet<&'static str>>>);

impl Coverage {
    /// Runs `case(start)`; every [`TestApp`](crate::TestApp) it starts
    /// records its requests here. The case's future is made and boxed here,
    /// not in the caller: a test that runs every case in turn would otherwise
    /// hold all of them in one stack frame.
    pub fn run<S, C, F>(&self, case: C, start: S) -> impl Future<Output = F::Output>
    where
        C: FnOnce(S) -> F,
        F: Future,
    {
        CURRENT.scope(self.clone(), Box::pin(case(start)))
    }

    /// The coverage the running case records into, if any.
    pub(crate) fn current() -> Option<Self> {
        CURRENT.try_with(Clone::clone).ok()
    }

    /// Records a request: the path under `/api/v1`, or a root path (the
    /// well-known documents), resolved against the route table.
    pub(crate) fn record(&self, method: &Method, path: &str) {
        let path = path.strip_prefix("/api/v1").unwrap_or(path);
        if let RouteMatch::Found(route, _) = match_route(method, path) {
            self.0
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .insert(route.operation_id);
        }
    }

    /// Panics with the list of routes that no recorded request reached.
    #[track_caller]
    pub fn assert_every_route(&self) {
        let missing: Vec<String> = {
            let hit = self.0.lock().unwrap_or_else(PoisonError::into_inner);
            routes()
                .iter()
                .filter(|route| !hit.contains(route.operation_id))
                .map(|route| format!("{route:?}"))
                .collect()
        };
        assert!(
            missing.is_empty(),
            "no case of the HTTP suite sends a request to:\n  {}",
            missing.join("\n  ")
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_prefixed_and_root_paths_and_names_the_missing_ones() {
        let coverage = Coverage::default();
        for route in routes() {
            let path = route.path.replace('{', "x").replace('}', "");
            let path = if route.well_known {
                path
            } else {
                format!("/api/v1{path}")
            };
            coverage.record(&route.method, &path);
        }
        coverage.assert_every_route();

        let partial = Coverage::default();
        partial.record(&Method::GET, "/api/v1/health");
        partial.record(&Method::GET, "/whoami");
        partial.record(&Method::PUT, "/api/v1/agents");
        let missed = std::panic::catch_unwind(|| partial.assert_every_route()).expect_err("routes are missing");
        let message = missed.downcast_ref::<String>().expect("a formatted message");
        assert!(message.contains("POST /agents (registerAgent)"), "{message}");
        assert!(!message.contains("(getHealth)"), "{message}");
    }
}
