//! The in-memory store keeps a bounded audit history: the background task
//! prunes each tenant's oldest events past the bound through the retention
//! anchor, so the chain still verifies and the newest events stay.

use std::sync::Arc;
use std::time::{Duration, Instant};

use sentryagent_core::audit::{NewAuditEvent, Outcome};
use sentryagent_core::memory::DEFAULT_AUDIT_HISTORY;
use sentryagent_core::store::{AuditStore, DurableStore};
use sentryagent_core::{MemoryStore, SentryAgent};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_background_task_bounds_the_in_memory_audit_history() {
    let store = Arc::new(MemoryStore::new().with_audit_history_limit(Some(80)));
    let idp = SentryAgent::builder()
        .durable(store.clone())
        .audit_history_interval(Duration::from_secs(1))
        .build()
        .await
        .expect("build");
    let tenant = idp.create_tenant("Acme").await.expect("tenant").tenant.id;
    // Past the bound, but not a quarter over it: the store's own ceiling
    // does not cut.
    for i in 0..85 {
        let event = NewAuditEvent::new("test.event", Outcome::Success, "test").detail("i", i);
        idp.record(tenant, vec![event]).await.expect("record");
    }
    let kept = || async { store.audit_chain(tenant, 0, 1_000).await.expect("chain") };
    assert!(kept().await.len() > 85, "nothing pruned before the task runs");

    let background = idp.spawn_background();
    let deadline = Instant::now() + Duration::from_secs(10);
    while kept().await.len() > 80 {
        assert!(
            Instant::now() < deadline,
            "the background task did not bound the history"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    background.stop().await;

    let events = kept().await;
    assert_eq!(events.len(), 80, "exactly the newest 80 stay");
    assert_eq!(
        events.last().map(|e| e.details["i"].clone()),
        Some(84.into()),
        "the newest event stays"
    );
    let verified = idp.verify_audit_chain(tenant).await.expect("verify");
    assert!(verified.valid, "the chain verifies from the anchor: {verified:?}");
    let anchor = store.audit_anchor(tenant).await.expect("anchor").expect("an anchor");
    assert_eq!(anchor.seq + 1, events[0].seq, "the anchor is the last event pruned");
}

#[tokio::test]
async fn the_bound_is_a_default_of_the_in_memory_store_and_can_be_lifted() {
    assert_eq!(MemoryStore::new().audit_history_limit(), Some(DEFAULT_AUDIT_HISTORY));
    let unbounded = Arc::new(MemoryStore::new().with_audit_history_limit(None));
    let idp = SentryAgent::builder().durable(unbounded).build().await.expect("build");
    let tenant = idp.create_tenant("Acme").await.expect("tenant").tenant.id;
    idp.record(tenant, vec![NewAuditEvent::new("test.event", Outcome::Success, "test")])
        .await
        .expect("record");
    assert_eq!(
        idp.bound_audit_history().await.expect("bound"),
        0,
        "no bound, nothing pruned"
    );
}

/// Without the background task, a writer faster than its passes still
/// cannot grow the history past a quarter over the bound: the store cuts it
/// back at append, and the chain verifies.
#[tokio::test]
async fn appends_never_grow_the_history_past_a_quarter_over_the_bound() {
    let store = Arc::new(MemoryStore::new().with_audit_history_limit(Some(10)));
    let idp = SentryAgent::builder()
        .durable(store.clone())
        .build()
        .await
        .expect("build");
    let tenant = idp.create_tenant("Acme").await.expect("tenant").tenant.id;
    let mut most = 0;
    for i in 0..100 {
        let event = NewAuditEvent::new("test.event", Outcome::Success, "test").detail("i", i);
        idp.record(tenant, vec![event]).await.expect("record");
        most = most.max(store.audit_chain(tenant, 0, 1_000).await.expect("chain").len());
    }
    assert!(most <= 12, "the history reached {most} events with a bound of 10");
    assert!(most > 10, "the store cut before a quarter over the bound: {most}");
    let verified = idp.verify_audit_chain(tenant).await.expect("verify");
    assert!(verified.valid, "{verified:?}");
}

/// Verification over a pruned in-memory history: a full one in slices goes
/// from the retention anchor and records when it passed; the incremental
/// one goes on from where the last stopped, or from the anchor once pruning
/// passed that point; a progress changed by hand is ignored, not trusted.
#[tokio::test]
async fn verification_goes_on_from_its_progress_or_the_anchor() {
    use sentryagent_core::audit::VerifyMode::{Full, Incremental};

    let store = Arc::new(MemoryStore::new().with_audit_history_limit(Some(40)));
    let idp = SentryAgent::builder()
        .durable(store.clone())
        .build()
        .await
        .expect("build");
    let tenant = idp.create_tenant("Acme").await.expect("tenant").tenant.id;
    let record = |n: usize| {
        let idp = idp.clone();
        async move {
            for i in 0..n {
                let event = NewAuditEvent::new("test.event", Outcome::Success, "test").detail("i", i);
                idp.record(tenant, vec![event]).await.expect("record");
            }
        }
    };
    record(30).await;
    let head = store.audit_checkpoint(tenant).await.expect("head").expect("a head").seq;
    let mut checked = Vec::new();
    let full = loop {
        let v = idp.verify_audit_step(tenant, Full, 7).await.expect("verify");
        assert!(v.valid && v.from_seq == 0, "{v:?}");
        checked.push(v.checked);
        if v.complete {
            break v;
        }
    };
    assert_eq!(full.checked, head, "{checked:?}");
    assert_eq!(full.last_full_verification.as_ref().map(|f| f.seq), Some(head));
    let none = idp.verify_audit_step(tenant, Incremental, 7).await.expect("verify");
    assert!(
        none.valid && none.complete && none.checked == 0 && none.from_seq == head,
        "{none:?}"
    );

    record(5).await;
    let some = idp.verify_audit_step(tenant, Incremental, 100).await.expect("verify");
    assert!(some.valid && some.checked == 5 && some.from_seq == head, "{some:?}");
    assert_eq!(
        some.last_full_verification, full.last_full_verification,
        "still the full pass"
    );

    // Pruned past where it stopped: it starts at the anchor.
    record(60).await;
    assert!(idp.bound_audit_history().await.expect("bound") > 0);
    let anchor = store
        .audit_anchor(tenant)
        .await
        .expect("anchor")
        .expect("an anchor")
        .seq;
    assert!(anchor > some.reached_seq);
    let after = idp.verify_audit_step(tenant, Incremental, 100).await.expect("verify");
    assert!(
        after.valid && after.complete && after.from_seq == anchor && after.checked == 40,
        "{after:?}"
    );

    // A progress moved by hand (its MAC no longer matches) is ignored.
    let mut forged = store.audit_verify_progress(tenant).await.expect("read").expect("saved");
    forged.verified_seq -= 3;
    forged.verified_hash = [0; 32];
    store.save_audit_verify_progress(tenant, &forged).await.expect("save");
    let ignored = idp.verify_audit_step(tenant, Incremental, 100).await.expect("verify");
    assert!(
        ignored.valid && ignored.from_seq == anchor && ignored.checked == 40,
        "{ignored:?}"
    );
}
