//! Signed, exportable checkpoints of a tenant's audit chain.
//!
//! The checkpoint in the store proves that nothing was cut from the end of
//! the chain, but only as long as the store itself is not rolled back: a
//! database restored from an old backup, or wiped, carries a consistent
//! older checkpoint (or none). A signed checkpoint, kept outside the
//! database by whoever exports it, closes that gap: `GET /audit/checkpoint`
//! answers a compact JWS (`typ: audit-checkpoint+jwt`) over the tenant, the
//! head's `seq` and hash and the time, and `GET /audit/verify?checkpoint=`
//! proves the chain still holds it.
//!
//! The JWS is signed with Ed25519 by the audit signing key, derived from
//! the server's master secret: the same on every instance and every start,
//! never rotated with the token-signing keys (which retire an hour after a
//! rotation), so old checkpoints keep verifying. It is published in its own
//! key document (`GET /audit/keys`), not in the token JWKS, so that nothing
//! that accepts access tokens could take a checkpoint for one.

use aws_lc_rs::digest;
use aws_lc_rs::signature::{ED25519, UnparsedPublicKey};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use super::ChainMark;
use crate::TenantId;
use crate::error::Error;
use crate::secret::ServerKey;

/// The JOSE `typ` of a signed audit checkpoint.
pub const CHECKPOINT_TYP: &str = "audit-checkpoint+jwt";

/// The claims of a signed checkpoint.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CheckpointClaims {
    /// The issuer that signed it.
    pub iss: String,
    /// When it was signed (seconds since the epoch).
    pub iat: i64,
    /// The tenant whose chain it is.
    pub tenant_id: TenantId,
    /// The `seq` of the chain's last event then (0: an empty chain).
    pub seq: u64,
    /// That event's hash, base64url (43 characters).
    pub head_hash: String,
}

/// The answer of `GET /audit/checkpoint`: the JWS, and what it says.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SignedCheckpoint {
    /// The compact JWS (`typ: audit-checkpoint+jwt`, `alg: EdDSA`); keep it
    /// outside this server and pass it to `GET /audit/verify?checkpoint=`.
    pub checkpoint: String,
    /// The id of the audit key that signed it (in `GET /audit/keys`).
    pub kid: String,
    /// The tenant.
    pub tenant_id: TenantId,
    /// The `seq` of the chain's last event.
    pub seq: u64,
    /// That event's hash, base64url.
    pub head_hash: String,
    /// When it was signed.
    #[serde(with = "crate::time::rfc3339")]
    pub at: OffsetDateTime,
}

/// The RFC 7638 thumbprint of the audit signing key: its `kid`.
pub(crate) fn audit_kid(key: &ServerKey) -> String {
    let x = URL_SAFE_NO_PAD.encode(key.audit_public_key());
    // RFC 7638 §3.2: the required members, in lexical order, no whitespace.
    let canonical = format!(r#"{{"crv":"Ed25519","kty":"OKP","x":"{x}"}}"#);
    URL_SAFE_NO_PAD.encode(digest::digest(&digest::SHA256, canonical.as_bytes()))
}

/// The key document of `GET /audit/keys`: the audit signing key as a JWKS.
pub(crate) fn audit_jwks(key: &ServerKey) -> serde_json::Value {
    serde_json::json!({
        "keys": [{
            "kty": "OKP",
            "crv": "Ed25519",
            "x": URL_SAFE_NO_PAD.encode(key.audit_public_key()),
            "kid": audit_kid(key),
            "alg": "EdDSA",
            "use": "sig",
        }]
    })
}

/// Signs the checkpoint of `head`.
pub(crate) fn sign(
    key: &ServerKey,
    issuer: &str,
    tenant: TenantId,
    head: &ChainMark,
) -> Result<SignedCheckpoint, Error> {
    let at = crate::time::now();
    let kid = audit_kid(key);
    let claims = CheckpointClaims {
        iss: issuer.to_owned(),
        iat: at.unix_timestamp(),
        tenant_id: tenant,
        seq: head.seq,
        head_hash: URL_SAFE_NO_PAD.encode(head.hash),
    };
    let header = serde_json::json!({ "alg": "EdDSA", "typ": CHECKPOINT_TYP, "kid": kid });
    let payload =
        serde_json::to_vec(&claims).map_err(|_| Error::Internal("checkpoint claims do not serialise".into()))?;
    let mut jws = URL_SAFE_NO_PAD.encode(header.to_string());
    jws.push('.');
    URL_SAFE_NO_PAD.encode_string(payload, &mut jws);
    let signature = key.audit_sign(jws.as_bytes());
    jws.push('.');
    URL_SAFE_NO_PAD.encode_string(signature, &mut jws);
    Ok(SignedCheckpoint {
        checkpoint: jws,
        kid,
        tenant_id: tenant,
        seq: claims.seq,
        head_hash: claims.head_hash,
        at,
    })
}

/// A saved checkpoint, checked: signed by this server's audit key, of
/// `tenant`. Returns its `seq` and head hash.
///
/// # Errors
/// A validation error (field `checkpoint`) saying what is wrong with it.
pub(crate) fn verify(key: &ServerKey, tenant: TenantId, jws: &str) -> Result<(u64, [u8; 32]), Error> {
    let bad = |message: &str| Error::invalid("checkpoint", message);
    let mut parts = jws.trim().split('.');
    let (Some(header), Some(payload), Some(signature), None) = (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(bad("is not a compact JWS (three base64url parts)"));
    };
    let decode = |part: &str| URL_SAFE_NO_PAD.decode(part).map_err(|_| bad("is not base64url"));
    #[derive(Deserialize)]
    struct Header {
        alg: String,
        typ: Option<String>,
        kid: Option<String>,
    }
    let header_json: Header =
        serde_json::from_slice(&decode(header)?).map_err(|_| bad("has a header that is not a JOSE header"))?;
    if header_json.typ.as_deref() != Some(CHECKPOINT_TYP) {
        return Err(bad("is not an audit checkpoint (typ must be audit-checkpoint+jwt)"));
    }
    if header_json.alg != "EdDSA" || header_json.kid.as_deref() != Some(audit_kid(key).as_str()) {
        return Err(bad("is not signed by this server's audit key"));
    }
    let signing_input = &jws.trim()[..header.len() + 1 + payload.len()];
    UnparsedPublicKey::new(&ED25519, key.audit_public_key())
        .verify(signing_input.as_bytes(), &decode(signature)?)
        .map_err(|_| bad("does not carry a valid signature of this server's audit key"))?;
    let claims: CheckpointClaims =
        serde_json::from_slice(&decode(payload)?).map_err(|_| bad("does not carry the claims of a checkpoint"))?;
    if claims.tenant_id != tenant {
        return Err(bad("is a checkpoint of another tenant"));
    }
    let hash = URL_SAFE_NO_PAD
        .decode(&claims.head_hash)
        .ok()
        .and_then(|h| <[u8; 32]>::try_from(h).ok())
        .ok_or_else(|| bad("has a head hash that is not 32 bytes of base64url"))?;
    Ok((claims.seq, hash))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn head(seq: u64) -> ChainMark {
        ChainMark {
            seq,
            hash: [seq as u8; 32],
            mac: [0; 32],
            lost_at: None,
        }
    }

    #[test]
    fn a_signed_checkpoint_verifies_only_for_its_tenant_and_key() {
        let key = ServerKey::from_master(&[1; 32]).expect("key");
        let tenant = TenantId::new();
        let signed = sign(&key, "https://idp.example.com", tenant, &head(7)).expect("signed");
        assert_eq!(
            verify(&key, tenant, &signed.checkpoint).expect("verifies"),
            (7, [7; 32])
        );
        assert!(
            verify(&key, TenantId::new(), &signed.checkpoint).is_err(),
            "another tenant"
        );
        let other = ServerKey::from_master(&[2; 32]).expect("key");
        assert!(verify(&other, tenant, &signed.checkpoint).is_err(), "another key");

        // The same secret gives the same key: checkpoints outlive restarts.
        let again = ServerKey::from_master(&[1; 32]).expect("key");
        assert_eq!(audit_kid(&again), signed.kid);
        assert!(verify(&again, tenant, &signed.checkpoint).is_ok());

        // A changed claim breaks the signature.
        let mut parts: Vec<String> = signed.checkpoint.split('.').map(str::to_owned).collect();
        let mut claims: serde_json::Value =
            serde_json::from_slice(&URL_SAFE_NO_PAD.decode(&parts[1]).expect("b64")).expect("json");
        claims["seq"] = 3.into();
        parts[1] = URL_SAFE_NO_PAD.encode(claims.to_string());
        assert!(verify(&key, tenant, &parts.join(".")).is_err());
        assert!(verify(&key, tenant, "not.a.jws").is_err());
    }
}
