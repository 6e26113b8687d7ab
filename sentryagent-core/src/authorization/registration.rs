//! Pre-registered clients: what registering or changing one takes, and the
//! checks it passes before anything is stored.

use serde::Deserialize;

use super::{ClientAuthMethod, ClientKind, GrantType, OAuthClient, check_redirect_uri};
use crate::error::{Error, FieldError};
use crate::secret::random_bytes;

/// Prefix of the client id of every pre-registered client. Credentials'
/// client ids start with [`CLIENT_ID_PREFIX`](crate::secret::CLIENT_ID_PREFIX)
/// and metadata-document ones with `https://`, so the three never collide.
pub const OAUTH_CLIENT_ID_PREFIX: &str = "sa_oc_";

/// The most redirect URIs one client may register.
pub const MAX_REDIRECT_URIS: usize = 20;
/// The most OAuth clients one tenant holds (every kind), so registering
/// cannot grow the store without bound.
pub const MAX_OAUTH_CLIENTS_PER_TENANT: usize = 200;
/// The longest client name, in characters.
pub const MAX_CLIENT_NAME_CHARS: usize = 100;

/// A new client id: [`OAUTH_CLIENT_ID_PREFIX`] and 16 random bytes in hex.
pub fn generate_oauth_client_id() -> String {
    let mut id = String::with_capacity(OAUTH_CLIENT_ID_PREFIX.len() + 32);
    id.push_str(OAUTH_CLIENT_ID_PREFIX);
    for byte in random_bytes::<16>() {
        id.push_str(&format!("{byte:02x}"));
    }
    id
}

/// Which kind of client the tenant registers.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum RegisteredKind {
    /// With a secret, shown once.
    Confidential,
    /// Without a secret: PKCE only (a native or browser app).
    Public,
}

impl From<RegisteredKind> for ClientKind {
    fn from(kind: RegisteredKind) -> Self {
        match kind {
            RegisteredKind::Confidential => ClientKind::Confidential,
            RegisteredKind::Public => ClientKind::Public,
        }
    }
}

/// What registering a client takes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewOAuthClient {
    /// Confidential or public.
    pub kind: RegisteredKind,
    /// For a confidential client, `client_secret_basic` (the default) or
    /// `client_secret_post`; a public client's is always `none`.
    pub auth_method: Option<ClientAuthMethod>,
    /// Its redirect URIs (1 to [`MAX_REDIRECT_URIS`]), each passing
    /// [`check_redirect_uri`].
    pub redirect_uris: Vec<String>,
    /// The name shown on the consent page.
    pub name: Option<String>,
    /// Its logo, an `https` URL.
    pub logo_uri: Option<String>,
    /// Its home page, an `https` URL.
    pub client_uri: Option<String>,
}

/// The changes to a registered client; `None` leaves a field as it is, and
/// `Some(None)` clears an optional one.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct OAuthClientPatch {
    /// New redirect URIs, replacing the old ones.
    pub redirect_uris: Option<Vec<String>>,
    /// A new name, or none.
    pub name: Option<Option<String>>,
    /// A new logo, or none.
    pub logo_uri: Option<Option<String>>,
    /// A new home page, or none.
    pub client_uri: Option<Option<String>>,
}

impl NewOAuthClient {
    /// The client as stored, registered now in `tenant` under `client_id`
    /// (the fields every way of registering fills alike). Call it after
    /// [`check`](Self::check).
    pub(crate) fn into_client(
        self,
        tenant: crate::TenantId,
        client_id: String,
        kind: ClientKind,
        secret_hash: Option<Vec<u8>>,
        grant_types: Vec<GrantType>,
    ) -> OAuthClient {
        let now = crate::time::now();
        OAuthClient {
            tenant_id: tenant,
            client_id,
            kind,
            auth_method: self.effective_auth_method(),
            secret_hash,
            redirect_uris: self.redirect_uris,
            grant_types,
            name: self.name,
            logo_uri: self.logo_uri,
            client_uri: self.client_uri,
            created_at: now,
            updated_at: now,
            last_used_at: None,
            metadata_expires_at: None,
        }
    }

    /// The auth method it will have, once [`check`](Self::check) passed.
    pub fn effective_auth_method(&self) -> ClientAuthMethod {
        match self.kind {
            RegisteredKind::Public => ClientAuthMethod::None,
            RegisteredKind::Confidential => self.auth_method.unwrap_or(ClientAuthMethod::ClientSecretBasic),
        }
    }

    /// Every rule the new client breaks, each naming its field.
    ///
    /// # Errors
    /// A validation error listing them.
    pub fn check(&self) -> Result<(), Error> {
        let mut errors = Vec::new();
        match (self.kind, self.auth_method) {
            (RegisteredKind::Public, Some(m)) if m != ClientAuthMethod::None => errors.push(field(
                "tokenEndpointAuthMethod",
                "a public client authenticates with `none` (PKCE only)",
            )),
            (RegisteredKind::Confidential, Some(ClientAuthMethod::None)) => errors.push(field(
                "tokenEndpointAuthMethod",
                "a confidential client authenticates with client_secret_basic or client_secret_post",
            )),
            _ => {}
        }
        check_redirect_uris(&self.redirect_uris, &mut errors);
        check_name(self.name.as_deref(), &mut errors);
        check_https("logoUri", self.logo_uri.as_deref(), &mut errors);
        check_https("clientUri", self.client_uri.as_deref(), &mut errors);
        done(errors)
    }
}

impl OAuthClientPatch {
    /// Every rule the changes break, each naming its field.
    ///
    /// # Errors
    /// A validation error listing them.
    pub fn check(&self) -> Result<(), Error> {
        let mut errors = Vec::new();
        if let Some(uris) = &self.redirect_uris {
            check_redirect_uris(uris, &mut errors);
        }
        if let Some(name) = &self.name {
            check_name(name.as_deref(), &mut errors);
        }
        if let Some(uri) = &self.logo_uri {
            check_https("logoUri", uri.as_deref(), &mut errors);
        }
        if let Some(uri) = &self.client_uri {
            check_https("clientUri", uri.as_deref(), &mut errors);
        }
        done(errors)
    }
}

fn field(name: impl Into<String>, message: impl Into<String>) -> FieldError {
    FieldError {
        field: name.into(),
        message: message.into(),
    }
}

fn done(errors: Vec<FieldError>) -> Result<(), Error> {
    if errors.is_empty() {
        Ok(())
    } else {
        Err(Error::Validation(errors))
    }
}

fn check_redirect_uris(uris: &[String], errors: &mut Vec<FieldError>) {
    if uris.is_empty() {
        errors.push(field("redirectUris", "at least one redirect URI is required"));
        return;
    }
    if uris.len() > MAX_REDIRECT_URIS {
        errors.push(field(
            "redirectUris",
            format!("at most {MAX_REDIRECT_URIS} redirect URIs"),
        ));
        return;
    }
    for (i, uri) in uris.iter().enumerate() {
        if let Err(e) = check_redirect_uri(uri) {
            errors.push(field(format!("redirectUris[{i}]"), e.to_string()));
        } else if uris[..i].contains(uri) {
            errors.push(field(format!("redirectUris[{i}]"), "is listed twice"));
        }
    }
}

fn check_name(name: Option<&str>, errors: &mut Vec<FieldError>) {
    let Some(name) = name else { return };
    if name.trim().is_empty() || name.chars().count() > MAX_CLIENT_NAME_CHARS || name.chars().any(char::is_control) {
        errors.push(field(
            "clientName",
            format!("must be 1 to {MAX_CLIENT_NAME_CHARS} characters without control characters"),
        ));
    }
}

/// A logo or home page: shown to people on the consent page, so `https`
/// only, absolute, without credentials or a fragment.
fn check_https(name: &str, uri: Option<&str>, errors: &mut Vec<FieldError>) {
    let Some(uri) = uri else { return };
    let fine = uri.len() <= super::MAX_REDIRECT_URI_LEN
        && !uri.contains('#')
        && uri.strip_prefix("https://").is_some_and(|r| !r.starts_with('/'))
        && url::Url::parse(uri).is_ok_and(|u| u.username().is_empty() && u.password().is_none() && u.host().is_some());
    if !fine {
        errors.push(field(name, "must be an https URL without credentials or a fragment"));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn new(kind: RegisteredKind, uris: &[&str]) -> NewOAuthClient {
        NewOAuthClient {
            kind,
            auth_method: None,
            redirect_uris: uris.iter().map(|u| (*u).to_owned()).collect(),
            name: Some("Editor".into()),
            logo_uri: Some("https://editor.example/logo.png".into()),
            client_uri: None,
        }
    }

    fn fields(checked: Result<(), Error>) -> Vec<String> {
        match checked {
            Err(Error::Validation(list)) => list.into_iter().map(|f| f.field).collect(),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn ids_are_prefixed_apart_from_credentials() {
        let id = generate_oauth_client_id();
        assert!(id.starts_with(OAUTH_CLIENT_ID_PREFIX));
        assert!(!id.starts_with(crate::secret::CLIENT_ID_PREFIX));
        assert_ne!(id, generate_oauth_client_id());
    }

    #[test]
    fn good_clients_pass_and_methods_follow_the_kind() {
        let public = new(RegisteredKind::Public, &["http://127.0.0.1/callback", "cursor://cb"]);
        assert!(public.check().is_ok());
        assert_eq!(public.effective_auth_method(), ClientAuthMethod::None);
        let confidential = new(RegisteredKind::Confidential, &["https://app.example/cb"]);
        assert_eq!(
            confidential.effective_auth_method(),
            ClientAuthMethod::ClientSecretBasic
        );
        let bad = NewOAuthClient {
            auth_method: Some(ClientAuthMethod::None),
            ..confidential
        };
        assert_eq!(fields(bad.check()), ["tokenEndpointAuthMethod"]);
        let bad = NewOAuthClient {
            auth_method: Some(ClientAuthMethod::ClientSecretPost),
            ..public
        };
        assert_eq!(fields(bad.check()), ["tokenEndpointAuthMethod"]);
    }

    #[test]
    fn bad_redirects_and_links_are_named() {
        let c = new(
            RegisteredKind::Public,
            &[
                "javascript:alert(1)",
                "https://app.example/cb#x",
                "http://app.example/cb",
                "https://app.example/ok",
                "https://app.example/ok",
            ],
        );
        assert_eq!(
            fields(c.check()),
            [
                "redirectUris[0]",
                "redirectUris[1]",
                "redirectUris[2]",
                "redirectUris[4]"
            ]
        );
        assert_eq!(fields(new(RegisteredKind::Public, &[]).check()), ["redirectUris"]);
        let many: Vec<String> = (0..=MAX_REDIRECT_URIS)
            .map(|i| format!("https://a.example/{i}"))
            .collect();
        let many: Vec<&str> = many.iter().map(String::as_str).collect();
        assert_eq!(fields(new(RegisteredKind::Public, &many).check()), ["redirectUris"]);
        for logo in [
            "http://editor.example/logo.png",
            "javascript:alert(1)",
            "https://u:p@editor.example/l.png",
            "https:///l.png",
        ] {
            let c = NewOAuthClient {
                logo_uri: Some(logo.into()),
                name: Some("\u{7}".into()),
                ..new(RegisteredKind::Public, &["https://a.example/cb"])
            };
            assert_eq!(fields(c.check()), ["clientName", "logoUri"], "{logo}");
        }
        let patch = OAuthClientPatch {
            redirect_uris: Some(vec!["data:text/html,x".into()]),
            name: Some(None),
            ..Default::default()
        };
        assert_eq!(fields(patch.check()), ["redirectUris[0]"]);
    }
}
