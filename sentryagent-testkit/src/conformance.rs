//! The store conformance suite: the cases every backend of the core's store
//! traits must pass, with [`MemoryStore`](sentryagent_core::MemoryStore) as
//! the reference. Stamp them with [`store_conformance!`](crate::store_conformance).
//!
//! Each case gets a fresh store from the backend's factory and uses random
//! ids, so cases may share a database.

use std::sync::Arc;

use sentryagent_core::agent::{Agent, AgentQuery, AgentStatus};
use sentryagent_core::audit::{AuditChain, AuditCut, AuditQuery, NewAuditEvent, Outcome};
use sentryagent_core::credential::{Credential, CredentialStatus};
use sentryagent_core::secret::ServerKey;
use sentryagent_core::store::{RevocationList, Store};
use sentryagent_core::tenant::Tenant;
use sentryagent_core::token::{KeyState, SigningAlgorithm, StoredKey};
use sentryagent_core::{AgentId, CredentialId, StoreErrorKind, TenantId, TokenId, time};
use serde_json::json;

mod authorization;
mod marketplace;
mod trust_policies;
pub use authorization::*;
pub use marketplace::*;
pub use trust_policies::*;

/// What a backend under test must be.
pub trait TestStore: Store + RevocationList {}
impl<T: Store + RevocationList> TestStore for T {}

fn tenant(name: &str) -> Tenant {
    Tenant {
        id: TenantId::new(),
        name: name.to_owned(),
        tier: "free".to_owned(),
        created_at: time::now(),
    }
}

fn agent(tenant: TenantId, name: &str, description: &str) -> Agent {
    let now = time::now();
    Agent {
        id: AgentId::new(),
        tenant_id: tenant,
        name: name.to_owned(),
        description: description.to_owned(),
        capabilities: vec!["build".into(), "deploy".into()],
        metadata: json!({"team": "infra", "nested": {"b": 1, "a": [true, null]}})
            .as_object()
            .cloned()
            .unwrap_or_default(),
        scopes: vec!["agents:read".into()],
        status: AgentStatus::Active,
        listed: true,
        origin: None,
        created_at: now,
        updated_at: now,
    }
}

fn credential(agent: &Agent) -> Credential {
    Credential {
        id: CredentialId::new(),
        tenant_id: agent.tenant_id,
        agent_id: agent.id,
        client_id: sentryagent_core::secret::generate_client_id(),
        secret_hash: vec![7; 32],
        status: CredentialStatus::Active,
        created_at: time::now(),
        expires_at: Some(time::now() + ::time::Duration::days(30)),
        rotated_at: None,
        revoked_at: None,
        public_key: None,
    }
}

fn event(action: &str, agent: Option<AgentId>) -> NewAuditEvent {
    let mut e = NewAuditEvent::new(action, Outcome::Success, "tester")
        .ip(Some([10, 0, 0, 1].into()))
        .detail("k", "v")
        .detail("n", 3);
    e.agent_id = agent;
    e
}

/// Tenants round-trip, conflict on a duplicate id, and page in id order.
pub async fn tenants_round_trip_and_page<S: TestStore>(store: Arc<S>) {
    let t = tenant("Acme");
    store.insert_tenant(&t).await.expect("insert");
    assert_eq!(store.tenant(t.id).await.expect("get"), Some(t.clone()));
    let dup = store.insert_tenant(&t).await.expect_err("duplicate");
    assert_eq!(dup.kind(), StoreErrorKind::Conflict);
    assert_eq!(store.tenant(TenantId::new()).await.expect("get"), None);
    let mut mine = vec![t.id];
    for i in 0..4 {
        let t = tenant(&format!("t{i}"));
        store.insert_tenant(&t).await.expect("insert");
        mine.push(t.id);
    }
    let mut all = Vec::new();
    let mut after = None;
    loop {
        let page = store.tenants(after, 2).await.expect("page");
        assert!(page.len() <= 2);
        all.extend(page.iter().map(|t| t.id));
        match page.last() {
            Some(last) if page.len() == 2 => after = Some(last.id),
            _ => break,
        }
    }
    let mut sorted = all.clone();
    sorted.sort();
    assert_eq!(all, sorted, "id order");
    for id in mine {
        assert!(all.contains(&id));
    }
}

/// Agents round-trip exactly; names are unique per tenant only; other
/// tenants see nothing; updates keep the name.
pub async fn agents_round_trip_unique_and_scoped<S: TestStore>(store: Arc<S>) {
    let (a, b) = (TenantId::new(), TenantId::new());
    let bot = agent(a, "bot@acme.example", "Builds");
    store.insert_agent(&bot).await.expect("insert");
    assert_eq!(store.agent(a, bot.id).await.expect("get"), Some(bot.clone()));
    assert_eq!(store.agent(b, bot.id).await.expect("get"), None, "tenant scoping");

    let twin = agent(a, "bot@acme.example", "Other");
    let err = store.insert_agent(&twin).await.expect_err("same name, same tenant");
    assert_eq!(err.kind(), StoreErrorKind::Conflict);
    store
        .insert_agent(&agent(b, "bot@acme.example", "Other tenant"))
        .await
        .expect("same name in another tenant");

    // An agent a CI workflow registered keeps where it came from; it is
    // written once and never changed.
    let mut from_ci = agent(a, "ci-bot@acme.example", "From CI");
    from_ci.origin = Some(sentryagent_core::agent::AgentOrigin {
        trust_policy_id: sentryagent_core::TrustPolicyId::new(),
        repository: "acme/app".into(),
        repository_id: "101".into(),
        git_ref: Some("refs/heads/main".into()),
        run_id: Some("42".into()),
    });
    store.insert_agent(&from_ci).await.expect("insert");
    assert_eq!(store.agent(a, from_ci.id).await.expect("get"), Some(from_ci.clone()));

    let mut changed = bot.clone();
    changed.name = "renamed@acme.example".into();
    changed.description = "Builds and ships".into();
    changed.capabilities = vec![];
    changed.metadata = serde_json::Map::new();
    changed.scopes = vec!["admin".into()];
    changed.status = AgentStatus::Suspended;
    changed.updated_at = time::now() + ::time::Duration::seconds(1);
    store.update_agent(&changed).await.expect("update");
    let got = store.agent(a, bot.id).await.expect("get").expect("present");
    assert_eq!(got.name, "bot@acme.example", "names never change");
    assert_eq!(got.description, "Builds and ships");
    assert_eq!(got.status, AgentStatus::Suspended);
    assert_eq!(got.scopes, vec!["admin".to_owned()]);
    assert!(got.metadata.is_empty() && got.capabilities.is_empty());
    assert_eq!(got.updated_at, changed.updated_at);
    assert_eq!(got.created_at, bot.created_at);

    // An update naming another tenant changes nothing.
    let mut foreign = got.clone();
    foreign.tenant_id = b;
    foreign.description = "hijacked".into();
    store.update_agent(&foreign).await.expect("update is a no-op");
    assert_eq!(
        store.agent(a, bot.id).await.expect("get").expect("present").description,
        "Builds and ships"
    );
}

/// Listing filters by status and text (case-insensitive, name or
/// description), pages by id, and stays inside the tenant.
pub async fn agents_list_filters_and_pages<S: TestStore>(store: Arc<S>) {
    let t = TenantId::new();
    let other = TenantId::new();
    let mut ids = Vec::new();
    for i in 0..6 {
        let description = if i % 2 == 0 { "Nightly BUILDER" } else { "writes docs" };
        let mut a = agent(t, &format!("agent{i}@acme.example"), description);
        if i == 5 {
            a.status = AgentStatus::Suspended;
        }
        store.insert_agent(&a).await.expect("insert");
        ids.push(a.id);
    }
    store
        .insert_agent(&agent(other, "agent0@acme.example", "Nightly builder"))
        .await
        .expect("insert");

    let q = |status, text: Option<&str>, after, limit| AgentQuery {
        status,
        q: text.map(str::to_owned),
        after,
        limit,
    };
    let all = store.list_agents(t, &q(None, None, None, 100)).await.expect("list");
    assert_eq!(all.iter().map(|a| a.id).collect::<Vec<_>>(), ids);
    let builders = store
        .list_agents(t, &q(None, Some("builder"), None, 100))
        .await
        .expect("list");
    assert_eq!(builders.len(), 3);
    let by_name = store
        .list_agents(t, &q(None, Some("AGENT3@"), None, 100))
        .await
        .expect("list");
    assert_eq!(by_name.iter().map(|a| a.id).collect::<Vec<_>>(), vec![ids[3]]);
    let wildcard = store
        .list_agents(t, &q(None, Some("%"), None, 100))
        .await
        .expect("list");
    assert!(wildcard.is_empty(), "the text filter is literal, not a pattern");
    let suspended = store
        .list_agents(t, &q(Some(AgentStatus::Suspended), None, None, 100))
        .await
        .expect("list");
    assert_eq!(suspended.iter().map(|a| a.id).collect::<Vec<_>>(), vec![ids[5]]);
    let page = store
        .list_agents(t, &q(None, None, Some(ids[1]), 2))
        .await
        .expect("list");
    assert_eq!(page.iter().map(|a| a.id).collect::<Vec<_>>(), vec![ids[2], ids[3]]);
    let filtered_page = store
        .list_agents(t, &q(None, Some("builder"), Some(ids[0]), 10))
        .await
        .expect("list");
    assert_eq!(
        filtered_page.iter().map(|a| a.id).collect::<Vec<_>>(),
        vec![ids[2], ids[4]]
    );
}

/// Credentials round-trip, look up by client id across tenants, update, and
/// revoke per agent without touching others.
pub async fn credentials_round_trip_update_and_revoke<S: TestStore>(store: Arc<S>) {
    let t = TenantId::new();
    let bot = agent(t, "bot@acme.example", "");
    let other_bot = agent(t, "other@acme.example", "");
    let c1 = credential(&bot);
    let c2 = credential(&bot);
    let c3 = credential(&other_bot);
    // A private_key_jwt credential: a public key and no secret.
    let jwk = serde_json::json!({"kty": "EC", "crv": "P-256", "kid": "k1",
        "x": "f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU", "y": "x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"});
    let c4 = Credential {
        secret_hash: Vec::new(),
        public_key: Some(sentryagent_core::credential::ClientKey::parse(&jwk).expect("a P-256 key")),
        ..credential(&bot)
    };
    for c in [&c1, &c2, &c3, &c4] {
        store.insert_credential(c).await.expect("insert");
    }
    assert_eq!(store.credential(t, c4.id).await.expect("get"), Some(c4.clone()));
    assert_eq!(
        store.client(&c4.client_id).await.expect("client").map(|(c, _)| c),
        Some(c4.clone()),
        "the token endpoint reads the key"
    );
    assert_eq!(store.credential(t, c1.id).await.expect("get"), Some(c1.clone()));
    assert_eq!(store.credential(TenantId::new(), c1.id).await.expect("get"), None);
    assert_eq!(
        store.credential_by_client_id(&c2.client_id).await.expect("get"),
        Some(c2.clone())
    );
    assert_eq!(store.credential_by_client_id("sa_ci_nobody").await.expect("get"), None);
    assert_eq!(store.client("sa_ci_nobody").await.expect("client"), None);
    assert_eq!(
        store.client(&c1.client_id).await.expect("client"),
        Some((c1.clone(), None)),
        "the agent was never stored"
    );
    store.insert_agent(&bot).await.expect("insert agent");
    assert_eq!(
        store.client(&c1.client_id).await.expect("client"),
        Some((c1.clone(), Some(bot.clone()))),
        "credential and agent in one read"
    );
    let mut dup = credential(&bot);
    dup.client_id = c1.client_id.clone();
    assert_eq!(
        store.insert_credential(&dup).await.expect_err("dup client id").kind(),
        StoreErrorKind::Conflict
    );
    assert_eq!(
        store.list_credentials(t, bot.id).await.expect("list"),
        vec![c1.clone(), c2.clone(), c4.clone()]
    );
    assert!(
        store
            .list_credentials(TenantId::new(), bot.id)
            .await
            .expect("list")
            .is_empty()
    );

    let mut rotated = c1.clone();
    rotated.secret_hash = vec![9; 32];
    rotated.rotated_at = Some(time::now());
    store.update_credential(&rotated).await.expect("update");
    assert_eq!(store.credential(t, c1.id).await.expect("get"), Some(rotated.clone()));

    let at = time::now();
    assert_eq!(
        store.revoke_agent_credentials(t, bot.id, at).await.expect("revoke"),
        3,
        "key credentials too"
    );
    assert_eq!(store.revoke_agent_credentials(t, bot.id, at).await.expect("revoke"), 0);
    for c in store.list_credentials(t, bot.id).await.expect("list") {
        assert_eq!(c.status, CredentialStatus::Revoked);
        assert_eq!(c.revoked_at, Some(at));
    }
    assert_eq!(
        store.credential(t, c3.id).await.expect("get").map(|c| c.status),
        Some(CredentialStatus::Active)
    );
}

/// Appends form one gap-free chain per tenant, with a checkpoint at the head;
/// queries filter, page newest first, and stay inside the tenant.
pub async fn audit_appends_chain_and_queries<S: TestStore>(store: Arc<S>) {
    let chain = AuditChain::new(ServerKey::random());
    let (t, other) = (TenantId::new(), TenantId::new());
    let (a1, a2) = (AgentId::new(), AgentId::new());
    let first = store
        .append_audit(t, vec![event("agent.created", Some(a1))], &chain)
        .await
        .expect("append");
    assert_eq!(first[0].seq, 1);
    let mut failure = event("token.denied", Some(a2));
    failure.outcome = Outcome::Failure;
    let batch = store
        .append_audit(
            t,
            vec![
                event("token.issued", Some(a1)),
                failure,
                event("token.issued", Some(a1)),
            ],
            &chain,
        )
        .await
        .expect("append");
    assert_eq!(batch.iter().map(|e| e.seq).collect::<Vec<_>>(), vec![2, 3, 4]);
    assert_eq!(batch[0].prev_hash, first[0].hash);
    store
        .append_audit(other, vec![event("agent.created", None)], &chain)
        .await
        .expect("append");

    let checkpoint = store.audit_checkpoint(t).await.expect("checkpoint").expect("present");
    assert_eq!((checkpoint.seq, checkpoint.hash), (4, batch[2].hash));
    assert_eq!(store.audit_anchor(t).await.expect("anchor"), None);
    assert_eq!(store.audit_checkpoint(TenantId::new()).await.expect("checkpoint"), None);

    let stored = store.audit_chain(t, 0, 100).await.expect("chain");
    assert_eq!(stored.iter().map(|e| e.seq).collect::<Vec<_>>(), vec![1, 2, 3, 4]);
    assert_eq!(stored[1..], batch[..], "events round-trip exactly");
    assert_eq!(store.audit_chain(t, 2, 1).await.expect("chain")[0].seq, 3);
    let mut verifier = chain.verifier(t, None, Some(checkpoint));
    for e in &stored {
        verifier.feed(e);
    }
    assert!(verifier.finish().valid);

    let query = |q: AuditQuery| {
        let store = store.clone();
        async move { store.query_audit(t, &q).await.expect("query") }
    };
    let all = query(AuditQuery {
        limit: 100,
        ..Default::default()
    })
    .await;
    assert_eq!(
        all.iter().map(|e| e.seq).collect::<Vec<_>>(),
        vec![4, 3, 2, 1],
        "newest first"
    );
    let by_agent = query(AuditQuery {
        agent_id: Some(a1),
        action: Some("token.issued".into()),
        limit: 100,
        ..Default::default()
    })
    .await;
    assert_eq!(by_agent.iter().map(|e| e.seq).collect::<Vec<_>>(), vec![4, 2]);
    let failures = query(AuditQuery {
        outcome: Some(Outcome::Failure),
        limit: 100,
        ..Default::default()
    })
    .await;
    assert_eq!(failures.iter().map(|e| e.seq).collect::<Vec<_>>(), vec![3]);
    let page = query(AuditQuery {
        before_seq: Some(4),
        limit: 2,
        ..Default::default()
    })
    .await;
    assert_eq!(page.iter().map(|e| e.seq).collect::<Vec<_>>(), vec![3, 2]);
    let window = query(AuditQuery {
        from: Some(stored[1].at),
        to: Some(stored[3].at),
        limit: 100,
        ..Default::default()
    })
    .await;
    assert!(window.iter().all(|e| e.at >= stored[1].at && e.at < stored[3].at));
    let none = query(AuditQuery {
        from: Some(time::now() + ::time::Duration::days(1)),
        limit: 100,
        ..Default::default()
    })
    .await;
    assert!(none.is_empty());
    assert_eq!(
        store
            .query_audit(
                other,
                &AuditQuery {
                    limit: 100,
                    ..Default::default()
                }
            )
            .await
            .expect("query")
            .len(),
        1
    );
}

/// Appends racing from many tasks never fork the chain or leave a gap, and
/// each append returns its events exactly as they were stored.
pub async fn audit_concurrent_appends_stay_one_chain<S: TestStore>(store: Arc<S>) {
    let chain = AuditChain::new(ServerKey::random());
    let t = TenantId::new();
    let mut tasks = Vec::new();
    for worker in 0..8 {
        let (store, chain) = (store.clone(), chain.clone());
        tasks.push(tokio::spawn(async move {
            let mut returned = Vec::new();
            for i in 0..20 {
                // One, two or three events an append.
                let events = (0..=i % 3)
                    .map(|j| {
                        event("token.issued", None)
                            .detail("w", worker)
                            .detail("i", i)
                            .detail("j", j)
                    })
                    .collect();
                returned.extend(store.append_audit(t, events, &chain).await.expect("append"));
            }
            returned
        }));
    }
    let mut returned = Vec::new();
    for task in tasks {
        returned.extend(task.await.expect("task"));
    }
    // Each worker: 20 appends of one to three events, 39 in all.
    let n = 8 * 39;
    let events = store.audit_chain(t, 0, 1_000).await.expect("chain");
    assert_eq!(
        events.iter().map(|e| e.seq).collect::<Vec<_>>(),
        (1..=n).collect::<Vec<_>>()
    );
    returned.sort_by_key(|e| e.seq);
    assert_eq!(returned, events, "what the appends returned is what was stored");
    let checkpoint = store.audit_checkpoint(t).await.expect("checkpoint");
    let mut verifier = chain.verifier(t, None, checkpoint);
    for e in &events {
        verifier.feed(e);
    }
    let result = verifier.finish();
    assert!(result.valid, "{result:?}");
    assert_eq!(result.checked, n);
}

/// Pruning deletes a prefix older than the cut and leaves a verifiable anchor.
pub async fn audit_prune_leaves_an_anchor<S: TestStore>(store: Arc<S>) {
    let chain = AuditChain::new(ServerKey::random());
    let t = TenantId::new();
    let mut old = Vec::new();
    for _ in 0..3 {
        let mut e = event("agent.created", None);
        e.at = time::now() - ::time::Duration::days(200);
        old.push(e);
    }
    store.append_audit(t, old, &chain).await.expect("append");
    store
        .append_audit(
            t,
            vec![event("token.issued", None), event("token.issued", None)],
            &chain,
        )
        .await
        .expect("append");
    let cut = AuditCut::Before(time::now() - ::time::Duration::days(90));
    assert_eq!(store.prune_audit(t, cut, &chain).await.expect("prune"), 3);
    assert_eq!(store.prune_audit(t, cut, &chain).await.expect("prune"), 0);
    assert_eq!(store.prune_audit(TenantId::new(), cut, &chain).await.expect("prune"), 0);
    let anchor = store.audit_anchor(t).await.expect("anchor").expect("present");
    assert_eq!(anchor.seq, 3);
    let rest = store.audit_chain(t, 0, 100).await.expect("chain");
    assert_eq!(rest.iter().map(|e| e.seq).collect::<Vec<_>>(), vec![4, 5]);
    let checkpoint = store.audit_checkpoint(t).await.expect("checkpoint");
    let mut verifier = chain.verifier(t, Some(&anchor), checkpoint);
    for e in &rest {
        verifier.feed(e);
    }
    assert!(verifier.finish().valid);
}

/// A bound on history keeps the newest events and anchors the cut, so the
/// rest still verifies; a tenant within the bound loses nothing.
pub async fn audit_prune_keeping_the_newest_leaves_an_anchor<S: TestStore>(store: Arc<S>) {
    let chain = AuditChain::new(ServerKey::random());
    let t = TenantId::new();
    let events = (0..7).map(|_| event("token.issued", None)).collect();
    store.append_audit(t, events, &chain).await.expect("append");
    for keep in [u64::MAX, 7] {
        let pruned = store.prune_audit(t, AuditCut::KeepNewest(keep), &chain).await;
        assert_eq!(pruned.expect("prune"), 0, "keeping {keep} of 7 prunes nothing");
    }
    assert_eq!(
        store
            .prune_audit(t, AuditCut::KeepNewest(7), &chain)
            .await
            .expect("prune"),
        0
    );
    assert_eq!(
        store
            .prune_audit(t, AuditCut::KeepNewest(3), &chain)
            .await
            .expect("prune"),
        4
    );
    assert_eq!(
        store
            .prune_audit(t, AuditCut::KeepNewest(3), &chain)
            .await
            .expect("prune"),
        0
    );
    let anchor = store.audit_anchor(t).await.expect("anchor").expect("present");
    assert_eq!(anchor.seq, 4);
    let rest = store.audit_chain(t, 0, 100).await.expect("chain");
    assert_eq!(rest.iter().map(|e| e.seq).collect::<Vec<_>>(), vec![5, 6, 7]);
    let checkpoint = store.audit_checkpoint(t).await.expect("checkpoint");
    let mut verifier = chain.verifier(t, Some(&anchor), checkpoint);
    for e in &rest {
        verifier.feed(e);
    }
    assert!(verifier.finish().valid);
    // Appends go on after the cut.
    store
        .append_audit(t, vec![event("token.issued", None)], &chain)
        .await
        .expect("append");
    assert_eq!(store.audit_chain(t, 0, 100).await.expect("chain").len(), 4);
}

/// Signing keys are stored, replaced by kid, and deleted.
pub async fn signing_keys_round_trip<S: TestStore>(store: Arc<S>) {
    let before = store.signing_keys().await.expect("keys").len();
    let mut key = StoredKey::generate(SigningAlgorithm::Es256, KeyState::Next).expect("key");
    store.put_signing_key(&key).await.expect("put");
    let find = |keys: Vec<StoredKey>, kid: &str| keys.into_iter().find(|k| k.kid == kid);
    assert_eq!(
        find(store.signing_keys().await.expect("keys"), &key.kid),
        Some(key.clone())
    );
    key.state = KeyState::Retired;
    key.retire_after = Some(time::now());
    store.put_signing_key(&key).await.expect("replace");
    let keys = store.signing_keys().await.expect("keys");
    assert_eq!(keys.len(), before + 1);
    assert_eq!(find(keys, &key.kid), Some(key.clone()));
    store.delete_signing_key(&key.kid).await.expect("delete");
    assert_eq!(find(store.signing_keys().await.expect("keys"), &key.kid), None);
}

/// Revoked token ids are remembered.
pub async fn revocations_are_remembered<S: TestStore>(store: Arc<S>) {
    let (jti, other) = (TokenId::new(), TokenId::new());
    assert!(!store.is_revoked(jti).await.expect("check"));
    store
        .revoke(jti, time::now() + ::time::Duration::hours(1))
        .await
        .expect("revoke");
    assert!(store.is_revoked(jti).await.expect("check"));
    assert!(!store.is_revoked(other).await.expect("check"));
}

/// Subscriptions round-trip by tenant and by provider id; a billing event
/// applies its subscription and tier together, once; tenant tiers change;
/// usage roll-ups add up by day and month, and a spilled batch adds once.
pub async fn billing_and_usage_records<S: TestStore>(store: Arc<S>) {
    use sentryagent_core::billing::Subscription;

    let t = tenant("Acme");
    store.insert_tenant(&t).await.expect("insert");
    store.set_tenant_tier(t.id, "pro").await.expect("tier");
    assert_eq!(
        store.tenant(t.id).await.expect("get").map(|t| t.tier),
        Some("pro".to_owned())
    );

    assert_eq!(store.subscription(t.id).await.expect("get"), None);
    let sub_id = crate::services::unique_name("sub");
    let mut sub = Subscription {
        tenant_id: t.id,
        tier: "pro".into(),
        status: "active".into(),
        customer_id: Some("cus_1".into()),
        subscription_id: Some(sub_id.clone()),
        current_period_end: Some(time::now() + ::time::Duration::days(30)),
        updated_at: time::now(),
    };
    store.put_subscription(&sub).await.expect("put");
    assert_eq!(store.subscription(t.id).await.expect("get"), Some(sub.clone()));
    assert_eq!(
        store.subscription_by_provider_id(&sub_id).await.expect("get"),
        Some(sub.clone())
    );
    sub.status = "canceled".into();
    sub.tier = "free".into();
    store.put_subscription(&sub).await.expect("replace");
    assert_eq!(store.subscription(t.id).await.expect("get"), Some(sub.clone()));
    assert_eq!(
        store.subscription_by_provider_id("sub_nobody").await.expect("get"),
        None
    );

    // An event applies its subscription and the tenant's tier together, once.
    let event = crate::services::unique_name("evt");
    let upgraded = Subscription {
        tier: "enterprise".into(),
        status: "active".into(),
        ..sub.clone()
    };
    assert!(store.apply_billing_event(&event, &upgraded).await.expect("apply"));
    assert_eq!(store.subscription(t.id).await.expect("get"), Some(upgraded.clone()));
    assert_eq!(
        store.tenant(t.id).await.expect("get").map(|t| t.tier),
        Some("enterprise".into())
    );
    let other = Subscription {
        status: "past_due".into(),
        tier: "free".into(),
        ..upgraded.clone()
    };
    assert!(!store.apply_billing_event(&event, &other).await.expect("apply again"));
    assert_eq!(
        store.subscription(t.id).await.expect("get"),
        Some(upgraded),
        "the second time changes nothing"
    );
    assert_eq!(
        store.tenant(t.id).await.expect("get").map(|t| t.tier),
        Some("enterprise".into())
    );

    let day = ::time::macros::date!(2026 - 03 - 31);
    let next = ::time::macros::date!(2026 - 04 - 01);
    assert_eq!(store.add_usage(t.id, day, "api_calls", 5).await.expect("add"), 5);
    assert_eq!(store.add_usage(t.id, day, "api_calls", 2).await.expect("add"), 7);
    store.add_usage(t.id, next, "api_calls", 1).await.expect("add");
    store.add_usage(t.id, next, "token_issuances", 9).await.expect("add");
    assert_eq!(store.usage(t.id, day, "api_calls").await.expect("get"), 7);
    let march = ::time::macros::date!(2026 - 03 - 01);
    assert_eq!(
        store.usage_between(t.id, march, day, "api_calls").await.expect("sum"),
        7
    );
    assert_eq!(
        store.usage_between(t.id, march, next, "api_calls").await.expect("sum"),
        8
    );
    assert_eq!(
        store
            .usage_between(TenantId::new(), march, next, "api_calls")
            .await
            .expect("sum"),
        0
    );

    // A spilled batch adds once, however often it is offered.
    let batch = crate::services::unique_name("batch");
    let counts = [(t.id, day, "api_calls", 10), (t.id, next, "token_issuances", 1)];
    assert!(store.add_usage_batch(&batch, &counts).await.expect("add a batch"));
    assert!(!store.add_usage_batch(&batch, &counts).await.expect("add it again"));
    assert_eq!(store.usage(t.id, day, "api_calls").await.expect("get"), 17);
    assert_eq!(store.usage(t.id, next, "token_issuances").await.expect("get"), 10);
}

/// Stamps every conformance case (each `pub async fn` of this module and its
/// submodules) into a `#[tokio::test]` for the store that
/// `$make` (an `async fn() -> Option<Arc<S>>`; `None` skips, see
/// [`services`](crate::services)) returns, and hands the store to `$cleanup`
/// (an `async fn(Arc<S>)`) afterwards, if given.
#[macro_export]
macro_rules! store_conformance {
    ($make:path) => {
        $crate::store_conformance!($make, $crate::no_cleanup);
    };
    ($make:path, $cleanup:path) => {
        $crate::__store_cases!($make, $cleanup);
    };
    (@cases $make:path, $cleanup:path; $($case:ident),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $case() {
                if let Some(store) = $make().await {
                    $crate::conformance::$case(store.clone()).await;
                    $cleanup(store).await;
                }
            }
        )*
    };
}
