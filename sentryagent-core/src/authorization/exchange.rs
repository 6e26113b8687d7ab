//! The token endpoint's grants of the authorization-code flow: a code
//! redeemed once (OAuth 2.1 with PKCE) and refresh tokens rotated on every
//! use, each into an access token for the person acting through the client
//! ([`UserClaims`]).
//!
//! - A code is redeemed once across every instance; a second use revokes
//!   its grant, and with it whatever the first issued (the grant goes on
//!   the revocation list). It is read before it is spent: only its own
//!   client, authenticated as registered, with the request's redirect URI,
//!   the PKCE verifier and resources of the grant, spends it, so a stolen
//!   code presented by anyone else (or without the verifier) is refused and
//!   stays its client's. Spending stays one atomic step of the store.
//! - Per client (of its tenant), once it authenticated, the token
//!   endpoint's grants count against the client's quota
//!   ([`RouteGroup::Token`]), as the client-credentials grant does; every
//!   refusal counts against the address's failure budget.
//! - A refresh token's client authenticates before it is rotated; a
//!   rotated token used again revokes the grant and every token of it.
//! - `resource` narrows the audience within the grant's resources, `scope`
//!   (refresh only) narrows the scopes within the grant's: never wider.
//!
//! Stores it needs: `authorizations`, `oauth_clients`, `revocations`.
//! Shared parts it uses: `keys`, `server_key`, `settings`.

use std::net::IpAddr;
use std::time::Duration;

use super::{
    AuthorizationCode, CodeRedemption, Grant, GrantType, OAuthClient, RefreshOutcome, RefreshToken, Rotation,
    generate_refresh_token, hash_token, pkce,
};
use crate::audit::{NewAuditEvent, Outcome};
use crate::error::{OAuthError, OAuthErrorCode};
use crate::ratelimit::{RateDecision, RouteGroup};
use crate::token::{
    Audience, AuthorizationCodeRequest, PresentedClient, RefreshTokenRequest, TokenRefusal, TokenResponse, UserClaims,
    UserTokenKind,
};
use crate::{SentryAgent, TokenId, observe};

/// The metric label of the code grant.
const CODE_GRANT: &str = "authorization_code";
/// The metric label of the refresh grant.
const REFRESH_GRANT: &str = "refresh_token";

/// A refusal, with the reason the metrics and the log report.
struct Denied {
    error: OAuthError,
    reason: &'static str,
    /// Over the client's quota: answered 429 with `Retry-After`, not
    /// counted as a failure.
    retry_after: Option<Duration>,
}

impl Denied {
    fn new(code: OAuthErrorCode, description: &'static str, reason: &'static str) -> Self {
        Self {
            error: OAuthError::new(code, description),
            reason,
            retry_after: None,
        }
    }

    fn rate_limited(retry_after: Duration) -> Self {
        Self {
            retry_after: Some(retry_after),
            ..Self::new(
                OAuthErrorCode::TemporarilyUnavailable,
                "the client is over its rate limit; try again later",
                "client_rate_limited",
            )
        }
    }

    fn grant(reason: &'static str) -> Self {
        Self::new(
            OAuthErrorCode::InvalidGrant,
            "the grant is invalid, expired, revoked, or was issued to another client",
            reason,
        )
    }

    fn client(reason: &'static str) -> Self {
        Self {
            error: OAuthError::invalid_client(),
            reason,
            retry_after: None,
        }
    }
}

impl From<crate::StoreError> for Denied {
    fn from(e: crate::StoreError) -> Self {
        Self {
            error: e.into(),
            reason: "backend_error",
            retry_after: None,
        }
    }
}

impl From<crate::Error> for Denied {
    fn from(e: crate::Error) -> Self {
        Self {
            error: e.into(),
            reason: "refused",
            retry_after: None,
        }
    }
}

/// A client id for a log line or an audit actor: at most 64 characters.
fn loggable(client_id: &str) -> String {
    client_id.chars().take(64).collect()
}

/// The audit event of a refusal of a known code or refresh token.
fn denial(
    grant: &Grant,
    presented: &PresentedClient,
    kind: &'static str,
    ip: Option<IpAddr>,
    reason: &str,
) -> NewAuditEvent {
    NewAuditEvent::new("token.denied", Outcome::Failure, loggable(presented.client_id()))
        .ip(ip)
        .detail("grantType", kind)
        .detail("grantId", grant.id.to_string())
        .detail("clientId", grant.client_id.as_str())
        .detail("userId", grant.subject.as_str())
        .detail("reason", reason)
}

/// What is issued into a grant: the access token and, when the client may
/// refresh, a refresh token.
struct Issued {
    response: TokenResponse,
    claims: UserClaims,
}

impl SentryAgent {
    /// [`authorization_code_grant`](Self::authorization_code_grant) behind
    /// the token endpoint's failure budget per address: an address over it
    /// is refused before any code is looked at, and every refusal counts
    /// against it. `decision` receives what the rate-limit headers report.
    pub(crate) async fn authorization_code_grant_limited(
        &self,
        request: AuthorizationCodeRequest,
        ip: Option<IpAddr>,
        decision: &mut Option<RateDecision>,
    ) -> Result<TokenResponse, TokenRefusal> {
        let address = self.within_failure_budget(ip, CODE_GRANT, decision).await?;
        let result = self.redeem_code(request, ip, Some(&mut *decision)).await;
        self.settle(CODE_GRANT, &address, result, decision).await
    }

    /// [`refresh_token_grant`](Self::refresh_token_grant) behind the token
    /// endpoint's failure budget per address, as for codes.
    pub(crate) async fn refresh_token_grant_limited(
        &self,
        request: RefreshTokenRequest,
        ip: Option<IpAddr>,
        decision: &mut Option<RateDecision>,
    ) -> Result<TokenResponse, TokenRefusal> {
        let address = self.within_failure_budget(ip, REFRESH_GRANT, decision).await?;
        let result = self.refresh(request, ip, Some(&mut *decision)).await;
        self.settle(REFRESH_GRANT, &address, result, decision).await
    }

    /// Counts the outcome in the metrics, and a refusal of the request
    /// against its address's failure budget.
    async fn settle(
        &self,
        grant: &'static str,
        address: &str,
        result: Result<TokenResponse, Denied>,
        decision: &mut Option<RateDecision>,
    ) -> Result<TokenResponse, TokenRefusal> {
        match result {
            Ok(response) => {
                observe::record::token_issued(grant, self.inner.settings.algorithm.as_str());
                Ok(response)
            }
            Err(Denied {
                reason,
                retry_after: Some(retry_after),
                ..
            }) => {
                observe::record::token_refused(grant, reason);
                Err(TokenRefusal::RateLimited(retry_after))
            }
            Err(Denied { error, reason, .. }) => {
                observe::record::token_refused(grant, reason);
                match error.error {
                    OAuthErrorCode::ServerError
                    | OAuthErrorCode::TemporarilyUnavailable
                    | OAuthErrorCode::TierQuotaExceeded => Err(error.into()),
                    _ => Err(self.count_failure(address, error, decision).await?),
                }
            }
        }
    }

    /// `POST /oauth2/token` with `grant_type=authorization_code`: redeems
    /// the code once, checks its client (as registered: a secret, or none
    /// and PKCE), its redirect URI, the PKCE verifier and the resources, and
    /// issues an access token for the person (and a refresh token when the
    /// client may refresh). A second use of a code revokes its grant.
    ///
    /// # Errors
    /// `invalid_grant` for an unknown, expired, spent or revoked code, one
    /// of another client, a redirect URI that differs, a missing or wrong
    /// verifier; `invalid_client`; `unauthorized_client` for a client not
    /// registered for the grant; `invalid_target` for a resource outside
    /// the grant; `temporarily_unavailable` when a backend is down.
    pub async fn authorization_code_grant(
        &self,
        request: AuthorizationCodeRequest,
        ip: Option<IpAddr>,
    ) -> Result<TokenResponse, OAuthError> {
        self.redeem_code(request, ip, None).await.map_err(|d| d.error)
    }

    /// `POST /oauth2/token` with `grant_type=refresh_token`: authenticates
    /// the grant's client, rotates the token (a rotated token used again
    /// revokes the grant and all its tokens), and issues a new access token
    /// with the successor.
    ///
    /// # Errors
    /// `invalid_grant` for an unknown, expired, reused or revoked token or
    /// one of another client; `invalid_client`; `unauthorized_client`;
    /// `invalid_scope` for a scope the grant lacks; `invalid_target`.
    pub async fn refresh_token_grant(
        &self,
        request: RefreshTokenRequest,
        ip: Option<IpAddr>,
    ) -> Result<TokenResponse, OAuthError> {
        self.refresh(request, ip, None).await.map_err(|d| d.error)
    }

    async fn redeem_code(
        &self,
        request: AuthorizationCodeRequest,
        ip: Option<IpAddr>,
        quota: Option<&mut Option<RateDecision>>,
    ) -> Result<TokenResponse, Denied> {
        let store = &self.inner.stores.authorizations;
        let now = crate::time::now();
        let hash = hash_token(&self.inner.server_key, &request.code);
        let presented = &request.client;
        let unknown = || {
            tracing::info!(
                client_id = loggable(presented.client_id()),
                "authorization code refused: unknown"
            );
            Denied::grant("unknown_code")
        };
        // Read first, spend after: only the code's own client, authenticated
        // as registered, with the request's redirect URI and the verifier,
        // may spend it; anyone else's attempt leaves it to its client.
        let Some((code, grant)) = store.authorization_code(&hash).await? else {
            return Err(unknown());
        };
        if code.redeemed_at.is_none() {
            let client = self.code_client(&request, &code, &grant, ip, quota).await?;
            let (code, grant) = match store.redeem_authorization_code(&hash, now).await? {
                None => return Err(unknown()),
                Some(CodeRedemption::Again { grant, .. }) => {
                    return Err(self.code_replayed(&grant, presented, ip, now).await?);
                }
                Some(CodeRedemption::First { code, grant }) => (code, grant),
            };
            return self.code_tokens(&request, &code, &grant, &client, ip, now).await;
        }
        Err(self.code_replayed(&grant, presented, ip, now).await?)
    }

    /// The checks before a code is spent: its client (as registered, within
    /// its quota), the redirect URI, the PKCE verifier and the resources.
    async fn code_client(
        &self,
        request: &AuthorizationCodeRequest,
        code: &AuthorizationCode,
        grant: &Grant,
        ip: Option<IpAddr>,
        quota: Option<&mut Option<RateDecision>>,
    ) -> Result<OAuthClient, Denied> {
        let presented = &request.client;
        let deny = |reason: &'static str| denial(grant, presented, CODE_GRANT, ip, reason);
        if presented.client_id() != grant.client_id {
            self.record(grant.tenant_id, vec![deny("code_of_another_client")])
                .await?;
            return Err(Denied::grant("code_of_another_client"));
        }
        let client = self
            .grant_client(grant, presented, GrantType::AuthorizationCode, ip, CODE_GRANT, quota)
            .await?;
        let refused = if request.redirect_uri != code.redirect_uri {
            Some(Denied::grant("redirect_uri_mismatch"))
        } else {
            match request
                .code_verifier
                .as_deref()
                .map(|v| pkce::verify_s256(v, &code.code_challenge))
            {
                None => Some(Denied::grant("code_verifier_missing")),
                Some(Err(_)) => Some(Denied::grant("code_verifier_mismatch")),
                Some(Ok(())) => self.grant_audience(grant, &request.resources).err(),
            }
        };
        if let Some(denied) = refused {
            self.record(grant.tenant_id, vec![deny(denied.reason)]).await?;
            return Err(denied);
        }
        Ok(client)
    }

    /// A code used again: whoever used it first may be the thief, so the
    /// grant ends with every token the first use issued.
    async fn code_replayed(
        &self,
        grant: &Grant,
        presented: &PresentedClient,
        ip: Option<IpAddr>,
        now: time::OffsetDateTime,
    ) -> Result<Denied, Denied> {
        let store = &self.inner.stores.authorizations;
        store.revoke_grant(grant.tenant_id, grant.id, now).await?;
        self.end_replayed_grant(grant, "authorization.code_reused", presented, ip, now)
            .await?;
        Ok(Denied::grant("code_reused"))
    }

    /// Ends the access tokens of a grant revoked for a replay (of a code or
    /// of a rotated refresh token) and audits the replay as `action`.
    async fn end_replayed_grant(
        &self,
        grant: &Grant,
        action: &'static str,
        presented: &PresentedClient,
        ip: Option<IpAddr>,
        now: time::OffsetDateTime,
    ) -> Result<(), crate::Error> {
        self.end_grant_tokens(&[grant.id], now).await?;
        let event = NewAuditEvent::new(action, Outcome::Failure, loggable(presented.client_id()))
            .ip(ip)
            .detail("grantId", grant.id.to_string())
            .detail("clientId", grant.client_id.as_str())
            .detail("userId", grant.subject.as_str())
            .detail("grantRevoked", true);
        self.record(grant.tenant_id, vec![event]).await?;
        Ok(())
    }

    /// Once this request spent the code: its expiry and grant, then the
    /// tokens.
    async fn code_tokens(
        &self,
        request: &AuthorizationCodeRequest,
        code: &AuthorizationCode,
        grant: &Grant,
        client: &OAuthClient,
        ip: Option<IpAddr>,
        now: time::OffsetDateTime,
    ) -> Result<TokenResponse, Denied> {
        let store = &self.inner.stores.authorizations;
        let deny = |reason: &'static str| denial(grant, &request.client, CODE_GRANT, ip, reason);
        let refused = if code.expires_at <= now {
            Some(Denied::grant("code_expired"))
        } else if !grant.is_active(now) {
            Some(Denied::grant("grant_revoked"))
        } else {
            None
        };
        if let Some(denied) = refused {
            self.record(grant.tenant_id, vec![deny(denied.reason)]).await?;
            return Err(denied);
        }
        let audience = self.grant_audience(grant, &request.resources)?;
        self.check_quota(grant.tenant_id).await?;
        let refresh = match client.allows_grant(GrantType::RefreshToken) {
            false => None,
            true => {
                let token = generate_refresh_token();
                let stored = RefreshToken {
                    token_hash: hash_token(&self.inner.server_key, &token),
                    grant_id: grant.id,
                    created_at: now,
                    expires_at: self.refresh_expiry(grant, now),
                    rotated_at: None,
                };
                if !store.insert_refresh_token(&stored).await? {
                    // A replay of the code revoked the grant meanwhile.
                    self.record(grant.tenant_id, vec![deny("grant_revoked")]).await?;
                    return Err(Denied::grant("grant_revoked"));
                }
                Some(token.expose().to_owned())
            }
        };
        let issued = self.mint_user(grant, grant.scopes.clone(), audience, refresh)?;
        self.issued(client, grant, &issued, "authorization.code_redeemed", ip, now)
            .await?;
        Ok(issued.response)
    }

    async fn refresh(
        &self,
        request: RefreshTokenRequest,
        ip: Option<IpAddr>,
        quota: Option<&mut Option<RateDecision>>,
    ) -> Result<TokenResponse, Denied> {
        let store = &self.inner.stores.authorizations;
        let now = crate::time::now();
        let key = &self.inner.server_key;
        let presented_hash = hash_token(key, &request.refresh_token);
        let presented = &request.client;
        let Some(grant) = store.refresh_token_grant(&presented_hash).await? else {
            tracing::info!(
                client_id = loggable(presented.client_id()),
                "refresh token refused: unknown"
            );
            return Err(Denied::grant("unknown_refresh_token"));
        };
        let deny = |reason: &'static str| denial(&grant, presented, REFRESH_GRANT, ip, reason);
        if presented.client_id() != grant.client_id {
            self.record(grant.tenant_id, vec![deny("refresh_token_of_another_client")])
                .await?;
            return Err(Denied::grant("refresh_token_of_another_client"));
        }
        let client = self
            .grant_client(&grant, presented, GrantType::RefreshToken, ip, REFRESH_GRANT, quota)
            .await?;
        let scopes = match &request.scope {
            None => grant.scopes.clone(),
            Some(asked) => match asked.iter().find(|s| !grant.scopes.contains(s)) {
                None => asked.clone(),
                Some(_) => {
                    self.record(grant.tenant_id, vec![deny("scope_not_granted")]).await?;
                    return Err(Denied::new(
                        OAuthErrorCode::InvalidScope,
                        "a refresh may narrow the grant's scopes, never widen them",
                        "scope_not_granted",
                    ));
                }
            },
        };
        let audience = match self.grant_audience(&grant, &request.resources) {
            Ok(audience) => audience,
            Err(denied) => {
                self.record(grant.tenant_id, vec![deny(denied.reason)]).await?;
                return Err(denied);
            }
        };
        self.check_quota(grant.tenant_id).await?;
        let next = generate_refresh_token();
        let next_hash = hash_token(key, &next);
        let rotation = Rotation {
            presented_hash: &presented_hash,
            client_id: &grant.client_id,
            next_hash: &next_hash,
            next_expires_at: self.refresh_expiry(&grant, now),
            at: now,
        };
        let grant = match store.rotate_refresh_token(rotation).await? {
            RefreshOutcome::Rotated(grant) => grant,
            RefreshOutcome::Reused(grant) => {
                // A copy leaked: the store revoked the family; end its access tokens.
                self.end_replayed_grant(&grant, "authorization.refresh_reused", presented, ip, now)
                    .await?;
                return Err(Denied::grant("refresh_token_reused"));
            }
            outcome => {
                let reason = match outcome {
                    RefreshOutcome::Expired => "refresh_token_expired",
                    RefreshOutcome::Revoked(_) => "grant_revoked",
                    _ => "unknown_refresh_token",
                };
                self.record(grant.tenant_id, vec![deny(reason)]).await?;
                return Err(Denied::grant(reason));
            }
        };
        let issued = self.mint_user(&grant, scopes, audience, Some(next.expose().to_owned()))?;
        self.issued(&client, &grant, &issued, "authorization.refreshed", ip, now)
            .await?;
        Ok(issued.response)
    }

    /// Authenticates the grant's client as it registered, and checks that
    /// it may use `grant_type`; refusals are audited in the grant's tenant.
    /// With `quota` (the token endpoint), a client that authenticated
    /// counts against its own quota ([`RouteGroup::Token`], per client of
    /// its tenant), whose decision `quota` receives.
    async fn grant_client(
        &self,
        grant: &Grant,
        presented: &PresentedClient,
        grant_type: GrantType,
        ip: Option<IpAddr>,
        kind: &'static str,
        quota: Option<&mut Option<RateDecision>>,
    ) -> Result<OAuthClient, Denied> {
        let denied = match self.authenticate_oauth_client(grant.tenant_id, presented).await? {
            Ok(client) if client.allows_grant(grant_type) => {
                if let Some(decision) = quota {
                    let key = format!("oauth-client:{}:{}", grant.tenant_id, client.client_id);
                    *decision = self.rate_limit(RouteGroup::Token, &key).await?;
                    if let Some(d) = *decision
                        && !d.allowed
                    {
                        return Err(Denied::rate_limited(d.retry_after));
                    }
                }
                return Ok(client);
            }
            Ok(_) => Denied::new(
                OAuthErrorCode::UnauthorizedClient,
                "the client is not registered for this grant type",
                "grant_type_not_registered",
            ),
            Err(reason) => Denied::client(reason),
        };
        let event = denial(grant, presented, kind, ip, denied.reason);
        self.record(grant.tenant_id, vec![event]).await?;
        Err(denied)
    }

    /// The audience of a token of `grant`: the resources asked for, each
    /// one of the grant's; none asked: all of the grant's (the IdP's own
    /// audience for a grant that names none).
    fn grant_audience(&self, grant: &Grant, asked: &[String]) -> Result<Audience, Denied> {
        if let Some(_outside) = asked.iter().find(|r| !grant.resources.contains(r)) {
            return Err(Denied::new(
                OAuthErrorCode::InvalidTarget,
                "the resource is not one the person granted",
                "resource_outside_grant",
            ));
        }
        let resources = match (asked.is_empty(), grant.resources.is_empty()) {
            (false, _) => asked.to_vec(),
            (true, false) => grant.resources.clone(),
            (true, true) => vec![self.inner.settings.audience.clone()],
        };
        Ok(Audience::of(resources))
    }

    /// When a refresh token issued now expires: its lifetime, but never
    /// after its grant.
    fn refresh_expiry(&self, grant: &Grant, now: time::OffsetDateTime) -> time::OffsetDateTime {
        (now + self.inner.settings.authorization.refresh_token_ttl).min(grant.expires_at)
    }

    /// Signs an access token for the person of `grant`.
    fn mint_user(
        &self,
        grant: &Grant,
        scopes: Vec<String>,
        audience: Audience,
        refresh_token: Option<String>,
    ) -> Result<Issued, Denied> {
        let settings = &self.inner.settings;
        let now = time::OffsetDateTime::now_utc().unix_timestamp();
        let claims = UserClaims {
            iss: settings.issuer.clone(),
            sub: grant.subject.clone(),
            aud: audience,
            exp: now + settings.token_ttl.as_secs() as i64,
            iat: now,
            nbf: now,
            jti: TokenId::new(),
            client_id: grant.client_id.clone(),
            scope: scopes.join(" "),
            gid: grant.id,
            user_tenant: grant.tenant_id,
            token_kind: UserTokenKind::User,
        };
        let token = self.inner.keys.get().signer.sign(&claims).map_err(|e| {
            tracing::error!(error = %e, "token signing failed");
            Denied::new(
                OAuthErrorCode::ServerError,
                "the token could not be signed",
                "signing_failed",
            )
        })?;
        Ok(Issued {
            response: TokenResponse {
                access_token: token,
                token_type: "Bearer",
                expires_in: settings.token_ttl.as_secs(),
                scope: claims.scope.clone(),
                refresh_token,
            },
            claims,
        })
    }

    /// Marks the client used, audits the issuance and meters it; the tokens
    /// go out only once the event is stored.
    async fn issued(
        &self,
        client: &OAuthClient,
        grant: &Grant,
        issued: &Issued,
        action: &'static str,
        ip: Option<IpAddr>,
        now: time::OffsetDateTime,
    ) -> Result<(), Denied> {
        let tenant = grant.tenant_id;
        self.inner
            .stores
            .oauth_clients
            .touch_oauth_client(tenant, &client.client_id, now)
            .await?;
        let claims = &issued.claims;
        let event = NewAuditEvent::new(action, Outcome::Success, loggable(&client.client_id))
            .ip(ip)
            .detail("grantId", grant.id.to_string())
            .detail("clientId", client.client_id.as_str())
            .detail("userId", grant.subject.as_str())
            .detail("jti", claims.jti.to_string())
            .detail("scope", claims.scope.as_str())
            .detail("aud", claims.aud.to_string())
            .detail("refreshTokenIssued", issued.response.refresh_token.is_some());
        self.record(tenant, vec![event]).await?;
        self.meter(tenant, crate::metering::metric::API_CALLS);
        self.meter(tenant, crate::metering::metric::TOKEN_ISSUANCES);
        Ok(())
    }
}
