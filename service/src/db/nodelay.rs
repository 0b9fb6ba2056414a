//! A workaround, to be removed: sqlx 0.9.0 stopped setting TCP_NODELAY on its sockets (sqlx
//! issue #4335, fixed upstream, not yet released). Without it a statement that needs a second
//! TCP segment waits for PostgreSQL's delayed ACK (about 40 ms), which made the ingest
//! writer's group commits several times slower over TCP (docs/design/database-connections.md,
//! "TCP_NODELAY"). Remove this module, and its call in `db::options`, once the sqlx release in
//! Cargo.lock sets the option itself; `service/tests/pg_nodelay.rs` then still passes.

use std::os::fd::{BorrowedFd, RawFd};

/// Sets TCP_NODELAY on every TCP socket of this process whose peer is `port` (PostgreSQL's),
/// called after each new pool connection since sqlx does not expose its socket. Idempotent,
/// and harmless on any other socket it may touch. Reads `/proc/self/fd` (Linux).
pub fn nodelay_to_port(port: u16) {
    let Ok(dir) = std::fs::read_dir("/proc/self/fd") else { return };
    for entry in dir.flatten() {
        let is_socket = std::fs::read_link(entry.path()).is_ok_and(|t| t.to_string_lossy().starts_with("socket:"));
        let Some(fd) = entry.file_name().to_str().and_then(|n| n.parse::<RawFd>().ok()) else { continue };
        if !is_socket {
            continue;
        }
        // SAFETY: the descriptor was open when listed and is only borrowed for a few
        // getsockopt/setsockopt calls. Were it closed and reused in between, the calls fail, or
        // set TCP_NODELAY on some other TCP socket, which only lowers that socket's latency.
        let fd = unsafe { BorrowedFd::borrow_raw(fd) };
        let sock = socket2::SockRef::from(&fd);
        let to_pg = sock.peer_addr().ok().and_then(|a| a.as_socket()).is_some_and(|a| a.port() == port);
        if to_pg && sock.r#type().is_ok_and(|t| t == socket2::Type::STREAM) {
            let _ = sock.set_tcp_nodelay(true);
        }
    }
}
