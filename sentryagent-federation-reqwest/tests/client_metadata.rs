//! Client ID Metadata Documents fetched over real sockets through the
//! guarded fetcher, from a stand-in client on loopback: cached per its
//! headers, refused when too large, not JSON, naming another client id,
//! redirecting, or (without the test switch) on a loopback address at all.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use sentryagent_core::authorization::{
    ClientKind, ClientMetadataError, ClientMetadataFetcher, DocumentFetchError,
    metadata_document::MetadataDocumentError,
};
use sentryagent_core::store::OAuthClientStore;
use sentryagent_core::{MemoryStore, SentryAgent, TenantId};
use sentryagent_federation_reqwest::GuardedFetcher;

/// A client publishing documents on loopback; counts the requests it gets.
struct StandInClient {
    base: String,
    hits: Arc<AtomicUsize>,
}

impl StandInClient {
    async fn start() -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let base = format!("http://{}", listener.local_addr().expect("address"));
        let hits = Arc::new(AtomicUsize::new(0));
        let app = Router::new()
            .fallback(get(serve))
            .with_state((base.clone(), hits.clone()));
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Self { base, hits }
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    fn hits(&self) -> usize {
        self.hits.load(Ordering::SeqCst)
    }
}

async fn serve(State((base, hits)): State<(String, Arc<AtomicUsize>)>, uri: Uri) -> Response {
    hits.fetch_add(1, Ordering::SeqCst);
    let url = format!("{base}{}", uri.path());
    let doc = |client_id: &str| {
        serde_json::json!({
            "client_id": client_id,
            "client_name": "Stand-in",
            "redirect_uris": ["http://127.0.0.1:33418/callback"],
            "token_endpoint_auth_method": "none",
        })
        .to_string()
    };
    let json = [(header::CONTENT_TYPE, "application/json")];
    match uri.path() {
        "/good.json" => (json, [(header::CACHE_CONTROL, "public, max-age=600")], doc(&url)).into_response(),
        "/no-store.json" => (json, [(header::CACHE_CONTROL, "no-store")], doc(&url)).into_response(),
        "/big.json" => (json, format!("{}{}", doc(&url), " ".repeat(6 * 1024))).into_response(),
        "/html" => "<html>hello</html>".into_response(),
        "/mismatch.json" => (json, doc("https://evil.example/client.json")).into_response(),
        "/redirect" => (StatusCode::FOUND, [(header::LOCATION, "http://10.0.0.1/client.json")]).into_response(),
        "/to-good" => (StatusCode::FOUND, [(header::LOCATION, format!("{base}/good.json"))]).into_response(),
        _ => StatusCode::NOT_FOUND.into_response(),
    }
}

async fn idp(fetcher: GuardedFetcher, store: Arc<MemoryStore>) -> (SentryAgent, TenantId) {
    let idp = SentryAgent::builder()
        .durable(store)
        .client_metadata_fetcher(Arc::new(fetcher))
        .allow_http_loopback_client_metadata_for_tests(true)
        .build()
        .await
        .expect("idp");
    let tenant = idp.create_tenant("Acme").await.expect("tenant").tenant.id;
    (idp, tenant)
}

#[tokio::test]
async fn documents_are_fetched_cached_and_refetched_when_expired() {
    let client = StandInClient::start().await;
    let store = Arc::new(MemoryStore::new());
    let allowed = GuardedFetcher::allowing_private_networks_for_tests().expect("fetcher");
    let (idp, tenant) = idp(allowed, store.clone()).await;
    let url = client.url("/good.json");
    let found = idp.client_from_metadata_document(tenant, &url).await.expect("client");
    assert_eq!(found.kind, ClientKind::MetadataDocument);
    assert_eq!(found.name.as_deref(), Some("Stand-in"));
    let life = found.metadata_expires_at.expect("expiry") - sentryagent_core::time::now();
    assert!(
        life > time::Duration::minutes(9) && life <= time::Duration::minutes(10),
        "max-age=600: {life}"
    );
    idp.client_from_metadata_document(tenant, &url).await.expect("cached");
    assert_eq!(client.hits(), 1, "the second call made no request");

    // Once its lifetime ends, it is fetched again.
    let mut stale = found.clone();
    stale.metadata_expires_at = Some(sentryagent_core::time::now() - time::Duration::seconds(1));
    store.put_oauth_client(&stale).await.expect("put");
    let again = idp
        .client_from_metadata_document(tenant, &url)
        .await
        .expect("refetched");
    assert!(again.metadata_expires_at > stale.metadata_expires_at);
    assert_eq!(client.hits(), 2);

    // no-store is still kept the least time (five minutes).
    let url = client.url("/no-store.json");
    let found = idp.client_from_metadata_document(tenant, &url).await.expect("client");
    let life = found.metadata_expires_at.expect("expiry") - sentryagent_core::time::now();
    assert!(
        life > time::Duration::minutes(4) && life <= time::Duration::minutes(5),
        "{life}"
    );
    idp.client_from_metadata_document(tenant, &url).await.expect("cached");
    assert_eq!(client.hits(), 3);
}

#[tokio::test]
async fn bad_documents_and_redirects_are_refused() {
    let client = StandInClient::start().await;
    let allowed = GuardedFetcher::allowing_private_networks_for_tests().expect("fetcher");
    let (idp, tenant) = idp(allowed.clone(), Arc::new(MemoryStore::new())).await;
    for (path, why) in [
        ("/big.json", MetadataDocumentError::TooLarge),
        ("/html", MetadataDocumentError::NotJson),
        ("/mismatch.json", MetadataDocumentError::ClientIdMismatch),
    ] {
        match idp.client_from_metadata_document(tenant, &client.url(path)).await {
            Err(ClientMetadataError::Invalid(e)) => assert_eq!(e, why, "{path}"),
            other => panic!("{path}: {other:?}"),
        }
    }
    // The fetcher itself stops at the limit.
    assert!(matches!(
        allowed.fetch_client_metadata(&client.url("/big.json"), 5 * 1024).await,
        Err(DocumentFetchError::TooLarge)
    ));
    // Redirects are never followed: to a private address, or anywhere.
    let before = client.hits();
    for path in ["/redirect", "/to-good"] {
        let e = idp
            .client_from_metadata_document(tenant, &client.url(path))
            .await
            .expect_err(path);
        assert!(matches!(e, ClientMetadataError::Unreachable(_)), "{path}: {e:?}");
    }
    assert_eq!(client.hits(), before + 2, "the redirect targets were not fetched");
}

#[tokio::test]
async fn loopback_and_private_addresses_are_refused_without_the_test_switch() {
    let client = StandInClient::start().await;
    let guarded = GuardedFetcher::new().expect("fetcher");
    let (idp, tenant) = idp(guarded, Arc::new(MemoryStore::new())).await;
    let by_name = client.url("/good.json").replace("127.0.0.1", "localhost");
    for url in [client.url("/good.json"), by_name] {
        let e = idp.client_from_metadata_document(tenant, &url).await.expect_err(&url);
        assert!(matches!(e, ClientMetadataError::Unreachable(_)), "{url}: {e:?}");
    }
    // Private and link-local literals behind https are refused before connecting.
    let fetcher = GuardedFetcher::new().expect("fetcher");
    for url in [
        "https://10.0.0.1/client.json",
        "https://192.168.1.1/client.json",
        "https://169.254.169.254/client.json",
        "https://[::1]/client.json",
    ] {
        let e = fetcher.fetch_client_metadata(url, 5 * 1024).await.expect_err(url);
        assert!(e.to_string().contains("not a public address"), "{url}: {e}");
    }
    assert_eq!(client.hits(), 0, "nothing reached the stand-in");
}
