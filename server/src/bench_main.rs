//! `sceneboard-bench`: the same command line, built with the callback's benchmark modes
//! (`--features server/bench-modes`, src/routes/bench.rs) for scripts/bench-ingest.sh only.
//! A separate name, so a benchmark build never replaces the `sceneboard` binary.

#[tokio::main]
async fn main() -> std::process::ExitCode {
    server::entry::main().await
}
