//! The resource service: [`SentryAgent`](crate::SentryAgent)'s methods over the model and the stores.

use super::model::*;

impl crate::SentryAgent {
    /// Sets the policy of a resource (replacing the one it had): for hosts
    /// whose tenants exist only once the IdP runs. See the module docs.
    pub fn protect(&self, policy: ResourcePolicy) {
        self.inner.resources.insert(policy);
    }

    /// The policy of `resource`, if the host set one.
    pub fn resource_policy(&self, resource: &str) -> Option<std::sync::Arc<ResourcePolicy>> {
        self.inner.resources.get(resource)
    }

    /// Whether clients may request tokens for `audience`: the IdP's own
    /// audience, a protected resource, or an extra audience.
    pub(crate) fn allows_audience(&self, audience: &str) -> bool {
        self.inner.settings.allows_audience(audience) || self.inner.resources.get(audience).is_some()
    }

    /// Checks a bearer token against the policy of `resource` (`None`: the
    /// resource whose identifier is the IdP's audience): everything
    /// [`verify_access_token`](Self::verify_access_token) checks with the
    /// resource as audience, then the token's tenant and the required
    /// scopes, on the scopes its agent holds now.
    ///
    /// # Errors
    /// 401 for a bad token or a tenant the resource does not accept; 403
    /// `INSUFFICIENT_SCOPE`; [`Error::Internal`](crate::Error::Internal) when
    /// the host set no policy for the resource (a configuration mistake,
    /// logged with what to do).
    pub async fn authorize_resource(
        &self,
        token: &str,
        resource: Option<&str>,
    ) -> Result<crate::AgentIdentity, crate::Error> {
        let resource = resource.unwrap_or(&self.inner.settings.audience);
        let Some(policy) = self.inner.resources.get(resource) else {
            tracing::error!(
                resource,
                "no resource policy for this resource: set one with SentryAgentBuilder::resource or SentryAgent::protect"
            );
            return Err(crate::Error::Internal("no resource policy".into()));
        };
        let identity = self.verify_access_token(token, Some(policy.resource())).await?;
        if !policy.accepts_tenant(identity.tenant_id) {
            return Err(crate::Error::unauthorized(
                "this resource does not accept tokens of the caller's tenant",
            ));
        }
        if let Some(missing) = policy
            .required_scopes()
            .iter()
            .find(|s| !crate::scope::grants(&identity.scopes, s))
        {
            return Err(crate::Error::InsufficientScope(missing.clone().into()));
        }
        Ok(identity)
    }
}
