//! Usage metering and tier enforcement.
//!
//! Every API call and token issuance is counted per tenant in memory on the
//! request path (no I/O there), then flushed on an interval, and on graceful
//! shutdown, into the durable usage store (daily roll-ups; a month is the sum
//! of its days), which every instance adds to, so nothing is counted twice.
//! With a shared counter backend (Redis) the flush adds there too, and
//! enforcement reads the shared totals.
//!
//! Enforcement reads a per-tenant summary (tier and stored count for today)
//! cached for [`Settings::quota_cache_ttl`](crate::Settings) plus this
//! instance's unflushed counts: never the database per request.
//!
//! Counts the store does not take at shutdown (the database is down then)
//! are not dropped in silence: [`SentryAgent::flush_usage_at_shutdown`]
//! logs each tenant's count and, with a spill directory
//! ([`SentryAgentBuilder::usage_spill_dir`](crate::SentryAgentBuilder::usage_spill_dir)),
//! writes them to a file there, one batch per file under a fresh id. A later
//! start ([`SentryAgent::recover_spilled_usage`], also run by the flusher
//! task) stores each batch with its id in one transaction and then deletes
//! the file, so a batch counts once however many starts find it.

mod model;
mod service;
mod spill;

pub use model::*;
