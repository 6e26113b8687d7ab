//! The authorization service's management side: the tenant's pre-registered
//! clients, the consents its people gave, and the host's revocation of a
//! user; the background upkeep of codes, grants and dynamic clients.
//!
//! Stores it needs: `oauth_clients`, `authorizations`, `revocations`.
//! Shared parts it uses: `server_key`, `settings`.

use time::OffsetDateTime;

use super::registration::{MAX_OAUTH_CLIENTS_PER_TENANT, NewOAuthClient, OAuthClientPatch, generate_oauth_client_id};
use super::{ClientKind, Consent, ConsentQuery, GrantType, OAuthClient, grant_revocation_id};
use crate::audit::{NewAuditEvent, Outcome};
use crate::error::Error;
use crate::permission::Operation;
use crate::secret::ClientSecret;
use crate::{Caller, ConsentId, GrantId, SentryAgent, TenantId};

/// At most this many expired codes, grants or unused clients go per store
/// call of the background upkeep; it repeats while a batch comes back full.
const PRUNE_BATCH: usize = 1000;
/// At most this many batches per turn, so one turn never runs for long.
const PRUNE_ROUNDS: usize = 20;

/// What revoking one user's consents ended.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct UserRevocation {
    /// How many consents were deleted.
    pub consents: u64,
    /// The grants revoked (their refresh tokens and access tokens end).
    pub grants: Vec<GrantId>,
}

/// What one turn of the background upkeep removed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct AuthorizationPrune {
    /// Expired codes and grants deleted.
    pub authorizations: u64,
    /// Dynamically registered clients deleted for being unused.
    pub dynamic_clients: u64,
    /// Copies of metadata documents deleted for being unused (fetched
    /// anew if the client comes back).
    pub metadata_document_clients: u64,
}

impl SentryAgent {
    /// Registers a client of the authorization-code flow in the caller's
    /// tenant. A confidential client gets a secret, returned this once and
    /// stored only as a keyed hash; a public one authenticates with `none`
    /// and PKCE. Needs `oauth-clients:write`.
    ///
    /// # Errors
    /// A validation error naming each bad field (redirect URIs are checked
    /// by [`check_redirect_uri`](super::check_redirect_uri)); insufficient
    /// scope; 409 `OAUTH_CLIENT_LIMIT` past [`MAX_OAUTH_CLIENTS_PER_TENANT`];
    /// a store error.
    pub async fn register_oauth_client(
        &self,
        caller: &Caller,
        new: NewOAuthClient,
    ) -> Result<(OAuthClient, Option<ClientSecret>), Error> {
        self.authorize(caller, Operation::RegisterOAuthClient, None, &[])
            .await?;
        new.check()?;
        // Only the tenant's own registrations count: clients that register
        // themselves have caps of their own and cannot crowd these out.
        let store = &self.inner.stores.oauth_clients;
        let mut held = 0;
        for kind in [ClientKind::Confidential, ClientKind::Public] {
            held += store.count_oauth_clients(caller.tenant(), kind).await?;
        }
        if held >= MAX_OAUTH_CLIENTS_PER_TENANT as u64 {
            return Err(Error::Conflict {
                code: crate::ErrorCode::OAuthClientLimit,
                message: format!("a tenant holds at most {MAX_OAUTH_CLIENTS_PER_TENANT} OAuth clients").into(),
            });
        }
        let kind = ClientKind::from(new.kind);
        let secret = (kind == ClientKind::Confidential).then(ClientSecret::generate);
        let client = new.into_client(
            caller.tenant(),
            generate_oauth_client_id(),
            kind,
            secret.as_ref().map(|s| self.inner.server_key.hash_secret(s).to_vec()),
            vec![GrantType::AuthorizationCode, GrantType::RefreshToken],
        );
        self.inner.stores.oauth_clients.insert_oauth_client(&client).await?;
        self.record(
            caller.tenant(),
            vec![client_event(caller, "oauth_client.created", &client).detail("kind", kind.as_str())],
        )
        .await?;
        Ok((client, secret))
    }

    /// A page of the caller's tenant's clients (every kind), in client-id
    /// order after `after`. Needs `oauth-clients:write`.
    ///
    /// # Errors
    /// Insufficient scope; a store error.
    pub async fn list_oauth_clients(
        &self,
        caller: &Caller,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<OAuthClient>, Error> {
        self.authorize(caller, Operation::ListOAuthClients, None, &[]).await?;
        Ok(self
            .inner
            .stores
            .oauth_clients
            .list_oauth_clients(caller.tenant(), after, limit)
            .await?)
    }

    /// One client of the caller's tenant. Needs `oauth-clients:write`.
    ///
    /// # Errors
    /// 404 (also for another tenant's client); insufficient scope; a store error.
    pub async fn oauth_client(&self, caller: &Caller, client_id: &str) -> Result<OAuthClient, Error> {
        self.authorize(caller, Operation::ReadOAuthClient, None, &[]).await?;
        self.oauth_client_in(caller.tenant(), client_id).await
    }

    pub(super) async fn oauth_client_in(&self, tenant: TenantId, client_id: &str) -> Result<OAuthClient, Error> {
        self.inner
            .stores
            .oauth_clients
            .oauth_client(tenant, client_id)
            .await?
            .ok_or(Error::NotFound("OAuth client"))
    }

    /// Changes a pre-registered client's redirect URIs, name, logo or home
    /// page. Clients known by their metadata document, or registered
    /// dynamically, describe themselves and are not changed here. Needs
    /// `oauth-clients:write`.
    ///
    /// # Errors
    /// 404; 403 for a client that is not pre-registered; a validation
    /// error; insufficient scope; a store error.
    pub async fn update_oauth_client(
        &self,
        caller: &Caller,
        client_id: &str,
        patch: OAuthClientPatch,
    ) -> Result<OAuthClient, Error> {
        self.authorize(caller, Operation::UpdateOAuthClient, None, &[]).await?;
        let mut client = self.oauth_client_in(caller.tenant(), client_id).await?;
        if !matches!(client.kind, ClientKind::Confidential | ClientKind::Public) {
            return Err(Error::Forbidden(
                "only pre-registered clients change here; this one describes itself".into(),
            ));
        }
        patch.check()?;
        let mut changed = Vec::new();
        if let Some(uris) = patch.redirect_uris {
            changed.push("redirectUris");
            client.redirect_uris = uris;
        }
        if let Some(name) = patch.name {
            changed.push("clientName");
            client.name = name;
        }
        if let Some(logo) = patch.logo_uri {
            changed.push("logoUri");
            client.logo_uri = logo;
        }
        if let Some(uri) = patch.client_uri {
            changed.push("clientUri");
            client.client_uri = uri;
        }
        client.updated_at = crate::time::now();
        let client = self.inner.stores.oauth_clients.put_oauth_client(&client).await?;
        self.record(
            caller.tenant(),
            vec![client_event(caller, "oauth_client.updated", &client).detail("fields", changed)],
        )
        .await?;
        Ok(client)
    }

    /// Deletes a client of the caller's tenant (any kind) and revokes every
    /// grant it holds, so its refresh and access tokens stop working at
    /// once. A metadata-document client that comes back is fetched anew.
    /// Needs `oauth-clients:write`.
    ///
    /// # Errors
    /// 404; insufficient scope; a store error.
    pub async fn delete_oauth_client(&self, caller: &Caller, client_id: &str) -> Result<OAuthClient, Error> {
        self.authorize(caller, Operation::DeleteOAuthClient, None, &[]).await?;
        let tenant = caller.tenant();
        let client = self.oauth_client_in(tenant, client_id).await?;
        if !self
            .inner
            .stores
            .oauth_clients
            .delete_oauth_client(tenant, client_id)
            .await?
        {
            return Err(Error::NotFound("OAuth client"));
        }
        let now = crate::time::now();
        let grants = self
            .inner
            .stores
            .authorizations
            .revoke_grants(tenant, None, Some(client_id), now)
            .await?;
        self.end_grant_tokens(&grants, now).await?;
        self.record(
            tenant,
            vec![client_event(caller, "oauth_client.deleted", &client).detail("grantsRevoked", grants.len())],
        )
        .await?;
        Ok(client)
    }

    /// The caller's tenant's consents matching `query` (one user's, one
    /// client's, or all), in id order. Needs `admin`: who uses which client
    /// is the tenant's people's business.
    ///
    /// # Errors
    /// Insufficient scope; a store error.
    pub async fn list_consents(&self, caller: &Caller, query: &ConsentQuery) -> Result<Vec<Consent>, Error> {
        self.authorize(caller, Operation::ListConsents, None, &[]).await?;
        Ok(self
            .inner
            .stores
            .authorizations
            .list_consents(caller.tenant(), query)
            .await?)
    }

    /// Withdraws one consent of the caller's tenant, and with it the
    /// grants of that user to that client: their tokens stop working at
    /// once, and the client's next request asks the person again. Needs
    /// `admin`.
    ///
    /// # Errors
    /// 404 (also for another tenant's consent); insufficient scope; a store error.
    pub async fn revoke_consent(&self, caller: &Caller, id: ConsentId) -> Result<Consent, Error> {
        self.authorize(caller, Operation::RevokeConsent, None, &[]).await?;
        let tenant = caller.tenant();
        let consent = self
            .inner
            .stores
            .authorizations
            .revoke_consent(tenant, id)
            .await?
            .ok_or(Error::NotFound("consent"))?;
        let now = crate::time::now();
        let grants = self
            .inner
            .stores
            .authorizations
            .revoke_grants(tenant, Some(&consent.subject), Some(&consent.client_id), now)
            .await?;
        self.end_grant_tokens(&grants, now).await?;
        let event = caller
            .event("consent.revoked", None)
            .detail("consentId", consent.id.to_string())
            .detail("userId", consent.subject.clone())
            .detail("clientId", consent.client_id.clone())
            .detail("grantsRevoked", grants.len());
        self.record(tenant, vec![event]).await?;
        Ok(consent)
    }

    /// Withdraws every consent of one of the tenant's people and revokes
    /// all their grants, as the tenant's admin. Needs `admin`.
    ///
    /// # Errors
    /// A validation error for an empty user id; insufficient scope; a store error.
    pub async fn revoke_user_consents(&self, caller: &Caller, user_id: &str) -> Result<UserRevocation, Error> {
        self.authorize(caller, Operation::RevokeUserConsents, None, &[]).await?;
        let revoked = self.revoke_user_grants(caller.tenant(), user_id).await?;
        let event = caller.event("consent.revoked", None);
        self.record(caller.tenant(), vec![user_event(event, user_id, &revoked)])
            .await?;
        Ok(revoked)
    }

    /// Remembers that one of the host's people consented to `client_id`
    /// for `scopes` of `resource` in `tenant` (replacing the scopes of an
    /// earlier consent to the same client and resource), for a host that
    /// runs its own consent step. Audited as `consent.granted` by `host`.
    ///
    /// # Errors
    /// A validation error: an empty user id, a resource that is not an
    /// absolute URL, a scope a person may not consent to
    /// ([`check_consentable_scopes`](super::check_consentable_scopes));
    /// 404 for a client not in the tenant; a store error.
    pub async fn record_consent(
        &self,
        tenant: TenantId,
        user_id: &str,
        client_id: &str,
        resource: &str,
        scopes: &[String],
    ) -> Result<Consent, Error> {
        if user_id.is_empty() {
            return Err(Error::invalid("userId", "is required"));
        }
        if url::Url::parse(resource).is_err() || resource.contains('#') {
            return Err(Error::invalid("resource", "must be an absolute URL without a fragment"));
        }
        super::check_consentable_scopes(scopes).map_err(|e| Error::invalid("scopes", e.to_string()))?;
        self.oauth_client_in(tenant, client_id).await?;
        let now = crate::time::now();
        let consent = Consent {
            id: ConsentId::new(),
            tenant_id: tenant,
            subject: user_id.to_owned(),
            client_id: client_id.to_owned(),
            resource: resource.to_owned(),
            scopes: scopes.to_vec(),
            created_at: now,
            updated_at: now,
        };
        let consent = self.inner.stores.authorizations.put_consent(&consent).await?;
        let event = NewAuditEvent::new("consent.granted", Outcome::Success, "host")
            .detail("consentId", consent.id.to_string())
            .detail("userId", user_id)
            .detail("clientId", client_id)
            .detail("resource", resource)
            .detail("scopes", scopes.to_vec());
        self.record(tenant, vec![event]).await?;
        Ok(consent)
    }

    /// For the host, when it deletes or locks one of its people: withdraws
    /// every consent they gave in `tenant` and revokes all their grants, so
    /// every token issued for them stops working at once. Audited in the
    /// tenant's chain as `consent.revoked` by `host`.
    ///
    /// ```
    /// # async fn demo() -> Result<(), sentryagent_core::Error> {
    /// let idp = sentryagent_core::SentryAgent::builder().build().await?;
    /// let tenant = idp.create_tenant("Acme").await?;
    /// let ended = idp.revoke_user(tenant.tenant.id, "user-42").await?;
    /// assert_eq!(ended.consents, 0);
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// A validation error for an empty user id; a store error.
    pub async fn revoke_user(&self, tenant: TenantId, user_id: &str) -> Result<UserRevocation, Error> {
        let revoked = self.revoke_user_grants(tenant, user_id).await?;
        let event = NewAuditEvent::new("consent.revoked", Outcome::Success, "host");
        self.record(tenant, vec![user_event(event, user_id, &revoked)]).await?;
        Ok(revoked)
    }

    async fn revoke_user_grants(&self, tenant: TenantId, user_id: &str) -> Result<UserRevocation, Error> {
        if user_id.is_empty() {
            return Err(Error::invalid("userId", "is required"));
        }
        let store = &self.inner.stores.authorizations;
        let now = crate::time::now();
        // Grants first: a consent left behind by a failure asks nobody
        // again, but a grant left behind would keep tokens alive.
        let grants = store.revoke_grants(tenant, Some(user_id), None, now).await?;
        self.end_grant_tokens(&grants, now).await?;
        let consents = store.revoke_user_consents(tenant, user_id).await?;
        Ok(UserRevocation { consents, grants })
    }

    /// Puts revoked grants on the revocation list, under
    /// [`grant_revocation_id`], for as long as an access token issued from
    /// them before now can live.
    pub(crate) async fn end_grant_tokens(&self, grants: &[GrantId], now: OffsetDateTime) -> Result<(), Error> {
        let settings = &self.inner.settings;
        let until = now + settings.token_ttl + settings.clock_skew;
        for grant in grants {
            self.inner
                .stores
                .revocations
                .revoke(grant_revocation_id(*grant), until)
                .await?;
        }
        Ok(())
    }

    /// One turn of the authorization upkeep, as
    /// [`background`](Self::background) runs it: deletes codes and grants
    /// that expired before `now`, and dynamically registered clients and
    /// copies of metadata documents unused for
    /// [`unused_dynamic_client_ttl`](crate::BackgroundSettings::unused_dynamic_client_ttl).
    ///
    /// # Errors
    /// A store error (what was deleted before it stays deleted).
    pub async fn prune_authorizations(&self, now: OffsetDateTime) -> Result<AuthorizationPrune, Error> {
        let stores = &self.inner.stores;
        let mut pruned = AuthorizationPrune::default();
        for _ in 0..PRUNE_ROUNDS {
            let n = stores.authorizations.prune_authorizations(now, PRUNE_BATCH).await?;
            pruned.authorizations += n;
            if n < PRUNE_BATCH as u64 {
                break;
            }
        }
        let unused_since = now - self.inner.settings.background.unused_dynamic_client_ttl;
        for (kind, count) in [
            (ClientKind::Dynamic, &mut pruned.dynamic_clients),
            (ClientKind::MetadataDocument, &mut pruned.metadata_document_clients),
        ] {
            for _ in 0..PRUNE_ROUNDS {
                let n = stores
                    .oauth_clients
                    .delete_unused_clients(kind, unused_since, PRUNE_BATCH)
                    .await?;
                *count += n;
                if n < PRUNE_BATCH as u64 {
                    break;
                }
            }
        }
        Ok(pruned)
    }
}

fn client_event(caller: &Caller, action: &str, client: &OAuthClient) -> NewAuditEvent {
    caller.event(action, None).detail("clientId", client.client_id.clone())
}

fn user_event(event: NewAuditEvent, user_id: &str, revoked: &UserRevocation) -> NewAuditEvent {
    event
        .detail("userId", user_id)
        .detail("consentsRevoked", revoked.consents)
        .detail("grantsRevoked", revoked.grants.len())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::authorization::{AuthorizationCode, Grant, RegisteredKind};

    async fn setup() -> (SentryAgent, TenantId, OAuthClient) {
        let idp = SentryAgent::builder().build().await.expect("idp");
        let tenant = idp.create_tenant("Acme").await.expect("tenant").tenant.id;
        let now = crate::time::now();
        let client = OAuthClient {
            tenant_id: tenant,
            client_id: generate_oauth_client_id(),
            kind: RegisteredKind::Public.into(),
            auth_method: crate::authorization::ClientAuthMethod::None,
            secret_hash: None,
            redirect_uris: vec!["http://127.0.0.1/cb".into()],
            grant_types: vec![GrantType::AuthorizationCode],
            name: None,
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
        (idp, tenant, client)
    }

    async fn grant(idp: &SentryAgent, tenant: TenantId, client: &str, user: &str) -> GrantId {
        let now = crate::time::now();
        let grant = Grant {
            id: GrantId::new(),
            tenant_id: tenant,
            client_id: client.into(),
            subject: user.into(),
            scopes: vec!["tools:call".into()],
            resources: vec!["https://mcp.example".into()],
            created_at: now,
            expires_at: now + time::Duration::days(1),
            revoked_at: None,
        };
        let code = AuthorizationCode {
            code_hash: crate::secret::random_bytes::<32>().to_vec(),
            grant_id: grant.id,
            redirect_uri: "http://127.0.0.1/cb".into(),
            code_challenge: "x".into(),
            created_at: now,
            expires_at: now + time::Duration::minutes(1),
            redeemed_at: None,
        };
        idp.inner
            .stores
            .authorizations
            .insert_authorization_code(&grant, &code)
            .await
            .expect("grant");
        grant.id
    }

    async fn is_listed(idp: &SentryAgent, grant: GrantId) -> bool {
        idp.inner
            .stores
            .revocations
            .is_revoked(grant_revocation_id(grant))
            .await
            .expect("list")
    }

    #[tokio::test]
    async fn the_host_revoking_a_user_ends_their_grants_and_consents_only() {
        let (idp, tenant, client) = setup().await;
        let scopes = vec!["tools:call".to_owned()];
        idp.record_consent(tenant, "u1", &client.client_id, "https://mcp.example", &scopes)
            .await
            .expect("consent");
        idp.record_consent(tenant, "u2", &client.client_id, "https://mcp.example", &scopes)
            .await
            .expect("consent");
        let (g1, g2) = (
            grant(&idp, tenant, &client.client_id, "u1").await,
            grant(&idp, tenant, &client.client_id, "u2").await,
        );
        let ended = idp.revoke_user(tenant, "u1").await.expect("revoke");
        assert_eq!(
            ended,
            UserRevocation {
                consents: 1,
                grants: vec![g1]
            }
        );
        assert!(is_listed(&idp, g1).await, "u1's access tokens end at once");
        assert!(!is_listed(&idp, g2).await);
        let held = &idp.inner.stores.authorizations;
        assert!(
            held.grant(tenant, g2)
                .await
                .expect("g2")
                .is_some_and(|g| g.revoked_at.is_none())
        );
        assert!(
            held.consent(tenant, "u2", &client.client_id, "https://mcp.example")
                .await
                .expect("c")
                .is_some()
        );
        assert!(idp.revoke_user(tenant, "").await.is_err());
        // Another tenant's user of the same id is untouched.
        let other = idp.create_tenant("Other").await.expect("tenant").tenant.id;
        assert_eq!(
            idp.revoke_user(other, "u2").await.expect("other"),
            UserRevocation::default()
        );
    }

    #[tokio::test]
    async fn people_never_consent_to_management_scopes_nor_to_unknown_clients() {
        let (idp, tenant, client) = setup().await;
        for scopes in [
            vec!["admin".to_owned()],
            vec!["agents:write".to_owned()],
            vec!["a b".to_owned()],
        ] {
            assert!(matches!(
                idp.record_consent(tenant, "u1", &client.client_id, "https://mcp.example", &scopes)
                    .await,
                Err(Error::Validation(_))
            ));
        }
        let other = idp.create_tenant("Other").await.expect("tenant").tenant.id;
        assert!(matches!(
            idp.record_consent(other, "u1", &client.client_id, "https://mcp.example", &[])
                .await,
            Err(Error::NotFound(_))
        ));
    }

    #[tokio::test]
    async fn the_upkeep_expires_unused_dynamic_clients_and_keeps_registered_ones() {
        let (idp, tenant, client) = setup().await;
        let old = crate::time::now() - time::Duration::days(60);
        let dynamic = OAuthClient {
            client_id: generate_oauth_client_id(),
            kind: ClientKind::Dynamic,
            created_at: old,
            updated_at: old,
            ..client.clone()
        };
        idp.inner
            .stores
            .oauth_clients
            .insert_oauth_client(&dynamic)
            .await
            .expect("dynamic");
        let pruned = idp.prune_authorizations(crate::time::now()).await.expect("prune");
        assert_eq!(pruned.dynamic_clients, 1);
        let clients = &idp.inner.stores.oauth_clients;
        assert!(
            clients
                .oauth_client(tenant, &dynamic.client_id)
                .await
                .expect("get")
                .is_none()
        );
        assert!(
            clients
                .oauth_client(tenant, &client.client_id)
                .await
                .expect("get")
                .is_some()
        );
    }
}
