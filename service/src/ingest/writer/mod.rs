//! The writer (a thread of its own): group commit, the spool (outages and bursts), and its import.
//!
//! One batch is with the database at a time, in a task of its own (a [`Flight`]). A batch
//! from the queue goes straight to the database when nothing else is in flight and the spool
//! is empty; its requests are answered after the commit. A batch that arrives while another
//! is being stored, or while the spool holds lines, or while the database is down, is
//! journaled in the spool (one write and one fsync for the batch) and answered at once; the
//! writer imports the spool behind it, in order, [`IngestOptions::max_import`] lines per
//! transaction. So under a burst the requests wait for an fsync, not for the database, and
//! the database takes the pushes in big, cheap batches. While pushes are journaled faster
//! than [`IngestOptions::burst_rate`], the import waits for the burst to end (at most
//! [`IngestOptions::max_import_lag`] per push), so the cores answer WeChat first.
//!
//! Ordering rule: while the spool holds lines, new pushes go behind them in the spool, so a
//! follower's `subscribe` spooled earlier is always applied before the `unsubscribe` that
//! came after it.
//!
//! Here: the writer's state, its loop, and the batch in flight. `route` — a batch from the
//! queue stored at once or journaled, and its requests answered; `import` — the spool's
//! import (its size, the burst it waits for, the lower-priority thread it runs on); `task` —
//! one batch stored in a task of its own, with a deadline and reruns after write conflicts.

mod import;
mod route;
mod task;
#[cfg(test)]
mod tests;

use super::checkpoint::{Checkpointer, Erasures};
use super::spool::Spool;
use super::store::{self, StoreError};
use super::{IngestOptions, Job, Push, Stored};
use crate::AppState;
use import::{Importer, Rate};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::mpsc;

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
    /// The batch being stored, if any.
    flight: Option<Flight>,
    /// Lines per import transaction now: halved when an import is slow or fails, doubled
    /// again when one is quick (see [`Writer::imported`]), within [`MIN_IMPORT`] and
    /// [`IngestOptions::max_import`].
    import_size: usize,
    /// Campaign replies of journaled pushes, remembered for a second.
    replies: store::ReplyCache,
    /// Where imports run, when bursts are journaled (see [`Importer`]).
    importer: Option<Importer>,
    /// Pushes journaled lately: a burst holds the import back ([`Writer::import_wait`]).
    journaled: Rate,
    /// The server's runtime, where store tasks run.
    main: tokio::runtime::Handle,
    /// On SQLite: tells the background checkpoints to empty the WAL after an erasure.
    erasures: Option<Erasures>,
}

/// The writer: takes the queue's pushes, stores or journals them, imports the journal. Store
/// tasks run on `main` (the server's runtime), imports on their own thread.
pub(super) async fn run(
    st: AppState,
    mut rx: mpsc::Receiver<Job>,
    spool: Option<Spool>,
    opts: IngestOptions,
    main: tokio::runtime::Handle,
) {
    let importer = opts.spill_when_busy.then(Importer::start).flatten();
    // On SQLite the writer keeps a connection of its own, so its page cache stays warm, and
    // another task checkpoints the WAL off the writer's path. It is opened from the import
    // thread, so SQLite's own thread for it starts at the imports' lower priority too.
    let own = match &importer {
        Some(i) => {
            let db = st.db.clone();
            i.handle.spawn(async move { crate::db::writer_connection(&db).await }).await.ok().flatten()
        }
        None => crate::db::writer_connection(&st.db).await,
    };
    let (st, shared, _checkpointer, erasures) = match own {
        Some(db) => {
            let erasures = Erasures::default();
            let checkpointer = Checkpointer::start(st.db.clone(), erasures.clone(), &main);
            (AppState { db, ..st.clone() }, Some(st.db), Some(checkpointer), Some(erasures))
        }
        None => (st, None, None, None),
    };
    let import_size = opts.max_import.max(1);
    let mut w = Writer {
        st,
        shared,
        spool,
        opts,
        retry_at: None,
        flight: None,
        import_size,
        replies: store::ReplyCache::default(),
        importer,
        journaled: Rate::default(),
        main,
        erasures,
    };
    loop {
        // An import waits while a burst is being journaled (for a while at most): `held` is
        // how soon to look again.
        let mut held = None;
        if w.flight.is_none() && w.spool_pending() && !w.db_resting() {
            held = w.import_wait();
            if held.is_none() {
                w.start_import();
            }
        }
        // A batch is taken while another is in flight only when it is to be journaled anyway;
        // otherwise it waits in the queue for the next group commit.
        let accept = w.flight.is_none() || (w.journals_next() && !w.backlog_full());
        let idle = w.flight.is_none() && w.spool_pending();
        let event = {
            let flight = &mut w.flight;
            tokio::select! {
                biased;
                done = async { (&mut flight.as_mut().expect("guarded").task).await }, if flight.is_some() => Event::Landed(done),
                job = rx.recv(), if accept => Event::Job(job),
                () = tokio::time::sleep(held.unwrap_or(IDLE_TICK)), if idle => Event::Tick,
            }
        };
        match event {
            Event::Landed(done) => {
                let flight = w.flight.take().expect("a flight landed");
                w.landed(flight.kind, flight.started.elapsed(), joined(done)).await;
            }
            Event::Job(Some(first)) => {
                // Group commit: whatever queued up while the previous batch was committing goes
                // into this one. No artificial wait: at low load a push is stored at once.
                let mut batch = vec![first];
                while batch.len() < w.opts.max_batch.max(1) {
                    match rx.try_recv() {
                        Ok(job) => batch.push(job),
                        Err(_) => break,
                    }
                }
                w.route(batch).await;
            }
            Event::Job(None) => break,
            Event::Tick => {}
        }
    }
    // Senders are gone (shutdown): let the batch in flight land, then one last attempt to
    // empty the spool.
    if let Some(flight) = w.flight.take() {
        let done = flight.task.await;
        w.landed(flight.kind, flight.started.elapsed(), joined(done)).await;
    }
    if w.spool_pending() {
        w.retry_at = None;
        w.replay().await;
    }
}

/// What woke the writer.
enum Event {
    Landed(Result<Result<Vec<Stored>, StoreError>, tokio::task::JoinError>),
    Job(Option<Job>),
    Tick,
}

/// The one batch the database is working on, in a task of its own so that the writer can
/// journal the pushes that arrive meanwhile.
struct Flight {
    task: tokio::task::JoinHandle<Result<Vec<Stored>, StoreError>>,
    kind: FlightKind,
    started: Instant,
}

enum FlightKind {
    /// Pushes straight from the queue; their requests wait for this commit.
    Direct(Vec<Job>),
    /// Lines from the spool (already acknowledged).
    Import(Lines),
}

/// Spooled pushes read for one import: shared with the store task rather than copied, and
/// the file offset just after each line.
struct Lines {
    pushes: Arc<[Push]>,
    ends: Vec<u64>,
}

/// The outcome of a store task; a panic in it counts as a refusal of its batch.
fn joined(done: Result<Result<Vec<Stored>, StoreError>, tokio::task::JoinError>) -> Result<Vec<Stored>, StoreError> {
    done.unwrap_or_else(|join| {
        if join.is_cancelled() {
            // Its runtime is shutting down (the server is stopping): nothing was refused, and
            // the batch must stay where it is (in the spool) for the next start.
            Err(StoreError::Unavailable(format!("the store task was cancelled: {join}")))
        } else {
            Err(StoreError::Refused(format!("the store task failed: {join}")))
        }
    })
}

/// Runs `work` on a new thread named `name`, in a current-thread runtime of its own, after
/// `setup` (on that thread: a priority set there is inherited by the threads it starts). The
/// thread ends with `work`; the handle spawns more tasks onto its runtime meanwhile.
pub(super) fn runtime_thread(
    name: &str,
    setup: impl FnOnce() + Send + 'static,
    work: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<tokio::runtime::Handle> {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    let handle = runtime.handle().clone();
    std::thread::Builder::new().name(name.into()).spawn(move || {
        setup();
        runtime.block_on(work);
    })?;
    Ok(handle)
}
