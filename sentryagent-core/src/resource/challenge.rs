//! The `WWW-Authenticate` challenges of a protected resource (RFC 6750 §3,
//! RFC 9728 §5.1), built here once for every adapter.

use crate::Error;

/// Why a host's protected route refused a request, with the
/// `WWW-Authenticate` challenge its answer carries. The body stays the
/// API's error envelope; the adapters turn it into their response.
#[derive(Debug)]
pub struct Refusal {
    /// The error the envelope reports.
    pub error: Error,
    challenge: Option<String>,
}

impl Refusal {
    /// The refusal of a request to a resource: a 401 names `invalid_token`
    /// only when a token was presented (RFC 6750 §3.1), a 403
    /// `insufficient_scope` names the scopes the resource needs (`scopes`,
    /// else the missing one), and both point at the resource's metadata.
    pub(crate) fn new(error: Error, presented: bool, resource_metadata: Option<&str>, scopes: &[String]) -> Self {
        let mut params: Vec<(&str, String)> = Vec::new();
        match &error {
            Error::Unauthorized(reason) if presented => {
                params.push(("error", "invalid_token".to_owned()));
                params.push(("error_description", reason.to_string()));
            }
            Error::Unauthorized(_) => {}
            Error::InsufficientScope(missing) => {
                params.push(("error", "insufficient_scope".to_owned()));
                let scope = if scopes.is_empty() {
                    missing.to_string()
                } else {
                    scopes.join(" ")
                };
                params.push(("scope", scope));
            }
            // No challenge applies (a suspended agent, a backend down).
            _ => return Self { error, challenge: None },
        }
        if let Some(url) = resource_metadata {
            params.push(("resource_metadata", url.to_owned()));
        }
        let mut challenge = String::from("Bearer realm=\"sentryagent\"");
        for (name, value) in params {
            challenge.push_str(&format!(", {name}=\"{}\"", quotable(&value)));
        }
        Self {
            error,
            challenge: Some(challenge),
        }
    }

    /// The `WWW-Authenticate` value, when one applies.
    pub fn challenge(&self) -> Option<&str> {
        self.challenge.as_deref()
    }
}

impl From<Error> for Refusal {
    /// A refusal whose challenge is the envelope's default (a handler's own
    /// scope check, which knows no resource).
    fn from(error: Error) -> Self {
        Self { error, challenge: None }
    }
}

/// The characters RFC 6750 §3 allows in a quoted attribute value (`"` and
/// `\` are not among them): others become a space.
fn quotable(value: &str) -> String {
    value
        .chars()
        .map(|c| match c {
            ' '..='~' if c != '"' && c != '\\' => c,
            _ => ' ',
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const META: &str = "https://api.example.com/.well-known/oauth-protected-resource/mcp";

    #[test]
    fn no_token_gets_no_error_code() {
        let r = Refusal::new(
            Error::unauthorized("a bearer access token is required"),
            false,
            Some(META),
            &[],
        );
        assert_eq!(
            r.challenge(),
            Some(format!("Bearer realm=\"sentryagent\", resource_metadata=\"{META}\"").as_str())
        );
    }

    #[test]
    fn a_bad_token_gets_invalid_token_with_a_description() {
        let r = Refusal::new(
            Error::unauthorized("the access \"token\" is invalid"),
            true,
            Some(META),
            &[],
        );
        assert_eq!(
            r.challenge(),
            Some(
                format!(
                    "Bearer realm=\"sentryagent\", error=\"invalid_token\", \
                     error_description=\"the access  token  is invalid\", resource_metadata=\"{META}\""
                )
                .as_str()
            )
        );
    }

    #[test]
    fn a_missing_scope_names_what_the_resource_needs() {
        let needs = ["tools:call".to_owned(), "tools:list".to_owned()];
        let r = Refusal::new(Error::InsufficientScope("tools:list".into()), true, Some(META), &needs);
        assert_eq!(
            r.challenge(),
            Some(
                format!(
                    "Bearer realm=\"sentryagent\", error=\"insufficient_scope\", scope=\"tools:call tools:list\", \
                     resource_metadata=\"{META}\""
                )
                .as_str()
            )
        );
        let own = Refusal::from(Error::InsufficientScope("x".into()));
        assert_eq!(own.challenge(), None);
        assert_eq!(
            Refusal::new(Error::AgentSuspended, true, Some(META), &[]).challenge(),
            None
        );
    }
}
