//! `token`: issue, introspect, revoke, decode.

use sentryagent_client::{ClientCredentials, decode_unverified};

use super::{client, read_secret, token_arg};
use crate::CliError;
use crate::args::{Cli, TokenCommand};
use crate::config;
use crate::output::{Out, or_dash, unix_time};

pub(crate) async fn run(cli: &Cli, command: &TokenCommand, out: &Out) -> Result<(), CliError> {
    match command {
        TokenCommand::Issue {
            client_id,
            client_secret_stdin,
            scope,
            audience,
        } => {
            let (client, mut credentials) = match client_id {
                Some(id) => {
                    let secret = read_secret("SENTRYAGENT_TOKEN_CLIENT_SECRET", *client_secret_stdin, "client secret")?;
                    (client(cli, false)?, ClientCredentials::new(id, secret))
                }
                None => {
                    let settings = config::resolve(cli.profile.as_deref(), cli.url.as_deref(), true)?;
                    let (id, secret) = settings
                        .credentials
                        .ok_or_else(|| CliError::Usage("no client credentials".into()))?;
                    (client(cli, false)?, ClientCredentials::new(id, secret))
                }
            };
            credentials.scope = scope.clone();
            credentials.audience = audience.clone();
            let token = client.issue_token(&credentials).await?;
            if out.json {
                return out.json(&token);
            }
            // The token alone on stdout, so `TOKEN=$(sentryagent token issue)`
            // works; the rest is for people.
            out.print(&format!("{}\n", token.access_token.expose()))?;
            out.note(&format!(
                "expires in {} s; scope: {}",
                token.expires_in,
                or_dash(Some(&token.scope))
            ))
        }
        TokenCommand::Introspect { token } => {
            let token = token_arg(token)?;
            let answer = client(cli, false)?.introspect(&token).await?;
            if out.json {
                return out.json(&answer);
            }
            let mut fields = vec![("active", answer.active.to_string())];
            if answer.active {
                fields.extend([
                    ("sub", or_dash(answer.sub.as_deref())),
                    ("client_id", or_dash(answer.client_id.as_deref())),
                    ("scope", or_dash(answer.scope.as_deref())),
                    ("aud", or_dash(answer.aud.as_ref().map(|a| a.to_string()).as_deref())),
                    ("iss", or_dash(answer.iss.as_deref())),
                    ("tenant", or_dash(answer.tenant.as_deref())),
                    ("jti", or_dash(answer.jti.as_deref())),
                    ("iat", answer.iat.map_or_else(|| "-".into(), unix_time)),
                    ("exp", answer.exp.map_or_else(|| "-".into(), unix_time)),
                ]);
            }
            out.fields(&fields)
        }
        TokenCommand::Revoke { token } => {
            let token = token_arg(token)?;
            client(cli, false)?.revoke(&token).await?;
            if out.json {
                out.json(&serde_json::json!({ "revoked": true }))
            } else {
                out.print("Revoked: the token fails from now on.\n")
            }
        }
        TokenCommand::Decode { token } => {
            let decoded = decode_unverified(&token_arg(token)?)?;
            if out.json {
                return out.json(&decoded);
            }
            out.print("header (not verified)\n")?;
            out.fields(&claims(&decoded.header))?;
            out.print("\nclaims (not verified)\n")?;
            out.fields(&claims(&decoded.claims))
        }
    }
}

/// A JSON object's members as lines; times (`exp`, `iat`, `nbf`) also for
/// people.
fn claims(value: &serde_json::Value) -> Vec<(&str, String)> {
    let Some(object) = value.as_object() else {
        return Vec::new();
    };
    object
        .iter()
        .map(|(k, v)| {
            let text = match (k.as_str(), v) {
                ("exp" | "iat" | "nbf", serde_json::Value::Number(n)) => match n.as_i64() {
                    Some(secs) => format!("{secs} ({})", unix_time(secs)),
                    None => n.to_string(),
                },
                (_, serde_json::Value::String(s)) => s.clone(),
                (_, other) => other.to_string(),
            };
            (k.as_str(), text)
        })
        .collect()
}
