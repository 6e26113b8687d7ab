//! The `sentryagent` command-line tool, exactly as `sentryagent-cli` builds
//! it (its `main` is this one line), built here beside the example servers so
//! that `tests/sentryagent_cli.rs` runs the binary against them.

fn main() -> std::process::ExitCode {
    sentryagent_cli::main()
}
