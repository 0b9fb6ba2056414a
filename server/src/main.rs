//! `sceneboard`: the command line (src/entry.rs).

#[tokio::main]
async fn main() -> std::process::ExitCode {
    server::entry::main().await
}
