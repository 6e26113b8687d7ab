//! Gets an admin token with client credentials and registers an agent.
//!
//! ```text
//! SENTRYAGENT_URL=http://127.0.0.1:3000/api/v1 \
//! SENTRYAGENT_CLIENT_ID=sa_ci_… SENTRYAGENT_CLIENT_SECRET=sa_sk_… \
//!   cargo run -p sentryagent-client --example register_agent
//! ```

use sentryagent_client::{Client, ClientCredentials, NewAgent, RegisteredAgent};

/// Registers `name` with the admin credentials given, and returns the agent
/// with its first credential.
pub(crate) async fn register(
    url: &str,
    client_id: &str,
    client_secret: &str,
    name: &str,
) -> Result<RegisteredAgent, sentryagent_client::Error> {
    let client = Client::builder(url)
        .client_credentials(ClientCredentials::new(client_id, client_secret))
        .build()?;
    // The first management call gets an access token and caches it until
    // shortly before it expires.
    let mut agent = NewAgent::named(name);
    agent.description = Some("Builds and ships".into());
    agent.capabilities = Some(vec!["build".into()]);
    let registered = client.register_agent(&agent).await?;
    // The agent's own credentials get the agent's own token.
    let token = client
        .issue_token(&ClientCredentials::new(
            &registered.client_id,
            registered.client_secret.clone(),
        ))
        .await?;
    println!(
        "registered {} ({}); its token expires in {} s",
        registered.agent.name, registered.agent.agent_id, token.expires_in
    );
    Ok(registered)
}

#[allow(dead_code)] // the live test calls `register` without `main`
#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let env = |name: &str| std::env::var(name).map_err(|_| format!("set {name}"));
    register(
        &env("SENTRYAGENT_URL")?,
        &env("SENTRYAGENT_CLIENT_ID")?,
        &env("SENTRYAGENT_CLIENT_SECRET")?,
        "build-bot@acme.example",
    )
    .await?;
    Ok(())
}
