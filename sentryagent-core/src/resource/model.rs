//! The resource model: records, requests, answers and their validation.

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

/// Whose tokens a resource accepts: agents' (client credentials, workload
/// identity), people's acting through a client (the authorization-code
/// flow), or both.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Principals {
    /// Agents only (the default).
    #[default]
    Agents,
    /// People acting through a client only.
    People,
    /// Both.
    AgentsAndPeople,
}

impl Principals {
    /// Whether agents' tokens are accepted.
    pub fn agents(self) -> bool {
        matches!(self, Principals::Agents | Principals::AgentsAndPeople)
    }

    /// Whether people's tokens are accepted.
    pub fn people(self) -> bool {
        matches!(self, Principals::People | Principals::AgentsAndPeople)
    }
}

/// What a token must be to reach one resource of the host; see the module
/// docs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ResourcePolicy {
    resource: String,
    tenants: AcceptedTenants,
    scopes: Vec<String>,
    name: Option<String>,
    principals: Principals,
}

impl ResourcePolicy {
    /// A policy for the resource `resource` (its tokens' audience) that
    /// accepts no tenant yet.
    pub fn new(resource: impl Into<String>) -> Self {
        Self {
            resource: resource.into(),
            tenants: AcceptedTenants::Only(Vec::new()),
            scopes: Vec::new(),
            name: None,
            principals: Principals::Agents,
        }
    }

    /// Whose tokens it accepts: agents' only unless told (an MCP server that
    /// people connect their clients to accepts [`Principals::People`] or
    /// [`Principals::AgentsAndPeople`]). Tenants and scopes apply to both.
    pub fn accept(mut self, principals: Principals) -> Self {
        self.principals = principals;
        self
    }

    /// Whose tokens it accepts.
    pub fn accepted_principals(&self) -> Principals {
        self.principals
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

    /// A name for people, published as the metadata's `resource_name`
    /// (RFC 9728 §2).
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.name = Some(name.into());
        self
    }

    /// The name for people, if the host gave one.
    pub fn display_name(&self) -> Option<&str> {
        self.name.as_deref()
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

    /// Every policy, in no particular order.
    pub(crate) fn all(&self) -> Vec<std::sync::Arc<ResourcePolicy>> {
        self.0
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .values()
            .cloned()
            .collect()
    }

    pub(crate) fn insert(&self, policy: ResourcePolicy) {
        self.0
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .insert(policy.resource.clone(), std::sync::Arc::new(policy));
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
