//! The writer task: group commit, the spool fallback, and the replay.
//!
//! Ordering rule: while the spool holds lines, new pushes go behind them in the spool, so a
//! follower's `subscribe` spooled during an outage is always applied before the `unsubscribe`
//! that came after it.

use super::spool::Spool;
use super::store::{self, StoreError};
use super::{IngestError, IngestOptions, Job, Outcome, Push, Stored};
use crate::AppState;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::mpsc;

/// Longest the writer spends replaying before it serves queued requests again.
const REPLAY_BUDGET: Duration = Duration::from_millis(500);
/// Immediate reruns of a batch that lost a write conflict (10, 20, 40, 80 ms apart).
const CONFLICT_RETRIES: usize = 4;

/// How often an idle writer with a non-empty spool tries the database.
const IDLE_TICK: Duration = Duration::from_millis(250);

struct Writer {
    st: AppState,
    /// The application's pool when the writer has a SQLite connection of its own: once the
    /// application has closed it (shutting down, or a test taking the database away), the
    /// writer no longer writes either and spools.
    shared: Option<sea_orm::DatabaseConnection>,
    spool: Option<Spool>,
    opts: IngestOptions,
    /// After a failure: don't try the database before this instant (spool straight away).
    retry_at: Option<Instant>,
}

pub(super) async fn run(st: AppState, mut rx: mpsc::Receiver<Job>, spool: Option<Spool>, opts: IngestOptions) {
    // On SQLite the writer keeps a connection of its own, so its page cache stays warm, and
    // another task checkpoints the WAL off the writer's path.
    let (st, shared, _checkpointer) = match crate::db::writer_connection(&st.db).await {
        Some(db) => {
            let checkpointer = AbortOnDrop(tokio::spawn(checkpoint_wal(st.db.clone())));
            (AppState { db, ..st.clone() }, Some(st.db), Some(checkpointer))
        }
        None => (st, None, None),
    };
    let mut w = Writer { st, shared, spool, opts, retry_at: None };
    loop {
        let first = if w.spool_pending() {
            match tokio::time::timeout(IDLE_TICK, rx.recv()).await {
                Ok(Some(job)) => Some(job),
                Ok(None) => break,
                Err(_) => None,
            }
        } else {
            match rx.recv().await {
                Some(job) => Some(job),
                None => break,
            }
        };
        if w.spool_pending() {
            w.replay().await;
        }
        let Some(first) = first else { continue };
        // Group commit: whatever queued up while the previous batch was committing goes into
        // this one. No artificial wait: at low load a push is stored at once.
        let mut batch = vec![first];
        while batch.len() < w.opts.max_batch.max(1) {
            match rx.try_recv() {
                Ok(job) => batch.push(job),
                Err(_) => break,
            }
        }
        w.handle(batch).await;
    }
    // Senders are gone (shutdown): one last attempt to empty the spool.
    if w.spool_pending() {
        w.retry_at = None;
        w.replay().await;
    }
}

/// How often the WAL is checkpointed in the background on SQLite.
const CHECKPOINT_EVERY: Duration = Duration::from_millis(200);

/// Copies committed WAL pages back into the SQLite file, every [`CHECKPOINT_EVERY`], on a
/// connection of the shared pool. A PASSIVE checkpoint never waits for the writer and never
/// blocks it. The writer's own connection checkpoints only when the WAL has grown far beyond
/// what this task leaves (see [`crate::db::writer_connection`]); before, SQLite ran every
/// checkpoint inside the commit of whichever batch crossed 1 000 WAL pages, so that batch's
/// requests also waited for the checkpoint's writes and fsync.
async fn checkpoint_wal(db: sea_orm::DatabaseConnection) {
    use sea_orm::ConnectionTrait;
    let mut tick = tokio::time::interval(CHECKPOINT_EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        if let Err(e) = db.execute_unprepared("PRAGMA wal_checkpoint(PASSIVE)").await {
            tracing::debug!(error = %e, "background WAL checkpoint failed; the next one retries");
        }
    }
}

/// Stops the background checkpoint task with the writer.
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

impl Writer {
    fn spool_pending(&self) -> bool {
        self.spool.as_ref().is_some_and(Spool::pending)
    }

    fn db_resting(&self) -> bool {
        self.retry_at.is_some_and(|at| Instant::now() < at)
    }

    fn mark_down(&mut self, why: &str) {
        self.st.health.db_down();
        if self.retry_at.is_none() {
            tracing::warn!(error = %why, "database unreachable: callback pushes go to the spool");
        }
        self.retry_at = Some(Instant::now() + self.opts.retry_every);
    }

    /// Runs one batch in its own task with a deadline: a panic or a hung connection becomes
    /// an error here instead of taking the writer down.
    async fn store(&self, pushes: Vec<Push>) -> Result<Vec<Stored>, StoreError> {
        // Several instances write the same counter and subscription rows: when PostgreSQL
        // picks this batch as a deadlock's victim (or SQLite stays busy), run it again a few
        // times before calling the database unavailable and spooling.
        // Shared, not copied, between the tries (and moved into each try's task).
        let pushes: Arc<[Push]> = pushes.into();
        let mut pause = Duration::from_millis(10);
        for _ in 0..CONFLICT_RETRIES {
            match self.store_once(Arc::clone(&pushes)).await {
                Err(StoreError::Conflict(why)) => {
                    tracing::debug!(error = %why, "write conflict; the batch runs again");
                    tokio::time::sleep(pause + Duration::from_millis(rand::random::<u64>() % 10)).await;
                    pause *= 2;
                }
                other => return other,
            }
        }
        match self.store_once(pushes).await {
            Err(StoreError::Conflict(why)) => Err(StoreError::Unavailable(why)),
            other => other,
        }
    }

    async fn store_once(&self, pushes: Arc<[Push]>) -> Result<Vec<Stored>, StoreError> {
        if self.shared.as_ref().is_some_and(|db| db.get_sqlite_connection_pool().is_closed()) {
            return Err(StoreError::Unavailable("the database was closed".into()));
        }
        let st = self.st.clone();
        let mut task = tokio::spawn(async move { store::apply(&st, &pushes).await });
        match tokio::time::timeout(self.opts.store_timeout, &mut task).await {
            Ok(Ok(result)) => result,
            Ok(Err(join)) => Err(StoreError::Refused(format!("the store task failed: {join}"))),
            Err(_) => {
                task.abort();
                // Wait until it is really gone, so it can't commit behind a replay's back (it
                // would be harmless, the unique key sees to that, but it keeps order simple).
                let _ = task.await;
                Err(StoreError::Unavailable("the database did not answer in time".into()))
            }
        }
    }

    async fn handle(&mut self, batch: Vec<Job>) {
        if self.spool.is_some() && (self.spool_pending() || self.db_resting()) {
            self.spool_jobs(batch);
            return;
        }
        let pushes: Vec<Push> = batch.iter().map(|j| j.push.clone()).collect();
        match self.store(pushes).await {
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
                    self.spool_jobs(batch);
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

    fn spool_jobs(&mut self, batch: Vec<Job>) {
        let Some(spool) = self.spool.as_mut() else { return };
        match spool.append(batch.iter().map(|j| &j.push)) {
            Ok(()) => {
                self.st.health.spool_ok();
                self.st.health.spool_waiting(spool.waiting());
                for job in batch {
                    let stored = Stored { outcome: Outcome::Spooled, event_id: None, campaign_id: None, reply: None };
                    let _ = job.answer.send(Ok(stored));
                }
            }
            Err(e) => {
                tracing::error!(error = %e, path = %spool.path().display(), "cannot write the spool");
                self.st.health.spool_failed(&e, batch.len() as u64);
                for job in batch {
                    let _ = job.answer.send(Err(IngestError::Spool(e.to_string())));
                }
            }
        }
    }

    /// Replays spooled pushes in order, a batch per transaction, until the spool is empty,
    /// the database fails again, or the time budget is spent.
    async fn replay(&mut self) {
        if self.db_resting() {
            return;
        }
        let started = Instant::now();
        while started.elapsed() < REPLAY_BUDGET {
            let Some(spool) = self.spool.as_mut() else { return };
            let lines = match spool.read(self.opts.max_batch.max(1)) {
                Ok(lines) => lines,
                Err(e) => {
                    tracing::error!(error = %e, "cannot read the spool");
                    self.retry_at = Some(Instant::now() + self.opts.retry_every);
                    return;
                }
            };
            let Some(last) = lines.last().map(|l| l.end) else {
                let _ = spool.advance(0, 0);
                self.st.health.spool_waiting(spool.waiting());
                return;
            };
            let pushes: Vec<Push> = lines.iter().map(|l| l.push.clone()).collect();
            let count = pushes.len();
            match self.store(pushes).await {
                Ok(results) => {
                    let stored = results.iter().filter(|r| r.outcome == Outcome::Stored).count();
                    tracing::info!(replayed = count, stored, "spooled pushes stored");
                    self.retry_at = None;
                    self.st.health.db_answers();
                    self.advance(last, count as u64);
                }
                Err(StoreError::Unavailable(why) | StoreError::Conflict(why)) => {
                    self.mark_down(&why);
                    return;
                }
                Err(StoreError::Refused(why)) => {
                    tracing::warn!(error = %why, "a spooled batch was refused; replaying it one push at a time");
                    for line in lines {
                        match self.store(vec![line.push.clone()]).await {
                            Ok(_) => {}
                            Err(StoreError::Unavailable(why) | StoreError::Conflict(why)) => {
                                self.mark_down(&why);
                                return;
                            }
                            Err(StoreError::Refused(why)) => {
                                tracing::error!(error = %why, "a spooled push was refused; moved to the rejected file");
                                if let Some(spool) = self.spool.as_mut()
                                    && let Err(e) = spool.reject(&line.push)
                                {
                                    tracing::error!(error = %e, "cannot write the rejected file");
                                    return;
                                }
                            }
                        }
                        self.advance(line.end, 1);
                    }
                }
            }
        }
    }

    fn advance(&mut self, end: u64, lines: u64) {
        let Some(spool) = self.spool.as_mut() else { return };
        if let Err(e) = spool.advance(end, lines) {
            tracing::error!(error = %e, "cannot truncate the replayed spool (it will be replayed again, harmlessly)");
        }
        self.st.health.spool_waiting(spool.waiting());
    }
}
