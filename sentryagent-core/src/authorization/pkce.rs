//! PKCE (RFC 7636), `S256` only: OAuth 2.1 and the MCP authorization
//! rules require it, and `plain` protects nothing once the authorization
//! request is seen, so it is refused.

use aws_lc_rs::{constant_time, digest};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

/// The one method accepted.
pub const S256: &str = "S256";

/// Why a code challenge or verifier was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum PkceError {
    /// No `code_challenge`: PKCE is required.
    #[error("code_challenge is required")]
    MissingChallenge,
    /// A method other than `S256` (`plain` included), or none.
    #[error("code_challenge_method must be S256")]
    UnsupportedMethod,
    /// Not the 43 base64url characters a SHA-256 makes.
    #[error("code_challenge is not an S256 challenge")]
    MalformedChallenge,
    /// Not 43–128 characters of `[A-Za-z0-9-._~]` (RFC 7636 §4.1).
    #[error("code_verifier must be 43 to 128 unreserved characters")]
    MalformedVerifier,
    /// Does not hash to the challenge.
    #[error("code_verifier does not match the code_challenge")]
    Mismatch,
}

/// Checks an authorization request's `code_challenge` and
/// `code_challenge_method` and returns the challenge to store. The method
/// must be given as `S256`: RFC 7636 defaults a missing method to `plain`,
/// which is refused, so a missing one is refused with it.
///
/// # Errors
/// [`PkceError::MissingChallenge`], [`PkceError::UnsupportedMethod`] or
/// [`PkceError::MalformedChallenge`].
pub fn check_challenge<'a>(challenge: Option<&'a str>, method: Option<&str>) -> Result<&'a str, PkceError> {
    let challenge = challenge.filter(|c| !c.is_empty()).ok_or(PkceError::MissingChallenge)?;
    if method != Some(S256) {
        return Err(PkceError::UnsupportedMethod);
    }
    // base64url(SHA-256) without padding is exactly 43 characters.
    if challenge.len() != 43 || !challenge.bytes().all(is_base64url) {
        return Err(PkceError::MalformedChallenge);
    }
    Ok(challenge)
}

/// Verifies a token request's `code_verifier` against the stored `S256`
/// challenge: `BASE64URL(SHA256(verifier)) == challenge`, compared in
/// constant time.
///
/// # Errors
/// [`PkceError::MalformedVerifier`] or [`PkceError::Mismatch`].
pub fn verify_s256(verifier: &str, challenge: &str) -> Result<(), PkceError> {
    if !(43..=128).contains(&verifier.len()) || !verifier.bytes().all(is_unreserved) {
        return Err(PkceError::MalformedVerifier);
    }
    let computed = URL_SAFE_NO_PAD.encode(digest::digest(&digest::SHA256, verifier.as_bytes()));
    constant_time::verify_slices_are_equal(computed.as_bytes(), challenge.as_bytes()).map_err(|_| PkceError::Mismatch)
}

/// RFC 7636 §4.1: `ALPHA / DIGIT / "-" / "." / "_" / "~"`.
fn is_unreserved(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~')
}

fn is_base64url(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_')
}

#[cfg(test)]
mod tests {
    use super::*;

    // RFC 7636 Appendix B.
    const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
    const CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";

    #[test]
    fn the_rfc_example_verifies() {
        assert_eq!(check_challenge(Some(CHALLENGE), Some("S256")), Ok(CHALLENGE));
        assert_eq!(verify_s256(VERIFIER, CHALLENGE), Ok(()));
    }

    #[test]
    fn plain_missing_and_malformed_challenges_are_refused() {
        assert_eq!(check_challenge(None, Some("S256")), Err(PkceError::MissingChallenge));
        assert_eq!(
            check_challenge(Some(""), Some("S256")),
            Err(PkceError::MissingChallenge)
        );
        assert_eq!(
            check_challenge(Some(CHALLENGE), Some("plain")),
            Err(PkceError::UnsupportedMethod)
        );
        assert_eq!(
            check_challenge(Some(CHALLENGE), None),
            Err(PkceError::UnsupportedMethod)
        );
        assert_eq!(
            check_challenge(Some(CHALLENGE), Some("s256")),
            Err(PkceError::UnsupportedMethod),
            "method names are case-sensitive"
        );
        // A `plain` challenge is the verifier itself: 43+ unreserved chars,
        // which an S256 check must not take for a hash when it has a `.` or `~`.
        assert_eq!(
            check_challenge(Some("dBjftJeZ4CVP.mB92K27uhbUJU1p1r~wW1gFWFOEjXk"), Some("S256")),
            Err(PkceError::MalformedChallenge)
        );
        assert_eq!(
            check_challenge(Some(&CHALLENGE[..42]), Some("S256")),
            Err(PkceError::MalformedChallenge)
        );
        assert_eq!(
            check_challenge(Some(&format!("{CHALLENGE}=")), Some("S256")),
            Err(PkceError::MalformedChallenge)
        );
    }

    #[test]
    fn wrong_and_malformed_verifiers_are_refused() {
        assert_eq!(
            verify_s256(&VERIFIER.replace('d', "e"), CHALLENGE),
            Err(PkceError::Mismatch)
        );
        // The challenge itself presented as the verifier (a `plain` client).
        assert_eq!(verify_s256(CHALLENGE, CHALLENGE), Err(PkceError::Mismatch));
        assert_eq!(
            verify_s256(&VERIFIER[..42], CHALLENGE),
            Err(PkceError::MalformedVerifier)
        );
        assert_eq!(
            verify_s256(&"a".repeat(129), CHALLENGE),
            Err(PkceError::MalformedVerifier)
        );
        assert_eq!(verify_s256("", CHALLENGE), Err(PkceError::MalformedVerifier));
        let spaced = format!("{} ", &VERIFIER[..43]);
        assert_eq!(verify_s256(&spaced, CHALLENGE), Err(PkceError::MalformedVerifier));
        let unicode = format!("{}é", &VERIFIER[..42]);
        assert_eq!(verify_s256(&unicode, CHALLENGE), Err(PkceError::MalformedVerifier));
        // The bounds themselves are accepted (and then just do not match).
        assert_eq!(verify_s256(&"a".repeat(43), CHALLENGE), Err(PkceError::Mismatch));
        assert_eq!(verify_s256(&"~".repeat(128), CHALLENGE), Err(PkceError::Mismatch));
    }
}
