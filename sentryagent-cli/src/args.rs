//! The command line, as clap reads it.

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// Manage SentryAgent agents, credentials, tokens, audit logs and trust
/// policies from a terminal.
///
/// Exit codes: 0 success, 1 the server refused (its error code is printed),
/// 2 usage error, 3 cannot reach the server.
#[derive(Debug, Parser)]
#[command(name = "sentryagent", version, propagate_version = true, max_term_width = 100)]
pub(crate) struct Cli {
    /// The profile to use (default: the one `profile use` chose, else `default`).
    #[arg(long, global = true, env = "SENTRYAGENT_PROFILE", value_name = "NAME")]
    pub(crate) profile: Option<String>,
    /// The API's base URL with its prefix, e.g. http://127.0.0.1:3000/api/v1
    /// (overrides the profile's).
    #[arg(long, global = true, env = "SENTRYAGENT_URL", value_name = "URL")]
    pub(crate) url: Option<String>,
    /// `table` for people, `json` for scripts (one JSON document per command,
    /// JSON lines for `audit tail` and `audit export`).
    #[arg(long, short, global = true, value_enum, default_value_t = Format::Table)]
    pub(crate) output: Format,
    #[command(subcommand)]
    pub(crate) command: Command,
}

/// How answers are printed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub(crate) enum Format {
    /// Aligned columns and key/value lines.
    Table,
    /// JSON with the API's field names.
    Json,
}

#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// Store an API URL and client credentials as a profile (checked by
    /// getting a token). The secret comes from SENTRYAGENT_CLIENT_SECRET,
    /// standard input (`--client-secret-stdin`) or a prompt; it is never echoed.
    Login(Login),
    /// List, show, choose and remove profiles.
    #[command(subcommand)]
    Profile(ProfileCommand),
    /// Register, list, change, suspend and decommission agents.
    #[command(subcommand)]
    Agents(AgentsCommand),
    /// Create, list, rotate and revoke an agent's client credentials.
    #[command(subcommand)]
    Credentials(CredentialsCommand),
    /// Issue, introspect, revoke and decode access tokens.
    #[command(subcommand)]
    Token(TokenCommand),
    /// Read, follow, verify and export the audit log.
    #[command(subcommand)]
    Audit(AuditCommand),
    /// GitHub Actions OIDC trust policies.
    #[command(subcommand)]
    Policies(PoliciesCommand),
    /// The public marketplace of listed agents.
    #[command(subcommand)]
    Marketplace(MarketplaceCommand),
    /// Print a shell completion script, e.g. `sentryagent completions bash`.
    Completions {
        /// The shell.
        shell: clap_complete::Shell,
    },
}

#[derive(Debug, Args)]
pub(crate) struct Login {
    /// The client id (`sa_ci_…`) of an agent, e.g. the tenant's admin.
    #[arg(long, env = "SENTRYAGENT_CLIENT_ID", value_name = "ID")]
    pub(crate) client_id: Option<String>,
    /// Read the client secret from standard input.
    #[arg(long)]
    pub(crate) client_secret_stdin: bool,
}

#[derive(Debug, Subcommand)]
pub(crate) enum ProfileCommand {
    /// Every stored profile (secrets never shown).
    List,
    /// One profile (the current one by default; its secret never shown).
    Show {
        /// The profile.
        name: Option<String>,
    },
    /// Make a profile the default.
    Use {
        /// The profile.
        name: String,
    },
    /// Forget a profile and its secret.
    Remove {
        /// The profile.
        name: String,
    },
}

#[derive(Debug, Subcommand)]
pub(crate) enum AgentsCommand {
    /// Register an agent; its first credential's secret is printed once.
    Register {
        /// Email-format name, unique in the tenant.
        name: String,
        /// Free text.
        #[arg(long)]
        description: Option<String>,
        /// A capability label (repeatable).
        #[arg(long = "capability", value_name = "LABEL")]
        capabilities: Vec<String>,
        /// A scope the agent may request (repeatable).
        #[arg(long = "scope", value_name = "SCOPE")]
        scopes: Vec<String>,
        /// Private metadata, a JSON object.
        #[arg(long, value_parser = json_object)]
        metadata: Option<serde_json::Map<String, serde_json::Value>>,
        /// Keep it out of the public marketplace.
        #[arg(long)]
        unlisted: bool,
    },
    /// List agents (every page).
    List {
        /// Only agents in this state.
        #[arg(long, value_enum)]
        status: Option<Status>,
        /// A case-insensitive substring of the name or description.
        #[arg(long, short)]
        query: Option<String>,
    },
    /// Show one agent.
    Get {
        /// The agent's id.
        agent_id: String,
    },
    /// Change an agent's description, capabilities, scopes, metadata or listing.
    Update {
        /// The agent's id.
        agent_id: String,
        /// New description.
        #[arg(long)]
        description: Option<String>,
        /// New capabilities (repeatable; replaces them all).
        #[arg(long = "capability", value_name = "LABEL")]
        capabilities: Option<Vec<String>>,
        /// New scopes (repeatable; replaces them all).
        #[arg(long = "scope", value_name = "SCOPE")]
        scopes: Option<Vec<String>>,
        /// New metadata, a JSON object.
        #[arg(long, value_parser = json_object)]
        metadata: Option<serde_json::Map<String, serde_json::Value>>,
        /// Whether the marketplace lists it.
        #[arg(long)]
        listed: Option<bool>,
    },
    /// Suspend an agent: its tokens fail until it is reactivated.
    Suspend {
        /// The agent's id.
        agent_id: String,
    },
    /// Reactivate a suspended agent.
    Reactivate {
        /// The agent's id.
        agent_id: String,
    },
    /// Decommission an agent: permanent; all its credentials revoked and its
    /// tokens dead. Asks for confirmation unless `--yes`.
    Decommission {
        /// The agent's id.
        agent_id: String,
        /// Do not ask.
        #[arg(long, short)]
        yes: bool,
    },
    /// Public keys an agent authenticates with instead of a secret
    /// (`private_key_jwt`): add, list and revoke them.
    #[command(subcommand)]
    Keys(KeysCommand),
}

/// An agent's client-authentication keys: credentials whose public JWK
/// checks the agent's signed client assertions (not the keys its DID
/// document publishes).
#[derive(Debug, Subcommand)]
pub(crate) enum KeysCommand {
    /// Register a public key (a JWK, or a JWK Set holding one key, in a
    /// file; `-` reads standard input). A private key is refused before
    /// anything is sent.
    Add {
        /// The agent's id.
        agent_id: String,
        /// The JWK file.
        #[arg(long, value_name = "FILE")]
        jwk_file: std::path::PathBuf,
        /// When it stops working (RFC 3339).
        #[arg(long, value_parser = rfc3339)]
        expires_at: Option<time::OffsetDateTime>,
    },
    /// An agent's keys (its secret credentials are left out).
    List {
        /// The agent's id.
        agent_id: String,
    },
    /// Revoke a key: assertions it signs fail at once.
    Revoke {
        /// The agent's id.
        agent_id: String,
        /// The key's credential id (from `agents keys list`).
        credential_id: String,
    },
}

/// An agent's state, for filters.
#[derive(Clone, Copy, Debug, ValueEnum)]
pub(crate) enum Status {
    /// Active.
    Active,
    /// Suspended.
    Suspended,
    /// Decommissioned.
    Decommissioned,
}

#[derive(Debug, Subcommand)]
pub(crate) enum CredentialsCommand {
    /// Generate a credential; its secret is printed once.
    Create {
        /// The agent's id.
        agent_id: String,
        /// When it stops working (RFC 3339).
        #[arg(long, value_parser = rfc3339)]
        expires_at: Option<time::OffsetDateTime>,
    },
    /// An agent's credentials (never their secrets).
    List {
        /// The agent's id.
        agent_id: String,
    },
    /// Give a credential a new secret (printed once); the old one fails at once.
    Rotate {
        /// The agent's id.
        agent_id: String,
        /// The credential's id.
        credential_id: String,
    },
    /// Revoke a credential; the agent keeps its others.
    Revoke {
        /// The agent's id.
        agent_id: String,
        /// The credential's id.
        credential_id: String,
    },
}

#[derive(Debug, Subcommand)]
pub(crate) enum TokenCommand {
    /// Get an access token for the profile's credentials, or for the client id
    /// given with its secret from SENTRYAGENT_TOKEN_CLIENT_SECRET or standard
    /// input. Prints the token alone (table) or the token answer (json).
    Issue {
        /// Another agent's client id.
        #[arg(long, value_name = "ID")]
        client_id: Option<String>,
        /// Read that client's secret from standard input.
        #[arg(long, requires = "client_id")]
        client_secret_stdin: bool,
        /// Space-separated scopes to ask for (default: all the agent holds).
        #[arg(long)]
        scope: Option<String>,
        /// The audience to ask for (default: the issuer).
        #[arg(long)]
        audience: Option<String>,
    },
    /// Ask the server whether a token is active, and its claims.
    Introspect {
        /// The token, or `-` to read it from standard input.
        token: String,
    },
    /// Revoke a token: it fails at once.
    Revoke {
        /// The token, or `-` to read it from standard input.
        token: String,
    },
    /// Show a token's header and claims, read locally; the signature is NOT
    /// checked (use `introspect` to trust a token).
    Decode {
        /// The token, or `-` to read it from standard input.
        token: String,
    },
}

#[derive(Debug, Args, Clone)]
pub(crate) struct AuditFilters {
    /// Only events about this agent.
    #[arg(long, value_name = "ID")]
    pub(crate) agent_id: Option<String>,
    /// Only this action, e.g. token.issued.
    #[arg(long)]
    pub(crate) action: Option<String>,
    /// Only successes or only failures.
    #[arg(long, value_enum)]
    pub(crate) outcome: Option<OutcomeArg>,
}

/// An audit outcome, for filters.
#[derive(Clone, Copy, Debug, ValueEnum)]
pub(crate) enum OutcomeArg {
    /// Successes.
    Success,
    /// Failures.
    Failure,
}

#[derive(Debug, Subcommand)]
pub(crate) enum AuditCommand {
    /// Audit events, newest first.
    List {
        #[command(flatten)]
        filters: AuditFilters,
        /// At or after this time (RFC 3339).
        #[arg(long, value_parser = rfc3339)]
        from: Option<time::OffsetDateTime>,
        /// Before this time (RFC 3339).
        #[arg(long, value_parser = rfc3339)]
        to: Option<time::OffsetDateTime>,
        /// At most this many events.
        #[arg(long, short = 'n', default_value_t = 20, conflicts_with = "all")]
        limit: usize,
        /// Every event (all pages).
        #[arg(long)]
        all: bool,
    },
    /// Print the last events, then follow new ones until Ctrl-C (polling,
    /// with exponential back-off while idle or while the server fails).
    Tail {
        #[command(flatten)]
        filters: AuditFilters,
        /// How many past events to print first.
        #[arg(long, short = 'n', default_value_t = 10)]
        lines: usize,
        /// The polling interval, e.g. 5s, 500ms, 1m.
        #[arg(long, default_value = "5s", value_parser = duration)]
        interval: Duration,
        /// The longest wait of the back-off.
        #[arg(long, default_value = "60s", value_parser = duration)]
        max_interval: Duration,
    },
    /// Verify the tenant's hash chain (the events since the last
    /// verification); exits 1 when it is broken.
    Verify {
        /// Every stored event instead, slice after slice.
        #[arg(long)]
        full: bool,
    },
    /// Write events as JSON lines (newest first) to a file or standard
    /// output, with a progress bar on a terminal.
    Export {
        #[command(flatten)]
        filters: AuditFilters,
        /// At or after this time (RFC 3339).
        #[arg(long, value_parser = rfc3339)]
        from: Option<time::OffsetDateTime>,
        /// Before this time (RFC 3339).
        #[arg(long, value_parser = rfc3339)]
        to: Option<time::OffsetDateTime>,
        /// The file to write (default: standard output).
        #[arg(long, short)]
        file: Option<PathBuf>,
    },
}

#[derive(Debug, Subcommand)]
pub(crate) enum PoliciesCommand {
    /// Trust a repository's workflows: for an agent, or (without
    /// `--agent-id`) to bootstrap agents.
    Create(Box<NewPolicy>),
    /// The tenant's trust policies.
    List,
    /// One trust policy.
    Get {
        /// The policy's id.
        policy_id: String,
    },
    /// Delete a trust policy.
    Delete {
        /// The policy's id.
        policy_id: String,
    },
    /// Which policy would admit a workflow token or a claim set, and why the
    /// others would not; nothing is issued.
    Evaluate {
        /// A workflow's OIDC token (expired ones too).
        #[arg(long, conflicts_with = "claims", required_unless_present = "claims")]
        token: Option<String>,
        /// A claim set as JSON, or @FILE.
        #[arg(long, value_parser = json_or_file)]
        claims: Option<serde_json::Value>,
        /// As in the exchange.
        #[arg(long, value_name = "ID")]
        agent_id: Option<String>,
    },
}

#[derive(Debug, Args)]
pub(crate) struct NewPolicy {
    /// `owner/name`; the name may be a pattern (provider `github`).
    #[arg(long, default_value = "")]
    pub(crate) repository: String,
    /// The identity provider: `github`, or `oidc` for an issuer the tenant registers.
    #[arg(long, default_value = "github")]
    pub(crate) provider: String,
    /// Provider `oidc`: the issuer URL (https).
    #[arg(long)]
    pub(crate) issuer: Option<String>,
    /// Provider `oidc`: the audience its tokens carry.
    #[arg(long)]
    pub(crate) audience: Option<String>,
    /// Provider `oidc`: pattern over `sub`.
    #[arg(long)]
    pub(crate) subject: Option<String>,
    /// Provider `oidc`: a condition `NAME=PATTERN` on a claim (repeatable).
    #[arg(long = "claim", value_name = "NAME=PATTERN")]
    pub(crate) claims: Option<Vec<String>>,
    /// The agent to issue tokens for (none: a bootstrap policy).
    #[arg(long, value_name = "ID")]
    pub(crate) agent_id: Option<String>,
    /// Branch name pattern.
    #[arg(long)]
    pub(crate) branch: Option<String>,
    /// Full-ref pattern, e.g. refs/tags/v*.
    #[arg(long = "ref", value_name = "PATTERN")]
    pub(crate) ref_pattern: Option<String>,
    /// `branch` or `tag`.
    #[arg(long)]
    pub(crate) ref_type: Option<String>,
    /// Environment pattern.
    #[arg(long)]
    pub(crate) environment: Option<String>,
    /// `job_workflow_ref` pattern.
    #[arg(long)]
    pub(crate) job_workflow_ref: Option<String>,
    /// Required repository_id.
    #[arg(long)]
    pub(crate) repository_id: Option<String>,
    /// Required repository_owner_id.
    #[arg(long)]
    pub(crate) repository_owner_id: Option<String>,
    /// Only this event (repeatable).
    #[arg(long = "allowed-event", value_name = "EVENT")]
    pub(crate) allowed_events: Option<Vec<String>>,
    /// Never this event (repeatable).
    #[arg(long = "denied-event", value_name = "EVENT")]
    pub(crate) denied_events: Option<Vec<String>>,
    /// Free text.
    #[arg(long)]
    pub(crate) description: Option<String>,
    /// Bootstrap policies: a scope agents registered through the policy may
    /// be given (repeatable; default none).
    #[arg(long = "max-scope", value_name = "SCOPE")]
    pub(crate) max_scopes: Option<Vec<String>>,
}

#[derive(Debug, Subcommand)]
pub(crate) enum MarketplaceCommand {
    /// Search listed agents: every word must occur in the name or description.
    Search {
        /// Words to look for.
        words: Vec<String>,
        /// Only agents with this capability.
        #[arg(long)]
        capability: Option<String>,
        /// At most this many agents.
        #[arg(long, short = 'n', default_value_t = 50)]
        limit: usize,
    },
}

fn json_object(s: &str) -> Result<serde_json::Map<String, serde_json::Value>, String> {
    match serde_json::from_str(s) {
        Ok(serde_json::Value::Object(map)) => Ok(map),
        Ok(_) => Err("must be a JSON object, e.g. '{\"team\": \"ci\"}'".into()),
        Err(e) => Err(format!("not JSON: {e}")),
    }
}

fn json_or_file(s: &str) -> Result<serde_json::Value, String> {
    let text = match s.strip_prefix('@') {
        Some(path) => std::fs::read_to_string(path).map_err(|e| format!("cannot read {path}: {e}"))?,
        None => s.to_owned(),
    };
    serde_json::from_str(&text).map_err(|e| format!("not JSON: {e}"))
}

fn rfc3339(s: &str) -> Result<time::OffsetDateTime, String> {
    time::OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339)
        .map_err(|e| format!("not an RFC 3339 time such as 2026-01-31T12:00:00Z: {e}"))
}

/// `500ms`, `5s`, `2m` or a bare number of seconds.
pub(crate) fn duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    let split = s.find(|c: char| !c.is_ascii_digit() && c != '.').unwrap_or(s.len());
    let (number, unit) = s.split_at(split);
    let n: f64 = number
        .parse()
        .map_err(|_| format!("`{s}` is not a duration such as 500ms, 5s or 1m"))?;
    let secs = match unit {
        "ms" => n / 1000.0,
        "" | "s" => n,
        "m" => n * 60.0,
        _ => return Err(format!("`{s}`: the unit must be ms, s or m")),
    };
    if !(secs.is_finite() && secs > 0.0 && secs <= 86_400.0) {
        return Err(format!("`{s}` must be more than 0 and at most a day"));
    }
    Ok(Duration::from_secs_f64(secs))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_parse_with_units_and_refuse_nonsense() {
        assert_eq!(duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(duration("5s"), Ok(Duration::from_secs(5)));
        assert_eq!(duration("2"), Ok(Duration::from_secs(2)));
        assert_eq!(duration("1m"), Ok(Duration::from_secs(60)));
        for bad in ["", "0s", "5h", "-1s", "1e400", "s"] {
            assert!(duration(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn the_command_line_is_consistent() {
        use clap::CommandFactory;
        Cli::command().debug_assert();
    }
}
