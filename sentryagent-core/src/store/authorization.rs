//! The stores of the authorization-code flow: its clients, and what people
//! authorized them to do (codes, grants with their refresh tokens,
//! consents).

use async_trait::async_trait;
use time::OffsetDateTime;

use crate::authorization::{
    AuthorizationCode, ClientKind, CodeRedemption, Consent, ConsentQuery, Grant, OAuthClient, RefreshOutcome,
    RefreshToken, Rotation,
};
use crate::error::StoreResult;
use crate::{ConsentId, GrantId, TenantId};

/// Clients of the authorization-code flow, each in one tenant, keyed by
/// (tenant, client id): a metadata-document client used with two tenants
/// is one record in each.
#[async_trait]
pub trait OAuthClientStore: Send + Sync + 'static {
    /// Stores a new client; a [`Conflict`](crate::StoreErrorKind::Conflict)
    /// when the tenant has one with this client id.
    async fn insert_oauth_client(&self, client: &OAuthClient) -> StoreResult<()>;
    /// Inserts a client or replaces the tenant's one with its client id,
    /// keeping the stored `created_at` and `last_used_at`: a metadata
    /// document fetched again. Returns the client as stored.
    async fn put_oauth_client(&self, client: &OAuthClient) -> StoreResult<OAuthClient>;
    /// One client of the tenant.
    async fn oauth_client(&self, tenant: TenantId, client_id: &str) -> StoreResult<Option<OAuthClient>>;
    /// The tenant's clients in client-id order after `after`, at most `limit`.
    async fn list_oauth_clients(
        &self,
        tenant: TenantId,
        after: Option<&str>,
        limit: usize,
    ) -> StoreResult<Vec<OAuthClient>>;
    /// How many clients of `kind` the tenant holds (for the caps of each kind).
    async fn count_oauth_clients(&self, tenant: TenantId, kind: ClientKind) -> StoreResult<u64>;
    /// Deletes a client; whether it existed. Its grants stay until revoked
    /// ([`AuthorizationStore::revoke_grants`]).
    async fn delete_oauth_client(&self, tenant: TenantId, client_id: &str) -> StoreResult<bool>;
    /// Records that the client started a flow at `at` (only ever moving
    /// `last_used_at` forward); whether the client exists.
    async fn touch_oauth_client(&self, tenant: TenantId, client_id: &str, at: OffsetDateTime) -> StoreResult<bool>;
    /// Deletes, across tenants, clients of `kind` not used since `before`
    /// (never used: created before it), at most `limit`; returns how many.
    /// For the background task: dynamically registered clients expire.
    async fn delete_unused_clients(&self, kind: ClientKind, before: OffsetDateTime, limit: usize) -> StoreResult<u64>;
}

/// What people authorized clients to do: one-use codes, grants and their
/// refresh-token families, and remembered consents.
///
/// Codes and refresh tokens are found by the hash of the secret alone (it
/// is unique and unguessable); everything else is scoped by tenant.
#[async_trait]
pub trait AuthorizationStore: Send + Sync + 'static {
    /// Stores a new grant and its code together; a
    /// [`Conflict`](crate::StoreErrorKind::Conflict) if either exists.
    async fn insert_authorization_code(&self, grant: &Grant, code: &AuthorizationCode) -> StoreResult<()>;
    /// A code and its grant, read only, whatever their state (redeemed,
    /// expired, revoked): to check who presents it before it is spent, so
    /// that only its own client (with its verifier) can spend it. `None`:
    /// no such code. Redeeming is still
    /// [`redeem_authorization_code`](Self::redeem_authorization_code)'s.
    async fn authorization_code(&self, code_hash: &[u8]) -> StoreResult<Option<(AuthorizationCode, Grant)>>;
    /// Redeems a code, atomically across every instance on the store: the
    /// first call sets `redeemed_at` to `at` and gets
    /// [`CodeRedemption::First`]; every later one gets
    /// [`CodeRedemption::Again`] (the caller revokes the grant). `None`:
    /// no such code. Expiry and the grant's state are the caller's to check.
    async fn redeem_authorization_code(
        &self,
        code_hash: &[u8],
        at: OffsetDateTime,
    ) -> StoreResult<Option<CodeRedemption>>;
    /// One grant of the tenant.
    async fn grant(&self, tenant: TenantId, id: GrantId) -> StoreResult<Option<Grant>>;
    /// Stores the first refresh token of a grant (after its code is
    /// redeemed). `false`, with nothing stored, when the grant is revoked
    /// or gone: a replayed code may have revoked it in between.
    async fn insert_refresh_token(&self, token: &RefreshToken) -> StoreResult<bool>;
    /// The grant a refresh token belongs to, whatever the state of either
    /// (rotated, expired, revoked): to authenticate the client that
    /// presents it, in the grant's tenant, before anything changes, and to
    /// revoke the family (RFC 7009). `None`: no such token.
    async fn refresh_token_grant(&self, token_hash: &[u8]) -> StoreResult<Option<Grant>>;
    /// Rotates a refresh token atomically across every instance: see
    /// [`RefreshOutcome`]. Exactly one of two concurrent rotations of one
    /// token gets [`RefreshOutcome::Rotated`]; the other gets
    /// [`RefreshOutcome::Reused`], which revokes the grant in the same step.
    async fn rotate_refresh_token(&self, rotation: Rotation<'_>) -> StoreResult<RefreshOutcome>;
    /// Revokes one grant of the tenant (its refresh tokens stop working);
    /// whether it was active.
    async fn revoke_grant(&self, tenant: TenantId, id: GrantId, at: OffsetDateTime) -> StoreResult<bool>;
    /// Revokes the tenant's active grants of `subject` (a user) and/or
    /// `client_id`, or all its grants when both are `None`; returns the ids
    /// revoked, for the caller to put on the revocation list. For consent
    /// withdrawn, a user locked or deleted, a client removed.
    async fn revoke_grants(
        &self,
        tenant: TenantId,
        subject: Option<&str>,
        client_id: Option<&str>,
        at: OffsetDateTime,
    ) -> StoreResult<Vec<GrantId>>;
    /// Stores a consent, or replaces the scopes (and `updated_at`) of the
    /// one with its tenant, subject, client and resource, keeping its id
    /// and `created_at`. Returns the consent as stored.
    async fn put_consent(&self, consent: &Consent) -> StoreResult<Consent>;
    /// The consent of one user to one client for one resource.
    async fn consent(
        &self,
        tenant: TenantId,
        subject: &str,
        client_id: &str,
        resource: &str,
    ) -> StoreResult<Option<Consent>>;
    /// The tenant's consents matching `query`, in id order.
    async fn list_consents(&self, tenant: TenantId, query: &ConsentQuery) -> StoreResult<Vec<Consent>>;
    /// Deletes one consent of the tenant; the consent as it was, if it existed.
    async fn revoke_consent(&self, tenant: TenantId, id: ConsentId) -> StoreResult<Option<Consent>>;
    /// Deletes every consent of one user of the tenant; returns how many.
    async fn revoke_user_consents(&self, tenant: TenantId, subject: &str) -> StoreResult<u64>;
    /// Deletes, across tenants, codes and grants (with their refresh
    /// tokens) that expired before `before`, at most `limit` of each;
    /// returns how many codes and grants went. A redeemed code is kept until it
    /// expires, so a replay is still recognised.
    async fn prune_authorizations(&self, before: OffsetDateTime, limit: usize) -> StoreResult<u64>;
}
