//! The process around the CLI: parse the command line, set up logging, run. Errors end in
//! one clear line on stderr and a non-zero exit status. Shared by the `sceneboard` binary and
//! the benchmark build's `sceneboard-bench` (src/bin_main.rs, src/bench_main.rs).

use crate::cli::{Cli, Command, run};
use clap::Parser;
use clap::error::ErrorKind;
use tracing_subscriber::EnvFilter;

/// The whole process: what `main` returns.
pub async fn main() -> std::process::ExitCode {
    // Before anything creates a file: the database, spools and backups are this user's only.
    service::keys::restrict_umask();
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => return usage_error(e),
    };
    // The servers (serve, demo, wechat-sim) log at info; one-shot commands log warnings and
    // errors only unless RUST_LOG asks for more, so a failure is the one `error:` line below.
    let serving = matches!(cli.command, None | Some(Command::Serve | Command::Demo(_) | Command::WechatSim { .. }));
    let default = if serving { "info" } else { "warn" };
    // RUST_LOG is read from the environment only (logging starts before the configuration is
    // read); a value that does not parse stops the command rather than being ignored.
    let filter = match std::env::var("RUST_LOG") {
        Ok(text) if !text.trim().is_empty() => match EnvFilter::try_new(&text) {
            Ok(f) => f,
            Err(e) => {
                eprintln!("error: RUST_LOG is invalid: {e}");
                return std::process::ExitCode::FAILURE;
            }
        },
        _ => EnvFilter::new(default),
    };
    let format = match crate::logging::Format::from_env() {
        Ok(f) => f,
        Err(e) => {
            eprintln!("error: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    crate::logging::init(filter, format);
    match run(cli).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            // One line: the error and its causes.
            let msg = e.chain().map(ToString::to_string).collect::<Vec<_>>().join(": ");
            eprintln!("error: {msg}");
            std::process::ExitCode::FAILURE
        }
    }
}

/// A command line clap refuses, as one line too (`error: invalid value 'boss' for '--role
/// <ROLE>'; [possible values: admin, staff]`), exit status 2; help and version as clap prints
/// them.
fn usage_error(e: clap::Error) -> std::process::ExitCode {
    if matches!(e.kind(), ErrorKind::DisplayHelp | ErrorKind::DisplayVersion | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand) {
        e.exit();
    }
    // Display drops clap's styling; the text already starts with `error: `.
    let text = e.render().to_string();
    let mut line = String::new();
    for part in text.lines().map(str::trim).filter(|l| !l.is_empty() && !l.starts_with("For more information")) {
        if !line.is_empty() {
            line.push_str(if line.ends_with(':') { " " } else { "; " });
        }
        line.push_str(part);
    }
    eprintln!("{line}");
    std::process::ExitCode::from(2)
}
