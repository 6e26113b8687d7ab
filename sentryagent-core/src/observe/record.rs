//! One function per thing measured, so a call site is one line and the
//! label sets stay the same wherever a metric is recorded.

use std::sync::OnceLock;
use std::time::{Duration, Instant};

use http::{Method, StatusCode};
use metrics::{Counter, Histogram, counter, gauge, histogram};

use super::names::*;
use crate::{AgentId, TenantId};

// The hot paths' metrics keep their handles: looking a metric up through
// the facade (hashing its name and labels into the recorder's registry)
// costs several times the update itself. A handle is taken on first use
// from the recorder installed then, so a host installs its recorder before
// the IdP serves (as the facade expects of every library).

/// Routes whose HTTP metrics keep their handles (the table has fewer).
const CACHED_ROUTES: usize = 128;

/// Per route (its place in the table) and status class.
static HTTP: [[OnceLock<(Counter, Histogram)>; 5]; CACHED_ROUTES] =
    [const { [const { OnceLock::new() }; 5] }; CACHED_ROUTES];

/// `2xx`…`5xx`: the status label, and its place among the five.
pub(crate) fn status_class(status: StatusCode) -> (&'static str, usize) {
    match status.as_u16() {
        100..=199 => ("1xx", 0),
        200..=299 => ("2xx", 1),
        300..=399 => ("3xx", 2),
        400..=499 => ("4xx", 3),
        _ => ("5xx", 4),
    }
}

/// The method label: a standard method's name, else `other`, so a client
/// cannot add series with made-up methods.
pub(crate) fn method_label(method: &Method) -> &'static str {
    match *method {
        Method::GET => "GET",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::PATCH => "PATCH",
        Method::DELETE => "DELETE",
        Method::HEAD => "HEAD",
        Method::OPTIONS => "OPTIONS",
        _ => "other",
    }
}

/// One answered request: its metrics and its access-log line. Never the
/// query string, a header or the body: they may carry credentials.
pub(crate) struct Answered<'a> {
    /// The route's place in the table (`None`: no route matched).
    pub(crate) slot: Option<usize>,
    pub(crate) route: &'static str,
    pub(crate) method: &'static str,
    pub(crate) status: StatusCode,
    pub(crate) started: Instant,
    pub(crate) request_id: &'a str,
    pub(crate) who: Option<(TenantId, Option<AgentId>)>,
    /// Whether the tenant is a label too (the host's opt-in).
    pub(crate) tenant_label: bool,
}

impl Answered<'_> {
    pub(crate) fn record(self) {
        let elapsed = self.started.elapsed();
        let (status, class) = status_class(self.status);
        let labels = [("route", self.route), ("method", self.method), ("status", status)];
        let cached = self.slot.and_then(|slot| HTTP.get(slot)).map(|classes| &classes[class]);
        match (self.tenant_label, self.who, cached) {
            (true, Some((tenant, _)), _) => {
                let tenant = ("tenant", tenant.to_string());
                let mut labels: Vec<(&'static str, String)> = labels.iter().map(|&(k, v)| (k, v.to_owned())).collect();
                labels.push(tenant);
                counter!(HTTP_REQUESTS, &labels).increment(1);
                histogram!(HTTP_DURATION, &labels).record(elapsed.as_secs_f64());
            }
            (_, _, Some(handles)) => {
                let (requests, duration) =
                    handles.get_or_init(|| (counter!(HTTP_REQUESTS, &labels), histogram!(HTTP_DURATION, &labels)));
                requests.increment(1);
                duration.record(elapsed.as_secs_f64());
            }
            _ => {
                counter!(HTTP_REQUESTS, &labels).increment(1);
                histogram!(HTTP_DURATION, &labels).record(elapsed.as_secs_f64());
            }
        }
        let (tenant, agent) = match self.who {
            Some((tenant, agent)) => (Some(tenant), agent),
            None => (None, None),
        };
        tracing::info!(
            target: "sentryagent::access",
            request_id = self.request_id,
            method = self.method,
            route = self.route,
            status = self.status.as_u16(),
            micros = u64::try_from(elapsed.as_micros()).unwrap_or(u64::MAX),
            tenant = tenant.map(tracing::field::display),
            agent = agent.map(tracing::field::display),
            "answered"
        );
    }
}

/// The handles of one metric's series, by their label values (all
/// `&'static str`, so a bounded set): slots searched in order and filled on
/// first use, so a series costs a few string comparisons instead of the
/// facade's lookup (hashing the name and labels into the registry, cloning
/// them), which cost more than the rest of the metrics of a token request.
/// Past `N` series, [`get`](Self::get) answers `None` and the caller looks
/// the series up as before.
struct Series<H, const L: usize, const N: usize>([OnceLock<([&'static str; L], H)>; N]);

impl<H, const L: usize, const N: usize> Series<H, L, N> {
    const fn new() -> Self {
        Self([const { OnceLock::new() }; N])
    }

    fn get(&self, labels: [&'static str; L], register: impl Fn() -> H) -> Option<&H> {
        // An empty slot takes these labels; a full one is theirs or another series'.
        self.0
            .iter()
            .map(|slot| slot.get_or_init(|| (labels, register())))
            .find(|(held, _)| *held == labels)
            .map(|(_, handle)| handle)
    }
}

/// An access token issued.
pub(crate) fn token_issued(grant: &'static str, alg: &'static str) {
    static ISSUED: Series<Counter, 2, 16> = Series::new();
    let register = || counter!(TOKENS_ISSUED, "grant" => grant, "alg" => alg);
    match ISSUED.get([grant, alg], &register) {
        Some(handle) => handle.increment(1),
        None => register().increment(1),
    }
}

/// A token request refused, and why.
pub(crate) fn token_refused(grant: &'static str, reason: &'static str) {
    static REFUSED: Series<Counter, 2, 64> = Series::new();
    let register = || counter!(TOKENS_REFUSED, "grant" => grant, "reason" => reason);
    match REFUSED.get([grant, reason], &register) {
        Some(handle) => handle.increment(1),
        None => register().increment(1),
    }
}

/// A bearer token verified, and how it went.
pub(crate) fn token_verified(outcome: &'static str) {
    // The common answer keeps its handle.
    static VALID: OnceLock<Counter> = OnceLock::new();
    match outcome {
        "valid" => VALID
            .get_or_init(|| counter!(TOKEN_VERIFICATIONS, "outcome" => "valid"))
            .increment(1),
        _ => counter!(TOKEN_VERIFICATIONS, "outcome" => outcome).increment(1),
    }
}

/// An introspection (`active` or `inactive`).
pub(crate) fn introspected(outcome: &'static str) {
    static INTROSPECTED: Series<Counter, 1, 4> = Series::new();
    let register = || counter!(INTROSPECTIONS, "outcome" => outcome);
    match INTROSPECTED.get([outcome], &register) {
        Some(handle) => handle.increment(1),
        None => register().increment(1),
    }
}

/// A client id resolved through its metadata document, or refused.
pub(crate) fn client_metadata(outcome: &'static str) {
    counter!(CLIENT_METADATA, "outcome" => outcome).increment(1);
}

/// An answer of the authorization endpoint: its `outcome` and, for a
/// refusal, its `reason` (`none` otherwise); both from fixed sets.
pub(crate) fn authorization(outcome: &'static str, reason: &'static str) {
    counter!(AUTHORIZATION_REQUESTS, "outcome" => outcome, "reason" => reason).increment(1);
}

/// A person's answer on the consent page (`granted` or `denied`).
pub(crate) fn consent(decision: &'static str) {
    counter!(CONSENTS, "decision" => decision).increment(1);
}

/// A dynamic client registration, or its refusal.
pub(crate) fn dynamic_registration(outcome: &'static str) {
    counter!(DYNAMIC_REGISTRATIONS, "outcome" => outcome).increment(1);
}

/// A revocation request (`revoked` or `ignored`).
pub(crate) fn revoked(outcome: &'static str) {
    static REVOKED: Series<Counter, 1, 4> = Series::new();
    let register = || counter!(REVOCATIONS, "outcome" => outcome);
    match REVOKED.get([outcome], &register) {
        Some(handle) => handle.increment(1),
        None => register().increment(1),
    }
}

/// A rate-limit decision; `slot` is the group's place among all groups.
pub(crate) fn rate_decision(group: &'static str, slot: usize, allowed: bool) {
    static DECISIONS: [[OnceLock<Counter>; 2]; 16] = [const { [const { OnceLock::new() }; 2] }; 16];
    let outcome = if allowed { "allowed" } else { "refused" };
    let register = || counter!(RATE_LIMIT_DECISIONS, "group" => group, "outcome" => outcome);
    match DECISIONS.get(slot) {
        Some(outcomes) => outcomes[usize::from(!allowed)].get_or_init(register).increment(1),
        None => register().increment(1),
    }
}

/// Whether the shared limiter is down and this instance limits alone.
pub(crate) fn rate_limit_fallback(active: bool) {
    gauge!(RATE_LIMIT_FALLBACK).set(if active { 1.0 } else { 0.0 });
}

/// A call refused by the tenant's tier (`quota` or `agents`).
pub(crate) fn tier_refused(kind: &'static str) {
    counter!(TIER_REFUSALS, "kind" => kind).increment(1);
}

/// An audit append of `events` events that took `took`.
pub(crate) fn audit_append(events: usize, took: Duration, ok: bool) {
    // Once per token issued (its audit event): the handles are kept.
    static APPENDS: OnceLock<(Histogram, Histogram)> = OnceLock::new();
    let (size, duration) = APPENDS.get_or_init(|| (histogram!(AUDIT_BATCH_SIZE), histogram!(AUDIT_COMMIT_DURATION)));
    size.record(events as f64);
    duration.record(took.as_secs_f64());
    if !ok {
        counter!(AUDIT_FAILURES).increment(1);
    }
}

/// A store call; `slot` keeps its histogram's handle.
pub(crate) fn store_call(
    slot: &OnceLock<Histogram>,
    backend: &'static str,
    operation: &'static str,
    took: Duration,
    error: Option<&'static str>,
) {
    slot.get_or_init(|| histogram!(STORE_DURATION, "backend" => backend, "operation" => operation))
        .record(took.as_secs_f64());
    if let Some(kind) = error {
        counter!(STORE_ERRORS, "backend" => backend, "operation" => operation, "kind" => kind).increment(1);
    }
}

/// Usage counts waiting for the next flush.
pub(crate) fn metering_pending(n: u64) {
    gauge!(METERING_PENDING).set(n as f64);
}

/// A usage flush: its time when it succeeded, a failure otherwise.
pub(crate) fn metering_flushed(ok: bool) {
    if ok {
        gauge!(METERING_LAST_FLUSH).set(unix_now());
    } else {
        counter!(METERING_FLUSH_FAILURES).increment(1);
    }
}

/// An OIDC token exchange and how it went.
pub(crate) fn federation_exchange(outcome: &'static str) {
    counter!(FEDERATION_EXCHANGES, "outcome" => outcome).increment(1);
}

/// A fetch of an OIDC issuer's keys.
pub(crate) fn jwks_fetch(ok: bool) {
    counter!(FEDERATION_JWKS_FETCHES, "outcome" => if ok { "ok" } else { "failed" }).increment(1);
}

/// When the current signing key was made.
pub(crate) fn signing_key_created(at: time::OffsetDateTime) {
    gauge!(SIGNING_KEY_CREATED).set(at.unix_timestamp() as f64);
}

/// The instance's version, algorithm and backends.
pub(crate) fn build_info(alg: &'static str, backends: &str) {
    gauge!(
        BUILD_INFO,
        "version" => env!("CARGO_PKG_VERSION"),
        "alg" => alg,
        "backends" => backends.to_owned()
    )
    .set(1.0);
}

fn unix_now() -> f64 {
    time::OffsetDateTime::now_utc().unix_timestamp() as f64
}

#[cfg(test)]
mod tests {
    use super::Series;

    #[test]
    fn each_series_keeps_its_own_handle_until_the_slots_run_out() {
        static CACHE: Series<usize, 2, 2> = Series::new();
        let made = std::sync::atomic::AtomicUsize::new(0);
        let register = || made.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        assert_eq!(CACHE.get(["a", "x"], register), Some(&0));
        assert_eq!(CACHE.get(["b", "x"], register), Some(&1));
        assert_eq!(CACHE.get(["a", "x"], register), Some(&0));
        assert_eq!(CACHE.get(["b", "x"], register), Some(&1));
        assert_eq!(
            CACHE.get(["c", "x"], register),
            None,
            "past the slots: looked up as before"
        );
        assert_eq!(made.load(std::sync::atomic::Ordering::Relaxed), 2);
    }
}
