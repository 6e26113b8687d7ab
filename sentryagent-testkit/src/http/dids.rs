//! Agents' DIDs: `did:web` documents that resolve at the issuer's root,
//! validated against a JSON Schema of the DID Core properties we emit
//! (`did_document.schema.json`), and the public keys they publish.

use serde_json::{Value, json};

use crate::{Answer, StartFn, TestApp, string};

/// RFC 7517 A.1's P-256 public key, and its private part (A.2).
const EC_X: &str = "MKBCTNIcKUSDii11ySs3526iDZ8AiTo7Tu6KPAqv7D4";
const EC_Y: &str = "4Etl6SRW2YiLUrN5vfvVHuhp7x8PxltmWWlbbM4IFyM";
const EC_D: &str = "870MB6gfuTJ4HtUnUvYMyJpr5eUZNP4Bk43bVdj3eAE";
/// RFC 8037 A.2's Ed25519 public key and its RFC 7638 thumbprint (A.3).
const ED_X: &str = "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo";
const ED_THUMBPRINT: &str = "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k";

/// Why a document does not match the schema, if it does not.
pub fn schema_violations(doc: &Value) -> Option<String> {
    let mut schemas = boon::Schemas::new();
    let mut compiler = boon::Compiler::new();
    compiler.enable_format_assertions();
    let schema: Value = serde_json::from_str(include_str!("did_document.schema.json")).expect("the schema is JSON");
    let url = "urn:sentryagent:test:did-document";
    compiler.add_resource(url, schema).expect("the schema loads");
    let index = compiler.compile(url, &mut schemas).expect("the schema compiles");
    schemas.validate(doc, index).err().map(|e| format!("{e:#}"))
}

/// Asserts that `doc` matches the schema and that its references hold
/// together: relationships name verification methods of the document, ids
/// are unique, every DID in it is the document's own.
#[track_caller]
pub fn assert_valid_did_document(doc: &Value) {
    if let Some(why) = schema_violations(doc) {
        panic!("not a valid DID document: {why}\n{doc:#}");
    }
    let did = doc["id"].as_str().unwrap_or_default();
    assert_eq!(doc["controller"], did, "{doc:#}");
    let methods: Vec<&str> = doc["verificationMethod"]
        .as_array()
        .map(|m| m.iter().filter_map(|m| m["id"].as_str()).collect())
        .unwrap_or_default();
    let mut unique = methods.clone();
    unique.sort_unstable();
    unique.dedup();
    assert_eq!(
        unique.len(),
        methods.len(),
        "duplicate verification method ids: {doc:#}"
    );
    for m in &methods {
        assert!(m.starts_with(&format!("{did}#")), "{m} is not under {did}");
    }
    for rel in ["authentication", "assertionMethod"] {
        for r in doc[rel].as_array().into_iter().flatten() {
            let r = r.as_str().unwrap_or_default();
            assert!(
                methods.contains(&r),
                "{rel} names {r}, not a method of the document: {doc:#}"
            );
        }
    }
}

fn did_path(id: &str) -> String {
    format!("/agents/{id}/did.json")
}

async fn public_get(app: &TestApp, path: &str) -> Answer {
    app.send(app.request(reqwest::Method::GET, path, None)).await
}

/// Registering keys: public JWKs only (private members and malformed keys
/// are 400 `VALIDATION_ERROR`), `agents:write` needed, duplicates 409; the
/// key id is the RFC 7638 thumbprint. The DID document, public and served
/// both under the API and at the issuer's root where `did:web` resolves the
/// agent's DID, lists each key as a `JsonWebKey2020` method and matches the
/// schema; removing a key removes it from the document.
pub async fn did_documents_resolve_and_publish_keys(start: impl StartFn) {
    let app = TestApp::start(start).await;
    let t = app.signup("Acme").await;
    let admin = app.admin_token(&t).await;
    let registered = app
        .post("/agents", &admin, &json!({"name": "signer@acme.example"}))
        .await;
    registered.assert_status(201);
    let id = string(&registered.json["agentId"]);
    let did = string(&registered.json["did"]);
    let keys = format!("/agents/{id}/keys");

    let bare = public_get(&app, &did_path(&id)).await;
    bare.assert_status(200);
    assert_eq!(bare.header("content-type"), "application/did+ld+json");
    assert_valid_did_document(&bare.json);
    assert_eq!(bare.json["id"], did.as_str());
    assert!(bare.json.get("verificationMethod").is_none());
    assert_eq!(bare.json["service"][0]["type"], "OAuth2AuthorizationServer");
    assert_eq!(bare.json["service"][0]["serviceEndpoint"], app.base.as_str());

    let ec = app
        .post(
            &keys,
            &admin,
            &json!({"jwk": {"kty": "EC", "crv": "P-256", "x": EC_X, "y": EC_Y, "alg": "ES256", "kid": "mine"}}),
        )
        .await;
    ec.assert_status(201);
    let ec_id = string(&ec.json["keyId"]);
    assert_eq!(ec.json["jwk"]["kid"], ec_id.as_str(), "kid is the thumbprint");
    assert_eq!(ec.json["verificationMethod"], format!("{did}#{ec_id}"));
    let ed = app
        .post(
            &keys,
            &admin,
            &json!({"jwk": {"kty": "OKP", "crv": "Ed25519", "x": ED_X}}),
        )
        .await;
    ed.assert_status(201);
    assert_eq!(ed.json["keyId"], ED_THUMBPRINT, "RFC 8037 A.3");

    let private = app
        .post(
            &keys,
            &admin,
            &json!({"jwk": {"kty": "EC", "crv": "P-256", "x": EC_X, "y": EC_Y, "d": EC_D}}),
        )
        .await;
    private.assert_error(400, "VALIDATION_ERROR");
    assert!(private.json["details"]["jwk.d"].is_string(), "{}", private.text);
    assert!(!private.text.contains(EC_D));
    for (jwk, field) in [
        (json!({"kty": "EC", "crv": "P-256", "x": EC_Y, "y": EC_X}), "jwk.x"),
        (json!({"kty": "EC", "crv": "P-256", "x": EC_X}), "jwk.y"),
        (json!({"kty": "oct", "k": "c2VjcmV0"}), "jwk.k"),
        (json!({"kty": "OKP", "crv": "Ed25519", "x": "short"}), "jwk.x"),
        (json!({"kty": "RSA", "n": "AQAB", "e": "AQAB"}), "jwk.n"),
        (json!(["not", "an", "object"]), "jwk"),
    ] {
        let bad = app.post(&keys, &admin, &json!({ "jwk": jwk })).await;
        bad.assert_error(400, "VALIDATION_ERROR");
        assert!(bad.json["details"][field].is_string(), "{field}: {}", bad.text);
    }
    app.post(&keys, &admin, &json!({}))
        .await
        .assert_error(400, "VALIDATION_ERROR");
    app.post(
        &keys,
        &admin,
        &json!({"jwk": {"kty": "OKP", "crv": "Ed25519", "x": ED_X}, "purpose": "x"}),
    )
    .await
    .assert_error(400, "VALIDATION_ERROR");
    app.post(
        &keys,
        &admin,
        &json!({"jwk": {"kty": "OKP", "crv": "Ed25519", "x": ED_X, "use": "sig"}}),
    )
    .await
    .assert_error(409, "AGENT_KEY_EXISTS");
    let signer = app
        .token(
            &string(&registered.json["clientId"]),
            &string(&registered.json["clientSecret"]),
            None,
        )
        .await;
    app.post(
        &keys,
        &signer,
        &json!({"jwk": {"kty": "OKP", "crv": "Ed25519", "x": ED_X}}),
    )
    .await
    .assert_error(403, "INSUFFICIENT_SCOPE");
    let other = app.signup("Globex").await;
    let other_admin = app.admin_token(&other).await;
    app.post(
        &keys,
        &other_admin,
        &json!({"jwk": {"kty": "OKP", "crv": "Ed25519", "x": ED_X}}),
    )
    .await
    .assert_error(404, "NOT_FOUND");

    let listed = app.get(&keys, &admin).await;
    listed.assert_status(200);
    let listed_ids: Vec<String> = listed.json["items"]
        .as_array()
        .map(|items| items.iter().map(|k| string(&k["keyId"])).collect())
        .unwrap_or_default();
    assert_eq!(listed_ids, [ec_id.clone(), ED_THUMBPRINT.to_owned()]);

    let doc = public_get(&app, &did_path(&id)).await;
    doc.assert_status(200);
    assert_valid_did_document(&doc.json);
    let methods = doc.json["verificationMethod"].as_array().cloned().unwrap_or_default();
    assert_eq!(methods.len(), 2, "{:#}", doc.json);
    assert_eq!(methods[0]["type"], "JsonWebKey2020");
    assert_eq!(methods[0]["publicKeyJwk"]["x"], EC_X);
    assert_eq!(methods[1]["id"], format!("{did}#{ED_THUMBPRINT}"));
    assert_eq!(
        doc.json["authentication"],
        json!([format!("{did}#{ec_id}"), format!("{did}#{ED_THUMBPRINT}")])
    );
    assert_eq!(doc.json["assertionMethod"], doc.json["authentication"]);
    assert!(!doc.text.contains(&t.id), "no tenant id in the document");

    // did:web resolution: the DID names the issuer's root, not the API's prefix.
    let url = sentryagent_core::did::did_web_url(&did).expect("a did:web DID");
    let authority = app.base.trim_start_matches("http://");
    assert_eq!(url, format!("https://{authority}/agents/{id}/did.json"));
    let resolved = public_get(&app, &format!("/{}", did_path(&id))).await;
    resolved.assert_status(200);
    assert_eq!(resolved.json, doc.json, "the same document at the root");

    let removed = app.delete(&format!("{keys}/{ec_id}"), &admin).await;
    removed.assert_status(200);
    assert_eq!(removed.json["keyId"], ec_id.as_str());
    app.delete(&format!("{keys}/{ec_id}"), &admin)
        .await
        .assert_error(404, "NOT_FOUND");
    let after = public_get(&app, &did_path(&id)).await;
    assert_valid_did_document(&after.json);
    assert_eq!(after.json["authentication"], json!([format!("{did}#{ED_THUMBPRINT}")]));
}

/// A suspended agent's document withholds its keys until reactivation; a
/// decommissioned agent's document stays, says `deactivated: true` and has
/// no keys or services; unknown agents are 404.
pub async fn deactivated_documents_say_so(start: impl StartFn) {
    let app = TestApp::start(start).await;
    let t = app.signup("Acme").await;
    let admin = app.admin_token(&t).await;
    let bot = app.register(&admin, "bot@acme.example", json!({})).await;
    let keys = format!("/agents/{}/keys", bot.id);
    app.post(
        &keys,
        &admin,
        &json!({"jwk": {"kty": "OKP", "crv": "Ed25519", "x": ED_X}}),
    )
    .await
    .assert_status(201);
    let path = format!("/agents/{}", bot.id);

    app.patch(&path, &admin, &json!({"status": "suspended"}))
        .await
        .assert_status(200);
    let suspended = public_get(&app, &did_path(&bot.id)).await;
    suspended.assert_status(200);
    assert_valid_did_document(&suspended.json);
    assert!(
        suspended.json.get("verificationMethod").is_none(),
        "{:#}",
        suspended.json
    );
    assert!(suspended.json.get("deactivated").is_none());
    app.patch(&path, &admin, &json!({"status": "active"}))
        .await
        .assert_status(200);
    let active = public_get(&app, &did_path(&bot.id)).await;
    assert_eq!(active.json["verificationMethod"][0]["publicKeyJwk"]["x"], ED_X);

    app.delete(&path, &admin).await.assert_status(200);
    let gone = public_get(&app, &did_path(&bot.id)).await;
    gone.assert_status(200);
    assert_valid_did_document(&gone.json);
    assert_eq!(gone.json["deactivated"], true);
    assert!(gone.json.get("verificationMethod").is_none() && gone.json.get("service").is_none());
    app.post(
        &keys,
        &admin,
        &json!({"jwk": {"kty": "EC", "crv": "P-256", "x": EC_X, "y": EC_Y}}),
    )
    .await
    .assert_error(409, "AGENT_DECOMMISSIONED");

    public_get(&app, &did_path(&sentryagent_core::AgentId::new().to_string()))
        .await
        .assert_error(404, "NOT_FOUND");
    public_get(&app, &did_path("nope"))
        .await
        .assert_error(400, "VALIDATION_ERROR");
}

#[cfg(test)]
mod tests {
    use super::*;

    fn doc() -> Value {
        let did = "did:web:idp.example.com:agents:0190f5d2-0000-7000-8000-000000000000";
        json!({
            "@context": ["https://www.w3.org/ns/did/v1", "https://w3id.org/security/suites/jws-2020/v1"],
            "id": did,
            "controller": did,
            "verificationMethod": [{
                "id": format!("{did}#{ED_THUMBPRINT}"),
                "type": "JsonWebKey2020",
                "controller": did,
                "publicKeyJwk": {"kty": "OKP", "crv": "Ed25519", "x": ED_X, "kid": ED_THUMBPRINT}
            }],
            "authentication": [format!("{did}#{ED_THUMBPRINT}")],
            "service": [{"id": format!("{did}#idp"), "type": "OAuth2AuthorizationServer", "serviceEndpoint": "https://idp.example.com"}]
        })
    }

    /// The schema is not vacuous: it accepts a good document and refuses
    /// each kind of bad one.
    #[test]
    fn the_schema_refuses_what_a_did_document_must_not_be() {
        assert_eq!(schema_violations(&doc()), None);
        type Breakage = fn(&mut Value);
        let breakages: [(&str, Breakage); 8] = [
            ("private key", |d| {
                d["verificationMethod"][0]["publicKeyJwk"]["d"] = json!(EC_D)
            }),
            ("other DID method", |d| d["id"] = json!("did:key:z6Mk")),
            ("no context", |d| d["@context"] = json!([])),
            ("method type", |d| {
                d["verificationMethod"][0]["type"] = json!("Ed25519VerificationKey2018")
            }),
            ("service without endpoint", |d| {
                if let Some(s) = d["service"][0].as_object_mut() {
                    s.remove("serviceEndpoint");
                }
            }),
            ("deactivated with keys", |d| d["deactivated"] = json!(true)),
            ("unknown property", |d| d["secret"] = json!("x")),
            ("relationship not a DID URL", |d| d["authentication"] = json!(["#key"])),
        ];
        for (name, breakage) in breakages {
            let mut d = doc();
            breakage(&mut d);
            assert!(schema_violations(&d).is_some(), "{name} passed the schema");
        }
    }
}
