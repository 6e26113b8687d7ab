//! Client secrets: generated, shown once, stored only as a keyed hash.
//!
//! A generated secret has 256 bits from the OS RNG, so a slow password hash
//! buys nothing and would cap token throughput: the stored form is
//! HMAC-SHA-256 under a server-side pepper, compared in constant time.

use std::fmt;

use aws_lc_rs::{hmac, rand};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

/// Prefix of every client secret, so secret scanners can find leaked ones.
pub const SECRET_PREFIX: &str = "sa_sk_";
/// Prefix of every client id.
pub const CLIENT_ID_PREFIX: &str = "sa_ci_";

/// A client secret in the clear. Its `Debug` never prints the value.
#[derive(Clone, PartialEq, Eq)]
pub struct ClientSecret(String);

impl ClientSecret {
    /// A fresh secret: [`SECRET_PREFIX`] and 32 random bytes, base64url.
    pub fn generate() -> Self {
        Self(format!(
            "{SECRET_PREFIX}{}",
            URL_SAFE_NO_PAD.encode(random_bytes::<32>())
        ))
    }

    /// Wraps a secret presented by a client.
    pub fn from_presented(secret: impl Into<String>) -> Self {
        Self(secret.into())
    }

    /// The secret itself: only for showing it once to its owner.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for ClientSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ClientSecret([redacted])")
    }
}

/// A new client id: [`CLIENT_ID_PREFIX`] and 16 random bytes in hex.
pub fn generate_client_id() -> String {
    let mut id = String::with_capacity(CLIENT_ID_PREFIX.len() + 32);
    id.push_str(CLIENT_ID_PREFIX);
    for byte in random_bytes::<16>() {
        id.push_str(&format!("{byte:02x}"));
    }
    id
}

/// `N` bytes from the OS RNG.
pub(crate) fn random_bytes<const N: usize>() -> [u8; N] {
    let mut bytes = [0u8; N];
    // aws-lc's RNG only fails if the OS has no entropy source at all, in
    // which case no secret this process could make would be safe.
    rand::fill(&mut bytes).expect("the OS random number generator failed");
    bytes
}

/// The server-side key material: a pepper for secret hashes, a key for the
/// audit chain's checkpoints, and the Ed25519 key that signs exportable
/// audit checkpoints, all derived from one master secret (so the audit
/// signing key is the same on every instance and every start, and never
/// rotates with the token keys).
#[derive(Clone)]
pub struct ServerKey {
    pepper: hmac::Key,
    audit: hmac::Key,
    consent: hmac::Key,
    audit_signing: std::sync::Arc<aws_lc_rs::signature::Ed25519KeyPair>,
}

impl ServerKey {
    /// Derives the keys from a master secret of at least 32 bytes.
    ///
    /// # Errors
    /// Fails when `master` is shorter than 32 bytes.
    pub fn from_master(master: &[u8]) -> Result<Self, &'static str> {
        if master.len() < 32 {
            return Err("the server secret must be at least 32 bytes");
        }
        let root = hmac::Key::new(hmac::HMAC_SHA256, master);
        let derive = |label: &[u8]| hmac::Key::new(hmac::HMAC_SHA256, hmac::sign(&root, label).as_ref());
        let seed = hmac::sign(&root, b"sentryagent/audit-signing-key/v1");
        let audit_signing = aws_lc_rs::signature::Ed25519KeyPair::from_seed_unchecked(seed.as_ref())
            .map_err(|_| "the audit signing key cannot be derived")?;
        Ok(Self {
            pepper: derive(b"sentryagent/secret-pepper/v1"),
            audit: derive(b"sentryagent/audit-checkpoint/v1"),
            consent: derive(b"sentryagent/consent-form/v1"),
            audit_signing: std::sync::Arc::new(audit_signing),
        })
    }

    /// A random key, for an in-memory deployment whose data dies with it.
    pub fn random() -> Self {
        Self::from_master(&random_bytes::<32>()).expect("32 bytes is long enough")
    }

    /// The stored form of a secret.
    pub fn hash_secret(&self, secret: &ClientSecret) -> [u8; 32] {
        let tag = hmac::sign(&self.pepper, secret.0.as_bytes());
        let mut out = [0u8; 32];
        out.copy_from_slice(tag.as_ref());
        out
    }

    /// Whether `secret` hashes to `stored`, in constant time.
    pub fn verify_secret(&self, secret: &ClientSecret, stored: &[u8]) -> bool {
        hmac::verify(&self.pepper, secret.0.as_bytes(), stored).is_ok()
    }

    pub(crate) fn audit_mac(&self, message: &[u8]) -> [u8; 32] {
        let tag = hmac::sign(&self.audit, message);
        let mut out = [0u8; 32];
        out.copy_from_slice(tag.as_ref());
        out
    }

    pub(crate) fn verify_audit_mac(&self, message: &[u8], mac: &[u8]) -> bool {
        hmac::verify(&self.audit, message, mac).is_ok()
    }

    /// The MAC binding a consent form to its person and request.
    pub(crate) fn consent_mac(&self, message: &[u8]) -> [u8; 32] {
        let tag = hmac::sign(&self.consent, message);
        let mut out = [0u8; 32];
        out.copy_from_slice(tag.as_ref());
        out
    }

    /// Whether `mac` is the consent MAC of `message`, in constant time.
    pub(crate) fn verify_consent_mac(&self, message: &[u8], mac: &[u8]) -> bool {
        hmac::verify(&self.consent, message, mac).is_ok()
    }

    /// An Ed25519 signature by the audit signing key.
    pub(crate) fn audit_sign(&self, message: &[u8]) -> Vec<u8> {
        self.audit_signing.sign(message).as_ref().to_vec()
    }

    /// The audit signing key's public key (32 bytes).
    pub(crate) fn audit_public_key(&self) -> &[u8] {
        use aws_lc_rs::signature::KeyPair as _;
        self.audit_signing.public_key().as_ref()
    }
}

impl fmt::Debug for ServerKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ServerKey([redacted])")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_prefixed_random_and_verify_only_themselves() {
        let key = ServerKey::random();
        let a = ClientSecret::generate();
        let b = ClientSecret::generate();
        assert!(a.expose().starts_with(SECRET_PREFIX));
        assert_eq!(a.expose().len(), SECRET_PREFIX.len() + 43);
        assert_ne!(a, b);
        let stored = key.hash_secret(&a);
        assert!(key.verify_secret(&a, &stored));
        assert!(!key.verify_secret(&b, &stored));
        assert!(!ServerKey::random().verify_secret(&a, &stored));
        assert_eq!(format!("{a:?}"), "ClientSecret([redacted])");
    }

    #[test]
    fn client_ids_are_prefixed_and_distinct() {
        let a = generate_client_id();
        assert!(a.starts_with(CLIENT_ID_PREFIX));
        assert_eq!(a.len(), CLIENT_ID_PREFIX.len() + 32);
        assert_ne!(a, generate_client_id());
    }

    #[test]
    fn short_master_secrets_are_refused() {
        assert!(ServerKey::from_master(&[0u8; 31]).is_err());
        assert!(ServerKey::from_master(&[0u8; 32]).is_ok());
    }
}
