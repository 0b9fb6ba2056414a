//! The sign-in limiter. Failed sign-ins slow further guesses rather than lock anyone out:
//!
//! - per (username, client address): after [`PAIR_FREE`] failures, each further attempt
//!   waits [`FIRST_DELAY`] after the last failure, doubling with every failure up to
//!   [`MAX_DELAY`]; a stranger guessing at `admin` slows only their own address;
//! - per client address, whatever the username: the same after [`ADDRESS_FREE`] failures (one
//!   guesser trying many names);
//! - a browser with a device cookie ([`device`]) issued to that user at an earlier sign-in is
//!   never refused: it cannot be slowed by anyone else's failures, so the right password
//!   from it always signs in. Its own failures count against it alone, and after
//!   [`DEVICE_FREE`] of them it is treated like any other browser until it signs in again.
//!
//! Counts are forgotten [`FORGET_AFTER`] after their last failure. In memory, per instance:
//! several instances behind a load balancer each allow the attempts, and a restart forgets.

pub mod client;
pub mod device;

use device::DeviceId;
use std::collections::HashMap;
use std::hash::Hash;
use std::net::{IpAddr, Ipv6Addr};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Failures per (username, address) before attempts are slowed.
pub const PAIR_FREE: u32 = 5;
/// Failures per address, any usernames, before attempts are slowed.
pub const ADDRESS_FREE: u32 = 20;
/// Failures a known device may make before it counts as an unknown browser.
pub const DEVICE_FREE: u32 = 10;
/// The wait after the first failure over a free allowance; it doubles with each further one.
pub const FIRST_DELAY: Duration = Duration::from_secs(30);
/// The longest wait: an attacker keeps 4 guesses an hour per address at most.
pub const MAX_DELAY: Duration = Duration::from_secs(15 * 60);
/// A count is forgotten this long after its last failure.
pub const FORGET_AFTER: Duration = Duration::from_secs(60 * 60);
/// Most keys remembered per kind: a flood of made-up usernames or addresses evicts old entries
/// instead of growing memory (a few MiB at most).
const MAX_KEYS: usize = 10_000;

/// The wait `failures` failures impose after the last one, when over `free`: [`FIRST_DELAY`]
/// at the first failure over, doubled per further failure, at most [`MAX_DELAY`].
pub fn delay(failures: u32, free: u32) -> Option<Duration> {
    let over = failures.checked_sub(free)?;
    Some(FIRST_DELAY.saturating_mul(2u32.saturating_pow(over)).min(MAX_DELAY))
}

/// Counts failed sign-ins; see the module's description. Cheap to clone (shared state).
#[derive(Clone)]
pub struct LoginLimiter {
    inner: Arc<Mutex<Counts>>,
}

struct Counts {
    pairs: Backoff<(String, Option<IpAddr>)>,
    addresses: Backoff<IpAddr>,
    devices: Backoff<DeviceId>,
}

impl Default for LoginLimiter {
    fn default() -> Self {
        Self::new(PAIR_FREE, ADDRESS_FREE, DEVICE_FREE)
    }
}

/// One sign-in attempt let through; its failure was counted in advance (so parallel guesses
/// cannot all pass the check before any is counted) and is taken back by
/// [`LoginLimiter::succeeded`] or [`LoginLimiter::not_counted`].
#[derive(Debug)]
pub struct Attempt {
    pair: (String, Option<IpAddr>),
    device: Option<DeviceId>,
}

impl LoginLimiter {
    pub fn new(pair_free: u32, address_free: u32, device_free: u32) -> Self {
        let counts = Counts { pairs: Backoff::new(pair_free), addresses: Backoff::new(address_free), devices: Backoff::new(device_free) };
        LoginLimiter { inner: Arc::new(Mutex::new(counts)) }
    }

    /// Let an attempt for `username` from `ip` (a device cookie's `device` already verified
    /// for that username) go on to the password check, or refuse it with how long until the
    /// next attempt would be let through.
    pub fn begin(&self, username: &str, ip: Option<IpAddr>, device: Option<DeviceId>) -> Result<Attempt, Duration> {
        self.begin_at(username, ip, device, Instant::now())
    }

    fn begin_at(&self, username: &str, ip: Option<IpAddr>, device: Option<DeviceId>, now: Instant) -> Result<Attempt, Duration> {
        let ip = ip.map(ip_key);
        let pair = (username_key(username), ip);
        let mut counts = self.lock();
        let known = device.filter(|d| counts.devices.failures(d, now) < counts.devices.free);
        if let Some(d) = known {
            counts.devices.record(&d, now);
            return Ok(Attempt { pair, device: Some(d) });
        }
        let wait_pair = counts.pairs.wait(&pair, now);
        let wait_ip = ip.and_then(|ip| counts.addresses.wait(&ip, now));
        if let Some(wait) = wait_pair.max(wait_ip) {
            return Err(wait);
        }
        counts.pairs.record(&pair, now);
        if let Some(ip) = ip {
            counts.addresses.record(&ip, now);
        }
        Ok(Attempt { pair, device: None })
    }

    /// The attempt signed in. From a known device: its own count is cleared, and the
    /// address's counts are left to whoever made them. Otherwise the (username, address)
    /// count is cleared (someone who mistyped a few times starts afresh) and this attempt no
    /// longer counts against the address; the address's earlier failures stay, as signing in
    /// to one's own account must not reset the count for guesses at others.
    pub fn succeeded(&self, attempt: Attempt) {
        let mut counts = self.lock();
        if let Some(d) = attempt.device {
            counts.devices.clear(&d);
            return;
        }
        counts.pairs.clear(&attempt.pair);
        if let Some(ip) = attempt.pair.1 {
            counts.addresses.take_back(&ip);
        }
    }

    /// The attempt ended in a server error, not a verdict: it counts against nobody.
    pub fn not_counted(&self, attempt: Attempt) {
        let mut counts = self.lock();
        if let Some(d) = attempt.device {
            counts.devices.take_back(&d);
            return;
        }
        counts.pairs.take_back(&attempt.pair);
        if let Some(ip) = attempt.pair.1 {
            counts.addresses.take_back(&ip);
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Counts> {
        self.inner.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// Usernames are matched after trimming (as `users::authenticate` does) and case-folded, so
/// `Admin` and ` admin` share one count; overlong input is cut so a key stays small.
fn username_key(username: &str) -> String {
    username.trim().chars().take(128).flat_map(char::to_lowercase).collect()
}

/// IPv6 clients usually hold a whole /64, so an address is counted by its /64 prefix;
/// IPv4-mapped IPv6 addresses count as the IPv4 address they are.
fn ip_key(ip: IpAddr) -> IpAddr {
    match ip.to_canonical() {
        IpAddr::V6(v6) => {
            let s = v6.segments();
            IpAddr::V6(Ipv6Addr::new(s[0], s[1], s[2], s[3], 0, 0, 0, 0))
        }
        v4 => v4,
    }
}

/// A failure count and the time of the last failure.
#[derive(Clone, Copy, Debug)]
struct Count {
    failures: u32,
    last: Instant,
}

/// Failure counts per key, at most `cap` keys; `free` failures before [`delay`] applies.
struct Backoff<K> {
    free: u32,
    cap: usize,
    map: HashMap<K, Count>,
}

impl<K: Hash + Eq + Clone> Backoff<K> {
    fn new(free: u32) -> Self {
        Backoff { free, cap: MAX_KEYS, map: HashMap::new() }
    }

    /// The key's failures, after forgetting them if the last is [`FORGET_AFTER`] old.
    fn failures(&mut self, key: &K, now: Instant) -> u32 {
        match self.map.get(key) {
            Some(c) if now.saturating_duration_since(c.last) >= FORGET_AFTER => {
                self.map.remove(key);
                0
            }
            Some(c) => c.failures,
            None => 0,
        }
    }

    /// How long `key` must still wait, or `None` when it may try now.
    fn wait(&mut self, key: &K, now: Instant) -> Option<Duration> {
        let failures = self.failures(key, now);
        let delay = delay(failures, self.free)?;
        let last = self.map.get(key)?.last;
        (last + delay).checked_duration_since(now).filter(|w| !w.is_zero())
    }

    /// Count a failure of `key` now.
    fn record(&mut self, key: &K, now: Instant) {
        if !self.map.contains_key(key) && self.map.len() >= self.cap {
            self.make_room(now);
        }
        let count = self.map.entry(key.clone()).or_insert(Count { failures: 0, last: now });
        count.failures = count.failures.saturating_add(1);
        count.last = now;
    }

    /// Drop forgotten entries; if every entry is live, drop the one with the fewest failures
    /// (the oldest among those): a flood of one-off keys then evicts its own kind rather than
    /// the count of a username someone is really guessing at.
    fn make_room(&mut self, now: Instant) {
        self.map.retain(|_, c| now.saturating_duration_since(c.last) < FORGET_AFTER);
        if self.map.len() < self.cap {
            return;
        }
        let victim = self.map.iter().min_by_key(|(_, c)| (c.failures, c.last)).map(|(k, _)| k.clone());
        if let Some(victim) = victim {
            self.map.remove(&victim);
        }
    }

    fn clear(&mut self, key: &K) {
        self.map.remove(key);
    }

    /// Take one failure back (the attempt was not one). The last failure's time stays: a
    /// wait may then be measured from a little later than it need be, never shorter.
    fn take_back(&mut self, key: &K) {
        if let Some(c) = self.map.get_mut(key) {
            c.failures = c.failures.saturating_sub(1);
            if c.failures == 0 {
                self.map.remove(key);
            }
        }
    }
}

/// Whole seconds for a `Retry-After` header: rounded up, at least 1.
pub fn retry_after_secs(wait: Duration) -> u64 {
    (wait.as_secs() + u64::from(wait.subsec_nanos() > 0)).max(1)
}

#[cfg(test)]
mod tests;
