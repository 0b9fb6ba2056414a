//! Unit tests of the writer: import sizes, the burst rate, the import thread's priority.

use super::import::{IMPORT_NICE, MIN_IMPORT, next_import_size};
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
