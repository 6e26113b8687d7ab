//! A host's sign-in for the HTTP cases: the signed-in person is named by a
//! header, `x-test-user: <tenant id>/<user id>`. It exists only here; a
//! real host reads its own session.

use async_trait::async_trait;
use sentryagent_core::authorization::{HostError, HostUser, HostUsers, SignIn, SignInRequest};

/// The header naming the signed-in person.
pub const TEST_USER: &str = "x-test-user";
/// A header that makes the host fail (its session store is down).
pub const TEST_HOST_DOWN: &str = "x-test-host-down";
/// A header with which the host approves the request itself (no page).
pub const TEST_APPROVE: &str = "x-test-approve";
/// Where the test host sends people to sign in.
pub const SIGN_IN_PATH: &str = "/test-sign-in";

/// Reads [`TEST_USER`]; nobody signed in goes to
/// `/test-sign-in?return_to=…`.
#[derive(Clone, Copy, Debug, Default)]
pub struct TestHost;

#[async_trait]
impl HostUsers for TestHost {
    async fn signed_in_user(&self, request: SignInRequest<'_>) -> Result<SignIn, HostError> {
        if request.headers.contains_key(TEST_HOST_DOWN) {
            return Err(HostError("the session store is down".into()));
        }
        let named = request
            .headers
            .get(TEST_USER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split_once('/'))
            .and_then(|(tenant, user)| Some((tenant.parse().ok()?, user)));
        Ok(match named {
            Some((tenant_id, user)) => {
                let user = HostUser {
                    tenant_id,
                    user_id: user.to_owned(),
                    display_name: Some(format!("Test user {user}")),
                };
                match request.headers.contains_key(TEST_APPROVE) {
                    true => SignIn::Approved(user),
                    false => SignIn::User(user),
                }
            }
            None => SignIn::Redirect(format!(
                "{SIGN_IN_PATH}?return_to={}",
                form_urlencoded::byte_serialize(request.return_to.as_bytes()).collect::<String>()
            )),
        })
    }
}
