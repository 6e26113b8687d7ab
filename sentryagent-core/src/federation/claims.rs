//! How a token of a registered OIDC issuer is held against a policy of
//! provider `oidc`: its issuer, its audience, its `subject` and `claims`
//! conditions. One rule for the JWT bearer grant and for
//! `POST /oidc/trust-policies/evaluate`.

use serde_json::{Map, Value};

use super::glob;
use super::issuer::IssuerTrust;
use super::policy::{Failure, Provider, TrustPolicy};

/// Whether `policy` is a policy of provider `oidc` that trusts tokens of
/// `issuer` (compared exactly).
pub(crate) fn trusts_issuer(policy: &TrustPolicy, issuer: &str) -> bool {
    policy.provider == Provider::Oidc && policy.issuer.as_ref().is_some_and(|t| t.issuer == issuer)
}

/// The audiences of a token's `aud` claim (a string or an array).
fn audiences(claims: &Map<String, Value>) -> Vec<&str> {
    match claims.get("aud") {
        Some(Value::String(a)) => vec![a.as_str()],
        Some(Value::Array(list)) => list.iter().filter_map(Value::as_str).collect(),
        _ => Vec::new(),
    }
}

/// Every condition of the `oidc` policy `policy` that a token's claims
/// fail, in the order the JWT bearer grant holds them: the issuer
/// (`issuer`), the audience (`audience`; `default_audience` when the policy
/// names none), then its `subject` and `claims` conditions. Empty when the
/// policy admits the claims.
pub(crate) fn evaluate_oidc(policy: &TrustPolicy, claims: &Map<String, Value>, default_audience: &str) -> Vec<Failure> {
    let Some(trust) = policy.issuer.as_ref().filter(|_| policy.provider == Provider::Oidc) else {
        return vec![Failure {
            condition: "issuer",
            allowed: Value::Null,
            provided: claims.get("iss").cloned().unwrap_or(Value::Null),
        }];
    };
    let mut failures = Vec::new();
    let iss = claims.get("iss").and_then(Value::as_str);
    if iss != Some(trust.issuer.as_str()) {
        failures.push(Failure {
            condition: "issuer",
            allowed: trust.issuer.as_str().into(),
            provided: iss.map_or(Value::Null, Into::into),
        });
    }
    let audience = trust.audience.as_deref().unwrap_or(default_audience);
    if !audiences(claims).contains(&audience) {
        failures.push(Failure {
            condition: "audience",
            allowed: audience.into(),
            provided: claims.get("aud").cloned().unwrap_or(Value::Null),
        });
    }
    failures.extend(evaluate_issuer(trust, claims));
    failures
}

/// Why a policy refused, as the JWT bearer grant audits it: the reason of
/// its first failed condition (`issuer_not_registered`, `wrong_audience`,
/// `conditions_not_met`).
pub(crate) fn refusal_reason(failures: &[Failure]) -> &'static str {
    match failures.first().map(|f| f.condition) {
        Some("issuer") => "issuer_not_registered",
        Some("audience") => "wrong_audience",
        _ => "conditions_not_met",
    }
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
