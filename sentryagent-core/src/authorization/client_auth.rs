//! How a client of the authorization-code flow authenticates: as its
//! registration says (`client_secret_basic`, `client_secret_post`, or
//! `none` for a public client held to PKCE), checked in the tenant of the
//! code or token it presents, since one client id (a metadata document's
//! URL) may be known to several tenants.
//!
//! Stores it needs: `oauth_clients`.
//! Shared parts it uses: `server_key`.

use super::{ClientAuthMethod, OAuthClient};
use crate::error::StoreError;
use crate::token::{ClientAuth, PresentedClient};
use crate::{SentryAgent, TenantId};

impl SentryAgent {
    /// Authenticates `presented` as the client of that id in `tenant`: the
    /// client, or the reason it failed (for the audit event). An unknown
    /// client costs the same work as a known one with a secret.
    pub(crate) async fn authenticate_oauth_client(
        &self,
        tenant: TenantId,
        presented: &PresentedClient,
    ) -> Result<Result<OAuthClient, &'static str>, StoreError> {
        let key = &self.inner.server_key;
        let client = self
            .inner
            .stores
            .oauth_clients
            .oauth_client(tenant, presented.client_id())
            .await?;
        let Some(client) = client else {
            if let PresentedClient::Credentials(auth) = presented
                && let Some(secret) = auth.secret()
            {
                let _ = key.verify_secret(secret, &[0u8; 32]);
            }
            return Ok(Err("unknown_client"));
        };
        let refused = match (presented, client.auth_method) {
            (PresentedClient::Public { .. }, ClientAuthMethod::None) => None,
            (PresentedClient::Public { .. }, _) => Some("secret_missing"),
            (PresentedClient::Credentials(ClientAuth::Assertion { .. }), _) => Some("auth_method_not_registered"),
            (PresentedClient::Credentials(_), ClientAuthMethod::None) => Some("public_client_sent_secret"),
            (PresentedClient::Credentials(auth), method) => {
                let registered = matches!(
                    (auth, method),
                    (ClientAuth::Basic { .. }, ClientAuthMethod::ClientSecretBasic)
                        | (ClientAuth::Post { .. }, ClientAuthMethod::ClientSecretPost)
                );
                let hash = client.secret_hash.as_deref().unwrap_or(&[0u8; 32]);
                let matches = auth.secret().is_some_and(|s| key.verify_secret(s, hash));
                match (registered, matches) {
                    (true, true) => None,
                    (false, _) => Some("auth_method_not_registered"),
                    (true, false) => Some("invalid_secret"),
                }
            }
        };
        Ok(match refused {
            Some(reason) => Err(reason),
            None => Ok(client),
        })
    }
}
