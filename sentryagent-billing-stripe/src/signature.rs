//! Stripe's webhook signature scheme.
//!
//! The `Stripe-Signature` header is a list of `key=value` pairs separated by
//! commas: one `t=` (the Unix time Stripe signed at) and one or more `v1=`
//! (hex HMAC-SHA256 of `"{t}.{payload}"` under the endpoint's secret; there
//! are two while a secret is being rolled). Other schemes (`v0`, test mode's
//! legacy one) are ignored. A header is accepted when one `v1` matches in
//! constant time and `t` is within [`TOLERANCE_SECONDS`] of now.

use aws_lc_rs::{constant_time, hmac};
use sentryagent_core::billing::BillingError;
use time::OffsetDateTime;

/// How far the signed timestamp may be from now, either way: five minutes,
/// Stripe's own default.
pub(crate) const TOLERANCE_SECONDS: u64 = 300;

/// At most this many `v1` candidates are looked at: Stripe sends one, or two
/// while a secret is being rolled.
const MAX_SIGNATURES: usize = 8;

/// A SHA-256 HMAC is 32 bytes, 64 hex digits.
const TAG_LEN: usize = 32;

/// The endpoint's signing secret, ready to verify with.
pub(crate) struct WebhookKey(hmac::Key);

impl WebhookKey {
    /// The key for a `whsec_…` secret, used as Stripe uses it: the whole
    /// string's bytes.
    pub(crate) fn new(secret: &str) -> Self {
        Self(hmac::Key::new(hmac::HMAC_SHA256, secret.as_bytes()))
    }

    /// Checks `header` against `payload` at `now`.
    pub(crate) fn verify(&self, payload: &[u8], header: &str, now: OffsetDateTime) -> Result<(), BillingError> {
        let header = Header::parse(header)?;

        let mut context = hmac::Context::with_key(&self.0);
        context.update(header.timestamp.as_bytes());
        context.update(b".");
        context.update(payload);
        let expected = context.sign();

        // Every candidate is compared, in constant time each, so the time
        // taken does not tell which one (if any) matched.
        let mut matched = false;
        for candidate in &header.signatures {
            if let Some(tag) = decode_hex_tag(candidate) {
                matched |= constant_time::verify_slices_are_equal(expected.as_ref(), &tag).is_ok();
            }
        }
        if !matched {
            return Err(BillingError::BadSignature("no v1 signature matches the payload".into()));
        }

        if now.unix_timestamp().abs_diff(header.signed_at) > TOLERANCE_SECONDS {
            return Err(BillingError::BadSignature(format!(
                "signature timestamp is more than {TOLERANCE_SECONDS} s from now"
            )));
        }
        Ok(())
    }
}

/// The parts of a `Stripe-Signature` header that matter.
struct Header<'a> {
    /// `t` exactly as sent: the signed string starts with it.
    timestamp: &'a str,
    /// `t` as a number.
    signed_at: i64,
    /// Every `v1` value.
    signatures: Vec<&'a str>,
}

impl<'a> Header<'a> {
    fn parse(raw: &'a str) -> Result<Self, BillingError> {
        let malformed = |why: &str| BillingError::BadSignature(format!("malformed Stripe-Signature header: {why}"));
        if raw.trim().is_empty() {
            return Err(BillingError::BadSignature("missing Stripe-Signature header".into()));
        }
        let mut timestamp = None;
        let mut signatures = Vec::new();
        for item in raw.split(',') {
            let (key, value) = item
                .trim()
                .split_once('=')
                .ok_or_else(|| malformed("an item is not key=value"))?;
            match key {
                "t" if timestamp.is_some() => return Err(malformed("more than one t")),
                "t" => timestamp = Some(value),
                "v1" if signatures.len() >= MAX_SIGNATURES => return Err(malformed("too many v1 signatures")),
                "v1" => signatures.push(value),
                _ => {}
            }
        }
        let timestamp = timestamp.ok_or_else(|| malformed("no t"))?;
        if timestamp.is_empty() || timestamp.len() > 12 || !timestamp.bytes().all(|b| b.is_ascii_digit()) {
            return Err(malformed("t is not a Unix time"));
        }
        let signed_at = timestamp.parse().map_err(|_| malformed("t is not a Unix time"))?;
        if signatures.is_empty() {
            return Err(malformed("no v1 signature"));
        }
        Ok(Self {
            timestamp,
            signed_at,
            signatures,
        })
    }
}

/// Decodes 64 hex digits; anything else is no SHA-256 tag.
fn decode_hex_tag(hex: &str) -> Option<[u8; TAG_LEN]> {
    let bytes = hex.as_bytes();
    if bytes.len() != TAG_LEN * 2 {
        return None;
    }
    let mut tag = [0_u8; TAG_LEN];
    for (out, pair) in tag.iter_mut().zip(bytes.chunks_exact(2)) {
        *out = (hex_digit(pair[0])? << 4) | hex_digit(pair[1])?;
    }
    Some(tag)
}

fn hex_digit(digit: u8) -> Option<u8> {
    match digit {
        b'0'..=b'9' => Some(digit - b'0'),
        b'a'..=b'f' => Some(digit - b'a' + 10),
        b'A'..=b'F' => Some(digit - b'A' + 10),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_tags_decode_only_at_full_length() {
        let hex = "00ff10Ab".repeat(8);
        let tag = decode_hex_tag(&hex).expect("64 hex digits");
        assert_eq!(&tag[..4], &[0x00, 0xff, 0x10, 0xab]);
        assert!(decode_hex_tag(&hex[..62]).is_none());
        assert!(decode_hex_tag(&format!("{}zz", &hex[..62])).is_none());
        assert!(decode_hex_tag("").is_none());
    }

    #[test]
    fn headers_parse_as_stripe_writes_them() {
        let header = Header::parse("t=1763904125,v1=aa,v0=bb,v1=cc").expect("well-formed");
        assert_eq!(header.timestamp, "1763904125");
        assert_eq!(header.signed_at, 1_763_904_125);
        assert_eq!(header.signatures, ["aa", "cc"]);
        // Spaces after commas (some proxies fold headers so) are tolerated.
        assert!(Header::parse("t=1, v1=aa").is_ok());
    }

    #[test]
    fn malformed_headers_are_refused() {
        for raw in [
            "",
            "   ",
            "garbage",
            "t=1763904125",
            "v1=aa",
            "t=,v1=aa",
            "t=-5,v1=aa",
            "t=12x,v1=aa",
            "t=1,t=2,v1=aa",
            "t=99999999999999999999,v1=aa",
            "t=1,v0=aa",
            "t=1;v1=aa",
        ] {
            assert!(
                matches!(Header::parse(raw), Err(BillingError::BadSignature(_))),
                "{raw:?} should be refused"
            );
        }
        let many = format!("t=1{}", ",v1=aa".repeat(MAX_SIGNATURES + 1));
        assert!(Header::parse(&many).is_err());
    }
}
