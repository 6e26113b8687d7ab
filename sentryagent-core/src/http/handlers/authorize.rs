//! `GET` and `POST /oauth2/authorize`: the authorization endpoint, which
//! answers with pages and redirects (the behaviour is the core's
//! [`authorization`](crate::authorization) module's).

use std::net::IpAddr;

use http::StatusCode;
use http::header::{CACHE_CONTROL, CONTENT_TYPE, HeaderValue, LOCATION, REFERRER_POLICY, X_FRAME_OPTIONS};
use serde::Deserialize;
use utoipa::ToSchema;

use crate::SentryAgent;
use crate::authorization::AuthorizeAnswer;
use crate::http::{HttpError, Request, Response, body};

/// The consent form as the consent page posts it: the request's parameters
/// unchanged, its anti-forgery token, and the person's decision. Only the
/// decision is checked before the host is asked who is signed in; a form
/// missing anything else is answered as the flow answers it (the host's
/// sign-in, an error page, or an OAuth error by redirect), so the schema
/// marks only the decision required.
#[derive(Deserialize, ToSchema)]
#[allow(dead_code)]
pub(super) struct ConsentForm {
    /// `code`.
    response_type: Option<String>,
    /// The client.
    client_id: Option<String>,
    /// The request's redirect URI.
    redirect_uri: Option<String>,
    /// The client's state, echoed back.
    state: Option<String>,
    /// The scopes asked for.
    scope: Option<String>,
    /// The PKCE challenge.
    code_challenge: Option<String>,
    /// `S256`.
    code_challenge_method: Option<String>,
    /// A resource (RFC 8707); the field repeats, once per resource.
    resource: Option<String>,
    /// The form's anti-forgery token, bound to the signed-in person and
    /// this request, valid for ten minutes.
    consent_token: Option<String>,
    /// `allow` or `deny`.
    #[schema(pattern = "^(allow|deny)$")]
    decision: String,
}

#[utoipa::path(get, path = "/oauth2/authorize", tag = "OAuth 2.0", operation_id = "authorize",
    params(
        ("response_type" = Option<String>, Query, description = "`code`. Every parameter the flow needs is marked optional here: the endpoint answers a request missing one with an OAuth error (on its page, or by redirect once the client and redirect URI are known good), not with a schema error."),
        ("client_id" = Option<String>, Query, description = "A client of the signed-in person's tenant."),
        ("redirect_uri" = Option<String>, Query, description = "One the client registered (exact match; loopback with any port)."),
        ("state" = Option<String>, Query, description = "Echoed back in the redirect."),
        ("scope" = Option<String>, Query, description = "Host scopes only; by default the scopes the named resources require."),
        ("code_challenge" = Option<String>, Query, description = "PKCE challenge (RFC 7636)."),
        ("code_challenge_method" = Option<String>, Query, description = "`S256` (`plain` is refused)."),
        ("resource" = Option<Vec<String>>, Query, description = "Resource indicators (RFC 8707); repeatable."),
    ),
    responses(
        (status = 200, description = "The consent page (HTML).", content_type = "text/html"),
        (status = 302, description = "To the host's sign-in; or back to the client with `code`, `state` and `iss` (RFC 9207), or with `error`, `error_description`, `state` and `iss`."),
        (status = 400, description = "An error page: a malformed request, an unknown client, or a redirect URI the client did not register (never redirected to).", content_type = "text/html"),
        (status = 501, description = "The host has not configured sign-in: the flow is off.", content_type = "text/html"),
        (status = 503, description = "The host cannot tell who is signed in, or a backend is down.", content_type = "text/html"),
    ))]
pub(super) async fn authorize(sa: SentryAgent, req: Request, ip: Option<IpAddr>) -> Result<Response, HttpError> {
    let query = req.query.as_deref().unwrap_or("");
    answer(sa.authorization_endpoint(&req.headers, query, false, ip).await)
}

#[utoipa::path(post, path = "/oauth2/authorize", tag = "OAuth 2.0", operation_id = "answerConsent",
    request_body(content = ConsentForm, content_type = "application/x-www-form-urlencoded"),
    responses(
        (status = 302, description = "Back to the client: with `code` on `allow`, `error=access_denied` on `deny`; or to the host's sign-in."),
        (status = 400, description = "An error page: a malformed form, an unknown client, an unregistered redirect URI.", content_type = "text/html"),
        (status = 403, description = "The form's token was made for another person or request, or expired.", content_type = "text/html"),
        (status = 501, description = "The host has not configured sign-in: the flow is off.", content_type = "text/html"),
    ))]
pub(super) async fn consent(sa: SentryAgent, req: Request, ip: Option<IpAddr>) -> Result<Response, HttpError> {
    if !body::is_form(&req) {
        return answer(crate::authorization::error_answer(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "the body must be application/x-www-form-urlencoded",
        ));
    }
    let form = String::from_utf8_lossy(&req.body);
    answer(sa.authorization_endpoint(&req.headers, &form, true, ip).await)
}

/// A page with the headers that keep it from being framed, cached, leaked
/// by referrer or scripted; or a redirect; or `429 RATE_LIMITED` with
/// `Retry-After`, as the per-address limit answers.
fn answer(answer: AuthorizeAnswer) -> Result<Response, HttpError> {
    let mut response = match answer {
        AuthorizeAnswer::RateLimited(retry_after) => {
            return Err(crate::Error::RateLimited { retry_after }.into());
        }
        AuthorizeAnswer::Redirect(url) => match HeaderValue::from_str(&url) {
            Ok(location) => {
                let mut r = Response::empty(StatusCode::FOUND);
                r.headers.insert(LOCATION, location);
                r
            }
            Err(_) => {
                tracing::warn!("the sign-in URL is not a valid Location header");
                page(
                    StatusCode::SERVICE_UNAVAILABLE,
                    String::from("sign-in is unavailable"),
                    None,
                )
            }
        },
        AuthorizeAnswer::Page {
            status,
            html,
            form_target,
        } => page(status, html, form_target.as_deref()),
    };
    response
        .headers
        .insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
        .headers
        .insert(REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    Ok(response)
}

fn page(status: StatusCode, html: String, form_target: Option<&str>) -> Response {
    let mut r = Response::empty(status);
    r.body = bytes::Bytes::from(html);
    r.headers
        .insert(CONTENT_TYPE, HeaderValue::from_static("text/html; charset=utf-8"));
    // The form posts to us, and our answer redirects to the client: browsers
    // hold that redirect to `form-action` too.
    let target = form_target
        .and_then(|t| url::Url::parse(t).ok())
        .map(|u| match u.origin() {
            origin @ url::Origin::Tuple(..) => origin.ascii_serialization(),
            url::Origin::Opaque(_) => format!("{}:", u.scheme()),
        });
    let csp = format!(
        "default-src 'none'; style-src 'unsafe-inline'; img-src https:; form-action 'self'{}; frame-ancestors 'none'; base-uri 'none'",
        target.map(|t| format!(" {t}")).unwrap_or_default()
    );
    if let Ok(csp) = HeaderValue::from_str(&csp) {
        r.headers.insert("content-security-policy", csp);
    }
    r.headers.insert(X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    r.headers
        .insert("x-content-type-options", HeaderValue::from_static("nosniff"));
    r
}
