//! Issuing an authorization code: the moment a person's approval becomes a
//! grant. The authorization endpoint calls it once the host has said who is
//! signed in and the person consented (or had consented before); a host
//! running its own consent step may call it too.
//!
//! Stores it needs: `oauth_clients`, `authorizations`.
//! Shared parts it uses: `server_key`, `settings`.

use super::{AuthorizationCode, Grant, check_consentable_scopes, generate_code, hash_token, redirect_uri_matches};
use crate::audit::{NewAuditEvent, Outcome};
use crate::error::Error;
use crate::secret::ClientSecret;
use crate::{GrantId, SentryAgent, TenantId};

/// A person's approval of one authorization request: everything the code
/// will redeem into. Every field was checked by the authorization endpoint;
/// [`SentryAgent::issue_authorization_code`] checks the rules again that a
/// caller could get wrong (the client, its redirect URI, the scopes).
#[derive(Clone, Debug)]
pub struct Approval {
    /// The person's tenant (the host's [`HostUser::tenant_id`](super::HostUser::tenant_id)).
    pub tenant_id: TenantId,
    /// The host's id of the person: the tokens' `sub`.
    pub user_id: String,
    /// The client the code is for; it must be one of the tenant's.
    pub client_id: String,
    /// The redirect URI of the request, which the token request must repeat.
    pub redirect_uri: String,
    /// The PKCE `S256` challenge of the request.
    pub code_challenge: String,
    /// The scopes approved: the host's own only.
    pub scopes: Vec<String>,
    /// The resources (RFC 8707) the tokens will be for.
    pub resources: Vec<String>,
}

/// An issued code and the grant it redeems into.
#[derive(Debug)]
pub struct IssuedCode {
    /// The code, shown once: it goes to the client in the redirect.
    pub code: ClientSecret,
    /// The grant: its refresh tokens and access tokens carry its id.
    pub grant_id: GrantId,
}

impl SentryAgent {
    /// Stores a new grant and its one-use authorization code for `approval`,
    /// audited in the tenant's chain as `authorization.code_issued`. The code
    /// expires after [`authorization_code_ttl`](crate::SentryAgentBuilder::authorization_code_ttl),
    /// the grant after [`grant_ttl`](crate::SentryAgentBuilder::grant_ttl).
    ///
    /// # Errors
    /// 404 for a client not in the tenant; a validation error for a redirect
    /// URI the client did not register, an empty challenge or user id, or a
    /// scope a person may not consent to; a store error.
    pub async fn issue_authorization_code(&self, approval: Approval) -> Result<IssuedCode, Error> {
        if approval.user_id.is_empty() {
            return Err(Error::invalid("userId", "is required"));
        }
        if approval.code_challenge.is_empty() {
            return Err(Error::invalid("codeChallenge", "is required"));
        }
        check_consentable_scopes(&approval.scopes).map_err(|e| Error::invalid("scopes", e.to_string()))?;
        let client = self.oauth_client_in(approval.tenant_id, &approval.client_id).await?;
        if !redirect_uri_matches(&client.redirect_uris, &approval.redirect_uri) {
            return Err(Error::invalid("redirectUri", "is not one the client registered"));
        }
        let settings = &self.inner.settings.authorization;
        let now = crate::time::now();
        let grant = Grant {
            id: GrantId::new(),
            tenant_id: approval.tenant_id,
            client_id: approval.client_id,
            subject: approval.user_id,
            scopes: approval.scopes,
            resources: approval.resources,
            created_at: now,
            expires_at: now + settings.grant_ttl,
            revoked_at: None,
        };
        let code = generate_code();
        let stored = AuthorizationCode {
            code_hash: hash_token(&self.inner.server_key, &code),
            grant_id: grant.id,
            redirect_uri: approval.redirect_uri,
            code_challenge: approval.code_challenge,
            created_at: now,
            expires_at: now + settings.code_ttl,
            redeemed_at: None,
        };
        self.inner
            .stores
            .authorizations
            .insert_authorization_code(&grant, &stored)
            .await?;
        let event = NewAuditEvent::new("authorization.code_issued", Outcome::Success, "host")
            .detail("grantId", grant.id.to_string())
            .detail("userId", grant.subject.as_str())
            .detail("clientId", grant.client_id.as_str())
            .detail("scopes", grant.scopes.clone())
            .detail("resources", grant.resources.clone());
        self.record(grant.tenant_id, vec![event]).await?;
        Ok(IssuedCode {
            code,
            grant_id: grant.id,
        })
    }
}

impl SentryAgent {
    /// A grant as stored, for test suites that check what the authorization
    /// endpoint issued.
    ///
    /// # Errors
    /// A store error.
    #[cfg(any(test, feature = "testing"))]
    #[doc(hidden)]
    pub async fn stored_grant(&self, tenant: TenantId, id: GrantId) -> Result<Option<Grant>, Error> {
        Ok(self.inner.stores.authorizations.grant(tenant, id).await?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::authorization::{ClientAuthMethod, ClientKind, CodeRedemption, GrantType, OAuthClient};

    async fn setup() -> (SentryAgent, TenantId) {
        let idp = SentryAgent::builder().build().await.expect("idp");
        let tenant = idp.create_tenant("Acme").await.expect("tenant").tenant.id;
        let now = crate::time::now();
        let client = OAuthClient {
            tenant_id: tenant,
            client_id: "sa_oc_ide".into(),
            kind: ClientKind::Public,
            auth_method: ClientAuthMethod::None,
            secret_hash: None,
            redirect_uris: vec!["http://127.0.0.1/callback".into()],
            grant_types: vec![GrantType::AuthorizationCode, GrantType::RefreshToken],
            name: Some("IDE".into()),
            logo_uri: None,
            client_uri: None,
            created_at: now,
            updated_at: now,
            last_used_at: None,
            metadata_expires_at: None,
        };
        idp.inner
            .stores
            .oauth_clients
            .insert_oauth_client(&client)
            .await
            .expect("client");
        (idp, tenant)
    }

    fn approval(tenant: TenantId) -> Approval {
        Approval {
            tenant_id: tenant,
            user_id: "user-17".into(),
            client_id: "sa_oc_ide".into(),
            // A loopback redirect with any port matches the registered one.
            redirect_uri: "http://127.0.0.1:43117/callback".into(),
            code_challenge: "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM".into(),
            scopes: vec!["tools:call".into()],
            resources: vec!["https://mcp.example/mcp".into()],
        }
    }

    #[tokio::test]
    async fn an_approval_becomes_a_one_use_code_of_a_grant() {
        let (idp, tenant) = setup().await;
        let issued = idp.issue_authorization_code(approval(tenant)).await.expect("code");
        assert!(issued.code.expose().starts_with(super::super::CODE_PREFIX));
        let hash = hash_token(&idp.inner.server_key, &issued.code);
        let store = &idp.inner.stores.authorizations;
        let now = crate::time::now();
        let first = store.redeem_authorization_code(&hash, now).await.expect("redeem");
        assert!(matches!(first, Some(CodeRedemption::First { .. })), "{first:?}");
        let again = store.redeem_authorization_code(&hash, now).await.expect("redeem");
        assert!(matches!(again, Some(CodeRedemption::Again { .. })), "{again:?}");
        let grant = store
            .grant(tenant, issued.grant_id)
            .await
            .expect("grant")
            .expect("stored");
        assert_eq!(grant.subject, "user-17");
        assert!(grant.expires_at > now + time::Duration::days(89));
    }

    #[tokio::test]
    async fn what_the_client_did_not_register_is_refused() {
        let (idp, tenant) = setup().await;
        let mut wrong_redirect = approval(tenant);
        wrong_redirect.redirect_uri = "https://attacker.example/callback".into();
        let mut management = approval(tenant);
        management.scopes = vec!["agents:write".into()];
        let mut other_tenant = approval(idp.create_tenant("Other").await.expect("tenant").tenant.id);
        other_tenant.user_id = "user-18".into();
        for bad in [wrong_redirect, management] {
            let refused = idp.issue_authorization_code(bad).await.expect_err("refused");
            assert_eq!(refused.code(), crate::ErrorCode::ValidationError, "{refused}");
        }
        let refused = idp.issue_authorization_code(other_tenant).await.expect_err("refused");
        assert_eq!(refused.code(), crate::ErrorCode::NotFound, "{refused}");
    }
}
