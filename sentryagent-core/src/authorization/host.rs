//! The host's side of the flow: SentryAgent does OAuth, the host knows its
//! people. SentryAgent never sees a password; at the authorization endpoint
//! it asks the host who is signed in, and in which tenant, or where to send
//! them to sign in first.

use async_trait::async_trait;

use crate::TenantId;

/// What the authorization endpoint shows the host about a request, so it
/// can find its session.
#[derive(Clone, Copy, Debug)]
#[non_exhaustive]
pub struct SignInRequest<'a> {
    /// The request's headers (the host's session cookie is among them).
    pub headers: &'a ::http::HeaderMap,
    /// Where the person must come back to after signing in: the
    /// authorization request itself, path and query, as received.
    pub return_to: &'a str,
    /// The client asking (its id; for a metadata document, its URL).
    pub client_id: &'a str,
    /// The resource the client asks for, if it named one.
    pub resource: Option<&'a str>,
}

impl<'a> SignInRequest<'a> {
    /// A request to ask about (what a host's own tests of its
    /// [`HostUsers`] build).
    pub fn new(
        headers: &'a ::http::HeaderMap,
        return_to: &'a str,
        client_id: &'a str,
        resource: Option<&'a str>,
    ) -> Self {
        Self {
            headers,
            return_to,
            client_id,
            resource,
        }
    }
}

/// A person the host has signed in.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HostUser {
    /// The tenant they belong to: their grants, consents and tokens live in
    /// it, and only its resources accept their tokens.
    pub tenant_id: TenantId,
    /// The host's stable id for them: the tokens' `sub`. Never an e-mail
    /// address that may be reassigned.
    pub user_id: String,
    /// How the consent page greets them, if the host says.
    pub display_name: Option<String>,
}

/// The host's answer about a request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SignIn {
    /// This person is signed in.
    User(HostUser),
    /// This person is signed in and the host has approved the request for
    /// them already (its own consent step, or a test-only automatic
    /// approval): no consent page, and no consent remembered.
    Approved(HostUser),
    /// Nobody is: send the browser here (a URL or an absolute path of the
    /// host's), which brings them back to
    /// [`return_to`](SignInRequest::return_to) once signed in.
    Redirect(String),
}

/// The host could not answer (its session store is down): the authorization
/// endpoint answers `temporarily_unavailable`, never a sign-in page.
#[derive(Debug, thiserror::Error)]
#[error("the host could not tell who is signed in: {0}")]
pub struct HostError(pub Box<dyn std::error::Error + Send + Sync>);

/// What a host implements to let people authorize clients: who is the
/// signed-in user of this request, and in which tenant, or where to send
/// them to sign in.
///
/// The host keeps owning its users: SentryAgent stores only the id it is
/// given, with the grants and consents made under it. When the host
/// deletes or locks a person, it revokes their grants and consents through
/// SentryAgent in the same step, which ends their tokens at once.
///
/// ```
/// use async_trait::async_trait;
/// use sentryagent_core::TenantId;
/// use sentryagent_core::authorization::{HostError, HostUser, HostUsers, SignIn, SignInRequest};
///
/// /// A host whose sessions are a cookie naming a signed-in user.
/// struct Sessions {
///     tenant: TenantId,
/// }
///
/// #[async_trait]
/// impl HostUsers for Sessions {
///     async fn signed_in_user(&self, request: SignInRequest<'_>) -> Result<SignIn, HostError> {
///         let session = request
///             .headers
///             .get_all(http::header::COOKIE)
///             .iter()
///             .filter_map(|v| v.to_str().ok())
///             .flat_map(|v| v.split(';'))
///             .find_map(|c| c.trim().strip_prefix("session="));
///         Ok(match session {
///             // A real host looks the session up in its own store.
///             Some(user) if !user.is_empty() => SignIn::User(HostUser {
///                 tenant_id: self.tenant,
///                 user_id: user.to_owned(),
///                 display_name: None,
///             }),
///             _ => SignIn::Redirect(format!(
///                 "/login?next={}",
///                 form_urlencoded::byte_serialize(request.return_to.as_bytes()).collect::<String>()
///             )),
///         })
///     }
/// }
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), HostError> {
/// let host = Sessions { tenant: TenantId::new() };
/// let mut headers = http::HeaderMap::new();
/// headers.insert(http::header::COOKIE, http::HeaderValue::from_static("theme=dark; session=user-17"));
/// let client = "https://app.example.com/client.json";
/// let asked = SignInRequest::new(&headers, "/authorize?client_id=x", client, None);
/// assert!(matches!(host.signed_in_user(asked).await?, SignIn::User(u) if u.user_id == "user-17"));
/// let nobody = http::HeaderMap::new();
/// let asked = SignInRequest::new(&nobody, "/authorize?client_id=x", client, None);
/// assert_eq!(
///     host.signed_in_user(asked).await?,
///     SignIn::Redirect("/login?next=%2Fauthorize%3Fclient_id%3Dx".into())
/// );
/// # Ok(()) }
/// ```
#[async_trait]
pub trait HostUsers: Send + Sync + 'static {
    /// Who is signed in on this request, or where to send them to sign in.
    ///
    /// # Errors
    /// When the host cannot tell now (its session store is down).
    async fn signed_in_user(&self, request: SignInRequest<'_>) -> Result<SignIn, HostError>;
}
