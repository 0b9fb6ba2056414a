//! Digests in Settings (admins only): per account, which summaries go out, when, in which
//! language, to which WeCom robot and which recipients; *Send test*; and the latest deliveries
//! with their errors (`service::digests`).
//!
//! The robot's webhook travels one way, as an account's AppSecret does: the form may send a
//! new one, the page only ever gets its host and the first characters of its key.

use crate::error::AppError;
use leptos::prelude::*;
use serde::{Deserialize, Serialize};

/// One digest through one channel, as Settings lists it. Times in the account's zone.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeliveryRow {
    /// `daily` or `weekly`.
    pub period: String,
    /// The first day it covers.
    pub from: String,
    /// `wecom` or `email`.
    pub channel: String,
    /// `sent`, `retrying` or `failed`.
    pub status: String,
    pub attempts: i32,
    pub error: Option<String>,
    pub at: String,
}

/// An account's digest settings, without the webhook.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DigestAccount {
    pub account_id: i32,
    pub account_name: String,
    pub timezone: String,
    pub daily: bool,
    pub weekly: bool,
    pub send_hour: u32,
    /// `zh` or `en`.
    pub lang: String,
    /// The robot's host and its key's first characters; `None`: no robot.
    pub webhook_hint: Option<String>,
    /// Recipients, one per line.
    pub email_to: String,
    /// When each enabled digest goes out next, local: (`daily`/`weekly`, time).
    pub next: Vec<(String, String)>,
    /// A robot, or recipients and a mail server: somewhere a digest can go.
    pub has_destination: bool,
    pub deliveries: Vec<DeliveryRow>,
}

/// What the digests card of Settings shows.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DigestsView {
    pub accounts: Vec<DigestAccount>,
    /// The server's mail server and sender (no password); `None`: email is not configured.
    pub mail: Option<String>,
}

/// Deliveries listed per account.
#[cfg(feature = "ssr")]
const LISTED: u64 = 10;

/// Every account's digest settings and latest deliveries.
#[server(endpoint = "digests_overview")]
pub async fn digests_overview() -> Result<DigestsView, AppError> {
    use service::digests::{self, Period};
    crate::api::auth::ssr::require_admin().await?;
    let st = crate::api::auth::ssr::state()?;
    let now = st.clock.now();
    let mut accounts = Vec::new();
    for a in service::accounts::list(&st.db).await? {
        let zone: chrono_tz::Tz = a.timezone.parse().unwrap_or(chrono_tz::Asia::Shanghai);
        let local = |t| crate::api::campaigns::ssr::local(t, zone);
        let c = digests::get(&st, a.id).await?;
        let next = Period::ALL
            .into_iter()
            .filter(|p| match p {
                Period::Daily => c.daily,
                Period::Weekly => c.weekly,
            })
            .map(|p| (p.as_str().to_owned(), local(digests::next_sending(&c, zone, p, now))))
            .collect();
        let deliveries = digests::recent_deliveries(&st, a.id, LISTED)
            .await?
            .into_iter()
            .map(|d| DeliveryRow {
                period: d.period.as_str().into(),
                from: d.from.to_string(),
                channel: d.channel.as_str().into(),
                status: d.status,
                attempts: d.attempts,
                error: d.last_error,
                at: local(d.at),
            })
            .collect();
        accounts.push(DigestAccount {
            account_id: a.id,
            account_name: a.name,
            timezone: a.timezone,
            daily: c.daily,
            weekly: c.weekly,
            send_hour: c.send_hour,
            lang: c.lang.code().into(),
            has_destination: c.webhook.is_some() || (!c.email_to.is_empty() && st.settings.mail.is_some()),
            webhook_hint: c.webhook_hint(),
            email_to: c.email_to.join("\n"),
            next,
            deliveries,
        });
    }
    Ok(DigestsView { accounts, mail: st.settings.mail.as_ref().map(|m| m.describe()) })
}

/// The digest form's fields, each named as its form field. Checkboxes are present (any
/// value) when ticked; a blank webhook keeps the stored one.
#[derive(Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DigestForm {
    #[serde(default, deserialize_with = "crate::api::empty_none")]
    pub daily: Option<String>,
    #[serde(default, deserialize_with = "crate::api::empty_none")]
    pub weekly: Option<String>,
    #[serde(default)]
    pub send_hour: String,
    #[serde(default)]
    pub lang: String,
    #[serde(default, deserialize_with = "crate::api::empty_none")]
    pub wecom_webhook: Option<String>,
    #[serde(default, deserialize_with = "crate::api::empty_none")]
    pub remove_webhook: Option<String>,
    #[serde(default)]
    pub email_to: String,
}

/// `Debug` without the webhook (its key is a secret): the arguments may reach a log line.
impl std::fmt::Debug for DigestForm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DigestForm")
            .field("daily", &self.daily.is_some())
            .field("weekly", &self.weekly.is_some())
            .field("send_hour", &self.send_hour)
            .field("lang", &self.lang)
            .field("wecom_webhook", &self.wecom_webhook.as_ref().map(|_| "[REDACTED]"))
            .field("remove_webhook", &self.remove_webhook.is_some())
            .field("email_to", &self.email_to)
            .finish()
    }
}

/// Save account `account_id`'s digest settings and come back to its card.
#[server(endpoint = "save_digest")]
pub async fn save_digest(account_id: i32, #[server(flatten)] form: DigestForm) -> Result<i32, AppError> {
    let admin = crate::api::auth::ssr::require_admin().await?;
    let st = crate::api::auth::ssr::state()?;
    let input = service::digests::DigestInput {
        daily: form.daily.is_some(),
        weekly: form.weekly.is_some(),
        send_hour: form.send_hour,
        lang: form.lang,
        webhook: form.wecom_webhook,
        remove_webhook: form.remove_webhook.is_some(),
        email_to: form.email_to,
    };
    service::digests::save(&st, account_id, input, Some(admin.id)).await?;
    leptos_axum::redirect(&format!("/settings?digest_saved={account_id}#digests-{account_id}"));
    Ok(account_id)
}

/// Send yesterday's digest, marked as a test, through the saved channels now; the outcome per
/// channel travels in the URL of Settings, so it shows with JavaScript on or off.
#[server(endpoint = "test_digest")]
pub async fn test_digest(account_id: i32) -> Result<bool, AppError> {
    use service::Lang;
    let admin = crate::api::auth::ssr::require_admin().await?;
    let st = crate::api::auth::ssr::state()?;
    let outcome = service::digests::send_test(&st, account_id, Some(admin.id)).await?;
    let lang = crate::error::request_lang();
    let words: Vec<String> = outcome
        .results
        .iter()
        .map(|(channel, error)| {
            let name = match channel {
                service::digests::Channel::Wecom => lang.pick("企业微信机器人", "WeCom robot"),
                service::digests::Channel::Email => lang.pick("邮件", "Email"),
            };
            match (error, lang) {
                (None, Lang::Zh) => format!("{name}：已发送"),
                (None, Lang::En) => format!("{name}: sent"),
                (Some(e), Lang::Zh) => format!("{name}：失败（{e}）"),
                (Some(e), Lang::En) => format!("{name}: failed ({e})"),
            }
        })
        .collect();
    let ok = outcome.ok();
    leptos_axum::redirect(&format!(
        "/settings?digest_tested={account_id}&ok={}&msg={}#digests-{account_id}",
        u8::from(ok),
        crate::urls::urlencode(&words.join(lang.pick("；", "; ")))
    ));
    Ok(ok)
}
