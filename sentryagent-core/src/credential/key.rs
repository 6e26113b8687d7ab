//! The public key of a `private_key_jwt` credential (RFC 7523 §2.2): a JWK
//! the agent's program signs its client assertions with. It authenticates
//! the client, so it is a credential (registered, listed, revoked and
//! audited as one), kept apart from the keys an agent publishes in its DID
//! document, which authenticate nothing here.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::jwk::Jwk;
use jsonwebtoken::{Algorithm, DecodingKey};
use serde::Serialize;
use serde_json::{Map, Value};

/// The algorithms a client assertion may use: asymmetric only (never
/// `none`, never HMAC), one per key type.
pub const CLIENT_KEY_ALGORITHMS: &[&str] = &["ES256", "RS256", "EdDSA"];

/// Members that only a private or symmetric key has: such a JWK is refused,
/// since whoever sent it has just disclosed the key.
const PRIVATE_MEMBERS: &[&str] = &["d", "p", "q", "dp", "dq", "qi", "oth", "k"];

/// Smallest RSA modulus accepted, in bytes (2048 bits).
const MIN_RSA_MODULUS: usize = 256;

/// A validated public signing key, as a JWK with its `alg` pinned.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(transparent)]
#[schema(value_type = Object)]
pub struct ClientKey(Value);

fn member<'a>(jwk: &'a Map<String, Value>, name: &str) -> Option<&'a str> {
    jwk.get(name).and_then(Value::as_str)
}

fn decoded_len(value: Option<&str>) -> Option<usize> {
    URL_SAFE_NO_PAD.decode(value?).ok().map(|b| b.len())
}

impl ClientKey {
    /// Validates a JWK a caller registers: `EC` on P-256 (`ES256`), `RSA`
    /// of at least 2048 bits (`RS256`) or `OKP` Ed25519 (`EdDSA`), public
    /// members only, `use` `sig` if present. Keeps only the public members,
    /// `kid` and the pinned `alg`.
    ///
    /// # Errors
    /// What is wrong with the key, for the `publicKey` field's message.
    pub fn parse(value: &Value) -> Result<Self, String> {
        let Some(jwk) = value.as_object() else {
            return Err("must be a JWK object".into());
        };
        if let Some(m) = PRIVATE_MEMBERS.iter().find(|m| jwk.contains_key(**m)) {
            return Err(format!(
                "must be a public key: the member `{m}` belongs to a private or symmetric key"
            ));
        }
        if jwk.get("use").is_some_and(|u| u != "sig") {
            return Err("must be a signing key (`use`: `sig`)".into());
        }
        let (alg, public): (&str, &[&str]) = match (member(jwk, "kty"), member(jwk, "crv")) {
            (Some("EC"), Some("P-256")) => {
                if decoded_len(member(jwk, "x")) != Some(32) || decoded_len(member(jwk, "y")) != Some(32) {
                    return Err("an EC P-256 key needs 32-byte `x` and `y`".into());
                }
                ("ES256", &["kty", "crv", "x", "y"])
            }
            (Some("OKP"), Some("Ed25519")) => {
                if decoded_len(member(jwk, "x")) != Some(32) {
                    return Err("an Ed25519 key needs a 32-byte `x`".into());
                }
                ("EdDSA", &["kty", "crv", "x"])
            }
            (Some("RSA"), _) => {
                let n = decoded_len(member(jwk, "n")).unwrap_or(0);
                if n < MIN_RSA_MODULUS || decoded_len(member(jwk, "e")).is_none_or(|e| e == 0) {
                    return Err("an RSA key needs `e` and a modulus `n` of at least 2048 bits".into());
                }
                ("RS256", &["kty", "n", "e"])
            }
            _ => {
                return Err(format!(
                    "must be an EC P-256, OKP Ed25519 or RSA key (algorithms {})",
                    CLIENT_KEY_ALGORITHMS.join(", ")
                ));
            }
        };
        if let Some(declared) = jwk.get("alg")
            && declared != alg
        {
            return Err(format!(
                "this key type signs with {alg} only; `alg` must be {alg} or absent"
            ));
        }
        let mut kept = Map::new();
        for name in public {
            if let Some(v) = jwk.get(*name) {
                kept.insert((*name).to_owned(), v.clone());
            }
        }
        if let Some(kid) = jwk.get("kid") {
            match kid.as_str() {
                Some(k) if (1..=200).contains(&k.len()) => {
                    kept.insert("kid".into(), kid.clone());
                }
                _ => return Err("`kid` must be a string of 1 to 200 characters".into()),
            }
        }
        kept.insert("alg".into(), alg.into());
        kept.insert("use".into(), "sig".into());
        let key = Self(Value::Object(kept));
        key.decoding_key().ok_or("is not a usable public key")?;
        Ok(key)
    }

    /// A key as a store kept it (validated when registered).
    pub fn from_stored(value: Value) -> Option<Self> {
        let key = Self(value);
        key.algorithm()?;
        Some(key)
    }

    /// The JWK.
    pub fn jwk(&self) -> &Value {
        &self.0
    }

    /// The algorithm the key is pinned to.
    pub fn algorithm(&self) -> Option<Algorithm> {
        match self.0.get("alg")?.as_str()? {
            "ES256" => Some(Algorithm::ES256),
            "RS256" => Some(Algorithm::RS256),
            "EdDSA" => Some(Algorithm::EdDSA),
            _ => None,
        }
    }

    /// The key's `kid`, if it has one.
    pub fn kid(&self) -> Option<&str> {
        self.0.get("kid")?.as_str()
    }

    pub(crate) fn decoding_key(&self) -> Option<DecodingKey> {
        let jwk: Jwk = serde_json::from_value(self.0.clone()).ok()?;
        DecodingKey::from_jwk(&jwk).ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const X: &str = "f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU";
    const Y: &str = "x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0";

    #[test]
    fn public_keys_of_the_allowed_kinds_are_kept_with_their_algorithm() {
        let key = ClientKey::parse(&json!({"kty": "EC", "crv": "P-256", "x": X, "y": Y, "kid": "k1", "extra": 1}))
            .expect("an EC key");
        assert_eq!(key.algorithm(), Some(Algorithm::ES256));
        assert_eq!(key.kid(), Some("k1"));
        assert!(key.jwk().get("extra").is_none());
        let ed = ClientKey::parse(&json!({"kty": "OKP", "crv": "Ed25519", "x": X})).expect("an Ed25519 key");
        assert_eq!(ed.algorithm(), Some(Algorithm::EdDSA));
    }

    #[test]
    fn private_symmetric_small_and_mislabelled_keys_are_refused() {
        for bad in [
            json!({"kty": "EC", "crv": "P-256", "x": X, "y": Y, "d": X}),
            json!({"kty": "oct", "k": X}),
            json!({"kty": "EC", "crv": "P-384", "x": X, "y": Y}),
            json!({"kty": "EC", "crv": "P-256", "x": X, "y": Y, "alg": "HS256"}),
            json!({"kty": "EC", "crv": "P-256", "x": X, "y": Y, "alg": "none"}),
            json!({"kty": "EC", "crv": "P-256", "x": X, "y": Y, "use": "enc"}),
            json!({"kty": "RSA", "n": X, "e": "AQAB"}),
            json!("a string"),
        ] {
            assert!(ClientKey::parse(&bad).is_err(), "{bad}");
        }
    }
}
