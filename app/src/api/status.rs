//! What is degraded right now ([`service::health`] on the server), for the banner above every
//! signed-in page: the database not answering the callback's writes, scans waiting in the
//! spool, a full spool disk, a WeChat API that fails. Words, not error codes.

use crate::error::AppError;
use leptos::prelude::*;
use serde::{Deserialize, Serialize};

/// The degraded parts of the service; all empty when everything works.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Status {
    /// Since when (local time of the server's default zone) the database has refused the
    /// callback's writes on this instance.
    pub db_down_since: Option<String>,
    /// Acknowledged scans waiting in this instance's spool.
    pub spool_waiting: u64,
    /// Since when the spool cannot be written (disk full) while the database is down.
    pub spool_full_since: Option<String>,
    /// Pushes refused (503) meanwhile.
    pub refused: u64,
    /// Accounts whose WeChat API is failing.
    pub apis: Vec<ApiStatus>,
}

/// One account's failing WeChat API.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApiStatus {
    pub account: String,
    /// Since when (local time).
    pub since: String,
    /// `timeout`, `unreachable` or `unreadable` when the page can say it in the reader's
    /// language; otherwise `error` is WeChat's own sentence.
    pub kind: Option<String>,
    pub error: String,
}

impl Status {
    /// Nothing to tell?
    pub fn is_ok(&self) -> bool {
        self.db_down_since.is_none() && self.spool_waiting == 0 && self.spool_full_since.is_none() && self.apis.is_empty()
    }
}

/// The current status (signed-in users).
#[server(endpoint = "service_status")]
pub async fn service_status() -> Result<Status, AppError> {
    use service::health;
    crate::api::auth::ssr::require_user().await?;
    let st = crate::api::auth::ssr::state()?;
    let tz: chrono_tz::Tz = st.settings.timezone.parse().unwrap_or(chrono_tz::Asia::Shanghai);
    let local = |t: chrono::DateTime<chrono::Utc>| t.with_timezone(&tz).format("%Y-%m-%d %H:%M").to_string();
    let ingest = st.health.ingest();
    let apis = health::failing_apis(&st.db)
        .await
        .map_err(|e| AppError::from(service::ServiceError::from(e)))?
        .into_iter()
        .map(|a| {
            let kind = match a.error.as_str() {
                health::TIMEOUT => Some("timeout"),
                health::UNREACHABLE => Some("unreachable"),
                health::UNREADABLE => Some("unreadable"),
                _ => None,
            };
            ApiStatus { account: a.account_name, since: local(a.failed_at), kind: kind.map(str::to_owned), error: a.error }
        })
        .collect();
    Ok(Status {
        db_down_since: ingest.db_down_since.map(local),
        // A burst's journal drains in milliseconds: only a backlog is worth a line.
        spool_waiting: if ingest.backlog_lingers() { ingest.spool_waiting } else { 0 },
        spool_full_since: ingest.spool_failed_since.map(local),
        refused: ingest.refused,
        apis,
    })
}
