//! Verification of bearer tokens, introspection (RFC 7662) and revocation
//! (RFC 7009).
//!
//! Stores it needs: `agents`, `revocations`.
//! Shared parts it uses: `keys`, `server_key`.

use super::caller::OAuthCaller;
use super::identity::{AgentIdentity, IntrospectedClaims, IntrospectedToken, Introspection};
use super::request::Form;
use std::net::IpAddr;

use jsonwebtoken::errors::ErrorKind;

use super::verified::VerifiedTokens;
use super::{AccessClaims, PresentedClient, Principal, TokenClaims};
use crate::agent::AgentStatus;
use crate::audit::{NewAuditEvent, Outcome};
use crate::authorization::REFRESH_TOKEN_PREFIX;
use crate::error::{Error, OAuthError, OAuthErrorCode, StoreError};
use crate::permission::{Operation, effective_scopes};
use crate::{SentryAgent, scope};

const INACTIVE: Introspection = Introspection {
    active: false,
    claims: None,
};

/// Why a well-signed token is no longer good.
#[derive(Clone, Copy)]
enum Denied {
    Revoked,
    Suspended,
    Decommissioned,
}

impl Denied {
    fn reason(self) -> &'static str {
        match self {
            Denied::Revoked => "token_revoked",
            Denied::Suspended => "agent_suspended",
            Denied::Decommissioned => "agent_decommissioned",
        }
    }
}

impl From<Denied> for Error {
    fn from(denied: Denied) -> Self {
        match denied {
            Denied::Revoked => Error::unauthorized("the access token has been revoked"),
            Denied::Suspended => Error::AgentSuspended,
            Denied::Decommissioned => Error::unauthorized("the agent is decommissioned"),
        }
    }
}

/// The refusal of a token that did not decode, counted by reason.
fn rejected(reason: &'static str) -> Error {
    crate::observe::record::token_verified(match reason {
        "expired" => "expired",
        "wrong audience" => "wrong_audience",
        PERSONS_TOKEN => "user_token",
        _ => "invalid",
    });
    tracing::debug!(reason, "bearer token rejected");
    Error::unauthorized("the access token is invalid or expired")
}

/// Why agent verification refuses a person's token.
const PERSONS_TOKEN: &str = "a person's token where an agent's is required";

impl SentryAgent {
    /// Checks a token's signature (with the key its `kid` names, at that
    /// key's pinned algorithm), type, issuer, audience (`None`: any) and
    /// validity period, and returns its claims: an agent's or a person's.
    /// The reason of a failure is for logs, never for the caller.
    ///
    /// A token verified before with the same key set skips the signature
    /// check (see [`super::verified`]); its time window and audience are
    /// checked again, exactly as on the first use.
    pub(crate) fn decode_token(&self, token: &str, audience: Option<&str>) -> Result<TokenClaims, &'static str> {
        let settings = &self.inner.settings;
        let keys = self.inner.keys.get();
        let digest = VerifiedTokens::digest(token);
        if let Some(claims) = keys.verified.get(&digest) {
            check_window_and_audience(&claims, audience, settings.clock_skew.as_secs())?;
            return Ok(claims);
        }
        let header = jsonwebtoken::decode_header(token).map_err(|_| "malformed token or unsupported algorithm")?;
        let kid = header.kid.ok_or("no kid in the header")?;
        let key = keys.verifiers.get(&kid).ok_or("unknown kid")?;
        if header.alg != key.algorithm.jwt() {
            return Err("the header's alg is not the key's");
        }
        if header.typ.as_deref() != Some("at+jwt") {
            return Err("not an access token (typ)");
        }
        // The key's validation checks the signature and the required claims;
        // the issuer, the window and the audience are checked here, the
        // window and audience exactly as for a token verified before.
        let claims = jsonwebtoken::decode::<TokenClaims>(token, &key.decoding, &key.validation)
            .map(|data| data.claims)
            .map_err(|e| match e.kind() {
                ErrorKind::InvalidSignature => "bad signature",
                _ => "invalid token",
            })?;
        if claims.iss() != settings.issuer {
            return Err("wrong issuer");
        }
        check_window_and_audience(&claims, audience, settings.clock_skew.as_secs())?;
        keys.verified.insert(digest, &claims, now_secs());
        Ok(claims)
    }

    /// [`decode_token`](Self::decode_token) for an agent's token only: a
    /// person's token is refused.
    pub(crate) fn decode_agent_token(&self, token: &str, audience: Option<&str>) -> Result<AccessClaims, &'static str> {
        match self.decode_token(token, audience)? {
            TokenClaims::Agent(claims) => Ok(claims),
            TokenClaims::User(_) => Err(PERSONS_TOKEN),
        }
    }

    /// Verifies an agent's bearer token as a protected route must:
    /// signature, `exp`/`nbf`, issuer, audience (`None`: the management
    /// audience), revocation, and the agent's status. A person's token
    /// (authorization-code flow) is refused: SentryAgent's management routes
    /// and agent-only resources never accept one. See
    /// [`verify_principal`](Self::verify_principal) for either kind.
    ///
    /// # Errors
    /// [`Error::Unauthorized`] for a bad, expired or revoked token, a
    /// person's token, or a decommissioned agent; [`Error::AgentSuspended`];
    /// a store error.
    pub async fn verify_access_token(&self, token: &str, audience: Option<&str>) -> Result<AgentIdentity, Error> {
        let audience = audience.unwrap_or(&self.inner.settings.audience);
        let claims = self.decode_agent_token(token, Some(audience)).map_err(rejected)?;
        self.verify_agent_claims(claims).await
    }

    /// Verifies a bearer token of either kind for `audience` (`None`: the
    /// management audience): an agent's, as
    /// [`verify_access_token`](Self::verify_access_token) does, or a
    /// person's acting through a client, which is dead once its `jti` or its
    /// grant is revoked (a reused code or refresh token, consent withdrawn,
    /// the host locking the person with [`revoke_user`](Self::revoke_user)).
    ///
    /// # Errors
    /// [`Error::Unauthorized`] for a bad, expired or revoked token or a
    /// decommissioned agent; [`Error::AgentSuspended`]; a store error.
    pub async fn verify_principal(&self, token: &str, audience: Option<&str>) -> Result<Principal, Error> {
        let audience = audience.unwrap_or(&self.inner.settings.audience);
        match self.decode_token(token, Some(audience)).map_err(rejected)? {
            TokenClaims::Agent(claims) => self.verify_agent_claims(claims).await.map(Principal::Agent),
            TokenClaims::User(claims) => self.verify_user_claims(claims).await.map(Principal::User),
        }
    }

    /// The checks of an agent's token that can change after it was issued.
    async fn verify_agent_claims(&self, claims: AccessClaims) -> Result<AgentIdentity, Error> {
        let agent_scopes = match self.check_live(&claims).await? {
            Ok(scopes) => scopes,
            Err(denied) => {
                crate::observe::record::token_verified(denied.reason());
                // A genuine token of ours, refused: the tenant is known, so audit it.
                let event = NewAuditEvent::new("token.rejected", Outcome::Failure, claims.sub.to_string())
                    .agent(claims.sub)
                    .detail("jti", claims.jti.to_string())
                    .detail("reason", denied.reason());
                // Once per token and window, with the count of the others.
                let key = format!("token.rejected:{}:{}", claims.jti, denied.reason());
                self.record_repeated(claims.tenant, key, event).await?;
                return Err(denied.into());
            }
        };
        crate::observe::record::token_verified("valid");
        let mut identity = AgentIdentity::from_claims(claims);
        identity.scopes = effective_scopes(&identity.scopes, &agent_scopes);
        Ok(identity)
    }

    /// Revocation and agent status of a token whose signature checked out:
    /// the scopes its agent holds now, or the reason the token is no longer
    /// good.
    async fn check_live(&self, claims: &AccessClaims) -> Result<Result<Vec<String>, Denied>, StoreError> {
        let stores = &self.inner.stores;
        if stores.revocations.is_revoked(claims.jti).await? {
            return Ok(Err(Denied::Revoked));
        }
        Ok(match stores.agents.agent(claims.tenant, claims.sub).await? {
            Some(agent) if agent.status == AgentStatus::Active => Ok(agent.scopes),
            Some(agent) if agent.status == AgentStatus::Suspended => Err(Denied::Suspended),
            _ => Err(Denied::Decommissioned),
        })
    }

    /// RFC 7662 introspection. The caller presents the token itself as its
    /// bearer, a token of the same tenant with `tokens:introspect`, or
    /// client credentials: an agent's client sees the tokens of its tenant,
    /// a client of the authorization-code flow the tokens issued to it.
    /// Tokens of other tenants are reported inactive, and so is a refresh
    /// token: it is for the token endpoint only.
    ///
    /// # Errors
    /// `invalid_request` without a `token`; `invalid_client` or
    /// `invalid_token` (401) or `insufficient_scope` (403) for the caller.
    pub async fn introspect(&self, authorization: Option<&str>, body: &[u8]) -> Result<Introspection, OAuthError> {
        let form = Form::parse(body)?;
        let token = form
            .get("token")
            .ok_or_else(|| OAuthError::invalid_request("token is required"))?;
        let caller = self.oauth_caller(authorization, &form, token).await?;
        if let OAuthCaller::Bearer(identity) = &caller
            && !identity.has_scope(scope::TOKENS_INTROSPECT)
        {
            return Err(OAuthError::new(
                OAuthErrorCode::InsufficientScope,
                "introspecting another token needs the tokens:introspect scope",
            ));
        }
        if token.starts_with(REFRESH_TOKEN_PREFIX) {
            return Ok(INACTIVE);
        }
        let decoded = self.decode_token(token, None);
        let claims = match (decoded, &caller) {
            (Ok(TokenClaims::User(claims)), _) => {
                let claims = self.introspect_user(&caller, claims).await?;
                return Ok(Introspection {
                    active: claims.is_some(),
                    claims,
                });
            }
            // Nobody authenticated: only a person's token tells a client's tenant.
            (_, OAuthCaller::OAuthClient(_)) => return Err(OAuthError::invalid_client()),
            (Ok(TokenClaims::Agent(claims)), _) => claims,
            (Err(_), _) => return Ok(INACTIVE),
        };
        if !caller.may_see(claims.tenant) {
            return Ok(INACTIVE);
        }
        let Ok(agent_scopes) = self.check_live(&claims).await? else {
            return Ok(INACTIVE);
        };
        let token_scopes: Vec<String> = claims
            .scope
            .split(' ')
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .collect();
        Ok(Introspection {
            active: true,
            claims: Some(IntrospectedToken::Agent(IntrospectedClaims {
                sub: claims.sub,
                client_id: claims.client_id,
                scope: effective_scopes(&token_scopes, &agent_scopes).join(" "),
                exp: claims.exp,
                iat: claims.iat,
                nbf: claims.nbf,
                iss: claims.iss,
                aud: claims.aud,
                jti: claims.jti,
                tenant: claims.tenant,
                token_type: "Bearer",
            })),
        })
    }

    /// RFC 7009 revocation. An agent's token: by the token itself, its own
    /// client (client authentication), or a token of the same tenant with
    /// `credentials:write`. A person's access token: by itself or the client
    /// it was issued to; it ends that token only. A refresh token: by the
    /// client holding it; it revokes its grant and with it every refresh
    /// and access token of the grant. Unknown and expired tokens are
    /// accepted silently.
    ///
    /// # Errors
    /// `invalid_request` without a `token`; `invalid_client`/`invalid_token`
    /// for a caller that did not authenticate; `unauthorized_client` for a
    /// caller that may not revoke this token.
    pub async fn revoke_token(
        &self,
        authorization: Option<&str>,
        body: &[u8],
        ip: Option<IpAddr>,
    ) -> Result<(), OAuthError> {
        let form = Form::parse(body)?;
        let token = form
            .get("token")
            .ok_or_else(|| OAuthError::invalid_request("token is required"))?;
        let caller = self.oauth_caller(authorization, &form, token).await?;
        if token.starts_with(REFRESH_TOKEN_PREFIX) {
            return self.revoke_refresh_token(&caller, token, ip).await;
        }
        let claims = match (self.decode_token(token, None), &caller) {
            (Ok(TokenClaims::User(claims)), _) => return self.revoke_user_token(&caller, claims, ip).await,
            (_, OAuthCaller::OAuthClient(_)) => return Err(OAuthError::invalid_client()),
            (Ok(TokenClaims::Agent(claims)), _) => claims,
            (Err(_), _) => return Ok(()),
        };
        let allowed = caller.may_see(claims.tenant)
            && match &caller {
                OAuthCaller::Itself => true,
                OAuthCaller::Client { agent, .. } => *agent == claims.sub,
                OAuthCaller::OAuthClient(_) => false,
                OAuthCaller::Bearer(id) if id.agent_id == claims.sub => true,
                OAuthCaller::Bearer(id) => {
                    // Another agent's token: the permission rule decides, as
                    // for its credentials.
                    let target = self.inner.stores.agents.agent(claims.tenant, claims.sub).await?;
                    let bearer = crate::Caller {
                        identity: id.clone(),
                        ip,
                    };
                    match self
                        .authorize(&bearer, Operation::RevokeToken, target.as_ref(), &[])
                        .await
                    {
                        Ok(()) => true,
                        Err(Error::Store(e)) => return Err(e.into()),
                        Err(_) => false,
                    }
                }
            };
        if !allowed {
            return Err(OAuthError::new(
                OAuthErrorCode::UnauthorizedClient,
                "this caller may not revoke that token",
            ));
        }
        let expires = super::stops_verifying(claims.exp, self.inner.settings.clock_skew);
        self.inner.stores.revocations.revoke(claims.jti, expires).await?;
        let actor = match &caller {
            OAuthCaller::Itself => claims.sub.to_string(),
            OAuthCaller::Bearer(id) => id.agent_id.to_string(),
            OAuthCaller::Client { client_id, .. } => client_id.clone(),
            OAuthCaller::OAuthClient(presented) => presented.client_id().to_owned(),
        };
        let event = NewAuditEvent::new("token.revoked", Outcome::Success, actor)
            .agent(claims.sub)
            .ip(ip)
            .detail("jti", claims.jti.to_string())
            .detail("clientId", claims.client_id.as_str());
        self.record(claims.tenant, vec![event]).await?;
        Ok(())
    }

    /// Who is calling: the token itself, another agent's bearer token, an
    /// agent's client, or (not yet authenticated) a client of the
    /// authorization-code flow, including a public one naming only its
    /// `client_id`.
    async fn oauth_caller(
        &self,
        authorization: Option<&str>,
        form: &Form,
        token: &str,
    ) -> Result<OAuthCaller, OAuthError> {
        if let Some(bearer) = authorization.and_then(super::bearer_token) {
            if bearer == token {
                return Ok(OAuthCaller::Itself);
            }
            return match self.verify_access_token(bearer, None).await {
                Ok(identity) => Ok(OAuthCaller::Bearer(identity)),
                Err(Error::Store(e)) => Err(e.into()),
                Err(_) => Err(OAuthError::new(
                    OAuthErrorCode::InvalidToken,
                    "the bearer token is invalid",
                )),
            };
        }
        let presented = PresentedClient::parse(authorization, form)?;
        let PresentedClient::Credentials(client) = &presented else {
            return Ok(OAuthCaller::OAuthClient(presented));
        };
        // The token endpoint's check: a secret or a `private_key_jwt` assertion.
        match self.check_client(client).await? {
            super::issue::ClientCheck::Authenticated(credential, _) => Ok(OAuthCaller::Client {
                tenant: credential.tenant_id,
                agent: credential.agent_id,
                client_id: credential.client_id,
            }),
            super::issue::ClientCheck::Unknown => Ok(OAuthCaller::OAuthClient(presented)),
            super::issue::ClientCheck::Failed(..) => Err(OAuthError::invalid_client()),
        }
    }
}

fn now_secs() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}

/// The checks of a remembered token that can change between uses, with the
/// same bounds as `jsonwebtoken`'s validation: expired when `exp` is before
/// now minus the leeway, immature when `nbf` is after now plus the leeway,
/// and the audience (when one is required) equal to the token's.
fn check_window_and_audience(claims: &TokenClaims, audience: Option<&str>, leeway: u64) -> Result<(), &'static str> {
    let now = now_secs();
    let leeway = i64::try_from(leeway).unwrap_or(i64::MAX);
    if claims.exp() < now.saturating_sub(leeway) {
        return Err("expired");
    }
    if claims.nbf() > now.saturating_add(leeway) {
        return Err("not yet valid");
    }
    if audience.is_some_and(|aud| !claims.aud().contains(aud)) {
        return Err("wrong audience");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use base64::Engine as _;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;

    use super::*;
    use crate::token::TokenRequest;

    async fn idp_and_token(ttl: Duration) -> (SentryAgent, String) {
        let idp = SentryAgent::builder()
            .issuer("https://idp.example.com")
            .extra_audience("https://api.example.com")
            .token_ttl(ttl)
            .clock_skew(Duration::ZERO)
            .build()
            .await
            .expect("idp");
        let t = idp.create_tenant("Acme").await.expect("tenant");
        let body = format!(
            "grant_type=client_credentials&client_id={}&client_secret={}",
            t.admin_client_id,
            t.admin_client_secret.expose()
        );
        let request = TokenRequest::parse(None, body.as_bytes()).expect("request");
        let token = idp.issue_token(request, None).await.expect("token").access_token;
        (idp, token)
    }

    /// A lifetime of 0, or one so long that `now + ttl` overflowed at the
    /// first token request (a panic), is refused when building, by name.
    #[tokio::test]
    async fn absurd_token_lifetimes_are_refused_at_build() {
        for ttl in [
            Duration::ZERO,
            Duration::from_millis(999),
            Duration::from_secs(9_223_372_036_854_775_807),
            crate::SentryAgentBuilder::MAX_TOKEN_TTL + Duration::from_secs(1),
        ] {
            let refused = SentryAgent::builder().token_ttl(ttl).build().await;
            let message = refused.err().map(|e| e.to_string()).unwrap_or_default();
            assert!(
                message.contains("tokenTtl: the access-token lifetime must be from 1 second to 86400 seconds"),
                "{ttl:?}: {message}"
            );
        }
        let longest = SentryAgent::builder()
            .token_ttl(crate::SentryAgentBuilder::MAX_TOKEN_TTL)
            .build()
            .await;
        assert!(longest.is_ok());
    }

    fn cached(idp: &SentryAgent) -> usize {
        idp.inner.keys.get().verified.len()
    }

    #[tokio::test]
    async fn a_remembered_token_is_still_held_to_its_audience() {
        let (idp, token) = idp_and_token(Duration::from_secs(60)).await;
        idp.verify_access_token(&token, None).await.expect("valid");
        assert_eq!(cached(&idp), 1);
        let other = idp.verify_access_token(&token, Some("https://api.example.com")).await;
        assert!(matches!(other, Err(Error::Unauthorized(_))), "{other:?}");
        idp.verify_access_token(&token, None).await.expect("still valid");
        // Remembered after a check without audience, then asked for one.
        let (idp, token) = idp_and_token(Duration::from_secs(60)).await;
        assert!(idp.decode_token(&token, None).is_ok());
        assert_eq!(
            idp.decode_token(&token, Some("https://api.example.com")),
            Err("wrong audience")
        );
    }

    #[tokio::test]
    async fn a_remembered_token_expires() {
        let (idp, token) = idp_and_token(Duration::from_secs(1)).await;
        idp.verify_access_token(&token, None).await.expect("valid");
        assert_eq!(cached(&idp), 1);
        tokio::time::sleep(Duration::from_millis(2_100)).await;
        assert_eq!(idp.decode_token(&token, None), Err("expired"));
    }

    #[tokio::test]
    async fn a_remembered_token_can_be_revoked() {
        let (idp, token) = idp_and_token(Duration::from_secs(60)).await;
        idp.verify_access_token(&token, None).await.expect("valid");
        let bearer = format!("Bearer {token}");
        let body = format!("token={token}");
        idp.revoke_token(Some(&bearer), body.as_bytes(), None)
            .await
            .expect("revoked");
        let after = idp.verify_access_token(&token, None).await;
        assert!(matches!(after, Err(Error::Unauthorized(_))), "{after:?}");
        let introspected = idp.introspect(Some(&bearer), body.as_bytes()).await.expect("answer");
        assert!(!introspected.active);
    }

    #[tokio::test]
    async fn an_altered_copy_of_a_remembered_token_is_checked_in_full() {
        let (idp, token) = idp_and_token(Duration::from_secs(60)).await;
        idp.verify_access_token(&token, None).await.expect("valid");
        let mut parts: Vec<String> = token.split('.').map(str::to_owned).collect();
        let payload = URL_SAFE_NO_PAD.decode(&parts[1]).expect("base64");
        let mut claims: serde_json::Value = serde_json::from_slice(&payload).expect("json");
        claims["scope"] = "admin agents:write".into();
        parts[1] = URL_SAFE_NO_PAD.encode(claims.to_string());
        let forged = parts.join(".");
        assert_eq!(idp.decode_token(&forged, None), Err("bad signature"));
        assert_eq!(cached(&idp), 1, "nothing new remembered");
    }

    #[tokio::test]
    async fn a_rotation_starts_an_empty_cache_and_old_tokens_still_verify() {
        let (idp, token) = idp_and_token(Duration::from_secs(60)).await;
        idp.verify_access_token(&token, None).await.expect("valid");
        assert_eq!(cached(&idp), 1);
        idp.rotate_signing_keys().await.expect("rotation");
        assert_eq!(cached(&idp), 0);
        idp.verify_access_token(&token, None)
            .await
            .expect("the retired key still verifies");
        assert_eq!(cached(&idp), 1);
    }
}
