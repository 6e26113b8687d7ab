//! `private_key_jwt` client authentication (RFC 7523 §2.2, RFC 7521 §5.2):
//! a client assertion verified against the public key of the client's
//! credential.
//!
//! The checks, in order: the header's `alg` is on the allow-list and is the
//! key's (so `none` and HMAC never verify), its `typ` is absent, `JWT` or
//! `client-authentication+jwt`, its `kid` (if any) is the key's; the
//! signature; `iss` = `sub` = the client id; `aud` this server's issuer or
//! token endpoint URL; `exp` present, not past, and at most
//! [`MAX_ASSERTION_LIFETIME`] ahead; `jti` present and never seen before
//! (the replay guard, kept until the assertion could no longer verify).
//! The replay guard is asked last, so an assertion that fails another check
//! does not use up its `jti`.
//!
//! Stores it needs: `replay`.

use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Validation, decode, decode_header};
use serde::Deserialize;

use crate::credential::{CLIENT_KEY_ALGORITHMS, Credential};
use crate::{SentryAgent, StoreError};

/// The longest an assertion may be valid for, counted from now: an
/// assertion is made for one request, so a far-future `exp` is refused.
pub const MAX_ASSERTION_LIFETIME: Duration = Duration::from_secs(300);

#[derive(Deserialize)]
struct AssertionClaims {
    exp: i64,
    #[serde(default)]
    jti: Option<String>,
    #[serde(default)]
    iat: Option<i64>,
}

/// The `alg` of a JWT's header, read without trusting anything else.
fn header_alg(jwt: &str) -> Option<String> {
    let header = URL_SAFE_NO_PAD.decode(jwt.split('.').next()?).ok()?;
    let header: serde_json::Value = serde_json::from_slice(&header).ok()?;
    header.get("alg")?.as_str().map(str::to_owned)
}

/// Whether a `typ` is one a client assertion may carry.
fn typ_allowed(typ: Option<&str>) -> bool {
    match typ {
        None => true,
        Some(t) => {
            let t = t.to_ascii_lowercase();
            let t = t.strip_prefix("application/").unwrap_or(&t);
            t == "jwt" || t == "client-authentication+jwt"
        }
    }
}

impl SentryAgent {
    /// Checks `assertion` for `credential` (whose client id the request
    /// named). `Ok(Err(reason))`: refused, with the reason the audit event
    /// records.
    pub(crate) async fn check_assertion(
        &self,
        credential: &Credential,
        assertion: &str,
    ) -> Result<Result<(), &'static str>, StoreError> {
        let Some(key) = &credential.public_key else {
            return Ok(Err("not_a_key_credential"));
        };
        let (Some(algorithm), Some(decoding)) = (key.algorithm(), key.decoding_key()) else {
            return Ok(Err("unusable_key"));
        };
        match header_alg(assertion) {
            Some(alg) if CLIENT_KEY_ALGORITHMS.contains(&alg.as_str()) => {}
            Some(_) => return Ok(Err("alg_not_allowed")),
            None => return Ok(Err("malformed_assertion")),
        }
        let Ok(header) = decode_header(assertion) else {
            return Ok(Err("malformed_assertion"));
        };
        if header.alg != algorithm {
            return Ok(Err("alg_not_allowed"));
        }
        if !typ_allowed(header.typ.as_deref()) {
            return Ok(Err("typ_not_allowed"));
        }
        if let (Some(kid), Some(expected)) = (header.kid.as_deref(), key.kid())
            && kid != expected
        {
            return Ok(Err("unknown_key"));
        }
        let settings = &self.inner.settings;
        let client_id = credential.client_id.as_str();
        let mut validation = Validation::new(algorithm);
        validation.set_audience(&[settings.issuer.clone(), settings.endpoint("/oauth2/token")]);
        validation.set_issuer(&[client_id]);
        validation.sub = Some(client_id.to_owned());
        validation.set_required_spec_claims(&["exp", "iss", "sub", "aud"]);
        validation.validate_nbf = true;
        validation.leeway = settings.clock_skew.as_secs();
        let claims = match decode::<AssertionClaims>(assertion, &decoding, &validation) {
            Ok(data) => data.claims,
            Err(e) => {
                return Ok(Err(match e.kind() {
                    ErrorKind::InvalidSignature => "invalid_signature",
                    ErrorKind::ExpiredSignature => "expired",
                    ErrorKind::ImmatureSignature => "not_yet_valid",
                    ErrorKind::InvalidAudience => "wrong_audience",
                    ErrorKind::InvalidIssuer | ErrorKind::InvalidSubject => "wrong_issuer_or_subject",
                    ErrorKind::MissingRequiredClaim(_) => "missing_claim",
                    _ => "malformed_assertion",
                }));
            }
        };
        let now = crate::time::now().unix_timestamp();
        let skew = i64::try_from(settings.clock_skew.as_secs()).unwrap_or(i64::MAX);
        let longest = i64::try_from(MAX_ASSERTION_LIFETIME.as_secs()).unwrap_or(i64::MAX);
        if claims.exp > now.saturating_add(longest).saturating_add(skew) {
            return Ok(Err("lifetime_too_long"));
        }
        if claims.iat.is_some_and(|iat| iat > now.saturating_add(skew)) {
            return Ok(Err("issued_in_the_future"));
        }
        let Some(jti) = claims.jti.filter(|j| (1..=256).contains(&j.len())) else {
            return Ok(Err("missing_claim"));
        };
        let until = super::stops_verifying(claims.exp, settings.clock_skew);
        if !self
            .inner
            .stores
            .replay
            .first_use(&format!("client_assertion:{client_id}:{jti}"), until)
            .await?
        {
            return Ok(Err("replayed"));
        }
        Ok(Ok(()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_typ_of_a_client_assertion_is_jwt_or_rfc_7523bis_or_absent() {
        for ok in [
            None,
            Some("JWT"),
            Some("jwt"),
            Some("client-authentication+jwt"),
            Some("application/JWT"),
        ] {
            assert!(typ_allowed(ok), "{ok:?}");
        }
        for bad in ["at+jwt", "JOSE", "dpop+jwt"] {
            assert!(!typ_allowed(Some(bad)), "{bad}");
        }
    }
}
