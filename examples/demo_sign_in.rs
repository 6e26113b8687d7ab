//! A DEMO host sign-in, so the authorization-code flow can be tried in a
//! browser: one demo user ([`DEMO_USER`]) of the default tenant, signed in
//! by pressing a button on `GET /demo/sign-in` (no password: it is a demo),
//! kept in a cookie signed with a key made at start. A real host signs its
//! own people in and implements [`HostUsers`] over its own sessions.
//!
//! With `SENTRYAGENT_TEST_ONLY_AUTO_APPROVE_AS_DEMO_USER=yes-approve-everything`
//! every authorization request is approved as the demo user with no page
//! at all: for conformance suites and browserless tests only.

use std::sync::{Arc, OnceLock};

use async_trait::async_trait;
use aws_lc_rs::hmac;
use axum::Form;
use axum::extract::Query;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sentryagent_core::TenantId;
use sentryagent_core::authorization::{HostError, HostUser, HostUsers, SignIn, SignInRequest, escape_html};
use serde::Deserialize;

/// The demo user's id (the tokens' `sub`).
pub(crate) const DEMO_USER: &str = "demo-user";
/// The pre-registered public client of the demo tenant, whose redirect is
/// `http://127.0.0.1/callback` (any port): what an MCP conformance suite
/// or a CI script uses.
pub(crate) const DEMO_PUBLIC_CLIENT_ID: &str = "sa_oc_demo_public_client";
const COOKIE: &str = "sentryagent_demo_session";
const SIGN_IN: &str = "/demo/sign-in";

/// Registers [`DEMO_PUBLIC_CLIENT_ID`] in the demo tenant (again at each
/// start: the same client).
pub(crate) async fn register_demo_client(
    idp: &sentryagent_core::SentryAgent,
    tenant: TenantId,
) -> Result<(), sentryagent_core::Error> {
    use sentryagent_core::authorization::{NewOAuthClient, RegisteredKind};
    let client = NewOAuthClient {
        kind: RegisteredKind::Public,
        auth_method: None,
        redirect_uris: vec!["http://127.0.0.1/callback".to_owned()],
        name: Some("Demo public client".to_owned()),
        logo_uri: None,
        client_uri: None,
    };
    idp.put_public_oauth_client(tenant, DEMO_PUBLIC_CLIENT_ID, client)
        .await?;
    // Logged, not printed: stdout carries the admin credential only.
    tracing::info!(
        client_id = DEMO_PUBLIC_CLIENT_ID,
        "the demo public client (redirect http://127.0.0.1/callback, any port) is registered in the default tenant"
    );
    Ok(())
}

/// The demo sign-in, a [`HostUsers`].
pub(crate) struct DemoSignIn {
    tenant: OnceLock<TenantId>,
    key: hmac::Key,
    approve_everything: bool,
}

impl DemoSignIn {
    /// A demo sign-in; `approve_everything` is the test-only automatic approval.
    pub(crate) fn new(approve_everything: bool) -> Arc<Self> {
        let rng = aws_lc_rs::rand::SystemRandom::new();
        let key = hmac::Key::generate(hmac::HMAC_SHA256, &rng).expect("the OS random number generator");
        Arc::new(Self {
            tenant: OnceLock::new(),
            key,
            approve_everything,
        })
    }

    /// The demo user's tenant, once the server knows it.
    pub(crate) fn set_tenant(&self, tenant: TenantId) {
        let _ = self.tenant.set(tenant);
    }

    fn session(&self) -> String {
        let mac = hmac::sign(&self.key, DEMO_USER.as_bytes());
        format!("{DEMO_USER}.{}", URL_SAFE_NO_PAD.encode(mac.as_ref()))
    }

    fn signed_in(&self, headers: &http::HeaderMap) -> bool {
        headers
            .get_all(header::COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(';'))
            .filter_map(|c| c.trim().strip_prefix(&format!("{COOKIE}=")))
            .filter_map(|v| v.split_once('.'))
            .any(|(user, mac)| {
                user == DEMO_USER
                    && URL_SAFE_NO_PAD
                        .decode(mac)
                        .is_ok_and(|mac| hmac::verify(&self.key, user.as_bytes(), &mac).is_ok())
            })
    }
}

#[async_trait]
impl HostUsers for DemoSignIn {
    async fn signed_in_user(&self, request: SignInRequest<'_>) -> Result<SignIn, HostError> {
        let tenant = *self
            .tenant
            .get()
            .ok_or_else(|| HostError("the demo tenant is not set up yet".into()))?;
        let user = HostUser {
            tenant_id: tenant,
            user_id: DEMO_USER.to_owned(),
            display_name: Some("Demo User".to_owned()),
        };
        Ok(if self.approve_everything {
            SignIn::Approved(user)
        } else if self.signed_in(request.headers) {
            SignIn::User(user)
        } else {
            SignIn::Redirect(format!(
                "{SIGN_IN}?return_to={}",
                form_urlencoded::byte_serialize(request.return_to.as_bytes()).collect::<String>()
            ))
        })
    }
}

/// Where the demo sign-in goes back to.
#[derive(Deserialize)]
pub(crate) struct ReturnTo {
    return_to: Option<String>,
}

/// Only a path of this server: never another origin (`//evil`, `/\evil`,
/// `https://…`), so the sign-in is no open redirect.
fn same_origin_path(return_to: Option<&str>) -> &str {
    match return_to {
        Some(p)
            if p.starts_with('/')
                && !p.starts_with("//")
                && !p.starts_with("/\\")
                && !p.chars().any(|c| c.is_control() || c == '\\') =>
        {
            p
        }
        _ => "/",
    }
}

fn page_headers(response: &mut Response) {
    let h = response.headers_mut();
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'",
        ),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
}

/// `GET /demo/sign-in`: the DEMO sign-in form.
pub(crate) async fn form(Query(q): Query<ReturnTo>) -> Response {
    let return_to = same_origin_path(q.return_to.as_deref());
    let mut response = Html(format!(
        r#"<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Demo sign-in</title></head>
<body style="font-family:system-ui,sans-serif;max-width:30rem;margin:3rem auto">
<h1>Demo sign-in</h1>
<p><strong>This is a DEMO</strong> of how a host signs its people in before SentryAgent asks their
consent: there is one demo user and no password. A real host uses its own sign-in.</p>
<form method="post" action="{SIGN_IN}"><input type="hidden" name="return_to" value="{}">
<button type="submit">Sign in as the demo user</button></form></body></html>"#,
        escape_html(return_to)
    ))
    .into_response();
    page_headers(&mut response);
    response
}

/// `POST /demo/sign-in`: signs the demo user in and goes back.
pub(crate) async fn sign_in(
    axum::extract::State(demo): axum::extract::State<Arc<DemoSignIn>>,
    Form(q): Form<ReturnTo>,
) -> Response {
    let mut headers = HeaderMap::new();
    let cookie = format!("{COOKIE}={}; Path=/; HttpOnly; SameSite=Lax", demo.session());
    if let (Ok(cookie), Ok(location)) = (
        HeaderValue::from_str(&cookie),
        HeaderValue::from_str(same_origin_path(q.return_to.as_deref())),
    ) {
        headers.insert(header::SET_COOKIE, cookie);
        headers.insert(header::LOCATION, location);
    }
    (StatusCode::SEE_OTHER, headers).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sign_in_goes_back_to_this_server_only() {
        for (asked, went) in [
            (
                Some("/api/v1/oauth2/authorize?client_id=x"),
                "/api/v1/oauth2/authorize?client_id=x",
            ),
            (Some("//evil.example/x"), "/"),
            (Some("/\\evil.example"), "/"),
            (Some("https://evil.example/"), "/"),
            (Some("/a\r\nSet-Cookie: x=y"), "/"),
            (None, "/"),
        ] {
            assert_eq!(same_origin_path(asked), went, "{asked:?}");
        }
    }
}
