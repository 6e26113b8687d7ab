//! OAuth scopes. Management scopes are fixed; agents may also hold scopes of
//! the host's own choosing (`orders:read`) for the host's own routes.

/// Read agents.
pub const AGENTS_READ: &str = "agents:read";
/// Register, update, suspend and decommission agents.
pub const AGENTS_WRITE: &str = "agents:write";
/// Generate, rotate and revoke credentials; revoke tokens.
pub const CREDENTIALS_WRITE: &str = "credentials:write";
/// Introspect any token of the tenant.
pub const TOKENS_INTROSPECT: &str = "tokens:introspect";
/// Read and verify the audit log.
pub const AUDIT_READ: &str = "audit:read";
/// Manage OIDC trust policies.
pub const TRUST_POLICIES_WRITE: &str = "trust-policies:write";
/// Manage the tenant's subscription.
pub const BILLING_WRITE: &str = "billing:write";
/// Read the tenant's usage.
pub const USAGE_READ: &str = "usage:read";
/// Register, read, change and delete the tenant's OAuth clients (of the
/// authorization-code flow).
pub const OAUTH_CLIENTS_WRITE: &str = "oauth-clients:write";
/// All of a tenant's management.
pub const ADMIN: &str = "admin";

/// Every management scope.
pub const MANAGEMENT: &[&str] = &[
    AGENTS_READ,
    AGENTS_WRITE,
    CREDENTIALS_WRITE,
    TOKENS_INTROSPECT,
    AUDIT_READ,
    TRUST_POLICIES_WRITE,
    BILLING_WRITE,
    USAGE_READ,
    OAUTH_CLIENTS_WRITE,
    ADMIN,
];

/// Whether `scope` is one of SentryAgent's own management scopes.
pub fn is_management(scope: &str) -> bool {
    MANAGEMENT.contains(&scope)
}

/// Whether a set of held scopes grants `required`: `admin` grants every
/// management scope, and nothing else.
pub fn grants<S: AsRef<str>>(held: &[S], required: &str) -> bool {
    held.iter().any(|s| {
        let s = s.as_ref();
        s == required || (s == ADMIN && is_management(required))
    })
}

/// Whether `token` is a valid scope token (RFC 6749 §3.3: printable ASCII
/// without space, `"` or `\`), at most 128 characters.
pub fn is_valid_syntax(token: &str) -> bool {
    !token.is_empty()
        && token.len() <= 128
        && token
            .bytes()
            .all(|b| b == 0x21 || (0x23..=0x5b).contains(&b) || (0x5d..=0x7e).contains(&b))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn admin_grants_management_scopes_only() {
        assert!(grants(&["admin"], AGENTS_WRITE));
        assert!(!grants(&["admin"], "orders:read"));
        assert!(grants(&["orders:read"], "orders:read"));
        assert!(!grants(&[AGENTS_READ], AGENTS_WRITE));
    }

    #[test]
    fn scope_syntax() {
        assert!(is_valid_syntax("agents:read"));
        assert!(!is_valid_syntax("a b"));
        assert!(!is_valid_syntax("a\"b"));
        assert!(!is_valid_syntax(""));
    }
}
