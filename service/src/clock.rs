//! The time that code lifetimes are measured by: when a code is issued and expires, when it is
//! due for renewal, and when a deleted campaign's scene is free again.
//!
//! Production uses the system clock. Tests swap in a manual clock (`AppState { clock, .. }`)
//! and move it forward, so weeks of renewals run in seconds. The rest of the app (sessions,
//! the job queue's leases and retries, charts) keeps reading the system time: those coordinate
//! instances or show the present, and a simulated date means nothing to them.

use chrono::{DateTime, Duration, Utc};
use std::sync::{Arc, Mutex};

/// The system clock, or a manual one shared by every clone.
#[derive(Clone, Debug, Default)]
pub struct Clock {
    manual: Option<Arc<Mutex<DateTime<Utc>>>>,
}

impl Clock {
    /// The real time.
    pub fn system() -> Self {
        Self::default()
    }

    /// A clock that shows `start` until [`Clock::advance`] moves it.
    pub fn manual(start: DateTime<Utc>) -> Self {
        Self { manual: Some(Arc::new(Mutex::new(start))) }
    }

    /// The current time.
    pub fn now(&self) -> DateTime<Utc> {
        match &self.manual {
            Some(t) => *t.lock().unwrap_or_else(|e| e.into_inner()),
            None => Utc::now(),
        }
    }

    /// Moves a manual clock forward by `by`.
    ///
    /// # Panics
    /// On the system clock, which nobody can move: a test that calls this on it is wrong.
    pub fn advance(&self, by: Duration) {
        let t = self.manual.as_ref().expect("only a manual clock can be moved");
        let mut t = t.lock().unwrap_or_else(|e| e.into_inner());
        *t += by;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_manual_clock_moves_only_when_told_and_clones_share_it() {
        let start = Utc::now() - Duration::days(3);
        let clock = Clock::manual(start);
        let copy = clock.clone();
        assert_eq!(clock.now(), start);
        copy.advance(Duration::minutes(10));
        assert_eq!(clock.now(), start + Duration::minutes(10));
        let before = Utc::now();
        let now = Clock::system().now();
        assert!(now >= before && now <= Utc::now());
    }
}
