//! Reading a JWT's header and claims locally, without verifying it.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::Serialize;

use crate::error::Error;

/// A JWT's header and claims, as they are written in it.
#[derive(Clone, Debug, Serialize)]
pub struct DecodedToken {
    /// The JOSE header (`alg`, `kid`, `typ`).
    pub header: serde_json::Value,
    /// The claims.
    pub claims: serde_json::Value,
}

/// Decodes a JWT's header and claims **without checking its signature**: for
/// looking at a token, never for trusting one (use
/// [`Client::introspect`](crate::Client::introspect) for that).
///
/// # Errors
/// [`Error::Usage`] when `token` is not three base64url parts whose first two
/// are JSON objects.
pub fn decode_unverified(token: &str) -> Result<DecodedToken, Error> {
    let parts: Vec<&str> = token.trim().split('.').collect();
    if parts.len() != 3 {
        return Err(Error::Usage(
            "not a JWT: a JWT has three parts separated by dots".into(),
        ));
    }
    let part = |i: usize, what: &str| -> Result<serde_json::Value, Error> {
        let bytes = URL_SAFE_NO_PAD
            .decode(parts[i].trim_end_matches('='))
            .map_err(|e| Error::Usage(format!("not a JWT: its {what} is not base64url: {e}")))?;
        let value: serde_json::Value = serde_json::from_slice(&bytes)
            .map_err(|e| Error::Usage(format!("not a JWT: its {what} is not JSON: {e}")))?;
        if value.is_object() {
            Ok(value)
        } else {
            Err(Error::Usage(format!("not a JWT: its {what} is not a JSON object")))
        }
    };
    Ok(DecodedToken {
        header: part(0, "header")?,
        claims: part(1, "claims")?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_header_and_claims_and_refuses_what_is_not_a_jwt() {
        let token = "eyJhbGciOiJFUzI1NiIsInR5cCI6ImF0K2p3dCJ9.eyJzdWIiOiJhIiwic2NvcGUiOiJhZG1pbiJ9.c2ln";
        let decoded = decode_unverified(token).expect("decodes");
        assert_eq!(decoded.header["alg"], "ES256");
        assert_eq!(decoded.claims["scope"], "admin");
        assert!(decode_unverified("abc").is_err());
        assert!(decode_unverified("a.b.c").is_err());
    }
}
