//! What a token request of the authorization-code flow carries: the
//! `authorization_code` and `refresh_token` grants, and how their clients
//! authenticate (a secret, or none for a public client held to PKCE).

use super::request::{ClientAuth, Form, MAX_RESOURCES, parse_scope, resource};
use crate::error::{OAuthError, OAuthErrorCode};
use crate::secret::ClientSecret;

/// How a client of the authorization-code flow presented itself at the
/// token endpoint (or at revocation and introspection). Which of these its
/// registration allows is checked against the client, in the tenant of the
/// code or token it presents.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PresentedClient {
    /// A secret (HTTP Basic or form) or a client assertion.
    Credentials(ClientAuth),
    /// Only `client_id` in the form: a public client (`none`).
    Public {
        /// The client id.
        client_id: String,
    },
}

impl PresentedClient {
    /// Reads client authentication from an `Authorization` header and form
    /// parameters; a lone `client_id` is a public client.
    ///
    /// # Errors
    /// `invalid_client` when no client is named; `invalid_request` for a
    /// malformed header, two methods at once, or a form `client_id` that is
    /// not the one HTTP Basic names.
    pub fn parse(authorization: Option<&str>, form: &Form) -> Result<Self, OAuthError> {
        let credentials = authorization.is_some()
            || ["client_secret", "client_assertion", "client_assertion_type"]
                .iter()
                .any(|p| form.get(p).is_some());
        if !credentials {
            return match form.get("client_id") {
                Some(id) => Ok(PresentedClient::Public {
                    client_id: id.to_owned(),
                }),
                None => Err(OAuthError::invalid_client()),
            };
        }
        let auth = ClientAuth::parse(authorization, form)?.ok_or_else(OAuthError::invalid_client)?;
        if form.get("client_id").is_some_and(|id| id != auth.client_id()) {
            return Err(OAuthError::invalid_request(
                "the form's client_id is not the client that authenticated",
            ));
        }
        Ok(PresentedClient::Credentials(auth))
    }

    /// The client id presented.
    pub fn client_id(&self) -> &str {
        match self {
            PresentedClient::Credentials(auth) => auth.client_id(),
            PresentedClient::Public { client_id } => client_id,
        }
    }
}

/// A token request of the `authorization_code` grant (RFC 6749 §4.1.3,
/// OAuth 2.1 with PKCE).
#[derive(Clone, Debug)]
pub struct AuthorizationCodeRequest {
    /// Client authentication.
    pub client: PresentedClient,
    /// The code (`code`).
    pub code: ClientSecret,
    /// The `redirect_uri` of the authorization request, repeated.
    pub redirect_uri: String,
    /// The PKCE verifier (`code_verifier`); a missing one is refused when
    /// the code is checked (`invalid_grant`).
    pub code_verifier: Option<String>,
    /// The `resource` parameters (RFC 8707): within the grant's; none means
    /// all of them.
    pub resources: Vec<String>,
}

/// A token request of the `refresh_token` grant (RFC 6749 §6).
#[derive(Clone, Debug)]
pub struct RefreshTokenRequest {
    /// Client authentication.
    pub client: PresentedClient,
    /// The refresh token (`refresh_token`).
    pub refresh_token: ClientSecret,
    /// Narrower scopes (never wider than the grant's); `None`: the grant's.
    pub scope: Option<Vec<String>>,
    /// The `resource` parameters (RFC 8707): within the grant's; none means
    /// all of them.
    pub resources: Vec<String>,
}

fn required<'a>(form: &'a Form, name: &str) -> Result<&'a str, OAuthError> {
    form.get(name)
        .ok_or_else(|| OAuthError::invalid_request(format!("{name} is required")))
}

fn resources(form: &Form) -> Result<Vec<String>, OAuthError> {
    let mut out: Vec<String> = Vec::new();
    for r in form.get_all("resource") {
        let r = resource(r)?;
        if !out.contains(&r) {
            out.push(r);
        }
    }
    if out.len() > MAX_RESOURCES {
        return Err(OAuthError::new(
            OAuthErrorCode::InvalidTarget,
            format!("at most {MAX_RESOURCES} resources per request"),
        ));
    }
    Ok(out)
}

impl AuthorizationCodeRequest {
    /// Reads the grant's parameters from a parsed form.
    ///
    /// # Errors
    /// `invalid_request` for a missing `code` or `redirect_uri`; the client
    /// authentication's errors; `invalid_target` for a malformed resource.
    pub fn parse(authorization: Option<&str>, form: &Form) -> Result<Self, OAuthError> {
        let code = ClientSecret::from_presented(required(form, "code")?);
        let redirect_uri = required(form, "redirect_uri")?.to_owned();
        Ok(Self {
            client: PresentedClient::parse(authorization, form)?,
            code,
            redirect_uri,
            code_verifier: form.get("code_verifier").map(str::to_owned),
            resources: resources(form)?,
        })
    }
}

impl RefreshTokenRequest {
    /// Reads the grant's parameters from a parsed form.
    ///
    /// # Errors
    /// `invalid_request` for a missing `refresh_token`; the client
    /// authentication's errors; `invalid_scope`; `invalid_target`.
    pub fn parse(authorization: Option<&str>, form: &Form) -> Result<Self, OAuthError> {
        let refresh_token = ClientSecret::from_presented(required(form, "refresh_token")?);
        Ok(Self {
            client: PresentedClient::parse(authorization, form)?,
            refresh_token,
            scope: parse_scope(form)?,
            resources: resources(form)?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn form(body: &str) -> Form {
        Form::parse_repeating(body.as_bytes(), &["resource"]).unwrap_or_default()
    }

    #[test]
    fn a_lone_client_id_is_a_public_client() {
        let f = form("client_id=sa_oc_1");
        assert_eq!(
            PresentedClient::parse(None, &f).ok(),
            Some(PresentedClient::Public {
                client_id: "sa_oc_1".into()
            })
        );
        let none = PresentedClient::parse(None, &form("")).err().map(|e| e.error);
        assert_eq!(none, Some(OAuthErrorCode::InvalidClient));
        let secret = PresentedClient::parse(None, &form("client_id=a&client_secret=s")).ok();
        assert!(matches!(
            secret,
            Some(PresentedClient::Credentials(ClientAuth::Post { .. }))
        ));
        // Basic for one client, the form naming another.
        let basic = format!(
            "Basic {}",
            base64::Engine::encode(&base64::engine::general_purpose::STANDARD, "a:s")
        );
        let mixed = PresentedClient::parse(Some(&basic), &form("client_id=b")).err();
        assert_eq!(mixed.map(|e| e.error), Some(OAuthErrorCode::InvalidRequest));
        assert!(PresentedClient::parse(Some(&basic), &form("client_id=a")).is_ok());
    }

    #[test]
    fn a_code_request_needs_its_code_and_redirect() {
        let ok = AuthorizationCodeRequest::parse(
            None,
            &form(
                "client_id=c&code=sa_ac_x&redirect_uri=http://127.0.0.1/cb&resource=https://a.example&resource=https://a.example",
            ),
        );
        let ok = ok.ok();
        assert_eq!(ok.as_ref().map(|r| r.resources.len()), Some(1), "repeats count once");
        assert_eq!(ok.and_then(|r| r.code_verifier), None);
        for bad in ["client_id=c&redirect_uri=http://127.0.0.1/cb", "client_id=c&code=x"] {
            let e = AuthorizationCodeRequest::parse(None, &form(bad)).err().map(|e| e.error);
            assert_eq!(e, Some(OAuthErrorCode::InvalidRequest), "{bad}");
        }
        let e = AuthorizationCodeRequest::parse(None, &form("client_id=c&code=x&redirect_uri=r&resource=nope"))
            .err()
            .map(|e| e.error);
        assert_eq!(e, Some(OAuthErrorCode::InvalidTarget));
        let e = RefreshTokenRequest::parse(None, &form("client_id=c&refresh_token=x&scope=a%22b"))
            .err()
            .map(|e| e.error);
        assert_eq!(e, Some(OAuthErrorCode::InvalidScope));
    }
}
