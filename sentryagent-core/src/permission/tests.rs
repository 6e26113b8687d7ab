//! The privilege matrix: the rule against a hand-written table of what each
//! route needs, for every scope set and every kind of target; and a
//! randomised walk of API calls by a non-admin principal that must never
//! end with more than it started with.

use std::collections::BTreeSet;

use super::*;
use crate::agent::AgentStatus;
use crate::http::{Auth, routes};
use crate::{AgentId, TenantId};

/// What each operation needs, written out by hand: the table a new route
/// must get a row in (`every_management_route_has_a_row`).
struct Row {
    operation_id: &'static str,
    scope: Option<&'static str>,
    acts_on_agent: bool,
    grants: bool,
}

const fn row(operation_id: &'static str, scope: Option<&'static str>, acts_on_agent: bool, grants: bool) -> Row {
    Row {
        operation_id,
        scope,
        acts_on_agent,
        grants,
    }
}

const READ: Option<&str> = Some("agents:read");
const WRITE: Option<&str> = Some("agents:write");
const CRED: Option<&str> = Some("credentials:write");
const TRUST: Option<&str> = Some("trust-policies:write");
const CLIENTS: Option<&str> = Some("oauth-clients:write");

const TABLE: &[Row] = &[
    row("getMyTenant", None, false, false),
    row("registerAgent", WRITE, false, true),
    row("listAgents", READ, false, false),
    row("getAgent", READ, false, false),
    row("updateAgent", WRITE, true, true),
    row("decommissionAgent", WRITE, true, false),
    row("createCredential", CRED, true, false),
    row("listCredentials", READ, false, false),
    row("rotateCredential", CRED, true, false),
    row("revokeCredential", CRED, true, false),
    row("addAgentKey", WRITE, true, false),
    row("listAgentKeys", READ, false, false),
    row("removeAgentKey", WRITE, true, false),
    row("queryAudit", Some("audit:read"), false, false),
    row("verifyAudit", Some("audit:read"), false, false),
    row("getAuditCheckpoint", Some("audit:read"), false, false),
    row("getUsage", Some("usage:read"), false, false),
    row("createCheckout", Some("billing:write"), false, false),
    row("getSubscription", Some("usage:read"), false, false),
    row("createTrustPolicy", TRUST, true, true),
    row("listTrustPolicies", TRUST, false, false),
    row("evaluateTrustPolicies", Some("admin"), false, false),
    row("getTrustPolicy", TRUST, false, false),
    row("deleteTrustPolicy", TRUST, true, false),
    row("registerOAuthClient", CLIENTS, false, false),
    row("listOAuthClients", CLIENTS, false, false),
    row("getOAuthClient", CLIENTS, false, false),
    row("updateOAuthClient", CLIENTS, false, false),
    row("deleteOAuthClient", CLIENTS, false, false),
    row("listConsents", Some("admin"), false, false),
    row("revokeConsent", Some("admin"), false, false),
    row("revokeUserConsents", Some("admin"), false, false),
    row("introspectToken", Some("tokens:introspect"), false, false),
    row("revokeToken", CRED, true, false),
];

fn operation(operation_id: &str) -> Operation {
    Operation::ALL
        .iter()
        .copied()
        .find(|op| op.operation_id() == operation_id)
        .unwrap_or_else(|| panic!("no Operation for {operation_id}"))
}

#[test]
fn every_management_route_has_a_row() {
    for route in routes().iter().filter(|r| r.auth == Auth::Bearer) {
        assert!(
            TABLE.iter().any(|r| r.operation_id == route.operation_id),
            "{route:?} has no row in the privilege matrix: add one to TABLE and an Operation"
        );
    }
    assert_eq!(TABLE.len(), Operation::ALL.len(), "one row per operation");
    for r in TABLE {
        let op = operation(r.operation_id);
        assert!(
            routes().iter().any(|route| route.operation_id == r.operation_id),
            "{} is no route",
            r.operation_id
        );
        assert_eq!(op.scope(), r.scope, "{}: scope", r.operation_id);
        assert_eq!(
            op.acts_on_agent(),
            r.acts_on_agent,
            "{}: acts on an agent",
            r.operation_id
        );
        assert_eq!(op.grants_scopes(), r.grants, "{}: grants", r.operation_id);
    }
}

const HOST: &str = "reports:read";

/// The scopes the matrix draws caller sets from: every management scope and
/// one host scope.
fn universe() -> Vec<&'static str> {
    let mut all: Vec<&str> = scope::MANAGEMENT.to_vec();
    all.push(HOST);
    all
}

fn strings(set: &BTreeSet<&str>) -> Vec<String> {
    set.iter().map(|s| (*s).to_owned()).collect()
}

fn agent(name: &str, scopes: Vec<String>) -> Agent {
    let now = crate::time::now();
    Agent {
        id: AgentId::new(),
        tenant_id: TenantId::new(),
        name: name.to_owned(),
        description: String::new(),
        capabilities: Vec::new(),
        metadata: serde_json::Map::new(),
        scopes,
        status: AgentStatus::Active,
        listed: false,
        origin: None,
        created_at: now,
        updated_at: now,
    }
}

/// The rule written from the table, plainly: what `decide` must answer.
fn oracle(r: &Row, held: &BTreeSet<&str>, target: Option<&Agent>, granting: &[String]) -> Result<(), &'static str> {
    let admin = held.contains("admin");
    if let Some(needed) = r.scope
        && !(held.contains(needed) || (admin && scope::MANAGEMENT.contains(&needed)))
    {
        return Err("route_scope");
    }
    let holds = |s: &str| admin || held.contains(s);
    if granting.iter().any(|g| !holds(g)) {
        return Err("grant_ceiling");
    }
    if let Some(t) = target.filter(|_| r.acts_on_agent) {
        if crate::marketplace::is_built_in(&t.name) && !admin {
            return Err("built_in_agent");
        }
        if t.scopes.iter().any(|s| !holds(s)) {
            return Err("target_ceiling");
        }
    }
    Ok(())
}

#[test]
fn the_rule_holds_for_every_route_scope_set_and_target() {
    let universe = universe();
    let mut checked = 0u64;
    for mask in 0u32..(1 << universe.len()) {
        let token: BTreeSet<&str> = (0..universe.len())
            .filter(|i| mask & (1 << i) != 0)
            .map(|i| universe[i])
            .collect();
        // As issued, and demoted after issue: the agent now holds only
        // `agents:read`, so its token is worth at most that.
        for now_holds in [strings(&token), vec!["agents:read".to_owned()]] {
            let effective = effective_scopes(&strings(&token), &now_holds);
            let held: BTreeSet<&str> = effective.iter().map(String::as_str).collect();
            let caller = Principal {
                scopes: &effective,
                bootstrap_ceiling: None,
            };
            let mut fewer = strings(&held);
            fewer.pop();
            let mut more = strings(&held);
            more.extend(["billing:write".to_owned(), "reports:write".to_owned()]);
            let targets = [
                None,
                Some(agent("itself@acme.example", strings(&held))),
                Some(agent("fewer@acme.example", fewer)),
                Some(agent("more@acme.example", more)),
                Some(agent(crate::tenant::ADMIN_AGENT_NAME, vec!["admin".into()])),
                Some(agent(
                    crate::federation::BOOTSTRAP_AGENT_NAME,
                    vec!["agents:write".into()],
                )),
            ];
            let grants: [Vec<String>; 4] = [
                Vec::new(),
                strings(&held),
                vec!["admin".into()],
                vec![HOST.into(), "reports:write".into()],
            ];
            for r in TABLE {
                let op = operation(r.operation_id);
                for target in &targets {
                    let target = target.as_ref().filter(|_| r.acts_on_agent);
                    for granting in grants.iter().filter(|g| r.grants || g.is_empty()) {
                        let got = decide(&caller, op, target, granting).map_err(|e| e.rule());
                        assert_eq!(
                            got,
                            oracle(r, &held, target, granting),
                            "{} by {held:?} on {:?} granting {granting:?}",
                            r.operation_id,
                            target.map(|t| (&t.name, &t.scopes)),
                        );
                        checked += 1;
                    }
                }
            }
        }
    }
    assert!(checked > 100_000, "{checked}");
}

#[test]
fn a_bootstrap_token_registers_within_its_ceiling_and_does_nothing_else() {
    let scopes = vec!["agents:write".to_owned()];
    let ceiling = vec![HOST.to_owned()];
    let bootstrap = Principal {
        scopes: &scopes,
        bootstrap_ceiling: Some(&ceiling),
    };
    let any = agent("bot@acme.example", Vec::new());
    for r in TABLE {
        let op = operation(r.operation_id);
        let target = r.acts_on_agent.then_some(&any);
        let got = decide(&bootstrap, op, target, &[]).map_err(|e| e.rule());
        let expected = match (op, r.scope) {
            (Operation::RegisterAgent, _) => Ok(()),
            (_, Some("agents:write")) => Err("bootstrap_registers_only"),
            (_, None) => Err("bootstrap_registers_only"),
            _ => Err("route_scope"),
        };
        assert_eq!(got, expected, "{}", r.operation_id);
    }
    let register = |granting: &[&str]| {
        let granting: Vec<String> = granting.iter().map(|s| (*s).to_owned()).collect();
        decide(&bootstrap, Operation::RegisterAgent, None, &granting).map_err(|e| e.rule())
    };
    assert_eq!(register(&[HOST]), Ok(()));
    assert_eq!(
        register(&["agents:write"]),
        Err("grant_ceiling"),
        "not even its own scope"
    );
    assert_eq!(register(&["admin"]), Err("grant_ceiling"));
    assert_eq!(register(&["reports:write"]), Err("grant_ceiling"));
}

#[test]
fn effective_scopes_are_what_the_agent_still_holds() {
    let s = |v: &[&str]| v.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
    assert_eq!(
        effective_scopes(&s(&["admin", HOST]), &s(&["agents:read"])),
        Vec::<String>::new()
    );
    assert_eq!(
        effective_scopes(&s(&["agents:read", HOST]), &s(&["admin"])),
        s(&["agents:read"])
    );
    assert_eq!(
        effective_scopes(&s(&["agents:read", HOST]), &s(&["admin", HOST])),
        s(&["agents:read", HOST])
    );
}

mod random_walk {
    //! Sequences of API calls by a non-admin principal, on the real
    //! services: whatever it does, no token, credential, agent or trust
    //! policy it obtains or makes holds a scope outside the set it started
    //! with.

    use std::collections::BTreeSet;

    use base64::Engine as _;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;

    use crate::agent::{AgentPatch, AgentStatus, NewAgent};
    use crate::federation::NewTrustPolicy;
    use crate::token::TokenRequest;
    use crate::{AgentId, Caller, CredentialId, SentryAgent, TenantId};

    /// xorshift64*: enough randomness for a walk, and the seed reproduces it.
    struct Rng(u64);

    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
        }

        fn below(&mut self, n: usize) -> usize {
            (self.next() % n as u64) as usize
        }

        fn subset(&mut self, from: &[&str]) -> Vec<String> {
            from.iter()
                .filter(|_| self.next().is_multiple_of(3))
                .map(|s| (*s).to_owned())
                .collect()
        }
    }

    const SCOPES: &[&str] = &[
        "admin",
        "agents:read",
        "agents:write",
        "credentials:write",
        "tokens:introspect",
        "audit:read",
        "trust-policies:write",
        "billing:write",
        "usage:read",
        "reports:read",
        "reports:write",
    ];

    struct World {
        idp: SentryAgent,
        tenant: TenantId,
        admin: Caller,
        /// The principals the walker holds: (client id, secret).
        held: Vec<(String, String)>,
        start: BTreeSet<String>,
    }

    async fn caller_of(
        idp: &SentryAgent,
        client_id: &str,
        secret: &str,
        scope: Option<String>,
    ) -> Option<(Caller, String)> {
        let mut body = format!("grant_type=client_credentials&client_id={client_id}&client_secret={secret}");
        if let Some(scope) = scope {
            body.push_str(&format!("&scope={}", scope.replace(' ', "+").replace(':', "%3A")));
        }
        let request = TokenRequest::parse(None, body.as_bytes()).ok()?;
        let token = idp.issue_token(request, None).await.ok()?.access_token;
        let identity = idp.verify_access_token(&token, None).await.ok()?;
        Some((Caller { identity, ip: None }, token))
    }

    fn token_scopes(token: &str) -> Vec<String> {
        let payload = token.split('.').nth(1).expect("a JWT");
        let claims: serde_json::Value =
            serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).expect("base64")).expect("JSON");
        claims["scope"]
            .as_str()
            .unwrap_or_default()
            .split(' ')
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .collect()
    }

    impl World {
        fn within(&self, scopes: &[String]) -> bool {
            scopes.iter().all(|s| self.start.contains(s))
        }

        async fn agents(&self) -> Vec<crate::agent::Agent> {
            let query = crate::agent::AgentQuery {
                limit: 1_000,
                ..Default::default()
            };
            self.idp.list_agents(&self.admin, &query).await.expect("agents")
        }

        async fn random_agent(&self, rng: &mut Rng) -> AgentId {
            let agents = self.agents().await;
            agents[rng.below(agents.len())].id
        }

        async fn random_credential(&self, rng: &mut Rng, agent: AgentId) -> Option<CredentialId> {
            let creds = self.idp.list_credentials(&self.admin, agent).await.ok()?;
            (!creds.is_empty()).then(|| creds[rng.below(creds.len())].id)
        }
    }

    async fn walk(seed: u64) {
        let mut rng = Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1);
        let idp = SentryAgent::builder().build().await.expect("idp");
        let t = idp.create_tenant("Acme").await.expect("tenant");
        let (admin, _) = caller_of(&idp, &t.admin_client_id, t.admin_client_secret.expose(), None)
            .await
            .expect("admin");
        // Agents the admin made, some holding more than the walker will.
        let mut originals = Vec::new();
        for i in 0..4 {
            let scopes = rng.subset(SCOPES);
            let name = format!("original{i}@acme.example");
            let made = idp
                .register_agent(
                    &admin,
                    NewAgent {
                        name,
                        scopes: scopes.clone(),
                        ..NewAgent::default()
                    },
                )
                .await
                .expect("original");
            originals.push((made.agent.id, scopes));
        }
        let start: Vec<String> = rng.subset(&SCOPES[1..]);
        let walker = idp
            .register_agent(
                &admin,
                NewAgent {
                    name: "walker@acme.example".into(),
                    scopes: start.clone(),
                    ..NewAgent::default()
                },
            )
            .await
            .expect("walker");
        let mut world = World {
            idp,
            tenant: t.tenant.id,
            admin,
            held: vec![(walker.credential.client_id.clone(), walker.secret.expose().to_owned())],
            start: start.into_iter().collect(),
        };
        for step in 0..40 {
            let (client_id, secret) = world.held[rng.below(world.held.len())].clone();
            let asked = rng
                .next()
                .is_multiple_of(2)
                .then(|| rng.subset(SCOPES).join(" "))
                .filter(|s| !s.is_empty());
            let Some((caller, token)) = caller_of(&world.idp, &client_id, &secret, asked).await else {
                continue;
            };
            assert!(
                world.within(&token_scopes(&token)),
                "seed {seed} step {step}: token {:?}",
                token_scopes(&token)
            );
            assert_eq!(caller.tenant(), world.tenant);
            let idp = world.idp.clone();
            match rng.below(7) {
                0 => {
                    let scopes = rng.subset(SCOPES);
                    let name = format!("made{seed}-{step}@acme.example");
                    if let Ok(made) = idp
                        .register_agent(
                            &caller,
                            NewAgent {
                                name,
                                scopes,
                                ..NewAgent::default()
                            },
                        )
                        .await
                    {
                        assert!(
                            world.within(&made.agent.scopes),
                            "seed {seed} step {step}: registered {:?}",
                            made.agent.scopes
                        );
                        world
                            .held
                            .push((made.credential.client_id, made.secret.expose().to_owned()));
                    }
                }
                1 => {
                    let target = world.random_agent(&mut rng).await;
                    let patch = AgentPatch {
                        scopes: Some(rng.subset(SCOPES)),
                        ..AgentPatch::default()
                    };
                    let _ = idp.update_agent(&caller, target, patch).await;
                }
                2 => {
                    let target = world.random_agent(&mut rng).await;
                    if let Ok((cred, secret)) = idp.create_credential(&caller, target, None).await {
                        world.held.push((cred.client_id, secret.expose().to_owned()));
                    }
                }
                3 => {
                    let target = world.random_agent(&mut rng).await;
                    if let Some(cred) = world.random_credential(&mut rng, target).await
                        && let Ok((cred, secret)) = idp.rotate_credential(&caller, target, cred).await
                    {
                        world.held.push((cred.client_id, secret.expose().to_owned()));
                    }
                }
                4 => {
                    let new = NewTrustPolicy {
                        provider: Some("github".into()),
                        repository: Some("acme/app".into()),
                        max_scopes: Some(rng.subset(SCOPES)),
                        ..NewTrustPolicy::default()
                    };
                    if let Ok(policy) = idp.create_trust_policy(&caller, new).await {
                        assert!(
                            world.within(&policy.max_scopes),
                            "seed {seed} step {step}: ceiling {:?}",
                            policy.max_scopes
                        );
                    }
                }
                5 => {
                    let target = world.random_agent(&mut rng).await;
                    let status = if rng.next().is_multiple_of(2) {
                        AgentStatus::Suspended
                    } else {
                        AgentStatus::Active
                    };
                    let patch = AgentPatch {
                        status: Some(status),
                        ..AgentPatch::default()
                    };
                    let _ = idp.update_agent(&caller, target, patch).await;
                }
                _ => {
                    let target = world.random_agent(&mut rng).await;
                    let _ = idp.decommission_agent(&caller, target).await;
                }
            }
            // Every agent either is an original the admin made, untouched,
            // or holds nothing outside the walker's set.
            for agent in world.agents().await {
                let original = originals.iter().find(|(id, _)| *id == agent.id);
                let untouched = original.is_some_and(|(_, scopes)| *scopes == agent.scopes);
                let built_in = crate::marketplace::is_built_in(&agent.name);
                assert!(
                    untouched || built_in || world.within(&agent.scopes),
                    "seed {seed} step {step}: {} holds {:?}, outside {:?}",
                    agent.name,
                    agent.scopes,
                    world.start
                );
                if built_in {
                    let expected = if agent.name == crate::tenant::ADMIN_AGENT_NAME {
                        "admin"
                    } else {
                        "agents:write"
                    };
                    assert_eq!(
                        agent.scopes,
                        [expected],
                        "seed {seed} step {step}: a built-in agent changed"
                    );
                    assert_eq!(
                        agent.status,
                        AgentStatus::Active,
                        "seed {seed} step {step}: {}",
                        agent.name
                    );
                }
            }
        }
    }

    #[tokio::test]
    async fn a_principal_never_ends_with_more_than_it_started_with() {
        for seed in 1..=25 {
            walk(seed).await;
        }
    }
}
