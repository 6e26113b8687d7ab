//! Trust in an OIDC issuer a tenant registers (Kubernetes service-account
//! tokens, GitLab CI job tokens, SPIFFE JWT-SVIDs, any OIDC provider): the
//! part of a trust policy of provider `oidc`, and how a token's claims are
//! held against it.

use std::collections::BTreeMap;

use serde::Serialize;

use super::address::refused_host;
use super::glob;
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
            v.check(
                (1..=1024).contains(&a.len()),
                "audience",
                "must be 1 to 1024 characters",
            );
        }
        if let Some(s) = &subject {
            v.check(
                valid_pattern(s),
                "subject",
                format!("must be 1 to {} characters", glob::MAX_PATTERN),
            );
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
            v.check(
                valid_pattern(pattern),
                &field,
                format!("must be 1 to {} characters", glob::MAX_PATTERN),
            );
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
    let scheme_allowed = match uri.scheme_str() {
        Some("https") => true,
        Some("http") => allow_private_networks,
        _ => false,
    };
    if !scheme_allowed {
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

#[cfg(test)]
mod tests {
    use super::*;

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
        for good in [
            "https://gitlab.com",
            "https://oidc.eks.eu-west-1.amazonaws.com/id/ABC",
            "https://8.8.8.8",
        ] {
            assert_eq!(issuer_refused(good, false), None, "{good}");
        }
        assert_eq!(issuer_refused("http://127.0.0.1:8080", true), None);
    }
}
