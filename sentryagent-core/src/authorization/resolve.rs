//! Finding the client of an authorization request in the signed-in
//! person's tenant.
//!
//! Stores it needs: `oauth_clients`.
//! Shared parts it uses: none.

use super::OAuthClient;
use crate::error::Error;
use crate::{SentryAgent, TenantId};

impl SentryAgent {
    /// The client `client_id` names for a person of `tenant`: a client the
    /// tenant registered (or one already known by its metadata document or
    /// dynamic registration), from the store.
    ///
    /// # Errors
    /// 404 for a client the tenant does not have; a store error.
    pub(crate) async fn client_for_authorization(
        &self,
        tenant: TenantId,
        client_id: &str,
    ) -> Result<OAuthClient, Error> {
        if let Some(client) = self.inner.stores.oauth_clients.oauth_client(tenant, client_id).await? {
            return Ok(client);
        }
        // A URL-shaped id not in the store: the "clients" work fetches its metadata document here.
        Err(Error::NotFound("OAuth client"))
    }
}
