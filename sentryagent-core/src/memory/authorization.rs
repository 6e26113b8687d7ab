//! [`OAuthClientStore`] and [`AuthorizationStore`] in memory. Codes, grants,
//! refresh tokens and consents share one lock, so every redemption,
//! rotation and revocation is one step.

use std::collections::{BTreeMap, HashMap};

use async_trait::async_trait;
use time::OffsetDateTime;

use super::{MemoryStore, lock, read, write};
use crate::authorization::{
    AuthorizationCode, ClientKind, CodeRedemption, Consent, ConsentQuery, Grant, OAuthClient, RefreshOutcome,
    RefreshToken, Rotation,
};
use crate::error::StoreResult;
use crate::store::{AuthorizationStore, OAuthClientStore};
use crate::{ConsentId, GrantId, StoreError, TenantId};

/// The records of [`AuthorizationStore`].
#[derive(Default)]
pub(super) struct Authorizations {
    codes: HashMap<Vec<u8>, AuthorizationCode>,
    grants: HashMap<GrantId, Grant>,
    refresh: HashMap<Vec<u8>, RefreshToken>,
    consents: BTreeMap<ConsentId, Consent>,
}

#[async_trait]
impl OAuthClientStore for MemoryStore {
    async fn insert_oauth_client(&self, client: &OAuthClient) -> StoreResult<()> {
        let mut clients = write(&self.oauth_clients);
        let key = (client.tenant_id, client.client_id.clone());
        if clients.contains_key(&key) {
            return Err(StoreError::conflict("client exists"));
        }
        clients.insert(key, client.clone());
        Ok(())
    }

    async fn put_oauth_client(&self, client: &OAuthClient) -> StoreResult<OAuthClient> {
        let mut clients = write(&self.oauth_clients);
        let key = (client.tenant_id, client.client_id.clone());
        let mut stored = client.clone();
        if let Some(old) = clients.get(&key) {
            stored.created_at = old.created_at;
            stored.last_used_at = old.last_used_at;
        }
        clients.insert(key, stored.clone());
        Ok(stored)
    }

    async fn oauth_client(&self, tenant: TenantId, client_id: &str) -> StoreResult<Option<OAuthClient>> {
        Ok(read(&self.oauth_clients).get(&(tenant, client_id.to_owned())).cloned())
    }

    async fn list_oauth_clients(
        &self,
        tenant: TenantId,
        after: Option<&str>,
        limit: usize,
    ) -> StoreResult<Vec<OAuthClient>> {
        Ok(read(&self.oauth_clients)
            .range((tenant, after.unwrap_or_default().to_owned())..)
            .take_while(|((t, _), _)| *t == tenant)
            .filter(|((_, id), _)| after.is_none_or(|a| id.as_str() > a))
            .take(limit)
            .map(|(_, c)| c.clone())
            .collect())
    }

    async fn count_oauth_clients(&self, tenant: TenantId, kind: ClientKind) -> StoreResult<u64> {
        Ok(read(&self.oauth_clients)
            .range((tenant, String::new())..)
            .take_while(|((t, _), _)| *t == tenant)
            .filter(|(_, c)| c.kind == kind)
            .count() as u64)
    }

    async fn delete_oauth_client(&self, tenant: TenantId, client_id: &str) -> StoreResult<bool> {
        Ok(write(&self.oauth_clients)
            .remove(&(tenant, client_id.to_owned()))
            .is_some())
    }

    async fn touch_oauth_client(&self, tenant: TenantId, client_id: &str, at: OffsetDateTime) -> StoreResult<bool> {
        Ok(
            match write(&self.oauth_clients).get_mut(&(tenant, client_id.to_owned())) {
                Some(client) => {
                    client.last_used_at = client.last_used_at.max(Some(at));
                    true
                }
                None => false,
            },
        )
    }

    async fn delete_unused_clients(&self, kind: ClientKind, before: OffsetDateTime, limit: usize) -> StoreResult<u64> {
        let mut clients = write(&self.oauth_clients);
        let stale: Vec<_> = clients
            .iter()
            .filter(|(_, c)| c.kind == kind && c.last_used_at.unwrap_or(c.created_at) < before)
            .map(|(k, _)| k.clone())
            .take(limit)
            .collect();
        for key in &stale {
            clients.remove(key);
        }
        Ok(stale.len() as u64)
    }
}

#[async_trait]
impl AuthorizationStore for MemoryStore {
    async fn insert_authorization_code(&self, grant: &Grant, code: &AuthorizationCode) -> StoreResult<()> {
        let mut a = lock(&self.authorizations);
        if a.grants.contains_key(&grant.id) || a.codes.contains_key(&code.code_hash) {
            return Err(StoreError::conflict("grant or code exists"));
        }
        a.grants.insert(grant.id, grant.clone());
        a.codes.insert(code.code_hash.clone(), code.clone());
        Ok(())
    }

    async fn authorization_code(&self, code_hash: &[u8]) -> StoreResult<Option<(AuthorizationCode, Grant)>> {
        let a = lock(&self.authorizations);
        Ok(a.codes
            .get(code_hash)
            .and_then(|code| Some((code.clone(), a.grants.get(&code.grant_id)?.clone()))))
    }

    async fn redeem_authorization_code(
        &self,
        code_hash: &[u8],
        at: OffsetDateTime,
    ) -> StoreResult<Option<CodeRedemption>> {
        let mut a = lock(&self.authorizations);
        let Some(code) = a.codes.get_mut(code_hash) else {
            return Ok(None);
        };
        let first = code.redeemed_at.is_none();
        if first {
            code.redeemed_at = Some(at);
        }
        let code = code.clone();
        let Some(grant) = a.grants.get(&code.grant_id).cloned() else {
            return Ok(None);
        };
        Ok(Some(if first {
            CodeRedemption::First { code, grant }
        } else {
            CodeRedemption::Again { code, grant }
        }))
    }

    async fn grant(&self, tenant: TenantId, id: GrantId) -> StoreResult<Option<Grant>> {
        Ok(lock(&self.authorizations)
            .grants
            .get(&id)
            .filter(|g| g.tenant_id == tenant)
            .cloned())
    }

    async fn insert_refresh_token(&self, token: &RefreshToken) -> StoreResult<bool> {
        let mut a = lock(&self.authorizations);
        if a.grants.get(&token.grant_id).is_none_or(|g| g.revoked_at.is_some()) {
            return Ok(false);
        }
        if a.refresh.contains_key(&token.token_hash) {
            return Err(StoreError::conflict("refresh token exists"));
        }
        a.refresh.insert(token.token_hash.clone(), token.clone());
        Ok(true)
    }

    async fn refresh_token_grant(&self, token_hash: &[u8]) -> StoreResult<Option<Grant>> {
        let a = lock(&self.authorizations);
        Ok(a.refresh
            .get(token_hash)
            .and_then(|t| a.grants.get(&t.grant_id))
            .cloned())
    }

    async fn rotate_refresh_token(&self, r: Rotation<'_>) -> StoreResult<RefreshOutcome> {
        let mut a = lock(&self.authorizations);
        let Some(token) = a.refresh.get(r.presented_hash).cloned() else {
            return Ok(RefreshOutcome::Unknown);
        };
        let Some(grant) = a.grants.get_mut(&token.grant_id) else {
            return Ok(RefreshOutcome::Unknown);
        };
        if grant.client_id != r.client_id {
            return Ok(RefreshOutcome::Unknown);
        }
        if !grant.is_active(r.at) {
            return Ok(RefreshOutcome::Revoked(grant.clone()));
        }
        if token.rotated_at.is_some() {
            grant.revoked_at = Some(r.at);
            return Ok(RefreshOutcome::Reused(grant.clone()));
        }
        if token.expires_at <= r.at {
            return Ok(RefreshOutcome::Expired);
        }
        let grant = grant.clone();
        if a.refresh.contains_key(r.next_hash) {
            return Err(StoreError::conflict("refresh token exists"));
        }
        if let Some(presented) = a.refresh.get_mut(r.presented_hash) {
            presented.rotated_at = Some(r.at);
        }
        a.refresh.insert(
            r.next_hash.to_vec(),
            RefreshToken {
                token_hash: r.next_hash.to_vec(),
                grant_id: grant.id,
                created_at: r.at,
                expires_at: r.next_expires_at,
                rotated_at: None,
            },
        );
        Ok(RefreshOutcome::Rotated(grant))
    }

    async fn revoke_grant(&self, tenant: TenantId, id: GrantId, at: OffsetDateTime) -> StoreResult<bool> {
        let mut a = lock(&self.authorizations);
        Ok(match a.grants.get_mut(&id) {
            Some(g) if g.tenant_id == tenant && g.revoked_at.is_none() => {
                g.revoked_at = Some(at);
                true
            }
            _ => false,
        })
    }

    async fn revoke_grants(
        &self,
        tenant: TenantId,
        subject: Option<&str>,
        client_id: Option<&str>,
        at: OffsetDateTime,
    ) -> StoreResult<Vec<GrantId>> {
        let mut a = lock(&self.authorizations);
        let mut revoked: Vec<GrantId> = a
            .grants
            .values_mut()
            .filter(|g| {
                g.tenant_id == tenant
                    && g.revoked_at.is_none()
                    && subject.is_none_or(|s| g.subject == s)
                    && client_id.is_none_or(|c| g.client_id == c)
            })
            .map(|g| {
                g.revoked_at = Some(at);
                g.id
            })
            .collect();
        revoked.sort();
        Ok(revoked)
    }

    async fn put_consent(&self, consent: &Consent) -> StoreResult<Consent> {
        let mut a = lock(&self.authorizations);
        let existing = a.consents.values_mut().find(|c| {
            same_consent(
                c,
                consent.tenant_id,
                &consent.subject,
                &consent.client_id,
                &consent.resource,
            )
        });
        if let Some(stored) = existing {
            stored.scopes.clone_from(&consent.scopes);
            stored.updated_at = consent.updated_at;
            return Ok(stored.clone());
        }
        if a.consents.contains_key(&consent.id) {
            return Err(StoreError::conflict("consent exists"));
        }
        a.consents.insert(consent.id, consent.clone());
        Ok(consent.clone())
    }

    async fn consent(
        &self,
        tenant: TenantId,
        subject: &str,
        client_id: &str,
        resource: &str,
    ) -> StoreResult<Option<Consent>> {
        Ok(lock(&self.authorizations)
            .consents
            .values()
            .find(|c| same_consent(c, tenant, subject, client_id, resource))
            .cloned())
    }

    async fn list_consents(&self, tenant: TenantId, query: &ConsentQuery) -> StoreResult<Vec<Consent>> {
        Ok(lock(&self.authorizations)
            .consents
            .values()
            .filter(|c| {
                c.tenant_id == tenant
                    && query.after.is_none_or(|a| c.id > a)
                    && query.subject.as_ref().is_none_or(|s| &c.subject == s)
                    && query.client_id.as_ref().is_none_or(|id| &c.client_id == id)
            })
            .take(query.limit)
            .cloned()
            .collect())
    }

    async fn revoke_consent(&self, tenant: TenantId, id: ConsentId) -> StoreResult<Option<Consent>> {
        let mut a = lock(&self.authorizations);
        if a.consents.get(&id).is_some_and(|c| c.tenant_id == tenant) {
            return Ok(a.consents.remove(&id));
        }
        Ok(None)
    }

    async fn revoke_user_consents(&self, tenant: TenantId, subject: &str) -> StoreResult<u64> {
        let mut a = lock(&self.authorizations);
        let before = a.consents.len();
        a.consents
            .retain(|_, c| !(c.tenant_id == tenant && c.subject == subject));
        Ok((before - a.consents.len()) as u64)
    }

    async fn prune_authorizations(&self, before: OffsetDateTime, limit: usize) -> StoreResult<u64> {
        let mut guard = lock(&self.authorizations);
        let a = &mut *guard;
        let codes: Vec<Vec<u8>> = a
            .codes
            .iter()
            .filter(|(_, c)| c.expires_at < before)
            .map(|(h, _)| h.clone())
            .take(limit)
            .collect();
        for hash in &codes {
            a.codes.remove(hash);
        }
        let grants: Vec<GrantId> = a
            .grants
            .values()
            .filter(|g| g.expires_at < before)
            .map(|g| g.id)
            .take(limit)
            .collect();
        for id in &grants {
            a.grants.remove(id);
        }
        // Tokens go with their grant; their codes are gone by now too (a
        // code never outlives its grant).
        let grants_left = &a.grants;
        a.refresh.retain(|_, t| grants_left.contains_key(&t.grant_id));
        Ok((codes.len() + grants.len()) as u64)
    }
}

fn same_consent(c: &Consent, tenant: TenantId, subject: &str, client_id: &str, resource: &str) -> bool {
    c.tenant_id == tenant && c.subject == subject && c.client_id == client_id && c.resource == resource
}
