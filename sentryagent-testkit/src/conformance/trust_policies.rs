//! Conformance cases of [`TrustPolicyStore`](sentryagent_core::store::TrustPolicyStore).

use std::sync::Arc;

use sentryagent_core::federation::{Provider, RefType, TrustPolicy};
use sentryagent_core::{AgentId, TenantId, TrustPolicyId, time};

use super::TestStore;

fn policy(tenant: TenantId, repository: &str) -> TrustPolicy {
    TrustPolicy {
        id: TrustPolicyId::new(),
        tenant_id: tenant,
        provider: Provider::GitHub,
        repository: repository.to_owned(),
        agent_id: None,
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
        description: String::new(),
        max_scopes: Vec::new(),
        issuer: None,
        created_at: time::now(),
    }
}

/// Policies round-trip with every field, page in id order, stay in their
/// tenant, and delete once.
pub async fn trust_policies_round_trip_and_scoped<S: TestStore>(store: Arc<S>) {
    let (a, b) = (TenantId::new(), TenantId::new());
    let full = TrustPolicy {
        agent_id: Some(AgentId::new()),
        repository_id: Some("101".into()),
        repository_owner_id: Some("7".into()),
        pinned_at: Some(time::now()),
        max_scopes: vec!["reports:read".into(), "agents:read".into()],
        branch: Some("release/*".into()),
        ref_pattern: Some("refs/heads/release/*".into()),
        ref_type: Some(RefType::Branch),
        environment: Some("prod".into()),
        job_workflow_ref: Some("acme/wf/.github/workflows/deploy.yml@refs/heads/main".into()),
        allowed_events: Some(vec!["push".into(), "workflow_dispatch".into()]),
        denied_events: vec!["schedule".into()],
        description: "deploys".into(),
        ..policy(a, "acme/app")
    };
    store.insert_trust_policy(&full).await.expect("insert");
    assert_eq!(store.trust_policy(a, full.id).await.expect("get"), Some(full.clone()));
    assert_eq!(
        store.trust_policy(b, full.id).await.expect("get"),
        None,
        "tenant scoping"
    );
    // A policy of a registered OIDC issuer, with its claim conditions.
    let oidc = TrustPolicy {
        provider: Provider::Oidc,
        agent_id: Some(AgentId::new()),
        issuer: Some(sentryagent_core::federation::IssuerTrust {
            issuer: "https://gitlab.example".into(),
            audience: Some("https://idp.example".into()),
            subject: Some("project_path:acme/*:ref_type:branch:ref:main".into()),
            claims: std::collections::BTreeMap::from([("namespace_path".into(), "acme".into())]),
        }),
        ..policy(a, "")
    };
    store.insert_trust_policy(&oidc).await.expect("insert");
    assert_eq!(store.trust_policy(a, oidc.id).await.expect("get"), Some(oidc.clone()));
    assert!(store.delete_trust_policy(a, oidc.id).await.expect("delete"));
    let bare = policy(a, "acme/*");
    store.insert_trust_policy(&bare).await.expect("insert");
    assert_eq!(store.trust_policy(a, bare.id).await.expect("get"), Some(bare.clone()));
    let mut ids = vec![full.id, bare.id];
    for i in 0..3 {
        let p = policy(a, &format!("acme/r{i}"));
        store.insert_trust_policy(&p).await.expect("insert");
        ids.push(p.id);
    }
    store.insert_trust_policy(&policy(b, "acme/app")).await.expect("insert");
    let mut seen = Vec::new();
    let mut after = None;
    loop {
        let page = store.list_trust_policies(a, after, 2).await.expect("page");
        assert!(page.len() <= 2);
        assert!(page.iter().all(|p| p.tenant_id == a));
        seen.extend(page.iter().map(|p| p.id));
        match page.last() {
            Some(last) if page.len() == 2 => after = Some(last.id),
            _ => break,
        }
    }
    ids.sort();
    assert_eq!(seen, ids, "every policy of the tenant, in id order");
    assert!(!store.delete_trust_policy(b, full.id).await.expect("delete"), "not b's");
    assert!(store.delete_trust_policy(a, full.id).await.expect("delete"));
    assert!(!store.delete_trust_policy(a, full.id).await.expect("delete again"));
    assert_eq!(store.trust_policy(a, full.id).await.expect("get"), None);
}

/// The token endpoint's lookup: by owner (case-insensitive), across tenants
/// or in one, in id order, up to the limit.
pub async fn trust_policies_found_by_owner<S: TestStore>(store: Arc<S>) {
    let owner = crate::services::unique_name("Org");
    let key = owner.to_ascii_lowercase();
    let (a, b) = (TenantId::new(), TenantId::new());
    let mut mine = Vec::new();
    for (tenant, repo) in [
        (a, format!("{owner}/app")),
        (b, format!("{key}/*")),
        (a, format!("{owner}/lib")),
    ] {
        let p = policy(tenant, &repo);
        store.insert_trust_policy(&p).await.expect("insert");
        mine.push(p);
    }
    store
        .insert_trust_policy(&policy(a, &format!("{key}x/app")))
        .await
        .expect("insert");
    let all = store
        .trust_policies_for_owner(Provider::GitHub, &key, None, 10)
        .await
        .expect("lookup");
    let mut expected: Vec<TrustPolicyId> = mine.iter().map(|p| p.id).collect();
    expected.sort();
    assert_eq!(all.iter().map(|p| p.id).collect::<Vec<_>>(), expected);
    assert_eq!(all.iter().find(|p| p.id == mine[0].id), Some(&mine[0]));
    let in_a = store
        .trust_policies_for_owner(Provider::GitHub, &key, Some(a), 10)
        .await
        .expect("lookup");
    assert_eq!(in_a.len(), 2);
    assert!(in_a.iter().all(|p| p.tenant_id == a));
    let first = store
        .trust_policies_for_owner(Provider::GitHub, &key, None, 1)
        .await
        .expect("lookup");
    assert_eq!(first.len(), 1);
    assert_eq!(first[0].id, expected[0]);
}

/// Pinning sets only what is unset, once; racing first uses agree on one
/// winner; another tenant cannot pin.
pub async fn trust_policies_pin_on_first_use<S: TestStore>(store: Arc<S>) {
    let t = TenantId::new();
    let p = policy(t, "acme/app");
    store.insert_trust_policy(&p).await.expect("insert");
    assert_eq!(
        store
            .pin_trust_policy(TenantId::new(), p.id, Some("1"), Some("2"), time::now())
            .await
            .expect("pin"),
        None
    );
    let at = time::now();
    let pinned = store
        .pin_trust_policy(t, p.id, Some("101"), Some("7"), at)
        .await
        .expect("pin")
        .expect("exists");
    assert_eq!(pinned.repository_id.as_deref(), Some("101"));
    assert_eq!(pinned.repository_owner_id.as_deref(), Some("7"));
    assert_eq!(pinned.pinned_at, Some(at));
    let again = store
        .pin_trust_policy(t, p.id, Some("999"), Some("9"), time::now())
        .await
        .expect("pin")
        .expect("exists");
    assert_eq!(again, pinned, "the first pin stands");
    assert_eq!(store.trust_policy(t, p.id).await.expect("get"), Some(pinned));

    // An owner pinned already: only the repository id is set.
    let q = TrustPolicy {
        repository_owner_id: Some("7".into()),
        ..policy(t, "acme/lib")
    };
    store.insert_trust_policy(&q).await.expect("insert");
    let q2 = store
        .pin_trust_policy(t, q.id, Some("202"), None, at)
        .await
        .expect("pin")
        .expect("exists");
    assert_eq!(
        (q2.repository_id.as_deref(), q2.repository_owner_id.as_deref()),
        (Some("202"), Some("7"))
    );
    // Nothing to change: pinned_at stays unset.
    let r = TrustPolicy {
        repository_id: Some("1".into()),
        repository_owner_id: Some("2".into()),
        ..policy(t, "acme/bin")
    };
    store.insert_trust_policy(&r).await.expect("insert");
    let r2 = store
        .pin_trust_policy(t, r.id, Some("3"), Some("4"), at)
        .await
        .expect("pin")
        .expect("exists");
    assert_eq!(r2, r);

    let race = policy(t, "acme/race");
    store.insert_trust_policy(&race).await.expect("insert");
    let tasks: Vec<_> = (0..8)
        .map(|i| {
            let store = store.clone();
            tokio::spawn(async move {
                store
                    .pin_trust_policy(t, race.id, Some(&format!("{i}00")), Some(&format!("{i}")), time::now())
                    .await
            })
        })
        .collect();
    let mut results = Vec::new();
    for task in tasks {
        results.push(task.await.expect("task").expect("pin").expect("exists"));
    }
    let winner = results[0].repository_id.clone();
    assert!(results.iter().all(|r| r.repository_id == winner), "one winner");
    let w = winner.unwrap_or_default();
    assert!(
        results
            .iter()
            .all(|r| r.repository_owner_id.as_deref() == w.strip_suffix("00"))
    );
}
