//! `agents` and `credentials`.

use std::io::{BufRead, IsTerminal, Write};

use futures_util::TryStreamExt;
use sentryagent_client::{
    Agent, AgentFilter, AgentId, AgentStatus, AgentUpdate, Client, Credential, CredentialId, NewAgent,
};

use crate::CliError;
use crate::args::{AgentsCommand, CredentialsCommand, Status};
use crate::output::{self, Out, list, maybe_time, time};

pub(crate) async fn agents(client: &Client, command: &AgentsCommand, out: &Out) -> Result<(), CliError> {
    match command {
        AgentsCommand::Register {
            name,
            description,
            capabilities,
            scopes,
            metadata,
            unlisted,
        } => {
            let new = NewAgent {
                name: name.clone(),
                description: description.clone(),
                capabilities: (!capabilities.is_empty()).then(|| capabilities.clone()),
                metadata: metadata.clone(),
                scopes: (!scopes.is_empty()).then(|| scopes.clone()),
                listed: unlisted.then_some(false),
            };
            let registered = client.register_agent(&new).await?;
            if out.json {
                return out.json(&registered);
            }
            show_agent(
                out,
                &registered.agent,
                &[("credential", registered.credential_id.to_string())],
            )?;
            out.secret(&registered.client_id, registered.client_secret.expose())
        }
        AgentsCommand::List { status, query } => {
            let filter = AgentFilter {
                status: status.map(|s| match s {
                    Status::Active => AgentStatus::Active,
                    Status::Suspended => AgentStatus::Suspended,
                    Status::Decommissioned => AgentStatus::Decommissioned,
                }),
                q: query.clone(),
                limit: Some(100),
            };
            let agents: Vec<Agent> = client.agents(filter).try_collect().await?;
            if out.json {
                return out.json(&agents);
            }
            let rows = agents
                .iter()
                .map(|a| {
                    vec![
                        a.agent_id.to_string(),
                        a.name.clone(),
                        a.status.as_str().to_owned(),
                        list(&a.scopes),
                        time(a.created_at),
                    ]
                })
                .collect();
            out.table(&["ID", "NAME", "STATUS", "SCOPES", "CREATED"], rows)
        }
        AgentsCommand::Get { agent_id } => print_agent(out, &client.agent(&AgentId::from(agent_id.as_str())).await?),
        AgentsCommand::Update {
            agent_id,
            description,
            capabilities,
            scopes,
            metadata,
            listed,
        } => {
            let update = AgentUpdate {
                description: description.clone(),
                capabilities: capabilities.clone(),
                metadata: metadata.clone(),
                scopes: scopes.clone(),
                status: None,
                listed: *listed,
            };
            if update_is_empty(&update) {
                return Err(CliError::Usage(
                    "nothing to change: give --description, --capability, --scope, --metadata or --listed".into(),
                ));
            }
            print_agent(out, &client.update_agent(&agent_id.as_str().into(), &update).await?)
        }
        AgentsCommand::Suspend { agent_id } => set_status(client, agent_id, AgentStatus::Suspended, out).await,
        AgentsCommand::Reactivate { agent_id } => set_status(client, agent_id, AgentStatus::Active, out).await,
        AgentsCommand::Decommission { agent_id, yes } => {
            let id = AgentId::from(agent_id.as_str());
            if !yes {
                let agent = client.agent(&id).await?;
                confirm_decommission(&agent)?;
            }
            print_agent(out, &client.decommission_agent(&id).await?)
        }
        AgentsCommand::Keys(command) => super::keys::run(client, command, out).await,
    }
}

fn update_is_empty(u: &AgentUpdate) -> bool {
    u.description.is_none()
        && u.capabilities.is_none()
        && u.metadata.is_none()
        && u.scopes.is_none()
        && u.listed.is_none()
}

async fn set_status(client: &Client, agent_id: &str, status: AgentStatus, out: &Out) -> Result<(), CliError> {
    let update = AgentUpdate {
        status: Some(status),
        ..AgentUpdate::default()
    };
    print_agent(out, &client.update_agent(&agent_id.into(), &update).await?)
}

/// Asks on the terminal; refuses (exit 2) when there is none to ask on.
fn confirm_decommission(agent: &Agent) -> Result<(), CliError> {
    if !std::io::stdin().is_terminal() {
        return Err(CliError::Usage(
            "decommissioning is permanent: confirm with --yes (standard input is not a terminal to ask on)".into(),
        ));
    }
    let mut stderr = std::io::stderr();
    let _ = write!(
        stderr,
        "Decommission {} ({})? Every credential is revoked and every token dies, for good.\nType the agent's name to confirm: ",
        agent.name, agent.agent_id
    );
    let _ = stderr.flush();
    let mut answer = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut answer)
        .map_err(|e| CliError::Io(format!("cannot read the answer: {e}")))?;
    if answer.trim() == agent.name {
        Ok(())
    } else {
        Err(CliError::Usage("not confirmed; nothing changed".into()))
    }
}

fn print_agent(out: &Out, agent: &Agent) -> Result<(), CliError> {
    if out.json {
        out.json(agent)
    } else {
        show_agent(out, agent, &[])
    }
}

fn show_agent(out: &Out, a: &Agent, extra: &[(&str, String)]) -> Result<(), CliError> {
    let metadata = if a.metadata.is_empty() {
        "-".to_owned()
    } else {
        serde_json::Value::Object(a.metadata.clone()).to_string()
    };
    let mut fields = vec![
        ("id", a.agent_id.to_string()),
        ("name", a.name.clone()),
        ("status", a.status.as_str().to_owned()),
        (
            "description",
            if a.description.is_empty() {
                "-".into()
            } else {
                a.description.clone()
            },
        ),
        ("capabilities", list(&a.capabilities)),
        ("scopes", list(&a.scopes)),
        ("metadata", metadata),
        ("listed", a.listed.to_string()),
        ("did", a.did.clone()),
        ("created", time(a.created_at)),
        ("updated", time(a.updated_at)),
    ];
    fields.extend(extra.iter().cloned());
    out.fields(&fields)
}

pub(crate) async fn credentials(client: &Client, command: &CredentialsCommand, out: &Out) -> Result<(), CliError> {
    match command {
        CredentialsCommand::Create { agent_id, expires_at } => {
            let created = client.create_credential(&agent_id.as_str().into(), *expires_at).await?;
            if out.json {
                return out.json(&created);
            }
            show_credential(out, &created.credential)?;
            out.secret(&created.credential.client_id, created.client_secret.expose())
        }
        CredentialsCommand::List { agent_id } => {
            let credentials = client.list_credentials(&agent_id.as_str().into()).await?;
            if out.json {
                return out.json(&credentials);
            }
            let rows = credentials
                .iter()
                .map(|c| {
                    vec![
                        c.credential_id.to_string(),
                        c.client_id.clone(),
                        status(c),
                        time(c.created_at),
                        maybe_time(c.rotated_at),
                        maybe_time(c.expires_at),
                    ]
                })
                .collect();
            out.table(&["ID", "CLIENT ID", "STATUS", "CREATED", "ROTATED", "EXPIRES"], rows)
        }
        CredentialsCommand::Rotate {
            agent_id,
            credential_id,
        } => {
            let rotated = client
                .rotate_credential(&agent_id.as_str().into(), &CredentialId::from(credential_id.as_str()))
                .await?;
            if out.json {
                return out.json(&rotated);
            }
            show_credential(out, &rotated.credential)?;
            out.secret(&rotated.credential.client_id, rotated.client_secret.expose())
        }
        CredentialsCommand::Revoke {
            agent_id,
            credential_id,
        } => {
            let revoked = client
                .revoke_credential(&agent_id.as_str().into(), &CredentialId::from(credential_id.as_str()))
                .await?;
            if out.json {
                out.json(&revoked)
            } else {
                show_credential(out, &revoked)
            }
        }
    }
}

pub(super) fn status(c: &Credential) -> String {
    serde_json::to_value(c.status)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_default()
}

pub(super) fn show_credential(out: &Out, c: &Credential) -> Result<(), CliError> {
    out.fields(&[
        ("id", c.credential_id.to_string()),
        ("agent", c.agent_id.to_string()),
        ("client id", c.client_id.clone()),
        ("status", status(c)),
        ("created", time(c.created_at)),
        ("rotated", maybe_time(c.rotated_at)),
        ("expires", maybe_time(c.expires_at)),
        ("revoked", output::maybe_time(c.revoked_at)),
    ])
}
