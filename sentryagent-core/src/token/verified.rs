//! A bounded cache of tokens whose signature has been checked.
//!
//! An ES256 verification costs about three times an ES256 signature, and an
//! agent presents the same token on every call for the token's lifetime. The
//! cache remembers, per key set, the claims of tokens that passed the
//! checks which cannot change while the keys stay the same: the signature,
//! the header (`kid`, pinned `alg`, `typ`) and the issuer. Everything that
//! can change is checked on every use, cached or not: expiry and not-before,
//! the audience, revocation and the agent's status.
//!
//! Entries are keyed by the SHA-256 of the whole compact token, so a hit
//! means these exact bytes were verified before; no bearer token is kept in
//! memory. The cache belongs to one [`KeySet`](super::keys::KeySet): a
//! rotation or reload starts an empty one, so a key that leaves the set takes
//! its tokens' entries with it.

use std::collections::HashMap;
use std::sync::{PoisonError, RwLock};

use aws_lc_rs::digest;

use super::TokenClaims;

/// Most tokens remembered per key set (a few MiB at most). When full, expired
/// entries are dropped; if that frees nothing, the cache starts over.
pub(crate) const CAPACITY: usize = 8_192;

/// The SHA-256 of a compact token.
pub(crate) type TokenDigest = [u8; 32];

/// Claims of tokens verified with one key set; see the module docs.
#[derive(Default)]
pub(crate) struct VerifiedTokens {
    entries: RwLock<HashMap<TokenDigest, TokenClaims>>,
}

impl VerifiedTokens {
    /// The digest a token is remembered under.
    pub(crate) fn digest(token: &str) -> TokenDigest {
        let mut out = [0u8; 32];
        out.copy_from_slice(digest::digest(&digest::SHA256, token.as_bytes()).as_ref());
        out
    }

    /// The claims of a token verified before, if it is remembered.
    pub(crate) fn get(&self, digest: &TokenDigest) -> Option<TokenClaims> {
        // A poisoned lock means a panic during an insert or a clear; the map
        // is still a valid map of verified tokens.
        self.entries
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .get(digest)
            .cloned()
    }

    /// Remembers a token whose signature, header and issuer checked out.
    /// `now` (seconds since the epoch) decides which entries are stale when
    /// the cache is full.
    pub(crate) fn insert(&self, digest: TokenDigest, claims: &TokenClaims, now: i64) {
        let mut entries = self.entries.write().unwrap_or_else(PoisonError::into_inner);
        if entries.len() >= CAPACITY && !entries.contains_key(&digest) {
            entries.retain(|_, c| c.exp() >= now);
            if entries.len() >= CAPACITY {
                entries.clear();
            }
        }
        entries.insert(digest, claims.clone());
    }

    /// How many tokens are remembered.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.entries.read().unwrap_or_else(PoisonError::into_inner).len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::token::AccessClaims;
    use crate::{AgentId, TenantId, TokenId};

    fn claims(exp: i64) -> TokenClaims {
        TokenClaims::Agent(AccessClaims {
            iss: "https://idp.example.com".into(),
            sub: AgentId::new(),
            aud: "https://idp.example.com".into(),
            exp,
            iat: exp - 60,
            nbf: exp - 60,
            jti: TokenId::new(),
            client_id: "sa_ci_x".into(),
            scope: "admin".into(),
            tenant: TenantId::new(),
            act: None,
        })
    }

    fn key(i: usize) -> TokenDigest {
        VerifiedTokens::digest(&format!("token-{i}"))
    }

    #[test]
    fn stays_within_its_capacity() {
        let cache = VerifiedTokens::default();
        let now = 1_000_000;
        for i in 0..CAPACITY {
            cache.insert(key(i), &claims(now + 60), now);
        }
        assert_eq!(cache.len(), CAPACITY);
        // Full of live tokens: it starts over.
        cache.insert(key(CAPACITY), &claims(now + 60), now);
        assert_eq!(cache.len(), 1);
        assert!(cache.get(&key(CAPACITY)).is_some());
        assert!(cache.get(&key(0)).is_none());
    }

    #[test]
    fn drops_expired_entries_first() {
        let cache = VerifiedTokens::default();
        let now = 1_000_000;
        for i in 0..CAPACITY {
            let exp = if i % 2 == 0 { now - 1 } else { now + 60 };
            cache.insert(key(i), &claims(exp), now);
        }
        cache.insert(key(CAPACITY), &claims(now + 60), now);
        assert_eq!(cache.len(), CAPACITY / 2 + 1);
        assert!(cache.get(&key(1)).is_some());
        assert!(cache.get(&key(0)).is_none());
    }
}
