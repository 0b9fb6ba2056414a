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

use super::checkpoint::{Checkpointer, Erasures};
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

/// Longest the campaign lookup for a journaled batch's replies may take.
const REPLY_LOOKUP: Duration = Duration::from_millis(300);

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

/// Pushes counted per [`Rate::WINDOW`]; the rate is that of the busier of the last full
/// window and the current one, so it falls to zero within two windows of the last push.
#[derive(Default)]
struct Rate {
    start: Option<Instant>,
    count: u64,
    previous: u64,
}

impl Rate {
    const WINDOW: Duration = Duration::from_millis(100);

    fn roll(&mut self, now: Instant) {
        let start = *self.start.get_or_insert(now);
        let elapsed = now.saturating_duration_since(start);
        if elapsed >= Self::WINDOW {
            self.previous = if elapsed < 2 * Self::WINDOW { self.count } else { 0 };
            self.count = 0;
            self.start = Some(now);
        }
    }

    fn add(&mut self, n: u64, now: Instant) {
        self.roll(now);
        self.count += n;
    }

    fn per_second(&mut self, now: Instant) -> u64 {
        self.roll(now);
        let windows_per_second = (Duration::from_secs(1).as_micros() / Self::WINDOW.as_micros()) as u64;
        self.previous.max(self.count) * windows_per_second
    }
}

/// The smallest import batch.
const MIN_IMPORT: usize = 64;
/// An import taking longer than this halves the next one's size; one taking less than a
/// quarter of it doubles it. Keeps each import short enough that the spool moves steadily
/// even when the database has slowed down.
const IMPORT_TARGET: Duration = Duration::from_secs(1);
/// Imports are acknowledged already, so nobody waits for them: they get this many times the
/// store timeout before the database counts as unreachable.
const IMPORT_TIMEOUT_FACTOR: u32 = 10;

/// The writer: takes the queue's pushes, stores or journals them, imports the journal. Store
/// tasks run on `main` (the server's runtime), imports on their own thread.
pub(super) async fn run(st: AppState, mut rx: mpsc::Receiver<Job>, spool: Option<Spool>, opts: IngestOptions, main: tokio::runtime::Handle) {
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

/// The thread the spool's imports run on: a runtime of its own, at nice [`IMPORT_NICE`].
///
/// Under a burst the two kinds of work compete for the same cores: answering WeChat (verify,
/// journal, acknowledge), which has a 5 s deadline, and importing the journal into the
/// database, which has none (the pushes are durable and acknowledged already). At a lower
/// priority the import takes the CPU the answers leave, and catches up when the burst ends;
/// with cores to spare nothing changes. A backlog past [`IngestOptions::max_backlog`] still
/// makes requests wait for the import, so the charts' lag stays bounded under a load that
/// never ends. Linux only (elsewhere the thread runs at normal priority); a thread spawned
/// from it, such as SQLite's for the writer's own connection, inherits its priority.
struct Importer {
    handle: tokio::runtime::Handle,
    /// Dropping it ends the thread (and the runtime, on that thread).
    _stop: tokio::sync::oneshot::Sender<()>,
}

/// How much lower the imports' priority is: nice 10 weighs about a tenth of nice 0 when
/// both want the CPU.
const IMPORT_NICE: i32 = 10;

impl Importer {
    /// `None` when the thread or its runtime cannot be started (imports then run with the
    /// rest, as before).
    fn start() -> Option<Self> {
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let lower = || {
            #[cfg(target_os = "linux")]
            if let Err(e) = rustix::process::nice(IMPORT_NICE) {
                tracing::debug!(error = %e, "imports run at normal priority");
            }
        };
        match runtime_thread("ingest-import", lower, async move {
            let _ = stopped.await;
        }) {
            Ok(handle) => Some(Self { handle, _stop: stop }),
            Err(e) => {
                tracing::warn!(error = %e, "no thread for the imports; they share the server's runtime");
                None
            }
        }
    }
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

/// Everything a store task needs, cloned into it.
#[derive(Clone)]
struct StoreCtx {
    st: AppState,
    shared: Option<sea_orm::DatabaseConnection>,
    timeout: Duration,
    /// The runtime the store task runs on: the server's, or the import thread's.
    on: tokio::runtime::Handle,
    erasures: Option<Erasures>,
}

impl StoreCtx {
    /// Stores one batch, rerunning it after write conflicts; on SQLite, has the WAL emptied
    /// soon after a batch with an unsubscribe commits (`checkpoint`).
    async fn store(self, pushes: Arc<[Push]>) -> Result<Vec<Stored>, StoreError> {
        let erases = self.erasures.is_some() && pushes.iter().any(Push::erases);
        let result = self.store_retrying(pushes).await;
        if let (true, Ok(_), Some(erasures)) = (erases, &result, &self.erasures) {
            erasures.committed();
        }
        result
    }

    /// Several instances write the same counter and subscription rows: when PostgreSQL picks
    /// this batch as a deadlock's victim (or SQLite stays busy), run it again a few times
    /// before calling the database unavailable and spooling.
    async fn store_retrying(&self, pushes: Arc<[Push]>) -> Result<Vec<Stored>, StoreError> {
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

    /// One try, in its own task with a deadline: a panic or a hung connection becomes an
    /// error here instead of taking the writer down.
    async fn store_once(&self, pushes: Arc<[Push]>) -> Result<Vec<Stored>, StoreError> {
        if self.shared.as_ref().is_some_and(|db| db.get_sqlite_connection_pool().is_closed()) {
            return Err(StoreError::Unavailable("the database was closed".into()));
        }
        let st = self.st.clone();
        st.health.batch_begun();
        let work = async move { store::apply(&st, &pushes).await };
        let mut task = self.on.spawn(work);
        match tokio::time::timeout(self.timeout, &mut task).await {
            Ok(done) => joined(done),
            Err(_) => {
                task.abort();
                // Wait until it is really gone, so it can't commit behind a replay's back (it
                // would be harmless, the unique key sees to that, but it keeps order simple).
                let _ = task.await;
                Err(StoreError::Unavailable("the database did not answer in time".into()))
            }
        }
    }
}

/// The next import's size after one of `count` lines (of `size` asked for) took `took`.
fn next_import_size(size: usize, max: usize, count: usize, took: Duration, ok: bool) -> usize {
    let max = max.max(1);
    if !ok || took > IMPORT_TARGET {
        (size / 2).max(MIN_IMPORT.min(max))
    } else if took < IMPORT_TARGET / 4 && count == size {
        (size * 2).min(max)
    } else {
        size.min(max)
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

    fn ctx(&self) -> StoreCtx {
        StoreCtx {
            st: self.st.clone(),
            shared: self.shared.clone(),
            timeout: self.opts.store_timeout,
            on: self.main.clone(),
            erasures: self.erasures.clone(),
        }
    }

    /// Should the next import wait? While pushes are journaled faster than
    /// [`IngestOptions::burst_rate`], the burst's pushes stay in the spool (acknowledged,
    /// durable) until it ends or the oldest has waited [`IngestOptions::max_import_lag`]:
    /// the cores answer WeChat first, and the import catches up after. `Some(d)`: look
    /// again in `d`. Never when bursts are not journaled, when the backlog is full (requests
    /// wait for the import then), or for lines that must be read from the file.
    fn import_wait(&mut self) -> Option<Duration> {
        if !self.opts.spill_when_busy || self.backlog_full() || self.journaled.per_second(Instant::now()) < self.opts.burst_rate {
            return None;
        }
        let oldest = self.spool.as_ref()?.oldest_waiting()?;
        let waited = (chrono::Utc::now() - oldest).to_std().unwrap_or_default();
        self.opts.max_import_lag.checked_sub(waited).filter(|left| !left.is_zero()).map(|left| left.min(Rate::WINDOW))
    }

    /// For imports: a longer deadline, and the import thread.
    fn import_ctx(&self) -> StoreCtx {
        StoreCtx {
            timeout: self.opts.store_timeout * IMPORT_TIMEOUT_FACTOR,
            on: self.importer.as_ref().map_or_else(|| self.main.clone(), |i| i.handle.clone()),
            ..self.ctx()
        }
    }

    /// Stores a batch and waits for it (the spool's replay and the one-by-one paths).
    async fn store(&self, pushes: Vec<Push>) -> Result<Vec<Stored>, StoreError> {
        self.ctx().store(pushes.into()).await
    }

    /// Has a burst's backlog reached [`IngestOptions::max_backlog`]? Then requests wait in the
    /// queue for the import (back-pressure, so the charts' lag stays bounded under a load the
    /// database cannot follow). Not during an outage: then the spool is the only place left.
    /// A spool at its byte cap counts as a full backlog too, so while the database answers,
    /// requests wait for the import rather than being refused.
    fn backlog_full(&self) -> bool {
        !self.db_resting() && self.spool.as_ref().is_some_and(|s| s.waiting() >= self.opts.max_backlog || s.is_full())
    }

    /// Will the next batch from the queue go to the spool, whatever is in flight?
    fn journals_next(&self) -> bool {
        self.spool.is_some() && (self.opts.spill_when_busy || self.spool_pending() || self.db_resting())
    }

    /// A batch from the queue: stored at once when the database is free, else journaled.
    ///
    /// Ordering: pushes go behind whatever the spool holds, so a follower's `subscribe` is
    /// applied before the `unsubscribe` that came after it. One exception is left: a batch
    /// in flight that then fails for an outage is spooled after the batches journaled while
    /// it was in flight (milliseconds; a follower's own pushes are seconds apart).
    async fn route(&mut self, batch: Vec<Job>) {
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

    /// Starts storing the next lines of the spool (bigger batches than the queue's: they are
    /// acknowledged already, and the bigger the batch, the less each push costs the database).
    fn start_import(&mut self) {
        let Some(lines) = self.next_lines() else { return };
        let task = tokio::spawn(self.import_ctx().store(Arc::clone(&lines.pushes)));
        self.flight = Some(Flight { task, kind: FlightKind::Import(lines), started: Instant::now() });
    }

    /// The next [`IngestOptions::max_import`] lines to import; `None` when there are none (the
    /// spool is then reset) or the spool cannot be read (the next try waits `retry_every`).
    fn next_lines(&mut self) -> Option<Lines> {
        let spool = self.spool.as_mut()?;
        let max = self.import_size;
        match spool.read(max) {
            Ok(lines) if lines.is_empty() => {
                let _ = spool.advance(0, 0, false);
                self.st.health.spool_waiting(spool.waiting());
                None
            }
            Ok(lines) => {
                let (pushes, ends): (Vec<Push>, Vec<u64>) = lines.into_iter().map(|l| (l.push, l.end)).unzip();
                Some(Lines { pushes: pushes.into(), ends })
            }
            Err(e) => {
                tracing::error!(error = %e, "cannot read the spool");
                self.retry_at = Some(Instant::now() + self.opts.retry_every);
                None
            }
        }
    }

    /// A stored (or failed) batch: answer its requests, or move the spool on.
    async fn landed(&mut self, kind: FlightKind, took: Duration, result: Result<Vec<Stored>, StoreError>) {
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
            Err(e) if e.get_ref().is_some_and(|inner| inner.is::<super::spool::Full>()) => {
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

    /// Replays spooled pushes in order, a batch per transaction, until the spool is empty,
    /// the database fails again, or the time budget is spent (at shutdown; while running, the
    /// loop imports the spool one batch at a time next to the queue).
    async fn replay(&mut self) {
        if self.db_resting() {
            return;
        }
        let started = Instant::now();
        while started.elapsed() < REPLAY_BUDGET {
            let Some(lines) = self.next_lines() else { return };
            let t0 = Instant::now();
            let result = self.import_ctx().store(Arc::clone(&lines.pushes)).await;
            if !self.imported(lines, t0.elapsed(), result).await {
                return;
            }
        }
    }

    /// Moves the spool past lines the database took; on a refusal, finds the refused push one
    /// by one and sets it aside. False when the database failed (stop replaying for now).
    async fn imported(&mut self, lines: Lines, took: Duration, result: Result<Vec<Stored>, StoreError>) -> bool {
        let Some(&last) = lines.ends.last() else { return true };
        let count = lines.ends.len();
        // A big import on a slowed-down database must not time out again and again (the spool
        // would never move): halve after a slow or failed one, grow back after quick ones.
        self.import_size = next_import_size(self.import_size, self.opts.max_import, count, took, result.is_ok());
        match result {
            Ok(results) => {
                let stored = results.iter().filter(|r| r.outcome == Outcome::Stored).count();
                // Worth an info line when it ends an outage; a burst's imports are routine.
                if self.st.health.ingest().db_down_since.is_some() {
                    tracing::info!(replayed = count, stored, "spooled pushes stored; the database answers again");
                } else {
                    tracing::debug!(replayed = count, stored, "spooled pushes stored");
                }
                self.retry_at = None;
                self.st.health.db_answers();
                self.advance(last, count as u64, lines.pushes.iter().any(Push::erases));
                true
            }
            Err(StoreError::Unavailable(why) | StoreError::Conflict(why)) => {
                self.mark_down(&why);
                false
            }
            Err(StoreError::Refused(why)) => {
                tracing::warn!(error = %why, "a spooled batch was refused; replaying it one push at a time");
                for (push, &end) in lines.pushes.iter().zip(&lines.ends) {
                    match self.store(vec![push.clone()]).await {
                        Ok(_) => {}
                        Err(StoreError::Unavailable(why) | StoreError::Conflict(why)) => {
                            self.mark_down(&why);
                            return false;
                        }
                        Err(StoreError::Refused(why)) => {
                            tracing::error!(error = %why, "a spooled push was refused; moved to the rejected file");
                            let hash = self.st.keys.openid_hash(&push.openid);
                            if let Some(spool) = self.spool.as_mut()
                                && let Err(e) = spool.reject(push, &hash)
                            {
                                tracing::error!(error = %e, "cannot write the rejected file");
                                return false;
                            }
                        }
                    }
                    self.advance(end, 1, push.erases());
                }
                true
            }
        }
    }

    /// The spool's lines up to `end` are stored (`erases`: one of them was an unsubscribe).
    fn advance(&mut self, end: u64, lines: u64, erases: bool) {
        let Some(spool) = self.spool.as_mut() else { return };
        if let Err(e) = spool.advance(end, lines, erases) {
            tracing::error!(error = %e, "cannot drop the stored lines from the spool (a restart would replay them, harmlessly)");
        }
        self.st.health.spool_waiting(spool.waiting());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn imports_shrink_when_slow_or_failing_and_grow_back_when_quick() {
        let ms = Duration::from_millis;
        // A failed or slow import halves the next one, down to the floor.
        assert_eq!(next_import_size(2048, 2048, 2048, ms(100), false), 1024);
        assert_eq!(next_import_size(2048, 2048, 2048, ms(1500), true), 1024);
        assert_eq!(next_import_size(100, 2048, 100, ms(5000), true), MIN_IMPORT);
        let mut size = 2048;
        for _ in 0..10 {
            size = next_import_size(size, 2048, size, ms(3000), false);
        }
        assert_eq!(size, MIN_IMPORT, "an import timing out again and again ends up small");
        // Quick full imports double it again, up to the maximum.
        assert_eq!(next_import_size(64, 2048, 64, ms(50), true), 128);
        assert_eq!(next_import_size(1024, 2048, 1024, ms(50), true), 2048);
        assert_eq!(next_import_size(2048, 2048, 2048, ms(50), true), 2048);
        // A quick import that did not fill its batch (the spool ran short) says nothing.
        assert_eq!(next_import_size(512, 2048, 100, ms(50), true), 512);
        // In between: unchanged.
        assert_eq!(next_import_size(512, 2048, 512, ms(600), true), 512);
        // A maximum below the floor wins.
        assert_eq!(next_import_size(16, 16, 16, ms(5000), false), 16);
    }

    #[test]
    fn a_burst_rate_counts_the_busier_of_the_last_two_windows() {
        let mut rate = Rate::default();
        let t0 = Instant::now();
        let at = |ms: u64| t0 + Duration::from_millis(ms);
        assert_eq!(rate.per_second(t0), 0);
        rate.add(30, at(0));
        rate.add(20, at(50));
        assert_eq!(rate.per_second(at(90)), 500, "50 pushes in the window so far");
        rate.add(5, at(120));
        assert_eq!(rate.per_second(at(150)), 500, "the last full window is still the busier");
        assert_eq!(rate.per_second(at(230)), 50, "then only the 5 of the window before");
        assert_eq!(rate.per_second(at(600)), 0, "quiet for two windows: no burst");
    }

    /// The import thread runs at a lower priority than the server, and a thread it spawns
    /// (as sqlx does for the writer's SQLite connection) inherits it; the caller's stays.
    #[cfg(target_os = "linux")]
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn imports_run_at_a_lower_priority_and_so_do_their_threads() {
        use rustix::process::getpriority_process;
        let before = getpriority_process(None).unwrap();
        let importer = Importer::start().expect("the import thread starts");
        let (own, spawned) = importer
            .handle
            .spawn(async {
                let own = getpriority_process(None).unwrap();
                let spawned = std::thread::spawn(|| getpriority_process(None).unwrap()).join().unwrap();
                (own, spawned)
            })
            .await
            .unwrap();
        assert_eq!(own, (before + IMPORT_NICE).min(19));
        assert_eq!(spawned, own);
        assert_eq!(getpriority_process(None).unwrap(), before, "the server's threads keep their priority");
        // Dropping it ends the thread; work sent afterwards is refused, not run.
        let handle = importer.handle.clone();
        drop(importer);
        for _ in 0..100 {
            if handle.spawn(async {}).await.is_err() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!("the import runtime is still running after its owner was dropped");
    }
}
