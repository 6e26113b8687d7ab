//! Conformance cases of [`AgentKeyStore`](sentryagent_core::store::AgentKeyStore)
//! and [`DirectoryStore`](sentryagent_core::store::DirectoryStore): agents'
//! public keys, DID subjects and the marketplace query.

use std::sync::Arc;

use sentryagent_core::agent::{Agent, AgentStatus};
use sentryagent_core::did::{AgentKey, DidSubject};
use sentryagent_core::federation::BOOTSTRAP_AGENT_NAME;
use sentryagent_core::marketplace::{MarketplaceAgent, MarketplaceQuery};
use sentryagent_core::tenant::ADMIN_AGENT_NAME;
use sentryagent_core::{AgentId, StoreErrorKind, TenantId, time};
use serde_json::json;

use super::{TestStore, agent, tenant};

fn agent_key(agent: &Agent, id: &str, created_at: ::time::OffsetDateTime) -> AgentKey {
    AgentKey {
        id: id.to_owned(),
        tenant_id: agent.tenant_id,
        agent_id: agent.id,
        jwk: json!({"kty": "OKP", "crv": "Ed25519", "x": id, "kid": id})
            .as_object()
            .cloned()
            .unwrap_or_default(),
        created_at,
    }
}

/// Agents' public keys round-trip oldest first, conflict on a duplicate id
/// per agent, stay in their tenant, and delete one at a time; the DID
/// subject (status and keys) is found by agent id alone, decommissioned
/// agents included.
pub async fn agent_keys_and_did_subjects<S: TestStore>(store: Arc<S>) {
    let (t, other) = (TenantId::new(), TenantId::new());
    let bot = agent(t, "bot@acme.example", "Signs things");
    let twin = agent(t, "twin@acme.example", "");
    store.insert_agent(&bot).await.expect("insert");
    store.insert_agent(&twin).await.expect("insert");
    let now = time::now();
    let later = agent_key(&bot, "key-b", now);
    let earlier = agent_key(&bot, "key-a", now - ::time::Duration::seconds(5));
    let same_time = agent_key(&bot, "key-c", now);
    for k in [&later, &earlier, &same_time] {
        store.insert_agent_key(k).await.expect("insert key");
    }
    let dup = store.insert_agent_key(&later).await.expect_err("duplicate id");
    assert_eq!(dup.kind(), StoreErrorKind::Conflict);
    store
        .insert_agent_key(&agent_key(&twin, "key-b", now))
        .await
        .expect("the same key id on another agent");
    let keys = store.agent_keys(t, bot.id).await.expect("keys");
    assert_eq!(
        keys,
        vec![earlier.clone(), later.clone(), same_time.clone()],
        "oldest first, then id"
    );
    assert!(
        store.agent_keys(other, bot.id).await.expect("keys").is_empty(),
        "tenant scoping"
    );
    assert!(
        !store.delete_agent_key(other, bot.id, "key-a").await.expect("delete"),
        "tenant scoping"
    );
    assert!(store.delete_agent_key(t, bot.id, "key-a").await.expect("delete"));
    assert!(!store.delete_agent_key(t, bot.id, "key-a").await.expect("delete twice"));
    assert_eq!(
        store.agent_keys(t, bot.id).await.expect("keys"),
        vec![later.clone(), same_time.clone()]
    );
    assert_eq!(store.agent_keys(t, twin.id).await.expect("keys").len(), 1);

    let subject = store.did_subject(bot.id).await.expect("subject").expect("present");
    assert_eq!(
        subject,
        DidSubject {
            agent_id: bot.id,
            tenant_id: t,
            status: AgentStatus::Active,
            keys: vec![later, same_time],
        }
    );
    let mut gone = bot.clone();
    gone.status = AgentStatus::Decommissioned;
    store.update_agent(&gone).await.expect("update");
    let subject = store
        .did_subject(bot.id)
        .await
        .expect("subject")
        .expect("still present");
    assert_eq!(subject.status, AgentStatus::Decommissioned);
    let keyless = store.did_subject(twin.id).await.expect("subject").expect("present");
    assert_eq!(keyless.keys.len(), 1);
    assert_eq!(store.did_subject(AgentId::new()).await.expect("subject"), None);
}

fn ids(page: &[MarketplaceAgent]) -> Vec<AgentId> {
    page.iter().map(|a| a.id).collect()
}

fn market(q: Option<&str>, capability: Option<&str>) -> MarketplaceQuery {
    MarketplaceQuery {
        q: q.map(str::to_owned),
        capability: capability.map(str::to_owned),
        after: None,
        limit: 100,
    }
}

/// The marketplace searches each word of `q` in the name or description
/// (case-insensitive, literal), filters by an exact capability, spans
/// tenants, and names each agent's tenant.
pub async fn marketplace_searches_name_and_description<S: TestStore>(store: Arc<S>) {
    let (acme, globex) = (tenant("Acme Robotics"), tenant("Globex"));
    store.insert_tenant(&acme).await.expect("tenant");
    store.insert_tenant(&globex).await.expect("tenant");
    let mut deployer = agent(
        acme.id,
        "deployer@acme.example",
        "Deploys services to Kubernetes clusters",
    );
    deployer.capabilities = vec!["deploy".into(), "k8s".into()];
    let mut reviewer = agent(
        globex.id,
        "reviewer@globex.example",
        "Reviews pull requests for 100% coverage",
    );
    reviewer.capabilities = vec!["review".into()];
    let mut translator = agent(globex.id, "kube-translator@globex.example", "Translates documents");
    translator.capabilities = vec!["translate".into(), "deploy-docs".into()];
    for a in [&deployer, &reviewer, &translator] {
        store.insert_agent(a).await.expect("insert");
    }
    let search = |q: Option<&'static str>, c: Option<&'static str>| {
        let store = store.clone();
        async move { ids(&store.marketplace_agents(&market(q, c)).await.expect("search")) }
    };
    assert_eq!(
        search(None, None).await,
        vec![deployer.id, reviewer.id, translator.id],
        "id order"
    );
    assert_eq!(
        search(Some("kubernetes"), None).await,
        vec![deployer.id],
        "a word of the description"
    );
    assert_eq!(
        search(Some("KUBE"), None).await,
        vec![deployer.id, translator.id],
        "name or description"
    );
    assert_eq!(
        search(Some("deploys  clusters"), None).await,
        vec![deployer.id],
        "every word"
    );
    assert!(
        search(Some("deploys reviews"), None).await.is_empty(),
        "words are AND-ed"
    );
    assert_eq!(search(Some("100%"), None).await, vec![reviewer.id], "`%` is literal");
    assert!(search(Some("1_0"), None).await.is_empty(), "`_` is literal");
    assert!(search(Some("%"), Some("deploy")).await.is_empty());
    assert_eq!(
        search(None, Some("deploy")).await,
        vec![deployer.id],
        "exact capability"
    );
    assert!(search(None, Some("Deploy")).await.is_empty(), "capabilities are exact");
    assert_eq!(
        search(Some("translates"), Some("deploy-docs")).await,
        vec![translator.id]
    );
    assert!(search(Some("kubernetes"), Some("review")).await.is_empty());

    let all = store.marketplace_agents(&market(None, None)).await.expect("list");
    let names: Vec<(&str, &str)> = all.iter().map(|a| (a.name.as_str(), a.tenant_name.as_str())).collect();
    assert_eq!(
        names,
        [
            ("deployer@acme.example", "Acme Robotics"),
            ("reviewer@globex.example", "Globex"),
            ("kube-translator@globex.example", "Globex"),
        ]
    );
    assert_eq!(all[0].description, deployer.description);
    assert_eq!(all[0].capabilities, deployer.capabilities);
    assert_eq!(all[0].created_at, deployer.created_at);
    assert_eq!(
        store.marketplace_agent(reviewer.id).await.expect("get"),
        Some(MarketplaceAgent::new(&reviewer, "Globex"))
    );
}

/// Only active, listed agents are in the marketplace: opting out,
/// suspension and decommission hide an agent (and opting back in or
/// reactivating shows it again); built-in agents (a tenant's admin, its
/// OIDC bootstrap agent) and agents of a missing tenant are never listed.
pub async fn marketplace_lists_only_listed_active_agents<S: TestStore>(store: Arc<S>) {
    let t = tenant("Acme");
    store.insert_tenant(&t).await.expect("tenant");
    let shown = agent(t.id, "shown@acme.example", "visible helper");
    let mut opted_out = agent(t.id, "private@acme.example", "hidden helper");
    opted_out.listed = false;
    let suspended = agent(t.id, "suspended@acme.example", "paused helper");
    let retired = agent(t.id, "retired@acme.example", "retired helper");
    let admin = agent(t.id, ADMIN_AGENT_NAME, "The tenant's built-in administrator helper");
    let bootstrap = agent(t.id, BOOTSTRAP_AGENT_NAME, "CI bootstrap helper");
    let orphan = agent(TenantId::new(), "orphan@nowhere.example", "helper without a tenant");
    for a in [&shown, &opted_out, &suspended, &retired, &admin, &bootstrap, &orphan] {
        store.insert_agent(a).await.expect("insert");
    }
    assert!(
        !store
            .agent(t.id, opted_out.id)
            .await
            .expect("get")
            .expect("present")
            .listed,
        "listed round-trips"
    );
    let mut s = suspended.clone();
    s.status = AgentStatus::Suspended;
    store.update_agent(&s).await.expect("suspend");
    let mut r = retired.clone();
    r.status = AgentStatus::Decommissioned;
    store.update_agent(&r).await.expect("decommission");
    let listed = |q: Option<&'static str>| {
        let store = store.clone();
        async move { ids(&store.marketplace_agents(&market(q, None)).await.expect("list")) }
    };
    assert_eq!(listed(None).await, vec![shown.id]);
    assert_eq!(listed(Some("helper")).await, vec![shown.id]);
    for hidden in [
        opted_out.id,
        suspended.id,
        retired.id,
        admin.id,
        bootstrap.id,
        orphan.id,
    ] {
        assert_eq!(store.marketplace_agent(hidden).await.expect("get"), None);
    }
    assert_eq!(store.marketplace_agent(AgentId::new()).await.expect("get"), None);

    // Opting out hides at once; opting back in and reactivating show again.
    let mut out = shown.clone();
    out.listed = false;
    store.update_agent(&out).await.expect("opt out");
    assert!(listed(None).await.is_empty());
    assert!(!store.agent(t.id, shown.id).await.expect("get").expect("present").listed);
    store.update_agent(&shown).await.expect("opt in");
    store.update_agent(&suspended).await.expect("reactivate");
    assert_eq!(listed(None).await, vec![shown.id, suspended.id]);
}

/// Keyset pages by id: every agent present at the start is seen exactly
/// once, in order, while agents are registered between pages; the new ones
/// come after.
pub async fn marketplace_pages_stay_stable_while_agents_are_added<S: TestStore>(store: Arc<S>) {
    let t = tenant("Acme");
    store.insert_tenant(&t).await.expect("tenant");
    let mut before = Vec::new();
    for i in 0..7 {
        let a = agent(t.id, &format!("pager{i}@acme.example"), "pages");
        store.insert_agent(&a).await.expect("insert");
        before.push(a.id);
    }
    let mut seen = Vec::new();
    let mut added = Vec::new();
    let mut after = None;
    for round in 0..20 {
        let query = MarketplaceQuery {
            q: Some("PAGES".into()),
            after,
            limit: 3,
            ..MarketplaceQuery::default()
        };
        let page = ids(&store.marketplace_agents(&query).await.expect("page"));
        assert!(page.len() <= 3);
        seen.extend(page.iter().copied());
        if round < 3 {
            let a = agent(t.id, &format!("late{round}@acme.example"), "pages too");
            store.insert_agent(&a).await.expect("insert");
            added.push(a.id);
        }
        match page.last() {
            Some(last) if page.len() == 3 => after = Some(*last),
            _ => break,
        }
    }
    let mut expected = before.clone();
    expected.extend(added);
    assert_eq!(seen, expected, "each agent once, in id order, the new ones last");
}
