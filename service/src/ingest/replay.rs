//! Replay defence for the callback. In plain and compatible mode WeChat's `signature` covers
//! the Token, `timestamp` and `nonce`, not the body, so one captured query string (a proxy's
//! access log, a pasted verification URL) would otherwise sign any number of forged pushes.
//! Two checks close most of that:
//! - a `timestamp` further than `max_skew` from this server's clock is refused, so a captured
//!   triple is worthless after a few minutes;
//! - within that window, each verified (account, timestamp, nonce, signature) is bound to the
//!   SHA-256 of the body it first came with: the same body again is WeChat's retry, another
//!   body is a forgery.
//!
//! The bindings live in this instance's memory only (bounded: [`MAX_BINDINGS`]), so behind a
//! load balancer a forged body sent to another instance within the window is not caught by
//! the binding; the window still bounds it. Safe mode signs the body itself.

use sha2::{Digest, Sha256};
use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;

/// Default window: WeChat's servers keep their clocks right, and five minutes leave room
/// for ours being off and for WeChat's three retries (within about 15 s).
pub const DEFAULT_MAX_SKEW: u64 = 300;

/// Most bindings kept (two digests each, about 120 bytes with the queue: 6 MiB at most). A window of 5
/// minutes at up to 160 pushes a second fits; past it the oldest go first.
pub const MAX_BINDINGS: usize = 50_000;

/// How long a binding is kept when the window is off (`max_skew = 0`, replaying recordings).
const UNWINDOWED_KEEP: u64 = 600;

/// What the guard says about a push.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// First seen (or seen with this very body before: a retry). Go on.
    Fresh,
    /// The timestamp is missing, not a number, or outside the window.
    Stale,
    /// This signed triple came before with another body.
    Replayed,
}

/// A binding's key: the SHA-256 of (account, timestamp, nonce, signature), so a binding holds
/// no strings of its own and the eviction queue copies 32 bytes.
type Key = [u8; 32];

fn key(account_id: i32, timestamp: &str, nonce: &str, signature: &str) -> Key {
    let mut h = Sha256::new();
    h.update(account_id.to_le_bytes());
    // Lengths first, so no two triples run together into the same bytes.
    for part in [timestamp, nonce] {
        h.update((part.len() as u64).to_le_bytes());
        h.update(part.as_bytes());
    }
    h.update(signature.to_ascii_lowercase().as_bytes());
    h.finalize().into()
}

struct Seen {
    bodies: HashMap<Key, [u8; 32]>,
    /// Keys in insertion order with the Unix second after which they may go.
    order: VecDeque<(i64, Key)>,
}

/// One per callback (in the [`super::Ingestor`]); cheap to share.
pub struct ReplayGuard {
    max_skew: u64,
    max_bindings: usize,
    seen: Mutex<Seen>,
}

impl ReplayGuard {
    /// A guard with a window of `max_skew` seconds (0: no window, bindings still kept).
    pub fn new(max_skew: u64) -> Self {
        Self::with_capacity(max_skew, MAX_BINDINGS)
    }

    pub(crate) fn with_capacity(max_skew: u64, max_bindings: usize) -> Self {
        Self { max_skew, max_bindings, seen: Mutex::new(Seen { bodies: HashMap::new(), order: VecDeque::new() }) }
    }

    /// The window in seconds (0 = off).
    pub fn max_skew(&self) -> u64 {
        self.max_skew
    }

    /// Is `timestamp` (WeChat's query parameter) within the window around `now`?
    pub fn timely(&self, timestamp: Option<&str>, now: i64) -> bool {
        if self.max_skew == 0 {
            return true;
        }
        let Some(ts) = timestamp.and_then(|t| t.trim().parse::<i64>().ok()) else { return false };
        ts.abs_diff(now) <= self.max_skew
    }

    /// Checks a push whose signature held: the window, then the binding of its triple to
    /// `body` (recorded when first seen).
    pub fn admit(&self, account_id: i32, timestamp: &str, nonce: &str, signature: &str, body: &[u8], now: i64) -> Verdict {
        if !self.timely(Some(timestamp), now) {
            return Verdict::Stale;
        }
        let digest: [u8; 32] = Sha256::digest(body).into();
        let key = key(account_id, timestamp, nonce, signature);
        let mut seen = self.seen.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        seen.expire(now, self.max_bindings);
        match seen.bodies.get(&key) {
            Some(first) if *first == digest => Verdict::Fresh,
            Some(_) => Verdict::Replayed,
            None => {
                // A binding is needed only while its timestamp can still pass the window.
                let keep = if self.max_skew == 0 { UNWINDOWED_KEEP } else { self.max_skew };
                let until = timestamp.trim().parse::<i64>().unwrap_or(now).max(now).saturating_add(keep as i64);
                seen.bodies.insert(key, digest);
                seen.order.push_back((until, key));
                Verdict::Fresh
            }
        }
    }

    /// Bindings held now (for tests and metrics).
    pub fn bindings(&self) -> usize {
        self.seen.lock().unwrap_or_else(std::sync::PoisonError::into_inner).bodies.len()
    }
}

impl Seen {
    /// Drops bindings whose time is up, and the oldest beyond `max` (keeping room for one).
    fn expire(&mut self, now: i64, max: usize) {
        while let Some((until, _)) = self.order.front() {
            if *until >= now && self.order.len() < max {
                break;
            }
            let (_, key) = self.order.pop_front().expect("front exists");
            self.bodies.remove(&key);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_800_000_000;

    #[test]
    fn the_window_refuses_old_future_and_unreadable_timestamps() {
        let g = ReplayGuard::new(300);
        assert!(g.timely(Some(&NOW.to_string()), NOW));
        assert!(g.timely(Some(&(NOW - 300).to_string()), NOW));
        assert!(g.timely(Some(&(NOW + 300).to_string()), NOW));
        assert!(!g.timely(Some(&(NOW - 301).to_string()), NOW));
        assert!(!g.timely(Some(&(NOW + 301).to_string()), NOW));
        assert!(!g.timely(Some("1714037059"), NOW));
        assert!(!g.timely(Some("soon"), NOW));
        assert!(!g.timely(None, NOW));
        assert_eq!(g.admit(1, "1714037059", "1", "s", b"x", NOW), Verdict::Stale);
        // 0 turns the window off (recorded pushes, public test vectors)
        let off = ReplayGuard::new(0);
        assert!(off.timely(Some("1714037059"), NOW));
        assert!(off.timely(None, NOW));
    }

    #[test]
    fn a_triple_is_bound_to_its_first_body() {
        let g = ReplayGuard::new(300);
        let ts = NOW.to_string();
        assert_eq!(g.admit(1, &ts, "42", "abc", b"<xml>1</xml>", NOW), Verdict::Fresh);
        // WeChat's retry: same triple, same body
        assert_eq!(g.admit(1, &ts, "42", "ABC", b"<xml>1</xml>", NOW + 5), Verdict::Fresh);
        assert_eq!(g.admit(1, &ts, "42", "abc", b"<xml>2</xml>", NOW + 6), Verdict::Replayed);
        // another nonce, another account: other triples
        assert_eq!(g.admit(1, &ts, "43", "abc", b"<xml>2</xml>", NOW), Verdict::Fresh);
        assert_eq!(g.admit(2, &ts, "42", "abc", b"<xml>2</xml>", NOW), Verdict::Fresh);
        assert_eq!(g.bindings(), 3);
    }

    #[test]
    fn bindings_expire_with_the_window_and_stay_bounded() {
        let g = ReplayGuard::with_capacity(300, 100);
        for i in 0..1000 {
            assert_eq!(g.admit(1, &NOW.to_string(), &i.to_string(), "s", b"b", NOW), Verdict::Fresh);
            assert!(g.bindings() <= 100);
        }
        // Once its timestamp is outside the window, a binding is gone and the triple is stale.
        let g = ReplayGuard::new(300);
        g.admit(1, &NOW.to_string(), "1", "s", b"a", NOW);
        g.admit(1, &(NOW + 301).to_string(), "2", "s", b"a", NOW + 602);
        assert_eq!(g.bindings(), 1);
        assert_eq!(g.admit(1, &NOW.to_string(), "1", "s", b"other", NOW + 602), Verdict::Stale);
    }
}
