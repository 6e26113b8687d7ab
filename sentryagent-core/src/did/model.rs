//! The did model: records, requests, answers and their validation.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Map, Value, json};
use time::OffsetDateTime;

use crate::agent::AgentStatus;
use crate::error::{Error, FieldError};
use crate::{AgentId, TenantId};

/// The `did:web` DID of an agent under `base_url`:
/// `did:web:<host>[%3A<port>]:agents:<agentId>` (the did:web method
/// percent-encodes the port's colon; path segments become `:`-separated).
///
/// ```
/// # use sentryagent_core::{did::agent_did, AgentId};
/// let id: AgentId = "0190f5d2-0000-7000-8000-000000000000".parse().unwrap();
/// assert_eq!(
///     agent_did("http://127.0.0.1:3000", id),
///     "did:web:127.0.0.1%3A3000:agents:0190f5d2-0000-7000-8000-000000000000"
/// );
/// ```
pub fn agent_did(base_url: &str, agent: AgentId) -> String {
    let rest = base_url.split_once("://").map_or(base_url, |(_, rest)| rest);
    let (authority, path) = rest.split_once('/').unwrap_or((rest, ""));
    let mut did = format!("did:web:{}", authority.replace(':', "%3A"));
    for segment in path.split('/').filter(|s| !s.is_empty()) {
        did.push(':');
        did.push_str(segment);
    }
    did.push_str(":agents:");
    did.push_str(&agent.to_string());
    did
}

/// The HTTPS URL a `did:web` DID resolves to (did:web method, "Read"):
/// `:` separates path segments, `%3A` is a port's colon, and a DID without
/// a path resolves under `/.well-known`. `None` for anything else.
///
/// ```
/// # use sentryagent_core::did::did_web_url;
/// assert_eq!(
///     did_web_url("did:web:127.0.0.1%3A3000:agents:abc").as_deref(),
///     Some("https://127.0.0.1:3000/agents/abc/did.json")
/// );
/// assert_eq!(did_web_url("did:web:example.com").as_deref(), Some("https://example.com/.well-known/did.json"));
/// assert_eq!(did_web_url("did:key:z6Mk"), None);
/// ```
pub fn did_web_url(did: &str) -> Option<String> {
    let rest = did.strip_prefix("did:web:")?;
    let mut segments = rest.split(':');
    let host = segments.next().filter(|h| !h.is_empty())?.replace("%3A", ":");
    let path: Vec<&str> = segments.collect();
    if path.iter().any(|s| s.is_empty() || s.contains('/')) || host.contains('/') {
        return None;
    }
    Some(if path.is_empty() {
        format!("https://{host}/.well-known/did.json")
    } else {
        format!("https://{host}/{}/did.json", path.join("/"))
    })
}

/// The JSON-LD context of DID Core 1.0.
pub const DID_CONTEXT: &str = "https://www.w3.org/ns/did/v1";
/// The JSON-LD context defining `JsonWebKey2020`.
pub const JWS_2020_CONTEXT: &str = "https://w3id.org/security/suites/jws-2020/v1";
/// The media type of the documents (JSON-LD representation, DID Core §6.3).
pub const DID_MEDIA_TYPE: &str = "application/did+ld+json";
/// The most keys one agent may have.
pub const MAX_AGENT_KEYS: usize = 10;

/// A public key registered for an agent: one verification method of its DID.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AgentKey {
    /// The key's RFC 7638 JWK thumbprint (SHA-256, base64url): its `kid`
    /// and the fragment of its verification method id.
    pub id: String,
    /// The owning tenant.
    pub tenant_id: TenantId,
    /// The agent.
    pub agent_id: AgentId,
    /// The public JWK: the key type's public members, `alg` and `use` if
    /// given, and `kid` set to [`id`](Self::id).
    pub jwk: Map<String, Value>,
    /// When it was registered.
    pub created_at: OffsetDateTime,
}

/// What an agent's DID document is made of: its status and its keys.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DidSubject {
    /// The agent.
    pub agent_id: AgentId,
    /// Its tenant.
    pub tenant_id: crate::TenantId,
    /// Its lifecycle state.
    pub status: AgentStatus,
    /// Its registered keys, oldest first.
    pub keys: Vec<AgentKey>,
}

/// The DID document of `subject` under `issuer` (see the module docs).
pub fn did_document(issuer: &str, subject: &DidSubject) -> Value {
    let did = agent_did(issuer, subject.agent_id);
    let mut doc = Map::new();
    doc.insert("@context".into(), json!([DID_CONTEXT, JWS_2020_CONTEXT]));
    doc.insert("id".into(), json!(did));
    doc.insert("controller".into(), json!(did));
    match subject.status {
        AgentStatus::Decommissioned => {
            doc.insert("deactivated".into(), json!(true));
        }
        status => {
            if status == AgentStatus::Active && !subject.keys.is_empty() {
                let methods: Vec<Value> = subject
                    .keys
                    .iter()
                    .map(|k| {
                        json!({
                            "id": format!("{did}#{}", k.id),
                            "type": "JsonWebKey2020",
                            "controller": did,
                            "publicKeyJwk": k.jwk,
                        })
                    })
                    .collect();
                let refs: Vec<Value> = subject.keys.iter().map(|k| json!(format!("{did}#{}", k.id))).collect();
                doc.insert("verificationMethod".into(), Value::Array(methods));
                doc.insert("authentication".into(), Value::Array(refs.clone()));
                doc.insert("assertionMethod".into(), Value::Array(refs));
            }
            doc.insert(
                "service".into(),
                json!([{
                    "id": format!("{did}#idp"),
                    "type": "OAuth2AuthorizationServer",
                    "serviceEndpoint": issuer,
                }]),
            );
        }
    }
    Value::Object(doc)
}

/// A public JWK that passed [`validate_public_jwk`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PublicJwk {
    /// Its RFC 7638 thumbprint.
    pub thumbprint: String,
    /// Its members as stored and published (`kid` is the thumbprint).
    pub jwk: Map<String, Value>,
}

/// Members that only a private (or symmetric) key has.
const PRIVATE_MEMBERS: [&str; 8] = ["d", "p", "q", "dp", "dq", "qi", "oth", "k"];

fn field(name: &str, message: impl Into<String>) -> FieldError {
    FieldError {
        field: format!("jwk.{name}"),
        message: message.into(),
    }
}

fn member<'a>(map: &'a Map<String, Value>, name: &str) -> Result<&'a str, FieldError> {
    match map.get(name) {
        Some(Value::String(s)) => Ok(s),
        Some(_) => Err(field(name, "must be a string")),
        None => Err(field(name, "is required")),
    }
}

fn bytes(map: &Map<String, Value>, name: &str) -> Result<Vec<u8>, FieldError> {
    URL_SAFE_NO_PAD
        .decode(member(map, name)?)
        .map_err(|_| field(name, "must be base64url without padding"))
}

/// Checks that `jwk` is a well-formed public signing key and returns its
/// published form and thumbprint. Accepted: `EC` on P-256, P-384, P-521 or
/// secp256k1 (the point must be on the curve), `OKP` Ed25519, and `RSA` of
/// 2,048 to 8,192 bits. Refused with a `VALIDATION_ERROR`: any private member
/// (`d`, `p`, `q`, `dp`, `dq`, `qi`, `oth`, `k`), symmetric keys, unknown key
/// types or curves, bad encodings, an `alg` that does not fit the key, and a
/// `use` other than `sig`. Other members are dropped; `kid` is replaced by
/// the thumbprint.
///
/// # Errors
/// [`Error::Validation`] naming each bad member (`jwk.d`, `jwk.x`, ...).
pub fn validate_public_jwk(jwk: &Value) -> Result<PublicJwk, Error> {
    let Value::Object(map) = jwk else {
        return Err(Error::invalid("jwk", "must be a JSON Web Key (a JSON object)"));
    };
    let private: Vec<FieldError> = PRIVATE_MEMBERS
        .iter()
        .filter(|m| map.contains_key(**m))
        .map(|m| field(m, "is a private key member: register the public key only"))
        .collect();
    if !private.is_empty() {
        return Err(Error::Validation(private));
    }
    check_public_jwk(map).map_err(|e| Error::Validation(vec![e]))
}

fn check_public_jwk(map: &Map<String, Value>) -> Result<PublicJwk, FieldError> {
    use aws_lc_rs::signature::{self, ParsedPublicKey};

    let kty = member(map, "kty")?;
    let mut out = Map::new();
    let (thumbprint_input, algs): (String, &[&str]) = match kty {
        "EC" => {
            let crv = member(map, "crv")?;
            let (len, alg, verification): (usize, &'static str, &'static signature::EcdsaVerificationAlgorithm) =
                match crv {
                    "P-256" => (32, "ES256", &signature::ECDSA_P256_SHA256_ASN1),
                    "P-384" => (48, "ES384", &signature::ECDSA_P384_SHA384_ASN1),
                    "P-521" => (66, "ES512", &signature::ECDSA_P521_SHA512_ASN1),
                    "secp256k1" => (32, "ES256K", &signature::ECDSA_P256K1_SHA256_ASN1),
                    _ => return Err(field("crv", "must be P-256, P-384, P-521 or secp256k1")),
                };
            let (x, y) = (bytes(map, "x")?, bytes(map, "y")?);
            if x.len() != len {
                return Err(field("x", format!("must be {len} bytes for {crv}")));
            }
            if y.len() != len {
                return Err(field("y", format!("must be {len} bytes for {crv}")));
            }
            let point: Vec<u8> = [&[4u8][..], &x, &y].concat();
            if ParsedPublicKey::new(verification, &point).is_err() {
                return Err(field("x", format!("x and y are not a point on {crv}")));
            }
            for m in ["crv", "x", "y"] {
                out.insert(m.into(), map[m].clone());
            }
            let s = |m: &str| map[m].as_str().unwrap_or_default().to_owned();
            (
                format!(
                    r#"{{"crv":"{}","kty":"EC","x":"{}","y":"{}"}}"#,
                    s("crv"),
                    s("x"),
                    s("y")
                ),
                match alg {
                    "ES256" => &["ES256"],
                    "ES384" => &["ES384"],
                    "ES512" => &["ES512"],
                    _ => &["ES256K"],
                },
            )
        }
        "OKP" => {
            if member(map, "crv")? != "Ed25519" {
                return Err(field("crv", "must be Ed25519 (a signing key)"));
            }
            let x = bytes(map, "x")?;
            if x.len() != 32 || ParsedPublicKey::new(&signature::ED25519, &x).is_err() {
                return Err(field("x", "must be a 32-byte Ed25519 public key"));
            }
            for m in ["crv", "x"] {
                out.insert(m.into(), map[m].clone());
            }
            let x = map["x"].as_str().unwrap_or_default();
            (
                format!(r#"{{"crv":"Ed25519","kty":"OKP","x":"{x}"}}"#),
                &["EdDSA", "Ed25519"],
            )
        }
        "RSA" => {
            let (n, e) = (bytes(map, "n")?, bytes(map, "e")?);
            let bits = match n.first() {
                Some(&first) if first != 0 => (n.len() - 1) * 8 + (8 - first.leading_zeros() as usize),
                _ => return Err(field("n", "must be a modulus without leading zero bytes")),
            };
            if !(2048..=8192).contains(&bits) {
                return Err(field("n", "must be a modulus of 2,048 to 8,192 bits"));
            }
            let e_ok = matches!(e.first(), Some(&f) if f != 0)
                && e.len() <= 8
                && e.last().is_some_and(|l| l & 1 == 1)
                && e != [1];
            let components = signature::RsaPublicKeyComponents { n: &n, e: &e };
            if !e_ok
                || components
                    .to_parsed_public_key(&signature::RSA_PKCS1_2048_8192_SHA256)
                    .is_err()
            {
                return Err(field(
                    "e",
                    "must be an odd public exponent above 1, without leading zeros",
                ));
            }
            for m in ["n", "e"] {
                out.insert(m.into(), map[m].clone());
            }
            let s = |m: &str| map[m].as_str().unwrap_or_default().to_owned();
            (
                format!(r#"{{"e":"{}","kty":"RSA","n":"{}"}}"#, s("e"), s("n")),
                &["RS256", "RS384", "RS512", "PS256", "PS384", "PS512"],
            )
        }
        "oct" => return Err(field("kty", "symmetric keys are secrets and cannot be published")),
        _ => return Err(field("kty", "must be EC, OKP or RSA")),
    };
    out.insert("kty".into(), json!(kty));
    if let Some(alg) = map.get("alg") {
        match alg.as_str() {
            Some(a) if algs.contains(&a) => {
                out.insert("alg".into(), alg.clone());
            }
            _ => return Err(field("alg", format!("must be one of {} for this key", algs.join(", ")))),
        }
    }
    if let Some(usage) = map.get("use") {
        if usage != "sig" {
            return Err(field("use", "must be sig"));
        }
        out.insert("use".into(), usage.clone());
    }
    let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, thumbprint_input.as_bytes());
    let thumbprint = URL_SAFE_NO_PAD.encode(digest.as_ref());
    out.insert("kid".into(), json!(thumbprint));
    Ok(PublicJwk { thumbprint, jwk: out })
}

pub(crate) fn key_exists() -> Error {
    Error::Conflict {
        code: crate::ErrorCode::AgentKeyExists,
        message: "the agent already has this key".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn b64(bytes: &[u8]) -> String {
        URL_SAFE_NO_PAD.encode(bytes)
    }

    fn p256() -> Value {
        use aws_lc_rs::signature::{ECDSA_P256_SHA256_ASN1_SIGNING, EcdsaKeyPair, KeyPair as _};
        let pair = EcdsaKeyPair::generate(&ECDSA_P256_SHA256_ASN1_SIGNING).expect("key");
        let point = pair.public_key().as_ref();
        json!({"kty": "EC", "crv": "P-256", "x": b64(&point[1..33]), "y": b64(&point[33..65])})
    }

    fn fields(err: Error) -> Vec<String> {
        match err {
            Error::Validation(f) => f.into_iter().map(|f| f.field).collect(),
            other => panic!("not a validation error: {other:?}"),
        }
    }

    #[test]
    fn rfc7638_thumbprint_vector() {
        // RFC 7638 §3.1.
        let jwk = json!({
            "kty": "RSA",
            "n": "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw",
            "e": "AQAB",
            "alg": "RS256",
            "kid": "2011-04-29"
        });
        let public = validate_public_jwk(&jwk).expect("valid");
        assert_eq!(public.thumbprint, "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs");
        assert_eq!(public.jwk["kid"], public.thumbprint.as_str(), "kid is the thumbprint");
        assert_eq!(public.jwk["alg"], "RS256");
    }

    #[test]
    fn public_keys_of_each_type_pass() {
        let ec = validate_public_jwk(&p256()).expect("P-256");
        assert_eq!(ec.jwk.len(), 5, "{:?}", ec.jwk);
        let ed = aws_lc_rs::signature::Ed25519KeyPair::generate().expect("key");
        let okp = json!({"kty": "OKP", "crv": "Ed25519", "x": b64(aws_lc_rs::signature::KeyPair::public_key(&ed).as_ref()), "use": "sig", "x5c": ["dropped"]});
        let okp = validate_public_jwk(&okp).expect("Ed25519");
        assert!(!okp.jwk.contains_key("x5c"));
        assert_eq!(okp.jwk["use"], "sig");
    }

    #[test]
    fn private_and_malformed_keys_are_refused() {
        let mut private = p256();
        private["d"] = json!("AAAA");
        assert_eq!(fields(validate_public_jwk(&private).expect_err("private")), ["jwk.d"]);
        let cases = [
            (json!("a string"), "jwk"),
            (json!({"kty": "oct", "k": "AAAA"}), "jwk.k"),
            (json!({"crv": "P-256"}), "jwk.kty"),
            (json!({"kty": "EC", "crv": "P-999", "x": "AA", "y": "AA"}), "jwk.crv"),
            (
                json!({"kty": "EC", "crv": "P-256", "x": "not base64!", "y": "AA"}),
                "jwk.x",
            ),
            (
                json!({"kty": "EC", "crv": "P-256", "x": b64(&[1; 32]), "y": b64(&[2; 32])}),
                "jwk.x",
            ),
            (json!({"kty": "OKP", "crv": "X25519", "x": b64(&[1; 32])}), "jwk.crv"),
            (json!({"kty": "RSA", "n": b64(&[0xff; 128]), "e": "AQAB"}), "jwk.n"),
            (json!({"kty": "XYZ"}), "jwk.kty"),
        ];
        for (jwk, bad) in cases {
            assert_eq!(fields(validate_public_jwk(&jwk).expect_err("invalid")), [bad], "{jwk}");
        }
        let mut wrong_alg = p256();
        wrong_alg["alg"] = json!("RS256");
        assert_eq!(fields(validate_public_jwk(&wrong_alg).expect_err("alg")), ["jwk.alg"]);
        let mut enc = p256();
        enc["use"] = json!("enc");
        assert_eq!(fields(validate_public_jwk(&enc).expect_err("use")), ["jwk.use"]);
    }

    #[test]
    fn documents_by_status() {
        let agent = AgentId::new();
        let key = AgentKey {
            id: "kid1".into(),
            tenant_id: TenantId::new(),
            agent_id: agent,
            jwk: validate_public_jwk(&p256()).expect("key").jwk,
            created_at: crate::time::now(),
        };
        let subject = |status| DidSubject {
            agent_id: agent,
            tenant_id: TenantId::new(),
            status,
            keys: vec![key.clone()],
        };
        let issuer = "https://idp.example.com";
        let did = agent_did(issuer, agent);
        let active = did_document(issuer, &subject(AgentStatus::Active));
        assert_eq!(active["id"], did.as_str());
        assert_eq!(active["verificationMethod"][0]["id"], format!("{did}#kid1"));
        assert_eq!(active["authentication"], json!([format!("{did}#kid1")]));
        assert_eq!(active["service"][0]["serviceEndpoint"], issuer);
        assert!(active.get("deactivated").is_none());
        let suspended = did_document(issuer, &subject(AgentStatus::Suspended));
        assert!(suspended.get("verificationMethod").is_none());
        assert!(suspended["service"].is_array());
        let gone = did_document(issuer, &subject(AgentStatus::Decommissioned));
        assert_eq!(gone["deactivated"], true);
        assert_eq!(gone["id"], did.as_str());
        assert!(gone.get("verificationMethod").is_none() && gone.get("service").is_none());
    }

    #[test]
    fn did_web_urls_round_trip_agent_dids() {
        let agent = AgentId::new();
        assert_eq!(
            did_web_url(&agent_did("https://idp.example.com/tenant-a/", agent)),
            Some(format!("https://idp.example.com/tenant-a/agents/{agent}/did.json"))
        );
        assert_eq!(did_web_url("did:web:"), None);
        assert_eq!(did_web_url("did:web:a.example::x"), None);
    }
}
