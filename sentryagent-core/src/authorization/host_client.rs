//! A public client the host registers itself, under an id it chooses: for a
//! deployment (or a CI script) that needs a client whose id it knows
//! before the server starts.
//!
//! Stores it needs: `oauth_clients`.
//! Shared parts it uses: none.

use super::registration::{NewOAuthClient, OAUTH_CLIENT_ID_PREFIX, RegisteredKind};
use super::{ClientKind, GrantType, OAuthClient};
use crate::audit::{NewAuditEvent, Outcome};
use crate::error::Error;
use crate::{SentryAgent, TenantId};

/// The longest id a host may choose.
const MAX_HOST_CLIENT_ID_LEN: usize = 64;

impl SentryAgent {
    /// Creates, or replaces, the public client `client_id` of `tenant`
    /// (the id starts with `sa_oc_`, then letters, digits, `_` or `-`).
    /// Public only: a confidential client's secret is made by
    /// [`register_oauth_client`](Self::register_oauth_client). Audited as
    /// `oauth_client.created` by `host`.
    ///
    /// # Errors
    /// A validation error for a bad id, a confidential kind or bad fields;
    /// a store error.
    pub async fn put_public_oauth_client(
        &self,
        tenant: TenantId,
        client_id: &str,
        new: NewOAuthClient,
    ) -> Result<OAuthClient, Error> {
        let well_formed = client_id.len() <= MAX_HOST_CLIENT_ID_LEN
            && client_id.strip_prefix(OAUTH_CLIENT_ID_PREFIX).is_some_and(|rest| {
                !rest.is_empty()
                    && rest
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
            });
        if !well_formed {
            return Err(Error::invalid(
                "clientId",
                format!(
                    "must be {OAUTH_CLIENT_ID_PREFIX} then letters, digits, _ or -, at most {MAX_HOST_CLIENT_ID_LEN} bytes"
                ),
            ));
        }
        if new.kind != RegisteredKind::Public {
            return Err(Error::invalid(
                "kind",
                "only a public client has an id the host chooses",
            ));
        }
        new.check()?;
        let client = new.into_client(
            tenant,
            client_id.to_owned(),
            ClientKind::Public,
            None,
            vec![GrantType::AuthorizationCode, GrantType::RefreshToken],
        );
        let client = self.inner.stores.oauth_clients.put_oauth_client(&client).await?;
        let event = NewAuditEvent::new("oauth_client.created", Outcome::Success, "host")
            .detail("clientId", client.client_id.as_str())
            .detail("kind", "public");
        self.record(tenant, vec![event]).await?;
        Ok(client)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_host_puts_a_public_client_under_its_own_id() {
        let idp = SentryAgent::builder().build().await.expect("idp");
        let tenant = idp.create_tenant("Acme").await.expect("tenant").tenant.id;
        let new = NewOAuthClient {
            kind: RegisteredKind::Public,
            auth_method: None,
            redirect_uris: vec!["http://127.0.0.1/callback".into()],
            name: Some("Demo".into()),
            logo_uri: None,
            client_uri: None,
        };
        for _ in 0..2 {
            let put = idp
                .put_public_oauth_client(tenant, "sa_oc_demo", new.clone())
                .await
                .expect("put");
            assert_eq!(put.client_id, "sa_oc_demo");
        }
        for bad in ["demo", "sa_oc_", "sa_oc_a b", "sa_oc_<x>"] {
            assert!(
                idp.put_public_oauth_client(tenant, bad, new.clone()).await.is_err(),
                "{bad}"
            );
        }
        let confidential = NewOAuthClient {
            kind: RegisteredKind::Confidential,
            ..new
        };
        assert!(
            idp.put_public_oauth_client(tenant, "sa_oc_c", confidential)
                .await
                .is_err()
        );
    }
}
