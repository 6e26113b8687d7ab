//! The hot-state conformance suite against the in-process backends.

use std::sync::Arc;

use sentryagent_core::MemoryStore;
use sentryagent_core::ratelimit::LocalRateLimiter;
use sentryagent_testkit::hot_state::HotState;

async fn memory() -> Option<HotState> {
    let store = Arc::new(MemoryStore::new());
    Some(HotState {
        limiter: Arc::new(LocalRateLimiter::new()),
        revocations: store.clone(),
        replay: store.clone(),
        usage: store,
        namespace: String::new(),
    })
}

sentryagent_testkit::hot_state_conformance!(memory);
