//! How a token of a registered OIDC issuer is held against a policy's
//! `subject` and `claims` conditions.

use super::glob;
use super::issuer::IssuerTrust;
use super::policy::Failure;

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
pub(crate) fn evaluate_issuer(
    trust: &IssuerTrust,
    claims: &serde_json::Map<String, serde_json::Value>,
) -> Vec<Failure> {
    let holds =
        |pattern: &str, value: Option<&str>| value.is_some_and(|c| c.len() <= 1024 && glob::matches(pattern, c, false));
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
    use std::collections::BTreeMap;

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
        assert_eq!(
            evaluate_issuer(&nested, elsewhere.as_object().expect("object")).len(),
            1
        );
        let crossing = json!({"sub": "system:serviceaccount:prod:x:y", "namespace_path": "acme/infra/sub"});
        assert_eq!(evaluate_issuer(&trust, crossing.as_object().expect("object")).len(), 2);
        let missing = json!({"sub": "system:serviceaccount:prod:a"});
        assert_eq!(
            evaluate_issuer(&trust, missing.as_object().expect("object"))[0].condition,
            "claims"
        );
    }
}
