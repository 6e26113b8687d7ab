//! The hot-state conformance suite against Redis, each case under a key
//! prefix of its own that is deleted afterwards.

use std::sync::Arc;

use sentryagent_store_redis::{RedisOptions, RedisStore, redis};
use sentryagent_testkit::hot_state::HotState;
use sentryagent_testkit::services;

async fn redis() -> Option<HotState> {
    let namespace = format!("{}:", services::unique_name("sa_test"));
    let options = RedisOptions::default().prefix(&namespace);
    match RedisStore::connect(&services::redis_url(), options).await {
        Ok(store) => {
            let store = Arc::new(store);
            Some(HotState {
                limiter: store.clone(),
                revocations: store.clone(),
                replay: store.clone(),
                usage: store,
                namespace,
            })
        }
        Err(e) => services::unavailable("Redis hot-state suite", &e),
    }
}

/// Deletes every key of the case's namespace.
async fn cleanup(state: HotState) {
    let client = redis::Client::open(services::redis_url()).expect("a Redis URL");
    let mut conn = client.get_multiplexed_async_connection().await.expect("a connection");
    let keys: Vec<String> = redis::cmd("KEYS")
        .arg(format!("{}*", state.namespace))
        .query_async(&mut conn)
        .await
        .expect("KEYS");
    if !keys.is_empty() {
        let _: () = redis::cmd("UNLINK")
            .arg(&keys)
            .query_async(&mut conn)
            .await
            .expect("UNLINK");
    }
}

sentryagent_testkit::hot_state_conformance!(redis, cleanup);
