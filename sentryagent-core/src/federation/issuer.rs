//! Trust in an OIDC issuer a tenant registers (Kubernetes service-account
//! tokens, GitLab CI job tokens, SPIFFE JWT-SVIDs, any OIDC provider): the
//! part of a trust policy of provider `oidc`, and how a token's claims are
//! held against it.

use std::collections::BTreeMap;

use serde::Serialize;

use super::address::refused_host;
use super::glob;
use super::policy::Failure;
use crate::error::Validator;

/// Most claim conditions a policy may hold.
pub const MAX_CLAIM_CONDITIONS: usize = 16;

/// What a policy of provider `oidc` trusts.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct IssuerTrust {
    /// The issuer (`iss`), compared exactly (without a trailing `/`). Its
    /// keys come from `{issuer}/.well-known/openid-configuration`'s
    /// `jwks_uri`, through the guarded fetcher.
    pub issuer: String,
    /// The audience tokens must carry; `None`: this IdP's issuer URL.
    pub audience: Option<String>,
    /// Pattern over `sub` (`system:serviceaccount:prod:*`).
    pub subject: Option<String>,
    /// Patterns over other named claims (`namespace_path`: `acme/*`); a
    /// `/` in a name steps into an object claim (`kubernetes.io/namespace`
    /// is Kubernetes' `{"kubernetes.io": {"namespace": …}}`). A claim that
    /// is missing or not a string, number or boolean fails.
    pub claims: BTreeMap<String, String>,
}

impl IssuerTrust {
    /// Validates the `oidc` fields of a new policy.
    pub(crate) fn validate(
        v: &mut Validator,
        issuer: Option<String>,
        audience: Option<String>,
        subject: Option<String>,
        claims: Option<BTreeMap<String, String>>,
        allow_private_networks: bool,
    ) -> Option<Self> {
        let issuer = issuer.map(|i| i.trim_end_matches('/').to_owned());
        match issuer.as_deref() {
            None => v.push("issuer", "is required for provider oidc (the tokens' iss)"),
            Some(i) => {
                if let Some(why) = issuer_refused(i, allow_private_networks) {
                    v.push("issuer", why);
                }
            }
        }
        if let Some(a) = &audience {
            v.check((1..=1024).contains(&a.len()), "audience", "must be 1 to 1024 characters");
        }
        if let Some(s) = &subject {
            v.check(valid_pattern(s), "subject", format!("must be 1 to {} characters", glob::MAX_PATTERN));
        }
        let claims = claims.unwrap_or_default();
        v.check(
            claims.len() <= MAX_CLAIM_CONDITIONS,
            "claims",
            format!("at most {MAX_CLAIM_CONDITIONS} conditions"),
        );
        for (name, pattern) in &claims {
            let field = format!("claims.{name}");
            v.check(
                (1..=64).contains(&name.len())
                    && name.bytes().all(|b| b.is_ascii_alphanumeric() || b"_-.:/".contains(&b))
                    && !name.starts_with('/')
                    && !name.ends_with('/')
                    && !name.contains("//")
                    && !matches!(name.as_str(), "iss" | "aud" | "exp" | "nbf" | "iat" | "jti" | "sub"),
                &field,
                "must name a claim other than iss, aud, exp, nbf, iat, jti and sub (use subject)",
            );
            v.check(valid_pattern(pattern), &field, format!("must be 1 to {} characters", glob::MAX_PATTERN));
        }
        v.check(
            subject.is_some() || !claims.is_empty(),
            "subject",
            "give subject or claims: a policy on the issuer alone would trust every workload it issues tokens for",
        );
        Some(Self {
            issuer: issuer?,
            audience,
            subject,
            claims,
        })
    }
}

fn valid_pattern(p: &str) -> bool {
    !p.is_empty() && p.chars().count() <= glob::MAX_PATTERN && p.chars().all(|c| !c.is_control())
}

/// Why an issuer URL may not be registered: it must be an absolute `https`
/// URL without query or fragment whose host is no loopback, private or
/// link-local address (`http` and such hosts only when the test setting
/// allows private networks).
pub(crate) fn issuer_refused(issuer: &str, allow_private_networks: bool) -> Option<String> {
    if issuer.len() > 1024 {
        return Some("must be at most 1024 characters".into());
    }
    let Ok(uri) = issuer.parse::<http::Uri>() else {
        return Some("must be an absolute https URL".into());
    };
    let https = uri.scheme_str() == Some("https");
    if !https && !(allow_private_networks && uri.scheme_str() == Some("http")) {
        return Some("must be an https URL".into());
    }
    if uri.query().is_some() || issuer.contains('#') || issuer.contains('@') {
        return Some("must have no query, fragment or user info".into());
    }
    let host = uri.host()?;
    if allow_private_networks {
        return None;
    }
    refused_host(host).map(|why| format!("its host {why}"))
}

/// A claim's value as a pattern sees it.
fn claim_text(value: Option<&serde_json::Value>) -> Option<String> {
    match value? {
        serde_json::Value::String(s) => Some(s.clone()),
        serde_json::Value::Number(n) => Some(n.to_string()),
        serde_json::Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// The claim `name` names: a top-level claim of that name, else the path
/// its `/`s separate through object claims.
fn claim<'a>(claims: &'a serde_json::Map<String, serde_json::Value>, name: &str) -> Option<&'a serde_json::Value> {
    if let Some(v) = claims.get(name) {
        return Some(v);
    }
    let mut parts = name.split('/');
    let mut value = claims.get(parts.next()?)?;
    for part in parts {
        value = value.as_object()?.get(part)?;
    }
    Some(value)
}

/// Every condition of `trust` that `claims` fail; empty when it admits them.
pub(crate) fn evaluate_issuer(trust: &IssuerTrust, claims: &serde_json::Map<String, serde_json::Value>) -> Vec<Failure> {
    let holds = |pattern: &str, value: Option<&str>| value.is_some_and(|c| c.len() <= 1024 && glob::matches(pattern, c, false));
    let mut failures = Vec::new();
    if let Some(subject) = &trust.subject {
        let sub = claim_text(claims.get("sub"));
        if !holds(subject, sub.as_deref()) {
            failures.push(Failure {
                condition: "subject",
                allowed: subject.as_str().into(),
                provided: sub.map_or(serde_json::Value::Null, Into::into),
            });
        }
    }
    for (name, pattern) in &trust.claims {
        let value = claim_text(claim(claims, name));
        if !holds(pattern, value.as_deref()) {
            failures.push(Failure {
                condition: "claims",
                allowed: serde_json::json!({ name: pattern }),
                provided: serde_json::json!({ name: value }),
            });
        }
    }
    failures
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn issuers_on_loopback_or_private_addresses_or_without_https_are_refused() {
        for bad in [
            "http://issuer.example",
            "https://127.0.0.1",
            "https://localhost:8443",
            "https://10.0.0.7/realms/x",
            "https://[::1]",
            "https://169.254.169.254",
            "https://issuer.example/?x=1",
            "https://user@issuer.example",
            "issuer.example",
        ] {
            assert!(issuer_refused(bad, false).is_some(), "{bad}");
        }
        for good in ["https://gitlab.com", "https://oidc.eks.eu-west-1.amazonaws.com/id/ABC", "https://8.8.8.8"] {
            assert_eq!(issuer_refused(good, false), None, "{good}");
        }
        assert_eq!(issuer_refused("http://127.0.0.1:8080", true), None);
    }

    #[test]
    fn subject_and_claim_patterns_stay_within_separators() {
        let trust = IssuerTrust {
            issuer: "https://k8s.example".into(),
            audience: None,
            subject: Some("system:serviceaccount:prod:*".into()),
            claims: BTreeMap::from([("namespace_path".into(), "acme/*".into())]),
        };
        let ok = json!({"sub": "system:serviceaccount:prod:deployer", "namespace_path": "acme/infra"});
        assert!(evaluate_issuer(&trust, ok.as_object().expect("object")).is_empty());
        let nested = IssuerTrust {
            claims: BTreeMap::from([("kubernetes.io/namespace".into(), "prod".into())]),
            ..trust.clone()
        };
        let k8s = json!({"sub": "system:serviceaccount:prod:a", "kubernetes.io": {"namespace": "prod"}});
        assert!(evaluate_issuer(&nested, k8s.as_object().expect("object")).is_empty());
        let elsewhere = json!({"sub": "system:serviceaccount:prod:a", "kubernetes.io": {"namespace": "dev"}});
        assert_eq!(evaluate_issuer(&nested, elsewhere.as_object().expect("object")).len(), 1);
        let crossing = json!({"sub": "system:serviceaccount:prod:x:y", "namespace_path": "acme/infra/sub"});
        assert_eq!(evaluate_issuer(&trust, crossing.as_object().expect("object")).len(), 2);
        let missing = json!({"sub": "system:serviceaccount:prod:a"});
        assert_eq!(evaluate_issuer(&trust, missing.as_object().expect("object"))[0].condition, "claims");
    }
}
