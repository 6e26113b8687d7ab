//! Verification, introspection and revocation of what the
//! authorization-code flow issues: a person's access tokens, and refresh
//! tokens.
//!
//! - A person's access token is dead once its `jti` or its grant
//!   ([`grant_revocation_id`]) is on the revocation list: revoking the grant
//!   (a reused code or refresh token, consent withdrawn, the host locking
//!   the person, the refresh token revoked) ends it at once.
//! - Revoking a refresh token (RFC 7009) revokes its grant: the whole
//!   family of refresh tokens and every access token issued from it.
//!   Revoking an access token ends that token only.
//! - Introspection answers a refresh token `{"active": false}`: refresh
//!   tokens are for the token endpoint only, and only the client holding
//!   one may use it there.
//!
//! Stores it needs: `authorizations`, `revocations`.
//! Shared parts it uses: `server_key`, `settings`.

use std::net::IpAddr;

use super::caller::OAuthCaller;
use super::identity::{IntrospectedToken, IntrospectedUserClaims};
use super::{PresentedClient, UserClaims, UserIdentity};
use crate::audit::{NewAuditEvent, Outcome};
use crate::authorization::{grant_revocation_id, hash_token};
use crate::error::{Error, OAuthError, OAuthErrorCode, StoreError};
use crate::secret::ClientSecret;
use crate::{SentryAgent, TenantId};

impl SentryAgent {
    /// Whether neither a person's token nor its grant is revoked.
    async fn user_token_live(&self, claims: &UserClaims) -> Result<bool, StoreError> {
        let list = &self.inner.stores.revocations;
        Ok(!list.is_revoked(claims.jti).await? && !list.is_revoked(grant_revocation_id(claims.gid)).await?)
    }

    /// The checks of a person's token that can change after it was issued.
    pub(super) async fn verify_user_claims(&self, claims: UserClaims) -> Result<UserIdentity, Error> {
        if !self.user_token_live(&claims).await? {
            crate::observe::record::token_verified("token_revoked");
            let event = NewAuditEvent::new("token.rejected", Outcome::Failure, claims.client_id.clone())
                .detail("jti", claims.jti.to_string())
                .detail("grantId", claims.gid.to_string())
                .detail("userId", claims.sub.as_str())
                .detail("reason", "token_revoked");
            let key = format!("token.rejected:{}:token_revoked", claims.jti);
            self.record_repeated(claims.user_tenant, key, event).await?;
            return Err(Error::unauthorized("the access token has been revoked"));
        }
        crate::observe::record::token_verified("valid");
        Ok(UserIdentity::from_claims(&claims))
    }

    /// Authenticates a client of the authorization-code flow in `tenant`.
    async fn caller_client(
        &self,
        tenant: TenantId,
        presented: &PresentedClient,
    ) -> Result<crate::authorization::OAuthClient, OAuthError> {
        match self.authenticate_oauth_client(tenant, presented).await? {
            Ok(client) => Ok(client),
            Err(reason) => {
                tracing::info!(
                    reason,
                    "introspection or revocation refused: client authentication failed"
                );
                Err(OAuthError::invalid_client())
            }
        }
    }

    /// Introspection of a person's token: by the token itself, the client
    /// it was issued to, an agent's client of its tenant, or a bearer of
    /// its tenant with `tokens:introspect` (checked before).
    pub(super) async fn introspect_user(
        &self,
        caller: &OAuthCaller,
        claims: UserClaims,
    ) -> Result<Option<IntrospectedToken>, OAuthError> {
        let visible = match caller {
            OAuthCaller::OAuthClient(presented) => {
                let client = self.caller_client(claims.user_tenant, presented).await?;
                client.client_id == claims.client_id
            }
            other => other.may_see(claims.user_tenant),
        };
        if !visible || !self.user_token_live(&claims).await? {
            return Ok(None);
        }
        Ok(Some(IntrospectedToken::User(IntrospectedUserClaims::from(claims))))
    }

    /// Revocation of a person's access token: by the token itself or the
    /// client it was issued to. It ends that token only; its grant and
    /// refresh token live on.
    pub(super) async fn revoke_user_token(
        &self,
        caller: &OAuthCaller,
        claims: UserClaims,
        ip: Option<IpAddr>,
    ) -> Result<(), OAuthError> {
        let actor = match caller {
            OAuthCaller::Itself => claims.client_id.clone(),
            OAuthCaller::OAuthClient(presented) => {
                let client = self.caller_client(claims.user_tenant, presented).await?;
                if client.client_id != claims.client_id {
                    return Err(not_yours());
                }
                client.client_id
            }
            _ => return Err(not_yours()),
        };
        let expires = super::stops_verifying(claims.exp, self.inner.settings.clock_skew);
        self.inner.stores.revocations.revoke(claims.jti, expires).await?;
        let event = NewAuditEvent::new("token.revoked", Outcome::Success, actor)
            .ip(ip)
            .detail("jti", claims.jti.to_string())
            .detail("clientId", claims.client_id.as_str())
            .detail("grantId", claims.gid.to_string())
            .detail("userId", claims.sub.as_str());
        self.record(claims.user_tenant, vec![event]).await?;
        Ok(())
    }

    /// Revocation of a refresh token, by the client holding it: revokes its
    /// grant, every refresh token of it, and every access token issued
    /// from it. An unknown token is accepted silently (RFC 7009 §2.2).
    pub(super) async fn revoke_refresh_token(
        &self,
        caller: &OAuthCaller,
        token: &str,
        ip: Option<IpAddr>,
    ) -> Result<(), OAuthError> {
        let store = &self.inner.stores.authorizations;
        let hash = hash_token(&self.inner.server_key, &ClientSecret::from_presented(token));
        let Some(grant) = store.refresh_token_grant(&hash).await? else {
            return Ok(());
        };
        let OAuthCaller::OAuthClient(presented) = caller else {
            return Err(not_yours());
        };
        let client = self.caller_client(grant.tenant_id, presented).await?;
        if client.client_id != grant.client_id {
            return Err(not_yours());
        }
        let now = crate::time::now();
        let revoked = store.revoke_grant(grant.tenant_id, grant.id, now).await?;
        self.end_grant_tokens(&[grant.id], now).await?;
        if revoked {
            let event = NewAuditEvent::new(
                "authorization.grant_revoked",
                Outcome::Success,
                client.client_id.clone(),
            )
            .ip(ip)
            .detail("grantId", grant.id.to_string())
            .detail("clientId", grant.client_id.as_str())
            .detail("userId", grant.subject.as_str())
            .detail("reason", "refresh_token_revoked");
            self.record(grant.tenant_id, vec![event]).await?;
        }
        Ok(())
    }
}

fn not_yours() -> OAuthError {
    OAuthError::new(
        OAuthErrorCode::UnauthorizedClient,
        "this caller may not revoke that token",
    )
}
