//! The command line (docs/contract.md, "Command line"): `serve`, `migrate`, `demo`, `user add`,
//! `account add`, `campaign add|import`, `wechat-sim`, and the operator's `rotate-key`, `backup`
//! and `restore`.

use crate::config::Config;
use crate::secret_input::{self, read_stdin_line};
use crate::startup;
use anyhow::{Context, bail};
use clap::{Parser, Subcommand};
use service::Keys;
use service::rotate::NewKey;
use std::io::Write;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

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
    Demo(DemoArgs),
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
    /// Re-encrypt every stored secret under a new secret key, all or nothing. Stop every
    /// instance first; everyone signs in again afterwards.
    RotateKey {
        /// The new key inline (base64 of 32 bytes): visible in `ps` and shell history, so it
        /// is warned about; `-` reads it from standard input. Prefer --new-key-file or
        /// SCENEBOARD_NEW_KEY. None of them: a random key is generated.
        #[arg(long, conflicts_with = "new_key_file")]
        new_key: Option<String>,
        /// A file holding the new key (`-`: the first line of standard input).
        #[arg(long, value_name = "FILE")]
        new_key_file: Option<PathBuf>,
    },
    /// Copy the SQLite database to FILE, consistently, while the server keeps serving
    /// (PostgreSQL: use pg_dump).
    Backup {
        /// The backup file to write.
        #[arg(long, value_name = "FILE")]
        to: PathBuf,
        /// Replace FILE if it exists.
        #[arg(long)]
        force: bool,
    },
    /// Replace the SQLite database (DATABASE_URL) with a backup. Stop the server first.
    Restore {
        /// The backup file to restore.
        #[arg(long, value_name = "FILE")]
        from: PathBuf,
        /// Replace the database if it exists.
        #[arg(long)]
        force: bool,
    },
    /// A local stand-in for api.weixin.qq.com that can also push signed events to a callback.
    WechatSim {
        /// Listen address.
        #[arg(long, default_value = "127.0.0.1:3100")]
        addr: SocketAddr,
        /// Callback URL to push events to.
        #[arg(long)]
        callback: Option<String>,
        /// The callback Token inline (warned about: `ps` shows it); prefer --token-file or
        /// SCENEBOARD_ACCOUNT_TOKEN.
        #[arg(long, conflicts_with = "token_file")]
        token: Option<String>,
        /// A file holding the callback Token (`-`: a line of standard input).
        #[arg(long, value_name = "FILE")]
        token_file: Option<PathBuf>,
        /// EncodingAESKey inline (43 characters; pushes are then encrypted, safe mode); prefer
        /// --aes-key-file or SCENEBOARD_ACCOUNT_AES_KEY.
        #[arg(long, conflicts_with = "aes_key_file")]
        aes_key: Option<String>,
        /// A file holding the EncodingAESKey (`-`: a line of standard input, after the Token's).
        #[arg(long, value_name = "FILE")]
        aes_key_file: Option<PathBuf>,
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
    /// Prints the callback URL to enter in WeChat's server configuration. The Token (required)
    /// and the EncodingAESKey come from --token-file / --aes-key-file (`-`: the next lines of
    /// standard input, after the AppSecret) or SCENEBOARD_ACCOUNT_TOKEN /
    /// SCENEBOARD_ACCOUNT_AES_KEY.
    Add {
        #[arg(long)]
        name: String,
        #[arg(long)]
        app_id: String,
        /// The callback Token (3-32 letters or digits) inline: warned about, `ps` shows it.
        #[arg(long, conflicts_with = "token_file")]
        token: Option<String>,
        /// A file holding the callback Token (`-`: the line after the AppSecret on stdin).
        #[arg(long, value_name = "FILE")]
        token_file: Option<PathBuf>,
        /// EncodingAESKey (43 characters, needed for compat and safe modes) inline: warned about.
        #[arg(long, conflicts_with = "aes_key_file")]
        aes_key: Option<String>,
        /// A file holding the EncodingAESKey (`-`: the next line of stdin, after the Token's).
        #[arg(long, value_name = "FILE")]
        aes_key_file: Option<PathBuf>,
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

/// Size of the demo data (the defaults are what a new user sees; larger sizes are for
/// benchmarks, e.g. `--days 365 --campaigns 200 --events 10000000 --seed-only`).
#[derive(clap::Args, Debug, Clone)]
pub struct DemoArgs {
    /// Days of history, ending now.
    #[arg(long, default_value_t = 90)]
    pub days: u32,
    /// Campaigns to create.
    #[arg(long, default_value_t = 12)]
    pub campaigns: usize,
    /// About how many events to generate in all (sets the daily rate; the report says how
    /// many were stored). Default: about 300 scans and follows on a weekday.
    #[arg(long)]
    pub events: Option<u64>,
    /// Seed the data and exit instead of serving.
    #[arg(long)]
    pub seed_only: bool,
}

/// Run a parsed command line.
pub async fn run(cli: Cli) -> anyhow::Result<()> {
    let command = cli.command.unwrap_or(Command::Serve);
    if let Command::WechatSim { addr, callback, token, token_file, aes_key, aes_key_file, app_id } = command {
        let token = secret_input::TOKEN.resolve(token, token_file.as_deref())?;
        let aes_key = secret_input::AES_KEY.resolve(aes_key, aes_key_file.as_deref())?;
        let cfg = wechat::sim::SimConfig::from_cli(callback, token, aes_key, app_id).map_err(anyhow::Error::msg)?;
        wechat::sim::serve(addr, cfg).await.with_context(|| format!("cannot serve the simulator on {addr}"))?;
        return Ok(());
    }
    let cfg = Config::load()?;
    // One-shot commands check (or create) the secret key too, as `serve` does: a malformed
    // SCENEBOARD_SECRET_KEY is caught by `migrate` in a deploy script, not by the first login.
    // rotate-key, backup and restore must not create a key (or a database) as a side effect.
    let keys = if matches!(
        command,
        Command::Serve | Command::Demo(_) | Command::RotateKey { .. } | Command::Backup { .. } | Command::Restore { .. }
    ) {
        None
    } else {
        Some(startup::load_keys(&cfg)?)
    };
    match command {
        Command::Serve => startup::serve(cfg).await,
        Command::Demo(args) => crate::demo::run(cfg, args).await,
        Command::Migrate => {
            let db = startup::open_database(&cfg).await?;
            if let Some(keys) = &keys {
                startup::seal_tokens(&db, keys).await;
            }
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
        Command::RotateKey { new_key, new_key_file } => {
            let new_key = secret_input::NEW_KEY.resolve(new_key, new_key_file.as_deref())?;
            rotate_key(&cfg, new_key).await
        }
        Command::Backup { to, force } => backup(&cfg, &to, force).await,
        Command::Restore { from, force } => restore(&cfg, &from, force).await,
        Command::WechatSim { .. } => unreachable!("handled above"),
    }
}

fn role_name(r: service::users::Role) -> &'static str {
    r.as_str()
}

/// Any error as one line for the terminal (its own message, without repeating its causes).
fn one_line(e: impl std::fmt::Display) -> anyhow::Error {
    anyhow::anyhow!("{e}")
}

/// A service error as one line for the terminal.
fn words(e: service::ServiceError) -> anyhow::Error {
    anyhow::anyhow!("{e}")
}

async fn account_command(cfg: &Config, command: AccountCommand) -> anyhow::Result<()> {
    let AccountCommand::Add { name, app_id, token, token_file, aes_key, aes_key_file, mode, api_base, timezone } = command;
    // Standard input in a fixed order: the AppSecret, then the Token, then the key (for `-`).
    let secret = read_stdin_line()?;
    let token = secret_input::TOKEN
        .resolve(token, token_file.as_deref())?
        .ok_or_else(|| anyhow::anyhow!("the callback Token is missing: give --token-file FILE (- for standard input) or set SCENEBOARD_ACCOUNT_TOKEN"))?;
    let aes_key = secret_input::AES_KEY.resolve(aes_key, aes_key_file.as_deref())?;
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

/// Where the current secret key comes from.
enum KeySource {
    /// `SCENEBOARD_SECRET_KEY` (the environment or sceneboard.toml).
    Setting,
    /// The key file in the data dir.
    File(PathBuf),
}

/// The configured secret key and where it is, without creating one.
fn current_key(cfg: &Config) -> anyhow::Result<Option<(Keys, KeySource)>> {
    if let Some(text) = &cfg.secret_key {
        return Ok(Some((Keys::from_base64(text).map_err(one_line)?, KeySource::Setting)));
    }
    let file = cfg.data_dir.join(service::rotate::KEY_FILE);
    if !file.exists() {
        return Ok(None);
    }
    Ok(Some((Keys::load_or_create(&cfg.data_dir).map_err(one_line)?, KeySource::File(file))))
}

/// `rotate-key`: re-seal under a new key in one transaction; then install the new key file
/// (key from the data dir) or show the new key once (key from SCENEBOARD_SECRET_KEY).
async fn rotate_key(cfg: &Config, new_key: Option<String>) -> anyhow::Result<()> {
    use service::rotate::{self, RotateError};
    use std::cell::Cell;
    let Some((old, source)) = current_key(cfg)? else {
        bail!(
            "there is no secret key to rotate: SCENEBOARD_SECRET_KEY is not set and {} does not exist",
            cfg.data_dir.join(rotate::KEY_FILE).display()
        );
    };
    let generated = new_key.is_none();
    let new = match new_key.as_deref() {
        None => Ok(NewKey::generate()),
        Some(text) => NewKey::parse(text),
    }
    .map_err(|_| anyhow::anyhow!("the new key must be base64 of exactly 32 bytes"))?;
    let db = startup::open_database(cfg).await?;

    // Before the commit, the new key is made safe: staged next to the key file (fsynced), or
    // printed, so the database never depends on a key that exists nowhere else.
    let (staged, printed) = (Cell::new(false), Cell::new(false));
    let result = rotate::rotate(&db, &old, new.keys(), |_| match &source {
        KeySource::File(_) => {
            rotate::stage_key_file(&cfg.data_dir, &new)?;
            staged.set(true);
            Ok(())
        }
        KeySource::Setting if generated => {
            let mut out = std::io::stdout().lock();
            writeln!(out, "{}", new.expose_base64())?;
            out.flush()?;
            printed.set(true);
            Ok(())
        }
        KeySource::Setting => Ok(()),
    })
    .await;
    let report = match result {
        Ok(r) => r,
        Err(e) => {
            if staged.get() {
                rotate::unstage_key_file(&cfg.data_dir);
            }
            let e = match e {
                RotateError::Db(_) => anyhow::anyhow!("{e}; nothing was changed"),
                other => anyhow::anyhow!("{other}"),
            };
            if printed.get() {
                return Err(e.context("the key printed above was NOT taken into use"));
            }
            return Err(e);
        }
    };
    let summary = format!(
        "secret key rotated: {} accounts re-encrypted, {} access tokens re-encrypted ({} dropped), {} followers re-hashed, {} sessions ended (everyone signs in again)",
        report.accounts, report.tokens_resealed, report.tokens_dropped, report.followers_rehashed, report.sessions_ended
    );
    match &source {
        KeySource::File(path) => {
            rotate::install_key_file(&cfg.data_dir).with_context(|| {
                format!(
                    "the database now uses the new key, but the key file was not replaced: move {} to {} before starting the server",
                    cfg.data_dir.join(rotate::STAGED_KEY_FILE).display(),
                    path.display()
                )
            })?;
            println!(
                "{summary}; the new key is in {}, the previous one in {} (delete it once the server runs)",
                path.display(),
                cfg.data_dir.join(rotate::OLD_KEY_FILE).display()
            );
        }
        KeySource::Setting => {
            let which = if generated { "the key printed on standard output" } else { "the key given (--new-key-file, SCENEBOARD_NEW_KEY or --new-key)" };
            eprintln!("{summary}");
            eprintln!(
                "now set SCENEBOARD_SECRET_KEY (environment or sceneboard.toml) to {which} on every instance, then start them; the old key no longer opens anything"
            );
        }
    }
    Ok(())
}

/// `backup --to FILE`: a consistent copy of the SQLite database, taken while it is in use.
async fn backup(cfg: &Config, to: &Path, force: bool) -> anyhow::Result<()> {
    let file = service::backup::database_file(&cfg.database_url).map_err(one_line)?;
    if !file.is_file() {
        bail!("there is no database at {} (check DATABASE_URL or SCENEBOARD_DATA_DIR)", file.display());
    }
    // No migrations: a backup copies the database as it is.
    let conn = service::db::connect(&cfg.database_url)
        .await
        .with_context(|| format!("cannot open {}", file.display()))?;
    let copied = service::backup::backup(&conn, to, force).await.map_err(one_line)?;
    conn.close().await.ok();
    println!("backed up {} to {} ({} bytes, integrity ok)", file.display(), copied.path.display(), copied.bytes);
    let key = match &cfg.secret_key {
        Some(_) => "SCENEBOARD_SECRET_KEY".to_owned(),
        None => cfg.data_dir.join(service::rotate::KEY_FILE).display().to_string(),
    };
    eprintln!("the backup does not contain the secret key: keep {key} safe with it (restoring needs it)");
    Ok(())
}

/// `restore --from FILE`: checks the backup and that the configured key opens its secrets,
/// then puts it where DATABASE_URL points.
async fn restore(cfg: &Config, from: &Path, force: bool) -> anyhow::Result<()> {
    use sea_orm::{EntityTrait, PaginatorTrait};
    let target = service::backup::database_file(&cfg.database_url).map_err(one_line)?;
    if !from.is_file() {
        bail!("there is no backup at {}", from.display());
    }
    service::backup::check_file(from).await.map_err(one_line)?;
    let backup = service::backup::open_read_only(from).await.map_err(one_line)?;
    let accounts = service::entity::wechat_account::Entity::find().count(&backup).await;
    let checked = match (current_key(cfg)?, accounts) {
        (_, Err(e)) => Err(anyhow::anyhow!("cannot read the accounts in {}: {e}", from.display())),
        (None, Ok(0)) => Ok(()),
        (None, Ok(n)) => Err(anyhow::anyhow!(
            "no secret key: the {n} accounts in {} are sealed under the key in use when it was taken; copy that secret.key into {} or set SCENEBOARD_SECRET_KEY, then restore again",
            from.display(),
            cfg.data_dir.display()
        )),
        (Some((keys, source)), Ok(_)) => match service::rotate::check_secrets(&backup, &keys).await {
            Ok(_) => Ok(()),
            Err(service::rotate::RotateError::Undecryptable { name, app_id, .. }) => {
                let key = match source {
                    KeySource::Setting => "SCENEBOARD_SECRET_KEY".to_owned(),
                    KeySource::File(p) => p.display().to_string(),
                };
                Err(anyhow::anyhow!(
                    "the secret key in {key} does not open the secrets of account {name} ({app_id}) in {}: use the key in use when the backup was taken; nothing was restored",
                    from.display()
                ))
            }
            Err(e) => Err(anyhow::anyhow!("{e}")),
        },
    };
    backup.close().await.ok();
    checked?;
    let copied = service::backup::restore(from, &cfg.database_url, force).await.map_err(one_line)?;
    println!("restored {} from {} ({} bytes); start the server", target.display(), from.display(), copied.bytes);
    Ok(())
}
