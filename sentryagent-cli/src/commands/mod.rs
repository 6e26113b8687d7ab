//! What each command does.

mod agents;
mod audit;
mod keys;
mod policies;
mod token;

use std::io::{IsTerminal, Read};

use clap::CommandFactory;
use sentryagent_client::{Client, ClientCredentials};

use crate::CliError;
use crate::args::{Cli, Command, Login, ProfileCommand};
use crate::config::{self, Profile, Profiles};
use crate::output::Out;

/// Runs the parsed command line.
pub(crate) async fn run(cli: &Cli, out: &Out) -> Result<(), CliError> {
    match &cli.command {
        Command::Login(login) => self::login(cli, login, out).await,
        Command::Profile(command) => profile(cli, command, out),
        Command::Agents(command) => agents::agents(&client(cli, true)?, command, out).await,
        Command::Credentials(command) => agents::credentials(&client(cli, true)?, command, out).await,
        Command::Token(command) => token::run(cli, command, out).await,
        Command::Audit(command) => audit::run(&client(cli, true)?, command, out).await,
        Command::Policies(command) => policies::policies(&client(cli, true)?, command, out).await,
        Command::Marketplace(command) => policies::marketplace(&client(cli, false)?, command, out).await,
        Command::Completions { shell } => {
            let mut script = Vec::new();
            clap_complete::generate(*shell, &mut Cli::command(), "sentryagent", &mut script);
            out.print(&String::from_utf8_lossy(&script))
        }
    }
}

/// A client for the profile, flags and environment.
pub(crate) fn client(cli: &Cli, need_credentials: bool) -> Result<Client, CliError> {
    let settings = config::resolve(cli.profile.as_deref(), cli.url.as_deref(), need_credentials)?;
    let mut builder = Client::builder(&settings.url);
    if let Some((id, secret)) = settings.credentials {
        builder = builder.client_credentials(ClientCredentials::new(id, secret));
    }
    Ok(builder.build()?)
}

/// A secret from an environment variable, standard input, or a prompt that
/// does not echo; never from a flag (flags show in `ps` and shell history).
pub(crate) fn read_secret(env_name: &str, from_stdin: bool, what: &str) -> Result<String, CliError> {
    if from_stdin {
        let mut secret = String::new();
        std::io::stdin()
            .read_to_string(&mut secret)
            .map_err(|e| CliError::Io(format!("cannot read {what} from standard input: {e}")))?;
        return non_empty(secret.trim().to_owned(), what);
    }
    if let Some(secret) = std::env::var(env_name).ok().filter(|s| !s.is_empty()) {
        return Ok(secret);
    }
    if std::io::stdin().is_terminal() {
        let secret = rpassword::prompt_password(format!("{what}: "))
            .map_err(|e| CliError::Io(format!("cannot read {what}: {e}")))?;
        return non_empty(secret.trim().to_owned(), what);
    }
    Err(CliError::Usage(format!(
        "no {what}: set {env_name}, or pass it on standard input with --client-secret-stdin"
    )))
}

fn non_empty(secret: String, what: &str) -> Result<String, CliError> {
    if secret.is_empty() {
        Err(CliError::Usage(format!("the {what} is empty")))
    } else {
        Ok(secret)
    }
}

/// A token argument, or standard input for `-`.
pub(crate) fn token_arg(token: &str) -> Result<String, CliError> {
    if token != "-" {
        return Ok(token.trim().to_owned());
    }
    let mut text = String::new();
    std::io::stdin()
        .read_to_string(&mut text)
        .map_err(|e| CliError::Io(format!("cannot read the token from standard input: {e}")))?;
    Ok(text.trim().to_owned())
}

async fn login(cli: &Cli, login: &Login, out: &Out) -> Result<(), CliError> {
    let path = config::path()?;
    let mut profiles = Profiles::load(&path)?;
    let name = profiles.current(cli.profile.as_deref());
    let existing = profiles.profiles.get(&name);
    let url = cli
        .url
        .clone()
        .or_else(|| existing.map(|p| p.url.clone()))
        .ok_or_else(|| CliError::Usage("give the API's URL with --url, e.g. http://127.0.0.1:3000/api/v1".into()))?;
    let client_id = login
        .client_id
        .clone()
        .or_else(|| existing.map(|p| p.client_id.clone()))
        .ok_or_else(|| CliError::Usage("give the client id with --client-id (or SENTRYAGENT_CLIENT_ID)".into()))?;
    let secret = read_secret("SENTRYAGENT_CLIENT_SECRET", login.client_secret_stdin, "client secret")?;

    // Only credentials that work are stored.
    let client = Client::builder(&url).build()?;
    let token = client
        .issue_token(&ClientCredentials::new(&client_id, secret.as_str()))
        .await?;
    profiles.profiles.insert(
        name.clone(),
        Profile {
            url: client.base_url().to_owned(),
            client_id: client_id.clone(),
            client_secret: secret,
        },
    );
    if profiles.default_profile.is_none() {
        profiles.default_profile = Some(name.clone());
    }
    profiles.save(&path)?;
    if out.json {
        out.json(&serde_json::json!({
            "profile": name,
            "url": client.base_url(),
            "clientId": client_id,
            "scope": token.scope,
            "file": path,
        }))
    } else {
        out.print(&format!(
            "Logged in to {} as {client_id} (scope: {}).\nSaved as profile `{name}` in {}.\n",
            client.base_url(),
            token.scope,
            path.display()
        ))
    }
}

fn profile(cli: &Cli, command: &ProfileCommand, out: &Out) -> Result<(), CliError> {
    let path = config::path()?;
    let mut profiles = Profiles::load(&path)?;
    let current = profiles.current(cli.profile.as_deref());
    let view = |name: &str, p: &Profile, is_default: bool| serde_json::json!({"name": name, "url": p.url, "clientId": p.client_id, "default": is_default});
    match command {
        ProfileCommand::List => {
            let default = profiles.current(None);
            if out.json {
                let items: Vec<_> = profiles
                    .profiles
                    .iter()
                    .map(|(n, p)| view(n, p, *n == default))
                    .collect();
                return out.json(&items);
            }
            let rows = profiles
                .profiles
                .iter()
                .map(|(n, p)| {
                    let mark = if *n == default { "*" } else { "" };
                    vec![mark.to_owned(), n.clone(), p.url.clone(), p.client_id.clone()]
                })
                .collect();
            out.table(&["", "NAME", "URL", "CLIENT ID"], rows)
        }
        ProfileCommand::Show { name } => {
            let name = name.clone().unwrap_or(current);
            let p = profiles.profiles.get(&name).ok_or_else(|| missing(&name, &path))?;
            if out.json {
                return out.json(&view(&name, p, profiles.current(None) == name));
            }
            out.fields(&[
                ("profile", name.clone()),
                ("url", p.url.clone()),
                ("client id", p.client_id.clone()),
                ("client secret", "(stored, not shown)".into()),
                ("file", path.display().to_string()),
            ])
        }
        ProfileCommand::Use { name } => {
            if !profiles.profiles.contains_key(name) {
                return Err(missing(name, &path));
            }
            profiles.default_profile = Some(name.clone());
            profiles.save(&path)?;
            done(out, &format!("Profile `{name}` is now the default."), "default", name)
        }
        ProfileCommand::Remove { name } => {
            if profiles.profiles.remove(name).is_none() {
                return Err(missing(name, &path));
            }
            if profiles.default_profile.as_deref() == Some(name.as_str()) {
                profiles.default_profile = None;
            }
            profiles.save(&path)?;
            done(out, &format!("Profile `{name}` removed."), "removed", name)
        }
    }
}

fn missing(name: &str, path: &std::path::Path) -> CliError {
    CliError::Usage(format!("no profile `{name}` in {}", path.display()))
}

fn done(out: &Out, text: &str, key: &str, value: &str) -> Result<(), CliError> {
    if out.json {
        out.json(&serde_json::json!({ key: value }))
    } else {
        out.print(&format!("{text}\n"))
    }
}
