//! What a run measured: latencies (an HDR histogram), answers by status, and — after the
//! run, from the database — stored events against the distinct pushes sent. The arithmetic
//! lives here, apart from I/O, so it is tested on its own.

use crate::plan::{EventType, PlanCounts};
use hdrhistogram::Histogram;
use serde::Serialize;
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::time::Duration;

/// Longest latency the histogram tracks exactly (µs): a minute; longer ones are clamped.
const MAX_MICROS: u64 = 60_000_000;

/// How one request ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Answer {
    /// An HTTP answer with this status.
    Status(u16),
    /// No answer within the client's timeout.
    Timeout,
    /// Could not connect.
    Connect,
    /// Any other transport failure (reset, closed...).
    Transport,
}

impl Answer {
    /// Its name in reports: the status number, or `timeout`, `connect`, `transport`.
    pub fn label(self) -> String {
        match self {
            Self::Status(s) => s.to_string(),
            Self::Timeout => "timeout".into(),
            Self::Connect => "connect".into(),
            Self::Transport => "transport".into(),
        }
    }
}

/// One connection's record of its requests; merged at the end.
#[derive(Debug, Clone)]
pub struct Tally {
    latency: Histogram<u64>,
    answers: BTreeMap<String, u64>,
    /// Indices of distinct pushes that got a 200 (possibly several times).
    acked: Vec<u64>,
}

impl Default for Tally {
    fn default() -> Self {
        Self::new()
    }
}

impl Tally {
    /// An empty record.
    pub fn new() -> Self {
        let latency = Histogram::new_with_bounds(1, MAX_MICROS, 3).expect("static histogram bounds are valid");
        Self { latency, answers: BTreeMap::new(), acked: Vec::new() }
    }

    /// Records one request for distinct push `index`.
    pub fn record(&mut self, index: u64, answer: Answer, took: Duration) {
        let micros = u64::try_from(took.as_micros()).unwrap_or(u64::MAX).clamp(1, MAX_MICROS);
        self.latency.saturating_record(micros);
        *self.answers.entry(answer.label()).or_default() += 1;
        if answer == Answer::Status(200) {
            self.acked.push(index);
        }
    }

    /// Adds another connection's record to this one.
    pub fn merge(&mut self, other: Tally) {
        // Same bounds on both sides, so adding cannot fail.
        let _ = self.latency.add(&other.latency);
        for (k, v) in other.answers {
            *self.answers.entry(k).or_default() += v;
        }
        self.acked.extend(other.acked);
    }

    /// Requests recorded.
    pub fn requests(&self) -> u64 {
        self.answers.values().sum()
    }

    /// Distinct pushes acknowledged at least once.
    pub fn distinct_acked(&self) -> u64 {
        let mut ids = self.acked.clone();
        ids.sort_unstable();
        ids.dedup();
        ids.len() as u64
    }
}

/// Events stored in the run's CreateTime window, read from the database.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Stored {
    /// Rows by `events.event`.
    pub by_event: BTreeMap<String, u64>,
    /// Dedupe keys (account, OpenID hash, CreateTime, Event, EventKey) held by more than one
    /// row: impossible while the unique index stands.
    pub duplicate_keys: u64,
}

impl Stored {
    /// All rows.
    pub fn total(&self) -> u64 {
        self.by_event.values().sum()
    }

    fn of(&self, e: EventType) -> u64 {
        self.by_event.get(e.as_str()).copied().unwrap_or(0)
    }
}

/// One event type's sent/stored line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct EventLine {
    /// `subscribe`, `SCAN`, `unsubscribe`.
    pub event: String,
    /// Distinct pushes sent.
    pub sent_distinct: u64,
    /// New rows stored during the run.
    pub stored: u64,
    /// sent_distinct − stored (negative: more stored than sent).
    pub lost: i64,
}

/// The stored counts against what was sent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StorageCheck {
    /// Distinct pushes sent.
    pub sent_distinct: u64,
    /// Distinct pushes never answered 200 (WeChat would retry them; they may be missing).
    pub unacknowledged: u64,
    /// New rows in the window (after − before the run).
    pub stored: u64,
    /// sent_distinct − stored.
    pub lost: i64,
    /// Acknowledged pushes that are certainly missing: lost − unacknowledged, at least 0.
    /// Must be 0: an acknowledged push is durable.
    pub lost_acknowledged: u64,
    /// Rows beyond what was sent (stored − sent_distinct, at least 0): another writer in the
    /// window, or a bug.
    pub extra: u64,
    /// Duplicate dedupe keys in the window. Must be 0.
    pub doubled: u64,
    /// Per event type.
    pub by_event: Vec<EventLine>,
}

impl StorageCheck {
    /// Compares the plan's distinct pushes with the rows the run added.
    pub fn new(counts: &PlanCounts, distinct_acked: u64, before: &Stored, after: &Stored) -> Self {
        let sent = counts.distinct_total();
        let stored = after.total().saturating_sub(before.total());
        let lost = sent as i64 - stored as i64;
        let unacknowledged = sent.saturating_sub(distinct_acked);
        let by_event = EventType::ALL
            .iter()
            .map(|&e| {
                let sent = counts.distinct_of(e);
                let stored = after.of(e).saturating_sub(before.of(e));
                EventLine { event: e.as_str().into(), sent_distinct: sent, stored, lost: sent as i64 - stored as i64 }
            })
            .collect();
        Self {
            sent_distinct: sent,
            unacknowledged,
            stored,
            lost,
            lost_acknowledged: (lost - unacknowledged as i64).max(0) as u64,
            extra: (-lost).max(0) as u64,
            doubled: after.duplicate_keys,
            by_event,
        }
    }

    /// Nothing acknowledged is missing, nothing is doubled, nothing extra.
    pub fn ok(&self) -> bool {
        self.lost_acknowledged == 0 && self.doubled == 0 && self.extra == 0
    }
}

/// The whole report of a run (also written as JSON with `--json`).
#[derive(Debug, Clone, Serialize)]
pub struct Summary {
    /// `plain` or `safe`.
    pub mode: String,
    /// Concurrent connections.
    pub connections: usize,
    /// Requests made (first tries and retries).
    pub requests: u64,
    /// Wall time of the sending phase, seconds.
    pub elapsed_s: f64,
    /// requests / elapsed.
    pub req_per_s: f64,
    /// Latency percentiles in milliseconds.
    pub p50_ms: f64,
    /// 90th percentile.
    pub p90_ms: f64,
    /// 99th percentile.
    pub p99_ms: f64,
    /// Slowest request.
    pub max_ms: f64,
    /// Answers by status (`200`, `503`, `timeout`...).
    pub answers: BTreeMap<String, u64>,
    /// Requests not answered 200.
    pub errors: u64,
    /// Distinct pushes sent.
    pub distinct_sent: u64,
    /// Distinct pushes by event.
    pub distinct_by_event: BTreeMap<String, u64>,
    /// Retries sent right after their first try.
    pub concurrent_retries: u64,
    /// Retries sent later.
    pub late_retries: u64,
    /// Distinct pushes answered 200 at least once.
    pub distinct_acked: u64,
    /// The database check, with `--database-url`.
    pub storage: Option<StorageCheck>,
    /// Seconds from the end of the run until the count was final (`--settle`).
    pub settle_s: f64,
}

/// Requests per second, 0 for an empty interval.
pub fn rate(requests: u64, elapsed: Duration) -> f64 {
    let s = elapsed.as_secs_f64();
    if s > 0.0 { requests as f64 / s } else { 0.0 }
}

/// `value` as a percentage of `ceiling` (e.g. ingest throughput against the parse+verify
/// ceiling), 0 when there is no ceiling.
pub fn percent_of(value: f64, ceiling: f64) -> f64 {
    if ceiling > 0.0 { 100.0 * value / ceiling } else { 0.0 }
}

impl Summary {
    /// Builds the report from the merged tally and the plan's counts.
    pub fn new(mode: &str, connections: usize, tally: &Tally, counts: &PlanCounts, elapsed: Duration) -> Self {
        let ms = |q: f64| tally.latency.value_at_quantile(q) as f64 / 1000.0;
        let requests = tally.requests();
        Self {
            mode: mode.into(),
            connections,
            requests,
            elapsed_s: elapsed.as_secs_f64(),
            req_per_s: rate(requests, elapsed),
            p50_ms: ms(0.50),
            p90_ms: ms(0.90),
            p99_ms: ms(0.99),
            max_ms: tally.latency.max() as f64 / 1000.0,
            errors: tally.answers.iter().filter(|(k, _)| k.as_str() != "200").map(|(_, v)| v).sum(),
            answers: tally.answers.clone(),
            distinct_sent: counts.distinct_total(),
            distinct_by_event: EventType::ALL.iter().map(|&e| (e.as_str().to_owned(), counts.distinct_of(e))).collect(),
            concurrent_retries: counts.concurrent_retries,
            late_retries: counts.late_retries,
            distinct_acked: tally.distinct_acked(),
            storage: None,
            settle_s: 0.0,
        }
    }

    /// False when the database check found a loss or a double.
    pub fn ok(&self) -> bool {
        self.storage.as_ref().is_none_or(StorageCheck::ok)
    }

    /// The report for a terminal.
    pub fn render(&self) -> String {
        let mut o = String::new();
        let answers: Vec<String> = self.answers.iter().map(|(k, v)| format!("{k}: {v}")).collect();
        let _ = writeln!(
            o,
            "requests      {} in {:.2} s over {} connections ({} mode)",
            self.requests, self.elapsed_s, self.connections, self.mode
        );
        let _ = writeln!(o, "throughput    {:.0} req/s", self.req_per_s);
        let _ = writeln!(
            o,
            "latency       p50 {:.2} ms   p90 {:.2} ms   p99 {:.2} ms   max {:.2} ms",
            self.p50_ms, self.p90_ms, self.p99_ms, self.max_ms
        );
        let _ = writeln!(o, "answers       {}   (errors: {})", answers.join(", "), self.errors);
        let by_event: Vec<String> = self.distinct_by_event.iter().map(|(k, v)| format!("{k} {v}")).collect();
        let _ = writeln!(
            o,
            "pushes        {} distinct ({}), {} retries at once, {} retries later, {} distinct acknowledged",
            self.distinct_sent,
            by_event.join(", "),
            self.concurrent_retries,
            self.late_retries,
            self.distinct_acked
        );
        if let Some(s) = &self.storage {
            let _ = writeln!(
                o,
                "stored        {} new events for the account in the run's CreateTime window{}",
                s.stored,
                if self.settle_s >= 0.5 { format!(" (final {:.1} s after the run)", self.settle_s) } else { String::new() }
            );
            for l in &s.by_event {
                let _ = writeln!(o, "  {:<12} sent {:>7}  stored {:>7}  lost {:>5}", l.event, l.sent_distinct, l.stored, l.lost);
            }
            let _ = writeln!(
                o,
                "LOST          {}  (sent-distinct − stored; {} never acknowledged, so {} acknowledged pushes missing)",
                s.lost, s.unacknowledged, s.lost_acknowledged
            );
            let _ = writeln!(o, "DOUBLED       {}  (dedupe keys stored more than once)", s.doubled);
            if s.extra > 0 {
                let _ = writeln!(o, "EXTRA         {}  (rows beyond what was sent: another writer in the window?)", s.extra);
            }
            let _ = writeln!(o, "verdict       {}", if s.ok() { "OK: nothing lost, nothing doubled" } else { "FAILED" });
        }
        o
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stored(sub: u64, scan: u64, unsub: u64, dup: u64) -> Stored {
        let by_event = [("subscribe", sub), ("SCAN", scan), ("unsubscribe", unsub)].into_iter().map(|(k, v)| (k.to_owned(), v)).collect();
        Stored { by_event, duplicate_keys: dup }
    }

    #[test]
    fn storage_arithmetic() {
        let counts = PlanCounts { distinct: [550, 350, 100], concurrent_retries: 50, late_retries: 50 };
        let before = stored(10, 5, 1, 0);
        // Everything stored.
        let c = StorageCheck::new(&counts, 1000, &before, &stored(560, 355, 101, 0));
        assert_eq!((c.sent_distinct, c.stored, c.lost, c.lost_acknowledged, c.extra, c.doubled), (1000, 1000, 0, 0, 0, 0));
        assert!(c.ok());
        // Three missing, two of them never acknowledged: one acknowledged push is lost.
        let c = StorageCheck::new(&counts, 998, &before, &stored(558, 354, 101, 0));
        assert_eq!((c.lost, c.unacknowledged, c.lost_acknowledged), (3, 2, 1));
        assert_eq!(c.by_event[0], EventLine { event: "subscribe".into(), sent_distinct: 550, stored: 548, lost: 2 });
        assert!(!c.ok());
        // Missing only what was never acknowledged: fine.
        let c = StorageCheck::new(&counts, 998, &before, &stored(558, 355, 101, 0));
        assert_eq!((c.lost, c.lost_acknowledged), (2, 0));
        assert!(c.ok());
        // A doubled key or an extra row fails.
        assert!(!StorageCheck::new(&counts, 1000, &before, &stored(560, 355, 101, 1)).ok());
        let c = StorageCheck::new(&counts, 1000, &before, &stored(561, 355, 101, 0));
        assert_eq!((c.lost, c.extra), (-1, 1));
        assert!(!c.ok());
    }

    #[test]
    fn tally_percentiles_rates_and_acks() {
        let mut a = Tally::new();
        let mut b = Tally::new();
        for i in 0..100u64 {
            a.record(i, Answer::Status(200), Duration::from_millis(i + 1));
        }
        b.record(5, Answer::Status(200), Duration::from_millis(500));
        b.record(100, Answer::Status(503), Duration::from_millis(2));
        b.record(101, Answer::Timeout, Duration::from_secs(10));
        a.merge(b);
        assert_eq!(a.requests(), 103);
        assert_eq!(a.distinct_acked(), 100);
        let counts = PlanCounts { distinct: [60, 30, 12], concurrent_retries: 1, late_retries: 0 };
        let s = Summary::new("plain", 4, &a, &counts, Duration::from_secs(2));
        assert!((s.req_per_s - 51.5).abs() < 1e-9);
        assert_eq!(s.errors, 2);
        assert_eq!(s.answers["503"], 1);
        assert_eq!(s.answers["timeout"], 1);
        assert!((50.0..=53.0).contains(&s.p50_ms), "{}", s.p50_ms);
        assert!((s.max_ms - 10_000.0).abs() < 10.0, "{}", s.max_ms);
        assert!(s.ok());
        assert_eq!(rate(10, Duration::ZERO), 0.0);
        assert!((percent_of(4_500.0, 6_000.0) - 75.0).abs() < 1e-9);
        assert_eq!(percent_of(1.0, 0.0), 0.0);
    }
}
