//! The parameters of an authorization request (RFC 6749 §4.1.1 with PKCE,
//! RFC 7636, and resource indicators, RFC 8707), read from the query of
//! `GET /oauth2/authorize` or the consent form posted back to it.

use crate::token::Form;

/// At most this many `resource` parameters in one request.
pub(super) const MAX_RESOURCES: usize = 16;
/// The longest `state` echoed back (the client's opaque value).
pub(super) const MAX_STATE_LEN: usize = 2048;

/// The request as received: every value optional, each checked in the
/// endpoint's order (the client and its redirect URI first).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(super) struct AuthorizeParams {
    pub(super) response_type: Option<String>,
    pub(super) client_id: Option<String>,
    pub(super) redirect_uri: Option<String>,
    pub(super) state: Option<String>,
    pub(super) scope: Option<String>,
    pub(super) code_challenge: Option<String>,
    pub(super) code_challenge_method: Option<String>,
    pub(super) resources: Vec<String>,
    /// The consent form's anti-forgery token (the form only).
    pub(super) consent_token: Option<String>,
    /// `allow` or `deny` (the form only).
    pub(super) decision: Option<String>,
}

impl AuthorizeParams {
    /// Parses a query string or form body. Every parameter appears at most
    /// once, except `resource` (RFC 8707); empty values count as absent.
    ///
    /// # Errors
    /// A description of the first repeated parameter.
    pub(super) fn parse(raw: &str) -> Result<Self, String> {
        let form =
            Form::parse_repeating(raw.as_bytes(), &["resource"]).map_err(|e| e.error_description.into_owned())?;
        let get = |k: &str| form.get(k).map(str::to_owned);
        Ok(Self {
            response_type: get("response_type"),
            client_id: get("client_id"),
            redirect_uri: get("redirect_uri"),
            state: get("state"),
            scope: get("scope"),
            code_challenge: get("code_challenge"),
            code_challenge_method: get("code_challenge_method"),
            resources: form.get_all("resource").map(str::to_owned).collect(),
            consent_token: get("consent_token"),
            decision: get("decision"),
        })
    }

    /// The request's own parameters as `(name, value)` pairs, in a fixed
    /// order: what the consent form carries back (its token and decision
    /// apart).
    pub(super) fn pairs(&self) -> Vec<(&'static str, String)> {
        let mut pairs = Vec::new();
        for (name, value) in [
            ("response_type", &self.response_type),
            ("client_id", &self.client_id),
            ("redirect_uri", &self.redirect_uri),
            ("state", &self.state),
            ("scope", &self.scope),
            ("code_challenge", &self.code_challenge),
            ("code_challenge_method", &self.code_challenge_method),
        ] {
            if let Some(v) = value {
                pairs.push((name, v.clone()));
            }
        }
        pairs.extend(self.resources.iter().map(|r| ("resource", r.clone())));
        pairs
    }

    /// The request as a query string (where sign-in brings the person back).
    pub(super) fn query(&self) -> String {
        form_urlencoded::Serializer::new(String::new())
            .extend_pairs(self.pairs())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parameters_appear_once_except_resource() {
        let p = AuthorizeParams::parse("client_id=a&resource=https%3A%2F%2Fx&resource=https%3A%2F%2Fy&state=")
            .expect("parsed");
        assert_eq!(p.client_id.as_deref(), Some("a"));
        assert_eq!(p.resources, ["https://x", "https://y"]);
        assert_eq!(p.state, None, "an empty value is absent");
        let refused = AuthorizeParams::parse("client_id=a&client_id=b").expect_err("repeated");
        assert!(refused.contains("client_id"), "{refused}");
        let back = AuthorizeParams::parse(&p.query()).expect("round trip");
        assert_eq!(back, p);
    }
}
