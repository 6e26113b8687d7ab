//! Client ID Metadata Documents (draft-ietf-oauth-client-id-metadata-document):
//! a client whose `client_id` is an `https` URL, at which it publishes its
//! metadata as JSON. These are the rules for the URL and for the document
//! fetched from it; fetching (through the guarded fetcher, with its
//! address rules, timeout and cache headers) is the caller's.
//!
//! The document's `client_id` must equal the URL it was fetched from,
//! character for character: that binds the client's identity to whoever
//! controls the URL. Shared secrets make no sense in a public document, so
//! `client_secret` and the `client_secret_*` methods are refused; a client
//! authenticates with `none` (PKCE).

use serde_json::{Map, Value};
use time::OffsetDateTime;

use super::model::{ClientAuthMethod, ClientKind, GrantType, OAuthClient};
use super::redirect::{RedirectUriError, check_redirect_uri};
// The same bounds as a pre-registered client's: the consent page shows both alike.
use super::registration::{MAX_CLIENT_NAME_CHARS, MAX_REDIRECT_URIS};
use crate::TenantId;

/// The largest document accepted, in bytes: the draft's advice (5 KB) for
/// what authorization servers should be prepared to read. A fetcher stops
/// reading past it.
pub const MAX_METADATA_DOCUMENT_BYTES: usize = 5 * 1024;
/// The longest client id URL accepted.
pub const MAX_CLIENT_ID_URL_LEN: usize = 1024;

/// Why a client id URL or its document was refused. Each names the rule,
/// never the attacker-chosen value, so it is safe to log and to show.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum MetadataDocumentError {
    /// The client id is not an `https` URL (or loopback `http` where a test
    /// setting allows it).
    #[error("the client id is not an https URL")]
    NotHttps,
    /// Not a URL with a host, or too long.
    #[error("the client id is not a valid URL")]
    MalformedUrl,
    /// Without a path beyond `/`.
    #[error("the client id URL must have a path")]
    NoPath,
    /// A `.` or `..` path segment.
    #[error("the client id URL must not have dot segments")]
    DotSegment,
    /// A fragment.
    #[error("the client id URL must not have a fragment")]
    Fragment,
    /// A user name or password.
    #[error("the client id URL must not carry credentials")]
    Credentials,
    /// A query string (the draft says it should not have one; refusing it
    /// keeps one client from appearing under many ids).
    #[error("the client id URL must not have a query")]
    Query,
    /// More than [`MAX_METADATA_DOCUMENT_BYTES`].
    #[error("the client metadata document is too large")]
    TooLarge,
    /// Not a JSON object.
    #[error("the client metadata document is not a JSON object")]
    NotJson,
    /// Its `client_id` is missing or differs from the URL.
    #[error("the client metadata document's client_id differs from its URL")]
    ClientIdMismatch,
    /// It holds `client_secret` or `client_secret_expires_at`.
    #[error("a client metadata document must not hold a client secret")]
    SecretPresent,
    /// A `token_endpoint_auth_method` other than `none`.
    #[error("unsupported token_endpoint_auth_method for a client metadata document")]
    UnsupportedAuthMethod,
    /// No `redirect_uris`, too many, or one that may not be registered.
    #[error("invalid redirect_uris")]
    RedirectUris(Option<RedirectUriError>),
    /// `grant_types` without `authorization_code`, or `response_types`
    /// without `code`.
    #[error("the client metadata document does not use the authorization code flow")]
    NoCodeFlow,
    /// A field of the wrong type or an invalid value.
    #[error("invalid client metadata field `{0}`")]
    Field(&'static str),
}

/// Whether a client id names a metadata document (and is then checked
/// with [`check_client_id_url`]) rather than a registered client.
pub fn is_metadata_document_client_id(client_id: &str) -> bool {
    client_id.starts_with("https://") || client_id.starts_with("http://")
}

/// Checks a client id URL before anything is fetched: `https`, a host, a
/// path beyond `/`, no dot segments, fragment, credentials or query.
/// `allow_loopback_http` (a test setting only) also admits
/// `http://127.0.0.1` and `http://localhost`; the fetcher's address rules
/// still apply either way.
///
/// # Errors
/// The first rule it breaks.
pub fn check_client_id_url(client_id: &str, allow_loopback_http: bool) -> Result<url::Url, MetadataDocumentError> {
    use MetadataDocumentError as E;
    if client_id.len() > MAX_CLIENT_ID_URL_LEN || client_id.chars().any(|c| c.is_ascii_control() || c == ' ') {
        return Err(E::MalformedUrl);
    }
    let rest = if let Some(rest) = client_id.strip_prefix("https://") {
        rest
    } else if let Some(rest) = client_id.strip_prefix("http://").filter(|_| allow_loopback_http) {
        if !(rest.starts_with("127.0.0.1") || rest.starts_with("localhost")) {
            return Err(E::NotHttps);
        }
        rest
    } else {
        return Err(E::NotHttps);
    };
    if client_id.contains('#') {
        return Err(E::Fragment);
    }
    let url = url::Url::parse(client_id).map_err(|_| E::MalformedUrl)?;
    if rest.starts_with('/') || url.host_str().is_none_or(str::is_empty) {
        return Err(E::MalformedUrl);
    }
    if url.scheme() == "http" && !matches!(url.host_str(), Some("127.0.0.1" | "localhost")) {
        return Err(E::NotHttps);
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(E::Credentials);
    }
    if client_id.contains('?') {
        return Err(E::Query);
    }
    // The path as written: the parser would have resolved dot segments away.
    let path = rest.find('/').map_or("", |i| &rest[i..]);
    if path.len() <= 1 {
        return Err(E::NoPath);
    }
    let dot = |segment: &str| {
        let s = segment.to_ascii_lowercase().replace("%2e", ".");
        s == "." || s == ".."
    };
    if path.split('/').any(dot) {
        return Err(E::DotSegment);
    }
    Ok(url)
}

/// A validated Client ID Metadata Document: what the consent page shows and
/// the flow needs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClientMetadataDocument {
    /// The client id: the document's URL.
    pub client_id: String,
    /// Its redirect URIs, each one registrable.
    pub redirect_uris: Vec<String>,
    /// The grants of this flow it uses (`authorization_code`, and
    /// `refresh_token` if it listed it); others it lists are ignored.
    pub grant_types: Vec<GrantType>,
    /// `client_name`.
    pub name: Option<String>,
    /// `logo_uri`, an `https` URL.
    pub logo_uri: Option<String>,
    /// `client_uri`, an `https` URL.
    pub client_uri: Option<String>,
}

impl ClientMetadataDocument {
    /// Validates the document fetched from `url` (already checked with
    /// [`check_client_id_url`]).
    ///
    /// # Errors
    /// The first rule it breaks.
    pub fn parse(url: &str, body: &[u8]) -> Result<Self, MetadataDocumentError> {
        use MetadataDocumentError as E;
        if body.len() > MAX_METADATA_DOCUMENT_BYTES {
            return Err(E::TooLarge);
        }
        let doc: Map<String, Value> = serde_json::from_slice(body).map_err(|_| E::NotJson)?;
        if doc.get("client_id").and_then(Value::as_str) != Some(url) {
            return Err(E::ClientIdMismatch);
        }
        if doc.contains_key("client_secret") || doc.contains_key("client_secret_expires_at") {
            return Err(E::SecretPresent);
        }
        match doc.get("token_endpoint_auth_method") {
            None => {}
            Some(Value::String(m)) if m == "none" => {}
            Some(Value::String(_)) => return Err(E::UnsupportedAuthMethod),
            Some(_) => return Err(E::Field("token_endpoint_auth_method")),
        }
        let redirect_uris = strings(&doc, "redirect_uris")?.ok_or(E::RedirectUris(None))?;
        if redirect_uris.is_empty() || redirect_uris.len() > MAX_REDIRECT_URIS {
            return Err(E::RedirectUris(None));
        }
        for uri in &redirect_uris {
            check_redirect_uri(uri).map_err(|e| E::RedirectUris(Some(e)))?;
        }
        let grant_types = match strings(&doc, "grant_types")? {
            // RFC 7591 §2: the default is `authorization_code`.
            None => vec![GrantType::AuthorizationCode],
            Some(listed) => {
                let ours: Vec<GrantType> = [GrantType::AuthorizationCode, GrantType::RefreshToken]
                    .into_iter()
                    .filter(|g| listed.iter().any(|l| l == g.as_str()))
                    .collect();
                if !ours.contains(&GrantType::AuthorizationCode) {
                    return Err(E::NoCodeFlow);
                }
                ours
            }
        };
        if let Some(types) = strings(&doc, "response_types")?
            && !types.iter().any(|t| t == "code")
        {
            return Err(E::NoCodeFlow);
        }
        let name = match doc.get("client_name") {
            None | Some(Value::Null) => None,
            Some(Value::String(n))
                if n.chars().count() <= MAX_CLIENT_NAME_CHARS && !n.chars().any(char::is_control) =>
            {
                Some(n.trim().to_owned()).filter(|n| !n.is_empty())
            }
            Some(_) => return Err(E::Field("client_name")),
        };
        Ok(Self {
            client_id: url.to_owned(),
            redirect_uris,
            grant_types,
            name,
            logo_uri: https_url(&doc, "logo_uri")?,
            client_uri: https_url(&doc, "client_uri")?,
        })
    }

    /// The client record for `tenant`, usable until `metadata_expires_at`
    /// (from the response's cache headers) before it is fetched again.
    pub fn into_client(
        self,
        tenant: TenantId,
        now: OffsetDateTime,
        metadata_expires_at: OffsetDateTime,
    ) -> OAuthClient {
        OAuthClient {
            tenant_id: tenant,
            client_id: self.client_id,
            kind: ClientKind::MetadataDocument,
            auth_method: ClientAuthMethod::None,
            secret_hash: None,
            redirect_uris: self.redirect_uris,
            grant_types: self.grant_types,
            name: self.name,
            logo_uri: self.logo_uri,
            client_uri: self.client_uri,
            created_at: now,
            updated_at: now,
            last_used_at: None,
            metadata_expires_at: Some(metadata_expires_at),
        }
    }
}

/// An optional array of strings.
fn strings(doc: &Map<String, Value>, field: &'static str) -> Result<Option<Vec<String>>, MetadataDocumentError> {
    match doc.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Array(items)) => items
            .iter()
            .map(|v| v.as_str().map(str::to_owned).ok_or(MetadataDocumentError::Field(field)))
            .collect::<Result<Vec<_>, _>>()
            .map(Some),
        Some(_) => Err(MetadataDocumentError::Field(field)),
    }
}

/// An optional `https` URL shown to people (a logo, a home page).
fn https_url(doc: &Map<String, Value>, field: &'static str) -> Result<Option<String>, MetadataDocumentError> {
    match doc.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s))
            if s.len() <= MAX_CLIENT_ID_URL_LEN
                && s.starts_with("https://")
                && url::Url::parse(s).is_ok_and(|u| u.host_str().is_some_and(|h| !h.is_empty())) =>
        {
            Ok(Some(s.clone()))
        }
        Some(_) => Err(MetadataDocumentError::Field(field)),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    const URL: &str = "https://app.example.com/oauth/client.json";

    fn doc(extra: Value) -> Vec<u8> {
        let mut base = json!({
            "client_id": URL,
            "client_name": "Example MCP Client",
            "redirect_uris": ["http://127.0.0.1:3000/callback", "https://app.example.com/cb"],
            "grant_types": ["authorization_code", "refresh_token"],
            "response_types": ["code"],
            "token_endpoint_auth_method": "none",
            "logo_uri": "https://app.example.com/logo.png",
        });
        if let (Some(base), Value::Object(extra)) = (base.as_object_mut(), extra) {
            base.extend(extra);
        }
        serde_json::to_vec(&base).unwrap_or_default()
    }

    #[test]
    fn client_id_urls() {
        for ok in [
            URL,
            "https://app.example.com/c",
            "https://app.example.com:8443/oauth/client.json",
            "https://app.example.com/a.b/..c/client",
        ] {
            assert!(check_client_id_url(ok, false).is_ok(), "{ok}");
        }
        use MetadataDocumentError as E;
        for (bad, why) in [
            ("http://app.example.com/client.json", E::NotHttps),
            ("ftp://app.example.com/client.json", E::NotHttps),
            ("HTTPS://app.example.com/client.json", E::NotHttps),
            ("sa_ci_0123", E::NotHttps),
            ("https://app.example.com", E::NoPath),
            ("https://app.example.com/", E::NoPath),
            ("https://app.example.com/a/../client.json", E::DotSegment),
            ("https://app.example.com/./client.json", E::DotSegment),
            ("https://app.example.com/a/%2E%2e/client.json", E::DotSegment),
            ("https://app.example.com/client.json#x", E::Fragment),
            ("https://user:pw@app.example.com/client.json", E::Credentials),
            ("https://app.example.com/client.json?v=1", E::Query),
            ("https:///client.json", E::MalformedUrl),
            ("https://app.example.com/client json", E::MalformedUrl),
            ("https://[::1/client.json", E::MalformedUrl),
        ] {
            assert_eq!(check_client_id_url(bad, false).err(), Some(why), "{bad}");
        }
        let long = format!("https://app.example.com/{}", "a".repeat(MAX_CLIENT_ID_URL_LEN));
        assert_eq!(check_client_id_url(&long, false).err(), Some(E::MalformedUrl));
        // Loopback http only under the test setting, and only loopback.
        assert_eq!(
            check_client_id_url("http://127.0.0.1:8080/client.json", false).err(),
            Some(E::NotHttps)
        );
        assert!(check_client_id_url("http://127.0.0.1:8080/client.json", true).is_ok());
        assert!(check_client_id_url("http://localhost:8080/client.json", true).is_ok());
        assert_eq!(
            check_client_id_url("http://127.0.0.1.evil.example/client.json", true).err(),
            Some(E::NotHttps)
        );
        assert_eq!(
            check_client_id_url("http://10.0.0.1/client.json", true).err(),
            Some(E::NotHttps)
        );
        assert!(is_metadata_document_client_id(URL));
        assert!(!is_metadata_document_client_id("sa_ci_0123"));
    }

    #[test]
    fn a_valid_document() {
        let parsed = ClientMetadataDocument::parse(URL, &doc(json!({}))).expect("valid");
        assert_eq!(parsed.client_id, URL);
        assert_eq!(parsed.name.as_deref(), Some("Example MCP Client"));
        assert_eq!(parsed.logo_uri.as_deref(), Some("https://app.example.com/logo.png"));
        assert_eq!(
            parsed.grant_types,
            [GrantType::AuthorizationCode, GrantType::RefreshToken]
        );
        assert_eq!(parsed.redirect_uris.len(), 2);
        let now = crate::time::now();
        let tenant = TenantId::new();
        let client = parsed.into_client(tenant, now, now + time::Duration::minutes(10));
        assert_eq!(
            (client.tenant_id, client.kind, client.auth_method),
            (tenant, ClientKind::MetadataDocument, ClientAuthMethod::None)
        );
        assert_eq!(client.secret_hash, None);

        // The least a document may say: its id and redirect URIs.
        let bare = json!({"client_id": URL, "redirect_uris": ["https://app.example.com/cb"]});
        let parsed = ClientMetadataDocument::parse(URL, bare.to_string().as_bytes()).expect("valid");
        assert_eq!(parsed.grant_types, [GrantType::AuthorizationCode]);
        assert_eq!((parsed.name, parsed.logo_uri, parsed.client_uri), (None, None, None));
        // Grants of other flows are ignored.
        let parsed = ClientMetadataDocument::parse(
            URL,
            &doc(json!({"grant_types": ["authorization_code", "urn:ietf:params:oauth:grant-type:device_code"]})),
        )
        .expect("valid");
        assert_eq!(parsed.grant_types, [GrantType::AuthorizationCode]);
    }

    #[test]
    fn bad_documents() {
        use MetadataDocumentError as E;
        let cases: Vec<(Vec<u8>, E)> = vec![
            (b"not json".to_vec(), E::NotJson),
            (b"[1, 2]".to_vec(), E::NotJson),
            (b"".to_vec(), E::NotJson),
            (
                doc(json!({"client_id": "https://evil.example/client.json"})),
                E::ClientIdMismatch,
            ),
            (doc(json!({"client_id": format!("{URL}/")})), E::ClientIdMismatch),
            (doc(json!({"client_id": null})), E::ClientIdMismatch),
            (doc(json!({"client_secret": "s3cret"})), E::SecretPresent),
            (doc(json!({"client_secret_expires_at": 0})), E::SecretPresent),
            (
                doc(json!({"token_endpoint_auth_method": "client_secret_basic"})),
                E::UnsupportedAuthMethod,
            ),
            (
                doc(json!({"token_endpoint_auth_method": "client_secret_post"})),
                E::UnsupportedAuthMethod,
            ),
            (
                doc(json!({"token_endpoint_auth_method": 3})),
                E::Field("token_endpoint_auth_method"),
            ),
            (doc(json!({"redirect_uris": null})), E::RedirectUris(None)),
            (doc(json!({"redirect_uris": []})), E::RedirectUris(None)),
            (
                doc(json!({"redirect_uris": "https://app.example.com/cb"})),
                E::Field("redirect_uris"),
            ),
            (doc(json!({"redirect_uris": [1]})), E::Field("redirect_uris")),
            (
                doc(json!({"redirect_uris": ["http://app.example.com/cb"]})),
                E::RedirectUris(Some(RedirectUriError::InsecureHttp)),
            ),
            (
                doc(json!({"redirect_uris": ["javascript:alert(1)"]})),
                E::RedirectUris(Some(RedirectUriError::ForbiddenScheme)),
            ),
            (
                doc(json!({"redirect_uris": vec!["https://app.example.com/cb"; MAX_REDIRECT_URIS + 1]})),
                E::RedirectUris(None),
            ),
            (doc(json!({"grant_types": ["client_credentials"]})), E::NoCodeFlow),
            (doc(json!({"response_types": ["token"]})), E::NoCodeFlow),
            (doc(json!({"client_name": 7})), E::Field("client_name")),
            (doc(json!({"client_name": "a\u{0}b"})), E::Field("client_name")),
            (
                doc(json!({"client_name": "n".repeat(MAX_CLIENT_NAME_CHARS + 1)})),
                E::Field("client_name"),
            ),
            (
                doc(json!({"logo_uri": "http://app.example.com/logo.png"})),
                E::Field("logo_uri"),
            ),
            (
                doc(json!({"logo_uri": "data:image/png;base64,AAAA"})),
                E::Field("logo_uri"),
            ),
            (doc(json!({"logo_uri": "javascript:alert(1)"})), E::Field("logo_uri")),
            (doc(json!({"client_uri": "not a url"})), E::Field("client_uri")),
        ];
        for (body, why) in cases {
            assert_eq!(
                ClientMetadataDocument::parse(URL, &body).err(),
                Some(why.clone()),
                "{why:?}: {}",
                String::from_utf8_lossy(&body)
            );
        }
        let padded =
            doc(json!({"client_uri": format!("https://app.example.com/{}", "x".repeat(MAX_METADATA_DOCUMENT_BYTES))}));
        assert_eq!(ClientMetadataDocument::parse(URL, &padded).err(), Some(E::TooLarge));
        // Exactly at the limit is fine.
        let mut at_limit = doc(json!({}));
        at_limit.resize(MAX_METADATA_DOCUMENT_BYTES, b' ');
        assert!(ClientMetadataDocument::parse(URL, &at_limit).is_ok());
    }
}
