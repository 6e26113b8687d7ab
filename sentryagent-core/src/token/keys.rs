//! Signing keys: generation, the parsed signer, the JWKS, and rotation with
//! overlap.
//!
//! A key is in one of three states. The `next` key is published in the JWKS
//! before it signs anything, so verifiers that cache the JWKS already know it
//! when it becomes `current`; a `retired` key stays published until the last
//! token it signed has expired.

use super::stored_key::{KeyState, SigningAlgorithm, StoredKey};
use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{
    ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, Ed25519KeyPair, KeyPair as _, RSA_PKCS1_SHA256, RsaKeyPair,
};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use bytes::Bytes;
use jsonwebtoken::jwk::{
    AlgorithmParameters, CommonParameters, EllipticCurve, EllipticCurveKeyParameters, EllipticCurveKeyType, Jwk,
    JwkSet, KeyAlgorithm, OctetKeyPairParameters, OctetKeyPairType, PublicKeyUse, RSAKeyParameters, RSAKeyType,
};
use jsonwebtoken::{DecodingKey, Validation};
use serde::Serialize;
use time::OffsetDateTime;

use super::verified::VerifiedTokens;
use crate::error::{Error, StoreError, StoreErrorKind};
use crate::store::KeyStore;

enum Pair {
    Es256(EcdsaKeyPair),
    EdDsa(Ed25519KeyPair),
    Rs256(RsaKeyPair),
}

/// A parsed signing key. Parsing once and keeping the key pair avoids
/// re-reading the DER on every token (a third of the signing cost).
pub(crate) struct SigningKey {
    pub(crate) kid: String,
    pub(crate) algorithm: SigningAlgorithm,
    pair: Pair,
    /// base64url of the JOSE header, computed once.
    header_b64: String,
    rng: SystemRandom,
}

impl SigningKey {
    fn load(stored: &StoredKey) -> Result<Self, StoreError> {
        let corrupt = |_| {
            StoreError::new(
                StoreErrorKind::Corrupt,
                format!("signing key {} cannot be parsed", stored.kid),
            )
        };
        let pair = match stored.algorithm {
            SigningAlgorithm::Es256 => Pair::Es256(
                EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &stored.private_der).map_err(corrupt)?,
            ),
            SigningAlgorithm::EdDsa => Pair::EdDsa(Ed25519KeyPair::from_pkcs8(&stored.private_der).map_err(corrupt)?),
            SigningAlgorithm::Rs256 => Pair::Rs256(RsaKeyPair::from_pkcs8(&stored.private_der).map_err(corrupt)?),
        };
        let header = serde_json::json!({"alg": stored.algorithm.as_str(), "typ": "at+jwt", "kid": stored.kid});
        Ok(Self {
            kid: stored.kid.clone(),
            algorithm: stored.algorithm,
            pair,
            header_b64: URL_SAFE_NO_PAD.encode(header.to_string()),
            rng: SystemRandom::new(),
        })
    }

    /// Signs `claims` as a compact JWS with this key's header.
    pub(crate) fn sign<T: Serialize>(&self, claims: &T) -> Result<String, Error> {
        let payload = serde_json::to_vec(claims).map_err(|_| Error::Internal("claims do not serialise".into()))?;
        let mut token = String::with_capacity(self.header_b64.len() + payload.len() * 4 / 3 + 400);
        token.push_str(&self.header_b64);
        token.push('.');
        URL_SAFE_NO_PAD.encode_string(&payload, &mut token);
        let failed = |_| Error::Internal("signing failed".into());
        let signature = match &self.pair {
            Pair::Es256(pair) => pair
                .sign(&self.rng, token.as_bytes())
                .map_err(failed)?
                .as_ref()
                .to_vec(),
            Pair::EdDsa(pair) => pair.sign(token.as_bytes()).as_ref().to_vec(),
            Pair::Rs256(pair) => {
                let mut sig = vec![0u8; pair.public_modulus_len()];
                pair.sign(&RSA_PKCS1_SHA256, &self.rng, token.as_bytes(), &mut sig)
                    .map_err(failed)?;
                sig
            }
        };
        token.push('.');
        URL_SAFE_NO_PAD.encode_string(&signature, &mut token);
        Ok(token)
    }

    fn public_jwk(&self) -> Jwk {
        let b64 = |b: &[u8]| URL_SAFE_NO_PAD.encode(b);
        let algorithm = match &self.pair {
            Pair::Es256(pair) => {
                // Uncompressed SEC1 point: 0x04 ‖ x ‖ y.
                let point = pair.public_key().as_ref();
                AlgorithmParameters::EllipticCurve(EllipticCurveKeyParameters {
                    key_type: EllipticCurveKeyType::EC,
                    curve: EllipticCurve::P256,
                    x: b64(&point[1..33]),
                    y: b64(&point[33..65]),
                })
            }
            Pair::EdDsa(pair) => AlgorithmParameters::OctetKeyPair(OctetKeyPairParameters {
                key_type: OctetKeyPairType::OctetKeyPair,
                curve: EllipticCurve::Ed25519,
                x: b64(pair.public_key().as_ref()),
            }),
            Pair::Rs256(pair) => {
                let public = pair.public_key();
                AlgorithmParameters::RSA(RSAKeyParameters {
                    key_type: RSAKeyType::RSA,
                    n: b64(public.modulus().big_endian_without_leading_zero()),
                    e: b64(public.exponent().big_endian_without_leading_zero()),
                })
            }
        };
        Jwk {
            common: CommonParameters {
                public_key_use: Some(PublicKeyUse::Signature),
                key_algorithm: Some(match self.algorithm {
                    SigningAlgorithm::Es256 => KeyAlgorithm::ES256,
                    SigningAlgorithm::EdDsa => KeyAlgorithm::EdDSA,
                    SigningAlgorithm::Rs256 => KeyAlgorithm::RS256,
                }),
                key_id: Some(self.kid.clone()),
                ..Default::default()
            },
            algorithm,
        }
    }
}

/// A key tokens may be verified with; its algorithm is pinned.
pub(crate) struct VerifyingKey {
    pub(crate) algorithm: SigningAlgorithm,
    pub(crate) decoding: DecodingKey,
    /// The signature check at the pinned algorithm, with the claims every
    /// token must carry, built once per key set rather than per token (a
    /// dozen allocations). Issuer, validity window and audience are checked
    /// by the verifier itself, as for a token verified before.
    pub(crate) validation: Validation,
}

impl VerifyingKey {
    fn new(algorithm: SigningAlgorithm, decoding: DecodingKey) -> Self {
        let mut validation = Validation::new(algorithm.jwt());
        validation.validate_exp = false;
        validation.validate_nbf = false;
        validation.validate_aud = false;
        validation.set_required_spec_claims(&["exp", "nbf", "iat", "iss", "aud", "sub"]);
        Self {
            algorithm,
            decoding,
            validation,
        }
    }
}

/// The keys in force at one moment: the signer, the verifiers and the JWKS.
pub(crate) struct KeySet {
    pub(crate) signer: SigningKey,
    pub(crate) verifiers: HashMap<String, VerifyingKey>,
    pub(crate) jwks: Bytes,
    /// Tokens verified with these keys; a new key set starts empty.
    pub(crate) verified: VerifiedTokens,
}

impl KeySet {
    fn build(stored: &[StoredKey], now: OffsetDateTime) -> Result<Self, StoreError> {
        let mut signer = None;
        let mut verifiers = HashMap::new();
        let mut jwks = JwkSet { keys: Vec::new() };
        for key in stored {
            if key.state == KeyState::Retired && key.retire_after.is_some_and(|t| t <= now) {
                continue;
            }
            let parsed = SigningKey::load(key)?;
            let jwk = parsed.public_jwk();
            let decoding = DecodingKey::from_jwk(&jwk)
                .map_err(|e| StoreError::new(StoreErrorKind::Corrupt, "public key unusable").with_source(e))?;
            verifiers.insert(key.kid.clone(), VerifyingKey::new(key.algorithm, decoding));
            jwks.keys.push(jwk);
            if key.state == KeyState::Current {
                signer = Some(parsed);
            }
        }
        let signer = signer.ok_or_else(|| StoreError::new(StoreErrorKind::Corrupt, "no current signing key"))?;
        let jwks = serde_json::to_vec(&jwks)
            .map_err(|e| StoreError::new(StoreErrorKind::Other, "JWKS does not serialise").with_source(e))?;
        Ok(Self {
            signer,
            verifiers,
            jwks: Bytes::from(jwks),
            verified: VerifiedTokens::default(),
        })
    }
}

/// The keys in force, swapped whole on rotation or reload.
pub(crate) struct Keyring {
    store: Arc<dyn KeyStore>,
    algorithm: SigningAlgorithm,
    current: RwLock<Arc<KeySet>>,
}

impl Keyring {
    /// Loads the stored keys, creating a current and a next key on first use.
    pub(crate) async fn load(store: Arc<dyn KeyStore>, algorithm: SigningAlgorithm) -> Result<Self, Error> {
        let mut stored = store.signing_keys().await?;
        let has = |keys: &[StoredKey], state| keys.iter().any(|k| k.state == state && k.algorithm == algorithm);
        if !has(&stored, KeyState::Current) {
            // A changed algorithm setting retires the old current key.
            for key in stored.iter_mut().filter(|k| k.state == KeyState::Current) {
                key.state = KeyState::Retired;
                key.retire_after = Some(crate::time::now() + time::Duration::days(1));
                store.put_signing_key(key).await?;
            }
            store
                .put_signing_key(&StoredKey::generate(algorithm, KeyState::Current)?)
                .await?;
        }
        if !has(&stored, KeyState::Next) {
            store
                .put_signing_key(&StoredKey::generate(algorithm, KeyState::Next)?)
                .await?;
        }
        // Read back: an instance starting at the same moment may have added
        // keys too, and every instance must publish all of them.
        let stored = store.signing_keys().await?;
        let set = KeySet::build(&stored, crate::time::now())?;
        Ok(Self {
            store,
            algorithm,
            current: RwLock::new(Arc::new(set)),
        })
    }

    pub(crate) fn get(&self) -> Arc<KeySet> {
        // A poisoned lock only means a panic while swapping in a whole Arc;
        // the Arc inside is still a complete key set.
        self.current.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Re-reads the keys from the store (another instance may have rotated).
    pub(crate) async fn reload(&self) -> Result<(), Error> {
        let stored = self.store.signing_keys().await?;
        let set = KeySet::build(&stored, crate::time::now())?;
        *self.current.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(set);
        Ok(())
    }

    /// When the stored current key was made (`None` when none is stored).
    pub(crate) async fn current_created_at(&self) -> Result<Option<OffsetDateTime>, Error> {
        let keys = self.store.signing_keys().await?;
        Ok(keys
            .iter()
            .filter(|k| k.state == KeyState::Current && k.algorithm == self.algorithm)
            .map(|k| k.created_at)
            .max())
    }

    /// Rotates: `next` starts signing, `current` retires until `retire_after`
    /// (the expiry of the last token it signed), a new `next` is published,
    /// and retired keys past their time are deleted.
    pub(crate) async fn rotate(&self, retire_after: OffsetDateTime) -> Result<String, Error> {
        let now = crate::time::now();
        let keys = self.store.signing_keys().await?;
        for key in &keys {
            match key.state {
                KeyState::Retired if key.retire_after.is_some_and(|t| t <= now) => {
                    self.store.delete_signing_key(&key.kid).await?;
                }
                KeyState::Current => {
                    let mut key = key.clone();
                    key.state = KeyState::Retired;
                    key.retire_after = Some(retire_after);
                    self.store.put_signing_key(&key).await?;
                }
                _ => {}
            }
        }
        let promoted = match keys
            .iter()
            .find(|k| k.state == KeyState::Next && k.algorithm == self.algorithm)
        {
            Some(next) => {
                let mut next = next.clone();
                next.state = KeyState::Current;
                next
            }
            None => StoredKey::generate(self.algorithm, KeyState::Current)?,
        };
        self.store.put_signing_key(&promoted).await?;
        self.store
            .put_signing_key(&StoredKey::generate(self.algorithm, KeyState::Next)?)
            .await?;
        self.reload().await?;
        Ok(promoted.kid)
    }
}
