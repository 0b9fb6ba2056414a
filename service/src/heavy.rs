//! Heavy CPU work that signed-in users can ask for (code images up to 2048 px with a logo,
//! ZIPs of many codes, chart PNGs, logo re-encoding) runs here: off the async runtime, on
//! threads of lower priority, and at most [`slots`] jobs at once in the whole process. The
//! callback must answer WeChat within 5 s whatever the dashboard asks for, and on a small
//! machine a few large downloads would otherwise take every core.
//!
//! A job waits its turn; when more than [`MAX_WAITING`] already wait, it is refused at once
//! ([`Busy`]) so a flood of requests holds neither memory nor connections for long.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};
use tokio::sync::Semaphore;

/// Jobs that may wait for a slot before further ones are refused.
pub const MAX_WAITING: usize = 32;

/// How much lower the jobs' priority is than the server's (nice 10: about a tenth of the CPU
/// when both want it), as for the spool's imports.
const NICE: i32 = 10;

/// Too many heavy jobs wait already: answer 503 and let the user try again
/// ([`crate::Msg::HeavyBusy`] in words).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the server is busy drawing other images; try again in a moment")]
pub struct Busy;

struct Pool {
    slots: Arc<Semaphore>,
    waiting: AtomicUsize,
}

/// Jobs that run at once: half the cores (at least one), so the rest answer requests.
pub fn slots() -> usize {
    std::thread::available_parallelism().map_or(1, |n| (n.get() / 2).max(1))
}

fn pool() -> &'static Pool {
    static POOL: OnceLock<Pool> = OnceLock::new();
    POOL.get_or_init(|| Pool { slots: Arc::new(Semaphore::new(slots())), waiting: AtomicUsize::new(0) })
}

/// Jobs running or waiting now (for tests and metrics).
pub fn in_use() -> usize {
    let p = pool();
    slots() - p.slots.available_permits() + p.waiting.load(Ordering::Relaxed)
}

/// Runs `work` on a thread of its own at lower priority once a slot is free, and returns
/// what it returns. A panic in `work` comes back as a panic here.
pub async fn run<T: Send + 'static>(work: impl FnOnce() -> T + Send + 'static) -> Result<T, Busy> {
    let p = pool();
    if p.waiting.fetch_add(1, Ordering::AcqRel) >= MAX_WAITING {
        p.waiting.fetch_sub(1, Ordering::AcqRel);
        return Err(Busy);
    }
    let permit = Arc::clone(&p.slots).acquire_owned().await;
    p.waiting.fetch_sub(1, Ordering::AcqRel);
    let permit = permit.expect("the semaphore is never closed");
    let (tx, rx) = tokio::sync::oneshot::channel();
    // A thread per job rather than the blocking pool: a priority set on a pooled thread would
    // stay with it for whatever blocking task it runs next. Starting one costs microseconds.
    let spawned = std::thread::Builder::new().name("heavy".into()).spawn(move || {
        #[cfg(target_os = "linux")]
        let _ = rustix::process::nice(NICE);
        let out = std::panic::catch_unwind(std::panic::AssertUnwindSafe(work));
        // The slot is free before the waiting request goes on with the result.
        drop(permit);
        let _ = tx.send(out);
    });
    if spawned.is_err() {
        return Err(Busy);
    }
    match rx.await {
        Ok(Ok(out)) => Ok(out),
        Ok(Err(panic)) => std::panic::resume_unwind(panic),
        Err(_) => Err(Busy),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, Instant};

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn jobs_run_off_the_runtime_at_most_slots_at_once_a_flood_is_refused_and_panics_come_back() {
        let running = Arc::new(AtomicUsize::new(0));
        let most = Arc::new(AtomicUsize::new(0));
        let mut jobs = tokio::task::JoinSet::new();
        for _ in 0..(MAX_WAITING + slots() + 20) {
            let (running, most) = (running.clone(), most.clone());
            jobs.spawn(run(move || {
                let now = running.fetch_add(1, Ordering::SeqCst) + 1;
                most.fetch_max(now, Ordering::SeqCst);
                // Busy on the CPU, as a render is.
                let until = Instant::now() + Duration::from_millis(20);
                while Instant::now() < until {}
                running.fetch_sub(1, Ordering::SeqCst);
                std::thread::current().name().map(str::to_owned)
            }));
        }
        // Meanwhile the runtime answers at once.
        let t0 = Instant::now();
        tokio::time::sleep(Duration::from_millis(1)).await;
        assert!(t0.elapsed() < Duration::from_millis(200), "{:?}", t0.elapsed());
        let (mut done, mut busy) = (0, 0);
        while let Some(r) = jobs.join_next().await {
            match r.unwrap() {
                Ok(name) => {
                    assert_eq!(name.as_deref(), Some("heavy"));
                    done += 1;
                }
                Err(Busy) => busy += 1,
            }
        }
        assert_eq!(most.load(Ordering::SeqCst), slots());
        assert!(busy >= 1 && done >= MAX_WAITING, "done {done}, refused {busy}");
        assert_eq!(in_use(), 0);

        // A panic in a job comes back as a panic, and its slot is free again.
        let caught = tokio::spawn(run(|| panic!("boom"))).await;
        assert!(caught.unwrap_err().is_panic());
        assert_eq!(run(|| 7).await, Ok(7));
        assert_eq!(in_use(), 0);
    }
}
