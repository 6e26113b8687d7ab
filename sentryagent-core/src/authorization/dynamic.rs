//! Dynamic client registration (RFC 7591): the fallback for clients
//! without a metadata document. Off unless the host names the tenant the
//! clients belong to; the same rules as a tenant's own registrations
//! ([`NewOAuthClient::check`]); at most [`MAX_DYNAMIC_CLIENTS_PER_TENANT`],
//! counted apart from the tenant's registered clients so they cannot crowd
//! those out; unused ones are deleted by the background upkeep.
//!
//! Stores it needs: `oauth_clients`.
//! Shared parts it uses: `server_key`, `dynamic_registration`.

use std::net::IpAddr;

use serde_json::{Map, Value};

use super::registration::{NewOAuthClient, RegisteredKind, generate_oauth_client_id};
use super::{ClientAuthMethod, ClientKind, GrantType, OAuthClient};
use crate::audit::{NewAuditEvent, Outcome};
use crate::error::{Error, OAuthError, OAuthErrorCode};
use crate::secret::ClientSecret;
use crate::{SentryAgent, TenantId};

/// The most dynamically registered clients one tenant holds.
pub const MAX_DYNAMIC_CLIENTS_PER_TENANT: u64 = 1000;

/// What a client asks to be registered with: RFC 7591 §2 metadata, read
/// from its JSON. Members this server does not know are ignored, as the
/// RFC asks.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DynamicRegistration {
    /// `redirect_uris` (required).
    pub redirect_uris: Vec<String>,
    /// `token_endpoint_auth_method`: `none` (a public client),
    /// `client_secret_basic` (the default) or `client_secret_post`.
    pub token_endpoint_auth_method: Option<String>,
    /// `grant_types`: `authorization_code` (the default), and
    /// `refresh_token`.
    pub grant_types: Option<Vec<String>>,
    /// `response_types`: `code` only.
    pub response_types: Option<Vec<String>>,
    /// `client_name`.
    pub client_name: Option<String>,
    /// `logo_uri`, an `https` URL.
    pub logo_uri: Option<String>,
    /// `client_uri`, an `https` URL.
    pub client_uri: Option<String>,
}

/// Why a dynamic registration was refused.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RegistrationError {
    /// Dynamic registration is not enabled.
    #[error("dynamic client registration is not enabled")]
    Closed,
    /// A redirect URI is refused (`invalid_redirect_uri`).
    #[error("{0}")]
    InvalidRedirectUri(String),
    /// Another field is refused (`invalid_client_metadata`).
    #[error("{0}")]
    InvalidClientMetadata(String),
    /// The tenant holds [`MAX_DYNAMIC_CLIENTS_PER_TENANT`] already.
    #[error("no more clients can be registered dynamically")]
    Limit,
    /// A store or audit failure.
    #[error(transparent)]
    Internal(#[from] Error),
}

impl RegistrationError {
    /// The RFC 7591 §3.2.2 error of a refused field, if it is one.
    pub fn oauth_error(&self) -> Option<OAuthError> {
        match self {
            RegistrationError::InvalidRedirectUri(m) => {
                Some(OAuthError::new(OAuthErrorCode::InvalidRedirectUri, m.clone()))
            }
            RegistrationError::InvalidClientMetadata(m) => {
                Some(OAuthError::new(OAuthErrorCode::InvalidClientMetadata, m.clone()))
            }
            _ => None,
        }
    }
}

fn invalid(message: impl Into<String>) -> RegistrationError {
    RegistrationError::InvalidClientMetadata(message.into())
}

impl DynamicRegistration {
    /// Reads RFC 7591 metadata from a JSON object.
    ///
    /// # Errors
    /// `invalid_client_metadata` for a body that is not an object or a
    /// known member of the wrong type.
    pub fn from_json(body: &[u8]) -> Result<Self, RegistrationError> {
        let doc: Map<String, Value> =
            serde_json::from_slice(body).map_err(|_| invalid("the body must be a JSON object"))?;
        Ok(Self {
            redirect_uris: strings(&doc, "redirect_uris")?.unwrap_or_default(),
            token_endpoint_auth_method: string(&doc, "token_endpoint_auth_method")?,
            grant_types: strings(&doc, "grant_types")?,
            response_types: strings(&doc, "response_types")?,
            client_name: string(&doc, "client_name")?,
            logo_uri: string(&doc, "logo_uri")?,
            client_uri: string(&doc, "client_uri")?,
        })
    }

    /// The client's grants, its auth method and the registration it
    /// amounts to, every rule checked.
    fn check(self) -> Result<(NewOAuthClient, Vec<GrantType>), RegistrationError> {
        let method = match self.token_endpoint_auth_method.as_deref() {
            // RFC 7591 §2: the default.
            None => ClientAuthMethod::ClientSecretBasic,
            Some(m) => ClientAuthMethod::parse(m).ok_or_else(|| {
                invalid("token_endpoint_auth_method must be none, client_secret_basic or client_secret_post")
            })?,
        };
        let grant_types = match &self.grant_types {
            None => vec![GrantType::AuthorizationCode],
            Some(listed) => {
                let parsed: Option<Vec<GrantType>> = listed.iter().map(|g| GrantType::parse(g)).collect();
                match parsed {
                    Some(g) if g.contains(&GrantType::AuthorizationCode) => {
                        let mut g = g;
                        g.dedup();
                        g
                    }
                    _ => return Err(invalid("grant_types must be authorization_code, and refresh_token")),
                }
            }
        };
        if let Some(types) = &self.response_types
            && types.iter().any(|t| t != "code")
        {
            return Err(invalid("response_types must be code"));
        }
        let new = NewOAuthClient {
            kind: if method == ClientAuthMethod::None {
                RegisteredKind::Public
            } else {
                RegisteredKind::Confidential
            },
            auth_method: Some(method),
            redirect_uris: self.redirect_uris,
            name: self.client_name,
            logo_uri: self.logo_uri,
            client_uri: self.client_uri,
        };
        if let Err(Error::Validation(fields)) = new.check() {
            let first = fields.first().map(|f| (f.field.clone(), f.message.clone()));
            let (field, message) = first.unwrap_or_default();
            let rfc_name = match field.as_str() {
                "clientName" => "client_name".to_owned(),
                "logoUri" => "logo_uri".to_owned(),
                "clientUri" => "client_uri".to_owned(),
                f => f.replace("redirectUris", "redirect_uris"),
            };
            let message = format!("{rfc_name}: {message}");
            return Err(if field.starts_with("redirectUris") {
                RegistrationError::InvalidRedirectUri(message)
            } else {
                invalid(message)
            });
        }
        Ok((new, grant_types))
    }
}

fn string(doc: &Map<String, Value>, field: &str) -> Result<Option<String>, RegistrationError> {
    match doc.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(_) => Err(invalid(format!("{field} must be a string"))),
    }
}

fn strings(doc: &Map<String, Value>, field: &str) -> Result<Option<Vec<String>>, RegistrationError> {
    match doc.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Array(items)) => items
            .iter()
            .map(|v| v.as_str().map(str::to_owned))
            .collect::<Option<Vec<_>>>()
            .map(Some)
            .ok_or_else(|| invalid(format!("{field} must be an array of strings"))),
        Some(_) => Err(invalid(format!("{field} must be an array of strings"))),
    }
}

impl SentryAgent {
    /// Opens dynamic client registration into `tenant`, or closes it
    /// (`None`), from now on: for a host that creates the tenant after
    /// building (see
    /// [`SentryAgentBuilder::dynamic_client_registration`](crate::SentryAgentBuilder::dynamic_client_registration)).
    pub fn set_dynamic_client_registration(&self, tenant: Option<TenantId>) {
        *self
            .inner
            .dynamic_registration
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = tenant;
    }

    /// The tenant dynamically registered clients belong to; `None` while
    /// dynamic registration is closed.
    pub fn dynamic_client_registration(&self) -> Option<TenantId> {
        *self
            .inner
            .dynamic_registration
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Registers a client dynamically (RFC 7591) into the tenant dynamic
    /// registration is open for: a `none` client is public (PKCE only),
    /// the others get a secret, returned this once. Audited as
    /// `oauth_client.registered` in that tenant's chain; refusals as
    /// `oauth_client.registration_refused` (repeated ones counted).
    ///
    /// # Errors
    /// [`RegistrationError`].
    pub async fn register_dynamic_client(
        &self,
        registration: DynamicRegistration,
        ip: Option<IpAddr>,
    ) -> Result<(OAuthClient, Option<ClientSecret>), RegistrationError> {
        let tenant = self.dynamic_client_registration().ok_or(RegistrationError::Closed)?;
        let result = self.register_dynamic(tenant, registration, ip).await;
        let outcome = match &result {
            Ok(_) => "registered",
            Err(RegistrationError::Limit) => "limit",
            Err(RegistrationError::Internal(_) | RegistrationError::Closed) => "internal",
            Err(_) => "invalid",
        };
        crate::observe::record::dynamic_registration(outcome);
        if let Err(
            e @ (RegistrationError::InvalidRedirectUri(_)
            | RegistrationError::InvalidClientMetadata(_)
            | RegistrationError::Limit),
        ) = &result
        {
            let event = NewAuditEvent::new(
                "oauth_client.registration_refused",
                Outcome::Failure,
                "dynamic-registration",
            )
            .ip(ip)
            .detail("reason", e.to_string());
            let key = format!(
                "dynamic-registration:{}",
                ip.map(|ip| ip.to_string()).unwrap_or_default()
            );
            if let Err(err) = self.record_repeated(tenant, key, event).await {
                tracing::warn!(%tenant, error = %err, "a refused dynamic registration could not be audited");
            }
        }
        result
    }

    async fn register_dynamic(
        &self,
        tenant: TenantId,
        registration: DynamicRegistration,
        ip: Option<IpAddr>,
    ) -> Result<(OAuthClient, Option<ClientSecret>), RegistrationError> {
        let (new, grant_types) = registration.check()?;
        let store = &self.inner.stores.oauth_clients;
        if store
            .count_oauth_clients(tenant, ClientKind::Dynamic)
            .await
            .map_err(Error::from)?
            >= MAX_DYNAMIC_CLIENTS_PER_TENANT
        {
            return Err(RegistrationError::Limit);
        }
        let auth_method = new.effective_auth_method();
        let secret = (auth_method != ClientAuthMethod::None).then(ClientSecret::generate);
        let client = new.into_client(
            tenant,
            generate_oauth_client_id(),
            ClientKind::Dynamic,
            secret.as_ref().map(|s| self.inner.server_key.hash_secret(s).to_vec()),
            grant_types,
        );
        store.insert_oauth_client(&client).await.map_err(Error::from)?;
        let event = NewAuditEvent::new("oauth_client.registered", Outcome::Success, "dynamic-registration")
            .ip(ip)
            .detail("clientId", client.client_id.clone())
            .detail("tokenEndpointAuthMethod", auth_method.as_str());
        self.record(tenant, vec![event]).await?;
        Ok((client, secret))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn public() -> DynamicRegistration {
        DynamicRegistration {
            redirect_uris: vec!["http://127.0.0.1/cb".into()],
            token_endpoint_auth_method: Some("none".into()),
            ..Default::default()
        }
    }

    #[tokio::test]
    async fn closed_by_default_and_capped_apart_from_registered_clients() {
        let idp = SentryAgent::builder().build().await.expect("idp");
        let tenant = idp.create_tenant("Acme").await.expect("tenant").tenant.id;
        assert!(matches!(
            idp.register_dynamic_client(public(), None).await,
            Err(RegistrationError::Closed)
        ));
        let idp = SentryAgent::builder()
            .dynamic_client_registration(tenant)
            .build()
            .await
            .expect("idp");
        let (client, secret) = idp.register_dynamic_client(public(), None).await.expect("registered");
        assert_eq!(
            (client.kind, client.tenant_id, secret.is_none()),
            (ClientKind::Dynamic, tenant, true)
        );
        let store = &idp.inner.stores.oauth_clients;
        for _ in 1..MAX_DYNAMIC_CLIENTS_PER_TENANT {
            let c = OAuthClient {
                client_id: generate_oauth_client_id(),
                ..client.clone()
            };
            store.insert_oauth_client(&c).await.expect("insert");
        }
        assert!(matches!(
            idp.register_dynamic_client(public(), None).await,
            Err(RegistrationError::Limit)
        ));
        assert_eq!(
            store
                .count_oauth_clients(tenant, ClientKind::Public)
                .await
                .expect("count"),
            0,
            "the tenant's own registrations are counted apart"
        );
    }

    #[test]
    fn metadata_is_read_and_checked() {
        let read = |body: &str| DynamicRegistration::from_json(body.as_bytes());
        assert!(matches!(read("{"), Err(RegistrationError::InvalidClientMetadata(_))));
        assert!(matches!(
            read(r#"{"redirect_uris": [1]}"#),
            Err(RegistrationError::InvalidClientMetadata(_))
        ));
        let r = read(r#"{"redirect_uris": ["https://a.example/cb"], "jwks": {}}"#).expect("unknown members ignored");
        let (new, grants) = r.check().expect("valid");
        assert_eq!(new.effective_auth_method(), ClientAuthMethod::ClientSecretBasic);
        assert_eq!(grants, [GrantType::AuthorizationCode]);
        let bad = DynamicRegistration {
            redirect_uris: vec!["javascript:alert(1)".into()],
            ..public()
        };
        assert!(
            matches!(bad.check(), Err(RegistrationError::InvalidRedirectUri(m)) if m.starts_with("redirect_uris[0]"))
        );
    }
}
