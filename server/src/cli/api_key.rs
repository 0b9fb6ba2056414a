//! `sceneboard api-key add|list|revoke`: keys for scripts and BI tools, made without a browser.
//! `add` prints the key alone on standard output (`KEY=$(sceneboard api-key add --name bi)`);
//! what it says besides goes to standard error.

use super::{ApiKeyCommand, words};
use crate::config::Config;
use crate::startup;
use chrono::{DateTime, SecondsFormat, Utc};
use service::api_keys::{self, NewKey, Scope};

pub async fn run(cfg: &Config, command: ApiKeyCommand) -> anyhow::Result<()> {
    let db = startup::open_database(cfg).await?;
    let now = Utc::now();
    match command {
        ApiKeyCommand::Add { name, app_id, expires_days } => {
            let account = match app_id {
                None => None,
                Some(app_id) => Some(
                    service::accounts::find_by_app_id(&db, &app_id)
                        .await
                        .map_err(words)?
                        .ok_or_else(|| anyhow::anyhow!("no WeChat account with AppID {app_id}"))?,
                ),
            };
            let new = NewKey { name, account_id: account.as_ref().map(|a| a.id), expires_days };
            let (key, secret) = api_keys::create(&db, &new, None, now).await.map_err(words)?;
            let scope = account.map_or_else(|| "every account".to_owned(), |a| format!("account {} ({})", a.name, a.app_id));
            let until = key.expires_at.map_or_else(|| "does not expire".to_owned(), |t| format!("expires {}", time(t)));
            eprintln!("created API key {} \"{}\" for {scope}; it {until}. It is shown only now:", key.id, key.name);
            println!("{secret}");
        }
        ApiKeyCommand::List => {
            println!("id\tname\thint\tscope\tcreated\texpires\tlast_used\tstate");
            for k in api_keys::list(&db).await.map_err(words)? {
                let scope = match k.scope {
                    Scope::All => "all".to_owned(),
                    Scope::Account(id) => k.account_name.clone().unwrap_or_else(|| id.to_string()),
                };
                let state = if k.revoked_at.is_some() {
                    "revoked"
                } else if k.live(now) {
                    "active"
                } else {
                    "expired"
                };
                let opt = |t: Option<DateTime<Utc>>| t.map_or_else(|| "-".to_owned(), time);
                println!(
                    "{}\t{}\t{}…\t{scope}\t{}\t{}\t{}\t{state}",
                    k.id,
                    k.name,
                    k.hint,
                    time(k.created_at),
                    opt(k.expires_at),
                    opt(k.last_used_at)
                );
            }
        }
        ApiKeyCommand::Revoke { id } => {
            api_keys::revoke(&db, id, None, now).await.map_err(words)?;
            eprintln!("revoked API key {id}: its next request is refused");
        }
    }
    Ok(())
}

fn time(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}
