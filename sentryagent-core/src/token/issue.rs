//! The client-credentials grant (RFC 6749 §4.4).
//!
//! Stores it needs: `credentials`.
//! Shared parts it uses: `keys`.

use super::request::{ClientAuth, TokenRefusal, TokenRequest, TokenResponse};
use std::net::IpAddr;

use super::{AccessClaims, Audience};
use crate::agent::{Agent, AgentStatus};
use crate::audit::{NewAuditEvent, Outcome};
use crate::client_ip::limit_key;
use crate::credential::Credential;
use crate::error::{OAuthError, OAuthErrorCode};
use crate::ratelimit::{RateDecision, RouteGroup};
use crate::{SentryAgent, TokenId, observe, scope};

/// The grant's metric label.
const GRANT: &str = "client_credentials";

/// How client authentication went.
pub(crate) enum ClientCheck {
    /// The secret checked out on a usable credential (the agent boxed: it
    /// is large, and the other answers are common under attack).
    Authenticated(Credential, Option<Box<Agent>>),
    /// No credential has this client id.
    Unknown,
    /// The credential exists, but the secret is wrong or the credential is
    /// revoked or expired (the reason, for the audit event).
    Failed(Credential, &'static str),
}

/// The audit event of a refused client authentication or grant.
/// Every refusal of a known client is counted here too.
fn denial(credential: &Credential, ip: Option<IpAddr>, reason: &'static str) -> NewAuditEvent {
    observe::record::token_refused(GRANT, reason);
    NewAuditEvent::new("token.denied", Outcome::Failure, credential.client_id.as_str())
        .agent(credential.agent_id)
        .ip(ip)
        .detail("clientId", credential.client_id.as_str())
        .detail("credentialId", credential.id.to_string())
        .detail("reason", reason)
}

/// A client id for a log line: whatever was sent, at most 64 characters.
fn loggable(client_id: &str) -> String {
    client_id.chars().take(64).collect()
}

impl SentryAgent {
    /// The client-credentials grant: authenticates the client, checks the
    /// agent and the scopes, signs a token and audits the decision. The token
    /// is returned only once its audit event is stored. Rate limits are the
    /// HTTP layer's (`POST /oauth2/token`); an in-process caller has none.
    ///
    /// # Errors
    /// An RFC 6749 error; `temporarily_unavailable` when a backend is down.
    pub async fn issue_token(&self, request: TokenRequest, ip: Option<IpAddr>) -> Result<TokenResponse, OAuthError> {
        match self.check_client(&request.client).await? {
            ClientCheck::Authenticated(credential, agent) => {
                self.grant(request, credential, agent.map(|a| *a), ip).await
            }
            ClientCheck::Unknown => {
                observe::record::token_refused(GRANT, "unknown_client");
                tracing::info!(
                    client_id = loggable(request.client.client_id()),
                    "token denied: unknown client"
                );
                Err(OAuthError::invalid_client())
            }
            ClientCheck::Failed(credential, reason) => {
                self.record(credential.tenant_id, vec![denial(&credential, ip, reason)])
                    .await?;
                Err(OAuthError::invalid_client())
            }
        }
    }

    /// The token endpoint's failure budget of the caller's address, checked
    /// before anything else is: the address's limit key, or 429 when it is
    /// over the budget (`decision` then holds what the headers report).
    pub(crate) async fn within_failure_budget(
        &self,
        ip: Option<IpAddr>,
        grant: &'static str,
        decision: &mut Option<RateDecision>,
    ) -> Result<String, TokenRefusal> {
        let address = ip.map_or_else(|| "ip:unknown".to_owned(), limit_key);
        if let Some(d) = self.rate_peek(RouteGroup::TokenFailures, &address).await?
            && !d.allowed
        {
            *decision = Some(d);
            tracing::debug!(ip = ?ip, "token request refused: the address is over its failure budget");
            observe::record::token_refused(grant, "address_over_failure_budget");
            return Err(TokenRefusal::RateLimited(d.retry_after));
        }
        Ok(address)
    }

    /// Counts a refused request against its address's failure budget: the
    /// refusal to answer, `error`, or 429 once the budget is spent.
    pub(crate) async fn count_failure(
        &self,
        address: &str,
        error: OAuthError,
        decision: &mut Option<RateDecision>,
    ) -> Result<TokenRefusal, TokenRefusal> {
        *decision = self.rate_limit(RouteGroup::TokenFailures, address).await?;
        Ok(match *decision {
            Some(d) if !d.allowed => TokenRefusal::RateLimited(d.retry_after),
            _ => error.into(),
        })
    }

    /// `POST /oauth2/token` with its rate limits (see [`crate::ratelimit`]):
    /// an address over its failure budget is refused before its secret is
    /// checked, so nobody guesses from it; a failure counts against its
    /// address and, for an existing client, against that client's failure
    /// budget, past which further failures answer 429 and are audited once
    /// per window; a client that authenticated counts against its own quota.
    /// No state is kept for a client id nobody registered, and the right
    /// secret is refused only from an address over its failure budget.
    /// `decision` receives what the answer's rate-limit headers report.
    pub(crate) async fn issue_token_limited(
        &self,
        request: TokenRequest,
        ip: Option<IpAddr>,
        decision: &mut Option<RateDecision>,
    ) -> Result<TokenResponse, TokenRefusal> {
        let address = self.within_failure_budget(ip, GRANT, decision).await?;
        let (credential, reason) = match self.check_client(&request.client).await.map_err(OAuthError::from)? {
            ClientCheck::Authenticated(credential, agent) => {
                let key = format!("client:{}", credential.client_id);
                *decision = self.rate_limit(RouteGroup::Token, &key).await?;
                if let Some(d) = *decision
                    && !d.allowed
                {
                    observe::record::token_refused(GRANT, "client_rate_limited");
                    return Err(TokenRefusal::RateLimited(d.retry_after));
                }
                return Ok(self.grant(request, credential, agent.map(|a| *a), ip).await?);
            }
            ClientCheck::Unknown => {
                observe::record::token_refused(GRANT, "unknown_client");
                tracing::info!(
                    client_id = loggable(request.client.client_id()),
                    "token denied: unknown client"
                );
                return Err(self
                    .count_failure(&address, OAuthError::invalid_client(), decision)
                    .await?);
            }
            ClientCheck::Failed(credential, reason) => (credential, reason),
        };
        let by_address = self.rate_limit(RouteGroup::TokenFailures, &address).await?;
        let client_key = format!("client:{}", credential.client_id);
        let by_client = self.rate_limit(RouteGroup::ClientFailures, &client_key).await?;
        let event = denial(&credential, ip, reason);
        let refused = [by_address, by_client]
            .into_iter()
            .flatten()
            .filter(|d| !d.allowed)
            .max_by_key(|d| d.retry_after);
        if by_client.is_some_and(|d| !d.allowed) {
            // Past the client's budget: one event per window with the count.
            let key = format!("token.denied:{}:{reason}", credential.id);
            self.record_repeated(credential.tenant_id, key, event).await?;
        } else {
            self.record(credential.tenant_id, vec![event]).await?;
        }
        *decision = refused.or(by_address);
        match refused {
            Some(d) => Err(TokenRefusal::RateLimited(d.retry_after)),
            None => Err(OAuthError::invalid_client().into()),
        }
    }

    /// Looks the client up and checks its secret or its assertion. An
    /// unknown client id costs the same work as a known one with a secret,
    /// so timing does not reveal which exist.
    pub(crate) async fn check_client(&self, client: &ClientAuth) -> Result<ClientCheck, crate::StoreError> {
        let inner = &self.inner;
        let Some((credential, agent)) = inner.stores.credentials.client(client.client_id()).await? else {
            if let Some(secret) = client.secret() {
                let _ = inner.server_key.verify_secret(secret, &[0u8; 32]);
            }
            return Ok(ClientCheck::Unknown);
        };
        observe::request::identify(credential.tenant_id, Some(credential.agent_id));
        let refused = match (client, client.secret()) {
            (ClientAuth::Assertion { assertion, .. }, _) => {
                self.check_assertion(&credential, assertion.expose()).await?.err()
            }
            // A key credential has no secret: its empty hash never matches,
            // and it is refused by kind all the same.
            (_, Some(secret))
                if credential.is_key() || !inner.server_key.verify_secret(secret, &credential.secret_hash) =>
            {
                Some("invalid_secret")
            }
            _ => None,
        };
        Ok(match refused {
            Some(reason) => ClientCheck::Failed(credential, reason),
            None if !credential.is_usable(crate::time::now()) => ClientCheck::Failed(credential, "credential_inactive"),
            None => ClientCheck::Authenticated(credential, agent.map(Box::new)),
        })
    }

    /// The grant for a client that authenticated: checks the agent, the
    /// scopes and the audience, signs, audits and meters.
    async fn grant(
        &self,
        request: TokenRequest,
        credential: Credential,
        agent: Option<Agent>,
        ip: Option<IpAddr>,
    ) -> Result<TokenResponse, OAuthError> {
        let inner = &self.inner;
        let client_id = credential.client_id.as_str();
        let tenant = credential.tenant_id;
        let deny = |reason: &'static str| denial(&credential, ip, reason);
        let agent = match agent {
            Some(agent) if agent.status == AgentStatus::Active => agent,
            other => {
                let (reason, description) = match other.map(|a| a.status) {
                    Some(AgentStatus::Suspended) => ("agent_suspended", "the agent is suspended"),
                    _ => ("agent_inactive", "the agent is decommissioned"),
                };
                self.record(tenant, vec![deny(reason)]).await?;
                return Err(OAuthError::new(OAuthErrorCode::UnauthorizedClient, description));
            }
        };
        self.check_quota(tenant).await?;
        let scopes = match request.scope.clone() {
            None => agent.scopes.clone(),
            Some(requested) => {
                if let Some(bad) = requested.iter().find(|s| !scope::grants(&agent.scopes, s)) {
                    let event = deny("scope_not_allowed").detail("scope", bad.as_str());
                    self.record(tenant, vec![event]).await?;
                    return Err(OAuthError::new(
                        OAuthErrorCode::InvalidScope,
                        format!("the client may not request the scope `{bad}`"),
                    ));
                }
                requested
            }
        };
        let audience = match self.token_audience(&request.targets(), tenant) {
            Ok(audience) => audience,
            Err(bad) => {
                let event = deny("audience_not_allowed").detail("resource", bad.chars().take(256).collect::<String>());
                self.record(tenant, vec![event]).await?;
                return Err(OAuthError::target_refused());
            }
        };
        let (token, claims) = self.mint(&agent, client_id, scopes.join(" "), audience, None)?;
        let event = NewAuditEvent::new("token.issued", Outcome::Success, client_id)
            .agent(agent.id)
            .ip(ip)
            .detail("clientId", client_id)
            .detail("credentialId", credential.id.to_string())
            .detail(
                "authMethod",
                if credential.is_key() {
                    "private_key_jwt"
                } else {
                    "client_secret"
                },
            )
            .detail("jti", claims.jti.to_string())
            .detail("scope", claims.scope.as_str())
            .detail("aud", claims.aud.to_string());
        self.record(tenant, vec![event]).await?;
        self.meter(tenant, crate::metering::metric::API_CALLS);
        self.meter(tenant, crate::metering::metric::TOKEN_ISSUANCES);
        observe::record::token_issued(GRANT, inner.settings.algorithm.as_str());
        Ok(TokenResponse {
            access_token: token,
            token_type: "Bearer",
            expires_in: inner.settings.token_ttl.as_secs(),
            scope: claims.scope,
            refresh_token: None,
        })
    }

    /// Signs an access token for `agent`. Callers check the agent's status,
    /// the scopes and the audience first, and audit the issuance.
    pub(crate) fn mint(
        &self,
        agent: &Agent,
        client_id: &str,
        scope: String,
        audience: impl Into<Audience>,
        act: Option<super::Actor>,
    ) -> Result<(String, AccessClaims), OAuthError> {
        let settings = &self.inner.settings;
        let now = time::OffsetDateTime::now_utc().unix_timestamp();
        let claims = AccessClaims {
            iss: settings.issuer.clone(),
            sub: agent.id,
            aud: audience.into(),
            exp: now + settings.token_ttl.as_secs() as i64,
            iat: now,
            nbf: now,
            jti: TokenId::new(),
            client_id: client_id.to_owned(),
            scope,
            tenant: agent.tenant_id,
            act,
        };
        let token = self.inner.keys.get().signer.sign(&claims).map_err(|e| {
            tracing::error!(error = %e, "token signing failed");
            OAuthError::new(OAuthErrorCode::ServerError, "the token could not be signed")
        })?;
        Ok((token, claims))
    }
}
