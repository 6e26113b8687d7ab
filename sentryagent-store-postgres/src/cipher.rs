//! Encryption of signing keys at rest: AES-256-GCM with a random nonce,
//! the key id as associated data (a ciphertext cannot be moved to another kid).

use aws_lc_rs::aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use aws_lc_rs::digest;
use aws_lc_rs::rand::{SecureRandom, SystemRandom};

use crate::error::corrupt;

pub(crate) struct KeyCipher {
    key: LessSafeKey,
    rng: SystemRandom,
}

impl KeyCipher {
    /// Derives the AES key from a secret of any length (at least 32 bytes).
    pub(crate) fn new(secret: &[u8]) -> Self {
        let mut ctx = digest::Context::new(&digest::SHA256);
        ctx.update(b"sentryagent/key-encryption/v1");
        ctx.update(secret);
        let material = ctx.finish();
        // A 32-byte key is always a valid AES-256 key.
        let unbound = UnboundKey::new(&AES_256_GCM, material.as_ref()).expect("32-byte AES-256 key");
        Self {
            key: LessSafeKey::new(unbound),
            rng: SystemRandom::new(),
        }
    }

    pub(crate) fn seal(&self, kid: &str, plaintext: &[u8]) -> Result<Vec<u8>, sentryagent_core::StoreError> {
        let mut nonce = [0u8; NONCE_LEN];
        self.rng
            .fill(&mut nonce)
            .map_err(|_| corrupt("no randomness for a nonce"))?;
        let mut buf = plaintext.to_vec();
        self.key
            .seal_in_place_append_tag(Nonce::assume_unique_for_key(nonce), Aad::from(kid.as_bytes()), &mut buf)
            .map_err(|_| corrupt("signing key encryption failed"))?;
        let mut out = nonce.to_vec();
        out.extend_from_slice(&buf);
        Ok(out)
    }

    pub(crate) fn open(&self, kid: &str, sealed: &[u8]) -> Result<Vec<u8>, sentryagent_core::StoreError> {
        let wrong_key = || {
            corrupt("a signing key cannot be decrypted: the key-encryption secret is not the one it was stored with")
        };
        if sealed.len() < NONCE_LEN {
            return Err(wrong_key());
        }
        let (nonce, ciphertext) = sealed.split_at(NONCE_LEN);
        let nonce = Nonce::try_assume_unique_for_key(nonce).map_err(|_| wrong_key())?;
        let mut buf = ciphertext.to_vec();
        let plain = self
            .key
            .open_in_place(nonce, Aad::from(kid.as_bytes()), &mut buf)
            .map_err(|_| wrong_key())?;
        Ok(plain.to_vec())
    }
}

#[cfg(test)]
mod tests {
    use super::KeyCipher;

    #[test]
    fn round_trip_and_wrong_key_or_kid() {
        let c = KeyCipher::new(&[1u8; 32]);
        let sealed = c.seal("kid-1", b"private").expect("seal");
        assert_ne!(&sealed[12..], b"private");
        assert_eq!(c.open("kid-1", &sealed).expect("open"), b"private");
        assert!(c.open("kid-2", &sealed).is_err());
        assert!(KeyCipher::new(&[2u8; 32]).open("kid-1", &sealed).is_err());
    }
}
