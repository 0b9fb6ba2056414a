//! A batch from the queue: stored at once when the database is free, else journaled in the
//! spool (with its campaigns' replies when the database answers); its requests answered.

use super::task::StoreCtx;
use super::{Flight, FlightKind, Writer, joined};
use crate::ingest::spool::Spool;
use crate::ingest::store::StoreError;
use crate::ingest::{IngestError, Job, Outcome, Push, Stored};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Longest the campaign lookup for a journaled batch's replies may take.
const REPLY_LOOKUP: Duration = Duration::from_millis(300);

impl Writer {
    pub(super) fn spool_pending(&self) -> bool {
        self.spool.as_ref().is_some_and(Spool::pending)
    }

    pub(super) fn db_resting(&self) -> bool {
        self.retry_at.is_some_and(|at| Instant::now() < at)
    }

    pub(super) fn mark_down(&mut self, why: &str) {
        self.st.health.db_down();
        if self.retry_at.is_none() {
            tracing::warn!(error = %why, "database unreachable: callback pushes go to the spool");
        }
        self.retry_at = Some(Instant::now() + self.opts.retry_every);
    }

    pub(super) fn ctx(&self) -> StoreCtx {
        StoreCtx {
            st: self.st.clone(),
            shared: self.shared.clone(),
            timeout: self.opts.store_timeout,
            on: self.main.clone(),
            erasures: self.erasures.clone(),
            source: "live",
        }
    }

    /// Stores a batch and waits for it (the spool's replay and the one-by-one paths).
    pub(super) async fn store(&self, pushes: Vec<Push>) -> Result<Vec<Stored>, StoreError> {
        self.ctx().store(pushes.into()).await
    }

    /// Will the next batch from the queue go to the spool, whatever is in flight?
    pub(super) fn journals_next(&self) -> bool {
        self.spool.is_some() && (self.opts.spill_when_busy || self.spool_pending() || self.db_resting())
    }

    /// A batch from the queue: stored at once when the database is free, else journaled.
    ///
    /// Ordering: pushes go behind whatever the spool holds, so a follower's `subscribe` is
    /// applied before the `unsubscribe` that came after it. One exception is left: a batch
    /// in flight that then fails for an outage is spooled after the batches journaled while
    /// it was in flight (milliseconds; a follower's own pushes are seconds apart).
    pub(super) async fn route(&mut self, batch: Vec<Job>) {
        if self.spool.is_some() && (self.spool_pending() || self.db_resting() || self.flight.is_some()) {
            self.spool_jobs(batch).await;
        } else if self.flight.is_none() {
            let pushes: Arc<[Push]> = batch.iter().map(|j| j.push.clone()).collect();
            let task = tokio::spawn(self.ctx().store(pushes));
            self.flight = Some(Flight { task, kind: FlightKind::Direct(batch), started: Instant::now() });
        } else {
            // Not reached: the loop takes no job while a batch is in flight and there is no
            // spool to journal into. Storing it after that batch keeps it correct anyway.
            let flight = self.flight.take().expect("checked");
            let done = flight.task.await;
            Box::pin(self.landed(flight.kind, flight.started.elapsed(), joined(done))).await;
            self.handle(batch).await;
        }
    }

    /// A stored (or failed) batch: answer its requests, or move the spool on.
    pub(super) async fn landed(&mut self, kind: FlightKind, took: Duration, result: Result<Vec<Stored>, StoreError>) {
        match kind {
            FlightKind::Direct(batch) => self.answer(batch, result).await,
            FlightKind::Import(lines) => {
                self.imported(lines, took, result).await;
            }
        }
    }

    /// Stores a batch now and answers it (the serial path: one push at a time after a refusal).
    async fn handle(&mut self, batch: Vec<Job>) {
        if self.spool.is_some() && (self.spool_pending() || self.db_resting()) {
            self.spool_jobs(batch).await;
            return;
        }
        let pushes: Vec<Push> = batch.iter().map(|j| j.push.clone()).collect();
        let result = self.store(pushes).await;
        self.answer(batch, result).await;
    }

    async fn answer(&mut self, batch: Vec<Job>, result: Result<Vec<Stored>, StoreError>) {
        match result {
            Ok(results) => {
                self.retry_at = None;
                self.st.health.db_up();
                for (job, result) in batch.into_iter().zip(results) {
                    let _ = job.answer.send(Ok(result));
                }
            }
            Err(StoreError::Unavailable(why) | StoreError::Conflict(why)) => {
                self.mark_down(&why);
                if self.spool.is_some() {
                    self.spool_jobs(batch).await;
                } else {
                    for job in batch {
                        let _ = job.answer.send(Err(IngestError::Unavailable));
                    }
                }
            }
            Err(StoreError::Refused(why)) if batch.len() > 1 => {
                // Find the push the database refuses: one transaction each, in order.
                tracing::warn!(error = %why, pushes = batch.len(), "batch refused; storing its pushes one by one");
                for job in batch {
                    Box::pin(self.handle(vec![job])).await;
                }
            }
            Err(StoreError::Refused(why)) => {
                tracing::error!(error = %why, "the database refused a callback push");
                for job in batch {
                    let _ = job.answer.send(Err(IngestError::Rejected(why.clone())));
                }
            }
        }
    }

    /// Journals a batch in the spool (fsynced) and acknowledges it. While the database
    /// answers, each push still gets its campaign's welcome reply: a read on the shared pool,
    /// which does not wait for the batch in flight.
    async fn spool_jobs(&mut self, batch: Vec<Job>) {
        let replies = if self.db_resting() { None } else { self.replies(&batch).await };
        let Some(spool) = self.spool.as_mut() else { return };
        // The pushes move into the spool (which keeps them in memory for the import).
        let (pushes, answers): (Vec<Push>, Vec<_>) = batch.into_iter().map(|j| (j.push, j.answer)).unzip();
        self.journaled.add(pushes.len() as u64, Instant::now());
        match spool.append(pushes) {
            Ok(()) => {
                self.st.health.spool_ok();
                self.st.health.spool_waiting(spool.waiting());
                let mut replies = replies.map(Vec::into_iter);
                for answer in answers {
                    let (campaign_id, reply) = replies.as_mut().and_then(Iterator::next).unwrap_or_default();
                    let stored = Stored { outcome: Outcome::Spooled, event_id: None, campaign_id, reply };
                    let _ = answer.send(Ok(stored));
                }
            }
            Err(e) if e.get_ref().is_some_and(|inner| inner.is::<crate::ingest::spool::Full>()) => {
                // Refused, so WeChat retries later; what the spool holds is kept and imported.
                if spool.note_full() {
                    tracing::warn!(error = %e, "spool full: pushes are refused (503) until it drains");
                }
                for answer in answers {
                    let _ = answer.send(Err(IngestError::SpoolFull));
                }
            }
            Err(e) => {
                tracing::error!(error = %e, path = %spool.path().display(), "cannot write the spool");
                self.st.health.spool_failed(&e, answers.len() as u64);
                for answer in answers {
                    let _ = answer.send(Err(IngestError::Spool(e.to_string())));
                }
            }
        }
    }

    /// The campaign and welcome reply of each push (from [`store::ReplyCache`]), or `None`
    /// when the database does not answer within [`REPLY_LOOKUP`] (the push is acknowledged
    /// without a reply then, as during an outage).
    async fn replies(&mut self, batch: &[Job]) -> Option<Vec<(Option<i32>, Option<wechat::Reply>)>> {
        let db = self.shared.as_ref().unwrap_or(&self.st.db);
        let pushes: Vec<&Push> = batch.iter().map(|j| &j.push).collect();
        match tokio::time::timeout(REPLY_LOOKUP, self.replies.replies(db, &pushes)).await {
            Ok(Ok(replies)) => Some(replies),
            Ok(Err(e)) => {
                tracing::debug!(error = %e, "no campaign lookup for journaled pushes; acknowledged without a reply");
                None
            }
            Err(_) => None,
        }
    }
}
