//! The `Stripe-Signature` header: what is accepted, what is refused, and
//! that nothing is parsed before the signature holds.

mod common;

use common::{WEBHOOK_SECRET, billing, fixture, sign, signature};
use sentryagent_core::billing::{BillingError, BillingEventKind, BillingProvider};
use time::OffsetDateTime;

const SIGNED_AT: i64 = 1_763_904_130;

fn at(unix: i64) -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp(unix).expect("a Unix time")
}

fn assert_bad_signature(result: Result<impl std::fmt::Debug, BillingError>, what: &str) -> String {
    match result {
        Err(BillingError::BadSignature(message)) => message,
        other => panic!("{what}: expected BadSignature, got {other:?}"),
    }
}

/// A header computed outside this crate (Python's `hmac` module) for this
/// payload and secret: the scheme is Stripe's, not just self-consistent.
#[test]
fn an_independently_computed_signature_is_accepted() {
    let payload = br#"{"id":"evt_1SWmJfLkdIwHu7ixVector","object":"event","type":"customer.created","created":1763904130,"data":{"object":{"id":"cus_TKq3mVxR8bLs2N","object":"customer"}}}"#;
    let header = "t=1763904130,v1=e218dffcfaf11b81b46e683cd836b21b916908d50ddbd5871a55a0bb4709794d";
    assert_eq!(
        header,
        sign(payload, WEBHOOK_SECRET, SIGNED_AT),
        "the tests sign as Stripe does"
    );

    let event = billing(None)
        .verify_webhook(payload, header, at(SIGNED_AT))
        .expect("a valid signature");
    assert_eq!(event.id, "evt_1SWmJfLkdIwHu7ixVector");
    assert_eq!(event.kind, BillingEventKind::Other("customer.created".into()));
}

#[test]
fn the_tolerance_is_five_minutes_either_way() {
    let payload = fixture("customer_created.json");
    let header = sign(&payload, WEBHOOK_SECRET, SIGNED_AT);
    let provider = billing(None);
    for now in [SIGNED_AT, SIGNED_AT + 300, SIGNED_AT - 300] {
        assert!(
            provider.verify_webhook(&payload, &header, at(now)).is_ok(),
            "now = t{:+}",
            now - SIGNED_AT
        );
    }
    let stale = assert_bad_signature(
        provider.verify_webhook(&payload, &header, at(SIGNED_AT + 301)),
        "301 s late",
    );
    assert!(stale.contains("300 s"), "{stale}");
    assert_bad_signature(
        provider.verify_webhook(&payload, &header, at(SIGNED_AT + 86_400)),
        "a day late",
    );
    assert_bad_signature(
        provider.verify_webhook(&payload, &header, at(SIGNED_AT - 301)),
        "301 s early",
    );
}

#[test]
fn a_wrong_signature_is_refused() {
    let payload = fixture("checkout_session_completed.json");
    let provider = billing(None);
    let now = at(SIGNED_AT);

    let other_secret = sign(&payload, "whsec_someone_elses_secret", SIGNED_AT);
    assert_bad_signature(
        provider.verify_webhook(&payload, &other_secret, now),
        "another endpoint's secret",
    );

    let mut tampered = payload.clone();
    let at_byte = tampered.iter().position(|&b| b == b'4').expect("a digit to change");
    tampered[at_byte] = b'5';
    let header = sign(&payload, WEBHOOK_SECRET, SIGNED_AT);
    assert_bad_signature(provider.verify_webhook(&tampered, &header, now), "a tampered payload");

    // The timestamp is signed too: moving it forward breaks the signature.
    let v1 = signature(&payload, WEBHOOK_SECRET, SIGNED_AT);
    let moved = format!("t={},v1={v1}", SIGNED_AT + 60);
    assert_bad_signature(
        provider.verify_webhook(&payload, &moved, at(SIGNED_AT + 60)),
        "a moved timestamp",
    );

    let first = if v1.starts_with('0') { '1' } else { '0' };
    let flipped = format!("t={SIGNED_AT},v1={first}{}", &v1[1..]);
    assert_bad_signature(provider.verify_webhook(&payload, &flipped, now), "one hex digit off");

    let v0 = format!("t={SIGNED_AT},v0={v1}");
    assert_bad_signature(provider.verify_webhook(&payload, &v0, now), "a v0 signature only");
}

#[test]
fn a_missing_or_malformed_header_is_refused() {
    let payload = fixture("customer_created.json");
    let provider = billing(None);
    let now = at(SIGNED_AT);
    let v1 = signature(&payload, WEBHOOK_SECRET, SIGNED_AT);

    let missing = assert_bad_signature(provider.verify_webhook(&payload, "", now), "no header");
    assert!(missing.contains("missing"), "{missing}");

    for header in [
        "garbage".to_owned(),
        format!("v1={v1}"),
        format!("t={SIGNED_AT}"),
        format!("t=,v1={v1}"),
        format!("t=abc,v1={v1}"),
        format!("t=-{SIGNED_AT},v1={v1}"),
        format!("t={SIGNED_AT};v1={v1}"),
        format!("t={SIGNED_AT},t={SIGNED_AT},v1={v1}"),
        format!("t={SIGNED_AT},v1"),
    ] {
        let message = assert_bad_signature(provider.verify_webhook(&payload, &header, now), &header);
        assert!(message.contains("malformed"), "{header}: {message}");
    }
}

#[test]
fn one_matching_signature_of_several_is_enough() {
    // While an endpoint's secret is rolled, Stripe signs with both secrets.
    let payload = fixture("customer_created.json");
    let old = signature(&payload, "whsec_the_old_secret", SIGNED_AT);
    let new = signature(&payload, WEBHOOK_SECRET, SIGNED_AT);
    let header =
        format!("t={SIGNED_AT},v1={old},v1={new},v0=6ffbb59b2300aae63f272406069a9788598b792a944a07aba816edb039989a39");
    assert!(billing(None).verify_webhook(&payload, &header, at(SIGNED_AT)).is_ok());
}

#[test]
fn the_signature_is_checked_before_the_payload_is_parsed() {
    let provider = billing(None);
    let now = at(SIGNED_AT);
    let not_json = b"{ this is not an event";

    let wrong = sign(not_json, "whsec_someone_elses_secret", SIGNED_AT);
    assert_bad_signature(
        provider.verify_webhook(not_json, &wrong, now),
        "a bad payload, badly signed",
    );
    assert_bad_signature(provider.verify_webhook(not_json, "", now), "a bad payload, unsigned");

    let right = sign(not_json, WEBHOOK_SECRET, SIGNED_AT);
    let error = provider
        .verify_webhook(not_json, &right, now)
        .expect_err("not an event");
    assert!(matches!(error, BillingError::BadPayload(_)), "{error:?}");
}
