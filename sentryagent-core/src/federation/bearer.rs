//! The JWT bearer grant (RFC 7523 §2.1) for workload identity: a token from
//! an OIDC issuer a tenant registered (a trust policy of provider `oidc`)
//! becomes a token of the agent the request names, with no stored secret.
//!
//! In order: the request names an agent, which names its tenant (no other
//! tenant's policies are read); the token's unverified `iss` must be the
//! issuer of one of that agent's `oidc` policies, else it is refused with
//! no network fetch; the signature against that issuer's keys (discovered
//! through the guarded fetcher, cached per issuer with the refetch
//! throttle of `jwks`), `exp`/`nbf` with the clock skew, `iss`; then each
//! candidate policy's audience, `subject` and `claims` conditions; the
//! agent's status, the tenant's quota, the requested scopes and
//! `resource`s (RFC 8707, the client-credentials grant's rule). Every
//! decision once the tenant is known is audited there. Workload tokens
//! (a Kubernetes service-account token, a SPIFFE JWT-SVID) are reused by
//! design until they expire, so their `jti` is not held to one use.
//!
//! Stores it needs: `agents`, `directory`, `trust_policies`.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Validation, decode, decode_header};
use serde_json::{Map, Value};

use super::claims::{evaluate_oidc, refusal_reason, trusts_issuer};
use super::jwks::{JwksCache, JwksFetcher, JwksSource, KeyLookup};
use super::{FederationSettings, MAX_POLICIES_PER_TENANT, TrustPolicy};
use crate::agent::AgentStatus;
use crate::audit::{NewAuditEvent, Outcome};
use crate::error::{OAuthError, OAuthErrorCode};
use crate::ratelimit::RateDecision;
use crate::token::{JwtBearerRequest, TokenRefusal, TokenResponse};
use crate::{SentryAgent, scope};

/// The grant's metric label.
const GRANT: &str = "jwt_bearer";

/// A refusal's metric label: its OAuth error code (a bounded set).
fn refusal_label(code: OAuthErrorCode) -> &'static str {
    match code {
        OAuthErrorCode::InvalidRequest => "invalid_request",
        OAuthErrorCode::InvalidGrant => "invalid_grant",
        OAuthErrorCode::InvalidScope => "invalid_scope",
        OAuthErrorCode::InvalidTarget => "invalid_target",
        OAuthErrorCode::UnauthorizedClient => "unauthorized_client",
        OAuthErrorCode::TierQuotaExceeded => "tier_quota_exceeded",
        OAuthErrorCode::TemporarilyUnavailable => "temporarily_unavailable",
        _ => "other",
    }
}

/// Most issuers whose keys are cached at once; past it the cache starts
/// over (each issuer then fetches again, under its throttle).
const MAX_CACHED_ISSUERS: usize = 1024;

/// The keys of the issuers tenants registered, one cache per issuer.
pub(crate) struct IssuerKeys {
    fetcher: Option<Arc<dyn JwksFetcher>>,
    refetch_interval: Duration,
    max_age: Duration,
    caches: Mutex<HashMap<String, Arc<JwksCache>>>,
}

impl IssuerKeys {
    pub(crate) fn new(fetcher: Option<Arc<dyn JwksFetcher>>, settings: &FederationSettings) -> Self {
        Self {
            fetcher,
            refetch_interval: settings.jwks_refetch_interval,
            max_age: settings.jwks_max_age,
            caches: Mutex::default(),
        }
    }

    /// The cache of `issuer`'s keys; `None` without a fetcher.
    fn cache(&self, issuer: &str) -> Option<Arc<JwksCache>> {
        let fetcher = self.fetcher.clone()?;
        let mut caches = self.caches.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(cache) = caches.get(issuer) {
            return Some(cache.clone());
        }
        if caches.len() >= MAX_CACHED_ISSUERS {
            caches.clear();
        }
        let source = JwksSource {
            issuer: issuer.to_owned(),
            jwks_url: None,
            refetch_interval: self.refetch_interval,
            max_age: self.max_age,
        };
        let cache = Arc::new(JwksCache::new(Some(fetcher), source));
        caches.insert(issuer.to_owned(), cache.clone());
        Some(cache)
    }
}

fn invalid_grant(description: &'static str) -> OAuthError {
    OAuthError::new(OAuthErrorCode::InvalidGrant, description)
}

/// What the audit events of a grant keep of the workload token.
struct Workload {
    issuer: String,
    subject: Option<String>,
}

impl Workload {
    fn event(&self, action: &str, outcome: Outcome, ip: Option<IpAddr>) -> NewAuditEvent {
        let actor = format!("oidc:{}", self.subject.as_deref().unwrap_or("-"));
        let mut event = NewAuditEvent::new(action, outcome, actor)
            .ip(ip)
            .detail("grant", "jwt-bearer")
            .detail("issuer", self.issuer.as_str());
        if let Some(sub) = &self.subject {
            event = event.detail("subject", sub.as_str());
        }
        event
    }
}

impl SentryAgent {
    /// [`jwt_bearer_grant`](Self::jwt_bearer_grant) behind the token
    /// endpoint's failure budget per address: an address over it is refused
    /// before anything is verified (or audited), and each refused grant
    /// counts against it, so nobody floods a tenant's audit log or an
    /// issuer with made-up assertions. `decision` receives what the
    /// answer's rate-limit headers report.
    pub(crate) async fn jwt_bearer_grant_limited(
        &self,
        request: JwtBearerRequest,
        ip: Option<IpAddr>,
        decision: &mut Option<RateDecision>,
    ) -> Result<TokenResponse, TokenRefusal> {
        let address = self.within_failure_budget(ip, GRANT, decision).await?;
        let result = self.jwt_bearer_grant(request, ip).await;
        match &result {
            Ok(_) => crate::observe::record::token_issued(GRANT, self.inner.settings.algorithm.as_str()),
            Err(e) => crate::observe::record::token_refused(GRANT, refusal_label(e.error)),
        }
        match result {
            Err(e) if matches!(e.error, OAuthErrorCode::InvalidGrant | OAuthErrorCode::InvalidScope) => {
                Err(self.count_failure(&address, e, decision).await?)
            }
            other => Ok(other?),
        }
    }

    /// `POST /oauth2/token` with `grant_type=urn:ietf:params:oauth:grant-type:jwt-bearer`
    /// (see the module docs for the checks).
    ///
    /// # Errors
    /// `invalid_grant` for a token no policy of the agent admits (or an
    /// unknown agent); `invalid_scope`; `temporarily_unavailable` without an
    /// issuer fetcher or when the issuer's keys cannot be fetched.
    pub async fn jwt_bearer_grant(
        &self,
        request: JwtBearerRequest,
        ip: Option<IpAddr>,
    ) -> Result<TokenResponse, OAuthError> {
        let Ok(unverified) =
            jsonwebtoken::dangerous::insecure_decode_claims::<Map<String, Value>>(request.assertion.expose())
        else {
            return Err(invalid_grant("the assertion is not a JWT"));
        };
        let workload = Workload {
            issuer: unverified
                .get("iss")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned(),
            subject: unverified
                .get("sub")
                .and_then(Value::as_str)
                .map(|s| s.chars().take(256).collect()),
        };
        let stores = &self.inner.stores;
        let Some(subject) = stores.directory.did_subject(request.agent_id).await? else {
            tracing::info!("jwt-bearer grant refused: unknown agent");
            return Err(invalid_grant("no trust policy of this agent admits the assertion"));
        };
        let tenant = subject.tenant_id;
        let deny = |reason: &'static str, policy: Option<&TrustPolicy>| {
            let mut event = workload
                .event("oidc.denied", Outcome::Failure, ip)
                .agent(request.agent_id)
                .detail("reason", reason);
            if let Some(p) = policy {
                event = event.detail("policyId", p.id.to_string());
            }
            event
        };
        let mut candidates = stores
            .trust_policies
            .list_trust_policies(tenant, None, MAX_POLICIES_PER_TENANT)
            .await?;
        candidates.retain(|p| p.agent_id == Some(request.agent_id) && trusts_issuer(p, &workload.issuer));
        if candidates.is_empty() {
            // Refused before any fetch: the issuer is not one this agent's tenant registered.
            self.record(tenant, vec![deny("issuer_not_registered", None)]).await?;
            return Err(invalid_grant(
                "no trust policy of this agent trusts the assertion's issuer",
            ));
        }
        let claims = match self
            .verify_workload_token(request.assertion.expose(), &workload.issuer)
            .await
        {
            Ok(claims) => claims,
            Err((reason, error)) => {
                self.record(tenant, vec![deny(reason, None)]).await?;
                return Err(error);
            }
        };
        let mut first_failure = None;
        let mut admitted = None;
        for policy in &candidates {
            let failures = evaluate_oidc(policy, &claims, &self.inner.settings.issuer);
            if failures.is_empty() {
                admitted = Some(policy);
                break;
            }
            first_failure.get_or_insert((policy, refusal_reason(&failures)));
        }
        let Some(policy) = admitted else {
            let (policy, reason) = first_failure.map_or((None, "conditions_not_met"), |(p, r)| (Some(p), r));
            self.record(tenant, vec![deny(reason, policy)]).await?;
            return Err(invalid_grant("no trust policy of this agent admits the assertion"));
        };
        let agent = match stores.agents.agent(tenant, request.agent_id).await? {
            Some(a) if a.status == AgentStatus::Active => a,
            other => {
                let reason = match other.map(|a| a.status) {
                    Some(AgentStatus::Suspended) => "agent_suspended",
                    _ => "agent_inactive",
                };
                self.record(tenant, vec![deny(reason, Some(policy))]).await?;
                return Err(OAuthError::new(
                    OAuthErrorCode::UnauthorizedClient,
                    "the agent is suspended or decommissioned",
                ));
            }
        };
        self.check_quota(tenant).await?;
        let scopes = match request.scope {
            None => agent.scopes.clone(),
            Some(requested) => {
                if let Some(bad) = requested.iter().find(|s| !scope::grants(&agent.scopes, s)) {
                    let event = deny("scope_not_allowed", Some(policy)).detail("scope", bad.as_str());
                    self.record(tenant, vec![event]).await?;
                    return Err(OAuthError::new(
                        OAuthErrorCode::InvalidScope,
                        format!("the agent may not hold the scope `{bad}`"),
                    ));
                }
                requested
            }
        };
        let targets: Vec<&str> = request.resources.iter().map(String::as_str).collect();
        let audience = match self.token_audience(&targets, tenant) {
            Ok(audience) => audience,
            Err(bad) => {
                let event = deny("audience_not_allowed", Some(policy))
                    .detail("resource", bad.chars().take(256).collect::<String>());
                self.record(tenant, vec![event]).await?;
                return Err(OAuthError::target_refused());
            }
        };
        let client_id = format!("oidc:{}", policy.id);
        let (token, minted) = self.mint(&agent, &client_id, scopes.join(" "), audience, None)?;
        let event = workload
            .event("oidc.exchanged", Outcome::Success, ip)
            .agent(agent.id)
            .detail("policyId", policy.id.to_string())
            .detail("jti", minted.jti.to_string())
            .detail("scope", minted.scope.as_str())
            .detail("aud", minted.aud.to_string());
        self.record(tenant, vec![event]).await?;
        self.meter(tenant, crate::metering::metric::API_CALLS);
        self.meter(tenant, crate::metering::metric::TOKEN_ISSUANCES);
        Ok(TokenResponse {
            access_token: token,
            token_type: "Bearer",
            expires_in: self.inner.settings.token_ttl.as_secs(),
            scope: minted.scope,
            refresh_token: None,
        })
    }

    /// Verifies a workload token of `issuer` (already known to be registered):
    /// the claims, or the audit reason and the error to answer.
    pub(super) async fn verify_workload_token(
        &self,
        token: &str,
        issuer: &str,
    ) -> Result<Map<String, Value>, (&'static str, OAuthError)> {
        let refused = |reason, description| Err((reason, invalid_grant(description)));
        let Ok(header) = decode_header(token) else {
            return refused(
                "malformed_token",
                "the assertion's header is malformed or its alg not allowed",
            );
        };
        let Some(kid) = header.kid else {
            return refused("unknown_key", "the assertion names no key (kid)");
        };
        let Some(cache) = self.inner.federation.issuers.cache(issuer) else {
            let e = OAuthError::new(
                OAuthErrorCode::TemporarilyUnavailable,
                "workload tokens cannot be verified: no issuer fetcher is configured",
            );
            return Err(("not_configured", e));
        };
        let key = match cache.key(&kid).await {
            Ok(key) => key,
            Err(KeyLookup::Unknown) => {
                return refused("unknown_key", "the issuer does not publish the assertion's key");
            }
            Err(KeyLookup::Unavailable | KeyLookup::NotConfigured) => {
                let e = OAuthError::new(
                    OAuthErrorCode::TemporarilyUnavailable,
                    "the issuer's keys cannot be fetched; try again later",
                );
                return Err(("issuer_unavailable", e));
            }
        };
        if header.alg != key.algorithm {
            return refused("alg_not_allowed", "the assertion's alg is not its key's");
        }
        let mut validation = Validation::new(key.algorithm);
        validation.set_issuer(&[issuer]);
        validation.validate_aud = false; // held against each policy's audience
        validation.set_required_spec_claims(&["exp", "iss", "aud"]);
        validation.validate_nbf = true;
        validation.leeway = self.inner.settings.clock_skew.as_secs();
        match decode::<Map<String, Value>>(token, &key.decoding, &validation) {
            Ok(data) => Ok(data.claims),
            Err(e) => match e.kind() {
                ErrorKind::ExpiredSignature => refused("expired", "the assertion has expired"),
                ErrorKind::ImmatureSignature => refused("not_yet_valid", "the assertion is not valid yet"),
                ErrorKind::InvalidSignature => refused("invalid_signature", "the assertion's signature is invalid"),
                _ => refused("invalid_token", "the assertion is invalid"),
            },
        }
    }
}
