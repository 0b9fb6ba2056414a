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
    /// Seed a sandbox account bound to the built-in simulator, campaigns and 90 days of
    /// events, then serve.
    Demo,
    /// Manage dashboard users.
    User {
        #[command(subcommand)]
        command: UserCommand,
    },
    /// Manage WeChat accounts.
    Account {
        #[command(subcommand)]
        command: AccountCommand,
    },
    /// Manage campaigns.
    Campaign {
        #[command(subcommand)]
        command: CampaignCommand,
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

#[derive(Subcommand, Debug)]
pub enum AccountCommand {
    /// Add a WeChat account; the AppSecret is read from the first line of standard input.
    /// Prints the callback URL to enter in WeChat's server configuration.
    Add {
        #[arg(long)]
        name: String,
        #[arg(long)]
        app_id: String,
        /// The callback Token (3-32 letters or digits).
        #[arg(long)]
        token: String,
        /// EncodingAESKey (43 characters), needed for compat and safe modes.
        #[arg(long)]
        aes_key: Option<String>,
        #[arg(long, value_parser = ["plain", "compat", "safe"], default_value = "plain")]
        mode: String,
        /// API base URL (default: WeChat's); point it at `wechat-sim` for a sandbox.
        #[arg(long)]
        api_base: Option<String>,
        /// IANA time zone of the account's charts (default: SCENEBOARD_TIMEZONE).
        #[arg(long)]
        timezone: Option<String>,
    },
}

#[derive(Subcommand, Debug)]
pub enum CampaignCommand {
    /// Create a campaign and issue its code; prints the campaign id.
    Add {
        #[arg(long)]
        app_id: String,
        #[arg(long)]
        name: String,
        /// A number 1-100000 or a string of 1-64 characters; omit to assign a number.
        #[arg(long)]
        scene: Option<String>,
        #[arg(long, value_parser = ["permanent", "temporary"])]
        kind: String,
        /// Days a temporary code stays valid (1-30).
        #[arg(long)]
        expire_days: Option<i32>,
        #[arg(long)]
        group: Option<String>,
    },
    /// Create many campaigns from `name,scene,kind[,group,expire_days]` rows, all or none;
    /// prints the new ids, one per line.
    Import {
        #[arg(long)]
        app_id: String,
        /// The CSV file (UTF-8; a header row is optional).
        file: std::path::PathBuf,
    },
}

/// Read one line (the password) from standard input, without its line ending.
fn read_stdin_line() -> anyhow::Result<String> {
    let mut line = String::new();
    std::io::stdin().lock().read_line(&mut line).context("cannot read standard input")?;
    let line = line.trim_end_matches(['\n', '\r']).to_owned();
    if line.is_empty() {
        bail!("expected the secret on the first line of standard input");
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
    if !matches!(command, Command::Serve | Command::Demo) {
        startup::load_keys(&cfg)?;
    }
    match command {
        Command::Serve => startup::serve(cfg).await,
        Command::Demo => crate::demo::run(cfg).await,
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
        Command::Account { command } => account_command(&cfg, command).await,
        Command::Campaign { command } => campaign_command(&cfg, command).await,
        Command::WechatSim { .. } => unreachable!("handled above"),
    }
}

fn role_name(r: service::users::Role) -> &'static str {
    r.as_str()
}

/// A service error as one line for the terminal.
fn words(e: service::ServiceError) -> anyhow::Error {
    anyhow::anyhow!("{e}")
}

async fn account_command(cfg: &Config, command: AccountCommand) -> anyhow::Result<()> {
    let AccountCommand::Add { name, app_id, token, aes_key, mode, api_base, timezone } = command;
    let secret = read_stdin_line()?;
    let st = startup::app_state(cfg).await?;
    let input = service::accounts::AccountInput {
        name,
        app_id,
        app_secret: Some(secret),
        token,
        aes_key,
        message_mode: mode,
        api_base_url: api_base,
        timezone,
    };
    let account = service::accounts::create(&st, input, None).await.map_err(words)?;
    println!("{}/wechat/callback/{}", st.settings.public_url.trim_end_matches('/'), account.app_id);
    Ok(())
}

async fn campaign_command(cfg: &Config, command: CampaignCommand) -> anyhow::Result<()> {
    let st = startup::app_state(cfg).await?;
    let app_id = match &command {
        CampaignCommand::Add { app_id, .. } | CampaignCommand::Import { app_id, .. } => app_id.clone(),
    };
    let account = service::accounts::find_by_app_id(&st.db, &app_id)
        .await
        .map_err(words)?
        .ok_or_else(|| anyhow::anyhow!("no WeChat account with AppID {app_id}; add it with `sceneboard account add`"))?;
    let api = service::accounts::api_client(&st, &account).map_err(words)?;
    match command {
        CampaignCommand::Add { name, scene, kind, expire_days, group, .. } => {
            let input = service::campaigns::CampaignInput {
                account_id: account.id,
                name,
                group,
                kind,
                scene,
                expire_days,
                auto_renew: false,
                welcome: None,
                tag_name: None,
            };
            let c = service::campaigns::create(&st, api.as_ref(), input, None).await.map_err(words)?;
            println!("{}", c.id);
            Ok(())
        }
        CampaignCommand::Import { file, .. } => {
            let text = std::fs::read(&file).with_context(|| format!("cannot read {}", file.display()))?;
            let text = String::from_utf8(text).map_err(|_| anyhow::anyhow!("{} is not UTF-8 text", file.display()))?;
            match service::campaigns::import(&st, api.as_ref(), account.id, &text, None).await {
                Ok(ids) => {
                    for id in &ids {
                        println!("{id}");
                    }
                    eprintln!("imported {} campaigns", ids.len());
                    Ok(())
                }
                Err(service::campaigns::ImportFailed::Rows(rows)) => {
                    for r in &rows {
                        eprintln!("{}:{}: {}", file.display(), r.line, r.message);
                    }
                    bail!("nothing was imported: {} rows have problems", rows.len())
                }
                Err(service::campaigns::ImportFailed::Service(e)) => Err(words(e)),
            }
        }
    }
}
