//! The server side of the campaign server functions: the session guard, account time zones,
//! and the page types built from the service's views (also used by `/api/v1`).

use super::{CampaignInfo, CampaignRow};
use crate::error::{AppError, RowProblem};
use service::AppState;
use service::campaigns::{CampaignView, RowError, Welcome};
use std::collections::HashMap;

pub use crate::api::auth::ssr::require_user;

/// Rows reported to the browser at most: enough to fix a file, small enough for the URL
/// that carries errors back to a form when JavaScript is off.
const MAX_ROW_PROBLEMS: usize = 50;

/// Each account's time zone, by account id.
pub async fn zones(st: &AppState) -> Result<HashMap<i32, chrono_tz::Tz>, AppError> {
    Ok(service::accounts::list(&st.db)
        .await?
        .into_iter()
        .map(|a| (a.id, a.timezone.parse().unwrap_or(chrono_tz::Asia::Shanghai)))
        .collect())
}

/// A time in the account's zone, to the minute.
pub fn local(t: chrono::DateTime<chrono::Utc>, tz: chrono_tz::Tz) -> String {
    t.with_timezone(&tz).format("%Y-%m-%d %H:%M").to_string()
}

/// A time in the account's zone, RFC 3339 with its offset (what the shared types carry).
pub fn rfc3339(t: chrono::DateTime<chrono::Utc>, tz: chrono_tz::Tz) -> String {
    t.with_timezone(&tz).to_rfc3339_opts(chrono::SecondsFormat::Secs, false)
}

pub fn row(c: &CampaignView, zones: &HashMap<i32, chrono_tz::Tz>) -> CampaignRow {
    let tz = zones.get(&c.account_id).copied().unwrap_or(chrono_tz::Asia::Shanghai);
    CampaignRow {
        id: c.id,
        name: c.name.clone(),
        group: c.group.clone(),
        account_id: c.account_id,
        account_name: c.account_name.clone(),
        kind: c.kind.clone(),
        scene: c.scene.clone(),
        status: c.status.as_str().to_owned(),
        expires_at: c.code.as_ref().and_then(|k| k.expires_at).map(|t| rfc3339(t, tz)),
        scans: c.scans,
        new_followers: c.new_followers,
        unsubscribes: c.unsubscribes,
        has_code: c.code.is_some(),
    }
}

pub fn detail(c: &CampaignView, zones: &HashMap<i32, chrono_tz::Tz>) -> CampaignInfo {
    let tz = zones.get(&c.account_id).copied().unwrap_or(chrono_tz::Asia::Shanghai);
    let (mut welcome_kind, mut welcome_text) = ("none".to_owned(), String::new());
    let (mut news_title, mut news_description, mut news_url) = (String::new(), String::new(), String::new());
    match &c.welcome {
        Some(Welcome::Text { content }) => {
            welcome_kind = "text".into();
            welcome_text = content.clone();
        }
        Some(Welcome::News { title, description, url, .. }) => {
            welcome_kind = "news".into();
            news_title = title.clone();
            news_description = description.clone();
            news_url = url.clone();
        }
        None => {}
    }
    CampaignInfo {
        row: row(c, zones),
        app_id: c.app_id.clone(),
        expire_days: c.expire_days,
        auto_renew: c.auto_renew,
        welcome_kind,
        welcome_text,
        news_title,
        news_description,
        news_url,
        tag_name: c.tag_name.clone().unwrap_or_default(),
        created_at: local(c.created_at, tz),
        code_url: c.code.as_ref().map(|k| k.url.clone()),
        archived: c.archived_at.is_some(),
        has_logo: c.has_logo,
    }
}

/// A form field that was left empty counts as not given.
pub fn blank_none(v: Option<String>) -> Option<String> {
    v.map(|s| s.trim().to_owned()).filter(|s| !s.is_empty())
}

/// The expiry field of a temporary code: a whole number of days (range checked by the
/// service, which knows WeChat's limits).
pub fn parse_days(v: Option<String>) -> Result<Option<i32>, AppError> {
    match blank_none(v) {
        None => Ok(None),
        Some(s) => s.parse::<i32>().map(Some).map_err(|_| AppError::field("expire_days", service::Msg::DaysEnterNumber)),
    }
}

pub fn rows_error(rows: Vec<RowError>) -> AppError {
    crate::error::set_status(422);
    let lang = crate::error::request_lang();
    AppError::Rows(rows.into_iter().take(MAX_ROW_PROBLEMS).map(|r| RowProblem { line: r.line, message: r.message.text(lang) }).collect())
}
