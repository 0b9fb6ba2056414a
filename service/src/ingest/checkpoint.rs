//! SQLite's WAL, checkpointed in the background while the ingest writer has a connection of
//! its own: copied into the database file every [`EVERY`], and emptied soon after an erasure.
//!
//! Why emptied: the WAL keeps every page version written since it last restarted, so an
//! OpenID that an unsubscribe erased (the page rewritten without it, `secure_delete` zeroing
//! what was freed, see `db::connect`) is still in the older frames, and SQLite reuses the
//! file from its start without ever shrinking it. After a batch that erased something, a
//! `TRUNCATE` checkpoint copies every frame into the database file and cuts the WAL to zero
//! bytes. It must wait for the writer and for readers of older snapshots, and holds back new
//! writes while it works; on a connection without a busy wait it gives up at once instead of
//! waiting, and is tried again, at most once per [`TRUNCATE_EVERY`], until it succeeds.

use sea_orm::{ConnectionTrait, DatabaseConnection, DbBackend, Statement};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// How often the WAL is checkpointed (PASSIVE).
const EVERY: Duration = Duration::from_millis(200);

/// Least time between two tries to empty the WAL after erasures: each one holds writes back
/// for as long as it copies (a few milliseconds), so a stream of unsubscribes costs the writer
/// at most one such pause per period.
pub(super) const TRUNCATE_EVERY: Duration = Duration::from_secs(2);

/// Tells the checkpoints that a committed batch erased a follower; cheap to clone.
#[derive(Clone, Default)]
pub(super) struct Erasures(Arc<AtomicBool>);

impl Erasures {
    /// A batch with an unsubscribe was committed: empty the WAL soon.
    pub(super) fn committed(&self) {
        self.0.store(true, Ordering::Release);
    }

    fn take(&self) -> bool {
        self.0.swap(false, Ordering::AcqRel)
    }
}

/// The background checkpoints; they stop when this is dropped (with the writer).
pub(super) struct Checkpointer {
    task: tokio::task::JoinHandle<()>,
}

impl Checkpointer {
    /// Starts checkpointing the WAL of `db` (the shared pool, SQLite) on `on`.
    pub(super) fn start(db: DatabaseConnection, erasures: Erasures, on: &tokio::runtime::Handle) -> Self {
        Self { task: on.spawn(run(db, erasures)) }
    }
}

impl Drop for Checkpointer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Copies committed WAL pages back into the SQLite file, every [`EVERY`]. A PASSIVE
/// checkpoint never waits for the writer and never blocks it. The writer's own connection
/// checkpoints only when the WAL has grown far beyond what this task leaves (see
/// [`crate::db::writer_connection`]); before, SQLite ran every checkpoint inside the commit of
/// whichever batch crossed 1 000 WAL pages, so that batch's requests also waited for the
/// checkpoint's writes and fsync.
async fn run(shared: DatabaseConnection, erasures: Erasures) {
    // Without a connection of its own (rare), the shared pool's 5 s busy wait applies.
    let db = crate::db::checkpoint_connection(&shared).await.unwrap_or(shared);
    let mut tick = tokio::time::interval(EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut last_truncate: Option<Instant> = None;
    loop {
        tick.tick().await;
        if last_truncate.is_none_or(|at| at.elapsed() >= TRUNCATE_EVERY) && erasures.take() {
            last_truncate = Some(Instant::now());
            if !truncate(&db).await {
                // Busy (the writer, or a reader of an older snapshot): the next period retries.
                erasures.committed();
            }
            continue;
        }
        if let Err(e) = db.execute_unprepared("PRAGMA wal_checkpoint(PASSIVE)").await {
            tracing::debug!(error = %e, "background WAL checkpoint failed; the next one retries");
        }
    }
}

/// One `TRUNCATE` checkpoint: whether the WAL is empty now.
async fn truncate(db: &DatabaseConnection) -> bool {
    // One row: (busy, frames in the WAL, frames checkpointed); busy = 1 when it had to give up.
    match db.query_one_raw(Statement::from_string(DbBackend::Sqlite, "PRAGMA wal_checkpoint(TRUNCATE)")).await {
        Ok(Some(row)) => row.try_get_by_index::<i64>(0).is_ok_and(|busy| busy == 0),
        Ok(None) => false,
        Err(e) => {
            tracing::debug!(error = %e, "could not empty the WAL after an erasure; the next period retries");
            false
        }
    }
}
