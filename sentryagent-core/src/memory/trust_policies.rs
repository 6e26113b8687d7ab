//! [`TrustPolicyStore`] in memory.

use async_trait::async_trait;
use time::OffsetDateTime;

use super::{MemoryStore, read, write};
use crate::error::StoreResult;
use crate::federation::{Provider, TrustPolicy};
use crate::store::TrustPolicyStore;
use crate::{StoreError, TenantId, TrustPolicyId};

#[async_trait]
impl TrustPolicyStore for MemoryStore {
    async fn insert_trust_policy(&self, policy: &TrustPolicy) -> StoreResult<()> {
        let mut policies = write(&self.trust_policies);
        if policies.contains_key(&policy.id) {
            return Err(StoreError::conflict("trust policy exists"));
        }
        policies.insert(policy.id, policy.clone());
        Ok(())
    }

    async fn trust_policy(&self, tenant: TenantId, id: TrustPolicyId) -> StoreResult<Option<TrustPolicy>> {
        Ok(read(&self.trust_policies)
            .get(&id)
            .filter(|p| p.tenant_id == tenant)
            .cloned())
    }

    async fn list_trust_policies(
        &self,
        tenant: TenantId,
        after: Option<TrustPolicyId>,
        limit: usize,
    ) -> StoreResult<Vec<TrustPolicy>> {
        Ok(read(&self.trust_policies)
            .values()
            .filter(|p| p.tenant_id == tenant && after.is_none_or(|a| p.id > a))
            .take(limit)
            .cloned()
            .collect())
    }

    async fn delete_trust_policy(&self, tenant: TenantId, id: TrustPolicyId) -> StoreResult<bool> {
        let mut policies = write(&self.trust_policies);
        if policies.get(&id).is_some_and(|p| p.tenant_id == tenant) {
            policies.remove(&id);
            return Ok(true);
        }
        Ok(false)
    }

    async fn trust_policies_for_owner(
        &self,
        provider: Provider,
        owner: &str,
        tenant: Option<TenantId>,
        limit: usize,
    ) -> StoreResult<Vec<TrustPolicy>> {
        Ok(read(&self.trust_policies)
            .values()
            .filter(|p| p.provider == provider && p.owner_key() == owner && tenant.is_none_or(|t| p.tenant_id == t))
            .take(limit)
            .cloned()
            .collect())
    }

    async fn pin_trust_policy(
        &self,
        tenant: TenantId,
        id: TrustPolicyId,
        repository_id: Option<&str>,
        owner_id: Option<&str>,
        at: OffsetDateTime,
    ) -> StoreResult<Option<TrustPolicy>> {
        let mut policies = write(&self.trust_policies);
        let Some(p) = policies.get_mut(&id).filter(|p| p.tenant_id == tenant) else {
            return Ok(None);
        };
        let mut changed = false;
        if let (None, Some(id)) = (&p.repository_id, repository_id) {
            p.repository_id = Some(id.to_owned());
            changed = true;
        }
        if let (None, Some(id)) = (&p.repository_owner_id, owner_id) {
            p.repository_owner_id = Some(id.to_owned());
            changed = true;
        }
        if changed {
            p.pinned_at = Some(at);
        }
        Ok(Some(p.clone()))
    }
}
