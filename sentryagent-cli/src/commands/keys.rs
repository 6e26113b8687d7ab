//! `agents keys`: an agent's client-authentication keys (`private_key_jwt`),
//! which the API keeps as credentials carrying a public JWK.

use std::io::Read;
use std::path::Path;

use sentryagent_client::{Client, Credential, CredentialId};
use serde_json::Value;

use super::agents::{show_credential, status};
use crate::CliError;
use crate::args::KeysCommand;
use crate::output::{Out, maybe_time, time};

/// The members of a JWK that hold private or secret key material (RFC 7518 §6).
const PRIVATE_MEMBERS: &[&str] = &["d", "p", "q", "dp", "dq", "qi", "oth", "k"];

/// Most bytes read from a key file: a public JWK is well under this.
const MAX_FILE: u64 = 64 * 1024;

pub(crate) async fn run(client: &Client, command: &KeysCommand, out: &Out) -> Result<(), CliError> {
    match command {
        KeysCommand::Add {
            agent_id,
            jwk_file,
            expires_at,
        } => {
            let jwk = public_jwk(&read_file(jwk_file)?, jwk_file)?;
            let key = client
                .register_client_key(&agent_id.as_str().into(), &jwk, *expires_at)
                .await?;
            print_key(out, &key)
        }
        KeysCommand::List { agent_id } => {
            let keys: Vec<Credential> = client
                .list_credentials(&agent_id.as_str().into())
                .await?
                .into_iter()
                .filter(|c| c.public_key.is_some())
                .collect();
            if out.json {
                return out.json(&keys);
            }
            let rows = keys
                .iter()
                .map(|c| {
                    vec![
                        c.credential_id.to_string(),
                        c.client_id.clone(),
                        describe(c.public_key.as_ref()),
                        status(c),
                        time(c.created_at),
                        maybe_time(c.expires_at),
                    ]
                })
                .collect();
            out.table(&["ID", "CLIENT ID", "KEY", "STATUS", "CREATED", "EXPIRES"], rows)
        }
        KeysCommand::Revoke {
            agent_id,
            credential_id,
        } => {
            let agent = agent_id.as_str().into();
            let id = CredentialId::from(credential_id.as_str());
            let credentials = client.list_credentials(&agent).await?;
            match credentials.iter().find(|c| c.credential_id == id) {
                Some(c) if c.public_key.is_none() => {
                    return Err(CliError::Usage(format!(
                        "credential {credential_id} is a client secret, not a key: revoke it with `sentryagent credentials revoke {agent_id} {credential_id}`"
                    )));
                }
                Some(_) => {}
                None => {
                    return Err(CliError::Usage(format!(
                        "agent {agent_id} has no key {credential_id}; `sentryagent agents keys list {agent_id}` shows its keys"
                    )));
                }
            }
            print_key(out, &client.revoke_credential(&agent, &id).await?)
        }
    }
}

fn print_key(out: &Out, key: &Credential) -> Result<(), CliError> {
    if out.json {
        return out.json(key);
    }
    show_credential(out, key)?;
    out.fields(&[("key", describe(key.public_key.as_ref()))])
}

/// `EC P-256 kid=…`, `OKP Ed25519`, `RSA`.
fn describe(jwk: Option<&Value>) -> String {
    let Some(jwk) = jwk else {
        return "-".into();
    };
    let text = |name: &str| jwk.get(name).and_then(Value::as_str);
    let mut parts: Vec<String> = [text("kty"), text("crv")]
        .into_iter()
        .flatten()
        .map(str::to_owned)
        .collect();
    if let Some(alg) = text("alg") {
        parts.push(alg.to_owned());
    }
    if let Some(kid) = text("kid") {
        parts.push(format!("kid={kid}"));
    }
    parts.join(" ")
}

/// The file's text (`-`: standard input), at most [`MAX_FILE`] bytes.
fn read_file(path: &Path) -> Result<String, CliError> {
    let mut text = String::new();
    let read = if path == Path::new("-") {
        std::io::stdin().lock().take(MAX_FILE + 1).read_to_string(&mut text)
    } else {
        std::fs::File::open(path).and_then(|f| f.take(MAX_FILE + 1).read_to_string(&mut text))
    };
    read.map_err(|e| CliError::Io(format!("cannot read {}: {e}", path.display())))?;
    if text.len() as u64 > MAX_FILE {
        return Err(CliError::Usage(format!(
            "{} is larger than {MAX_FILE} bytes: it is no JWK",
            path.display()
        )));
    }
    Ok(text)
}

/// The public JWK in `text`: a JWK, or a JWK Set of one key; refused when
/// it is not JSON, holds no `kty`, or holds private key material (which
/// never leaves this machine).
fn public_jwk(text: &str, path: &Path) -> Result<Value, CliError> {
    let file = path.display();
    let value: Value = serde_json::from_str(text).map_err(|e| CliError::Usage(format!("{file} is not JSON: {e}")))?;
    let jwk = match value.get("keys") {
        Some(Value::Array(keys)) if keys.len() == 1 => keys[0].clone(),
        Some(_) => {
            return Err(CliError::Usage(format!(
                "{file} is a JWK Set of several keys: give one key per `agents keys add`"
            )));
        }
        None => value,
    };
    let Some(object) = jwk.as_object() else {
        return Err(CliError::Usage(format!("{file} holds no JWK (a JSON object)")));
    };
    if !object.get("kty").is_some_and(Value::is_string) {
        return Err(CliError::Usage(format!("{file} holds no JWK: it has no \"kty\"")));
    }
    if let Some(member) = PRIVATE_MEMBERS.iter().find(|m| object.contains_key(**m)) {
        return Err(CliError::Usage(format!(
            "{file} holds a private or secret key (its \"{member}\"): give its public half only; nothing was sent"
        )));
    }
    Ok(jwk)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn only_one_public_key_is_accepted() {
        let path = Path::new("key.jwk");
        let public = json!({"kty": "EC", "crv": "P-256", "x": "x", "y": "y", "kid": "k1"});
        assert_eq!(public_jwk(&public.to_string(), path).ok(), Some(public.clone()));
        let set = json!({ "keys": [public.clone()] });
        assert_eq!(public_jwk(&set.to_string(), path).ok(), Some(public.clone()));
        let private = json!({"kty": "EC", "crv": "P-256", "x": "x", "y": "y", "d": "secret"});
        let refused = [
            private.to_string(),
            json!({"kty": "oct", "k": "c2VjcmV0"}).to_string(),
            json!({ "keys": [public.clone(), public.clone()] }).to_string(),
            json!({"crv": "P-256"}).to_string(),
            "[1]".into(),
            "not json".into(),
        ];
        for text in refused {
            let Err(CliError::Usage(message)) = public_jwk(&text, path) else {
                panic!("{text} accepted");
            };
            assert!(message.starts_with("key.jwk "), "{message}");
            assert!(!message.contains("secret\""), "{message}");
        }
        assert_eq!(describe(Some(&public)), "EC P-256 kid=k1");
    }
}
