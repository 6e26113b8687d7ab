//! The one background future a host runs beside its server:
//! [`SentryAgent::background`] owns every periodic job and the last work at
//! shutdown, so that an embedder who copies the guide gets usage flushes,
//! audit retention and key rotation without wiring each.

use std::future::Future;
use std::time::Duration;

use tokio::time::{Interval, MissedTickBehavior};

use crate::SentryAgent;
use crate::metering::FinalFlush;

/// How often a rotation policy is checked: often enough to rotate close to
/// the configured age, rarely enough to cost nothing.
const KEY_CHECK: Duration = Duration::from_secs(3600);

fn every(period: Duration) -> Interval {
    let mut interval = tokio::time::interval(period);
    interval.set_missed_tick_behavior(MissedTickBehavior::Delay);
    interval
}

impl SentryAgent {
    /// Runs every periodic job until `shutdown` resolves, then flushes the
    /// last usage counts and returns what that flush did:
    /// - at start, usage an earlier shutdown spilled is stored;
    /// - usage counts reach the store every
    ///   [`usage_flush_interval`](crate::SentryAgentBuilder::usage_flush_interval);
    /// - the audit log is pruned past each tenant's retention at start and every
    ///   [`audit_retention_interval`](crate::SentryAgentBuilder::audit_retention_interval);
    /// - a durable store that bounds its audit history (the in-memory store)
    ///   has the oldest events past the bound pruned every
    ///   [`audit_history_interval`](crate::SentryAgentBuilder::audit_history_interval)
    ///   ([`bound_audit_history`](Self::bound_audit_history));
    /// - every tenant's audit chain is verified in full once per
    ///   [`audit_full_verification`](crate::SentryAgentBuilder::audit_full_verification)
    ///   (daily by default), one bounded slice every
    ///   [`audit_verification_turn`](crate::SentryAgentBuilder::audit_verification_turn)
    ///   ([`audit_verification_turn`](Self::audit_verification_turn)); a
    ///   chain found altered is logged as an error;
    /// - with [`signing_key_rotation`](crate::SentryAgentBuilder::signing_key_rotation),
    ///   the signing key is rotated once it is that old, and another
    ///   instance's rotation is picked up;
    /// - expired authorization codes and grants are deleted, and dynamic
    ///   clients unused for
    ///   [`unused_dynamic_client_ttl`](crate::SentryAgentBuilder::unused_dynamic_client_ttl)
    ///   expire, every
    ///   [`authorization_prune_interval`](crate::SentryAgentBuilder::authorization_prune_interval)
    ///   ([`prune_authorizations`](Self::prune_authorizations)).
    ///
    /// A failed job is logged and tried again at its next turn. Run it with
    /// the same shutdown signal as the server, and await it after the server
    /// has stopped, so the last flush sees every request:
    ///
    /// ```no_run
    /// # async fn demo(idp: sentryagent_core::SentryAgent, shutdown: tokio::sync::oneshot::Receiver<()>) {
    /// let background = tokio::spawn(idp.clone().background(async move {
    ///     let _ = shutdown.await;
    /// }));
    /// // ... serve until the same signal ...
    /// let last_flush = background.await;
    /// # }
    /// ```
    #[allow(clippy::manual_async_fn)] // the `Send` bound is promised to hosts that spawn it
    pub fn background(self, shutdown: impl Future<Output = ()> + Send) -> impl Future<Output = FinalFlush> + Send {
        async move {
            let jobs = &self.inner.settings.background;
            match self.recover_spilled_usage().await {
                Ok(0) => {}
                Ok(n) => tracing::info!(counts = n, "usage spilled by an earlier shutdown stored"),
                Err(e) => tracing::warn!(error = %e, "spilled usage not stored yet; tried again at the next flush"),
            }
            let mut flush = every(jobs.usage_flush_interval);
            flush.tick().await;
            let mut retention = every(jobs.audit_retention_interval);
            let mut history = every(jobs.audit_history_interval);
            let mut keys = every(jobs.key_rotation.map_or(KEY_CHECK, |age| age.min(KEY_CHECK)));
            keys.tick().await;
            let mut authorizations = every(jobs.authorization_prune_interval);
            let mut verification = every(jobs.audit_verification_turn);
            tokio::pin!(shutdown);
            loop {
                tokio::select! {
                    () = &mut shutdown => break,
                    _ = flush.tick() => self.flush_job().await,
                    _ = retention.tick() => self.retention_job().await,
                    _ = history.tick(), if jobs.audit_history_limit.is_some() => self.history_job().await,
                    _ = keys.tick(), if jobs.key_rotation.is_some() => self.key_job().await,
                    _ = authorizations.tick() => self.authorization_job().await,
                    _ = verification.tick(), if jobs.audit_full_verification.is_some() => self.verification_job().await,
                }
            }
            self.flush_usage_at_shutdown().await
        }
    }

    async fn flush_job(&self) {
        // The key's age for the metrics, read as often as usage is flushed
        // (one store read), so another instance's rotation shows too.
        if let Ok(Some(at)) = self.inner.keys.current_created_at().await {
            crate::observe::record::signing_key_created(at);
        }
        if let Err(e) = self.flush_usage().await {
            tracing::warn!(error = %e, "usage flush failed; counts kept for the next one");
        }
        if let Err(e) = self.recover_spilled_usage().await {
            tracing::warn!(error = %e, "spilled usage not stored yet; the files are kept for the next try");
        }
    }

    async fn retention_job(&self) {
        match self.prune_audit(crate::time::now()).await {
            Ok(n) => tracing::info!(pruned = n, "audit retention pass"),
            Err(e) => tracing::warn!(error = %e, "audit retention pass failed; tried again at the next one"),
        }
    }

    async fn history_job(&self) {
        match self.bound_audit_history().await {
            Ok(0) => {}
            Ok(n) => tracing::debug!(pruned = n, "audit history bound applied"),
            Err(e) => tracing::warn!(error = %e, "audit history bound not applied; tried again at the next turn"),
        }
    }

    async fn verification_job(&self) {
        match self.audit_verification_turn(crate::audit::FULL_SLICE).await {
            Ok(Some(turn)) if turn.verification.complete && turn.verification.valid => tracing::info!(
                tenant = %turn.tenant,
                checked = turn.verification.checked,
                "audit chain verified in full"
            ),
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "a full audit verification turn failed; tried again at the next one"),
        }
    }

    async fn authorization_job(&self) {
        match self.prune_authorizations(crate::time::now()).await {
            Ok(p) if p == crate::authorization::AuthorizationPrune::default() => {}
            Ok(p) => tracing::info!(
                authorizations = p.authorizations,
                dynamic_clients = p.dynamic_clients,
                metadata_document_clients = p.metadata_document_clients,
                "expired authorizations and unused clients pruned"
            ),
            Err(e) => tracing::warn!(error = %e, "authorization pruning failed; tried again at the next turn"),
        }
    }

    async fn key_job(&self) {
        let Some(age) = self.inner.settings.background.key_rotation else {
            return;
        };
        match self.rotate_signing_keys_older_than(age).await {
            Ok(Some(kid)) => tracing::info!(%kid, "signing key rotated"),
            Ok(None) => {}
            Err(e) => tracing::warn!(error = %e, "signing key rotation failed; tried again at the next check"),
        }
    }
}

/// [`SentryAgent::background`] running on its own Tokio task, as
/// [`SentryAgent::spawn_background`] started it. Stop it after the server
/// has stopped, so the last usage flush sees every request.
#[derive(Debug)]
#[must_use = "stop it after the server, or the last usage flush never runs"]
pub struct BackgroundTask {
    stop: tokio::sync::oneshot::Sender<()>,
    task: tokio::task::JoinHandle<FinalFlush>,
}

impl BackgroundTask {
    /// Ends the periodic jobs and waits for the last usage flush.
    pub async fn stop(self) -> FinalFlush {
        let _ = self.stop.send(());
        match self.task.await {
            Ok(last) => last,
            Err(e) => {
                tracing::error!(error = %e, "the background task failed; the last usage flush did not run");
                FinalFlush::default()
            }
        }
    }
}

impl SentryAgent {
    /// Starts [`background`](Self::background) on the current Tokio runtime,
    /// stopped by [`BackgroundTask::stop`]:
    ///
    /// ```
    /// # async fn demo() -> Result<(), sentryagent_core::Error> {
    /// let idp = sentryagent_core::SentryAgent::builder().build().await?;
    /// let background = idp.spawn_background();
    /// // ... serve until shutdown ...
    /// let last_flush = background.stop().await;
    /// assert_eq!(last_flush.lost, 0);
    /// # Ok(()) }
    /// ```
    pub fn spawn_background(&self) -> BackgroundTask {
        let (stop, stopped) = tokio::sync::oneshot::channel();
        let task = tokio::spawn(self.clone().background(async move {
            let _ = stopped.await;
        }));
        BackgroundTask { stop, task }
    }
}
