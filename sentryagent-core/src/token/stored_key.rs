//! Signing keys as the store keeps them.

use crate::error::Error;
use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::rsa::KeySize;
use aws_lc_rs::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, Ed25519KeyPair, RsaKeyPair};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::Algorithm;
use serde::{Deserialize, Serialize};
use std::fmt;
use time::OffsetDateTime;

/// The JWS algorithm tokens are signed with.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum SigningAlgorithm {
    /// ECDSA P-256 with SHA-256: the default; compact and fast.
    #[default]
    #[serde(rename = "ES256")]
    Es256,
    /// Ed25519.
    #[serde(rename = "EdDSA")]
    EdDsa,
    /// RSASSA-PKCS1-v1_5 with SHA-256 and a 2048-bit key, for old verifiers.
    #[serde(rename = "RS256")]
    Rs256,
}

impl SigningAlgorithm {
    /// The JWS `alg` name.
    pub fn as_str(self) -> &'static str {
        match self {
            SigningAlgorithm::Es256 => "ES256",
            SigningAlgorithm::EdDsa => "EdDSA",
            SigningAlgorithm::Rs256 => "RS256",
        }
    }

    /// Parses a JWS `alg` name.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "ES256" => Some(SigningAlgorithm::Es256),
            "EdDSA" => Some(SigningAlgorithm::EdDsa),
            "RS256" => Some(SigningAlgorithm::Rs256),
            _ => None,
        }
    }

    pub(crate) fn jwt(self) -> Algorithm {
        match self {
            SigningAlgorithm::Es256 => Algorithm::ES256,
            SigningAlgorithm::EdDsa => Algorithm::EdDSA,
            SigningAlgorithm::Rs256 => Algorithm::RS256,
        }
    }
}

/// Where a key is in its life.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum KeyState {
    /// Published, not yet signing.
    Next,
    /// Signing new tokens.
    Current,
    /// No longer signing; published until `retire_after`.
    Retired,
}

impl KeyState {
    /// The name stores use.
    pub fn as_str(self) -> &'static str {
        match self {
            KeyState::Next => "next",
            KeyState::Current => "current",
            KeyState::Retired => "retired",
        }
    }

    /// Parses [`as_str`](Self::as_str)'s output.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "next" => Some(KeyState::Next),
            "current" => Some(KeyState::Current),
            "retired" => Some(KeyState::Retired),
            _ => None,
        }
    }
}

/// A signing key as stored. `private_der` is PKCS#8 and secret: backends
/// should encrypt it at rest; `Debug` never prints it.
#[derive(Clone, PartialEq, Eq)]
pub struct StoredKey {
    /// The key id (`kid`).
    pub kid: String,
    /// Its algorithm.
    pub algorithm: SigningAlgorithm,
    /// The private key, PKCS#8 DER.
    pub private_der: Vec<u8>,
    /// Where it is in its life.
    pub state: KeyState,
    /// When it was made.
    pub created_at: OffsetDateTime,
    /// For a retired key: when the last token it signed expires.
    pub retire_after: Option<OffsetDateTime>,
}

impl fmt::Debug for StoredKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StoredKey")
            .field("kid", &self.kid)
            .field("algorithm", &self.algorithm)
            .field("state", &self.state)
            .field("private_der", &"[redacted]")
            .finish()
    }
}

impl StoredKey {
    /// A new random key in `state`.
    ///
    /// # Errors
    /// Fails only if the crypto library cannot generate a key.
    pub fn generate(algorithm: SigningAlgorithm, state: KeyState) -> Result<Self, Error> {
        let failed = |_| Error::Internal("key generation failed".into());
        let private_der = match algorithm {
            SigningAlgorithm::Es256 => EcdsaKeyPair::generate(&ECDSA_P256_SHA256_FIXED_SIGNING)
                .and_then(|k| k.to_pkcs8v1())
                .map_err(failed)?
                .as_ref()
                .to_vec(),
            SigningAlgorithm::EdDsa => Ed25519KeyPair::generate()
                .and_then(|k| k.to_pkcs8v1())
                .map_err(failed)?
                .as_ref()
                .to_vec(),
            SigningAlgorithm::Rs256 => {
                let pair = RsaKeyPair::generate(KeySize::Rsa2048).map_err(failed)?;
                let der: aws_lc_rs::encoding::Pkcs8V1Der<'_> = pair.as_der().map_err(failed)?;
                der.as_ref().to_vec()
            }
        };
        let created_at = crate::time::now();
        let kid = format!(
            "{}-{}",
            created_at.unix_timestamp(),
            URL_SAFE_NO_PAD.encode(crate::secret::random_bytes::<6>())
        );
        Ok(Self {
            kid,
            algorithm,
            private_der,
            state,
            created_at,
            retire_after: None,
        })
    }
}
