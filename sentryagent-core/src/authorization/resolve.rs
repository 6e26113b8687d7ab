//! Finding the client of an authorization request in the signed-in
//! person's tenant: a client the tenant registered (or that registered
//! itself dynamically), from the store; a client id that is an `https` URL
//! by its metadata document, fetched or from its cached copy.
//!
//! Stores it needs: `oauth_clients`.
//! Shared parts it uses: none.

use super::{ClientMetadataError, OAuthClient, metadata_document};
use crate::error::Error;
use crate::{SentryAgent, TenantId};

/// Why an authorization request has no usable client.
#[derive(Debug)]
pub(crate) enum ClientLookupError {
    /// The tenant has no such client.
    Unknown,
    /// The client id is a URL whose metadata document gave no client.
    Metadata(ClientMetadataError),
    /// The store failed.
    Store(Error),
}

impl SentryAgent {
    /// The client `client_id` names for a person of `tenant`.
    ///
    /// A URL-shaped id always goes through
    /// [`client_from_metadata_document`](Self::client_from_metadata_document),
    /// which answers from the cached copy while it is fresh, so a stale copy
    /// in the store is never used as it is.
    pub(crate) async fn client_for_authorization(
        &self,
        tenant: TenantId,
        client_id: &str,
    ) -> Result<OAuthClient, ClientLookupError> {
        if metadata_document::is_metadata_document_client_id(client_id) {
            return self
                .client_from_metadata_document(tenant, client_id)
                .await
                .map_err(ClientLookupError::Metadata);
        }
        match self.inner.stores.oauth_clients.oauth_client(tenant, client_id).await {
            Ok(Some(client)) => Ok(client),
            Ok(None) => Err(ClientLookupError::Unknown),
            Err(e) => Err(ClientLookupError::Store(e.into())),
        }
    }
}
