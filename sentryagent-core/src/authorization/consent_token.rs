//! The consent form's anti-forgery token: a MAC with the server key over
//! the person, the client, the request and an expiry, so a post is accepted
//! only from the person the page was rendered for, for that very request,
//! for a few minutes. No server-side state.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use time::OffsetDateTime;

use crate::TenantId;
use crate::secret::ServerKey;

/// How long a rendered consent page may be answered.
pub(super) const CONSENT_FORM_TTL: time::Duration = time::Duration::minutes(10);

/// What the token is bound to.
pub(super) struct Binding<'a> {
    pub(super) tenant: TenantId,
    pub(super) user_id: &'a str,
    pub(super) client_id: &'a str,
    pub(super) redirect_uri: &'a str,
    pub(super) code_challenge: &'a str,
    pub(super) state: &'a str,
    pub(super) scopes: &'a [String],
    pub(super) resources: &'a [String],
}

impl Binding<'_> {
    /// Every field length-prefixed, so no two bindings share a message.
    fn message(&self, expires: i64) -> Vec<u8> {
        let mut out = b"sentryagent-consent/v1".to_vec();
        let tenant = self.tenant.to_string();
        let mut field = |s: &str| {
            out.extend_from_slice(&(s.len() as u64).to_be_bytes());
            out.extend_from_slice(s.as_bytes());
        };
        field(&tenant);
        field(self.user_id);
        field(self.client_id);
        field(self.redirect_uri);
        field(self.code_challenge);
        field(self.state);
        field(&self.scopes.len().to_string());
        for s in self.scopes {
            field(s);
        }
        field(&self.resources.len().to_string());
        for r in self.resources {
            field(r);
        }
        field(&expires.to_string());
        out
    }

    /// A token valid until `now + CONSENT_FORM_TTL`.
    pub(super) fn mint(&self, key: &ServerKey, now: OffsetDateTime) -> String {
        let expires = (now + CONSENT_FORM_TTL).unix_timestamp();
        let mac = key.consent_mac(&self.message(expires));
        format!("{expires}.{}", URL_SAFE_NO_PAD.encode(mac))
    }

    /// Whether `token` was minted for this binding and has not expired.
    pub(super) fn verify(&self, key: &ServerKey, token: &str, now: OffsetDateTime) -> bool {
        let Some((expires, mac)) = token.split_once('.') else {
            return false;
        };
        let (Ok(expires), Ok(mac)) = (expires.parse::<i64>(), URL_SAFE_NO_PAD.decode(mac)) else {
            return false;
        };
        expires > now.unix_timestamp() && key.verify_consent_mac(&self.message(expires), &mac)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_token_holds_for_its_person_and_request_only_until_it_expires() {
        let key = ServerKey::random();
        let tenant = TenantId::new();
        let scopes = vec!["tools:call".to_owned()];
        let resources = vec!["https://mcp.example".to_owned()];
        let binding = |user| Binding {
            tenant,
            user_id: user,
            client_id: "sa_oc_1",
            redirect_uri: "http://127.0.0.1/cb",
            code_challenge: "abc",
            state: "s",
            scopes: &scopes,
            resources: &resources,
        };
        let now = crate::time::now();
        let token = binding("ann").mint(&key, now);
        assert!(binding("ann").verify(&key, &token, now));
        assert!(!binding("bob").verify(&key, &token, now), "another person");
        assert!(!binding("ann").verify(&key, &token, now + CONSENT_FORM_TTL), "expired");
        assert!(
            !binding("ann").verify(&ServerKey::random(), &token, now),
            "another server"
        );
        let other_scopes = vec!["tools:call".to_owned(), "orders:write".to_owned()];
        let mut wider = binding("ann");
        wider.scopes = &other_scopes;
        assert!(!wider.verify(&key, &token, now), "another request");
        for garbage in ["", ".", "1.", "x.y", "99999999999.AAAA"] {
            assert!(!binding("ann").verify(&key, garbage, now), "{garbage}");
        }
    }
}
