//! Who may do what: the one rule every management route goes through.
//!
//! Scopes are the only currency of permission, and nobody gets more than
//! they hold:
//!
//! 1. **The route's scope.** Each [`Operation`] needs one scope
//!    ([`Operation::scope`]); `admin` grants every management scope.
//! 2. **The grant ceiling.** A caller may grant (to a new agent, an agent's
//!    new scope list, or a trust policy's ceiling) only scopes it holds.
//! 3. **The target ceiling.** A caller may act on an agent (change it, its
//!    scopes or status, its credentials, its keys, its trust policies, revoke
//!    its tokens) only if it holds every scope that agent holds, so a holder
//!    of `credentials:write` cannot mint a credential for an agent with
//!    `admin` and become it.
//! 4. **Built-in agents** (the tenant's admin and its OIDC bootstrap agent)
//!    are changed only by an `admin`.
//! 5. **Bootstrap tokens** (from a bootstrap trust policy) register new
//!    agents and do nothing else, and they grant only within the policy's
//!    `maxScopes`, which never appears in the token.
//!
//! For rules 2 and 3 `admin` counts as holding every scope, host-defined
//! ones included. At the host's own routes it does not: there a token passes
//! only the host scopes it literally carries ([`crate::scope::grants`]).
//!
//! "Holds" means now: the scopes a caller holds are the scopes in its token
//! that its agent still holds at the moment of the call
//! ([`effective_scopes`]), so an agent demoted from `admin` loses `admin` on
//! its live tokens at once.
//!
//! [`decide`] is the rule as a pure function; every service method calls it
//! through `SentryAgent::authorize`, which audits each refusal in the
//! tenant's chain (`permission.denied`, naming the rule).

mod refusal;

use crate::agent::Agent;
use crate::scope;
pub use refusal::Refusal;

/// Every management operation that checks permissions: one per bearer route
/// of the API, plus revoking another agent's token at `/oauth2/revoke` and
/// introspecting one at `/oauth2/introspect`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Operation {
    /// `GET /tenants/me`.
    ReadTenant,
    /// `POST /agents`.
    RegisterAgent,
    /// `GET /agents`.
    ListAgents,
    /// `GET /agents/{agentId}`.
    ReadAgent,
    /// `PATCH /agents/{agentId}`.
    UpdateAgent,
    /// `DELETE /agents/{agentId}`.
    DecommissionAgent,
    /// `POST /agents/{agentId}/credentials`.
    CreateCredential,
    /// `GET /agents/{agentId}/credentials`.
    ListCredentials,
    /// `POST /agents/{agentId}/credentials/{credentialId}/rotate`.
    RotateCredential,
    /// `DELETE /agents/{agentId}/credentials/{credentialId}`.
    RevokeCredential,
    /// `POST /agents/{agentId}/keys`.
    AddAgentKey,
    /// `GET /agents/{agentId}/keys`.
    ListAgentKeys,
    /// `DELETE /agents/{agentId}/keys/{keyId}`.
    RemoveAgentKey,
    /// `GET /audit`.
    QueryAudit,
    /// `GET /audit/verify`.
    VerifyAudit,
    /// `GET /audit/checkpoint`.
    ReadAuditCheckpoint,
    /// `GET /usage`.
    ReadUsage,
    /// `POST /billing/checkout`.
    Checkout,
    /// `GET /billing/subscription`.
    ReadSubscription,
    /// `POST /oidc/trust-policies`.
    CreateTrustPolicy,
    /// `GET /oidc/trust-policies`.
    ListTrustPolicies,
    /// `POST /oidc/trust-policies/evaluate`.
    EvaluateTrustPolicies,
    /// `GET /oidc/trust-policies/{policyId}`.
    ReadTrustPolicy,
    /// `DELETE /oidc/trust-policies/{policyId}`.
    DeleteTrustPolicy,
    /// `POST /oauth-clients`.
    RegisterOAuthClient,
    /// `GET /oauth-clients`.
    ListOAuthClients,
    /// `GET /oauth-clients/{clientId}`.
    ReadOAuthClient,
    /// `PATCH /oauth-clients/{clientId}`.
    UpdateOAuthClient,
    /// `DELETE /oauth-clients/{clientId}`.
    DeleteOAuthClient,
    /// `GET /consents`.
    ListConsents,
    /// `DELETE /consents/{consentId}`.
    RevokeConsent,
    /// `DELETE /users/{userId}/consents`.
    RevokeUserConsents,
    /// `POST /oauth2/introspect` of another token than the bearer's own.
    IntrospectToken,
    /// `POST /oauth2/revoke` of another agent's token.
    RevokeToken,
}

impl Operation {
    /// Every operation.
    pub const ALL: &[Operation] = &[
        Operation::ReadTenant,
        Operation::RegisterAgent,
        Operation::ListAgents,
        Operation::ReadAgent,
        Operation::UpdateAgent,
        Operation::DecommissionAgent,
        Operation::CreateCredential,
        Operation::ListCredentials,
        Operation::RotateCredential,
        Operation::RevokeCredential,
        Operation::AddAgentKey,
        Operation::ListAgentKeys,
        Operation::RemoveAgentKey,
        Operation::QueryAudit,
        Operation::VerifyAudit,
        Operation::ReadAuditCheckpoint,
        Operation::ReadUsage,
        Operation::Checkout,
        Operation::ReadSubscription,
        Operation::CreateTrustPolicy,
        Operation::ListTrustPolicies,
        Operation::EvaluateTrustPolicies,
        Operation::ReadTrustPolicy,
        Operation::DeleteTrustPolicy,
        Operation::RegisterOAuthClient,
        Operation::ListOAuthClients,
        Operation::ReadOAuthClient,
        Operation::UpdateOAuthClient,
        Operation::DeleteOAuthClient,
        Operation::ListConsents,
        Operation::RevokeConsent,
        Operation::RevokeUserConsents,
        Operation::IntrospectToken,
        Operation::RevokeToken,
    ];

    /// The operation id of its route (the OpenAPI `operationId`).
    pub fn operation_id(self) -> &'static str {
        match self {
            Operation::ReadTenant => "getMyTenant",
            Operation::RegisterAgent => "registerAgent",
            Operation::ListAgents => "listAgents",
            Operation::ReadAgent => "getAgent",
            Operation::UpdateAgent => "updateAgent",
            Operation::DecommissionAgent => "decommissionAgent",
            Operation::CreateCredential => "createCredential",
            Operation::ListCredentials => "listCredentials",
            Operation::RotateCredential => "rotateCredential",
            Operation::RevokeCredential => "revokeCredential",
            Operation::AddAgentKey => "addAgentKey",
            Operation::ListAgentKeys => "listAgentKeys",
            Operation::RemoveAgentKey => "removeAgentKey",
            Operation::QueryAudit => "queryAudit",
            Operation::VerifyAudit => "verifyAudit",
            Operation::ReadAuditCheckpoint => "getAuditCheckpoint",
            Operation::ReadUsage => "getUsage",
            Operation::Checkout => "createCheckout",
            Operation::ReadSubscription => "getSubscription",
            Operation::CreateTrustPolicy => "createTrustPolicy",
            Operation::ListTrustPolicies => "listTrustPolicies",
            Operation::EvaluateTrustPolicies => "evaluateTrustPolicies",
            Operation::ReadTrustPolicy => "getTrustPolicy",
            Operation::DeleteTrustPolicy => "deleteTrustPolicy",
            Operation::RegisterOAuthClient => "registerOAuthClient",
            Operation::ListOAuthClients => "listOAuthClients",
            Operation::ReadOAuthClient => "getOAuthClient",
            Operation::UpdateOAuthClient => "updateOAuthClient",
            Operation::DeleteOAuthClient => "deleteOAuthClient",
            Operation::ListConsents => "listConsents",
            Operation::RevokeConsent => "revokeConsent",
            Operation::RevokeUserConsents => "revokeUserConsents",
            Operation::IntrospectToken => "introspectToken",
            Operation::RevokeToken => "revokeToken",
        }
    }

    /// The scope the operation needs. `None`: any authenticated caller of
    /// the tenant (reading its own tenant).
    pub fn scope(self) -> Option<&'static str> {
        Some(match self {
            Operation::ReadTenant => return None,
            Operation::ListAgents | Operation::ReadAgent | Operation::ListCredentials | Operation::ListAgentKeys => {
                scope::AGENTS_READ
            }
            Operation::RegisterAgent
            | Operation::UpdateAgent
            | Operation::DecommissionAgent
            | Operation::AddAgentKey
            | Operation::RemoveAgentKey => scope::AGENTS_WRITE,
            Operation::CreateCredential
            | Operation::RotateCredential
            | Operation::RevokeCredential
            | Operation::RevokeToken => scope::CREDENTIALS_WRITE,
            Operation::QueryAudit | Operation::VerifyAudit | Operation::ReadAuditCheckpoint => scope::AUDIT_READ,
            Operation::ReadUsage | Operation::ReadSubscription => scope::USAGE_READ,
            Operation::Checkout => scope::BILLING_WRITE,
            Operation::CreateTrustPolicy
            | Operation::ListTrustPolicies
            | Operation::ReadTrustPolicy
            | Operation::DeleteTrustPolicy => scope::TRUST_POLICIES_WRITE,
            Operation::RegisterOAuthClient
            | Operation::ListOAuthClients
            | Operation::ReadOAuthClient
            | Operation::UpdateOAuthClient
            | Operation::DeleteOAuthClient => scope::OAUTH_CLIENTS_WRITE,
            // Consents say which person uses which client: the admin's.
            Operation::EvaluateTrustPolicies
            | Operation::ListConsents
            | Operation::RevokeConsent
            | Operation::RevokeUserConsents => scope::ADMIN,
            Operation::IntrospectToken => scope::TOKENS_INTROSPECT,
        })
    }

    /// Whether the operation acts on an agent, so the target ceiling and the
    /// built-in rule apply to it.
    pub fn acts_on_agent(self) -> bool {
        matches!(
            self,
            Operation::UpdateAgent
                | Operation::DecommissionAgent
                | Operation::CreateCredential
                | Operation::RotateCredential
                | Operation::RevokeCredential
                | Operation::AddAgentKey
                | Operation::RemoveAgentKey
                | Operation::CreateTrustPolicy
                | Operation::DeleteTrustPolicy
                | Operation::RevokeToken
        )
    }

    /// Whether the operation can grant scopes (the grant ceiling applies).
    pub fn grants_scopes(self) -> bool {
        matches!(
            self,
            Operation::RegisterAgent | Operation::UpdateAgent | Operation::CreateTrustPolicy
        )
    }
}

/// The caller as the rule sees it.
#[derive(Clone, Copy, Debug)]
pub struct Principal<'a> {
    /// The scopes it holds now ([`effective_scopes`]).
    pub scopes: &'a [String],
    /// For a bootstrap token: the `maxScopes` of its trust policy. Such a
    /// caller registers agents and nothing else.
    pub bootstrap_ceiling: Option<&'a [String]>,
}

impl Principal<'_> {
    /// Whether the caller holds `scope` for granting or acting: literally,
    /// or through `admin` (which holds every scope, host scopes included).
    pub fn holds(&self, scope: &str) -> bool {
        self.scopes.iter().any(|s| s == scope || s == scope::ADMIN)
    }

    fn is_admin(&self) -> bool {
        self.scopes.iter().any(|s| s == scope::ADMIN)
    }
}

/// Whether `target` is a built-in agent: the tenant's admin or its OIDC
/// bootstrap agent.
pub fn is_built_in(target: &Agent) -> bool {
    crate::marketplace::is_built_in(&target.name)
}

/// The rule: may `caller` perform `op` on `target` (for operations that
/// act on an agent), granting `granting` (for operations that grant)?
///
/// ```
/// use sentryagent_core::permission::{Operation, Principal, Refusal, decide};
///
/// let scopes = vec!["agents:write".to_owned()];
/// let caller = Principal { scopes: &scopes, bootstrap_ceiling: None };
/// assert_eq!(decide(&caller, Operation::RegisterAgent, None, &["agents:write".into()]), Ok(()));
/// assert_eq!(
///     decide(&caller, Operation::RegisterAgent, None, &["admin".into()]),
///     Err(Refusal::GrantCeiling("admin".into()))
/// );
/// ```
///
/// # Errors
/// The first rule that refuses, in the order of the module docs.
pub fn decide(
    caller: &Principal<'_>,
    op: Operation,
    target: Option<&Agent>,
    granting: &[String],
) -> Result<(), Refusal> {
    if let Some(required) = op.scope()
        && !scope::grants(caller.scopes, required)
    {
        return Err(Refusal::MissingScope(required));
    }
    if let Some(ceiling) = caller.bootstrap_ceiling {
        if op != Operation::RegisterAgent {
            return Err(Refusal::BootstrapRegistersOnly);
        }
        if let Some(s) = granting.iter().find(|s| !ceiling.contains(s)) {
            return Err(Refusal::GrantCeiling(s.clone()));
        }
        return Ok(());
    }
    if let Some(s) = granting.iter().find(|s| !caller.holds(s)) {
        return Err(Refusal::GrantCeiling(s.clone()));
    }
    if let Some(target) = target.filter(|_| op.acts_on_agent()) {
        if is_built_in(target) && !caller.is_admin() {
            return Err(Refusal::BuiltInAgent);
        }
        if let Some(s) = target.scopes.iter().find(|s| !caller.holds(s)) {
            return Err(Refusal::TargetCeiling(s.clone()));
        }
    }
    Ok(())
}

/// The scopes of a token that its agent still holds now: what the token is
/// worth at this moment. A scope stays if the agent holds it literally, or
/// holds `admin` and it is a management scope (the scopes a token of an
/// admin may carry).
pub fn effective_scopes(token_scopes: &[String], agent_scopes: &[String]) -> Vec<String> {
    token_scopes
        .iter()
        .filter(|s| scope::grants(agent_scopes, s))
        .cloned()
        .collect()
}

#[cfg(test)]
mod tests;
