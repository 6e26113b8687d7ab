//! The `sentryagent` binary: see the `sentryagent-cli` crate.

fn main() -> std::process::ExitCode {
    sentryagent_cli::main()
}
