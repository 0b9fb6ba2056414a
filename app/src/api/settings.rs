//! Settings for admins: WeChat accounts, the callback URL to configure, the audit log.
//!
//! Secrets travel one way only: the browser may send an AppSecret or EncodingAESKey, the
//! server stores them sealed and answers only whether one is set. The callback Token is sealed
//! too, and shown to admins (they paste it into WeChat).

use crate::error::AppError;
use leptos::prelude::*;
use serde::{Deserialize, Serialize};

/// One connected WeChat account (never its secrets).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccountSummary {
    pub id: i32,
    pub name: String,
    pub app_id: String,
    pub message_mode: String,
    pub callback_url: String,
    /// The callback Token admins paste into WeChat next to the URL.
    pub token: String,
    pub secret_set: bool,
    pub aes_key_set: bool,
    pub api_base_url: String,
    pub timezone: String,
    pub permanent_codes: i64,
    pub permanent_quota: i64,
    pub has_logo: bool,
}

/// The background job queue at a glance (renewals, tagging).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct JobsSummary {
    pub queued: u64,
    pub running: u64,
    pub failed: u64,
    /// The latest jobs that failed or are being retried: kind, attempts, error in words, when.
    pub problems: Vec<(String, i32, String, String)>,
}

/// What the Settings page shows.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SettingsData {
    /// `{public_url}/wechat/callback/{app_id}` with a placeholder app id.
    pub callback_template: String,
    pub accounts: Vec<AccountSummary>,
    /// The server's default time zone, preselected for a new account.
    pub default_timezone: String,
    /// The built-in simulator's address when this server runs one (demo), for sandbox accounts.
    pub simulator_url: Option<String>,
    pub jobs: JobsSummary,
}

/// An entry of the audit log.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditRow {
    pub id: i64,
    pub at: String,
    pub username: Option<String>,
    pub action: String,
    pub target: String,
    pub detail: String,
}

/// A page of the audit log.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditPage {
    pub rows: Vec<AuditRow>,
    pub total: u64,
    pub page: u64,
    pub per_page: u64,
}

/// Accounts and the callback URL form (admins only).
#[server(endpoint = "settings_overview")]
pub async fn settings_overview() -> Result<SettingsData, AppError> {
    crate::api::auth::ssr::require_admin().await?;
    let st = crate::api::auth::ssr::state()?;
    let base = st.settings.public_url.trim_end_matches('/').to_owned();
    // Opened here, for admins only: the Token is sealed at rest.
    let mut tokens = service::accounts::callback_tokens(&st).await?;
    let accounts = service::accounts::list(&st.db)
        .await?
        .into_iter()
        .map(|a| AccountSummary {
            callback_url: format!("{base}/wechat/callback/{}", a.app_id),
            id: a.id,
            name: a.name,
            app_id: a.app_id,
            message_mode: a.message_mode,
            token: tokens.remove(&a.id).unwrap_or_default(),
            secret_set: a.secret_set,
            aes_key_set: a.aes_key_set,
            api_base_url: a.api_base_url,
            timezone: a.timezone,
            permanent_codes: a.permanent_codes,
            permanent_quota: service::accounts::PERMANENT_QUOTA,
            has_logo: a.has_logo,
        })
        .collect();
    let (queued, running, failed) = service::jobs::counts(&st.db).await.map_err(service::ServiceError::from)?;
    let tz: chrono_tz::Tz = st.settings.timezone.parse().unwrap_or(chrono_tz::Asia::Shanghai);
    let problems = service::jobs::list_recent(&st.db, 50)
        .await
        .map_err(service::ServiceError::from)?
        .into_iter()
        .filter_map(|j| {
            let error = j.last_error?;
            Some((j.kind, j.attempts, error, j.updated_at.with_timezone(&tz).format("%Y-%m-%d %H:%M").to_string()))
        })
        .take(10)
        .collect();
    Ok(SettingsData {
        callback_template: format!("{base}/wechat/callback/{{AppID}}"),
        accounts,
        default_timezone: st.settings.timezone.clone(),
        simulator_url: use_context::<SimulatorUrl>().map(|s| s.0),
        jobs: JobsSummary { queued, running, failed, problems },
    })
}

/// The address of the in-process WeChat simulator, provided by the server when it runs one.
#[derive(Clone, Debug)]
pub struct SimulatorUrl(pub String);

/// A WeChat account's fields as the settings form posts them (each named as its form field;
/// `#[server(flatten)]` keeps the names). The secrets travel this way only, into the server:
/// blank secret fields keep the stored ones.
#[derive(Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccountForm {
    pub name: String,
    pub app_id: String,
    #[serde(default, deserialize_with = "crate::api::empty_none")]
    pub app_secret: Option<String>,
    pub token: String,
    #[serde(default, deserialize_with = "crate::api::empty_none")]
    pub aes_key: Option<String>,
    /// `plain`, `compat` or `safe`.
    pub message_mode: String,
    #[serde(default, deserialize_with = "crate::api::empty_none")]
    pub api_base_url: Option<String>,
    #[serde(default, deserialize_with = "crate::api::empty_none")]
    pub timezone: Option<String>,
}

/// `Debug` without the secrets, as the service's `AccountInput`: the server function's
/// arguments may end up in a log line.
impl std::fmt::Debug for AccountForm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AccountForm")
            .field("name", &self.name)
            .field("app_id", &self.app_id)
            .field("app_secret", &self.app_secret.as_ref().map(|_| "[REDACTED]"))
            .field("aes_key", &self.aes_key.as_ref().map(|_| "[REDACTED]"))
            .field("message_mode", &self.message_mode)
            .field("api_base_url", &self.api_base_url)
            .field("timezone", &self.timezone)
            .finish_non_exhaustive()
    }
}

#[cfg(feature = "ssr")]
impl AccountForm {
    /// The fields as the service takes them: identifiers trimmed, blank optional fields not given.
    pub fn input(self) -> service::accounts::AccountInput {
        service::accounts::AccountInput {
            name: self.name,
            app_id: self.app_id.trim().to_owned(),
            app_secret: blank(self.app_secret),
            token: self.token.trim().to_owned(),
            aes_key: blank(self.aes_key),
            message_mode: self.message_mode,
            api_base_url: blank(self.api_base_url),
            timezone: blank(self.timezone),
        }
    }
}

/// A form field that was left empty (or only spaces) counts as not given.
#[cfg(feature = "ssr")]
fn blank(v: Option<String>) -> Option<String> {
    v.map(|s| s.trim().to_owned()).filter(|s| !s.is_empty())
}

/// Add (`id` empty) or change (`id` set) a WeChat account. Blank secret fields keep the stored ones.
#[server(endpoint = "save_account")]
pub async fn save_account(id: Option<String>, #[server(flatten)] form: AccountForm) -> Result<i32, AppError> {
    use service::accounts;
    let user = crate::api::auth::ssr::require_admin().await?;
    let st = crate::api::auth::ssr::state()?;
    let input = form.input();
    let saved = match blank(id).map(|s| s.parse::<i32>()) {
        Some(Ok(id)) => accounts::update(&st, id, input, Some(user.id)).await?,
        Some(Err(_)) => return Err(service::ServiceError::NotFound.into()),
        None => accounts::create(&st, input, Some(user.id)).await?,
    };
    // The account update itself tells this instance's callback (`AppState::changes`); other
    // instances pick the change up within their cache's 30 s.
    leptos_axum::redirect(&format!("/settings?saved={}#account-{}", saved.id, saved.id));
    Ok(saved.id)
}

/// Fetch an access token with the account's credentials and say in words how it went. The
/// result travels in the URL of the settings page, so it shows with JavaScript on or off.
#[server(endpoint = "test_account")]
pub async fn test_account(id: i32) -> Result<bool, AppError> {
    let admin = crate::api::auth::ssr::require_admin().await?;
    let st = crate::api::auth::ssr::state()?;
    let report = service::accounts::test_connection(&st, id, Some(admin.id)).await?;
    let ok = if report.ok { 1 } else { 0 };
    leptos_axum::redirect(&format!(
        "/settings?tested={id}&ok={ok}&msg={}#account-{id}",
        crate::urls::urlencode(&report.message.text(crate::error::request_lang()))
    ));
    Ok(report.ok)
}

/// The audit log, newest first (admins only).
#[server(endpoint = "audit_log")]
pub async fn audit_log(page: Option<u64>, kind: Option<String>) -> Result<AuditPage, AppError> {
    const PER_PAGE: u64 = 50;
    crate::api::auth::ssr::require_admin().await?;
    let st = crate::api::auth::ssr::state()?;
    let page = page.unwrap_or(1).max(1);
    let prefix = kind
        .filter(|k| ["campaign", "account", "user", "export", "api_key", "share_link", "digest"].contains(&k.as_str()))
        .map(|k| format!("{k}."));
    let (rows, total) =
        service::audit::list(&st.db, prefix.as_deref(), PER_PAGE, (page - 1) * PER_PAGE).await.map_err(service::ServiceError::from)?;
    let tz: chrono_tz::Tz = st.settings.timezone.parse().unwrap_or(chrono_tz::Asia::Shanghai);
    Ok(AuditPage {
        rows: rows
            .into_iter()
            .map(|e| AuditRow {
                id: e.entry.id,
                at: e.entry.created_at.with_timezone(&tz).format("%Y-%m-%d %H:%M:%S").to_string(),
                username: e.username,
                action: e.entry.action,
                target: match e.entry.target_id {
                    Some(id) => format!("{} #{id}", e.entry.target_type),
                    None => e.entry.target_type,
                },
                detail: e.entry.detail,
            })
            .collect(),
        total,
        page,
        per_page: PER_PAGE,
    })
}
