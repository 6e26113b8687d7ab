//! Conformance cases of [`OAuthClientStore`](sentryagent_core::store::OAuthClientStore)
//! and [`AuthorizationStore`](sentryagent_core::store::AuthorizationStore).

use std::sync::Arc;

use sentryagent_core::authorization::{
    ClientAuthMethod, ClientKind, CodeRedemption, Consent, ConsentQuery, GrantType, OAuthClient, RefreshOutcome,
    Rotation,
};
use sentryagent_core::{ConsentId, StoreErrorKind, TenantId, time};

use super::TestStore;
use crate::authorization::{client, code, grant, random_hash, refresh_token};

fn days(n: i64) -> ::time::Duration {
    ::time::Duration::days(n)
}

/// Clients round-trip with every field, stay in their tenant (one client
/// id may be in two tenants), page in byte order of their ids, are
/// replaced keeping their history, and delete once.
pub async fn oauth_clients_round_trip_and_scoped<S: TestStore>(store: Arc<S>) {
    let (a, b) = (TenantId::new(), TenantId::new());
    let url = "https://app.example.com/oauth/client.json";
    let full = OAuthClient {
        kind: ClientKind::Confidential,
        auth_method: ClientAuthMethod::ClientSecretBasic,
        secret_hash: Some(vec![9; 32]),
        last_used_at: Some(time::now()),
        metadata_expires_at: Some(time::now() + days(1)),
        ..client(a, "sa_oc_full")
    };
    store.insert_oauth_client(&full).await.expect("insert");
    assert_eq!(
        store.oauth_client(a, "sa_oc_full").await.expect("get"),
        Some(full.clone())
    );
    assert_eq!(
        store.oauth_client(b, "sa_oc_full").await.expect("get"),
        None,
        "tenant scoping"
    );
    let bare = OAuthClient {
        name: None,
        logo_uri: None,
        client_uri: None,
        redirect_uris: vec!["cursor://anysphere.cursor/oauth".into()],
        grant_types: vec![GrantType::AuthorizationCode],
        kind: ClientKind::MetadataDocument,
        ..client(a, url)
    };
    store.insert_oauth_client(&bare).await.expect("insert");
    assert_eq!(store.oauth_client(a, url).await.expect("get"), Some(bare.clone()));
    let err = store.insert_oauth_client(&bare).await.expect_err("a duplicate");
    assert_eq!(err.kind(), StoreErrorKind::Conflict);
    // The same metadata-document client in another tenant is another record.
    let in_b = client(b, url);
    store.insert_oauth_client(&in_b).await.expect("insert in b");
    assert_eq!(store.oauth_client(b, url).await.expect("get"), Some(in_b));
    assert_eq!(store.oauth_client(a, url).await.expect("get"), Some(bare.clone()));

    // Byte order: upper case before lower case, `https:` before `sa_`.
    for id in ["Zeta", "alpha", "sa_oc_0"] {
        store.insert_oauth_client(&client(a, id)).await.expect("insert");
    }
    let mut seen = Vec::new();
    let mut after: Option<String> = None;
    loop {
        let page = store.list_oauth_clients(a, after.as_deref(), 2).await.expect("page");
        assert!(page.len() <= 2 && page.iter().all(|c| c.tenant_id == a));
        seen.extend(page.iter().map(|c| c.client_id.clone()));
        match page.last() {
            Some(last) if page.len() == 2 => after = Some(last.client_id.clone()),
            _ => break,
        }
    }
    assert_eq!(seen, ["Zeta", "alpha", url, "sa_oc_0", "sa_oc_full"]);

    // A refetched document replaces the record but not its history.
    let used = time::now();
    assert!(store.touch_oauth_client(a, url, used).await.expect("touch"));
    assert!(store.touch_oauth_client(a, url, used - days(1)).await.expect("touch"));
    assert!(!store.touch_oauth_client(b, "sa_oc_full", used).await.expect("touch"));
    let refetched = OAuthClient {
        name: Some("Renamed".into()),
        redirect_uris: vec!["https://app.example.com/new".into()],
        created_at: time::now() + days(1),
        updated_at: time::now() + days(1),
        last_used_at: None,
        metadata_expires_at: Some(time::now() + days(2)),
        ..bare.clone()
    };
    let stored = store.put_oauth_client(&refetched).await.expect("put");
    let expected = OAuthClient {
        created_at: bare.created_at,
        last_used_at: Some(used),
        ..refetched.clone()
    };
    assert_eq!(stored, expected);
    assert_eq!(store.oauth_client(a, url).await.expect("get"), Some(expected));
    let new = client(a, "sa_oc_new");
    assert_eq!(store.put_oauth_client(&new).await.expect("put a new one"), new);

    assert!(
        !store.delete_oauth_client(b, "sa_oc_full").await.expect("delete"),
        "not b's"
    );
    assert!(store.delete_oauth_client(a, "sa_oc_full").await.expect("delete"));
    assert!(!store.delete_oauth_client(a, "sa_oc_full").await.expect("delete again"));
    assert_eq!(store.oauth_client(a, "sa_oc_full").await.expect("get"), None);
}

/// Dynamically registered clients unused for long are deleted; used ones,
/// young ones and other kinds stay.
pub async fn unused_dynamic_clients_expire<S: TestStore>(store: Arc<S>) {
    let t = TenantId::new();
    let old = time::now() - days(60);
    let dynamic = |id: &str| OAuthClient {
        kind: ClientKind::Dynamic,
        created_at: old,
        updated_at: old,
        ..client(t, id)
    };
    let never_used = dynamic("dyn_never");
    let used_long_ago = OAuthClient {
        last_used_at: Some(old + days(1)),
        ..dynamic("dyn_long_ago")
    };
    let used_lately = OAuthClient {
        last_used_at: Some(time::now()),
        ..dynamic("dyn_lately")
    };
    let young = OAuthClient {
        created_at: time::now(),
        ..dynamic("dyn_young")
    };
    let registered = OAuthClient {
        kind: ClientKind::Public,
        created_at: old,
        ..client(t, "public_old")
    };
    for c in [&never_used, &used_long_ago, &used_lately, &young, &registered] {
        store.insert_oauth_client(c).await.expect("insert");
    }
    // Each kind is counted on its own, per tenant (the caps of each kind).
    let count = |tenant, kind| {
        let store = store.clone();
        async move { store.count_oauth_clients(tenant, kind).await.expect("count") }
    };
    assert_eq!(count(t, ClientKind::Dynamic).await, 4);
    assert_eq!(count(t, ClientKind::Public).await, 1);
    assert_eq!(count(t, ClientKind::MetadataDocument).await, 0);
    assert_eq!(count(TenantId::new(), ClientKind::Dynamic).await, 0);
    let cutoff = time::now() - days(30);
    let mut deleted = 0;
    loop {
        let n = store
            .delete_unused_clients(ClientKind::Dynamic, cutoff, 1)
            .await
            .expect("delete");
        assert!(n <= 1, "the limit holds");
        if n == 0 {
            break;
        }
        deleted += n;
    }
    assert!(deleted >= 2);
    for gone in ["dyn_never", "dyn_long_ago"] {
        assert_eq!(store.oauth_client(t, gone).await.expect("get"), None, "{gone}");
    }
    for kept in ["dyn_lately", "dyn_young", "public_old"] {
        assert!(store.oauth_client(t, kept).await.expect("get").is_some(), "{kept}");
    }
}

/// A code is stored with its grant, read without being spent, redeemed
/// once (concurrent redemptions agree on one first), and a replay reports
/// the first redemption.
pub async fn authorization_codes_redeem_once<S: TestStore>(store: Arc<S>) {
    let t = TenantId::new();
    let g = grant(t, "user-1", "sa_oc_1");
    let c = code(&g);
    store.insert_authorization_code(&g, &c).await.expect("insert");
    assert_eq!(store.grant(t, g.id).await.expect("grant"), Some(g.clone()));
    assert_eq!(
        store.grant(TenantId::new(), g.id).await.expect("grant"),
        None,
        "tenant scoping"
    );
    let err = store
        .insert_authorization_code(&grant(t, "user-1", "sa_oc_1"), &c)
        .await
        .expect_err("a code hash twice");
    assert_eq!(err.kind(), StoreErrorKind::Conflict);
    assert_eq!(
        store.grant(t, g.id).await.expect("grant"),
        Some(g.clone()),
        "a failed insert leaves the first"
    );

    // Reading a code (to check who presents it) does not spend it.
    for _ in 0..2 {
        assert_eq!(
            store.authorization_code(&c.code_hash).await.expect("read"),
            Some((c.clone(), g.clone())),
            "a read leaves the code unspent"
        );
    }
    assert_eq!(store.authorization_code(&random_hash()).await.expect("read"), None);

    let at = time::now();
    let first = store.redeem_authorization_code(&c.code_hash, at).await.expect("redeem");
    let redeemed = sentryagent_core::authorization::AuthorizationCode {
        redeemed_at: Some(at),
        ..c.clone()
    };
    assert_eq!(
        first,
        Some(CodeRedemption::First {
            code: redeemed.clone(),
            grant: g.clone()
        })
    );
    let again = store
        .redeem_authorization_code(&c.code_hash, time::now())
        .await
        .expect("redeem again");
    assert_eq!(
        again,
        Some(CodeRedemption::Again {
            code: redeemed,
            grant: g.clone()
        }),
        "a replay reports the first redemption"
    );
    let (read, _) = store
        .authorization_code(&c.code_hash)
        .await
        .expect("read")
        .expect("a redeemed code is still found");
    assert_eq!(read.redeemed_at, Some(at), "a read shows the redemption");
    assert_eq!(
        store
            .redeem_authorization_code(&random_hash(), time::now())
            .await
            .expect("redeem"),
        None
    );

    // Many redemptions at once: one first.
    let g = grant(t, "user-1", "sa_oc_1");
    let c = code(&g);
    store.insert_authorization_code(&g, &c).await.expect("insert");
    let tasks: Vec<_> = (0..8)
        .map(|_| {
            let (store, hash) = (store.clone(), c.code_hash.clone());
            tokio::spawn(async move { store.redeem_authorization_code(&hash, time::now()).await })
        })
        .collect();
    let mut firsts = 0;
    for task in tasks {
        match task.await.expect("task").expect("redeem") {
            Some(CodeRedemption::First { .. }) => firsts += 1,
            Some(CodeRedemption::Again { .. }) => {}
            None => panic!("the code exists"),
        }
    }
    assert_eq!(firsts, 1);

    crate::authorization::codes_redeem_once_across(store.clone(), store).await;
}

/// Refresh tokens rotate once each; a rotated token used again is reuse and
/// revokes the family; a revoked grant takes no new token; another
/// client's token and an expired one change nothing.
pub async fn refresh_tokens_rotate_and_detect_reuse<S: TestStore>(store: Arc<S>) {
    let t = TenantId::new();
    let client_id = "sa_oc_1";
    let g = grant(t, "user-1", client_id);
    store.insert_authorization_code(&g, &code(&g)).await.expect("insert");
    let first = refresh_token(&g);
    assert!(store.insert_refresh_token(&first).await.expect("insert"));
    assert_eq!(
        store.refresh_token_grant(&first.token_hash).await.expect("lookup"),
        Some(g.clone()),
        "a token finds its grant"
    );
    assert_eq!(store.refresh_token_grant(&random_hash()).await.expect("lookup"), None);
    let rotate = |presented: Vec<u8>, client: &'static str, next: Vec<u8>| {
        let store = store.clone();
        async move {
            let at = time::now();
            store
                .rotate_refresh_token(Rotation {
                    presented_hash: &presented,
                    client_id: client,
                    next_hash: &next,
                    next_expires_at: at + ::time::Duration::hours(1),
                    at,
                })
                .await
                .expect("rotate")
        }
    };
    assert_eq!(
        rotate(first.token_hash.clone(), "sa_oc_other", random_hash()).await,
        RefreshOutcome::Unknown,
        "another client's token"
    );
    assert_eq!(
        rotate(random_hash(), client_id, random_hash()).await,
        RefreshOutcome::Unknown
    );
    let second = random_hash();
    assert_eq!(
        rotate(first.token_hash.clone(), client_id, second.clone()).await,
        RefreshOutcome::Rotated(g.clone())
    );
    let third = random_hash();
    assert_eq!(
        rotate(second.clone(), client_id, third.clone()).await,
        RefreshOutcome::Rotated(g.clone())
    );
    match rotate(first.token_hash.clone(), client_id, random_hash()).await {
        RefreshOutcome::Reused(r) => {
            assert_eq!(r.id, g.id);
            assert!(r.revoked_at.is_some());
        }
        other => panic!("reuse expected: {other:?}"),
    }
    let revoked = store.grant(t, g.id).await.expect("grant").expect("exists");
    assert!(revoked.revoked_at.is_some(), "the family is revoked");
    assert_eq!(
        store.refresh_token_grant(&first.token_hash).await.expect("lookup"),
        Some(revoked.clone()),
        "a rotated token of a revoked family still finds it"
    );
    assert_eq!(
        rotate(third, client_id, random_hash()).await,
        RefreshOutcome::Revoked(revoked.clone()),
        "the newest token of a revoked family"
    );
    assert!(
        !store.insert_refresh_token(&refresh_token(&g)).await.expect("insert"),
        "no new token in a revoked grant"
    );
    assert!(
        !store
            .insert_refresh_token(&refresh_token(&grant(t, "user-1", client_id)))
            .await
            .expect("insert"),
        "nor in a grant that does not exist"
    );

    // An expired token is refused and changes nothing.
    let g = grant(t, "user-1", client_id);
    store.insert_authorization_code(&g, &code(&g)).await.expect("insert");
    let stale = sentryagent_core::authorization::RefreshToken {
        expires_at: time::now() - ::time::Duration::seconds(1),
        ..refresh_token(&g)
    };
    assert!(store.insert_refresh_token(&stale).await.expect("insert"));
    assert_eq!(
        rotate(stale.token_hash.clone(), client_id, random_hash()).await,
        RefreshOutcome::Expired
    );
    assert_eq!(
        store.grant(t, g.id).await.expect("grant"),
        Some(g.clone()),
        "not revoked"
    );

    // Many rotations of one token at once: one rotation, the rest find it
    // rotated (reuse) or the family already revoked by that.
    let g = grant(t, "user-2", client_id);
    store.insert_authorization_code(&g, &code(&g)).await.expect("insert");
    let token = refresh_token(&g);
    assert!(store.insert_refresh_token(&token).await.expect("insert"));
    let tasks: Vec<_> = (0..8)
        .map(|_| tokio::spawn(rotate(token.token_hash.clone(), client_id, random_hash())))
        .collect();
    let mut outcomes = Vec::new();
    for task in tasks {
        outcomes.push(task.await.expect("task"));
    }
    let count = |f: fn(&RefreshOutcome) -> bool| outcomes.iter().filter(|o| f(o)).count();
    assert_eq!(count(|o| matches!(o, RefreshOutcome::Rotated(_))), 1, "{outcomes:?}");
    assert!(count(|o| matches!(o, RefreshOutcome::Reused(_))) >= 1, "{outcomes:?}");
    assert_eq!(
        count(|o| matches!(
            o,
            RefreshOutcome::Rotated(_) | RefreshOutcome::Reused(_) | RefreshOutcome::Revoked(_)
        )),
        8
    );

    crate::authorization::refresh_reuse_detected_across(store.clone(), store).await;
}

/// Grants are revoked one by one, by user, by client, by both, or all of a
/// tenant; never another tenant's.
pub async fn grants_revoked_by_user_and_client<S: TestStore>(store: Arc<S>) {
    let (t, other) = (TenantId::new(), TenantId::new());
    let mut grants = Vec::new();
    for (tenant, user, client) in [
        (t, "alice", "c1"),
        (t, "alice", "c2"),
        (t, "bob", "c1"),
        (t, "bob", "c2"),
        (other, "alice", "c1"),
    ] {
        let g = grant(tenant, user, client);
        store.insert_authorization_code(&g, &code(&g)).await.expect("insert");
        grants.push(g);
    }
    let at = time::now();
    assert!(
        !store.revoke_grant(other, grants[0].id, at).await.expect("revoke"),
        "not other's"
    );
    assert!(store.revoke_grant(t, grants[0].id, at).await.expect("revoke"));
    assert!(!store.revoke_grant(t, grants[0].id, at).await.expect("revoke again"));
    assert_eq!(
        store
            .grant(t, grants[0].id)
            .await
            .expect("grant")
            .and_then(|g| g.revoked_at),
        Some(at)
    );

    let ids = |i: &[usize]| {
        let mut v: Vec<_> = i.iter().map(|&i| grants[i].id).collect();
        v.sort();
        v
    };
    assert_eq!(
        store
            .revoke_grants(t, Some("bob"), Some("c2"), at)
            .await
            .expect("revoke"),
        ids(&[3])
    );
    assert_eq!(
        store.revoke_grants(t, Some("alice"), None, at).await.expect("revoke"),
        ids(&[1]),
        "alice's active grants in t only"
    );
    assert_eq!(
        store.revoke_grants(t, None, Some("c1"), at).await.expect("revoke"),
        ids(&[2])
    );
    assert_eq!(store.revoke_grants(t, None, None, at).await.expect("revoke"), ids(&[]));
    let theirs = store.grant(other, grants[4].id).await.expect("grant").expect("exists");
    assert_eq!(theirs.revoked_at, None, "another tenant's grant is untouched");
    assert_eq!(
        store.revoke_grants(other, None, None, at).await.expect("revoke"),
        ids(&[4])
    );
}

/// Consents are remembered per user, client and resource (a second yes
/// replaces the scopes and keeps the id), listed with filters in id order,
/// and revoked one by one or all of a user's; never across tenants.
pub async fn consents_remembered_listed_and_revoked<S: TestStore>(store: Arc<S>) {
    let (t, other) = (TenantId::new(), TenantId::new());
    let consent = |tenant, subject: &str, client: &str, resource: &str, scopes: &[&str]| {
        let now = time::now();
        Consent {
            id: ConsentId::new(),
            tenant_id: tenant,
            subject: subject.to_owned(),
            client_id: client.to_owned(),
            resource: resource.to_owned(),
            scopes: scopes.iter().map(|s| (*s).to_owned()).collect(),
            created_at: now,
            updated_at: now,
        }
    };
    let mcp = "https://mcp.example.com";
    let first = consent(t, "alice", "c1", mcp, &["tools:call"]);
    assert_eq!(store.put_consent(&first).await.expect("put"), first);
    assert_eq!(
        store.consent(t, "alice", "c1", mcp).await.expect("get"),
        Some(first.clone())
    );
    assert_eq!(store.consent(other, "alice", "c1", mcp).await.expect("get"), None);
    assert_eq!(
        store
            .consent(t, "alice", "c1", "https://other.example.com")
            .await
            .expect("get"),
        None
    );

    let wider = Consent {
        updated_at: time::now() + days(1),
        ..consent(t, "alice", "c1", mcp, &["tools:call", "files:read"])
    };
    let stored = store.put_consent(&wider).await.expect("put again");
    let expected = Consent {
        id: first.id,
        created_at: first.created_at,
        ..wider
    };
    assert_eq!(stored, expected, "the same consent, its scopes replaced");
    assert_eq!(
        store.consent(t, "alice", "c1", mcp).await.expect("get"),
        Some(expected.clone())
    );

    let mut all = vec![expected.clone()];
    for (subject, client, resource) in [
        ("alice", "c2", mcp),
        ("alice", "c1", "https://other.example.com"),
        ("bob", "c1", mcp),
    ] {
        let c = consent(t, subject, client, resource, &["tools:call"]);
        store.put_consent(&c).await.expect("put");
        all.push(c);
    }
    store
        .put_consent(&consent(other, "alice", "c1", mcp, &["x"]))
        .await
        .expect("put in another tenant");
    all.sort_by_key(|c| c.id);

    let mut seen = Vec::new();
    let mut after = None;
    loop {
        let page = store
            .list_consents(
                t,
                &ConsentQuery {
                    after,
                    limit: 3,
                    ..Default::default()
                },
            )
            .await
            .expect("page");
        seen.extend(page.iter().cloned());
        match page.last() {
            Some(last) if page.len() == 3 => after = Some(last.id),
            _ => break,
        }
    }
    assert_eq!(seen, all, "every consent of the tenant, in id order");
    let alice = store
        .list_consents(
            t,
            &ConsentQuery {
                subject: Some("alice".into()),
                limit: 10,
                ..Default::default()
            },
        )
        .await
        .expect("alice's");
    assert_eq!(alice.len(), 3);
    let c1_of_alice = store
        .list_consents(
            t,
            &ConsentQuery {
                subject: Some("alice".into()),
                client_id: Some("c1".into()),
                limit: 10,
                ..Default::default()
            },
        )
        .await
        .expect("alice's c1");
    assert_eq!(c1_of_alice.len(), 2);

    assert_eq!(
        store.revoke_consent(other, expected.id).await.expect("revoke"),
        None,
        "not other's"
    );
    assert_eq!(
        store.revoke_consent(t, expected.id).await.expect("revoke"),
        Some(expected.clone())
    );
    assert_eq!(store.revoke_consent(t, expected.id).await.expect("revoke again"), None);
    assert_eq!(store.consent(t, "alice", "c1", mcp).await.expect("get"), None);
    assert_eq!(store.revoke_user_consents(t, "alice").await.expect("revoke alice"), 2);
    assert_eq!(store.revoke_user_consents(t, "alice").await.expect("again"), 0);
    let left = store
        .list_consents(
            t,
            &ConsentQuery {
                limit: 10,
                ..Default::default()
            },
        )
        .await
        .expect("left");
    assert_eq!(left.iter().map(|c| c.subject.as_str()).collect::<Vec<_>>(), ["bob"]);
    assert!(
        store.consent(other, "alice", "c1", mcp).await.expect("get").is_some(),
        "another tenant's alice keeps hers"
    );
}

/// Expired codes and grants (with their refresh tokens) are pruned, within
/// the limit; live ones, redeemed codes included, stay.
pub async fn expired_authorizations_are_pruned<S: TestStore>(store: Arc<S>) {
    let t = TenantId::new();
    let long_ago = time::now() - days(10);
    let expired_grant = sentryagent_core::authorization::Grant {
        created_at: long_ago,
        expires_at: long_ago + days(1),
        ..grant(t, "alice", "c1")
    };
    let expired_code = sentryagent_core::authorization::AuthorizationCode {
        created_at: long_ago,
        expires_at: long_ago + ::time::Duration::minutes(10),
        ..code(&expired_grant)
    };
    store
        .insert_authorization_code(&expired_grant, &expired_code)
        .await
        .expect("insert");
    let stale_token = refresh_token(&expired_grant);
    assert!(store.insert_refresh_token(&stale_token).await.expect("insert"));
    let live = grant(t, "alice", "c1");
    let live_code = code(&live);
    store
        .insert_authorization_code(&live, &live_code)
        .await
        .expect("insert");
    let live_token = refresh_token(&live);
    assert!(store.insert_refresh_token(&live_token).await.expect("insert"));
    store
        .redeem_authorization_code(&live_code.code_hash, time::now())
        .await
        .expect("redeem");

    let mut pruned = 0;
    loop {
        let n = store.prune_authorizations(time::now(), 1).await.expect("prune");
        assert!(n <= 2, "at most the limit of each");
        if n == 0 {
            break;
        }
        pruned += n;
    }
    assert!(pruned >= 2);
    assert_eq!(store.grant(t, expired_grant.id).await.expect("grant"), None);
    assert_eq!(
        store
            .redeem_authorization_code(&expired_code.code_hash, time::now())
            .await
            .expect("redeem"),
        None
    );
    let at = time::now();
    assert_eq!(
        store
            .rotate_refresh_token(Rotation {
                presented_hash: &stale_token.token_hash,
                client_id: "c1",
                next_hash: &random_hash(),
                next_expires_at: at,
                at,
            })
            .await
            .expect("rotate"),
        RefreshOutcome::Unknown,
        "its refresh tokens went with it"
    );
    assert_eq!(store.grant(t, live.id).await.expect("grant"), Some(live.clone()));
    assert!(matches!(
        store
            .redeem_authorization_code(&live_code.code_hash, time::now())
            .await
            .expect("redeem"),
        Some(CodeRedemption::Again { .. })
    ));
}
