//! An account's digest settings: which summaries, at which local hour, in which language, and
//! where. The WeCom webhook is sealed at rest (its `key` lets anyone post to the group) and
//! never leaves the server: pages get [`DigestConfig::webhook_hint`] only.

use crate::entity::digest_setting;
use crate::{AppState, Keys, Lang, Msg, ServiceError, audit};
use chrono::{DateTime, Utc};
use sea_orm::sea_query::OnConflict;
use sea_orm::{ConnectionTrait, DbErr, EntityTrait, Set};
use serde_json::json;

/// Most email recipients of one account's digests.
pub const MAX_RECIPIENTS: usize = 10;
/// Longest webhook URL kept (WeCom's are about 110 characters).
const MAX_WEBHOOK_LEN: usize = 512;
/// The hour a digest goes out unless chosen otherwise: the start of an office day.
pub const DEFAULT_HOUR: u32 = 9;

/// An account's digest settings, the webhook opened (server-side only).
#[derive(Clone, PartialEq, Eq)]
pub struct DigestConfig {
    pub account_id: i32,
    pub daily: bool,
    pub weekly: bool,
    /// Local hour, 0–23, in the account's zone.
    pub send_hour: u32,
    pub lang: Lang,
    /// `None` also when it does not open under the current secret key.
    pub webhook: Option<String>,
    pub email_to: Vec<String>,
    /// Digests due before this are not sent late (see `deliver::due`).
    pub updated_at: DateTime<Utc>,
}

/// `Debug` without the webhook's key.
impl std::fmt::Debug for DigestConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DigestConfig")
            .field("account_id", &self.account_id)
            .field("daily", &self.daily)
            .field("weekly", &self.weekly)
            .field("send_hour", &self.send_hour)
            .field("lang", &self.lang)
            .field("webhook", &self.webhook_hint())
            .field("email_to", &self.email_to)
            .finish()
    }
}

impl DigestConfig {
    /// The defaults of an account that has none saved: nothing is sent.
    pub fn off(account_id: i32) -> Self {
        DigestConfig {
            account_id,
            daily: false,
            weekly: false,
            send_hour: DEFAULT_HOUR,
            lang: Lang::Zh,
            webhook: None,
            email_to: Vec::new(),
            updated_at: DateTime::<Utc>::MIN_UTC,
        }
    }

    /// The webhook as Settings shows it: its host and the key's first four characters.
    pub fn webhook_hint(&self) -> Option<String> {
        let url = url::Url::parse(self.webhook.as_deref()?).ok()?;
        let key = url.query_pairs().find(|(k, _)| k == "key").map(|(_, v)| v.chars().take(4).collect::<String>()).unwrap_or_default();
        Some(format!("{} · key {key}…", url.host_str().unwrap_or_default()))
    }
}

/// The settings as the form posts them. `webhook` blank keeps the stored one (it is never
/// shown again); `remove_webhook` drops it.
#[derive(Clone, Default)]
pub struct DigestInput {
    pub daily: bool,
    pub weekly: bool,
    pub send_hour: String,
    pub lang: String,
    pub webhook: Option<String>,
    pub remove_webhook: bool,
    pub email_to: String,
}

fn context(account_id: i32) -> String {
    format!("digest_settings.wecom_webhook:{account_id}")
}

fn from_row(keys: &Keys, r: digest_setting::Model) -> DigestConfig {
    DigestConfig {
        account_id: r.account_id,
        daily: r.daily,
        weekly: r.weekly,
        send_hour: u32::try_from(r.send_hour).unwrap_or(DEFAULT_HOUR).min(23),
        lang: Lang::parse(Some(&r.lang)),
        webhook: r.wecom_webhook_enc.and_then(|s| keys.open(&context(r.account_id), &s).ok()),
        email_to: r.email_to.unwrap_or_default().split(',').filter(|s| !s.is_empty()).map(str::to_owned).collect(),
        updated_at: r.updated_at,
    }
}

/// Account `account_id`'s settings; [`DigestConfig::off`] when none were saved.
pub async fn get(st: &AppState, account_id: i32) -> Result<DigestConfig, ServiceError> {
    Ok(match digest_setting::Entity::find_by_id(account_id).one(&st.db).await? {
        Some(r) => from_row(&st.keys, r),
        None => DigestConfig::off(account_id),
    })
}

/// Every account's saved settings.
pub async fn list(st: &AppState) -> Result<Vec<DigestConfig>, ServiceError> {
    Ok(digest_setting::Entity::find().all(&st.db).await?.into_iter().map(|r| from_row(&st.keys, r)).collect())
}

/// Checks and stores account `account_id`'s settings; every field error names its field.
pub async fn save(st: &AppState, account_id: i32, input: DigestInput, actor: Option<i32>) -> Result<DigestConfig, ServiceError> {
    crate::accounts::model(&st.db, account_id).await?;
    let send_hour = check_hour(&input.send_hour)?;
    let lang = Lang::parse(Some(&input.lang));
    let email_to = check_recipients(&input.email_to, st.settings.mail.is_some())?;
    let new_webhook = match input.webhook.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
        Some(text) => Some(check_webhook(text)?),
        None => None,
    };
    let current = get(st, account_id).await?;
    let webhook = if input.remove_webhook { None } else { new_webhook.or(current.webhook) };
    let now = st.clock.now();
    let row = digest_setting::ActiveModel {
        account_id: Set(account_id),
        daily: Set(input.daily),
        weekly: Set(input.weekly),
        send_hour: Set(send_hour as i32),
        lang: Set(lang.code().to_owned()),
        wecom_webhook_enc: Set(webhook.as_deref().map(|w| st.keys.seal(&context(account_id), w))),
        email_to: Set((!email_to.is_empty()).then(|| email_to.join(","))),
        created_at: Set(now),
        updated_at: Set(now),
    };
    let upsert = OnConflict::column(digest_setting::Column::AccountId)
        .update_columns([
            digest_setting::Column::Daily,
            digest_setting::Column::Weekly,
            digest_setting::Column::SendHour,
            digest_setting::Column::Lang,
            digest_setting::Column::WecomWebhookEnc,
            digest_setting::Column::EmailTo,
            digest_setting::Column::UpdatedAt,
        ])
        .to_owned();
    digest_setting::Entity::insert(row).on_conflict(upsert).exec_without_returning(&st.db).await?;
    // What changed, never where to: the webhook's key is a secret and addresses are personal.
    let detail = json!({
        "daily": input.daily,
        "weekly": input.weekly,
        "send_hour": send_hour,
        "lang": lang.code(),
        "wecom": webhook.is_some(),
        "recipients": email_to.len(),
    });
    audit::record(&st.db, actor, "digest.settings", "account", Some(account_id.to_string()), detail).await?;
    get(st, account_id).await
}

fn check_hour(text: &str) -> Result<u32, ServiceError> {
    let text = text.trim();
    if text.is_empty() {
        return Ok(DEFAULT_HOUR);
    }
    text.parse::<u32>().ok().filter(|h| *h <= 23).ok_or_else(|| ServiceError::invalid("send_hour", Msg::DigestHour))
}

/// Addresses separated by commas, semicolons, spaces or lines (as pasted from a mail client);
/// each checked, duplicates dropped. Recipients need a mail server configured.
pub(crate) fn check_recipients(text: &str, mail_ready: bool) -> Result<Vec<String>, ServiceError> {
    let mut out: Vec<String> = Vec::new();
    for part in text.split([',', ';', ' ', '\n', '\r', '\t', '，', '；']).map(str::trim).filter(|s| !s.is_empty()) {
        let address: lettre::Address = part
            .parse()
            .map_err(|_| ServiceError::invalid("email_to", Msg::DigestEmailInvalid { address: part.chars().take(80).collect() }))?;
        let address = address.to_string();
        if !out.iter().any(|a| a.eq_ignore_ascii_case(&address)) {
            out.push(address);
        }
    }
    if out.len() > MAX_RECIPIENTS {
        return Err(ServiceError::invalid("email_to", Msg::DigestEmailTooMany { max: MAX_RECIPIENTS }));
    }
    if !out.is_empty() && !mail_ready {
        return Err(ServiceError::invalid("email_to", Msg::DigestNoSmtp));
    }
    Ok(out)
}

/// A WeCom group robot's webhook: https (http only to this machine, for tests and local
/// relays) with its `key`. Any host is accepted, so a privately deployed WeCom works too.
pub(crate) fn check_webhook(text: &str) -> Result<String, ServiceError> {
    let bad = |m: Msg| ServiceError::invalid("wecom_webhook", m);
    if text.len() > MAX_WEBHOOK_LEN {
        return Err(bad(Msg::DigestWebhookNotUrl));
    }
    let url = url::Url::parse(text).map_err(|_| bad(Msg::DigestWebhookNotUrl))?;
    if url.host().is_none() {
        return Err(bad(Msg::DigestWebhookNotUrl));
    }
    match url.scheme() {
        "https" => {}
        "http" if crate::accounts::is_loopback(&url) => {}
        _ => return Err(bad(Msg::DigestWebhookHttps)),
    }
    if !url.query_pairs().any(|(k, v)| k == "key" && !v.trim().is_empty()) {
        return Err(bad(Msg::DigestWebhookNoKey));
    }
    Ok(url.to_string())
}

/// Re-seals every stored webhook under `new` (a key rotation); one that does not open under
/// `old` is left as it is (it was already unusable). Returns how many were re-sealed.
pub async fn reseal<C: ConnectionTrait>(db: &C, old: &Keys, new: &Keys) -> Result<usize, DbErr> {
    let mut resealed = 0;
    for r in digest_setting::Entity::find().all(db).await? {
        let Some(sealed) = &r.wecom_webhook_enc else { continue };
        if let Ok(url) = old.open(&context(r.account_id), sealed) {
            let row = digest_setting::ActiveModel {
                account_id: Set(r.account_id),
                wecom_webhook_enc: Set(Some(new.seal(&context(r.account_id), &url))),
                ..Default::default()
            };
            digest_setting::Entity::update(row).exec(db).await?;
            resealed += 1;
        }
    }
    Ok(resealed)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn field(e: ServiceError) -> (&'static str, String) {
        match e {
            ServiceError::Validation { field, message } => (field, message.text(Lang::En)),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_webhook_is_a_wecom_robot_address_over_https() {
        let real = "https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=693a91f6-7xxx-4bc4-97a0-0ec2sifa5aaa";
        assert_eq!(check_webhook(real).unwrap(), real);
        assert!(check_webhook("http://127.0.0.1:9/send?key=k").is_ok(), "plain http to this machine");
        assert!(check_webhook("http://localhost:9/send?key=k").is_ok());
        let (f, m) = field(check_webhook("http://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=k").unwrap_err());
        assert_eq!((f, m.contains("https://")), ("wecom_webhook", true));
        assert!(field(check_webhook("https://qyapi.weixin.qq.com/cgi-bin/webhook/send").unwrap_err()).1.contains("no key"));
        assert!(field(check_webhook("https://x/send?key=").unwrap_err()).1.contains("no key"));
        assert!(field(check_webhook("qyapi.weixin.qq.com").unwrap_err()).1.contains("not a valid URL"));
        assert!(check_webhook("ftp://x/?key=k").is_err());
        assert!(check_webhook(&format!("https://x/?key={}", "k".repeat(600))).is_err());
    }

    #[test]
    fn recipients_are_checked_one_by_one_and_need_a_mail_server() {
        assert_eq!(
            check_recipients(" a@example.com, b@example.cn；A@example.com\nc@example.org ", true).unwrap(),
            ["a@example.com", "b@example.cn", "c@example.org"]
        );
        assert!(check_recipients("", false).unwrap().is_empty(), "no recipients need no server");
        let (f, m) = field(check_recipients("a@example.com, not-an-address", true).unwrap_err());
        assert_eq!((f, m.as_str()), ("email_to", "“not-an-address” is not a valid email address"));
        let many: Vec<String> = (0..11).map(|i| format!("u{i}@example.com")).collect();
        assert!(field(check_recipients(&many.join(","), true).unwrap_err()).1.contains("at most 10"));
        assert!(field(check_recipients("a@example.com", false).unwrap_err()).1.contains("SCENEBOARD_SMTP_URL"));
    }

    #[test]
    fn hours_run_from_0_to_23_and_the_hint_shows_no_key() {
        assert_eq!((check_hour("").unwrap(), check_hour("0").unwrap(), check_hour(" 23 ").unwrap()), (9, 0, 23));
        for bad in ["24", "-1", "9am"] {
            assert_eq!(field(check_hour(bad).unwrap_err()).0, "send_hour");
        }
        let c = DigestConfig {
            webhook: Some("https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=693a91f6-7".into()),
            ..DigestConfig::off(1)
        };
        assert_eq!(c.webhook_hint().as_deref(), Some("qyapi.weixin.qq.com · key 693a…"));
        assert!(!format!("{c:?}").contains("91f6"));
    }
}
