//! The command line (docs/contract.md, "Command line"): `serve`, `migrate`, `demo`, `user add`,
//! `account add`, `campaign add|import`, `api-key add|list|revoke`, `wechat-sim`, and the
//! operator's `rotate-key`, `backup` and `restore`.
//!
//! Files: `args` — the subcommands and their options (clap); `api_key` — the API key commands;
//! this file runs the rest: [`run`] dispatches, then the handlers of `account`, `campaign`,
//! `rotate-key`, `backup` and `restore`.

mod api_key;
mod args;

pub use args::{AccountCommand, ApiKeyCommand, CampaignCommand, Cli, Command, DemoArgs, UserCommand};

use crate::config::Config;
use crate::secret_input::{self, read_stdin_line};
use crate::startup;
use anyhow::{Context, bail};
use service::Keys;
use service::rotate::NewKey;
use std::io::Write;
use std::path::{Path, PathBuf};

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
            let user = service::users::create(&conn, &username, &password, role, None).await.map_err(|e| anyhow::anyhow!("{e}"))?;
            println!("created {} user {} (id {})", role_name(user.role), user.username, user.id);
            Ok(())
        }
        Command::Account { command } => account_command(&cfg, command).await,
        Command::Campaign { command } => campaign_command(&cfg, command).await,
        Command::ApiKey { command } => api_key::run(&cfg, command).await,
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
    let token = secret_input::TOKEN.resolve(token, token_file.as_deref())?.ok_or_else(|| {
        anyhow::anyhow!("the callback Token is missing: give --token-file FILE (- for standard input) or set SCENEBOARD_ACCOUNT_TOKEN")
    })?;
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
            let which = if generated {
                "the key printed on standard output"
            } else {
                "the key given (--new-key-file, SCENEBOARD_NEW_KEY or --new-key)"
            };
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
    let conn = service::db::connect(&cfg.database_url).await.with_context(|| format!("cannot open {}", file.display()))?;
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
