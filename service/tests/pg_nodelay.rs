//! PostgreSQL connections over TCP have Nagle's algorithm off (`db::nodelay_to_port`): sqlx
//! 0.9.0 leaves it on, and then a large statement waits ~40 ms for a delayed ACK. Its own test
//! binary, so no other test's connections share the process.

#![cfg(target_os = "linux")]

use sea_orm::ConnectionTrait;
use service::testing::{Backend, TestDb};
use std::os::fd::{BorrowedFd, RawFd};

/// TCP_NODELAY of each of this process's TCP sockets connected to `port`.
fn nodelay_of_sockets_to(port: u16) -> Vec<bool> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir("/proc/self/fd").unwrap().flatten() {
        let Some(fd) = entry.file_name().to_str().and_then(|n| n.parse::<RawFd>().ok()) else { continue };
        if !std::fs::read_link(entry.path()).is_ok_and(|t| t.to_string_lossy().starts_with("socket:")) {
            continue;
        }
        // SAFETY: listed as open just now; only borrowed for getsockopt calls.
        let fd = unsafe { BorrowedFd::borrow_raw(fd) };
        let sock = socket2::SockRef::from(&fd);
        if sock.peer_addr().ok().and_then(|a| a.as_socket()).is_some_and(|a| a.port() == port) {
            out.push(sock.tcp_nodelay().unwrap());
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_sockets_send_without_delay() {
    let t = TestDb::new(Backend::Postgres, true).await;
    assert!(t.url.contains("127.0.0.1") || t.url.contains("localhost"), "the test server is reached over TCP: {}", t.url);
    // Several connections at once, so the pool opens more than one.
    let queries = (0..4).map(|_| t.db.execute_unprepared("SELECT pg_sleep(0.2)"));
    futures::future::try_join_all(queries).await.unwrap();
    let port = t.url.split(':').nth(2).and_then(|rest| rest.split('/').next()).and_then(|p| p.parse().ok()).unwrap_or(5432);
    let sockets = nodelay_of_sockets_to(port);
    assert!(sockets.len() >= 2, "expected several pool connections to port {port}, found {}", sockets.len());
    assert!(sockets.iter().all(|&on| on), "TCP_NODELAY per socket to PostgreSQL: {sockets:?}");
}
