//! FOR BENCHMARKS ONLY: `SCENEBOARD_BENCH_CALLBACK=noop|verify` makes pushes skip work so the
//! load generator can measure the route's ceilings (BENCHMARKS.md, "Ingest ceiling").
//! `noop` answers `success` before anything else (HTTP, routing and body read only); `verify`
//! answers `success` after the account lookup, signature check, decryption and parse, storing
//! nothing. Unset (or empty) is normal operation. Read once at startup, with a loud warning:
//! a server in either mode acknowledges pushes it never stores. Never set it in production.
//! `commit` stores normally but never journals a burst in the spool (every request waits for
//! its batch's commit, as before bursts were journaled), to compare the two on one binary.
//!
//! Compiled only with the `bench-modes` feature (`scripts/bench-ingest.sh` builds with it), so
//! the binary a release or `cargo leptos build` makes cannot acknowledge a push it did not
//! store; that binary refuses to start when the variable is set (`startup::serve_with`).

use std::sync::LazyLock;

/// The environment variable.
const VAR: &str = "SCENEBOARD_BENCH_CALLBACK";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Normal,
    Noop,
    Verify,
    Commit,
}

static MODE: LazyLock<Mode> = LazyLock::new(|| match std::env::var(VAR).unwrap_or_default().trim() {
    "" => Mode::Normal,
    "noop" => Mode::Noop,
    "verify" => Mode::Verify,
    "commit" => Mode::Commit,
    other => {
        tracing::error!("{VAR}={other:?} is not noop, verify or commit; ignored, pushes are stored normally");
        Mode::Normal
    }
});

pub fn mode() -> Mode {
    *MODE
}

/// Does the writer journal bursts in the spool? Yes, unless in `commit` mode.
pub(crate) fn journals_bursts() -> bool {
    mode() != Mode::Commit
}

/// Reads the variable (at router construction, i.e. startup) and warns when it is set.
pub fn announce() {
    let what = match mode() {
        Mode::Normal => return,
        Mode::Noop => "answers every push `success` WITHOUT verifying or storing it",
        Mode::Verify => "verifies and parses pushes but answers `success` WITHOUT storing them",
        Mode::Commit => "stores pushes but never journals a burst in the spool (slower under load)",
    };
    tracing::warn!("!!! {VAR} is set: BENCHMARK MODE, the WeChat callback {what}. Never use this in production. !!!");
}
