//! Secrets given to a command (`account add`'s Token and EncodingAESKey, `rotate-key`'s new
//! key, `wechat-sim`'s Token and key): from a file (`-`: standard input) or the environment,
//! so they stay out of `ps`, `/proc/*/cmdline` and shell history. The inline flags of earlier
//! versions still work, with a warning on stderr.

use anyhow::{Context, bail};
use std::io::BufRead;
use std::path::Path;

/// The three forms of one secret argument, by name (for the warning and the errors).
#[derive(Clone, Copy, Debug)]
pub struct SecretArg {
    /// The inline flag, e.g. `--token`.
    pub flag: &'static str,
    /// The file flag, e.g. `--token-file`.
    pub file_flag: &'static str,
    /// The environment variable, e.g. `SCENEBOARD_ACCOUNT_TOKEN`.
    pub env: &'static str,
}

/// `--token` / `--token-file` / `SCENEBOARD_ACCOUNT_TOKEN` (account add, wechat-sim).
pub const TOKEN: SecretArg = SecretArg { flag: "--token", file_flag: "--token-file", env: "SCENEBOARD_ACCOUNT_TOKEN" };
/// `--aes-key` / `--aes-key-file` / `SCENEBOARD_ACCOUNT_AES_KEY` (account add, wechat-sim).
pub const AES_KEY: SecretArg = SecretArg { flag: "--aes-key", file_flag: "--aes-key-file", env: "SCENEBOARD_ACCOUNT_AES_KEY" };
/// `--new-key` / `--new-key-file` / `SCENEBOARD_NEW_KEY` (rotate-key).
pub const NEW_KEY: SecretArg = SecretArg { flag: "--new-key", file_flag: "--new-key-file", env: "SCENEBOARD_NEW_KEY" };

impl SecretArg {
    /// The secret from the inline flag (warned about), else the file (`-`: the next line of
    /// standard input), else the environment; `None` when none is given. Surrounding
    /// whitespace is dropped: none of these secrets can contain any.
    pub fn resolve(&self, inline: Option<String>, file: Option<&Path>) -> anyhow::Result<Option<String>> {
        if let Some(value) = inline {
            // `-` was always "read standard input", never a secret on the command line.
            if value == "-" {
                return stdin_line(&format!("{} -", self.flag)).map(Some);
            }
            eprintln!(
                "warning: {} puts the secret on the command line, where ps and shell history show it; use {} FILE (- for standard input) or {} instead",
                self.flag, self.file_flag, self.env
            );
            return Ok(Some(value.trim().to_owned()));
        }
        if let Some(path) = file {
            let value = if path == Path::new("-") {
                stdin_line(&format!("{} -", self.file_flag))?
            } else {
                let text = std::fs::read_to_string(path).with_context(|| format!("{}: cannot read {}", self.file_flag, path.display()))?;
                text.trim().to_owned()
            };
            if value.is_empty() {
                bail!("{} {}: the file is empty", self.file_flag, path.display());
            }
            return Ok(Some(value));
        }
        match std::env::var(self.env) {
            Ok(v) if v.trim().is_empty() => Ok(None),
            Ok(v) => Ok(Some(v.trim().to_owned())),
            Err(std::env::VarError::NotPresent) => Ok(None),
            Err(std::env::VarError::NotUnicode(_)) => bail!("{} is not valid UTF-8", self.env),
        }
    }
}

/// Read one line (a password or a secret) from standard input, without its line ending.
/// Successive calls read successive lines (standard input's buffer is shared).
pub fn read_stdin_line() -> anyhow::Result<String> {
    read_line("expected the secret on the first line of standard input".to_owned())
}

/// The next line of standard input, for `what` (`--token-file -`).
fn stdin_line(what: &str) -> anyhow::Result<String> {
    read_line(format!("{what}: expected the secret on the next line of standard input")).map(|l| l.trim().to_owned())
}

fn read_line(missing: String) -> anyhow::Result<String> {
    let mut line = String::new();
    std::io::stdin().lock().read_line(&mut line).context("cannot read standard input")?;
    let line = line.trim_end_matches(['\n', '\r']).to_owned();
    if line.is_empty() {
        bail!(missing);
    }
    Ok(line)
}
