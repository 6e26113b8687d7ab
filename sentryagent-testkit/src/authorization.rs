//! Records of the authorization-code flow for store tests, and the checks
//! that need two instances of one store (two pools on one database): a
//! code redeemed once and a refresh token's reuse detected across them.
//! The conformance suite runs these with one store in both places; a
//! backend with shared state runs them with two.

use std::sync::Arc;

use sentryagent_core::authorization::{
    AuthorizationCode, ClientAuthMethod, ClientKind, CodeRedemption, Grant, GrantType, OAuthClient, RefreshOutcome,
    RefreshToken, Rotation,
};
use sentryagent_core::{GrantId, TenantId, time};

use crate::conformance::TestStore;

/// A random 32-byte hash, as a code's or refresh token's would be.
pub fn random_hash() -> Vec<u8> {
    let (a, b) = uuid::Uuid::new_v4().as_u64_pair();
    let (c, d) = uuid::Uuid::new_v4().as_u64_pair();
    [a, b, c, d].iter().flat_map(|x| x.to_be_bytes()).collect()
}

/// A public client of `tenant` with every optional field set.
pub fn client(tenant: TenantId, client_id: &str) -> OAuthClient {
    let now = time::now();
    OAuthClient {
        tenant_id: tenant,
        client_id: client_id.to_owned(),
        kind: ClientKind::Public,
        auth_method: ClientAuthMethod::None,
        secret_hash: None,
        redirect_uris: vec!["http://127.0.0.1/callback".into(), "https://app.example.com/cb".into()],
        grant_types: vec![GrantType::AuthorizationCode, GrantType::RefreshToken],
        name: Some("Example MCP Client".into()),
        logo_uri: Some("https://app.example.com/logo.png".into()),
        client_uri: Some("https://app.example.com".into()),
        created_at: now,
        updated_at: now,
        last_used_at: None,
        metadata_expires_at: None,
    }
}

/// A grant of `tenant`'s user `subject` to `client_id`, for a day.
pub fn grant(tenant: TenantId, subject: &str, client_id: &str) -> Grant {
    let now = time::now();
    Grant {
        id: GrantId::new(),
        tenant_id: tenant,
        client_id: client_id.to_owned(),
        subject: subject.to_owned(),
        scopes: vec!["tools:call".into(), "files:read".into()],
        resources: vec!["https://mcp.example.com".into()],
        created_at: now,
        expires_at: now + ::time::Duration::days(1),
        revoked_at: None,
    }
}

/// A fresh code of `grant`, valid for ten minutes.
pub fn code(grant: &Grant) -> AuthorizationCode {
    let now = time::now();
    AuthorizationCode {
        code_hash: random_hash(),
        grant_id: grant.id,
        redirect_uri: "http://127.0.0.1:51004/callback".into(),
        code_challenge: "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM".into(),
        created_at: now,
        expires_at: now + ::time::Duration::minutes(10),
        redeemed_at: None,
    }
}

/// A fresh refresh token of `grant`, valid for an hour.
pub fn refresh_token(grant: &Grant) -> RefreshToken {
    let now = time::now();
    RefreshToken {
        token_hash: random_hash(),
        grant_id: grant.id,
        created_at: now,
        expires_at: now + ::time::Duration::hours(1),
        rotated_at: None,
    }
}

fn rotation<'a>(presented: &'a [u8], client_id: &'a str, next: &'a [u8]) -> Rotation<'a> {
    let at = time::now();
    Rotation {
        presented_hash: presented,
        client_id,
        next_hash: next,
        next_expires_at: at + ::time::Duration::hours(1),
        at,
    }
}

/// Codes issued through `a` and redeemed at once through `a` and `b`:
/// exactly one redemption is the first, every time, and the other sees it
/// (with the first's time) as a replay.
pub async fn codes_redeem_once_across<S: TestStore>(a: Arc<S>, b: Arc<S>) {
    let tenant = TenantId::new();
    for round in 0..10 {
        let g = grant(tenant, "user-1", "https://app.example.com/client.json");
        let c = code(&g);
        a.insert_authorization_code(&g, &c).await.expect("insert");
        let (ra, rb) = tokio::join!(
            a.redeem_authorization_code(&c.code_hash, time::now()),
            b.redeem_authorization_code(&c.code_hash, time::now())
        );
        let results = [ra.expect("redeem a"), rb.expect("redeem b")];
        let firsts: Vec<_> = results
            .iter()
            .filter_map(|r| match r {
                Some(CodeRedemption::First { code, .. }) => Some(code.redeemed_at),
                _ => None,
            })
            .collect();
        assert_eq!(firsts.len(), 1, "round {round}: {results:?}");
        let again = results.iter().find_map(|r| match r {
            Some(CodeRedemption::Again { code, grant }) => Some((code.redeemed_at, grant.id)),
            _ => None,
        });
        assert_eq!(
            again,
            Some((firsts[0], g.id)),
            "round {round}: the replay sees the first"
        );
    }
}

/// A refresh token rotated through `a` and used again through `b`: reuse,
/// and the family is revoked for both; two instances rotating one token at
/// once rotate it once.
pub async fn refresh_reuse_detected_across<S: TestStore>(a: Arc<S>, b: Arc<S>) {
    let tenant = TenantId::new();
    let client_id = "https://app.example.com/client.json";
    let g = grant(tenant, "user-1", client_id);
    a.insert_authorization_code(&g, &code(&g)).await.expect("insert");
    let first = refresh_token(&g);
    assert!(a.insert_refresh_token(&first).await.expect("insert"));
    let second = random_hash();
    let rotated = a
        .rotate_refresh_token(rotation(&first.token_hash, client_id, &second))
        .await
        .expect("rotate");
    assert!(
        matches!(rotated, RefreshOutcome::Rotated(ref r) if r.id == g.id),
        "{rotated:?}"
    );
    let reused = b
        .rotate_refresh_token(rotation(&first.token_hash, client_id, &random_hash()))
        .await
        .expect("reuse");
    assert!(
        matches!(reused, RefreshOutcome::Reused(ref r) if r.id == g.id && r.revoked_at.is_some()),
        "{reused:?}"
    );
    let after = a
        .rotate_refresh_token(rotation(&second, client_id, &random_hash()))
        .await
        .expect("rotate the successor");
    assert!(
        matches!(after, RefreshOutcome::Revoked(_)),
        "the family is revoked: {after:?}"
    );
    assert!(
        a.grant(tenant, g.id)
            .await
            .expect("read")
            .is_some_and(|g| g.revoked_at.is_some())
    );

    // Both instances rotate one token at once: one rotation, one reuse.
    for round in 0..5 {
        let g = grant(tenant, "user-2", client_id);
        a.insert_authorization_code(&g, &code(&g)).await.expect("insert");
        let t = refresh_token(&g);
        assert!(b.insert_refresh_token(&t).await.expect("insert"));
        let (na, nb) = (random_hash(), random_hash());
        let (ra, rb) = tokio::join!(
            a.rotate_refresh_token(rotation(&t.token_hash, client_id, &na)),
            b.rotate_refresh_token(rotation(&t.token_hash, client_id, &nb))
        );
        let results = [ra.expect("rotate a"), rb.expect("rotate b")];
        let rotated = results
            .iter()
            .filter(|r| matches!(r, RefreshOutcome::Rotated(_)))
            .count();
        let reused = results
            .iter()
            .filter(|r| matches!(r, RefreshOutcome::Reused(_)))
            .count();
        assert_eq!((rotated, reused), (1, 1), "round {round}: {results:?}");
    }
}
