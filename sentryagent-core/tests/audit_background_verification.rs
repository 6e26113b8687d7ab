//! The background task verifies every tenant's audit chain in full, a
//! bounded slice per turn, resuming where it stopped (after a restart too),
//! and `/audit/verify` then says when the last full verification passed.

use std::sync::Arc;
use std::time::{Duration, Instant};

use sentryagent_core::audit::{NewAuditEvent, Outcome, VerifyMode};
use sentryagent_core::{MemoryStore, SentryAgent, TenantId};

const SECRET: &[u8; 32] = b"background-verification-secret!!";

async fn idp(store: &Arc<MemoryStore>, every: Option<Duration>) -> SentryAgent {
    SentryAgent::builder()
        .server_secret(SECRET)
        .expect("secret")
        .durable(store.clone())
        .audit_full_verification(every)
        .audit_verification_turn(Duration::from_millis(100))
        .build()
        .await
        .expect("build")
}

async fn tenant_with_events(idp: &SentryAgent, n: u64) -> TenantId {
    let tenant = idp.create_tenant("Acme").await.expect("tenant").tenant.id;
    for i in 0..n {
        let event = NewAuditEvent::new("test.event", Outcome::Success, "test").detail("i", i);
        idp.record(tenant, vec![event]).await.expect("record");
    }
    tenant
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn turns_verify_in_bounded_slices_resume_after_a_restart_and_are_reported() {
    let store = Arc::new(MemoryStore::new());
    let first = idp(&store, Some(Duration::from_secs(3600))).await;
    let tenant = tenant_with_events(&first, 7).await;
    let head = first.verify_audit_chain(tenant).await.expect("verify").reached_seq;
    assert!(head >= 7);

    let turn = first.audit_verification_turn(3).await.expect("turn").expect("due");
    assert_eq!(turn.tenant, tenant);
    assert!(turn.verification.valid && !turn.verification.complete, "{turn:?}");
    assert_eq!(turn.verification.checked, 3, "at most the budget a turn");

    // Another instance (or this one restarted) goes on with the same run.
    let second = idp(&store, Some(Duration::from_secs(3600))).await;
    let mut turns = 1;
    let last = loop {
        let turn = second.audit_verification_turn(3).await.expect("turn").expect("due");
        turns += 1;
        assert_eq!(turn.tenant, tenant);
        assert!(turn.verification.valid, "{turn:?}");
        assert_eq!(turn.verification.from_seq, 0, "one run, from genesis");
        if turn.verification.complete {
            break turn.verification;
        }
        assert!(turns < 10);
    };
    assert_eq!(last.checked, head, "every event, once");
    assert_eq!(turns, head.div_ceil(3));
    let reported = second
        .verify_audit_step(tenant, VerifyMode::Incremental, 100)
        .await
        .expect("verify")
        .last_full_verification
        .expect("reported");
    assert_eq!(reported.seq, head);
    // Verified a moment ago: nothing due for an hour.
    assert_eq!(second.audit_verification_turn(3).await.expect("turn"), None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_altered_chain_is_found_and_left_for_a_period() {
    let store = Arc::new(MemoryStore::new());
    let idp = idp(&store, Some(Duration::from_secs(3600))).await;
    let tenant = tenant_with_events(&idp, 3).await;
    // The in-memory store's hook edits the event whole: its bytes with its fields.
    assert!(store.tamper_audit_event(tenant, 2, |e| e.actor = "someone-else".into()));
    let turn = idp.audit_verification_turn(100).await.expect("turn").expect("due");
    assert!(!turn.verification.valid, "{turn:?}");
    assert!(
        turn.verification
            .reason
            .as_deref()
            .is_some_and(|r| r.contains("changed after it was written")),
        "{turn:?}"
    );
    assert_eq!(
        idp.audit_verification_turn(100).await.expect("turn"),
        None,
        "not again at once"
    );
    let v = idp.verify_audit_chain(tenant).await.expect("verify");
    assert!(!v.valid && v.last_full_verification.is_none(), "{v:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_background_task_runs_the_turns_unless_it_is_off() {
    let store = Arc::new(MemoryStore::new());
    let off = idp(&store, None).await;
    let tenant = tenant_with_events(&off, 3).await;
    assert_eq!(off.audit_verification_turn(100).await.expect("turn"), None, "off");

    let idp = idp(&store, Some(Duration::from_secs(3600))).await;
    let background = idp.spawn_background();
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let v = idp
            .verify_audit_step(tenant, VerifyMode::Incremental, 100)
            .await
            .expect("verify");
        if v.last_full_verification.is_some() {
            break;
        }
        assert!(Instant::now() < deadline, "no full verification by the background task");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    background.stop().await;
}
