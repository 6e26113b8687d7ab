//! What the permission rule refuses, and why: below the error type, which carries it.

/// What the rule refused, and why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Refusal {
    /// The operation's scope is missing (403 `INSUFFICIENT_SCOPE`).
    MissingScope(&'static str),
    /// The caller tried to grant a scope it does not hold (403 `SCOPE_CEILING`).
    GrantCeiling(String),
    /// The target agent holds a scope the caller does not (403 `SCOPE_CEILING`).
    TargetCeiling(String),
    /// A built-in agent, and the caller is no admin (403 `SCOPE_CEILING`).
    BuiltInAgent,
    /// A bootstrap token tried something other than registering an agent
    /// (403 `SCOPE_CEILING`).
    BootstrapRegistersOnly,
}

impl Refusal {
    /// The rule's name, as audit events and error details give it.
    pub fn rule(&self) -> &'static str {
        match self {
            Refusal::MissingScope(_) => "route_scope",
            Refusal::GrantCeiling(_) => "grant_ceiling",
            Refusal::TargetCeiling(_) => "target_ceiling",
            Refusal::BuiltInAgent => "built_in_agent",
            Refusal::BootstrapRegistersOnly => "bootstrap_registers_only",
        }
    }

    /// The scope the refusal is about, if any.
    pub fn scope(&self) -> Option<&str> {
        match self {
            Refusal::MissingScope(s) => Some(s),
            Refusal::GrantCeiling(s) | Refusal::TargetCeiling(s) => Some(s),
            Refusal::BuiltInAgent | Refusal::BootstrapRegistersOnly => None,
        }
    }

    /// A human sentence.
    pub fn message(&self) -> String {
        match self {
            Refusal::MissingScope(s) => format!("this call needs the `{s}` scope"),
            Refusal::GrantCeiling(s) => format!("only a caller holding `{s}` can grant it"),
            Refusal::TargetCeiling(s) => {
                format!(
                    "the agent holds `{s}`, which the caller does not; only a caller holding every scope of an agent can act on it"
                )
            }
            Refusal::BuiltInAgent => "built-in agents are changed only by an admin".to_owned(),
            Refusal::BootstrapRegistersOnly => {
                "a bootstrap token registers new agents and does nothing else".to_owned()
            }
        }
    }
}
