//! `did:web` identifiers for agents.

use crate::AgentId;

/// The `did:web` DID of an agent under `base_url`:
/// `did:web:<host>[%3A<port>]:agents:<agentId>` (the did:web method
/// percent-encodes the port's colon; path segments become `:`-separated).
///
/// ```
/// # use sentryagent_core::{did::agent_did, AgentId};
/// let id: AgentId = "0190f5d2-0000-7000-8000-000000000000".parse().unwrap();
/// assert_eq!(
///     agent_did("http://127.0.0.1:3000", id),
///     "did:web:127.0.0.1%3A3000:agents:0190f5d2-0000-7000-8000-000000000000"
/// );
/// ```
pub fn agent_did(base_url: &str, agent: AgentId) -> String {
    let rest = base_url.split_once("://").map_or(base_url, |(_, rest)| rest);
    let (authority, path) = rest.split_once('/').unwrap_or((rest, ""));
    let mut did = format!("did:web:{}", authority.replace(':', "%3A"));
    for segment in path.split('/').filter(|s| !s.is_empty()) {
        did.push(':');
        did.push_str(segment);
    }
    did.push_str(":agents:");
    did.push_str(&agent.to_string());
    did
}
