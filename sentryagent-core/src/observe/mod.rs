//! What an operator sees of a running instance: metrics, request ids, the
//! per-request span and the access log.
//!
//! Metrics go through the [`metrics`] facade, so the host's own recorder
//! (a Prometheus exporter, OpenTelemetry, StatsD…) collects them; without
//! one installed every call is a no-op. The names, all prefixed
//! `sentryagent_`, and their labels are listed in [`names`] and in
//! `docs/observability.md`. Labels have bounded values (route templates,
//! methods, status classes, grants, algorithms, reasons, groups, outcomes,
//! backends, operations); tenant ids only with
//! [`SentryAgentBuilder::metrics_tenant_label`](crate::SentryAgentBuilder::metrics_tenant_label).
//!
//! Every answer of the HTTP layer carries an `X-Request-Id`: the one a
//! trusted proxy sent (by the rule of [`crate::client_ip`]), or one made
//! here. The request runs inside a `request` span carrying the id, so every
//! log line of it names the id (and an OpenTelemetry layer of the host sees
//! it); the error envelope says it as `requestId`, the audit events the
//! request appends hold it as the detail `requestId`, and one access-log
//! line (target `sentryagent::access`) ends the request.

pub mod names;
pub(crate) mod record;
pub(crate) mod request;

pub use request::REQUEST_ID_HEADER;
