//! The command line of CONTRACT.md: `sceneboard [serve|migrate|user add|wechat-sim]`.

use crate::config::Config;
use crate::startup;
use anyhow::{Context, bail};
use clap::{Parser, Subcommand};
use std::io::BufRead;
use std::net::SocketAddr;

/// Sceneboard: where a WeChat Official Account's followers come from.
#[derive(Parser, Debug)]
#[command(name = "sceneboard", version, about)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Run migrations, then serve the app and the callback route (the default).
    Serve,
    /// Run pending migrations and exit.
    Migrate,
    /// Manage dashboard users.
    User {
        #[command(subcommand)]
        command: UserCommand,
    },
    /// A local stand-in for api.weixin.qq.com that can also push signed events to a callback.
    WechatSim {
        /// Listen address.
        #[arg(long, default_value = "127.0.0.1:3100")]
        addr: SocketAddr,
        /// Callback URL to push events to.
        #[arg(long)]
        callback: Option<String>,
        /// The callback Token.
        #[arg(long)]
        token: Option<String>,
        /// EncodingAESKey (43 characters): pushes are then encrypted (safe mode).
        #[arg(long)]
        aes_key: Option<String>,
        /// The simulated account's AppID.
        #[arg(long)]
        app_id: Option<String>,
    },
}

#[derive(Subcommand, Debug)]
pub enum UserCommand {
    /// Create a user; the password is read from the first line of standard input.
    Add {
        #[arg(long)]
        username: String,
        #[arg(long, value_parser = ["admin", "staff"])]
        role: String,
    },
}

/// Read one line (the password) from standard input, without its line ending.
fn read_stdin_line() -> anyhow::Result<String> {
    let mut line = String::new();
    std::io::stdin().lock().read_line(&mut line).context("cannot read standard input")?;
    let line = line.trim_end_matches(['\n', '\r']).to_owned();
    if line.is_empty() {
        bail!("expected the password on the first line of standard input");
    }
    Ok(line)
}

/// Run a parsed command line.
pub async fn run(cli: Cli) -> anyhow::Result<()> {
    let command = cli.command.unwrap_or(Command::Serve);
    if let Command::WechatSim { addr, callback, token, aes_key, app_id } = command {
        let cfg = wechat::sim::SimConfig::from_cli(callback, token, aes_key, app_id).map_err(anyhow::Error::msg)?;
        wechat::sim::serve(addr, cfg).await.with_context(|| format!("cannot serve the simulator on {addr}"))?;
        return Ok(());
    }
    let cfg = Config::load()?;
    // One-shot commands check (or create) the secret key too, as `serve` does: a malformed
    // SCENEBOARD_SECRET_KEY is caught by `migrate` in a deploy script, not by the first login.
    if !matches!(command, Command::Serve) {
        startup::load_keys(&cfg)?;
    }
    match command {
        Command::Serve => startup::serve(cfg).await,
        Command::Migrate => {
            startup::open_database(&cfg).await?;
            println!("migrations are up to date");
            Ok(())
        }
        Command::User { command: UserCommand::Add { username, role } } => {
            let password = read_stdin_line()?;
            let conn = startup::open_database(&cfg).await?;
            let role = role.parse().map_err(|e: service::ServiceError| anyhow::anyhow!("{e}"))?;
            let user = service::users::create(&conn, &username, &password, role, None)
                .await
                .map_err(|e| anyhow::anyhow!("{e}"))?;
            println!("created {} user {} (id {})", role_name(user.role), user.username, user.id);
            Ok(())
        }
        Command::WechatSim { .. } => unreachable!("handled above"),
    }
}

fn role_name(r: service::users::Role) -> &'static str {
    r.as_str()
}
