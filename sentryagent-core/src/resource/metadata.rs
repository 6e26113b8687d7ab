//! Protected resource metadata (RFC 9728): the document a resource publishes
//! so that clients find the authorization server its tokens come from.
//!
//! Where it lives follows from the resource's identifier (§3.1): the
//! well-known path goes between the identifier's host and its path, so the
//! resource `https://api.example.com/mcp` publishes at
//! `https://api.example.com/.well-known/oauth-protected-resource/mcp`, and
//! `https://api.example.com` at `…/.well-known/oauth-protected-resource`.
//! A host therefore says where a resource's metadata lives by the identifier
//! it gives the policy, and mounts the adapters' root documents.

use serde::{Deserialize, Serialize};
use url::Url;

use super::model::ResourcePolicy;

/// The well-known path prefix of protected resource metadata.
pub const WELL_KNOWN: &str = "/.well-known/oauth-protected-resource";

/// A protected resource's metadata document (RFC 9728 §2), as the adapters
/// publish it for each resource policy.
///
/// Members that do not apply are left out rather than sent empty (§2: a
/// member with no values is omitted): the resource signs no responses
/// (`resource_signing_alg_values_supported`), has no keys of its own
/// (`jwks_uri`), and takes tokens in the `Authorization` header only.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[non_exhaustive]
pub struct ProtectedResourceMetadata {
    /// The resource's identifier: the `resource` clients request tokens for
    /// and the audience of those tokens.
    pub resource: String,
    /// The issuer identifiers of the authorization servers (this IdP).
    pub authorization_servers: Vec<String>,
    /// The scopes every call needs (the policy's required scopes); left out
    /// when it needs none.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub scopes_supported: Vec<String>,
    /// How tokens are presented: `header` (RFC 6750 §2.1) only.
    pub bearer_methods_supported: Vec<String>,
    /// A name for people, when the host gave one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub resource_name: Option<String>,
}

impl ProtectedResourceMetadata {
    pub(crate) fn of(policy: &ResourcePolicy, issuer: &str) -> Self {
        Self {
            resource: policy.resource().to_owned(),
            authorization_servers: vec![issuer.to_owned()],
            scopes_supported: policy.required_scopes().to_vec(),
            bearer_methods_supported: vec!["header".to_owned()],
            resource_name: policy.display_name().map(str::to_owned),
        }
    }
}

/// The URL of a resource's metadata document (RFC 9728 §3.1), or `None`
/// for an identifier that is not an absolute `http(s)` URL without a
/// fragment (such a resource cannot publish metadata).
pub fn metadata_url(resource: &str) -> Option<String> {
    let url = parse(resource)?;
    let mut out = url.clone();
    out.set_path(&format!("{WELL_KNOWN}{}", suffix(&url)));
    Some(out.into())
}

/// The resource identifier as an absolute `http(s)` URL without fragment.
fn parse(resource: &str) -> Option<Url> {
    let url = Url::parse(resource).ok()?;
    (matches!(url.scheme(), "https" | "http") && url.has_host() && url.fragment().is_none()).then_some(url)
}

/// The part of the metadata path after the well-known prefix: the
/// identifier's path without its terminating slash (`""` for the root).
fn suffix(url: &Url) -> &str {
    url.path().trim_end_matches('/')
}

/// Whether `policy` publishes its metadata at the well-known path
/// `WELL_KNOWN + path` with this query, and for which host (`host:port`
/// as a request's `Host` header names it, default port left out).
pub(crate) fn published_at(policy: &ResourcePolicy, path: &str, query: Option<&str>) -> Option<String> {
    let url = parse(policy.resource())?;
    if suffix(&url) != path.trim_end_matches('/') || url.query() != query.filter(|q| !q.is_empty()) {
        return None;
    }
    let host = url.host_str()?;
    Some(match url.port() {
        Some(port) => format!("{host}:{port}"),
        None => host.to_owned(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_well_known_path_goes_between_host_and_path() {
        let at = |r| metadata_url(r);
        assert_eq!(
            at("https://api.example.com").as_deref(),
            Some("https://api.example.com/.well-known/oauth-protected-resource")
        );
        assert_eq!(
            at("https://api.example.com/").as_deref(),
            Some("https://api.example.com/.well-known/oauth-protected-resource")
        );
        assert_eq!(
            at("http://127.0.0.1:8080/mcp/").as_deref(),
            Some("http://127.0.0.1:8080/.well-known/oauth-protected-resource/mcp")
        );
        assert_eq!(
            at("https://api.example.com/v1/mcp?tenant=a").as_deref(),
            Some("https://api.example.com/.well-known/oauth-protected-resource/v1/mcp?tenant=a")
        );
        for bad in [
            "api",
            "/mcp",
            "urn:example:api",
            "https://api.example.com/#x",
            "ftp://x.example/",
        ] {
            assert_eq!(at(bad), None, "{bad}");
        }
    }

    #[test]
    fn a_policy_is_found_by_its_path_and_query() {
        let policy = ResourcePolicy::new("https://api.example.com:8443/v1/mcp");
        assert_eq!(
            published_at(&policy, "/v1/mcp", None).as_deref(),
            Some("api.example.com:8443")
        );
        assert_eq!(
            published_at(&policy, "/v1/mcp/", Some("")).as_deref(),
            Some("api.example.com:8443")
        );
        assert_eq!(published_at(&policy, "/v1", None), None);
        assert_eq!(published_at(&policy, "/v1/mcp", Some("a=b")), None);
        let root = ResourcePolicy::new("https://api.example.com");
        assert_eq!(published_at(&root, "", None).as_deref(), Some("api.example.com"));
        assert_eq!(published_at(&root, "/mcp", None), None);
    }
}
