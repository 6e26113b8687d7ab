//! The authorization endpoint (`GET` and `POST {api}/oauth2/authorize`):
//! the host says who is signed in, SentryAgent checks the request, asks the
//! person's consent (or finds it remembered) and sends the browser back to
//! the client with a code.
//!
//! The order of checks decides where an error goes: until the client and
//! its redirect URI are known good, on a page of ours (never a redirect to
//! a URI the client did not register); after, back to the client by
//! redirect with `error`, `state` and `iss` (RFC 9207).
//!
//! Stores it needs: `oauth_clients`, `authorizations`.
//! Shared parts it uses: `server_key`, `settings`, `resources`, `host_users`, `consent_page`.

use std::net::IpAddr;
use std::time::Duration;

use http::{HeaderMap, StatusCode};

use super::consent_token::Binding;
use super::page::{ConsentView, error_page};
use super::request::{AuthorizeParams, MAX_RESOURCES, MAX_STATE_LEN};
use super::resolve::ClientLookupError;
use super::{Approval, GrantType, HostUser, OAuthClient, SignIn, SignInRequest, check_consentable_scopes, pkce};
use crate::audit::{NewAuditEvent, Outcome};
use crate::observe::record::authorization as counted;
use crate::ratelimit::RouteGroup;
use crate::{SentryAgent, TenantId};

/// The longest `scope` parameter read.
const MAX_SCOPE_LEN: usize = 2048;

/// What the endpoint answers: a redirect, or a page.
#[derive(Debug)]
pub(crate) enum AuthorizeAnswer {
    /// `302 Found` to this URL.
    Redirect(String),
    /// An HTML page; `form_target` is the redirect URI a consent form's
    /// post may end at (for its Content-Security-Policy).
    Page {
        status: StatusCode,
        html: String,
        form_target: Option<String>,
    },
    /// The client is over its quota at this endpoint
    /// ([`RouteGroup::AuthorizeClient`]): `429` with `Retry-After`.
    RateLimited(Duration),
}

/// An error page.
pub(crate) fn page(status: StatusCode, error: &str, description: &str) -> AuthorizeAnswer {
    AuthorizeAnswer::Page {
        status,
        html: error_page(error, description),
        form_target: None,
    }
}

/// A request whose client and redirect URI are known good: errors go back
/// to the client from here.
struct Trusted {
    tenant: TenantId,
    user: HostUser,
    client: OAuthClient,
    redirect_uri: String,
    state: Option<String>,
}

/// A request checked whole.
struct Checked {
    trusted: Trusted,
    code_challenge: String,
    scopes: Vec<String>,
    resources: Vec<String>,
}

impl Checked {
    fn binding(&self) -> Binding<'_> {
        let t = &self.trusted;
        Binding {
            tenant: t.tenant,
            user_id: &t.user.user_id,
            client_id: &t.client.client_id,
            redirect_uri: &t.redirect_uri,
            code_challenge: &self.code_challenge,
            state: t.state.as_deref().unwrap_or(""),
            scopes: &self.scopes,
            resources: &self.resources,
        }
    }
}

/// Where a refusal goes, once the tenant is known: audited, then a page or
/// a redirect.
enum Refusal {
    Page(StatusCode, &'static str, String),
    Redirect(&'static str, String),
}

impl SentryAgent {
    /// The authorization endpoint: `raw` is the query (`GET`) or the
    /// consent form's body (`POST`).
    pub(crate) async fn authorization_endpoint(
        &self,
        headers: &HeaderMap,
        raw: &str,
        post: bool,
        ip: Option<IpAddr>,
    ) -> AuthorizeAnswer {
        let params = match AuthorizeParams::parse(raw) {
            Ok(p) => p,
            Err(description) => {
                counted("refused", "invalid_request");
                return page(StatusCode::BAD_REQUEST, "invalid_request", &description);
            }
        };
        // A consent form always carries its decision: a post without one is
        // not one of ours, refused before anyone is asked who is signed in.
        if post && !matches!(params.decision.as_deref(), Some("allow" | "deny")) {
            counted("refused", "invalid_request");
            return page(
                StatusCode::BAD_REQUEST,
                "invalid_request",
                "decision must be allow or deny",
            );
        }
        let Some(host) = self.inner.host_users.clone() else {
            counted("refused", "not_configured");
            return page(
                StatusCode::NOT_IMPLEMENTED,
                "unsupported_response_type",
                "this server does not run the authorization-code flow: its host has not configured sign-in",
            );
        };
        let settings = &self.inner.settings;
        let return_to = format!("{}/oauth2/authorize?{}", settings.api_path, params.query());
        let client_id = params.client_id.as_deref().unwrap_or("");
        let asked = SignInRequest::new(
            headers,
            &return_to,
            client_id,
            params.resources.first().map(String::as_str),
        );
        let (user, approved) = match host.signed_in_user(asked).await {
            Ok(SignIn::User(user)) => (user, false),
            Ok(SignIn::Approved(user)) => (user, true),
            Ok(SignIn::Redirect(url)) => {
                counted("sign_in", "none");
                return AuthorizeAnswer::Redirect(url);
            }
            Err(e) => {
                counted("unavailable", "host_error");
                tracing::warn!(error = %e, "the host could not tell who is signed in");
                return page(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "temporarily_unavailable",
                    "sign-in is unavailable right now; try again shortly",
                );
            }
        };
        let trusted = match self.trust_authorization_client(user, &params).await {
            Ok(t) => t,
            Err((tenant, user, refusal)) => {
                return self
                    .refuse_authorization(tenant, &user, client_id, None, refusal, ip)
                    .await;
            }
        };
        if let Some(answer) = self.authorize_client_quota(&trusted).await {
            return answer;
        }
        let checked = match self.check_authorization_request(trusted, &params) {
            Ok(c) => c,
            Err(refused) => {
                let (trusted, refusal) = *refused;
                return self
                    .refuse_authorization(
                        trusted.tenant,
                        &trusted.user.user_id,
                        client_id,
                        Some(&trusted),
                        refusal,
                        ip,
                    )
                    .await;
            }
        };
        let answer = if approved {
            self.approve_authorization(checked).await
        } else if post {
            self.answer_consent(checked, &params, ip).await
        } else {
            self.ask_consent(checked, &params).await
        };
        answer.unwrap_or_else(|e| {
            counted("unavailable", "backend_error");
            tracing::error!(error = %e, "the authorization endpoint failed");
            page(
                StatusCode::SERVICE_UNAVAILABLE,
                "temporarily_unavailable",
                "the authorization server cannot answer right now; try again shortly",
            )
        })
    }

    /// (c) The client, in the person's tenant, and its redirect URI.
    async fn trust_authorization_client(
        &self,
        user: HostUser,
        params: &AuthorizeParams,
    ) -> Result<Trusted, (TenantId, String, Refusal)> {
        let tenant = user.tenant_id;
        let bad = |user: HostUser, reason: &'static str, description: &str| -> Result<Trusted, _> {
            Err((
                tenant,
                user.user_id,
                Refusal::Page(StatusCode::BAD_REQUEST, reason, description.to_owned()),
            ))
        };
        let Some(client_id) = params.client_id.as_deref() else {
            return bad(user, "client_id_missing", "client_id is required");
        };
        let client = match self.client_for_authorization(tenant, client_id).await {
            Ok(client) => client,
            Err(ClientLookupError::Unknown) => return bad(user, "unknown_client", "the client is unknown"),
            Err(ClientLookupError::Metadata(e)) => {
                let refused = e.oauth_error();
                let status = match refused.error {
                    crate::OAuthErrorCode::InvalidClient => StatusCode::BAD_REQUEST,
                    crate::OAuthErrorCode::TemporarilyUnavailable => StatusCode::SERVICE_UNAVAILABLE,
                    _ => StatusCode::INTERNAL_SERVER_ERROR,
                };
                let description = refused.error_description.into_owned();
                return Err((
                    tenant,
                    user.user_id,
                    Refusal::Page(status, "client_metadata_refused", description),
                ));
            }
            Err(ClientLookupError::Store(e)) => {
                tracing::error!(error = %e, "the client cannot be read");
                return Err((
                    tenant,
                    user.user_id,
                    Refusal::Page(
                        StatusCode::SERVICE_UNAVAILABLE,
                        "temporarily_unavailable",
                        "the authorization server cannot answer right now; try again shortly".into(),
                    ),
                ));
            }
        };
        let Some(redirect_uri) = params.redirect_uri.clone() else {
            return bad(user, "redirect_uri_missing", "redirect_uri is required");
        };
        if !super::redirect_uri_matches(&client.redirect_uris, &redirect_uri) || url::Url::parse(&redirect_uri).is_err()
        {
            return bad(
                user,
                "redirect_uri_unregistered",
                "redirect_uri is not one the client registered",
            );
        }
        Ok(Trusted {
            tenant,
            user,
            client,
            redirect_uri,
            state: params.state.clone(),
        })
    }

    /// The client's quota at this endpoint, per client of the tenant (only
    /// for a client that exists: no state for made-up ids): `None` within
    /// it, else the answer (429, or 503 when a limiter failing closed is
    /// down). Not audited: a flood must not flood the audit chain.
    async fn authorize_client_quota(&self, trusted: &Trusted) -> Option<AuthorizeAnswer> {
        let key = format!("{}:{}", trusted.tenant, trusted.client.client_id);
        match self.rate_limit(RouteGroup::AuthorizeClient, &key).await {
            Ok(Some(d)) if !d.allowed => {
                counted("rate_limited", "client_rate_limited");
                Some(AuthorizeAnswer::RateLimited(d.retry_after))
            }
            Ok(_) => None,
            Err(e) => {
                counted("unavailable", "backend_error");
                tracing::warn!(error = %e, "the authorization endpoint's client limiter is down");
                Some(page(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "temporarily_unavailable",
                    "the authorization server cannot answer right now; try again shortly",
                ))
            }
        }
    }

    /// (d) The rest of the request; errors go back to the client.
    fn check_authorization_request(
        &self,
        trusted: Trusted,
        params: &AuthorizeParams,
    ) -> Result<Checked, Box<(Trusted, Refusal)>> {
        macro_rules! refuse {
            ($error:expr, $description:expr) => {
                return Err(Box::new((
                    trusted,
                    Refusal::Redirect($error, String::from($description)),
                )))
            };
        }
        match params.response_type.as_deref() {
            Some("code") => {}
            None => refuse!("invalid_request", "response_type is required"),
            Some(_) => refuse!("unsupported_response_type", "only response_type=code is supported"),
        }
        if params.state.as_ref().is_some_and(|s| s.len() > MAX_STATE_LEN) {
            refuse!("invalid_request", format!("state is longer than {MAX_STATE_LEN} bytes"));
        }
        let code_challenge = match pkce::check_challenge(
            params.code_challenge.as_deref(),
            params.code_challenge_method.as_deref(),
        ) {
            Ok(c) => c.to_owned(),
            Err(e) => refuse!("invalid_request", e.to_string()),
        };
        if params.resources.len() > MAX_RESOURCES {
            refuse!(
                "invalid_target",
                format!("at most {MAX_RESOURCES} resources per request")
            );
        }
        for resource in &params.resources {
            let absolute = url::Url::parse(resource).is_ok_and(|u| u.fragment().is_none());
            if !absolute || !self.allows_target(resource, trusted.tenant) {
                refuse!(
                    "invalid_target",
                    "the resource is unknown, or does not accept this client"
                );
            }
        }
        let scopes = match params.scope.as_deref() {
            Some(scope) if scope.len() > MAX_SCOPE_LEN => {
                refuse!("invalid_scope", format!("scope is longer than {MAX_SCOPE_LEN} bytes"))
            }
            Some(scope) => {
                let mut scopes: Vec<String> = scope.split_whitespace().map(str::to_owned).collect();
                scopes.dedup();
                if let Err(e) = check_consentable_scopes(&scopes) {
                    refuse!("invalid_scope", e.to_string());
                }
                scopes
            }
            None => self.default_authorization_scopes(&params.resources),
        };
        if !trusted.client.grant_types.contains(&GrantType::AuthorizationCode) {
            refuse!(
                "unauthorized_client",
                "the client may not use the authorization-code grant"
            );
        }
        Ok(Checked {
            trusted,
            code_challenge,
            scopes,
            resources: params.resources.clone(),
        })
    }

    /// Without `scope`: the host scopes the named resources require.
    fn default_authorization_scopes(&self, resources: &[String]) -> Vec<String> {
        let mut scopes: Vec<String> = resources
            .iter()
            .filter_map(|r| self.inner.resources.get(r))
            .flat_map(|p| p.required_scopes().to_vec())
            .filter(|s| check_consentable_scopes(std::slice::from_ref(s)).is_ok())
            .collect();
        scopes.sort();
        scopes.dedup();
        scopes
    }

    /// What consents are keyed by: each resource, or the server's own
    /// audience for a request that names none.
    fn consent_resources(&self, checked: &Checked) -> Vec<String> {
        if checked.resources.is_empty() {
            vec![self.inner.settings.audience.clone()]
        } else {
            checked.resources.clone()
        }
    }

    /// `GET`: a remembered consent answers at once; else the consent page.
    async fn ask_consent(&self, checked: Checked, params: &AuthorizeParams) -> Result<AuthorizeAnswer, crate::Error> {
        let t = &checked.trusted;
        let mut remembered = true;
        for resource in self.consent_resources(&checked) {
            let consent = self
                .inner
                .stores
                .authorizations
                .consent(t.tenant, &t.user.user_id, &t.client.client_id, &resource)
                .await?;
            if !consent.is_some_and(|c| c.covers(&checked.scopes)) {
                remembered = false;
                break;
            }
        }
        if remembered {
            return self.approve_authorization(checked).await;
        }
        let mut hidden = params.pairs();
        hidden.push((
            "consent_token",
            checked.binding().mint(&self.inner.server_key, crate::time::now()),
        ));
        let https = |u: &Option<String>| u.clone().filter(|u| u.starts_with("https://"));
        let (logo, home) = (https(&t.client.logo_uri), https(&t.client.client_uri));
        let form_action = format!("{}/oauth2/authorize", self.inner.settings.api_path);
        counted("consent_shown", "none");
        let view = ConsentView {
            client_name: t.client.name.as_deref().unwrap_or(&t.client.client_id),
            client_id: &t.client.client_id,
            logo_uri: logo.as_deref(),
            client_uri: home.as_deref(),
            user: t.user.display_name.as_deref().unwrap_or(&t.user.user_id),
            scopes: &checked.scopes,
            resources: &checked.resources,
            form_action: &form_action,
            hidden: &hidden,
        };
        Ok(AuthorizeAnswer::Page {
            status: StatusCode::OK,
            html: self.inner.consent_page.render(&view),
            form_target: Some(t.redirect_uri.clone()),
        })
    }

    /// `POST`: the person's answer on the consent page.
    async fn answer_consent(
        &self,
        checked: Checked,
        params: &AuthorizeParams,
        ip: Option<IpAddr>,
    ) -> Result<AuthorizeAnswer, crate::Error> {
        let now = crate::time::now();
        let genuine = params
            .consent_token
            .as_deref()
            .is_some_and(|token| checked.binding().verify(&self.inner.server_key, token, now));
        let t = &checked.trusted;
        if !genuine {
            let refusal = Refusal::Page(
                StatusCode::FORBIDDEN,
                "consent_token_invalid",
                "this consent form has expired or was not made for you; start again from the application".into(),
            );
            return Ok(self
                .refuse_authorization(t.tenant, &t.user.user_id, &t.client.client_id, None, refusal, ip)
                .await);
        }
        match params.decision.as_deref() {
            Some("allow") => {
                for resource in self.consent_resources(&checked) {
                    self.record_consent(
                        t.tenant,
                        &t.user.user_id,
                        &t.client.client_id,
                        &resource,
                        &checked.scopes,
                    )
                    .await?;
                }
                crate::observe::record::consent("granted");
                self.approve_authorization(checked).await
            }
            Some("deny") => {
                let event = NewAuditEvent::new("consent.denied", Outcome::Success, "host")
                    .ip(ip)
                    .detail("userId", t.user.user_id.as_str())
                    .detail("clientId", t.client.client_id.as_str())
                    .detail("scopes", checked.scopes.clone())
                    .detail("resources", checked.resources.clone());
                self.record(t.tenant, vec![event]).await?;
                crate::observe::record::consent("denied");
                counted("denied", "none");
                Ok(self.authorization_error_redirect(t, "access_denied", "the person denied the request"))
            }
            _ => {
                counted("refused", "invalid_request");
                Ok(self.authorization_error_redirect(t, "invalid_request", "decision must be allow or deny"))
            }
        }
    }

    /// Issues the code and sends it back with `state` and `iss`.
    async fn approve_authorization(&self, checked: Checked) -> Result<AuthorizeAnswer, crate::Error> {
        let Checked {
            trusted,
            code_challenge,
            scopes,
            resources,
        } = checked;
        let issued = self
            .issue_authorization_code(Approval {
                tenant_id: trusted.tenant,
                user_id: trusted.user.user_id.clone(),
                client_id: trusted.client.client_id.clone(),
                redirect_uri: trusted.redirect_uri.clone(),
                code_challenge,
                scopes,
                resources,
            })
            .await?;
        counted("code_issued", "none");
        Ok(self.authorization_redirect(&trusted, &[("code", issued.code.expose())]))
    }

    fn authorization_error_redirect(&self, trusted: &Trusted, error: &str, description: &str) -> AuthorizeAnswer {
        self.authorization_redirect(trusted, &[("error", error), ("error_description", description)])
    }

    /// The redirect URI with `pairs`, `state` and `iss` added to its query.
    fn authorization_redirect(&self, trusted: &Trusted, pairs: &[(&str, &str)]) -> AuthorizeAnswer {
        let Ok(mut url) = url::Url::parse(&trusted.redirect_uri) else {
            return page(StatusCode::BAD_REQUEST, "invalid_request", "redirect_uri is not a URL");
        };
        {
            let mut query = url.query_pairs_mut();
            query.extend_pairs(pairs);
            if let Some(state) = &trusted.state {
                query.append_pair("state", state);
            }
            query.append_pair("iss", &self.inner.settings.issuer);
        }
        AuthorizeAnswer::Redirect(url.into())
    }

    /// A refused request, audited in the tenant's chain as
    /// `authorization.refused` with its reason (never a secret), answered
    /// on a page or, once the redirect URI is trusted, by redirect.
    async fn refuse_authorization(
        &self,
        tenant: TenantId,
        user_id: &str,
        client_id: &str,
        trusted: Option<&Trusted>,
        refusal: Refusal,
        ip: Option<IpAddr>,
    ) -> AuthorizeAnswer {
        let (reason, answer) = match (refusal, trusted) {
            (Refusal::Page(status, reason, description), _) => {
                let error = if status == StatusCode::FORBIDDEN {
                    "access_denied"
                } else if status == StatusCode::SERVICE_UNAVAILABLE {
                    "temporarily_unavailable"
                } else {
                    "invalid_request"
                };
                (reason, page(status, error, &description))
            }
            (Refusal::Redirect(error, description), Some(t)) => {
                (error, self.authorization_error_redirect(t, error, &description))
            }
            (Refusal::Redirect(error, description), None) => {
                (error, page(StatusCode::BAD_REQUEST, error, &description))
            }
        };
        match reason {
            "temporarily_unavailable" => counted("unavailable", reason),
            _ => counted("refused", reason),
        }
        let event = NewAuditEvent::new("authorization.refused", Outcome::Failure, "host")
            .ip(ip)
            .detail("reason", reason)
            .detail("userId", user_id)
            .detail("clientId", client_id.chars().take(256).collect::<String>());
        if let Err(e) = self.record(tenant, vec![event]).await {
            tracing::warn!(error = %e, "a refused authorization request was not audited");
        }
        answer
    }
}
