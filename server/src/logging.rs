//! Logs on stderr: text for a person (the default), or one JSON object a line for a log stack
//! (`SCENEBOARD_LOG_FORMAT=json`). Like `RUST_LOG`, the format is read from the environment
//! only: logging starts before the configuration is read.

use std::io::IsTerminal;
use tracing_subscriber::EnvFilter;

/// How each log line is written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    Text,
    Json,
}

impl Format {
    /// `SCENEBOARD_LOG_FORMAT`: `text` (also when unset) or `json`; anything else is refused.
    pub fn from_env() -> Result<Format, String> {
        match std::env::var("SCENEBOARD_LOG_FORMAT") {
            Err(std::env::VarError::NotPresent) => Ok(Format::Text),
            Ok(v) if v.trim().is_empty() || v.trim() == "text" => Ok(Format::Text),
            Ok(v) if v.trim() == "json" => Ok(Format::Json),
            Ok(v) => Err(format!("SCENEBOARD_LOG_FORMAT is invalid: '{}' is neither text nor json", v.trim())),
            Err(std::env::VarError::NotUnicode(_)) => Err("SCENEBOARD_LOG_FORMAT is not valid UTF-8".to_owned()),
        }
    }
}

/// Install the process's logger. JSON lines carry `timestamp`, `level`, `target`, the event's
/// fields (`message` among them) at the top level, and the request's span (`span.request_id`,
/// `span.path`) for anything logged while a request is served.
pub fn init(filter: EnvFilter, format: Format) {
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr);
    match format {
        // Colour codes only for a person at a terminal, never into a file, pipe or journal.
        Format::Text => builder.with_ansi(std::io::stderr().is_terminal()).init(),
        Format::Json => builder.json().flatten_event(true).with_current_span(true).with_span_list(false).init(),
    }
}
