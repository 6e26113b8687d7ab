//! The store conformance suite against the in-memory reference store.

use std::sync::Arc;

use sentryagent_core::MemoryStore;

async fn memory() -> Option<Arc<MemoryStore>> {
    Some(Arc::new(MemoryStore::new()))
}

sentryagent_testkit::store_conformance!(memory);
