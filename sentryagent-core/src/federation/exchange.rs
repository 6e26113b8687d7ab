//! `POST /oidc/token` and `POST /oidc/trust-policies/evaluate`.
//!
//! The exchange, in order: the token's signature against the issuer's keys
//! (pinned algorithm per key), `exp`/`nbf`/`iat` with the clock skew, `iss`,
//! `aud`; the candidate policies (same repository owner, the named tenant
//! and agent, if any); each condition on the individual claims; the branch;
//! the agent's status; the replay guard; trust-on-first-use pinning; then
//! the access token. Every decision past the signature is audited in the
//! tenant it concerns.
//!
//! Evaluation holds a registered issuer's token by the JWT bearer grant's
//! rule (`claims`).
//!
//! Stores it needs: `agents`, `directory`, `replay`, `trust_policies`.

use std::collections::BTreeSet;
use std::net::IpAddr;

use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Validation, decode, decode_header};
use serde::{Deserialize, Serialize};

use serde_json::{Map, Value};

use super::claims::{evaluate_oidc, refusal_reason, trusts_issuer};
use super::jwks::KeyLookup;
use super::policy::{Failure, GitHubClaims, TrustPolicy, evaluate, owner_key};
use super::{FederationError, Provider, bootstrap_agent_id};
use crate::agent::{Agent, AgentStatus};
use crate::audit::{NewAuditEvent, Outcome};
use crate::error::Error;
use crate::token::{Actor, TokenResponse};
use crate::{AgentId, Caller, SentryAgent, TenantId, TrustPolicyId, scope};

/// The body of `POST /oidc/token`.
#[derive(Clone, Debug, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ExchangeRequest {
    /// The workflow's OIDC token.
    #[serde(default)]
    pub token: String,
    /// The tenant whose trust policies are held against the token: required
    /// unless `agentId` is given (then it is that agent's tenant). Only this
    /// tenant's policies are read.
    pub tenant_id: Option<TenantId>,
    /// A token for this agent; without it a bootstrap policy of the tenant
    /// is preferred, then the one agent whose policy matches.
    pub agent_id: Option<AgentId>,
}

/// A verified token: GitHub's claims plus what the exchange needs.
#[derive(Deserialize)]
struct Verified {
    jti: String,
    exp: i64,
    iat: i64,
    #[serde(flatten)]
    claims: GitHubClaims,
}

fn invalid(reason: impl Into<String>) -> FederationError {
    FederationError::TokenInvalid(reason.into())
}

/// The policies that admit `claims`, narrowed to one target: the named agent,
/// else bootstrap policies, else agent policies; one tenant and one agent,
/// or an [`Ambiguous`](FederationError::Ambiguous) error.
fn select<'a>(
    admitted: &[&'a TrustPolicy],
    agent: Option<AgentId>,
) -> Result<Option<&'a TrustPolicy>, FederationError> {
    let pool: Vec<&TrustPolicy> = match agent {
        Some(a) => admitted.iter().copied().filter(|p| p.agent_id == Some(a)).collect(),
        None if admitted.iter().any(|p| p.agent_id.is_none()) => {
            admitted.iter().copied().filter(|p| p.agent_id.is_none()).collect()
        }
        None => admitted.to_vec(),
    };
    let tenants: BTreeSet<TenantId> = pool.iter().map(|p| p.tenant_id).collect();
    if tenants.len() > 1 {
        return Err(FederationError::Ambiguous {
            field: "tenantId",
            what: "tenant",
            count: tenants.len(),
        });
    }
    let agents: BTreeSet<Option<AgentId>> = pool.iter().map(|p| p.agent_id).collect();
    if agents.len() > 1 {
        return Err(FederationError::Ambiguous {
            field: "agentId",
            what: "agent",
            count: agents.len(),
        });
    }
    Ok(pool.first().copied())
}

/// Whether a policy failed on its branch alone.
fn only_branch_failed(failures: &[Failure]) -> bool {
    matches!(failures, [f] if f.condition == "branch")
}

/// The answer of `POST /oidc/trust-policies/evaluate`.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Evaluation {
    /// How the token verified (`None` when claims were given instead).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub token: Option<TokenCheck>,
    /// The claims evaluated.
    #[schema(value_type = Object)]
    pub claims: EvaluatedClaims,
    /// The policy an exchange (or a JWT bearer grant) would use, if any.
    #[serde(rename = "match")]
    pub matched: Option<TrustPolicyId>,
    /// Why no policy would be used: for GitHub's tokens the exchange's
    /// error code (`TRUST_POLICY_NOT_FOUND`…); for a registered issuer's,
    /// the reason the JWT bearer grant audits (`issuer_not_registered`,
    /// `wrong_audience`, `conditions_not_met`) or `TRUST_POLICY_AMBIGUOUS`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refusal: Option<&'static str>,
    /// Every policy of the tenant for this provider (`github` for GitHub's
    /// tokens, `oidc` for any other issuer's), with its first failed condition.
    pub policies: Vec<PolicyVerdict>,
}

/// The claims evaluated: GitHub's, or those of a registered issuer's token
/// as it carries them.
#[derive(Clone, Debug, Serialize)]
#[serde(untagged)]
pub enum EvaluatedClaims {
    /// A GitHub Actions token's claims.
    GitHub(Box<GitHubClaims>),
    /// Another issuer's claims.
    Issuer(Map<String, Value>),
}

/// How a presented token fared.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct TokenCheck {
    /// Whether it verified.
    pub valid: bool,
    /// The exchange's error code when it did not (for a registered
    /// issuer's token, the reason the JWT bearer grant audits: `expired`,
    /// `invalid_signature`, `unknown_key`, `issuer_not_registered`…).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub code: Option<&'static str>,
    /// Why not.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

/// One policy's verdict.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PolicyVerdict {
    /// The policy.
    pub policy_id: TrustPolicyId,
    /// Its repository (empty for provider `oidc`).
    pub repository: String,
    /// Provider `oidc`: the issuer it trusts.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub issuer: Option<String>,
    /// Its agent (`None`: bootstrap).
    pub agent_id: Option<AgentId>,
    /// Whether it admits the claims.
    pub admits: bool,
    /// The first condition that failed.
    pub failed: Option<Failure>,
}

/// The body of `POST /oidc/trust-policies/evaluate`: a token, or its claims.
#[derive(Clone, Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct EvaluateRequest {
    /// A workflow's OIDC token, or a workload token of an issuer the tenant
    /// registered (an expired one is fine: its claims are evaluated
    /// whatever the verification said).
    pub token: Option<String>,
    /// Or the claims, as the issuer names them. A token or claims whose
    /// `iss` is neither absent nor GitHub's issuer are held against the
    /// tenant's policies of provider `oidc`, by the JWT bearer grant's rule.
    #[schema(value_type = Option<Object>)]
    pub claims: Option<Map<String, Value>>,
    /// As in the exchange (the JWT bearer grant's `agent_id`).
    pub agent_id: Option<AgentId>,
}

impl SentryAgent {
    /// Verifies a workflow's OIDC token: signature with the issuer's key of
    /// its `kid` at that key's algorithm, `exp`/`nbf`/`iat` with the clock
    /// skew, `iss`, `aud`, and GitHub's claims.
    async fn verify_oidc_token(&self, token: &str) -> Result<Verified, FederationError> {
        let inner = &self.inner;
        let settings = &inner.settings;
        let fed = &settings.federation;
        let jwks = &inner.federation.jwks;
        if !jwks.configured() {
            return Err(FederationError::NotConfigured);
        }
        let header = decode_header(token).map_err(|_| invalid("it is not a JWT signed with a supported algorithm"))?;
        let kid = header.kid.ok_or_else(|| invalid("its header names no key (kid)"))?;
        let key = jwks.key(&kid).await.map_err(|e| match e {
            KeyLookup::Unknown => invalid("its key (kid) is not one the issuer publishes"),
            KeyLookup::Unavailable => FederationError::ProviderUnavailable,
            KeyLookup::NotConfigured => FederationError::NotConfigured,
        })?;
        if header.alg != key.algorithm {
            return Err(invalid("its algorithm is not its key's"));
        }
        let issuer = fed.issuer.trim_end_matches('/');
        let audience = self.oidc_audience();
        let mut validation = Validation::new(key.algorithm);
        validation.leeway = settings.clock_skew.as_secs();
        validation.validate_nbf = true;
        validation.set_issuer(&[issuer]);
        validation.set_audience(&[audience]);
        validation.set_required_spec_claims(&["exp", "iat", "iss", "aud"]);
        let verified = decode::<Verified>(token, &key.decoding, &validation)
            .map(|data| data.claims)
            .map_err(|e| match e.kind() {
                ErrorKind::ExpiredSignature => FederationError::TokenExpired,
                ErrorKind::ImmatureSignature => invalid("it is not valid yet (nbf)"),
                ErrorKind::InvalidIssuer => invalid(format!("its issuer is not {issuer}")),
                ErrorKind::InvalidAudience => invalid(format!(
                    "its audience is not {audience}; request the token with audience={audience}"
                )),
                ErrorKind::InvalidSignature => invalid("its signature does not verify"),
                ErrorKind::MissingRequiredClaim(c) => invalid(format!("it has no {c} claim")),
                ErrorKind::Json(_) => invalid("it lacks GitHub's claims (repository, ids, jti)"),
                _ => invalid("it cannot be decoded"),
            })?;
        let skew = i64::try_from(settings.clock_skew.as_secs()).unwrap_or(i64::MAX);
        if verified.iat > crate::time::now().unix_timestamp().saturating_add(skew) {
            return Err(invalid("it was issued in the future (iat)"));
        }
        Ok(verified)
    }

    /// The audience workflow tokens must carry.
    pub fn oidc_audience(&self) -> &str {
        let settings = &self.inner.settings;
        settings.federation.audience.as_deref().unwrap_or(&settings.issuer)
    }

    /// `POST /oidc/token`: exchanges a workflow's OIDC token for an access
    /// token under the first policy that admits it (see the module docs for
    /// the order of the checks). A bootstrap policy gives a token with
    /// `agents:write` in its tenant; an agent policy a token for its agent.
    ///
    /// # Errors
    /// A [`FederationError`] (401, 403, 400 or 503); 403 `AGENT_SUSPENDED`;
    /// 429 over the tier's quota; a store error.
    pub async fn exchange_oidc_token(
        &self,
        request: ExchangeRequest,
        ip: Option<IpAddr>,
    ) -> Result<TokenResponse, Error> {
        let Verified { jti, exp, claims, .. } = match self.verify_oidc_token(&request.token).await {
            Ok(v) => v,
            Err(e) => {
                // No tenant can be trusted from an unverified token: logged, not audited.
                tracing::info!(reason = %e, "OIDC token exchange refused");
                return Err(e.into());
            }
        };
        let stores = &self.inner.stores;
        // Only the named tenant's policies are read, so that no other
        // tenant's policy can make this exchange fail, succeed or be heard of.
        let tenant = match (request.tenant_id, request.agent_id) {
            (Some(tenant), _) => tenant,
            (None, Some(agent)) => match stores.directory.did_subject(agent).await? {
                Some(subject) => subject.tenant_id,
                None => {
                    tracing::info!(repository = %claims.repository, "OIDC token exchange refused: unknown agent");
                    return Err(not_found(&claims).into());
                }
            },
            (None, None) => return Err(tenant_required()),
        };
        let owner = owner_key(&claims.repository);
        let limit = super::MAX_POLICIES_PER_TENANT;
        let mut candidates = stores
            .trust_policies
            .trust_policies_for_owner(Provider::GitHub, &owner, Some(tenant), limit)
            .await?;
        if let Some(agent) = request.agent_id {
            candidates.retain(|p| p.agent_id == Some(agent));
        }
        let verdicts: Vec<(&TrustPolicy, Vec<Failure>)> =
            candidates.iter().map(|p| (p, evaluate(p, &claims))).collect();
        let admitted: Vec<&TrustPolicy> = verdicts.iter().filter(|(_, f)| f.is_empty()).map(|(p, _)| *p).collect();
        // Tenants with a policy for this repository hear of a refusal.
        let concerned: BTreeSet<TenantId> = verdicts
            .iter()
            .filter(|(_, f)| f.first().is_none_or(|f| f.condition != "repository"))
            .map(|(p, _)| p.tenant_id)
            .collect();
        let policy = match select(&admitted, request.agent_id) {
            Ok(Some(policy)) => policy,
            Ok(None) => {
                let refusal = match verdicts.iter().find(|(_, f)| only_branch_failed(f)) {
                    Some((_, f)) => FederationError::BranchMismatch {
                        allowed: f[0].allowed.as_str().unwrap_or_default().to_owned(),
                        provided: f[0].provided.as_str().unwrap_or_default().to_owned(),
                    },
                    None => not_found(&claims),
                };
                return Err(self.deny(&concerned, &claims, None, refusal, ip).await);
            }
            Err(ambiguous) => {
                let tenants = admitted.iter().map(|p| p.tenant_id).collect();
                return Err(self.deny(&tenants, &claims, None, ambiguous, ip).await);
            }
        };
        let one = BTreeSet::from([tenant]);
        let agent = match policy.agent_id {
            Some(id) => stores.agents.agent(tenant, id).await?,
            None => {
                self.ensure_bootstrap_agent(tenant).await?;
                stores.agents.agent(tenant, bootstrap_agent_id(tenant)).await?
            }
        };
        let agent: Agent = match agent {
            Some(a) if a.status == AgentStatus::Active => a,
            Some(a) if a.status == AgentStatus::Suspended => {
                return Err(self.deny_agent(tenant, &claims, policy, "agent_suspended", ip).await);
            }
            _ => {
                let e = FederationError::AgentDecommissioned;
                return Err(self.deny(&one, &claims, Some(policy), e, ip).await);
            }
        };
        self.check_quota(tenant).await?;
        let expires = crate::token::stops_verifying(exp, self.inner.settings.clock_skew);
        let issuer = self.inner.settings.federation.issuer.trim_end_matches('/');
        if !stores
            .replay
            .first_use(&format!("oidc:{issuer}:{jti}"), expires)
            .await?
        {
            let e = invalid("it was exchanged before; request a new token for each exchange");
            return Err(self.deny(&one, &claims, Some(policy), e, ip).await);
        }
        let mut events = Vec::new();
        if let Some((repository_id, owner_id)) = policy.pins_for(&claims) {
            let pinned = stores
                .trust_policies
                .pin_trust_policy(
                    tenant,
                    policy.id,
                    repository_id.as_deref(),
                    owner_id.as_deref(),
                    crate::time::now(),
                )
                .await?;
            // A concurrent first exchange from another repository may have won.
            if pinned.as_ref().is_none_or(|p| !evaluate(p, &claims).is_empty()) {
                return Err(self.deny(&one, &claims, Some(policy), not_found(&claims), ip).await);
            }
            let mut event = NewAuditEvent::new("trust_policy.pinned", Outcome::Success, actor(&claims))
                .ip(ip)
                .detail("policyId", policy.id.to_string())
                .detail("repository", claims.repository.as_str());
            if let Some(id) = repository_id {
                event = event.detail("repositoryId", id);
            }
            if let Some(id) = owner_id {
                event = event.detail("repositoryOwnerId", id);
            }
            events.push(event);
        }
        let (mode, scopes, act) = match policy.agent_id {
            Some(_) => ("agent", agent.scopes.join(" "), None),
            None => {
                let act = Actor {
                    sub: actor(&claims),
                    repository: claims.repository.clone(),
                    repository_id: claims.repository_id.clone(),
                    git_ref: claims.git_ref.clone(),
                    run_id: claims.run_id.clone(),
                };
                ("bootstrap", scope::AGENTS_WRITE.to_owned(), Some(act))
            }
        };
        let client_id = format!("oidc:{}", policy.id);
        let audience = self.inner.settings.audience.clone();
        let (token, minted) = self
            .mint(&agent, &client_id, scopes, audience, act)
            .map_err(|e| Error::Internal(e.error_description))?;
        events.push(
            with_claims(
                NewAuditEvent::new("oidc.exchanged", Outcome::Success, actor(&claims)),
                &claims,
            )
            .agent(agent.id)
            .ip(ip)
            .detail("policyId", policy.id.to_string())
            .detail("mode", mode)
            .detail("githubJti", jti.as_str())
            .detail("jti", minted.jti.to_string())
            .detail("scope", minted.scope.as_str()),
        );
        self.record(tenant, events).await?;
        self.meter(tenant, crate::metering::metric::API_CALLS);
        self.meter(tenant, crate::metering::metric::TOKEN_ISSUANCES);
        crate::observe::record::token_issued("oidc_exchange", self.inner.settings.algorithm.as_str());
        Ok(TokenResponse {
            access_token: token,
            token_type: "Bearer",
            expires_in: self.inner.settings.token_ttl.as_secs(),
            scope: minted.scope,
            refresh_token: None,
        })
    }

    /// Audits a refusal in each concerned tenant and returns it.
    async fn deny(
        &self,
        tenants: &BTreeSet<TenantId>,
        claims: &GitHubClaims,
        policy: Option<&TrustPolicy>,
        refusal: FederationError,
        ip: Option<IpAddr>,
    ) -> Error {
        tracing::info!(reason = %refusal, repository = %claims.repository, "OIDC token exchange refused");
        for tenant in tenants {
            let mut event = with_claims(
                NewAuditEvent::new("oidc.denied", Outcome::Failure, actor(claims)),
                claims,
            )
            .ip(ip)
            .detail("reason", refusal.reason())
            .detail("message", refusal.to_string());
            if let Some(p) = policy {
                event = event.detail("policyId", p.id.to_string());
                event.agent_id = p.agent_id;
            }
            if let Err(e) = self.record(*tenant, vec![event]).await {
                return e;
            }
        }
        refusal.into()
    }

    async fn deny_agent(
        &self,
        tenant: TenantId,
        claims: &GitHubClaims,
        policy: &TrustPolicy,
        reason: &'static str,
        ip: Option<IpAddr>,
    ) -> Error {
        let mut event = with_claims(
            NewAuditEvent::new("oidc.denied", Outcome::Failure, actor(claims)),
            claims,
        )
        .ip(ip)
        .detail("reason", reason)
        .detail("policyId", policy.id.to_string());
        event.agent_id = Some(policy.agent_id.unwrap_or_else(|| bootstrap_agent_id(tenant)));
        match self.record(tenant, vec![event]).await {
            Ok(_) => Error::AgentSuspended,
            Err(e) => e,
        }
    }

    /// Which of the caller's policies would admit a token (or a claim set),
    /// and the first failed condition of each other one, without issuing,
    /// pinning or auditing anything. Needs `admin`.
    ///
    /// # Errors
    /// A validation error without a token or claims, or for a token that is
    /// no JWT with GitHub's claims; insufficient scope; a store error.
    pub async fn evaluate_trust_policies(
        &self,
        caller: &Caller,
        request: EvaluateRequest,
    ) -> Result<Evaluation, Error> {
        caller.identity.require_scope(scope::ADMIN)?;
        let presented_iss = match (&request.token, &request.claims) {
            (Some(token), None) => jsonwebtoken::dangerous::insecure_decode_claims::<Map<String, Value>>(token)
                .ok()
                .and_then(|c| c.get("iss").and_then(Value::as_str).map(str::to_owned)),
            (None, Some(claims)) => claims.get("iss").and_then(Value::as_str).map(str::to_owned),
            _ => return Err(Error::invalid("body", "give either token or claims")),
        };
        let github = self.inner.settings.federation.issuer.trim_end_matches('/');
        let provider = match presented_iss.as_deref() {
            Some(iss) if iss.trim_end_matches('/') != github => Provider::Oidc,
            _ => Provider::GitHub,
        };
        let mut policies = Vec::new();
        let mut after = None;
        loop {
            let page = self
                .inner
                .stores
                .trust_policies
                .list_trust_policies(caller.tenant(), after, 100)
                .await?;
            after = page.last().map(|p| p.id);
            let done = page.len() < 100;
            policies.extend(page);
            if done {
                break;
            }
        }
        policies.retain(|p| p.provider == provider);
        match provider {
            Provider::Oidc => {
                let iss = presented_iss.unwrap_or_default();
                Ok(self.evaluate_issuer_policies(request, &iss, &policies).await)
            }
            Provider::GitHub => self.evaluate_github_policies(request, &policies).await,
        }
    }

    /// The evaluation of a GitHub Actions token (or its claims) against the
    /// tenant's `github` policies, as the exchange would hold it.
    async fn evaluate_github_policies(
        &self,
        request: EvaluateRequest,
        policies: &[TrustPolicy],
    ) -> Result<Evaluation, Error> {
        let (check, claims) = match (request.token, request.claims) {
            (Some(token), _) => match self.verify_oidc_token(&token).await {
                Ok(v) => (
                    Some(TokenCheck {
                        valid: true,
                        code: None,
                        message: None,
                    }),
                    v.claims,
                ),
                Err(e) => {
                    let claims = jsonwebtoken::dangerous::insecure_decode_claims::<GitHubClaims>(&token)
                        .map_err(|_| Error::invalid("token", "is not a JWT carrying GitHub's claims"))?;
                    let check = TokenCheck {
                        valid: false,
                        code: Some(e.code().as_str()),
                        message: Some(e.to_string()),
                    };
                    (Some(check), claims)
                }
            },
            (None, Some(claims)) => {
                let claims = serde_json::from_value::<GitHubClaims>(Value::Object(claims))
                    .map_err(|_| Error::invalid("claims", "lack GitHub's claims (repository, ids)"))?;
                (None, claims)
            }
            (None, None) => return Err(Error::invalid("body", "give either token or claims")),
        };
        let wanted = |p: &TrustPolicy| request.agent_id.is_none_or(|a| p.agent_id == Some(a));
        let failures: Vec<Vec<Failure>> = policies.iter().map(|p| evaluate(p, &claims)).collect();
        let admitted: Vec<&TrustPolicy> = policies
            .iter()
            .zip(&failures)
            .filter(|(p, f)| f.is_empty() && wanted(p))
            .map(|(p, _)| p)
            .collect();
        let (matched, refusal) = match select(&admitted, request.agent_id) {
            Ok(Some(p)) => (Some(p.id), None),
            Ok(None) => {
                let branch = policies
                    .iter()
                    .zip(&failures)
                    .any(|(p, f)| wanted(p) && only_branch_failed(f));
                let code = if branch {
                    "TRUST_POLICY_BRANCH_MISMATCH"
                } else {
                    "TRUST_POLICY_NOT_FOUND"
                };
                (None, Some(code))
            }
            Err(e) => (None, Some(e.code().as_str())),
        };
        Ok(Evaluation {
            token: check,
            claims: EvaluatedClaims::GitHub(Box::new(claims)),
            matched,
            refusal,
            policies: verdicts(policies, failures),
        })
    }

    /// The evaluation of a token (or claims) of the issuer `iss` against
    /// the tenant's `oidc` policies, by the JWT bearer grant's rule
    /// ([`evaluate_oidc`]): a token is verified only when one of them
    /// trusts its issuer, so nothing is fetched from an issuer the tenant
    /// did not register.
    async fn evaluate_issuer_policies(
        &self,
        request: EvaluateRequest,
        iss: &str,
        policies: &[TrustPolicy],
    ) -> Evaluation {
        let registered = policies.iter().any(|p| trusts_issuer(p, iss));
        let (check, claims) = match (request.token, request.claims) {
            (Some(token), _) => {
                let unverified =
                    jsonwebtoken::dangerous::insecure_decode_claims::<Map<String, Value>>(&token).unwrap_or_default();
                let check = if registered {
                    match self.verify_workload_token(&token, iss).await {
                        Ok(_) => Ok(()),
                        Err((reason, e)) => Err((reason, e.error_description.into_owned())),
                    }
                } else {
                    Err((
                        "issuer_not_registered",
                        "no trust policy of this tenant trusts the token's issuer".to_owned(),
                    ))
                };
                let check = match check {
                    Ok(()) => TokenCheck {
                        valid: true,
                        code: None,
                        message: None,
                    },
                    Err((code, message)) => TokenCheck {
                        valid: false,
                        code: Some(code),
                        message: Some(message),
                    },
                };
                (Some(check), unverified)
            }
            (None, claims) => (None, claims.unwrap_or_default()),
        };
        let wanted = |p: &TrustPolicy| request.agent_id.is_none_or(|a| p.agent_id == Some(a));
        let audience = &self.inner.settings.issuer;
        let failures: Vec<Vec<Failure>> = policies.iter().map(|p| evaluate_oidc(p, &claims, audience)).collect();
        let admitted: Vec<&TrustPolicy> = policies
            .iter()
            .zip(&failures)
            .filter(|(p, f)| f.is_empty() && wanted(p))
            .map(|(p, _)| p)
            .collect();
        let (matched, refusal) = match select(&admitted, request.agent_id) {
            Ok(Some(p)) => (Some(p.id), None),
            Ok(None) => {
                // The grant's refusal: the first failure of the first policy that trusts the issuer.
                let reason = policies
                    .iter()
                    .zip(&failures)
                    .find(|(p, _)| wanted(p) && trusts_issuer(p, iss))
                    .map_or("issuer_not_registered", |(_, f)| refusal_reason(f));
                (None, Some(reason))
            }
            Err(e) => (None, Some(e.code().as_str())),
        };
        Evaluation {
            token: check,
            claims: EvaluatedClaims::Issuer(claims),
            matched,
            refusal,
            policies: verdicts(policies, failures),
        }
    }
}

/// Each policy's verdict, from its failed conditions.
fn verdicts(policies: &[TrustPolicy], failures: Vec<Vec<Failure>>) -> Vec<PolicyVerdict> {
    policies
        .iter()
        .zip(failures)
        .map(|(p, f)| PolicyVerdict {
            policy_id: p.id,
            repository: p.repository.clone(),
            issuer: p.issuer.as_ref().map(|t| t.issuer.clone()),
            agent_id: p.agent_id,
            admits: f.is_empty(),
            failed: f.into_iter().next(),
        })
        .collect()
}

/// An exchange that names neither a tenant nor an agent: no tenant's
/// policies are guessed at.
fn tenant_required() -> Error {
    Error::invalid(
        "tenantId",
        "is required: name the tenant whose trust policies admit this workflow (or agentId, for an agent's token)",
    )
}

/// `TRUST_POLICY_NOT_FOUND` for `claims`, echoing what the token presented.
fn not_found(claims: &GitHubClaims) -> FederationError {
    FederationError::PolicyNotFound {
        repository: claims.repository.clone(),
        git_ref: claims.git_ref.clone().unwrap_or_else(|| "-".into()),
        event: claims.event_name.clone().unwrap_or_else(|| "-".into()),
    }
}

/// The audit actor of a workflow: `oidc:<repository>`.
fn actor(claims: &GitHubClaims) -> String {
    format!("oidc:{}", claims.repository)
}

/// The claims an audit event keeps (never the token).
fn with_claims(mut event: NewAuditEvent, claims: &GitHubClaims) -> NewAuditEvent {
    event = event
        .detail("repository", claims.repository.as_str())
        .detail("repositoryId", claims.repository_id.as_str());
    for (key, value) in [
        ("ref", &claims.git_ref),
        ("eventName", &claims.event_name),
        ("environment", &claims.environment),
        ("jobWorkflowRef", &claims.job_workflow_ref),
        ("runId", &claims.run_id),
        ("actor", &claims.actor),
    ] {
        if let Some(v) = value {
            event = event.detail(key, v.as_str());
        }
    }
    event
}
