//! The audit service: appending, querying, verifying and pruning a tenant's chain.
//!
//! Stores it needs: `audit`, `tenants`.
//! Shared parts it uses: `chain`, `repeats`, `server_key`.

use super::*;
use crate::SentryAgent;
use crate::audit::NewAuditEvent;
use crate::error::Error;
use crate::{EventId, TenantId};

/// Events read per page while verifying.
const VERIFY_PAGE: usize = 1_000;

impl crate::SentryAgent {
    /// A page of the caller's audit events, newest first. Needs `audit:read`.
    ///
    /// # Errors
    /// Insufficient scope; a store error.
    pub async fn query_audit(
        &self,
        caller: &crate::Caller,
        query: &AuditQuery,
    ) -> Result<Vec<AuditEvent>, crate::Error> {
        caller.identity.require_scope(crate::scope::AUDIT_READ)?;
        Ok(self.inner.stores.audit.query_audit(caller.tenant(), query).await?)
    }

    /// Verifies the caller's tenant's chain incrementally: what changed
    /// since the last verification (see [`VerifyMode`]). Needs `audit:read`.
    ///
    /// # Errors
    /// Insufficient scope; a store error.
    pub async fn verify_audit(&self, caller: &crate::Caller) -> Result<Verification, crate::Error> {
        self.verify_audit_in(caller, VerifyMode::Incremental).await
    }

    /// Verifies the caller's tenant's chain in `mode`: incrementally, or one
    /// slice of a full verification (call again while the answer is not
    /// `complete`). Needs `audit:read`.
    ///
    /// # Errors
    /// Insufficient scope; a store error.
    pub async fn verify_audit_in(
        &self,
        caller: &crate::Caller,
        mode: VerifyMode,
    ) -> Result<Verification, crate::Error> {
        caller.identity.require_scope(crate::scope::AUDIT_READ)?;
        self.verify_audit_step(caller.tenant(), mode, FULL_SLICE).await
    }

    /// Recomputes the caller's tenant's chain and proves it still holds a
    /// checkpoint saved earlier (the JWS of [`audit_checkpoint`](Self::audit_checkpoint)):
    /// a chain rolled back, wiped or rewritten since is not valid. It is a
    /// full verification, in one go. Needs `audit:read`.
    ///
    /// # Errors
    /// Insufficient scope; a validation error for a checkpoint that is not
    /// one of this server's for this tenant; a store error.
    pub async fn verify_audit_against(
        &self,
        caller: &crate::Caller,
        saved_checkpoint: &str,
    ) -> Result<Verification, crate::Error> {
        caller.identity.require_scope(crate::scope::AUDIT_READ)?;
        let saved = checkpoint::verify(&self.inner.server_key, caller.tenant(), saved_checkpoint)?;
        self.verify_chain(caller.tenant(), Some(saved)).await
    }

    /// Recomputes a tenant's whole chain from its anchor to its checkpoint,
    /// in one go (a full verification; it takes a while on a long chain).
    ///
    /// # Errors
    /// A store error.
    pub async fn verify_audit_chain(&self, tenant: TenantId) -> Result<Verification, crate::Error> {
        self.verify_chain(tenant, None).await
    }

    /// Verifies a tenant's chain in `mode`, checking at most `budget`
    /// events: the incremental verification goes on from where the last
    /// one stopped, a full one from where its last slice stopped (or the
    /// anchor). Saves how far it got, so the next call goes on from there.
    ///
    /// # Errors
    /// A store error.
    pub async fn verify_audit_step(
        &self,
        tenant: TenantId,
        mode: VerifyMode,
        budget: u64,
    ) -> Result<Verification, crate::Error> {
        let store = &self.inner.stores.audit;
        let chain = &self.inner.chain;
        let budget = budget.max(1);
        let mut attempts = 0;
        loop {
            attempts += 1;
            // The checkpoint first: events appended while we read are past it and not checked.
            let checkpoint = store.audit_checkpoint(tenant).await?;
            let had_checkpoint = checkpoint.is_some();
            let anchor = store.audit_anchor(tenant).await?;
            let anchor_seq = anchor.as_ref().map_or(0, |a| a.seq);
            // A progress that is not authentic (or not there) is ignored:
            // the walk then starts at the anchor, which proves more.
            let progress = store
                .audit_verify_progress(tenant)
                .await?
                .filter(|p| chain.progress_is_authentic(tenant, p));
            let now = crate::time::now();
            // Where the walk starts: (seq, hash) to resume at, the run's origin.
            let (resume, run) = match mode {
                VerifyMode::Incremental => (
                    progress
                        .as_ref()
                        .filter(|p| p.verified_seq > anchor_seq)
                        .map(|p| (p.verified_seq, p.verified_hash)),
                    None,
                ),
                VerifyMode::Full => {
                    let run = progress
                        .as_ref()
                        .and_then(|p| p.run.clone())
                        .filter(|r| r.seq > anchor_seq);
                    match run {
                        Some(run) => (Some((run.seq, run.hash)), Some(run)),
                        None => (
                            None,
                            Some(FullRun {
                                started_at: now,
                                from_seq: anchor_seq,
                                seq: anchor_seq,
                                hash: anchor.as_ref().map_or([0; 32], |a| a.hash),
                                checked: 0,
                            }),
                        ),
                    }
                }
            };
            let mut verifier = chain.verifier(tenant, anchor.as_ref(), checkpoint);
            let mut after = anchor_seq;
            if let Some((seq, hash)) = resume {
                verifier.resume_at(seq, hash);
                after = seq - 1;
            }
            let mut reached_end = false;
            // The event resumed at is read again but not counted.
            let mut uncounted = u64::from(resume.is_some());
            while !verifier.failed() && after < verifier.last_seq() && verifier.checked() < budget {
                let want = usize::try_from(budget - verifier.checked() + uncounted)
                    .unwrap_or(VERIFY_PAGE)
                    .min(VERIFY_PAGE);
                uncounted = 0;
                let page = store.audit_links(tenant, after, want).await?;
                for link in &page {
                    verifier.feed_link(link);
                }
                match page.last() {
                    Some(last) if page.len() == want => after = last.seq,
                    _ => {
                        reached_end = true;
                        break;
                    }
                }
            }
            let complete = reached_end || verifier.failed() || after >= verifier.last_seq();
            let (reached_seq, reached_hash) = verifier.position();
            let mut verification = if complete {
                verifier.finish()
            } else {
                verifier.finish_slice()
            };
            // A new tenant's first events may land between reading no
            // checkpoint and reading them: look once more before calling
            // the checkpoint missing.
            if !(had_checkpoint || verification.valid || attempts > 1) {
                continue;
            }
            let mut next = progress.clone().unwrap_or(VerifyProgress {
                verified_seq: 0,
                verified_hash: [0; 32],
                full_passed_at: None,
                full_passed_seq: 0,
                run: None,
                mac: [0; 32],
            });
            if verification.valid && reached_seq > next.verified_seq {
                next.verified_seq = reached_seq;
                next.verified_hash = reached_hash;
            }
            verification.mode = mode;
            verification.from_seq = resume.map_or(anchor_seq, |(seq, _)| seq);
            if let Some(mut run) = run {
                verification.from_seq = run.from_seq;
                verification.checked += run.checked;
                next.run = None;
                if verification.valid && complete {
                    next.full_passed_at = Some(now);
                    next.full_passed_seq = reached_seq;
                } else if verification.valid {
                    run.seq = reached_seq;
                    run.hash = reached_hash;
                    run.checked = verification.checked;
                    next.run = Some(run);
                }
            }
            let next = chain.seal_progress(tenant, next);
            if progress.as_ref() != Some(&next) {
                store.save_audit_verify_progress(tenant, &next).await?;
            }
            verification.last_full_verification = next.full_passed_at.map(|at| FullVerification {
                at,
                seq: next.full_passed_seq,
            });
            return Ok(verification);
        }
    }

    async fn verify_chain(
        &self,
        tenant: TenantId,
        saved: Option<(u64, [u8; 32])>,
    ) -> Result<Verification, crate::Error> {
        let store = &self.inner.stores.audit;
        let mut attempts = 0;
        loop {
            attempts += 1;
            // The checkpoint first: events appended while we read are past it and not checked.
            let checkpoint = store.audit_checkpoint(tenant).await?;
            let had_checkpoint = checkpoint.is_some();
            let anchor = store.audit_anchor(tenant).await?;
            let mut after = anchor.as_ref().map_or(0, |a| a.seq);
            let mut verifier = self.inner.chain.verifier(tenant, anchor.as_ref(), checkpoint);
            if let Some((seq, hash)) = saved {
                verifier.expect_saved(seq, hash);
            }
            while !verifier.failed() && after < verifier.last_seq() {
                let page = store.audit_links(tenant, after, VERIFY_PAGE).await?;
                for link in &page {
                    verifier.feed_link(link);
                }
                match page.last() {
                    Some(last) if page.len() == VERIFY_PAGE => after = last.seq,
                    _ => break,
                }
            }
            let mut verification = verifier.finish();
            // A new tenant's first events may land between reading no
            // checkpoint and reading them: look once more before calling
            // the checkpoint missing.
            if had_checkpoint || verification.valid || attempts > 1 {
                let chain = &self.inner.chain;
                verification.last_full_verification = store
                    .audit_verify_progress(tenant)
                    .await?
                    .filter(|p| chain.progress_is_authentic(tenant, p))
                    .and_then(|p| {
                        p.full_passed_at.map(|at| FullVerification {
                            at,
                            seq: p.full_passed_seq,
                        })
                    });
                return Ok(verification);
            }
        }
    }

    /// Signs the checkpoint of the caller's tenant's chain as it stands: a
    /// JWS to keep outside this server, proof of what the chain held at
    /// this time. Needs `audit:read`.
    ///
    /// # Errors
    /// Insufficient scope; 409 `AUDIT_CHECKPOINT_MISSING` while the
    /// checkpoint is lost (nothing vouches for the head then; an operator
    /// re-anchors first) or not authentic; a store error.
    pub async fn audit_checkpoint(&self, caller: &crate::Caller) -> Result<SignedCheckpoint, crate::Error> {
        caller.identity.require_scope(crate::scope::AUDIT_READ)?;
        let tenant = caller.tenant();
        let store = &self.inner.stores.audit;
        let missing = |message: String| crate::Error::Conflict {
            code: crate::ErrorCode::AuditCheckpointMissing,
            message: message.into(),
        };
        let head = match store.audit_checkpoint(tenant).await? {
            Some(head) => head,
            None => {
                let anchor = store.audit_anchor(tenant).await?;
                let events = store
                    .audit_chain(tenant, anchor.as_ref().map_or(0, |a| a.seq), 1)
                    .await?;
                if anchor.is_some() || !events.is_empty() {
                    return Err(missing(
                        "the chain's checkpoint is missing; an operator must re-anchor the chain before it can be \
                         signed"
                            .into(),
                    ));
                }
                self.inner.chain.genesis(tenant)
            }
        };
        if !self.inner.chain.head_is_authentic(tenant, &head) {
            return Err(missing("the chain's checkpoint is not authentic".into()));
        }
        if let Some(at) = head.lost_at {
            return Err(missing(format!(
                "the chain's checkpoint was missing at seq {at}; an operator must re-anchor the chain before it can \
                 be signed"
            )));
        }
        checkpoint::sign(&self.inner.server_key, &self.inner.settings.issuer, tenant, &head)
    }

    /// The public key document of the audit signing key (`GET /audit/keys`),
    /// a JWKS with one Ed25519 key.
    pub fn audit_keys(&self) -> serde_json::Value {
        checkpoint::audit_jwks(&self.inner.server_key)
    }

    /// An operator's re-anchoring of a tenant's chain whose checkpoint was
    /// lost: the chain as it stands becomes the checkpoint again, and an
    /// `audit.reanchored` event by `actor` (`operator`) records where it was
    /// lost and where it was re-anchored. Use it only once the events since
    /// the loss have been checked otherwise (a saved signed checkpoint,
    /// `verify_audit_against`): re-anchoring vouches for whatever they say.
    /// Returns the `seq` where the checkpoint was lost; `None` when nothing
    /// was lost (no event then).
    ///
    /// # Errors
    /// A store error.
    pub async fn reanchor_audit(&self, tenant: TenantId, actor: &str) -> Result<Option<u64>, crate::Error> {
        let Some(lost) = self
            .inner
            .stores
            .audit
            .reanchor_audit(tenant, &self.inner.chain)
            .await?
        else {
            return Ok(None);
        };
        let lost_at = lost.lost_at.unwrap_or(lost.seq);
        tracing::warn!(%tenant, lost_at, seq = lost.seq, actor, "audit chain re-anchored");
        let event = NewAuditEvent::new("audit.reanchored", Outcome::Success, actor)
            .detail("lostAt", lost_at)
            .detail("reanchoredAt", lost.seq);
        self.record(tenant, vec![event]).await?;
        Ok(Some(lost_at))
    }

    /// Prunes each tenant's oldest audit events past the durable store's
    /// history bound ([`DurableStore::audit_history_limit`](crate::store::DurableStore::audit_history_limit):
    /// the in-memory store's), through the retention anchor, so
    /// `GET /audit/verify` stays valid. The background task runs it; returns
    /// how many events went (0 without a bound).
    ///
    /// # Errors
    /// A store error.
    pub async fn bound_audit_history(&self) -> Result<u64, crate::Error> {
        let Some(keep) = self.inner.settings.background.audit_history_limit else {
            return Ok(0);
        };
        let stores = &self.inner.stores;
        let (mut after, mut pruned) = (None, 0);
        loop {
            let tenants = stores.tenants.tenants(after, 500).await?;
            for tenant in &tenants {
                pruned += stores
                    .audit
                    .prune_audit(tenant.id, AuditCut::KeepNewest(keep), &self.inner.chain)
                    .await?;
            }
            match tenants.last() {
                Some(last) if tenants.len() == 500 => after = Some(last.id),
                _ => return Ok(pruned),
            }
        }
    }

    /// Deletes every tenant's events older than its tier's retention window,
    /// leaving an anchor so the chains stay verifiable. Returns how many
    /// events were deleted. The example server runs it daily.
    ///
    /// # Errors
    /// A store error.
    pub async fn prune_audit(&self, now: OffsetDateTime) -> Result<u64, crate::Error> {
        let stores = &self.inner.stores;
        let mut after = None;
        let mut pruned = 0;
        loop {
            let tenants = stores.tenants.tenants(after, 500).await?;
            for tenant in &tenants {
                let days = self.inner.settings.tiers.get(&tenant.tier).limits.audit_retention_days;
                let cutoff = now - time::Duration::days(i64::from(days));
                pruned += stores
                    .audit
                    .prune_audit(tenant.id, AuditCut::Before(cutoff), &self.inner.chain)
                    .await?;
            }
            match tenants.last() {
                Some(last) if tenants.len() == 500 => after = Some(last.id),
                _ => break,
            }
        }
        Ok(pruned)
    }
}

impl SentryAgent {
    /// Records `event`, a refusal of `key` in `tenant`, unless a refusal of
    /// the same key was recorded within the window: then it is only counted,
    /// and the count recorded when the window ends (see the module).
    ///
    /// # Errors
    /// A store error for an event recorded now.
    pub(crate) async fn record_repeated(
        &self,
        tenant: TenantId,
        key: String,
        event: NewAuditEvent,
    ) -> Result<(), Error> {
        // Without a runtime to close the window, every refusal is recorded.
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return self.record(tenant, vec![event]).await.map(drop);
        };
        let repeats = &self.inner.repeats;
        match repeats.counted(tenant, &key) {
            Some(true) => return Ok(()),
            None => return self.record(tenant, vec![event]).await.map(drop),
            Some(false) => {}
        }
        let summary = event.clone();
        let idp = self.clone();
        let window = self.inner.settings.refusal_audit_window;
        runtime.spawn(async move {
            tokio::time::sleep(window).await;
            let n = idp.inner.repeats.close(&key);
            if n == 0 {
                return;
            }
            let event = NewAuditEvent {
                id: EventId::new(),
                at: crate::time::now(),
                ..summary
            }
            .detail("repeats", n);
            if let Err(e) = idp.record(tenant, vec![event]).await {
                tracing::warn!(%tenant, repeats = n, error = %e, "the count of repeated refusals could not be audited");
            }
        });
        self.record(tenant, vec![event]).await.map(drop)
    }
}
