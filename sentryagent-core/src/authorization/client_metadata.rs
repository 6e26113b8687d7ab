//! Clients known by their Client ID Metadata Document: the stored copy
//! while its cache lifetime lasts, else a fetch through the host's
//! [`ClientMetadataFetcher`], checked by [`ClientMetadataDocument::parse`],
//! stored in the tenant, audited.
//!
//! Limits: fetches (never cache hits) count against
//! [`ClientMetadataHost`](RouteGroup::ClientMetadataHost) per host of the
//! URL and [`ClientMetadataTenant`](RouteGroup::ClientMetadataTenant) per
//! tenant; a tenant holds at most [`MAX_METADATA_DOCUMENT_CLIENTS_PER_TENANT`]
//! copies, apart from its registered clients' cap, and copies unused for
//! [`unused_dynamic_client_ttl`](crate::BackgroundSettings::unused_dynamic_client_ttl)
//! are pruned.
//!
//! A copy whose lifetime ended is fetched again; if that fails, the client
//! is refused (the stale copy is kept, but not used): a document its owner
//! withdrew or broke must not keep working from the cache.
//!
//! Stores it needs: `oauth_clients`.
//! Shared parts it uses: `settings`, `client_metadata_fetcher`, the rate limiter.

use std::time::Duration;

use super::fetch::{ClientMetadataFetcher, DocumentFetchError, metadata_cache_lifetime};
use super::metadata_document::{
    ClientMetadataDocument, MAX_METADATA_DOCUMENT_BYTES, MetadataDocumentError, check_client_id_url,
};
use super::{ClientKind, OAuthClient};
use crate::audit::{NewAuditEvent, Outcome};
use crate::error::{Error, OAuthError, OAuthErrorCode};
use crate::federation::FetchError;
use crate::ratelimit::RouteGroup;
use crate::{SentryAgent, TenantId};

/// The most clients known by their metadata document one tenant holds.
/// They are caches, counted apart from the tenant's registered clients so
/// they can never crowd those out.
pub const MAX_METADATA_DOCUMENT_CLIENTS_PER_TENANT: u64 = 1000;

/// Why a URL-shaped client id did not give a client.
/// [`oauth_error`](Self::oauth_error) is the OAuth error to show for it.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ClientMetadataError {
    /// The URL or its document breaks a rule.
    #[error(transparent)]
    Invalid(#[from] MetadataDocumentError),
    /// No [`ClientMetadataFetcher`] is configured.
    #[error("client metadata documents are not supported by this server")]
    NotSupported,
    /// The document could not be fetched: an address the fetcher may not
    /// reach, a redirect, a timeout, a status other than 200.
    #[error("the client metadata document could not be fetched")]
    Unreachable(#[source] FetchError),
    /// Too many fetches from this host or for this tenant.
    #[error("too many client metadata documents fetched; retry later")]
    RateLimited {
        /// When to retry.
        retry_after: Duration,
    },
    /// The tenant holds [`MAX_METADATA_DOCUMENT_CLIENTS_PER_TENANT`] already.
    #[error("the tenant holds too many clients known by their metadata document")]
    TooManyClients,
    /// A store or audit failure.
    #[error(transparent)]
    Internal(#[from] Error),
}

impl ClientMetadataError {
    /// The RFC 6749 error for the authorization endpoint's error page:
    /// `invalid_client` for a client id that gives no usable client,
    /// `temporarily_unavailable` when retrying later can succeed.
    pub fn oauth_error(&self) -> OAuthError {
        match self {
            ClientMetadataError::Invalid(e) => OAuthError::new(OAuthErrorCode::InvalidClient, e.to_string()),
            ClientMetadataError::Internal(Error::Store(s)) if s.kind() == crate::StoreErrorKind::Unavailable => {
                OAuthError::new(
                    OAuthErrorCode::TemporarilyUnavailable,
                    "the service is temporarily unavailable; retry later",
                )
            }
            ClientMetadataError::Internal(_) => {
                OAuthError::new(OAuthErrorCode::ServerError, "an unexpected error occurred")
            }
            ClientMetadataError::RateLimited { retry_after } => OAuthError {
                retry_after: Some(*retry_after),
                ..OAuthError::new(OAuthErrorCode::TemporarilyUnavailable, self.to_string())
            },
            ClientMetadataError::TooManyClients => {
                OAuthError::new(OAuthErrorCode::TemporarilyUnavailable, self.to_string())
            }
            ClientMetadataError::NotSupported | ClientMetadataError::Unreachable(_) => {
                OAuthError::new(OAuthErrorCode::InvalidClient, self.to_string())
            }
        }
    }

    /// The short reason audited and counted.
    fn reason(&self) -> &'static str {
        match self {
            ClientMetadataError::Invalid(MetadataDocumentError::TooLarge) => "too_large",
            ClientMetadataError::Invalid(MetadataDocumentError::NotJson) => "not_json",
            ClientMetadataError::Invalid(MetadataDocumentError::ClientIdMismatch) => "client_id_mismatch",
            ClientMetadataError::Invalid(_) => "invalid",
            ClientMetadataError::NotSupported => "not_supported",
            ClientMetadataError::Unreachable(_) => "unreachable",
            ClientMetadataError::RateLimited { .. } => "rate_limited",
            ClientMetadataError::TooManyClients => "too_many_clients",
            ClientMetadataError::Internal(_) => "internal",
        }
    }
}

impl SentryAgent {
    /// The client of `tenant` whose client id is the `https` URL of its
    /// metadata document: the stored copy while its cache lifetime lasts,
    /// else the document fetched, checked (its `client_id` equals the URL,
    /// its redirect URIs are registrable, it holds no secret, at most
    /// [`MAX_METADATA_DOCUMENT_BYTES`]) and stored as a
    /// [`ClientKind::MetadataDocument`] client. Each fetch is audited in the
    /// tenant's chain (`oauth_client.metadata_fetched`), and so is each
    /// refusal (`oauth_client.metadata_refused`, repeated ones counted).
    ///
    /// # Errors
    /// [`ClientMetadataError`]; its [`oauth_error`](ClientMetadataError::oauth_error)
    /// is what to show the person.
    pub async fn client_from_metadata_document(
        &self,
        tenant: TenantId,
        client_id_url: &str,
    ) -> Result<OAuthClient, ClientMetadataError> {
        let result = self.metadata_client(tenant, client_id_url).await;
        if let Err(e) = &result {
            crate::observe::record::client_metadata(e.reason());
            if !matches!(
                e,
                ClientMetadataError::Internal(_) | ClientMetadataError::RateLimited { .. }
            ) {
                self.audit_metadata_refusal(tenant, client_id_url, e).await;
            }
        }
        result
    }

    async fn metadata_client(&self, tenant: TenantId, client_id_url: &str) -> Result<OAuthClient, ClientMetadataError> {
        let allow_http = self.inner.settings.authorization.allow_http_loopback_client_metadata;
        let url = check_client_id_url(client_id_url, allow_http)?;
        let store = &self.inner.stores.oauth_clients;
        let now = crate::time::now();
        let stored = store
            .oauth_client(tenant, client_id_url)
            .await
            .map_err(Error::from)?
            .filter(|c| c.kind == ClientKind::MetadataDocument);
        if let Some(client) = &stored
            && client.metadata_expires_at.is_some_and(|at| at > now)
        {
            crate::observe::record::client_metadata("cached");
            return Ok(client.clone());
        }
        let fetcher = self
            .inner
            .client_metadata_fetcher
            .as_ref()
            .ok_or(ClientMetadataError::NotSupported)?;
        if stored.is_none()
            && store
                .count_oauth_clients(tenant, ClientKind::MetadataDocument)
                .await
                .map_err(Error::from)?
                >= MAX_METADATA_DOCUMENT_CLIENTS_PER_TENANT
        {
            return Err(ClientMetadataError::TooManyClients);
        }
        let host = url.host_str().unwrap_or_default().to_ascii_lowercase();
        for (group, key) in [
            (RouteGroup::ClientMetadataHost, host),
            (RouteGroup::ClientMetadataTenant, tenant.to_string()),
        ] {
            if let Some(d) = self.rate_limit(group, &key).await?
                && !d.allowed
            {
                return Err(ClientMetadataError::RateLimited {
                    retry_after: d.retry_after,
                });
            }
        }
        let fetched = fetch(fetcher.as_ref(), client_id_url).await?;
        let document = ClientMetadataDocument::parse(client_id_url, &fetched.body)?;
        let lifetime = metadata_cache_lifetime(fetched.max_age);
        let expires_at = now + lifetime;
        let client = store
            .put_oauth_client(&document.into_client(tenant, now, expires_at))
            .await
            .map_err(Error::from)?;
        crate::observe::record::client_metadata("fetched");
        let event = NewAuditEvent::new("oauth_client.metadata_fetched", Outcome::Success, client_id_url)
            .detail("clientId", client_id_url)
            .detail("refetched", stored.is_some())
            .detail("cacheSeconds", lifetime.as_secs());
        self.record(tenant, vec![event]).await?;
        Ok(client)
    }

    /// Audits a refusal; the URL is named only once it passed the URL
    /// rules (a made-up string is not worth the chain's space).
    async fn audit_metadata_refusal(&self, tenant: TenantId, client_id_url: &str, e: &ClientMetadataError) {
        let allow_http = self.inner.settings.authorization.allow_http_loopback_client_metadata;
        let url_ok = check_client_id_url(client_id_url, allow_http).is_ok();
        let actor = if url_ok { client_id_url } else { "unknown-client" };
        let mut event = NewAuditEvent::new("oauth_client.metadata_refused", Outcome::Failure, actor)
            .detail("reason", e.reason())
            .detail("message", e.to_string());
        if url_ok {
            event = event.detail("clientId", client_id_url);
        }
        let key = format!(
            "client-metadata:{}:{}",
            e.reason(),
            if url_ok { client_id_url } else { "" }
        );
        if let Err(err) = self.record_repeated(tenant, key, event).await {
            tracing::warn!(%tenant, error = %err, "a refused client metadata document could not be audited");
        }
    }
}

/// Fetches the document, a body past the limit refused as too large.
async fn fetch(
    fetcher: &dyn ClientMetadataFetcher,
    url: &str,
) -> Result<super::fetch::FetchedDocument, ClientMetadataError> {
    match fetcher.fetch_client_metadata(url, MAX_METADATA_DOCUMENT_BYTES).await {
        Ok(doc) if doc.body.len() > MAX_METADATA_DOCUMENT_BYTES => Err(MetadataDocumentError::TooLarge.into()),
        Ok(doc) => Ok(doc),
        Err(DocumentFetchError::TooLarge) => Err(MetadataDocumentError::TooLarge.into()),
        Err(DocumentFetchError::Failed(e)) => {
            tracing::info!(error = %e, "a client metadata document could not be fetched");
            Err(ClientMetadataError::Unreachable(e))
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::{Arc, Mutex};

    use async_trait::async_trait;
    use serde_json::json;

    use super::*;
    use crate::audit::AuditQuery;
    use crate::authorization::FetchedDocument;
    use crate::ratelimit::Quota;

    const URL: &str = "https://app.example.com/client.json";

    /// A served document (body, max-age), or a failure (`true`: too large).
    type Served = Result<(Vec<u8>, Option<Duration>), bool>;

    /// Serves documents from memory and counts fetches.
    #[derive(Default)]
    struct FakeFetcher {
        documents: Mutex<HashMap<String, Served>>,
        fetches: AtomicUsize,
    }

    impl FakeFetcher {
        fn serve(&self, url: &str, body: Vec<u8>, max_age: Option<Duration>) {
            let mut docs = self.documents.lock().unwrap_or_else(|e| e.into_inner());
            docs.insert(url.to_owned(), Ok((body, max_age)));
        }

        /// `too_large`: the fetcher's own size refusal; else unreachable.
        fn fail(&self, url: &str, too_large: bool) {
            let mut docs = self.documents.lock().unwrap_or_else(|e| e.into_inner());
            docs.insert(url.to_owned(), Err(too_large));
        }

        fn fetches(&self) -> usize {
            self.fetches.load(Ordering::SeqCst)
        }
    }

    #[async_trait]
    impl ClientMetadataFetcher for FakeFetcher {
        async fn fetch_client_metadata(&self, url: &str, _max: usize) -> Result<FetchedDocument, DocumentFetchError> {
            self.fetches.fetch_add(1, Ordering::SeqCst);
            let docs = self.documents.lock().unwrap_or_else(|e| e.into_inner());
            match docs.get(url) {
                Some(Ok((body, max_age))) => Ok(FetchedDocument {
                    body: body.clone(),
                    max_age: *max_age,
                }),
                Some(Err(true)) => Err(DocumentFetchError::TooLarge),
                _ => Err(FetchError::new("unreachable").into()),
            }
        }
    }

    fn document(url: &str) -> Vec<u8> {
        json!({"client_id": url, "client_name": "Editor", "redirect_uris": ["http://127.0.0.1/cb"]})
            .to_string()
            .into_bytes()
    }

    async fn setup(
        configure: impl FnOnce(crate::SentryAgentBuilder) -> crate::SentryAgentBuilder,
    ) -> (SentryAgent, TenantId, Arc<FakeFetcher>) {
        let fetcher = Arc::new(FakeFetcher::default());
        let idp = configure(SentryAgent::builder().client_metadata_fetcher(fetcher.clone()))
            .build()
            .await
            .expect("idp");
        let tenant = idp.create_tenant("Acme").await.expect("tenant").tenant.id;
        (idp, tenant, fetcher)
    }

    async fn actions(idp: &SentryAgent, tenant: TenantId, action: &str) -> Vec<crate::audit::AuditEvent> {
        let query = AuditQuery {
            action: Some(action.into()),
            limit: 100,
            ..Default::default()
        };
        idp.inner.stores.audit.query_audit(tenant, &query).await.expect("audit")
    }

    #[tokio::test]
    async fn a_document_is_fetched_once_then_served_from_the_store_until_it_expires() {
        let (idp, tenant, fetcher) = setup(|b| b).await;
        fetcher.serve(URL, document(URL), Some(Duration::from_secs(3600)));
        let client = idp.client_from_metadata_document(tenant, URL).await.expect("client");
        assert_eq!(
            (client.kind, client.name.as_deref(), client.tenant_id),
            (ClientKind::MetadataDocument, Some("Editor"), tenant)
        );
        let expires = client.metadata_expires_at.expect("expiry");
        let life = expires - crate::time::now();
        assert!(
            life > time::Duration::minutes(59) && life <= time::Duration::hours(1),
            "{life}"
        );
        let again = idp.client_from_metadata_document(tenant, URL).await.expect("cached");
        assert_eq!(again, client);
        assert_eq!(fetcher.fetches(), 1, "the second call made no fetch");
        let fetched = actions(&idp, tenant, "oauth_client.metadata_fetched").await;
        assert_eq!(fetched.len(), 1);
        assert_eq!(fetched[0].details["clientId"], URL);

        // Another tenant has its own copy.
        let other = idp.create_tenant("Globex").await.expect("tenant").tenant.id;
        idp.client_from_metadata_document(other, URL).await.expect("client");
        assert_eq!(fetcher.fetches(), 2);

        // Expired: fetched again, with its new content.
        let mut stale = client.clone();
        stale.metadata_expires_at = Some(crate::time::now() - time::Duration::seconds(1));
        idp.inner
            .stores
            .oauth_clients
            .put_oauth_client(&stale)
            .await
            .expect("put");
        let renamed =
            json!({"client_id": URL, "client_name": "Editor 2", "redirect_uris": ["http://127.0.0.1/cb"]}).to_string();
        fetcher.serve(URL, renamed.into_bytes(), Some(Duration::ZERO));
        let refetched = idp.client_from_metadata_document(tenant, URL).await.expect("refetched");
        assert_eq!(refetched.name.as_deref(), Some("Editor 2"));
        assert_eq!(refetched.created_at, client.created_at);
        let life = refetched.metadata_expires_at.expect("expiry") - crate::time::now();
        assert!(
            life > time::Duration::minutes(4),
            "no-store is kept the least time: {life}"
        );
        assert_eq!(fetcher.fetches(), 3);

        // Expired and unreachable: refused, the stale copy not used.
        idp.inner
            .stores
            .oauth_clients
            .put_oauth_client(&stale)
            .await
            .expect("put");
        fetcher.fail(URL, false);
        let e = idp
            .client_from_metadata_document(tenant, URL)
            .await
            .expect_err("refused");
        assert!(matches!(e, ClientMetadataError::Unreachable(_)), "{e:?}");
        assert_eq!(e.oauth_error().error, OAuthErrorCode::InvalidClient);
        let refused = actions(&idp, tenant, "oauth_client.metadata_refused").await;
        assert_eq!(refused[0].details["reason"], "unreachable");
    }

    #[tokio::test]
    async fn bad_documents_are_refused_and_audited() {
        let (idp, tenant, fetcher) = setup(|b| b).await;
        let cases: Vec<(&str, Option<Vec<u8>>, MetadataDocumentError)> = vec![
            (
                "https://app.example.com/big.json",
                None,
                MetadataDocumentError::TooLarge,
            ),
            (
                "https://app.example.com/huge.json",
                Some(vec![b' '; MAX_METADATA_DOCUMENT_BYTES + 1]),
                MetadataDocumentError::TooLarge,
            ),
            (
                "https://app.example.com/html",
                Some(b"<html>".to_vec()),
                MetadataDocumentError::NotJson,
            ),
            (
                "https://app.example.com/other.json",
                Some(document("https://evil.example/client.json")),
                MetadataDocumentError::ClientIdMismatch,
            ),
        ];
        for (url, body, why) in cases {
            match body {
                Some(body) => fetcher.serve(url, body, None),
                None => fetcher.fail(url, true),
            }
            match idp.client_from_metadata_document(tenant, url).await {
                Err(ClientMetadataError::Invalid(e)) => assert_eq!(e, why, "{url}"),
                other => panic!("{url}: {other:?}"),
            }
            assert_eq!(
                idp.inner
                    .stores
                    .oauth_clients
                    .oauth_client(tenant, url)
                    .await
                    .expect("get"),
                None,
                "nothing stored for {url}"
            );
        }
        // A URL that breaks the rules is refused before any fetch.
        let before = fetcher.fetches();
        for url in [
            "http://app.example.com/c.json",
            "https://app.example.com/",
            "https://a.example/c?x=1",
        ] {
            let e = idp.client_from_metadata_document(tenant, url).await.expect_err(url);
            assert!(matches!(e, ClientMetadataError::Invalid(_)), "{url}: {e:?}");
            assert_eq!(e.oauth_error().error, OAuthErrorCode::InvalidClient);
        }
        // Loopback http only under the test setting.
        let e = idp
            .client_from_metadata_document(tenant, "http://127.0.0.1:9/client.json")
            .await
            .expect_err("http");
        assert!(matches!(
            e,
            ClientMetadataError::Invalid(MetadataDocumentError::NotHttps)
        ));
        assert_eq!(fetcher.fetches(), before);
        let refused = actions(&idp, tenant, "oauth_client.metadata_refused").await;
        let reasons: Vec<_> = refused.iter().map(|e| e.details["reason"].clone()).collect();
        for reason in ["too_large", "not_json", "client_id_mismatch", "invalid"] {
            assert!(reasons.iter().any(|r| r == reason), "{reason} in {reasons:?}");
        }
        assert!(
            refused.iter().all(|e| !e.actor.contains("?x=1")),
            "an invalid URL is not written to the chain"
        );

        // Without a fetcher, URL-shaped client ids are not supported.
        let bare = SentryAgent::builder().build().await.expect("idp");
        let t = bare.create_tenant("Acme").await.expect("tenant").tenant.id;
        let e = bare
            .client_from_metadata_document(t, URL)
            .await
            .expect_err("no fetcher");
        assert!(matches!(e, ClientMetadataError::NotSupported));
    }

    #[tokio::test]
    async fn fetches_are_limited_per_host_and_per_tenant_and_copies_capped() {
        let quota = |q: &str| q.parse::<Quota>().expect("quota");
        let (idp, tenant, fetcher) = setup(|b| {
            b.rate_limit(RouteGroup::ClientMetadataHost, quota("2/60s"))
                .rate_limit(RouteGroup::ClientMetadataTenant, quota("3/60s"))
        })
        .await;
        for i in 0..3 {
            let url = format!("https://a.example/{i}.json");
            fetcher.serve(&url, document(&url), None);
        }
        idp.client_from_metadata_document(tenant, "https://a.example/0.json")
            .await
            .expect("first");
        idp.client_from_metadata_document(tenant, "https://a.example/1.json")
            .await
            .expect("second");
        // Cached ones cost nothing.
        idp.client_from_metadata_document(tenant, "https://a.example/0.json")
            .await
            .expect("cached");
        let e = idp
            .client_from_metadata_document(tenant, "https://A.example/2.json")
            .await
            .expect_err("the host's budget is spent");
        let ClientMetadataError::RateLimited { retry_after } = e else {
            panic!("{e:?}")
        };
        assert!(retry_after > Duration::ZERO);
        assert_eq!(fetcher.fetches(), 2, "a refused fetch is not made");
        let oauth = ClientMetadataError::RateLimited { retry_after }.oauth_error();
        assert_eq!(oauth.error, OAuthErrorCode::TemporarilyUnavailable);
        assert!(oauth.retry_after.is_some());

        // Another host still has budget; the tenant's is spent after it.
        let b = "https://b.example/client.json";
        fetcher.serve(b, document(b), None);
        idp.client_from_metadata_document(tenant, b)
            .await
            .expect("another host");
        let c = "https://c.example/client.json";
        fetcher.serve(c, document(c), None);
        assert!(matches!(
            idp.client_from_metadata_document(tenant, c).await,
            Err(ClientMetadataError::RateLimited { .. })
        ));

        // The cap on copies per tenant: a new one refused, a known one served.
        let (idp, tenant, fetcher) = setup(|b| b).await;
        fetcher.serve(URL, document(URL), None);
        idp.client_from_metadata_document(tenant, URL).await.expect("first");
        let now = crate::time::now();
        let store = &idp.inner.stores.oauth_clients;
        for i in 1..MAX_METADATA_DOCUMENT_CLIENTS_PER_TENANT {
            let url = format!("https://d.example/{i}.json");
            let doc = ClientMetadataDocument::parse(&url, &document(&url)).expect("doc");
            store
                .insert_oauth_client(&doc.into_client(tenant, now, now + time::Duration::hours(1)))
                .await
                .expect("insert");
        }
        let new = "https://e.example/client.json";
        fetcher.serve(new, document(new), None);
        let e = idp
            .client_from_metadata_document(tenant, new)
            .await
            .expect_err("capped");
        assert!(matches!(e, ClientMetadataError::TooManyClients), "{e:?}");
        idp.client_from_metadata_document(tenant, URL)
            .await
            .expect("a known one still works");
        // The tenant's own registrations are not crowded out.
        let registered = crate::authorization::NewOAuthClient {
            kind: crate::authorization::RegisteredKind::Public,
            auth_method: None,
            redirect_uris: vec!["http://127.0.0.1/cb".into()],
            name: None,
            logo_uri: None,
            client_uri: None,
        };
        let created = idp.create_tenant("Initech").await.expect("tenant");
        let t = created.tenant.id;
        for i in 0..MAX_METADATA_DOCUMENT_CLIENTS_PER_TENANT {
            let url = format!("https://d.example/{i}.json");
            let doc = ClientMetadataDocument::parse(&url, &document(&url)).expect("doc");
            store
                .insert_oauth_client(&doc.into_client(t, now, now + time::Duration::hours(1)))
                .await
                .expect("insert");
        }
        let body = format!(
            "grant_type=client_credentials&client_id={}&client_secret={}",
            created.admin_client_id,
            created.admin_client_secret.expose()
        );
        let request = crate::token::TokenRequest::parse(None, body.as_bytes()).expect("request");
        let token = idp.issue_token(request, None).await.expect("token").access_token;
        let identity = idp.verify_access_token(&token, None).await.expect("identity");
        let admin = crate::Caller { identity, ip: None };
        idp.register_oauth_client(&admin, registered).await.expect("registered");
    }
}
