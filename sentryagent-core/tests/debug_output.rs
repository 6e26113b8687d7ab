//! A host's own `#[derive(Debug)]` state may hold the identity provider,
//! and printing it shows the settings and backends, never a secret.

use sentryagent_core::{MemoryStore, SentryAgent};

#[derive(Debug)]
#[allow(dead_code)] // only printed
struct HostState {
    idp: SentryAgent,
    name: &'static str,
}

#[tokio::test]
async fn debug_shows_settings_and_never_a_secret() {
    let secret = "a-master-secret-of-32-bytes-or-more!";
    let operator_key = "an-operator-key-nobody-may-read";
    let builder = SentryAgent::builder()
        .issuer("https://idp.example.com")
        .server_secret(secret.as_bytes())
        .expect("secret")
        .operator_key(operator_key)
        .durable(std::sync::Arc::new(MemoryStore::new()));
    let printed_builder = format!("{builder:?}");
    let idp = builder.build().await.expect("build");
    let printed = format!("{:?}", HostState { idp, name: "host" });
    for text in [&printed_builder, &printed] {
        assert!(text.contains("https://idp.example.com"), "{text}");
        assert!(
            !text.contains(secret) && !text.contains(operator_key),
            "a secret printed: {text}"
        );
    }
    assert!(printed.contains("backends: \"memory\""), "{printed}");
}
