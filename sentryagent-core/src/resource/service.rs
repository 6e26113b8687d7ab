//! The resource service: [`SentryAgent`](crate::SentryAgent)'s methods over the model and the stores.
//!
//! Stores it needs: none.
//! Shared parts it uses: `resources`.

use super::challenge::Refusal;
use super::metadata::{ProtectedResourceMetadata, metadata_url, published_at};
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

    /// Whether tokens of `tenant` may be issued for `target` (RFC 8707): the
    /// IdP's own audience or an extra audience, or a protected resource
    /// whose policy accepts the tenant.
    pub(crate) fn allows_target(&self, target: &str, tenant: crate::TenantId) -> bool {
        self.inner.settings.allows_audience(target)
            || self
                .inner
                .resources
                .get(target)
                .is_some_and(|p| p.accepts_tenant(tenant))
    }

    /// The audience of a token of `tenant` asked for `targets` (RFC 8707's
    /// `resource`s): those targets, each once, when each is
    /// [allowed](Self::allows_target), the IdP's own audience when none was
    /// asked for; else the first target refused (`invalid_target`). One rule
    /// for every grant.
    pub(crate) fn token_audience<'a>(
        &self,
        targets: &[&'a str],
        tenant: crate::TenantId,
    ) -> Result<crate::token::Audience, &'a str> {
        if let Some(bad) = targets.iter().find(|t| !self.allows_target(t, tenant)) {
            return Err(bad);
        }
        Ok(match targets {
            [] => crate::token::Audience::One(self.inner.settings.audience.clone()),
            _ => {
                let mut unique: Vec<String> = Vec::with_capacity(targets.len());
                for t in targets {
                    if !unique.iter().any(|u| u == t) {
                        unique.push((*t).to_owned());
                    }
                }
                crate::token::Audience::of(unique)
            }
        })
    }

    /// The metadata document (RFC 9728) published at the well-known path
    /// [`WELL_KNOWN`](super::WELL_KNOWN)` + path` (`path` is `""` or starts
    /// with `/`; `query` as requested): the policy whose identifier puts its
    /// metadata there. When several hosts' resources share the path, `host`
    /// (the request's `Host`) picks one; `None` when no policy, or no single
    /// one, publishes there.
    pub fn protected_resource_metadata(
        &self,
        path: &str,
        query: Option<&str>,
        host: Option<&str>,
    ) -> Option<ProtectedResourceMetadata> {
        let found: Vec<_> = self
            .inner
            .resources
            .all()
            .into_iter()
            .filter_map(|p| published_at(&p, path, query).map(|h| (p, h)))
            .collect();
        let policy = match found.as_slice() {
            [(one, _)] => one.clone(),
            _ => {
                let host = host?;
                let mut same_host = found.iter().filter(|(_, h)| h.eq_ignore_ascii_case(host));
                match (same_host.next(), same_host.next()) {
                    (Some((one, _)), None) => one.clone(),
                    _ => return None,
                }
            }
        };
        Some(ProtectedResourceMetadata::of(&policy, &self.inner.settings.issuer))
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
            return Err(missing_policy(resource));
        };
        if !policy.accepted_principals().agents() {
            return Err(crate::Error::unauthorized("this resource accepts people's tokens only"));
        }
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

    /// What the adapters' extractors run: reads the bearer token of an
    /// `Authorization` header value and checks it as
    /// [`authorize_resource`](Self::authorize_resource) does. A refusal
    /// carries the challenge of RFC 6750 §3 pointing at the resource's
    /// metadata (RFC 9728 §5.1): no token (or another scheme) answers 401
    /// with `resource_metadata` only; a bad token adds `invalid_token`; a
    /// missing scope answers 403 `insufficient_scope` naming the scopes the
    /// resource needs.
    ///
    /// # Errors
    /// The [`Refusal`] to answer.
    pub async fn authorize_bearer(
        &self,
        authorization: Option<&str>,
        resource: Option<&str>,
    ) -> Result<crate::AgentIdentity, Refusal> {
        self.with_challenges(authorization, resource, |token| {
            self.authorize_resource(token, resource)
        })
        .await
    }

    /// The bearer token of an `Authorization` header value, checked by
    /// `check`, any refusal carrying the resource's challenges (see
    /// [`authorize_bearer`](Self::authorize_bearer)).
    async fn with_challenges<'a, T, Fut>(
        &self,
        authorization: Option<&'a str>,
        resource: Option<&str>,
        check: impl FnOnce(&'a str) -> Fut,
    ) -> Result<T, Refusal>
    where
        Fut: std::future::Future<Output = Result<T, crate::Error>>,
    {
        let id = resource.unwrap_or(&self.inner.settings.audience);
        let policy = self.inner.resources.get(id);
        let metadata = policy.as_ref().and_then(|p| metadata_url(p.resource()));
        let scopes = policy.as_ref().map(|p| p.required_scopes()).unwrap_or_default();
        let Some(token) = authorization.and_then(crate::token::bearer_token) else {
            if policy.is_none() {
                return Err(missing_policy(id).into());
            }
            let error = crate::Error::unauthorized("a bearer access token is required");
            return Err(Refusal::new(error, false, metadata.as_deref(), scopes));
        };
        check(token)
            .await
            .map_err(|error| Refusal::new(error, true, metadata.as_deref(), scopes))
    }

    /// Checks a bearer token of either kind against the policy of
    /// `resource` (`None`: the resource whose identifier is the IdP's
    /// audience): the kinds it accepts ([`ResourcePolicy::accept`]), then
    /// what [`verify_principal`](Self::verify_principal) checks with the
    /// resource as audience, the token's tenant and the required scopes
    /// (a person's exactly as granted, an agent's on what it holds now).
    ///
    /// # Errors
    /// 401 for a bad token, a kind or a tenant the resource does not
    /// accept; 403 `INSUFFICIENT_SCOPE`; [`Error::Internal`](crate::Error::Internal)
    /// when the host set no policy for the resource.
    pub async fn authorize_resource_principal(
        &self,
        token: &str,
        resource: Option<&str>,
    ) -> Result<crate::Principal, crate::Error> {
        let resource = resource.unwrap_or(&self.inner.settings.audience);
        let Some(policy) = self.inner.resources.get(resource) else {
            return Err(missing_policy(resource));
        };
        let principal = self.verify_principal(token, Some(policy.resource())).await?;
        let accepted = policy.accepted_principals();
        let kind_accepted = match &principal {
            crate::Principal::Agent(_) => accepted.agents(),
            crate::Principal::User(_) => accepted.people(),
        };
        if !kind_accepted {
            return Err(crate::Error::unauthorized(match accepted.agents() {
                true => "this resource accepts agents' tokens only",
                false => "this resource accepts people's tokens only",
            }));
        }
        if !policy.accepts_tenant(principal.tenant_id()) {
            return Err(crate::Error::unauthorized(
                "this resource does not accept tokens of the caller's tenant",
            ));
        }
        if let Some(missing) = policy.required_scopes().iter().find(|s| !principal.has_scope(s)) {
            return Err(crate::Error::InsufficientScope(missing.clone().into()));
        }
        Ok(principal)
    }

    /// What the adapters' `protect` middleware and their extractors of
    /// either kind run: [`authorize_resource_principal`](Self::authorize_resource_principal)
    /// on the bearer token of an `Authorization` header value, refused with
    /// the challenges of [`authorize_bearer`](Self::authorize_bearer).
    ///
    /// # Errors
    /// The [`Refusal`] to answer.
    pub async fn authorize_bearer_principal(
        &self,
        authorization: Option<&str>,
        resource: Option<&str>,
    ) -> Result<crate::Principal, Refusal> {
        self.with_challenges(authorization, resource, |token| {
            self.authorize_resource_principal(token, resource)
        })
        .await
    }

    /// [`authorize_bearer_principal`](Self::authorize_bearer_principal) for
    /// a route that serves people only: an agent's token is refused (401,
    /// with the resource's challenge).
    ///
    /// # Errors
    /// The [`Refusal`] to answer.
    pub async fn authorize_bearer_user(
        &self,
        authorization: Option<&str>,
        resource: Option<&str>,
    ) -> Result<crate::UserIdentity, Refusal> {
        match self.authorize_bearer_principal(authorization, resource).await? {
            crate::Principal::User(user) => Ok(user),
            crate::Principal::Agent(_) => {
                let id = resource.unwrap_or(&self.inner.settings.audience);
                let policy = self.inner.resources.get(id);
                let metadata = policy.as_ref().and_then(|p| metadata_url(p.resource()));
                let error = crate::Error::unauthorized("this route serves people's tokens only");
                Err(Refusal::new(error, true, metadata.as_deref(), &[]))
            }
        }
    }

    /// How a host route that checks a scope of its own (the extractors'
    /// `require_scope`) answers its absence for `resource` (`None`: the
    /// IdP's audience): 403 `insufficient_scope` whose challenge points at
    /// the resource's metadata (RFC 9728 §5.1), so a client can step up.
    pub fn scope_challenge(&self, resource: Option<&str>) -> ScopeChallenge {
        let id = resource.unwrap_or(&self.inner.settings.audience);
        let policy = self.inner.resources.get(id);
        ScopeChallenge {
            metadata: policy.as_ref().and_then(|p| metadata_url(p.resource())),
            scopes: policy.map(|p| p.required_scopes().to_vec()).unwrap_or_default(),
        }
    }
}

/// The step-up answer of a host route's own scope check; see
/// [`SentryAgent::scope_challenge`](crate::SentryAgent::scope_challenge).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ScopeChallenge {
    metadata: Option<String>,
    scopes: Vec<String>,
}

impl ScopeChallenge {
    /// The 403 refusal for a token without `missing`: its challenge names
    /// the resource's required scopes and `missing`, and the resource's
    /// metadata.
    pub fn refuse(&self, missing: &str) -> Refusal {
        let mut scopes = self.scopes.clone();
        if !scopes.iter().any(|s| s == missing) {
            scopes.push(missing.to_owned());
        }
        Refusal::new(
            crate::Error::InsufficientScope(missing.to_owned().into()),
            true,
            self.metadata.as_deref(),
            &scopes,
        )
    }
}

/// A host route names a resource it set no policy for: a configuration
/// mistake, logged with what to do.
fn missing_policy(resource: &str) -> crate::Error {
    tracing::error!(
        resource,
        "no resource policy for this resource: set one with SentryAgentBuilder::resource or SentryAgent::protect"
    );
    crate::Error::Internal("no resource policy".into())
}
