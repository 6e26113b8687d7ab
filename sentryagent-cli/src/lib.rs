//! `sentryagent`, the SentryAgent command-line tool, on
//! [`sentryagent_client`]. The binary is `src/main.rs`, which calls [`main`].
//!
//! Exit codes: 0 success, 1 the server refused (its code and message are
//! printed on stderr), 2 usage error (clap's, a missing or unreadable
//! profile, a refused confirmation), 3 cannot reach the server.
#![forbid(unsafe_code)]

mod args;
mod commands;
mod config;
mod output;

use std::process::ExitCode;

use clap::Parser;

use crate::output::Out;

/// What a command can fail with, and its exit code.
#[derive(Debug)]
pub(crate) enum CliError {
    /// A usage or configuration error (2).
    Usage(String),
    /// A call failed: refused (1), unreachable (3), or misused (2).
    Client(sentryagent_client::Error),
    /// A local failure, e.g. a file that cannot be written (1).
    Io(String),
    /// The command ran and its answer is a failure, already printed (1).
    Failed,
    /// Standard output was closed (`| head`): stop quietly (0).
    BrokenPipe,
}

impl CliError {
    fn from_stdout(e: std::io::Error) -> Self {
        if e.kind() == std::io::ErrorKind::BrokenPipe {
            Self::BrokenPipe
        } else {
            Self::Io(format!("cannot write to standard output: {e}"))
        }
    }

    fn exit_code(&self) -> u8 {
        match self {
            Self::BrokenPipe => 0,
            Self::Usage(_) => 2,
            Self::Client(e) if e.is_unreachable() => 3,
            Self::Client(sentryagent_client::Error::Usage(_)) => 2,
            Self::Client(_) | Self::Io(_) | Self::Failed => 1,
        }
    }
}

impl From<sentryagent_client::Error> for CliError {
    fn from(e: sentryagent_client::Error) -> Self {
        Self::Client(e)
    }
}

/// Runs the command line of this process and returns its exit code.
pub fn main() -> ExitCode {
    let cli = match args::Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            // Help and version print to stdout and exit 0; the rest exit 2.
            let _ = e.print();
            return ExitCode::from(u8::try_from(e.exit_code()).unwrap_or(2));
        }
    };
    let out = Out::new(cli.output == args::Format::Json);
    let runtime = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(e) => {
            out.error(&format!("cannot start the async runtime: {e}"));
            return ExitCode::from(1);
        }
    };
    match runtime.block_on(commands::run(&cli, &out)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            report(&out, &e);
            ExitCode::from(e.exit_code())
        }
    }
}

fn report(out: &Out, e: &CliError) {
    use sentryagent_client::Error;
    match e {
        CliError::BrokenPipe | CliError::Failed => {}
        CliError::Usage(msg) | CliError::Io(msg) => out.error(msg),
        CliError::Client(Error::Unreachable { url, source }) => {
            out.error(&format!("cannot reach {url}: {}", root_cause(source)));
        }
        CliError::Client(Error::Api(api)) => {
            out.error(&format!("{} ({}): {}", api.code, api.status, api.message));
            if let Some(serde_json::Value::Object(details)) = &api.details {
                for (field, why) in details {
                    let why = why.as_str().map_or_else(|| why.to_string(), str::to_owned);
                    let _ = std::io::Write::write_all(&mut std::io::stderr(), format!("  {field}: {why}\n").as_bytes());
                }
            }
            if let Some(hint) = hint(&api.code, api.retry_after) {
                out.hint(&hint);
            }
        }
        CliError::Client(e) => out.error(&e.to_string()),
    }
}

/// The innermost cause, e.g. `Connection refused (os error 111)`.
fn root_cause(e: &(dyn std::error::Error + 'static)) -> String {
    let mut cause = e;
    while let Some(next) = cause.source() {
        cause = next;
    }
    cause.to_string()
}

fn hint(code: &str, retry_after: Option<std::time::Duration>) -> Option<String> {
    Some(match code {
        "invalid_client" | "UNAUTHORIZED" | "invalid_token" => {
            "check the profile's client id and secret (`sentryagent profile show`, `sentryagent login`)".into()
        }
        "INSUFFICIENT_SCOPE" | "insufficient_scope" | "FORBIDDEN" => {
            "the profile's agent lacks a scope this needs; use a credential that holds it (e.g. the tenant's admin)"
                .into()
        }
        "NOT_FOUND" => "check the id (`sentryagent agents list`)".into(),
        "RATE_LIMITED" | "TIER_QUOTA_EXCEEDED" => match retry_after {
            Some(wait) => format!("try again in {} s", wait.as_secs()),
            None => "try again later".into(),
        },
        _ => return None,
    })
}
