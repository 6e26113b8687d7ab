//! The tenant's OAuth clients (of the authorization-code flow) and the
//! consents its people gave them.

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::client::{Call, Client, Secret};
use crate::error::Error;
use crate::ops;
use crate::page::Page;

/// A client of the authorization-code flow; never its secret.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OAuthClient {
    /// `sa_oc_…`, or a metadata document's URL.
    pub client_id: String,
    /// `confidential`, `public`, `metadata_document` or `dynamic`.
    pub kind: String,
    /// `client_secret_basic`, `client_secret_post` or `none`.
    pub token_endpoint_auth_method: String,
    /// Its redirect URIs.
    pub redirect_uris: Vec<String>,
    /// The grants it may use.
    pub grant_types: Vec<String>,
    /// Shown on the consent page.
    #[serde(default)]
    pub client_name: Option<String>,
    /// Its logo.
    #[serde(default)]
    pub logo_uri: Option<String>,
    /// Its home page.
    #[serde(default)]
    pub client_uri: Option<String>,
    /// When it became known.
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    /// When it last changed.
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
    /// When it last started a flow.
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub last_used_at: Option<OffsetDateTime>,
}

/// A registered client, with a confidential client's secret (shown once).
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RegisteredOAuthClient {
    /// The client.
    #[serde(flatten)]
    pub client: OAuthClient,
    /// A confidential client's secret; `None` for a public one.
    #[serde(default)]
    pub client_secret: Option<Secret>,
}

/// What registering a client takes.
#[derive(Clone, Debug, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct NewOAuthClient {
    /// `confidential` or `public`.
    pub kind: String,
    /// `client_secret_basic` (default) or `client_secret_post`; `none` for public.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub token_endpoint_auth_method: Option<String>,
    /// Its redirect URIs.
    pub redirect_uris: Vec<String>,
    /// Shown on the consent page.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_name: Option<String>,
    /// An `https` logo URL.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub logo_uri: Option<String>,
    /// An `https` home page URL.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_uri: Option<String>,
}

/// Changes to a registered client: `None` keeps a field, `Some(None)`
/// clears the name, logo or home page.
#[derive(Clone, Debug, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct OAuthClientUpdate {
    /// Replaces every redirect URI.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub redirect_uris: Option<Vec<String>>,
    /// A new name, or none.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_name: Option<Option<String>>,
    /// A new logo, or none.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub logo_uri: Option<Option<String>>,
    /// A new home page, or none.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_uri: Option<Option<String>>,
}

/// A person's remembered consent to a client for scopes of a resource.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Consent {
    /// Its id.
    pub consent_id: String,
    /// The host's user id.
    pub user_id: String,
    /// The client.
    pub client_id: String,
    /// The resource.
    pub resource: String,
    /// The scopes.
    pub scopes: Vec<String>,
    /// When first given.
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    /// When the scopes last changed.
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
}

/// What withdrawing a person's consents ended.
#[derive(Clone, Copy, Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UserConsentsRevoked {
    /// Consents withdrawn.
    pub consents_revoked: u64,
    /// Grants revoked, with their tokens.
    pub grants_revoked: u64,
}

impl Client {
    /// Registers an OAuth client (`oauth-clients:write`).
    ///
    /// # Errors
    /// `VALIDATION_ERROR` naming each bad field, …
    pub async fn register_oauth_client(&self, client: &NewOAuthClient) -> Result<RegisteredOAuthClient, Error> {
        self.json(Call::new(ops::REGISTER_OAUTH_CLIENT).json(client)?).await
    }

    /// One page of the tenant's OAuth clients.
    ///
    /// # Errors
    /// The server's refusal, or no answer.
    pub async fn list_oauth_clients(
        &self,
        limit: Option<u8>,
        cursor: Option<&str>,
    ) -> Result<Page<OAuthClient>, Error> {
        let call = Call::new(ops::LIST_OAUTH_CLIENTS)
            .query("limit", limit)
            .query("cursor", cursor);
        self.json(call).await
    }

    /// One OAuth client.
    ///
    /// # Errors
    /// `NOT_FOUND`, …
    pub async fn oauth_client(&self, client_id: &str) -> Result<OAuthClient, Error> {
        self.json(Call::new(ops::GET_OAUTH_CLIENT).param(client_id)).await
    }

    /// Changes a pre-registered OAuth client.
    ///
    /// # Errors
    /// `VALIDATION_ERROR`, `FORBIDDEN` (not pre-registered), `NOT_FOUND`, …
    pub async fn update_oauth_client(&self, client_id: &str, update: &OAuthClientUpdate) -> Result<OAuthClient, Error> {
        self.json(Call::new(ops::UPDATE_OAUTH_CLIENT).param(client_id).json(update)?)
            .await
    }

    /// Deletes an OAuth client and revokes its grants; the answer is the
    /// client as it was.
    ///
    /// # Errors
    /// `NOT_FOUND`, …
    pub async fn delete_oauth_client(&self, client_id: &str) -> Result<OAuthClient, Error> {
        self.json(Call::new(ops::DELETE_OAUTH_CLIENT).param(client_id)).await
    }

    /// One page of the tenant's consents, of one user and/or client (`admin`).
    ///
    /// # Errors
    /// The server's refusal, or no answer.
    pub async fn list_consents(
        &self,
        user_id: Option<&str>,
        client_id: Option<&str>,
        limit: Option<u8>,
        cursor: Option<&str>,
    ) -> Result<Page<Consent>, Error> {
        let call = Call::new(ops::LIST_CONSENTS)
            .query("userId", user_id)
            .query("clientId", client_id)
            .query("limit", limit)
            .query("cursor", cursor);
        self.json(call).await
    }

    /// Withdraws one consent and revokes that user's grants to that client (`admin`).
    ///
    /// # Errors
    /// `NOT_FOUND`, …
    pub async fn revoke_consent(&self, consent_id: &str) -> Result<Consent, Error> {
        self.json(Call::new(ops::REVOKE_CONSENT).param(consent_id)).await
    }

    /// Withdraws every consent of one user and revokes all their grants (`admin`).
    ///
    /// # Errors
    /// The server's refusal, or no answer.
    pub async fn revoke_user_consents(&self, user_id: &str) -> Result<UserConsentsRevoked, Error> {
        self.json(Call::new(ops::REVOKE_USER_CONSENTS).param(user_id)).await
    }
}
