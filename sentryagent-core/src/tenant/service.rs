//! The tenant service: [`SentryAgent`](crate::SentryAgent)'s methods over the model and the stores.
//!
//! Stores it needs: `agents`, `tenants`.

use super::model::*;
use crate::TenantId;
use crate::tenant::ADMIN_AGENT_NAME;

impl crate::SentryAgent {
    /// Creates a tenant, its admin agent (scope `admin`) and the admin
    /// credential: how an embedding host makes tenants, whatever the sign-up
    /// setting. Audited with the actor `operator`.
    ///
    /// ```
    /// # async fn demo() -> Result<(), sentryagent_core::Error> {
    /// let idp = sentryagent_core::SentryAgent::builder().build().await?;
    /// let created = idp.create_tenant("Acme").await?;
    /// println!("admin client id: {}", created.admin_client_id);
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// A validation error for a bad name; a store error.
    pub async fn create_tenant(&self, name: &str) -> Result<TenantCreated, crate::Error> {
        self.make_tenant(name, "operator", None).await
    }

    /// `POST /tenants`: sign-up over HTTP, as the [`Signup`](crate::Signup)
    /// setting allows: closed (403 `SIGNUP_CLOSED`), open to anyone, or to
    /// callers presenting the operator key.
    ///
    /// # Errors
    /// [`Error::SignupClosed`](crate::Error::SignupClosed);
    /// [`Error::Unauthorized`](crate::Error) without the operator key when
    /// one is required; a validation error for a bad name; a store error.
    pub async fn sign_up(
        &self,
        name: &str,
        operator_key: Option<&str>,
        ip: Option<std::net::IpAddr>,
    ) -> Result<TenantCreated, crate::Error> {
        let actor = match &self.inner.settings.signup {
            crate::Signup::Closed => return Err(crate::Error::SignupClosed),
            crate::Signup::Open => "anonymous",
            crate::Signup::OperatorKey(key) => {
                let presented = operator_key.unwrap_or_default();
                if aws_lc_rs::constant_time::verify_slices_are_equal(presented.as_bytes(), key.as_bytes()).is_err() {
                    return Err(crate::Error::unauthorized("sign-up needs the operator key"));
                }
                "operator"
            }
        };
        self.make_tenant(name, actor, ip).await
    }

    async fn make_tenant(
        &self,
        name: &str,
        actor: &str,
        ip: Option<std::net::IpAddr>,
    ) -> Result<TenantCreated, crate::Error> {
        use crate::audit::{NewAuditEvent, Outcome};

        let name = name.trim();
        let mut v = crate::error::Validator::default();
        v.check(
            !name.is_empty() && name.chars().count() <= 200,
            "name",
            "must be 1 to 200 characters",
        );
        v.finish()?;
        let now = crate::time::now();
        let tenant = Tenant {
            id: TenantId::new(),
            name: name.to_owned(),
            tier: "free".to_owned(),
            created_at: now,
        };
        self.inner.stores.tenants.insert_tenant(&tenant).await?;
        let admin = crate::agent::Agent {
            id: crate::AgentId::new(),
            tenant_id: tenant.id,
            name: ADMIN_AGENT_NAME.to_owned(),
            description: "The tenant's built-in administrator".to_owned(),
            capabilities: Vec::new(),
            metadata: serde_json::Map::new(),
            scopes: vec![crate::scope::ADMIN.to_owned()],
            status: crate::agent::AgentStatus::Active,
            listed: false,
            origin: None,
            created_at: now,
            updated_at: now,
        };
        self.inner.stores.agents.insert_agent(&admin).await?;
        let (credential, secret) = self.new_credential(&admin, None).await?;
        let events = vec![
            NewAuditEvent::new("tenant.created", Outcome::Success, actor)
                .ip(ip)
                .detail("name", tenant.name.as_str()),
            NewAuditEvent::new("agent.created", Outcome::Success, actor)
                .agent(admin.id)
                .ip(ip)
                .detail("name", admin.name.as_str()),
            NewAuditEvent::new("credential.created", Outcome::Success, actor)
                .agent(admin.id)
                .ip(ip)
                .detail("credentialId", credential.id.to_string()),
        ];
        self.record(tenant.id, events).await?;
        Ok(TenantCreated {
            admin_agent_id: admin.id,
            admin_client_id: credential.client_id,
            admin_client_secret: secret,
            tenant,
        })
    }

    /// An operator's recovery of a tenant's admin access, when every admin
    /// secret is lost: a new credential for the tenant's built-in admin
    /// agent, audited as `credential.created` by `operator`. Nothing is
    /// revoked; a suspended admin agent is reactivated (audited as
    /// `agent.reactivated` by `operator`). This is not an API route: it is
    /// for whoever holds the database and the master secret (the example
    /// server's `recover-admin` command).
    ///
    /// # Errors
    /// 404 when the tenant or its admin agent does not exist; 409
    /// `AGENT_DECOMMISSIONED` for a decommissioned admin agent; a store error.
    pub async fn recover_admin_credential(&self, tenant: TenantId) -> Result<RecoveredAdmin, crate::Error> {
        use crate::agent::{AgentQuery, AgentStatus};
        use crate::audit::{NewAuditEvent, Outcome};

        let stores = &self.inner.stores;
        if stores.tenants.tenant(tenant).await?.is_none() {
            return Err(crate::Error::NotFound("tenant"));
        }
        let mut query = AgentQuery {
            q: Some(ADMIN_AGENT_NAME.to_owned()),
            limit: 100,
            ..AgentQuery::default()
        };
        let mut admin = loop {
            let page = stores.agents.list_agents(tenant, &query).await?;
            if let Some(a) = page.iter().find(|a| a.name == ADMIN_AGENT_NAME) {
                break a.clone();
            }
            match page.last() {
                Some(last) if page.len() == query.limit => query.after = Some(last.id),
                _ => return Err(crate::Error::NotFound("admin agent")),
            }
        };
        let mut events = Vec::new();
        match admin.status {
            AgentStatus::Active => {}
            AgentStatus::Suspended => {
                admin.status = AgentStatus::Active;
                admin.updated_at = crate::time::now();
                stores.agents.update_agent(&admin).await?;
                events.push(
                    NewAuditEvent::new("agent.reactivated", Outcome::Success, "operator")
                        .agent(admin.id)
                        .detail("reason", "recover-admin"),
                );
            }
            AgentStatus::Decommissioned => {
                return Err(crate::Error::Conflict {
                    code: crate::ErrorCode::AgentDecommissioned,
                    message: "the tenant's admin agent is decommissioned".into(),
                });
            }
        }
        let (credential, secret) = self.new_credential(&admin, None).await?;
        events.push(
            NewAuditEvent::new("credential.created", Outcome::Success, "operator")
                .agent(admin.id)
                .detail("credentialId", credential.id.to_string())
                .detail("reason", "recover-admin"),
        );
        self.record(tenant, events).await?;
        tracing::warn!(%tenant, credential = %credential.id, "admin credential recovered by the operator");
        Ok(RecoveredAdmin {
            admin_agent_id: admin.id,
            credential_id: credential.id,
            admin_client_id: credential.client_id,
            admin_client_secret: secret,
        })
    }

    /// The caller's tenant.
    ///
    /// # Errors
    /// Not found if the tenant was deleted; a store error.
    pub async fn tenant(&self, caller: &crate::Caller) -> Result<Tenant, crate::Error> {
        self.inner
            .stores
            .tenants
            .tenant(caller.tenant())
            .await?
            .ok_or(crate::Error::NotFound("tenant"))
    }
}
