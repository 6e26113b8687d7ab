//! Trust policies and how a token's claims are held against them.

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use super::glob;
use super::issuer::IssuerTrust;
use crate::error::Validator;
use crate::{AgentId, TenantId, TrustPolicyId};

/// Who issues the workload tokens a policy trusts.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Provider {
    /// GitHub Actions (`token.actions.githubusercontent.com`, or the issuer
    /// configured for GitHub Enterprise).
    GitHub,
    /// An OIDC issuer the tenant registered (the policy's `issuer`), for the
    /// JWT bearer grant of the token endpoint.
    Oidc,
}

impl Provider {
    /// The name the API and stores use.
    pub fn as_str(self) -> &'static str {
        match self {
            Provider::GitHub => "github",
            Provider::Oidc => "oidc",
        }
    }

    /// Parses [`as_str`](Self::as_str)'s output.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "github" => Some(Provider::GitHub),
            "oidc" => Some(Provider::Oidc),
            _ => None,
        }
    }
}

/// Whether a ref is a branch or a tag (`ref_type`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum RefType {
    /// `refs/heads/…`.
    Branch,
    /// `refs/tags/…`.
    Tag,
}

impl RefType {
    /// The name GitHub's `ref_type` claim and the API use.
    pub fn as_str(self) -> &'static str {
        match self {
            RefType::Branch => "branch",
            RefType::Tag => "tag",
        }
    }

    /// Parses [`as_str`](Self::as_str)'s output.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "branch" => Some(RefType::Branch),
            "tag" => Some(RefType::Tag),
            _ => None,
        }
    }
}

/// The events denied unless a policy lists them in `allowed_events`: they run
/// code a pull request proposes (`pull_request_target` even with the base
/// repository's secrets and token permissions).
pub const PULL_REQUEST_EVENTS: &[&str] = &[
    "pull_request",
    "pull_request_target",
    "pull_request_review",
    "pull_request_review_comment",
];

/// A stored trust policy: which workflows may exchange their OIDC token, and
/// for what. Every condition that is set must hold; the claims are compared
/// one by one, never through `sub`, whose format GitHub lets repositories
/// customise.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TrustPolicy {
    /// The policy's id.
    pub id: TrustPolicyId,
    /// The tenant that trusts.
    pub tenant_id: TenantId,
    /// The token issuer.
    pub provider: Provider,
    /// `owner/name`; the owner is literal, the name may be a pattern (`*`).
    pub repository: String,
    /// The agent tokens are issued for; `None`: bootstrap (a token with
    /// `agents:write` for the tenant).
    pub agent_id: Option<AgentId>,
    /// `repository_id` required, given or pinned on first use.
    pub repository_id: Option<String>,
    /// `repository_owner_id` required, given or pinned on first use.
    pub repository_owner_id: Option<String>,
    /// When the ids above were pinned by a first exchange (trust on first use).
    pub pinned_at: Option<OffsetDateTime>,
    /// Branch name pattern (`main`, `release/*`); implies a branch ref.
    pub branch: Option<String>,
    /// Pattern over the full ref (`refs/tags/v*`).
    pub ref_pattern: Option<String>,
    /// Branch or tag.
    pub ref_type: Option<RefType>,
    /// Deployment environment pattern.
    pub environment: Option<String>,
    /// Pattern over `job_workflow_ref` (the reusable workflow that runs the job).
    pub job_workflow_ref: Option<String>,
    /// Only these events (`None`: any event but the denied ones).
    pub allowed_events: Option<Vec<String>>,
    /// Never these events (pull-request events are denied anyway unless allowed).
    pub denied_events: Vec<String>,
    /// Free text for the operators.
    pub description: String,
    /// For a bootstrap policy: the most an agent registered through it may
    /// hold (empty: no scope at all). Checked at registration, never put in
    /// the token.
    pub max_scopes: Vec<String>,
    /// Provider `oidc`: the issuer trusted and the conditions on its
    /// tokens (the GitHub fields are then unset, `repository` empty).
    pub issuer: Option<IssuerTrust>,
    /// When it was created.
    pub created_at: OffsetDateTime,
}

impl TrustPolicy {
    /// The repository's owner as stores index it: ASCII lower case.
    pub fn owner_key(&self) -> String {
        owner_key(&self.repository)
    }

    /// Whether the repository is one name rather than a pattern: only then is
    /// its `repository_id` pinned on first use.
    pub fn names_one_repository(&self) -> bool {
        !glob::is_pattern(&self.repository)
    }

    /// The ids a first exchange by `claims` would pin: `(repository_id,
    /// repository_owner_id)`, each `None` when already set. `None` when
    /// nothing is left to pin.
    pub(crate) fn pins_for(&self, claims: &GitHubClaims) -> Option<(Option<String>, Option<String>)> {
        let repo = (self.repository_id.is_none() && self.names_one_repository()).then(|| claims.repository_id.clone());
        let owner = self
            .repository_owner_id
            .is_none()
            .then(|| claims.repository_owner_id.clone());
        (repo.is_some() || owner.is_some()).then_some((repo, owner))
    }
}

/// The owner part of `owner/name`, in ASCII lower case.
pub fn owner_key(repository: &str) -> String {
    repository
        .split_once('/')
        .map_or(repository, |(owner, _)| owner)
        .to_ascii_lowercase()
}

/// The claims of a GitHub Actions OIDC token that policies look at. The
/// token carries more (`sub`, `sha`, `actor`…); `sub` is deliberately not
/// used for matching.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct GitHubClaims {
    /// `owner/name`.
    pub repository: String,
    /// The repository's numeric id, as a string.
    pub repository_id: String,
    /// The owner's login.
    pub repository_owner: String,
    /// The owner's numeric id, as a string.
    pub repository_owner_id: String,
    /// `refs/heads/main`, `refs/tags/v1`, `refs/pull/7/merge`.
    #[serde(rename = "ref", default)]
    pub git_ref: Option<String>,
    /// `branch` or `tag`.
    #[serde(default)]
    pub ref_type: Option<String>,
    /// The job's deployment environment.
    #[serde(default)]
    pub environment: Option<String>,
    /// `owner/repo/.github/workflows/file.yml@ref` of the workflow running the job.
    #[serde(default)]
    pub job_workflow_ref: Option<String>,
    /// The event that triggered the run (`push`, `pull_request_target`…).
    #[serde(default)]
    pub event_name: Option<String>,
    /// The subject, kept for audit only.
    #[serde(default)]
    pub sub: Option<String>,
    /// The run's id, for audit.
    #[serde(default)]
    pub run_id: Option<String>,
    /// Who triggered the run, for audit.
    #[serde(default)]
    pub actor: Option<String>,
}

impl GitHubClaims {
    /// The branch name of a `refs/heads/…` ref.
    pub fn branch(&self) -> Option<&str> {
        self.git_ref.as_deref()?.strip_prefix("refs/heads/")
    }
}

/// The first reason a policy does not admit a set of claims.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Failure {
    /// The condition, as the API names it (`repository`, `branch`, `eventName`…).
    pub condition: &'static str,
    /// What the policy allows.
    pub allowed: serde_json::Value,
    /// What the token presented (`null` when the claim is missing).
    pub provided: serde_json::Value,
}

fn fail(condition: &'static str, allowed: impl Into<serde_json::Value>, provided: Option<&str>) -> Failure {
    Failure {
        condition,
        allowed: allowed.into(),
        provided: provided.map_or(serde_json::Value::Null, Into::into),
    }
}

/// `Some(pattern)` must match `claim`.
fn pattern_holds(pattern: Option<&str>, claim: Option<&str>, fold_case: bool) -> bool {
    match pattern {
        None => true,
        Some(p) => claim.is_some_and(|c| c.len() <= 1024 && glob::matches(p, c, fold_case)),
    }
}

/// Every condition of `policy` that `claims` fail, in the order they are
/// checked; empty when the policy admits them.
pub fn evaluate(policy: &TrustPolicy, claims: &GitHubClaims) -> Vec<Failure> {
    let mut failures = Vec::new();
    if !pattern_holds(Some(&policy.repository), Some(&claims.repository), true) {
        failures.push(fail("repository", policy.repository.as_str(), Some(&claims.repository)));
    }
    if let Some(id) = &policy.repository_id
        && *id != claims.repository_id
    {
        failures.push(fail("repositoryId", id.as_str(), Some(&claims.repository_id)));
    }
    if let Some(id) = &policy.repository_owner_id
        && *id != claims.repository_owner_id
    {
        failures.push(fail(
            "repositoryOwnerId",
            id.as_str(),
            Some(&claims.repository_owner_id),
        ));
    }
    if !pattern_holds(policy.environment.as_deref(), claims.environment.as_deref(), true) {
        let allowed = policy.environment.as_deref().unwrap_or_default();
        failures.push(fail("environment", allowed, claims.environment.as_deref()));
    }
    if let Some(ref_type) = policy.ref_type
        && claims.ref_type.as_deref() != Some(ref_type.as_str())
    {
        failures.push(fail("refType", ref_type.as_str(), claims.ref_type.as_deref()));
    }
    if let Some(branch) = &policy.branch
        && !pattern_holds(Some(branch), claims.branch(), false)
    {
        let provided = claims.branch().or(claims.git_ref.as_deref());
        failures.push(fail("branch", branch.as_str(), provided));
    }
    if !pattern_holds(policy.ref_pattern.as_deref(), claims.git_ref.as_deref(), false) {
        let allowed = policy.ref_pattern.as_deref().unwrap_or_default();
        failures.push(fail("ref", allowed, claims.git_ref.as_deref()));
    }
    if !pattern_holds(
        policy.job_workflow_ref.as_deref(),
        claims.job_workflow_ref.as_deref(),
        false,
    ) {
        let allowed = policy.job_workflow_ref.as_deref().unwrap_or_default();
        failures.push(fail("jobWorkflowRef", allowed, claims.job_workflow_ref.as_deref()));
    }
    if let Some(why) = event_refused(policy, claims.event_name.as_deref()) {
        failures.push(fail("eventName", why, claims.event_name.as_deref()));
    }
    failures
}

/// Why the event is refused, as the `allowed` of the failure.
fn event_refused(policy: &TrustPolicy, event: Option<&str>) -> Option<serde_json::Value> {
    let listed = |list: &[String], e: &str| list.iter().any(|x| x == e);
    let allowed = || match &policy.allowed_events {
        Some(list) => serde_json::json!(list),
        None => serde_json::json!({ "denied": denied_events(policy) }),
    };
    let Some(event) = event else {
        return Some(allowed());
    };
    let refused = match &policy.allowed_events {
        Some(list) => !listed(list, event),
        None => PULL_REQUEST_EVENTS.contains(&event),
    } || listed(&policy.denied_events, event);
    refused.then(allowed)
}

/// The events the policy refuses when it allows no list of its own.
fn denied_events(policy: &TrustPolicy) -> Vec<String> {
    let mut denied: Vec<String> = PULL_REQUEST_EVENTS.iter().map(|s| (*s).to_owned()).collect();
    for e in &policy.denied_events {
        if !denied.contains(e) {
            denied.push(e.clone());
        }
    }
    denied
}

/// What creating a trust policy takes.
#[derive(Clone, Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct NewTrustPolicy {
    /// `github`.
    pub provider: Option<String>,
    /// `owner/name` or `owner/pattern`.
    pub repository: Option<String>,
    /// The agent to issue tokens for; absent: bootstrap.
    pub agent_id: Option<AgentId>,
    /// Required `repository_id` (a string of digits or a number).
    pub repository_id: Option<serde_json::Value>,
    /// Required `repository_owner_id`.
    pub repository_owner_id: Option<serde_json::Value>,
    /// Branch name pattern.
    pub branch: Option<String>,
    /// Full-ref pattern.
    #[serde(rename = "ref")]
    pub ref_pattern: Option<String>,
    /// `branch` or `tag`.
    pub ref_type: Option<String>,
    /// Environment pattern.
    pub environment: Option<String>,
    /// `job_workflow_ref` pattern.
    pub job_workflow_ref: Option<String>,
    /// Only these events.
    pub allowed_events: Option<Vec<String>>,
    /// Never these events.
    pub denied_events: Option<Vec<String>>,
    /// Free text.
    pub description: Option<String>,
    /// Bootstrap policies only: the scopes agents registered through the
    /// policy may be given (default none).
    pub max_scopes: Option<Vec<String>>,
    /// Provider `oidc`: the issuer URL (`iss`), https.
    pub issuer: Option<String>,
    /// Provider `oidc`: the audience its tokens carry (default: this IdP's issuer URL).
    pub audience: Option<String>,
    /// Provider `oidc`: pattern over `sub`.
    pub subject: Option<String>,
    /// Provider `oidc`: patterns over named claims.
    pub claims: Option<std::collections::BTreeMap<String, String>>,
}

/// A GitHub owner (user or organisation) login: letters, digits and `-`.
fn valid_owner(owner: &str) -> bool {
    (1..=39).contains(&owner.len()) && owner.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
}

/// A repository name, possibly with `*`.
fn valid_repo_name(name: &str) -> bool {
    (1..=100).contains(&name.len()) && name.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_.*".contains(&b))
}

fn valid_pattern(p: &str) -> bool {
    !p.is_empty() && p.chars().count() <= glob::MAX_PATTERN && p.chars().all(|c| !c.is_control())
}

fn valid_event(e: &str) -> bool {
    (1..=64).contains(&e.len()) && e.bytes().all(|b| b.is_ascii_lowercase() || b == b'_')
}

/// A numeric GitHub id given as a string of digits or a JSON number.
fn numeric_id(v: &mut Validator, field: &str, value: Option<serde_json::Value>) -> Option<String> {
    let id = match value? {
        serde_json::Value::String(s) => s,
        serde_json::Value::Number(n) if n.is_u64() => n.to_string(),
        _ => String::new(),
    };
    let ok = (1..=20).contains(&id.len()) && id.bytes().all(|b| b.is_ascii_digit());
    v.check(ok, field, "must be GitHub's numeric id, e.g. \"123456789\"");
    ok.then_some(id)
}

impl NewTrustPolicy {
    /// Validates the request, reporting every bad field, and builds the record.
    #[cfg(test)]
    pub(crate) fn into_policy(self, tenant: TenantId) -> Result<TrustPolicy, crate::Error> {
        self.into_policy_with(tenant, false)
    }

    /// [`into_policy`](Self::into_policy); `allow_private_networks` lets an
    /// `oidc` issuer be on loopback or a private network (tests only).
    pub(crate) fn into_policy_with(
        self,
        tenant: TenantId,
        allow_private_networks: bool,
    ) -> Result<TrustPolicy, crate::Error> {
        if self.provider.as_deref() == Some("oidc") {
            return self.into_issuer_policy(tenant, allow_private_networks);
        }
        let mut v = Validator::default();
        for (field, given) in [
            ("issuer", self.issuer.is_some()),
            ("audience", self.audience.is_some()),
            ("subject", self.subject.is_some()),
            ("claims", self.claims.is_some()),
        ] {
            v.check(!given, field, "belongs to provider oidc only");
        }
        let provider = match self.provider.as_deref() {
            None => {
                v.push("provider", "is required (\"github\" or \"oidc\")");
                Provider::GitHub
            }
            Some(p) => Provider::parse(p).unwrap_or_else(|| {
                v.push("provider", "must be \"github\" or \"oidc\"");
                Provider::GitHub
            }),
        };
        let repository = self.repository.unwrap_or_default();
        match repository.split_once('/') {
            Some((owner, name)) if valid_owner(owner) && valid_repo_name(name) => {}
            _ if repository.is_empty() => v.push("repository", "is required (\"owner/name\")"),
            _ => v.push(
                "repository",
                "must be \"owner/name\": a literal owner, and a name that may use * (\"acme/*\")",
            ),
        }
        let repository_id = numeric_id(&mut v, "repositoryId", self.repository_id);
        let repository_owner_id = numeric_id(&mut v, "repositoryOwnerId", self.repository_owner_id);
        if repository_id.is_some() {
            v.check(
                !glob::is_pattern(&repository),
                "repositoryId",
                "names one repository; the repository must not be a pattern",
            );
        }
        for (field, value) in [
            ("branch", &self.branch),
            ("ref", &self.ref_pattern),
            ("environment", &self.environment),
            ("jobWorkflowRef", &self.job_workflow_ref),
        ] {
            if let Some(value) = value {
                v.check(
                    valid_pattern(value),
                    field,
                    format!("must be 1 to {} characters", glob::MAX_PATTERN),
                );
            }
        }
        if let Some(branch) = &self.branch {
            v.check(
                !branch.starts_with("refs/"),
                "branch",
                "is a branch name such as main or release/*; use ref for a full ref",
            );
        }
        if let Some(r) = &self.ref_pattern {
            v.check(r.starts_with("refs/"), "ref", "must be a full ref such as refs/tags/v*");
        }
        let ref_type = self.ref_type.as_deref().and_then(|t| {
            let parsed = RefType::parse(t);
            v.check(parsed.is_some(), "refType", "must be branch or tag");
            parsed
        });
        if self.branch.is_some() {
            v.check(
                ref_type != Some(RefType::Tag),
                "refType",
                "a policy with a branch only admits branch refs",
            );
        }
        for (field, list) in [
            ("allowedEvents", &self.allowed_events),
            ("deniedEvents", &self.denied_events),
        ] {
            for (i, e) in list.iter().flatten().enumerate() {
                v.check(
                    valid_event(e),
                    &format!("{field}[{i}]"),
                    "must be a GitHub event name such as push",
                );
            }
            v.check(list.as_ref().is_none_or(|l| l.len() <= 64), field, "at most 64 events");
        }
        if let Some(allowed) = &self.allowed_events {
            v.check(
                !allowed.is_empty(),
                "allowedEvents",
                "must list at least one event, or be left out",
            );
        }
        let max_scopes = self.max_scopes.unwrap_or_default();
        crate::agent::check_scopes(&mut v, "maxScopes", &max_scopes);
        if self.agent_id.is_some() {
            v.check(
                max_scopes.is_empty(),
                "maxScopes",
                "only bootstrap policies (without agentId) take maxScopes; an agent policy issues its agent's scopes",
            );
        }
        let description = checked_description(&mut v, self.description);
        v.finish()?;
        Ok(TrustPolicy {
            id: TrustPolicyId::new(),
            tenant_id: tenant,
            provider,
            repository,
            agent_id: self.agent_id,
            repository_id,
            repository_owner_id,
            pinned_at: None,
            branch: self.branch,
            ref_pattern: self.ref_pattern,
            ref_type,
            environment: self.environment,
            job_workflow_ref: self.job_workflow_ref,
            allowed_events: self.allowed_events,
            denied_events: self.denied_events.unwrap_or_default(),
            description,
            max_scopes,
            issuer: None,
            created_at: crate::time::now(),
        })
    }

    /// A policy of provider `oidc`: an issuer, its conditions, and the agent
    /// it issues tokens for (always one agent: no bootstrap).
    fn into_issuer_policy(self, tenant: TenantId, allow_private_networks: bool) -> Result<TrustPolicy, crate::Error> {
        let mut v = Validator::default();
        for (field, given) in [
            ("repository", self.repository.is_some()),
            ("repositoryId", self.repository_id.is_some()),
            ("repositoryOwnerId", self.repository_owner_id.is_some()),
            ("branch", self.branch.is_some()),
            ("ref", self.ref_pattern.is_some()),
            ("refType", self.ref_type.is_some()),
            ("environment", self.environment.is_some()),
            ("jobWorkflowRef", self.job_workflow_ref.is_some()),
            ("allowedEvents", self.allowed_events.is_some()),
            ("deniedEvents", self.denied_events.is_some()),
            ("maxScopes", self.max_scopes.is_some()),
        ] {
            v.check(!given, field, "belongs to provider github only");
        }
        v.check(
            self.agent_id.is_some(),
            "agentId",
            "is required for provider oidc: the agent its tokens become",
        );
        let trust = IssuerTrust::validate(
            &mut v,
            self.issuer,
            self.audience,
            self.subject,
            self.claims,
            allow_private_networks,
        );
        let description = checked_description(&mut v, self.description);
        v.finish()?;
        Ok(TrustPolicy {
            id: TrustPolicyId::new(),
            tenant_id: tenant,
            provider: Provider::Oidc,
            repository: String::new(),
            agent_id: self.agent_id,
            repository_id: None,
            repository_owner_id: None,
            pinned_at: None,
            branch: None,
            ref_pattern: None,
            ref_type: None,
            environment: None,
            job_workflow_ref: None,
            allowed_events: None,
            denied_events: Vec::new(),
            description,
            max_scopes: Vec::new(),
            issuer: trust,
            created_at: crate::time::now(),
        })
    }
}

/// A policy's description (empty when left out), at most 1000 characters.
fn checked_description(v: &mut Validator, description: Option<String>) -> String {
    let description = description.unwrap_or_default();
    v.check(
        description.chars().count() <= 1_000,
        "description",
        "must be at most 1000 characters",
    );
    description
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(body: serde_json::Value) -> TrustPolicy {
        let new: NewTrustPolicy = serde_json::from_value(body).expect("shape");
        new.into_policy(TenantId::new()).expect("valid")
    }

    fn claims() -> GitHubClaims {
        GitHubClaims {
            repository: "acme/app".into(),
            repository_id: "101".into(),
            repository_owner: "acme".into(),
            repository_owner_id: "7".into(),
            git_ref: Some("refs/heads/main".into()),
            ref_type: Some("branch".into()),
            event_name: Some("push".into()),
            job_workflow_ref: Some("acme/app/.github/workflows/ci.yml@refs/heads/main".into()),
            ..GitHubClaims::default()
        }
    }

    fn first(p: &TrustPolicy, c: &GitHubClaims) -> Option<&'static str> {
        evaluate(p, c).first().map(|f| f.condition)
    }

    #[test]
    fn conditions_are_checked_claim_by_claim() {
        let p = policy(serde_json::json!({"provider": "github", "repository": "Acme/App", "branch": "main"}));
        assert_eq!(first(&p, &claims()), None, "owner and name compare case-insensitively");
        let mut c = claims();
        c.git_ref = Some("refs/heads/dev".into());
        assert_eq!(evaluate(&p, &c), vec![fail("branch", "main", Some("dev"))]);
        c.git_ref = Some("refs/tags/main".into());
        assert_eq!(
            first(&p, &c),
            Some("branch"),
            "a tag named like the branch is no branch"
        );
        let mut c = claims();
        c.repository = "acme/app-evil".into();
        assert_eq!(first(&p, &c), Some("repository"));
    }

    #[test]
    fn pull_request_events_need_asking_for() {
        let p = policy(serde_json::json!({"provider": "github", "repository": "acme/*"}));
        let mut c = claims();
        for e in PULL_REQUEST_EVENTS {
            c.event_name = Some((*e).into());
            assert_eq!(first(&p, &c), Some("eventName"), "{e}");
        }
        c.event_name = None;
        assert_eq!(first(&p, &c), Some("eventName"), "no event claim: refused");
        let p = policy(serde_json::json!({
            "provider": "github", "repository": "acme/*",
            "allowedEvents": ["pull_request"], "deniedEvents": ["push"]
        }));
        c.event_name = Some("pull_request".into());
        assert_eq!(first(&p, &c), None);
        c.event_name = Some("push".into());
        assert_eq!(first(&p, &c), Some("eventName"));
    }

    #[test]
    fn stricter_conditions() {
        let p = policy(serde_json::json!({
            "provider": "github", "repository": "acme/app", "repositoryId": 101, "repositoryOwnerId": "7",
            "environment": "prod*", "refType": "tag", "ref": "refs/tags/v*",
            "jobWorkflowRef": "acme/app/.github/workflows/release.yml@refs/tags/*"
        }));
        let mut c = claims();
        assert_eq!(
            evaluate(&p, &c).iter().map(|f| f.condition).collect::<Vec<_>>(),
            ["environment", "refType", "ref", "jobWorkflowRef"]
        );
        c.environment = Some("Production".into());
        c.ref_type = Some("tag".into());
        c.git_ref = Some("refs/tags/v2".into());
        c.job_workflow_ref = Some("acme/app/.github/workflows/release.yml@refs/tags/v2".into());
        assert_eq!(first(&p, &c), None);
        c.repository_id = "999".into();
        assert_eq!(first(&p, &c), Some("repositoryId"));
    }

    #[test]
    fn bad_policies_name_each_field() {
        let new: NewTrustPolicy = serde_json::from_value(serde_json::json!({
            "provider": "gitlab", "repository": "*/app", "branch": "refs/heads/main",
            "repositoryId": "12a", "refType": "commit", "allowedEvents": ["Push"]
        }))
        .expect("shape");
        let Err(crate::Error::Validation(fields)) = new.into_policy(TenantId::new()) else {
            panic!("invalid");
        };
        let names: Vec<&str> = fields.iter().map(|f| f.field.as_str()).collect();
        assert_eq!(
            names,
            [
                "provider",
                "repository",
                "repositoryId",
                "branch",
                "refType",
                "allowedEvents[0]"
            ]
        );
    }

    #[test]
    fn what_a_first_exchange_pins() {
        let one = policy(serde_json::json!({"provider": "github", "repository": "acme/app"}));
        assert_eq!(one.pins_for(&claims()), Some((Some("101".into()), Some("7".into()))));
        let many = policy(serde_json::json!({"provider": "github", "repository": "acme/*"}));
        assert_eq!(many.pins_for(&claims()), Some((None, Some("7".into()))));
        let given = policy(serde_json::json!({
            "provider": "github", "repository": "acme/app", "repositoryId": "101", "repositoryOwnerId": "7"
        }));
        assert_eq!(given.pins_for(&claims()), None);
    }
}
