//! What to send: a deterministic (seeded) stream of distinct WeChat event pushes with a
//! realistic mix, and the retries WeChat would add (some racing the first try, some later).
//!
//! Followers are causal: a `SCAN` or `unsubscribe` only ever names a follower whose
//! `subscribe` was handed out at least `lag` distinct pushes earlier, and an unsubscribed
//! follower is never named again. Every distinct push has its own CreateTime
//! (`time_base + index`), so a run's pushes occupy the window
//! `[time_base, time_base + distinct)` and can be counted in the database afterwards.

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use std::cmp::Reverse;
use std::collections::{BinaryHeap, VecDeque};
use std::fmt;
use std::sync::Arc;

/// The three events WeChat pushes for parametric QR codes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum EventType {
    /// A new follower through a code: `subscribe` with `qrscene_<scene>`.
    Subscribe,
    /// A follower scans a code: `SCAN` with `<scene>`.
    Scan,
    /// A follower leaves: `unsubscribe` with an empty EventKey.
    Unsubscribe,
}

impl EventType {
    /// All of them, in report order.
    pub const ALL: [EventType; 3] = [EventType::Subscribe, EventType::Scan, EventType::Unsubscribe];

    /// The `Event` field, as WeChat spells it (and as the `events.event` column stores it).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Subscribe => "subscribe",
            Self::Scan => "SCAN",
            Self::Unsubscribe => "unsubscribe",
        }
    }
}

impl fmt::Display for EventType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Shares of the three events among distinct pushes (normalised; need not sum to 1).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Mix {
    /// `subscribe` with a scene.
    pub subscribe: f64,
    /// `SCAN` of a current follower.
    pub scan: f64,
    /// `unsubscribe` of a current follower.
    pub unsubscribe: f64,
}

impl Default for Mix {
    /// 55 % subscribe, 35 % SCAN, 10 % unsubscribe.
    fn default() -> Self {
        Self { subscribe: 0.55, scan: 0.35, unsubscribe: 0.10 }
    }
}

/// One distinct push: the fields of docs/contract.md's dedupe key (AppID aside).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Push {
    /// Its index among the run's distinct pushes (0-based).
    pub index: u64,
    /// FromUserName (28 characters, like a real OpenID).
    pub openid: String,
    /// CreateTime: `time_base + index`.
    pub create_time: i64,
    /// The event.
    pub event: EventType,
    /// EventKey: `qrscene_<scene>`, `<scene>` or empty.
    pub event_key: String,
}

/// Why a push is being sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Attempt {
    /// The first try of a distinct push.
    First,
    /// A retry handed out right after the first try, so it races it on another connection.
    Concurrent,
    /// A retry handed out later: 2 to 8 × `lag` sends after its first try.
    Late,
}

/// One request to make.
#[derive(Debug, Clone)]
pub struct Send {
    /// The push.
    pub push: Arc<Push>,
    /// First try or which kind of retry.
    pub attempt: Attempt,
}

/// How the stream is shaped.
#[derive(Debug, Clone)]
pub struct PlanConfig {
    /// Seeds the choices: the same seed and settings give the same stream.
    pub seed: u64,
    /// Number of scenes codes are spread over.
    pub scenes: u32,
    /// The first scene number (scenes are `scene_base .. scene_base + scenes`).
    pub scene_base: u32,
    /// Event shares.
    pub mix: Mix,
    /// Share of distinct pushes that are sent again (half at once, half later); 0 to 1.
    pub retry_share: f64,
    /// CreateTime of the first push (unix seconds).
    pub time_base: i64,
    /// Distinct pushes between a subscribe and the first event naming that follower; keep it
    /// above the number of connections so a follower's events arrive in order.
    pub lag: u64,
}

impl Default for PlanConfig {
    fn default() -> Self {
        Self { seed: 1, scenes: 300, scene_base: 1, mix: Mix::default(), retry_share: 0.1, time_base: 1_714_035_600, lag: 128 }
    }
}

/// Distinct pushes handed out so far, by event, and retries by kind.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PlanCounts {
    /// Distinct pushes (first tries) by event, in [`EventType::ALL`] order.
    pub distinct: [u64; 3],
    /// Retries handed out right after their first try.
    pub concurrent_retries: u64,
    /// Retries handed out later.
    pub late_retries: u64,
}

impl PlanCounts {
    /// All distinct pushes.
    pub fn distinct_total(&self) -> u64 {
        self.distinct.iter().sum()
    }

    /// Distinct pushes of one event.
    pub fn distinct_of(&self, e: EventType) -> u64 {
        self.distinct[e as usize]
    }

    /// Every send: first tries plus retries.
    pub fn sends(&self) -> u64 {
        self.distinct_total() + self.concurrent_retries + self.late_retries
    }
}

/// The generator: call [`Planner::next`] for each request to make.
#[derive(Debug)]
pub struct Planner {
    cfg: PlanConfig,
    rng: StdRng,
    /// Sends handed out so far (the clock of late retries).
    seq: u64,
    next_follower: u64,
    /// Followers subscribed too recently to be named yet: (distinct index, follower).
    pending: VecDeque<(u64, u64)>,
    /// Followers that may scan or leave.
    pool: Vec<u64>,
    /// Retries to hand out next.
    immediate: VecDeque<Arc<Push>>,
    /// Later retries by due sequence number (ties broken by push index).
    late: BinaryHeap<Reverse<(u64, u64)>>,
    late_pushes: std::collections::HashMap<u64, Arc<Push>>,
    counts: PlanCounts,
}

impl Planner {
    /// A stream for `cfg`.
    pub fn new(cfg: PlanConfig) -> Self {
        let rng = StdRng::seed_from_u64(cfg.seed);
        Self {
            cfg,
            rng,
            seq: 0,
            next_follower: 0,
            pending: VecDeque::new(),
            pool: Vec::new(),
            immediate: VecDeque::new(),
            late: BinaryHeap::new(),
            late_pushes: std::collections::HashMap::new(),
            counts: PlanCounts::default(),
        }
    }

    /// What has been handed out so far.
    pub fn counts(&self) -> &PlanCounts {
        &self.counts
    }

    /// The CreateTime window of the distinct pushes handed out so far (inclusive), if any.
    pub fn window(&self) -> Option<(i64, i64)> {
        let n = self.counts.distinct_total();
        (n > 0).then(|| (self.cfg.time_base, self.cfg.time_base + n as i64 - 1))
    }

    /// The OpenID of follower `n` in a run seeded with `seed`: `oLG`, the seed's low 32 bits
    /// in hex, the number; 28 characters like WeChat's.
    pub fn openid(seed: u64, n: u64) -> String {
        format!("oLG{:08x}{:017}", seed as u32, n)
    }

    /// A scene number, skewed like real placements (a few posters get most scans).
    fn scene(&mut self) -> u32 {
        let u: f64 = self.rng.r#gen();
        let k = ((u * u) * f64::from(self.cfg.scenes)) as u32;
        self.cfg.scene_base + k.min(self.cfg.scenes.saturating_sub(1))
    }

    /// The next distinct push.
    fn fresh(&mut self) -> Arc<Push> {
        let index = self.counts.distinct_total();
        while let Some(&(at, f)) = self.pending.front() {
            if at + self.cfg.lag > index {
                break;
            }
            self.pending.pop_front();
            self.pool.push(f);
        }
        let m = self.cfg.mix;
        let total = (m.subscribe + m.scan + m.unsubscribe).max(f64::MIN_POSITIVE);
        let u: f64 = self.rng.r#gen::<f64>() * total;
        let wanted = if u < m.subscribe {
            EventType::Subscribe
        } else if u < m.subscribe + m.scan {
            EventType::Scan
        } else {
            EventType::Unsubscribe
        };
        // Too early for anyone to scan again or leave: a subscribe instead.
        let event = if self.pool.is_empty() { EventType::Subscribe } else { wanted };
        let (follower, event_key) = match event {
            EventType::Subscribe => {
                let f = self.next_follower;
                self.next_follower += 1;
                self.pending.push_back((index, f));
                (f, format!("qrscene_{}", self.scene()))
            }
            EventType::Scan => {
                let f = self.pool[self.rng.gen_range(0..self.pool.len())];
                (f, self.scene().to_string())
            }
            EventType::Unsubscribe => {
                let i = self.rng.gen_range(0..self.pool.len());
                (self.pool.swap_remove(i), String::new())
            }
        };
        self.counts.distinct[event as usize] += 1;
        Arc::new(Push {
            index,
            openid: Self::openid(self.cfg.seed, follower),
            create_time: self.cfg.time_base + index as i64,
            event,
            event_key,
        })
    }

    /// The next request to make (the stream never ends).
    pub fn next_send(&mut self) -> Send {
        self.seq += 1;
        if let Some(push) = self.immediate.pop_front() {
            self.counts.concurrent_retries += 1;
            return Send { push, attempt: Attempt::Concurrent };
        }
        if let Some(&Reverse((due, index))) = self.late.peek()
            && due <= self.seq
        {
            self.late.pop();
            if let Some(push) = self.late_pushes.remove(&index) {
                self.counts.late_retries += 1;
                return Send { push, attempt: Attempt::Late };
            }
        }
        let push = self.fresh();
        let share = self.cfg.retry_share.clamp(0.0, 1.0);
        if share > 0.0 && self.rng.gen_bool(share) {
            if self.rng.gen_bool(0.5) {
                self.immediate.push_back(push.clone());
            } else {
                let lag = self.cfg.lag.max(1);
                let due = self.seq + self.rng.gen_range(lag * 2..=lag * 8);
                self.late.push(Reverse((due, push.index)));
                self.late_pushes.insert(push.index, push.clone());
            }
        }
        Send { push, attempt: Attempt::First }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::{HashMap, HashSet};

    fn cfg(seed: u64, retry_share: f64) -> PlanConfig {
        PlanConfig { seed, retry_share, lag: 16, ..PlanConfig::default() }
    }

    #[test]
    fn the_mix_is_close_to_the_shares_and_every_push_is_distinct() {
        let mut p = Planner::new(cfg(7, 0.0));
        let sends: Vec<Send> = (0..20_000).map(|_| p.next_send()).collect();
        let c = p.counts();
        assert_eq!(c.sends(), 20_000);
        assert_eq!((c.concurrent_retries, c.late_retries), (0, 0));
        let share = |e| c.distinct_of(e) as f64 / c.distinct_total() as f64;
        assert!((share(EventType::Subscribe) - 0.55).abs() < 0.02, "{c:?}");
        assert!((share(EventType::Scan) - 0.35).abs() < 0.02, "{c:?}");
        assert!((share(EventType::Unsubscribe) - 0.10).abs() < 0.02, "{c:?}");
        let keys: HashSet<_> =
            sends.iter().map(|s| (s.push.openid.clone(), s.push.create_time, s.push.event, s.push.event_key.clone())).collect();
        assert_eq!(keys.len(), 20_000);
        assert_eq!(p.window(), Some((1_714_035_600, 1_714_035_600 + 19_999)));
    }

    #[test]
    fn followers_are_causal() {
        let mut p = Planner::new(cfg(3, 0.0));
        // openid -> (index of subscribe, unsubscribed)
        let mut state: HashMap<String, (u64, bool)> = HashMap::new();
        for _ in 0..10_000 {
            let s = p.next_send();
            let push = &s.push;
            assert_eq!(push.openid.len(), 28);
            match push.event {
                EventType::Subscribe => {
                    assert!(push.event_key.starts_with("qrscene_"));
                    let scene: u32 = push.event_key["qrscene_".len()..].parse().unwrap();
                    assert!((1..=300).contains(&scene));
                    assert!(state.insert(push.openid.clone(), (push.index, false)).is_none(), "a follower subscribed twice");
                }
                EventType::Scan | EventType::Unsubscribe => {
                    let (at, gone) = state.get_mut(&push.openid).expect("named before subscribing");
                    assert!(!*gone, "named after unsubscribing");
                    assert!(push.index >= *at + 16, "named too soon after subscribing");
                    if push.event == EventType::Unsubscribe {
                        assert_eq!(push.event_key, "");
                        *gone = true;
                    } else {
                        assert!(push.event_key.parse::<u32>().is_ok());
                    }
                }
            }
        }
    }

    #[test]
    fn retries_repeat_earlier_pushes_concurrently_and_later() {
        let mut p = Planner::new(cfg(11, 0.2));
        let sends: Vec<Send> = (0..30_000).map(|_| p.next_send()).collect();
        let c = p.counts().clone();
        assert_eq!(c.sends(), 30_000);
        let retries = c.concurrent_retries + c.late_retries;
        let share = retries as f64 / c.distinct_total() as f64;
        assert!((share - 0.2).abs() < 0.03, "{c:?}");
        assert!(c.concurrent_retries > 0 && c.late_retries > 0);
        let mut seen = HashMap::new();
        for (i, s) in sends.iter().enumerate() {
            match s.attempt {
                Attempt::First => assert!(seen.insert(s.push.index, i).is_none()),
                Attempt::Concurrent => {
                    // Right after its first try.
                    assert_eq!(sends[i - 1].push.index, s.push.index);
                    assert_eq!(seen[&s.push.index], i - 1);
                }
                Attempt::Late => {
                    assert!(i - seen[&s.push.index] >= 32, "a late retry came too soon")
                }
            }
        }
    }

    #[test]
    fn the_same_seed_gives_the_same_stream() {
        let take = |seed| {
            let mut p = Planner::new(cfg(seed, 0.1));
            (0..2000)
                .map(|_| {
                    let s = p.next_send();
                    (s.push.openid.clone(), s.push.event, s.push.event_key.clone(), s.attempt)
                })
                .collect::<Vec<_>>()
        };
        assert_eq!(take(5), take(5));
        assert_ne!(take(5), take(6));
    }
}
