//! Per-key request rates (GCRA from `governor`, std only: a mutexed map and the monotonic
//! clock), kept in memory by one router, so per instance. Used for API keys and for the
//! password form of share links.

use governor::clock::{Clock, DefaultClock};
use governor::{Quota, RateLimiter};
use std::num::NonZeroU32;
use std::sync::Arc;

/// `per_minute` requests a minute for each id, in bursts of up to `burst`.
#[derive(Clone)]
pub struct KeyedRate(Arc<RateLimiter<i32, governor::state::keyed::DefaultKeyedStateStore<i32>, DefaultClock>>);

impl KeyedRate {
    pub fn new(per_minute: u32, burst: u32) -> Self {
        let quota = Quota::per_minute(NonZeroU32::new(per_minute.max(1)).expect("at least 1"))
            .allow_burst(NonZeroU32::new(burst.max(1)).expect("at least 1"));
        KeyedRate(Arc::new(RateLimiter::keyed(quota)))
    }

    /// Counts one request of `id`; over the rate: whole seconds until the next is let in (≥ 1).
    pub fn check(&self, id: i32) -> Result<(), u64> {
        self.0.check_key(&id).map_err(|not_until| {
            let wait = not_until.wait_time_from(DefaultClock::default().now());
            (wait.as_secs() + u64::from(wait.subsec_nanos() > 0)).max(1)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_id_gets_its_burst_then_waits_and_others_keep_theirs() {
        let rate = KeyedRate::new(300, 5);
        for _ in 0..5 {
            assert!(rate.check(1).is_ok());
        }
        assert_eq!(rate.check(1), Err(1), "the next one is due within a second at 300 a minute");
        assert!(rate.check(2).is_ok());
        let slow = KeyedRate::new(1, 1);
        assert!(slow.check(1).is_ok());
        assert!((59..=60).contains(&slow.check(1).unwrap_err()), "one a minute");
    }
}
