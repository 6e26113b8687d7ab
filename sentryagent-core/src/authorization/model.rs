//! The durable records of the authorization-code flow: clients, codes,
//! grants with their refresh tokens, and consents.
//!
//! Codes and refresh tokens are bearer secrets: a store keeps only their
//! keyed hash ([`hash_token`]), so a database dump redeems nothing.

use serde::Serialize;
use time::OffsetDateTime;

use crate::secret::{ClientSecret, ServerKey, random_bytes};
use crate::{ConsentId, GrantId, TenantId};

/// How a client came to be known.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ClientKind {
    /// Registered by the tenant, with a secret.
    Confidential,
    /// Registered by the tenant, without a secret (PKCE only).
    Public,
    /// Known by its Client ID Metadata Document: the client id is the
    /// `https` URL of the document, refetched when its cache time ends.
    MetadataDocument,
    /// Registered through dynamic client registration (RFC 7591); deleted
    /// when unused for long ([`OAuthClient::last_used_at`]).
    Dynamic,
}

impl ClientKind {
    /// The name stores use.
    pub fn as_str(self) -> &'static str {
        match self {
            ClientKind::Confidential => "confidential",
            ClientKind::Public => "public",
            ClientKind::MetadataDocument => "metadata_document",
            ClientKind::Dynamic => "dynamic",
        }
    }

    /// Parses [`as_str`](Self::as_str)'s output.
    pub fn parse(s: &str) -> Option<Self> {
        [
            ClientKind::Confidential,
            ClientKind::Public,
            ClientKind::MetadataDocument,
            ClientKind::Dynamic,
        ]
        .into_iter()
        .find(|k| k.as_str() == s)
    }
}

/// How a client authenticates at the token endpoint (RFC 7591
/// `token_endpoint_auth_method`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ClientAuthMethod {
    /// HTTP Basic with the client's secret.
    ClientSecretBasic,
    /// The secret in the form body.
    ClientSecretPost,
    /// No authentication: a public client, held to PKCE.
    None,
}

impl ClientAuthMethod {
    /// The registered name (`client_secret_basic`, `client_secret_post`, `none`).
    pub fn as_str(self) -> &'static str {
        match self {
            ClientAuthMethod::ClientSecretBasic => "client_secret_basic",
            ClientAuthMethod::ClientSecretPost => "client_secret_post",
            ClientAuthMethod::None => "none",
        }
    }

    /// Parses a registered name.
    pub fn parse(s: &str) -> Option<Self> {
        [
            ClientAuthMethod::ClientSecretBasic,
            ClientAuthMethod::ClientSecretPost,
            ClientAuthMethod::None,
        ]
        .into_iter()
        .find(|m| m.as_str() == s)
    }
}

/// The grants a client of this flow may use.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum GrantType {
    /// `authorization_code`.
    AuthorizationCode,
    /// `refresh_token`.
    RefreshToken,
}

impl GrantType {
    /// The registered name.
    pub fn as_str(self) -> &'static str {
        match self {
            GrantType::AuthorizationCode => "authorization_code",
            GrantType::RefreshToken => "refresh_token",
        }
    }

    /// Parses a registered name.
    pub fn parse(s: &str) -> Option<Self> {
        [GrantType::AuthorizationCode, GrantType::RefreshToken]
            .into_iter()
            .find(|g| g.as_str() == s)
    }
}

/// A client of the authorization-code flow (an MCP client such as an IDE
/// or a chat app), belonging to one tenant. A Client ID Metadata Document
/// client used with two tenants is two records, one in each.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct OAuthClient {
    /// The owning tenant.
    #[serde(skip)]
    pub tenant_id: TenantId,
    /// The client id: generated for registered clients, the document's URL
    /// for [`ClientKind::MetadataDocument`].
    pub client_id: String,
    /// How the client came to be known.
    pub kind: ClientKind,
    /// How it authenticates at the token endpoint.
    pub auth_method: ClientAuthMethod,
    /// The keyed hash of its secret ([`ServerKey::hash_secret`]), for a
    /// confidential client; never serialised.
    #[serde(skip)]
    pub secret_hash: Option<Vec<u8>>,
    /// Its redirect URIs, matched as [`redirect_uri_matches`](super::redirect_uri_matches) says.
    pub redirect_uris: Vec<String>,
    /// The grants it may use.
    pub grant_types: Vec<GrantType>,
    /// The name shown on the consent page (`client_name`).
    pub name: Option<String>,
    /// Its logo (`logo_uri`), shown on the consent page.
    pub logo_uri: Option<String>,
    /// Its home page (`client_uri`).
    pub client_uri: Option<String>,
    /// When it became known.
    #[serde(with = "crate::time::rfc3339")]
    pub created_at: OffsetDateTime,
    /// When its record last changed (a document refetched, a rename).
    #[serde(with = "crate::time::rfc3339")]
    pub updated_at: OffsetDateTime,
    /// When it last started a flow: dynamically registered clients unused
    /// for long are deleted ([`OAuthClientStore::delete_unused_clients`](crate::store::OAuthClientStore::delete_unused_clients)).
    #[serde(with = "crate::time::rfc3339::option")]
    pub last_used_at: Option<OffsetDateTime>,
    /// Until when a metadata document's copy may be used without
    /// refetching it (its HTTP cache lifetime); `None` for other kinds.
    #[serde(skip)]
    pub metadata_expires_at: Option<OffsetDateTime>,
}

impl OAuthClient {
    /// Whether it may use `grant`.
    pub fn allows_grant(&self, grant: GrantType) -> bool {
        self.grant_types.contains(&grant)
    }
}

/// An authorization code, as stored: only its hash, and the grant it
/// redeems into. One use: [`AuthorizationStore::redeem_authorization_code`](crate::store::AuthorizationStore::redeem_authorization_code)
/// succeeds once, across every instance.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AuthorizationCode {
    /// The keyed hash of the code ([`hash_token`]).
    pub code_hash: Vec<u8>,
    /// The grant it belongs to (its tenant, client, user, scopes, resources).
    pub grant_id: GrantId,
    /// The `redirect_uri` of the authorization request; the token request
    /// must repeat it.
    pub redirect_uri: String,
    /// The PKCE `S256` code challenge (RFC 7636), base64url.
    pub code_challenge: String,
    /// When it was issued.
    pub created_at: OffsetDateTime,
    /// When it stops being redeemable.
    pub expires_at: OffsetDateTime,
    /// When it was redeemed, if it was.
    pub redeemed_at: Option<OffsetDateTime>,
}

/// What redeeming a code found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CodeRedemption {
    /// This call redeemed it: the caller checks client, redirect, verifier
    /// and expiry, and issues tokens into the grant.
    First {
        /// The code, `redeemed_at` set.
        code: AuthorizationCode,
        /// Its grant (which may have been revoked since the code was issued).
        grant: Grant,
    },
    /// It was redeemed before: a replay. The caller refuses it and revokes
    /// the grant, and with it every token the first redemption issued
    /// (OAuth 2.1 §4.1.2).
    Again {
        /// The code, with the first redemption's time.
        code: AuthorizationCode,
        /// Its grant.
        grant: Grant,
    },
}

/// A grant: one user's authorization of one client, for some scopes of some
/// resources. Its refresh tokens are one family; revoking the grant ends
/// them all, and access tokens issued from it carry its id so the
/// revocation list can end them too.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Grant {
    /// The grant's id.
    pub id: GrantId,
    /// The tenant whose user granted it.
    pub tenant_id: TenantId,
    /// The client it was granted to.
    pub client_id: String,
    /// The host's user id (the tokens' `sub`).
    pub subject: String,
    /// The scopes granted.
    pub scopes: Vec<String>,
    /// The resources (RFC 8707) its tokens may be for.
    pub resources: Vec<String>,
    /// When the user granted it.
    pub created_at: OffsetDateTime,
    /// When it ends whatever happens: no refresh token outlives it.
    pub expires_at: OffsetDateTime,
    /// When it was revoked (code replay, refresh-token reuse, consent
    /// withdrawn, user locked, admin).
    pub revoked_at: Option<OffsetDateTime>,
}

impl Grant {
    /// Whether tokens may still be issued from it at `now`.
    pub fn is_active(&self, now: OffsetDateTime) -> bool {
        self.revoked_at.is_none() && self.expires_at > now
    }
}

/// A refresh token, as stored: only its hash.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RefreshToken {
    /// The keyed hash of the token ([`hash_token`]).
    pub token_hash: Vec<u8>,
    /// The grant (family) it belongs to.
    pub grant_id: GrantId,
    /// When it was issued.
    pub created_at: OffsetDateTime,
    /// When it stops working.
    pub expires_at: OffsetDateTime,
    /// When it was exchanged for its successor; a second use after this is
    /// reuse.
    pub rotated_at: Option<OffsetDateTime>,
}

/// One refresh-token rotation: the token presented and its successor.
#[derive(Clone, Copy, Debug)]
pub struct Rotation<'a> {
    /// The hash of the token presented.
    pub presented_hash: &'a [u8],
    /// The client that presented it: a token of another client's grant is
    /// [`RefreshOutcome::Unknown`].
    pub client_id: &'a str,
    /// The hash of the successor.
    pub next_hash: &'a [u8],
    /// When the successor expires (no later than the grant).
    pub next_expires_at: OffsetDateTime,
    /// Now.
    pub at: OffsetDateTime,
}

/// What a refresh-token rotation found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RefreshOutcome {
    /// Rotated: the presented token is spent and its successor stored.
    Rotated(Grant),
    /// The presented token had been rotated before: reuse, so a copy leaked.
    /// The store revoked the grant (the whole family) in the same step; the
    /// caller puts the grant on the revocation list and audits it.
    Reused(Grant),
    /// The grant was revoked (or has ended) before; nothing changed.
    Revoked(Grant),
    /// The presented token expired; nothing changed.
    Expired,
    /// No such token for this client.
    Unknown,
}

/// A remembered consent: one user's yes to one client, for `scopes` of one
/// resource. A later request within it needs no consent page.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Consent {
    /// The consent's id (for the admin API).
    #[serde(rename = "consentId")]
    pub id: ConsentId,
    /// The tenant of the user.
    #[serde(skip)]
    pub tenant_id: TenantId,
    /// The host's user id.
    #[serde(rename = "userId")]
    pub subject: String,
    /// The client consented to.
    pub client_id: String,
    /// The resource (RFC 8707) consented to.
    pub resource: String,
    /// The scopes consented to.
    pub scopes: Vec<String>,
    /// When the user first consented.
    #[serde(with = "crate::time::rfc3339")]
    pub created_at: OffsetDateTime,
    /// When the scopes last changed.
    #[serde(with = "crate::time::rfc3339")]
    pub updated_at: OffsetDateTime,
}

impl Consent {
    /// Whether it covers every scope of `requested`.
    pub fn covers<S: AsRef<str>>(&self, requested: &[S]) -> bool {
        requested.iter().all(|s| self.scopes.iter().any(|c| c == s.as_ref()))
    }
}

/// Which consents of a tenant to list: all, one user's or one client's, in
/// id order after `after`, at most `limit`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ConsentQuery {
    /// Only this user's.
    pub subject: Option<String>,
    /// Only this client's.
    pub client_id: Option<String>,
    /// Those after this id.
    pub after: Option<ConsentId>,
    /// At most this many.
    pub limit: usize,
}

/// The id under which a revoked grant sits on the revocation list
/// ([`RevocationList`](crate::store::RevocationList)): an access token
/// issued from a grant is dead when its `jti` or this id of its grant is
/// listed.
pub fn grant_revocation_id(grant: GrantId) -> crate::TokenId {
    crate::TokenId::from_uuid(*grant.as_uuid())
}

/// Prefix of every authorization code, so secret scanners can find them.
pub const CODE_PREFIX: &str = "sa_ac_";
/// Prefix of every refresh token.
pub const REFRESH_TOKEN_PREFIX: &str = "sa_rt_";

/// A fresh authorization code: [`CODE_PREFIX`] and 32 random bytes.
pub fn generate_code() -> ClientSecret {
    generate(CODE_PREFIX)
}

/// A fresh refresh token: [`REFRESH_TOKEN_PREFIX`] and 32 random bytes.
pub fn generate_refresh_token() -> ClientSecret {
    generate(REFRESH_TOKEN_PREFIX)
}

fn generate(prefix: &str) -> ClientSecret {
    use base64::Engine as _;
    let random = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(random_bytes::<32>());
    ClientSecret::from_presented(format!("{prefix}{random}"))
}

/// The stored form of a code or refresh token: its keyed hash. The tokens
/// carry 256 random bits, so a fast keyed hash is as strong as a slow one.
pub fn hash_token(key: &ServerKey, token: &ClientSecret) -> Vec<u8> {
    key.hash_secret(token).to_vec()
}

/// Why a person may not consent to a scope.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ScopeRefusal {
    /// Not a valid scope token (RFC 6749 §3.3).
    #[error("`{0}` is not a valid scope")]
    Syntax(String),
    /// One of SentryAgent's management scopes (or `admin`): those belong to
    /// agents and admins, never to a client acting for a person.
    #[error("`{0}` is a management scope, which cannot be granted to a client acting for a person")]
    Management(String),
}

/// The scope rule of this flow: people consent to the host's own scopes
/// only. Every scope must be valid, and none may be a management scope
/// ([`crate::scope::MANAGEMENT`], `admin` included), whatever the user's
/// own rights in the host are. The first offender is named.
///
/// # Errors
/// The first scope refused, and why.
pub fn check_consentable_scopes<S: AsRef<str>>(scopes: &[S]) -> Result<(), ScopeRefusal> {
    for scope in scopes {
        let scope = scope.as_ref();
        if !crate::scope::is_valid_syntax(scope) {
            return Err(ScopeRefusal::Syntax(scope.to_owned()));
        }
        if crate::scope::is_management(scope) {
            return Err(ScopeRefusal::Management(scope.to_owned()));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn people_consent_to_host_scopes_only() {
        assert_eq!(check_consentable_scopes(&["tools:call", "orders:read"]), Ok(()));
        assert_eq!(check_consentable_scopes::<&str>(&[]), Ok(()));
        for management in crate::scope::MANAGEMENT {
            assert_eq!(
                check_consentable_scopes(&["tools:call", management]),
                Err(ScopeRefusal::Management((*management).to_owned())),
                "{management}"
            );
        }
        assert!(matches!(
            check_consentable_scopes(&["admin"]),
            Err(ScopeRefusal::Management(_))
        ));
        assert!(matches!(
            check_consentable_scopes(&["a b"]),
            Err(ScopeRefusal::Syntax(_))
        ));
        assert!(matches!(check_consentable_scopes(&[""]), Err(ScopeRefusal::Syntax(_))));
    }

    #[test]
    fn names_round_trip() {
        for kind in [
            ClientKind::Confidential,
            ClientKind::Public,
            ClientKind::MetadataDocument,
            ClientKind::Dynamic,
        ] {
            assert_eq!(ClientKind::parse(kind.as_str()), Some(kind));
        }
        for method in [
            ClientAuthMethod::ClientSecretBasic,
            ClientAuthMethod::ClientSecretPost,
            ClientAuthMethod::None,
        ] {
            assert_eq!(ClientAuthMethod::parse(method.as_str()), Some(method));
        }
        for grant in [GrantType::AuthorizationCode, GrantType::RefreshToken] {
            assert_eq!(GrantType::parse(grant.as_str()), Some(grant));
        }
        assert_eq!(ClientAuthMethod::parse("private_key_jwt"), None);
    }

    #[test]
    fn codes_and_refresh_tokens_are_random_and_stored_hashed() {
        let key = ServerKey::random();
        let (a, b) = (generate_code(), generate_code());
        assert_ne!(a, b);
        assert!(a.expose().starts_with(CODE_PREFIX));
        assert!(generate_refresh_token().expose().starts_with(REFRESH_TOKEN_PREFIX));
        let hash = hash_token(&key, &a);
        assert_eq!(hash.len(), 32);
        assert_eq!(hash, hash_token(&key, &ClientSecret::from_presented(a.expose())));
        assert_ne!(hash, hash_token(&key, &b));
        assert_ne!(hash, hash_token(&ServerKey::random(), &a), "keyed");
    }

    #[test]
    fn a_consent_covers_its_scopes_only() {
        let now = crate::time::now();
        let consent = Consent {
            id: ConsentId::new(),
            tenant_id: TenantId::new(),
            subject: "u1".into(),
            client_id: "c".into(),
            resource: "https://mcp.example.com".into(),
            scopes: vec!["a".into(), "b".into()],
            created_at: now,
            updated_at: now,
        };
        assert!(consent.covers(&["a"]));
        assert!(consent.covers(&["b", "a"]));
        assert!(consent.covers::<&str>(&[]));
        assert!(!consent.covers(&["a", "c"]));
    }
}
