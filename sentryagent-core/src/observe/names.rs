//! The metric names, one constant each, with what they count. Every name
//! is described to the recorder once ([`describe`]), so an exporter shows
//! its help text and unit.

/// Counter: HTTP requests answered, by `route` (the template, or
/// `unmatched`), `method` and `status` class (`2xx`…`5xx`).
pub const HTTP_REQUESTS: &str = "sentryagent_http_requests_total";
/// Histogram (seconds): time to answer, by `route`, `method` and `status`.
pub const HTTP_DURATION: &str = "sentryagent_http_request_duration_seconds";
/// Counter: access tokens issued, by `grant` and signing `alg`.
pub const TOKENS_ISSUED: &str = "sentryagent_tokens_issued_total";
/// Counter: token requests refused, by `grant` and `reason`.
pub const TOKENS_REFUSED: &str = "sentryagent_tokens_refused_total";
/// Counter: bearer tokens verified, by `outcome` (`valid`, `invalid`,
/// `expired`, `revoked`, `agent_inactive`, `wrong_audience`, `error`).
pub const TOKEN_VERIFICATIONS: &str = "sentryagent_token_verifications_total";
/// Counter: RFC 7662 introspections, by `outcome` (`active`, `inactive`).
pub const INTROSPECTIONS: &str = "sentryagent_introspections_total";
/// Counter: client ids resolved through their Client ID Metadata Document,
/// by `outcome` (`cached`, `fetched`, or the refusal: `invalid`,
/// `too_large`, `not_json`, `client_id_mismatch`, `unreachable`,
/// `rate_limited`, `too_many_clients`, `not_supported`, `internal`).
pub const CLIENT_METADATA: &str = "sentryagent_client_metadata_total";
/// Counter: dynamic client registrations (RFC 7591), by `outcome`
/// (`registered`, `invalid`, `limit`).
pub const DYNAMIC_REGISTRATIONS: &str = "sentryagent_dynamic_client_registrations_total";
/// Counter: answers of the authorization endpoint, by `outcome`
/// (`code_issued`, `consent_shown`, `sign_in`, `denied`, `refused`,
/// `rate_limited`, `unavailable`) and `reason` (`none`, or why: e.g.
/// `unknown_client`, `redirect_uri_unregistered`, `invalid_scope`,
/// `invalid_target`, `consent_token_invalid`, `client_rate_limited`,
/// `host_error`; a fixed set).
pub const AUTHORIZATION_REQUESTS: &str = "sentryagent_authorization_requests_total";
/// Counter: people's answers on the consent page, by `decision`
/// (`granted`, `denied`).
pub const CONSENTS: &str = "sentryagent_consents_total";
/// Counter: RFC 7009 revocations, by `outcome` (`revoked`, `ignored`).
pub const REVOCATIONS: &str = "sentryagent_revocations_total";
/// Counter: rate-limit decisions, by `group` and `outcome` (`allowed`, `refused`).
pub const RATE_LIMIT_DECISIONS: &str = "sentryagent_rate_limit_decisions_total";
/// Gauge: 1 while the shared (Redis) rate limiter is unreachable and this
/// instance limits on its own, else 0.
pub const RATE_LIMIT_FALLBACK: &str = "sentryagent_rate_limit_fallback_active";
/// Counter: calls refused by the tenant's tier, by `kind` (`quota`, `agents`).
pub const TIER_REFUSALS: &str = "sentryagent_tier_refusals_total";
/// Histogram: events per audit append (a group commit writes several requests' events at once).
pub const AUDIT_BATCH_SIZE: &str = "sentryagent_audit_append_batch_size";
/// Histogram (seconds): time to commit an audit append.
pub const AUDIT_COMMIT_DURATION: &str = "sentryagent_audit_append_duration_seconds";
/// Counter: audit appends that failed (the requests waiting on them failed too).
pub const AUDIT_FAILURES: &str = "sentryagent_audit_append_failures_total";
/// Histogram (seconds): store calls, by `backend` and `operation`.
pub const STORE_DURATION: &str = "sentryagent_store_operation_duration_seconds";
/// Counter: store calls that failed, by `backend`, `operation` and `kind`.
pub const STORE_ERRORS: &str = "sentryagent_store_operation_errors_total";
/// Gauge: usage counts waiting in this instance for the next flush.
pub const METERING_PENDING: &str = "sentryagent_metering_pending_counts";
/// Gauge (Unix seconds): when usage was last flushed to the store; alert
/// on `time() - sentryagent_metering_last_flush_timestamp_seconds`.
pub const METERING_LAST_FLUSH: &str = "sentryagent_metering_last_flush_timestamp_seconds";
/// Counter: usage flushes that failed.
pub const METERING_FLUSH_FAILURES: &str = "sentryagent_metering_flush_failures_total";
/// Counter: OIDC token exchanges (workload identity federation), by `outcome`.
pub const FEDERATION_EXCHANGES: &str = "sentryagent_federation_exchanges_total";
/// Counter: fetches of an OIDC issuer's JWKS, by `outcome` (`ok`, `failed`).
pub const FEDERATION_JWKS_FETCHES: &str = "sentryagent_federation_jwks_fetches_total";
/// Gauge (Unix seconds): when the current signing key was made; alert on
/// `time() - sentryagent_signing_key_created_timestamp_seconds`.
pub const SIGNING_KEY_CREATED: &str = "sentryagent_signing_key_created_timestamp_seconds";
/// Gauge, always 1: the `version`, signing `alg` and `backends` of this instance.
pub const BUILD_INFO: &str = "sentryagent_build_info";

/// Describes every metric to the installed recorder (help text and unit).
/// [`SentryAgentBuilder::build`](crate::SentryAgentBuilder::build) calls it;
/// a host that installs its recorder later can call it again.
pub fn describe() {
    use metrics::{Unit, describe_counter, describe_gauge, describe_histogram};
    describe_counter!(
        HTTP_REQUESTS,
        "HTTP requests answered, by route template, method and status class."
    );
    describe_histogram!(HTTP_DURATION, Unit::Seconds, "Time to answer an HTTP request.");
    describe_counter!(TOKENS_ISSUED, "Access tokens issued, by grant and signing algorithm.");
    describe_counter!(TOKENS_REFUSED, "Token requests refused, by grant and reason.");
    describe_counter!(TOKEN_VERIFICATIONS, "Bearer tokens verified, by outcome.");
    describe_counter!(INTROSPECTIONS, "Token introspections, by outcome.");
    describe_counter!(REVOCATIONS, "Token revocations, by outcome.");
    describe_counter!(
        CLIENT_METADATA,
        "Client ids resolved through their metadata document, by outcome."
    );
    describe_counter!(DYNAMIC_REGISTRATIONS, "Dynamic client registrations, by outcome.");
    describe_counter!(
        AUTHORIZATION_REQUESTS,
        "Answers of the authorization endpoint, by outcome and reason."
    );
    describe_counter!(CONSENTS, "Answers on the consent page, by decision.");
    describe_counter!(
        RATE_LIMIT_DECISIONS,
        "Rate-limit decisions, by route group and outcome."
    );
    describe_gauge!(RATE_LIMIT_FALLBACK, "1 while the shared rate limiter is unreachable.");
    describe_counter!(TIER_REFUSALS, "Calls refused by the tenant's tier, by kind.");
    describe_histogram!(AUDIT_BATCH_SIZE, Unit::Count, "Events per audit append.");
    describe_histogram!(AUDIT_COMMIT_DURATION, Unit::Seconds, "Time to commit an audit append.");
    describe_counter!(AUDIT_FAILURES, "Audit appends that failed.");
    describe_histogram!(STORE_DURATION, Unit::Seconds, "Store calls, by backend and operation.");
    describe_counter!(STORE_ERRORS, "Store calls that failed, by backend, operation and kind.");
    describe_gauge!(
        METERING_PENDING,
        Unit::Count,
        "Usage counts waiting for the next flush."
    );
    describe_gauge!(
        METERING_LAST_FLUSH,
        Unit::Seconds,
        "When usage was last flushed (Unix time)."
    );
    describe_counter!(METERING_FLUSH_FAILURES, "Usage flushes that failed.");
    describe_counter!(FEDERATION_EXCHANGES, "OIDC token exchanges, by outcome.");
    describe_counter!(FEDERATION_JWKS_FETCHES, "Fetches of an OIDC issuer's keys, by outcome.");
    describe_gauge!(
        SIGNING_KEY_CREATED,
        Unit::Seconds,
        "When the current signing key was made (Unix time)."
    );
    describe_gauge!(BUILD_INFO, "Always 1: version, signing algorithm and backends.");
}
