//! The spool's import: its batch size, the burst it waits for, the back-pressure of a full
//! backlog, and the lower-priority thread it runs on.

use super::task::StoreCtx;
use super::{Flight, FlightKind, Lines, Writer, runtime_thread};
use crate::ingest::store::StoreError;
use crate::ingest::{Outcome, Push, Stored};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Longest the writer spends replaying before it serves queued requests again.
const REPLAY_BUDGET: Duration = Duration::from_millis(500);

/// The smallest import batch.
pub(super) const MIN_IMPORT: usize = 64;
/// An import taking longer than this halves the next one's size; one taking less than a
/// quarter of it doubles it. Keeps each import short enough that the spool moves steadily
/// even when the database has slowed down.
const IMPORT_TARGET: Duration = Duration::from_secs(1);
/// Imports are acknowledged already, so nobody waits for them: they get this many times the
/// store timeout before the database counts as unreachable.
const IMPORT_TIMEOUT_FACTOR: u32 = 10;

/// Pushes counted per [`Rate::WINDOW`]; the rate is that of the busier of the last full
/// window and the current one, so it falls to zero within two windows of the last push.
#[derive(Default)]
pub(super) struct Rate {
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

    pub(super) fn add(&mut self, n: u64, now: Instant) {
        self.roll(now);
        self.count += n;
    }

    pub(super) fn per_second(&mut self, now: Instant) -> u64 {
        self.roll(now);
        let windows_per_second = (Duration::from_secs(1).as_micros() / Self::WINDOW.as_micros()) as u64;
        self.previous.max(self.count) * windows_per_second
    }
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
pub(super) struct Importer {
    pub(super) handle: tokio::runtime::Handle,
    /// Dropping it ends the thread (and the runtime, on that thread).
    _stop: tokio::sync::oneshot::Sender<()>,
}

/// How much lower the imports' priority is: nice 10 weighs about a tenth of nice 0 when
/// both want the CPU.
pub(super) const IMPORT_NICE: i32 = 10;

impl Importer {
    /// `None` when the thread or its runtime cannot be started (imports then run with the
    /// rest, as before).
    pub(super) fn start() -> Option<Self> {
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

/// The next import's size after one of `count` lines (of `size` asked for) took `took`.
pub(super) fn next_import_size(size: usize, max: usize, count: usize, took: Duration, ok: bool) -> usize {
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
    /// Should the next import wait? While pushes are journaled faster than
    /// [`IngestOptions::burst_rate`], the burst's pushes stay in the spool (acknowledged,
    /// durable) until it ends or the oldest has waited [`IngestOptions::max_import_lag`]:
    /// the cores answer WeChat first, and the import catches up after. `Some(d)`: look
    /// again in `d`. Never when bursts are not journaled, when the backlog is full (requests
    /// wait for the import then), or for lines that must be read from the file.
    pub(super) fn import_wait(&mut self) -> Option<Duration> {
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
            source: "import",
            ..self.ctx()
        }
    }

    /// Has a burst's backlog reached [`IngestOptions::max_backlog`]? Then requests wait in the
    /// queue for the import (back-pressure, so the charts' lag stays bounded under a load the
    /// database cannot follow). Not during an outage: then the spool is the only place left.
    /// A spool at its byte cap counts as a full backlog too, so while the database answers,
    /// requests wait for the import rather than being refused.
    pub(super) fn backlog_full(&self) -> bool {
        !self.db_resting() && self.spool.as_ref().is_some_and(|s| s.waiting() >= self.opts.max_backlog || s.is_full())
    }

    /// Starts storing the next lines of the spool (bigger batches than the queue's: they are
    /// acknowledged already, and the bigger the batch, the less each push costs the database).
    pub(super) fn start_import(&mut self) {
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

    /// Replays spooled pushes in order, a batch per transaction, until the spool is empty,
    /// the database fails again, or the time budget is spent (at shutdown; while running, the
    /// loop imports the spool one batch at a time next to the queue).
    pub(super) async fn replay(&mut self) {
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
    pub(super) async fn imported(&mut self, lines: Lines, took: Duration, result: Result<Vec<Stored>, StoreError>) -> bool {
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
