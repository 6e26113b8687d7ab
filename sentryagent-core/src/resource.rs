//! Resource policies: which tokens a host's own routes accept.
//!
//! A host that protects its own API (or MCP endpoint) with SentryAgent's
//! tokens says, once per resource, what a token must be to pass:
//!
//! - the resource's identifier, which is the audience (`aud`) its tokens
//!   must carry; clients ask for it with `resource` (or `audience`) at the
//!   token endpoint;
//! - the tenants whose tokens it accepts: one, a list, or explicitly any
//!   tenant of this IdP ([`ResourcePolicy::any_tenant`]), which includes
//!   tenants that signed up themselves when sign-up is open;
//! - optionally the scopes every call needs.
//!
//! A policy accepts no tenant until it is told one, so forgetting to say
//! refuses every token rather than admitting strangers. The IdP keeps the
//! policies ([`SentryAgentBuilder::resource`](crate::SentryAgentBuilder::resource),
//! or [`SentryAgent::protect`](crate::SentryAgent::protect) once tenants
//! exist); the adapters' extractors check a request against the policy of
//! the resource their route names, or against the policy whose identifier
//! is the IdP's own audience.
//!
//! ```
//! # async fn demo() -> Result<(), sentryagent_core::Error> {
//! use sentryagent_core::SentryAgent;
//! use sentryagent_core::resource::ResourcePolicy;
//!
//! let idp = SentryAgent::builder().issuer("https://idp.example.com").build().await?;
//! let acme = idp.create_tenant("Acme").await?;
//! idp.protect(
//!     ResourcePolicy::new("https://api.example.com")
//!         .tenant(acme.tenant.id)
//!         .require_scope("reports:read"),
//! );
//! # Ok(()) }
//! ```

use crate::TenantId;

/// The tenants whose tokens a resource accepts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AcceptedTenants {
    /// These tenants only (none: every token is refused).
    Only(Vec<TenantId>),
    /// Every tenant of this IdP, including tenants that signed up
    /// themselves when sign-up is open.
    AnyTenant,
}

/// What a token must be to reach one resource of the host; see the module
/// docs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ResourcePolicy {
    resource: String,
    tenants: AcceptedTenants,
    scopes: Vec<String>,
}

impl ResourcePolicy {
    /// A policy for the resource `resource` (its tokens' audience) that
    /// accepts no tenant yet.
    pub fn new(resource: impl Into<String>) -> Self {
        Self {
            resource: resource.into(),
            tenants: AcceptedTenants::Only(Vec::new()),
            scopes: Vec::new(),
        }
    }

    /// Accepts tokens of `tenant` too.
    pub fn tenant(mut self, tenant: TenantId) -> Self {
        match &mut self.tenants {
            AcceptedTenants::Only(list) if !list.contains(&tenant) => list.push(tenant),
            _ => {}
        }
        self
    }

    /// Accepts tokens of these tenants too.
    pub fn tenants(self, tenants: impl IntoIterator<Item = TenantId>) -> Self {
        tenants.into_iter().fold(self, Self::tenant)
    }

    /// Accepts tokens of every tenant of this IdP, including tenants that
    /// signed up themselves when sign-up is open. Choose it only when the
    /// resource is meant for all of them.
    pub fn any_tenant(mut self) -> Self {
        self.tenants = AcceptedTenants::AnyTenant;
        self
    }

    /// Every call needs `scope` too (a host scope such as `reports:read`;
    /// `admin` does not stand in for it).
    pub fn require_scope(mut self, scope: impl Into<String>) -> Self {
        let scope = scope.into();
        if !self.scopes.contains(&scope) {
            self.scopes.push(scope);
        }
        self
    }

    /// The resource's identifier: the audience its tokens carry.
    pub fn resource(&self) -> &str {
        &self.resource
    }

    /// The tenants it accepts.
    pub fn accepted_tenants(&self) -> &AcceptedTenants {
        &self.tenants
    }

    /// The scopes every call needs.
    pub fn required_scopes(&self) -> &[String] {
        &self.scopes
    }

    /// Whether tokens of `tenant` may reach the resource.
    pub fn accepts_tenant(&self, tenant: TenantId) -> bool {
        match &self.tenants {
            AcceptedTenants::Only(list) => list.contains(&tenant),
            AcceptedTenants::AnyTenant => true,
        }
    }
}

/// The resource policies of one IdP, by identifier.
#[derive(Default)]
pub(crate) struct Resources(std::sync::RwLock<std::collections::HashMap<String, std::sync::Arc<ResourcePolicy>>>);

impl Resources {
    pub(crate) fn get(&self, resource: &str) -> Option<std::sync::Arc<ResourcePolicy>> {
        // A poisoned lock means a panic during an insert; the map is intact.
        self.0
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .get(resource)
            .cloned()
    }

    pub(crate) fn insert(&self, policy: ResourcePolicy) {
        self.0
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .insert(policy.resource.clone(), std::sync::Arc::new(policy));
    }
}

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

/// Names the resource whose policy a host route's extractor applies: put
/// it in the route's request extensions (axum: `Extension(Resource::new(…))`;
/// poem: `.data(Resource::new(…))`). Without it the extractor applies the
/// policy whose identifier is the IdP's own audience.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Resource(pub String);

impl Resource {
    /// Names `resource`.
    pub fn new(resource: impl Into<String>) -> Self {
        Self(resource.into())
    }
}
