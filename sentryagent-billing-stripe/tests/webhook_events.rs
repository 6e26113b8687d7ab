//! Each event type SentryAgent acts on, parsed from a signed payload shaped
//! like Stripe's (`tests/fixtures/`), in the current API layout and the one
//! before 2025-03-31 (basil).

mod common;

use std::sync::Arc;

use common::{WEBHOOK_SECRET, billing, fixture, sign, tenant};
use sentryagent_core::billing::{BillingError, BillingEvent, BillingEventKind, BillingProvider};
use time::OffsetDateTime;
use time::macros::datetime;

/// Signs `payload` now and verifies it, through the trait object the core holds.
fn deliver(payload: &[u8]) -> Result<BillingEvent, BillingError> {
    let provider: Arc<dyn BillingProvider> = Arc::new(billing(None));
    let now = OffsetDateTime::now_utc();
    provider.verify_webhook(payload, &sign(payload, WEBHOOK_SECRET, now.unix_timestamp()), now)
}

fn deliver_fixture(name: &str) -> BillingEvent {
    deliver(&fixture(name)).unwrap_or_else(|e| panic!("{name}: {e}"))
}

/// A fixture with one change made to its JSON.
fn edited(name: &str, edit: impl FnOnce(&mut serde_json::Value)) -> Vec<u8> {
    let mut event: serde_json::Value = serde_json::from_slice(&fixture(name)).expect("fixture is JSON");
    edit(&mut event);
    event.to_string().into_bytes()
}

#[test]
fn checkout_session_completed() {
    let event = deliver_fixture("checkout_session_completed.json");
    assert_eq!(event.id, "evt_1SWmJkLkdIwHu7ixQm4fBhX2");
    assert_eq!(event.created, datetime!(2025-11-23 13:22:05 UTC));
    assert_eq!(
        event.kind,
        BillingEventKind::CheckoutCompleted {
            tenant: Some(tenant()),
            customer: Some("cus_TKq3mVxR8bLs2N".into()),
            subscription: Some("sub_1SWmJhLkdIwHu7ixa8Gk2PqR".into()),
        }
    );
}

#[test]
fn customer_subscription_created() {
    // Current layout: current_period_end is on the subscription's items.
    let event = deliver_fixture("customer_subscription_created.json");
    assert_eq!(event.id, "evt_1SWmJiLkdIwHu7ixV7bN0cD4");
    assert_eq!(
        event.created,
        OffsetDateTime::from_unix_timestamp(1_763_904_009).expect("time")
    );
    assert_eq!(
        event.kind,
        BillingEventKind::SubscriptionChanged {
            subscription: "sub_1SWmJhLkdIwHu7ixa8Gk2PqR".into(),
            customer: Some("cus_TKq3mVxR8bLs2N".into()),
            tenant: Some(tenant()),
            status: "active".into(),
            price_id: Some("price_1SWm8cLkdIwHu7ixPro49usd".into()),
            current_period_end: Some(datetime!(2025-12-23 13:20:08 UTC)),
        }
    );
}

#[test]
fn customer_subscription_updated_in_the_layout_before_basil() {
    // API version 2024-06-20: current_period_end is on the subscription.
    let event = deliver_fixture("customer_subscription_updated_legacy.json");
    assert_eq!(event.id, "evt_1SZ0aQLkdIwHu7ixF3kT9rYu");
    assert_eq!(
        event.kind,
        BillingEventKind::SubscriptionChanged {
            subscription: "sub_1SWmJhLkdIwHu7ixa8Gk2PqR".into(),
            customer: Some("cus_TKq3mVxR8bLs2N".into()),
            tenant: Some(tenant()),
            status: "past_due".into(),
            price_id: Some("price_1SWm8cLkdIwHu7ixPro49usd".into()),
            current_period_end: Some(datetime!(2026-01-23 13:20:08 UTC)),
        }
    );
}

#[test]
fn customer_subscription_deleted() {
    let event = deliver_fixture("customer_subscription_deleted.json");
    assert_eq!(event.id, "evt_1Sb4nKLkdIwHu7ixM2pQ6wEr");
    assert_eq!(
        event.kind,
        BillingEventKind::SubscriptionDeleted {
            subscription: "sub_1SWmJhLkdIwHu7ixa8Gk2PqR".into(),
            tenant: Some(tenant())
        }
    );
}

#[test]
fn invoice_payment_succeeded() {
    // Current layout: the subscription is under parent.subscription_details.
    let event = deliver_fixture("invoice_payment_succeeded.json");
    assert_eq!(event.id, "evt_1SWmJmLkdIwHu7ixK8sQ1zT5");
    assert_eq!(
        event.kind,
        BillingEventKind::PaymentSucceeded {
            subscription: Some("sub_1SWmJhLkdIwHu7ixa8Gk2PqR".into())
        }
    );
}

#[test]
fn invoice_payment_failed_in_the_layout_before_basil() {
    // API version 2024-06-20: the subscription is a top-level field.
    let event = deliver_fixture("invoice_payment_failed_legacy.json");
    assert_eq!(event.id, "evt_1SZ0aSLkdIwHu7ixR5yD2mAq");
    assert_eq!(
        event.kind,
        BillingEventKind::PaymentFailed {
            subscription: Some("sub_1SWmJhLkdIwHu7ixa8Gk2PqR".into())
        }
    );
}

#[test]
fn other_event_types_are_acknowledged_as_other() {
    let event = deliver_fixture("customer_created.json");
    assert_eq!(event.id, "evt_1SWmJfLkdIwHu7ixW1aE8uIo");
    assert_eq!(event.kind, BillingEventKind::Other("customer.created".into()));

    // An event type that does not exist yet, with an object of any shape.
    let future = edited("customer_created.json", |event| {
        event["type"] = "billing.something_new.happened".into();
        event["data"]["object"] = serde_json::json!({"object": "something_new", "id": "sn_1"});
    });
    assert_eq!(
        deliver(&future).expect("parsed").kind,
        BillingEventKind::Other("billing.something_new.happened".into())
    );
}

#[test]
fn an_invoice_without_a_subscription_names_none() {
    // A one-off invoice: no parent, no subscription.
    let one_off = edited("invoice_payment_succeeded.json", |event| {
        event["data"]["object"]["parent"] = serde_json::Value::Null;
    });
    assert_eq!(
        deliver(&one_off).expect("parsed").kind,
        BillingEventKind::PaymentSucceeded { subscription: None }
    );
}

#[test]
fn expanded_references_give_their_ids() {
    let expanded = edited("checkout_session_completed.json", |event| {
        let session = &mut event["data"]["object"];
        session["customer"] = serde_json::json!({"id": "cus_TKq3mVxR8bLs2N", "object": "customer"});
        session["subscription"] = serde_json::json!({"id": "sub_1SWmJhLkdIwHu7ixa8Gk2PqR", "object": "subscription"});
    });
    let BillingEventKind::CheckoutCompleted {
        customer, subscription, ..
    } = deliver(&expanded).expect("parsed").kind
    else {
        panic!("not a checkout");
    };
    assert_eq!(customer.as_deref(), Some("cus_TKq3mVxR8bLs2N"));
    assert_eq!(subscription.as_deref(), Some("sub_1SWmJhLkdIwHu7ixa8Gk2PqR"));
}

#[test]
fn a_tenant_that_is_not_a_tenant_id_is_none() {
    let foreign = edited("customer_subscription_created.json", |event| {
        event["data"]["object"]["metadata"]["tenant_id"] = "acme".into();
    });
    let BillingEventKind::SubscriptionChanged {
        tenant, subscription, ..
    } = deliver(&foreign).expect("parsed").kind
    else {
        panic!("not a subscription change");
    };
    assert_eq!(tenant, None);
    assert_eq!(subscription, "sub_1SWmJhLkdIwHu7ixa8Gk2PqR");

    let no_reference = edited("checkout_session_completed.json", |event| {
        event["data"]["object"]["client_reference_id"] = serde_json::Value::Null;
    });
    assert!(matches!(
        deliver(&no_reference).expect("parsed").kind,
        BillingEventKind::CheckoutCompleted { tenant: None, .. }
    ));
}

#[test]
fn a_signed_payload_that_is_not_an_event_is_a_bad_payload() {
    let cases: [(&str, Vec<u8>); 5] = [
        ("not JSON", b"<xml/>".to_vec()),
        (
            "no id",
            edited("customer_created.json", |event| {
                drop(event.as_object_mut().map(|e| e.remove("id")))
            }),
        ),
        (
            "not an event",
            edited("customer_created.json", |event| event["object"] = "customer".into()),
        ),
        (
            "a subscription without a status",
            edited("customer_subscription_created.json", |event| {
                drop(event["data"]["object"].as_object_mut().map(|s| s.remove("status")));
            }),
        ),
        (
            "created out of range",
            edited("customer_created.json", |event| event["created"] = i64::MAX.into()),
        ),
    ];
    for (what, payload) in cases {
        match deliver(&payload) {
            Err(BillingError::BadPayload(_)) => {}
            other => panic!("{what}: expected BadPayload, got {other:?}"),
        }
    }
}
