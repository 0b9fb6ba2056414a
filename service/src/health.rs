//! What is degraded right now, so the dashboard can say it in words instead of failing.
//!
//! Two sources:
//! - **This instance's callback writer** ([`IngestHealth`], in memory): whether the database
//!   answers its writes, how many acknowledged pushes wait in the spool, and whether the spool
//!   could not be written (disk full), in which case pushes are being refused with 503 and
//!   WeChat's retries are the only hope for them. Per instance on purpose: the spool is.
//! - **Each account's WeChat API calls** ([`ApiHealth`], in `wechat_accounts`, shared by every
//!   instance): [`Watched`] wraps the API client and records every call's outcome, so a slow
//!   or failing WeChat shows on whichever instance a user's browser reaches.

use crate::entity::wechat_account;
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sea_orm::sea_query::{Expr, ExprTrait};
use sea_orm::{ColumnTrait, ConnectionTrait, DatabaseConnection, EntityTrait, QueryFilter};
use secrecy::SecretString;
use serde::{Deserialize, Serialize};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use wechat::{QrCode, QrCodeRequest, Tag, WechatApi, WechatError};

/// The state of this instance's callback writer.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct IngestHealth {
    /// Since when the database has not accepted the writer's batches (None: it does).
    pub db_down_since: Option<DateTime<Utc>>,
    /// Acknowledged pushes waiting in this instance's spool to be stored.
    pub spool_waiting: u64,
    /// Since when the spool has not been empty. Under a burst the writer journals pushes
    /// for a few milliseconds while a batch commits, which is nothing to tell anyone about.
    #[serde(default)]
    pub spool_waiting_since: Option<DateTime<Utc>>,
    /// Since when the spool cannot be written (disk full, say); cleared by the next write
    /// that succeeds or the next batch the database takes directly.
    pub spool_failed_since: Option<DateTime<Utc>>,
    /// The spool's last write error, in the operating system's words.
    pub spool_error: Option<String>,
    /// Pushes answered 503 (not acknowledged) because neither the database nor the spool
    /// could take them, since `spool_failed_since`.
    pub refused: u64,
}

impl IngestHealth {
    /// Anything a user should be told about?
    pub fn is_degraded(&self) -> bool {
        self.db_down_since.is_some() || self.backlog_lingers() || self.spool_failed_since.is_some()
    }

    /// Pushes have waited in the spool long enough to mention: the database is down, or the
    /// spool has not been empty for [`BACKLOG_WORTH_TELLING`] (a backlog, not a burst).
    pub fn backlog_lingers(&self) -> bool {
        self.spool_waiting > 0
            && (self.db_down_since.is_some() || self.spool_waiting_since.is_some_and(|t| Utc::now() - t >= BACKLOG_WORTH_TELLING))
    }
}

/// How long the spool must stay non-empty, with the database up, before users are told.
pub const BACKLOG_WORTH_TELLING: chrono::TimeDelta = chrono::TimeDelta::seconds(10);

/// The process-wide registry (in [`crate::AppState`]).
#[derive(Debug, Default)]
pub struct Health {
    ingest: Mutex<IngestHealth>,
    batches: AtomicU64,
}

impl Health {
    /// Batches the callback's writer has handed to the database so far, tries included: a
    /// push counted here is in the database's hands, no longer queued (tests wait on it).
    pub fn batches_begun(&self) -> u64 {
        self.batches.load(Ordering::Relaxed)
    }

    pub(crate) fn batch_begun(&self) {
        self.batches.fetch_add(1, Ordering::Relaxed);
    }

    /// A copy of the callback writer's state.
    pub fn ingest(&self) -> IngestHealth {
        self.lock().clone()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, IngestHealth> {
        self.ingest.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The database refused or timed out a batch.
    pub(crate) fn db_down(&self) {
        self.lock().db_down_since.get_or_insert_with(Utc::now);
    }

    /// The database took a batch directly (not only a replay): it and the spool are fine.
    pub(crate) fn db_up(&self) {
        let mut h = self.lock();
        h.db_down_since = None;
        h.spool_failed_since = None;
        h.spool_error = None;
        h.refused = 0;
    }

    /// The database took a replayed batch.
    pub(crate) fn db_answers(&self) {
        self.lock().db_down_since = None;
    }

    /// The spool now holds `lines` pushes.
    pub(crate) fn spool_waiting(&self, lines: u64) {
        let mut h = self.lock();
        h.spool_waiting = lines;
        if lines == 0 {
            h.spool_waiting_since = None;
        } else {
            h.spool_waiting_since.get_or_insert_with(Utc::now);
        }
    }

    /// A spool write succeeded.
    pub(crate) fn spool_ok(&self) {
        let mut h = self.lock();
        h.spool_failed_since = None;
        h.spool_error = None;
        h.refused = 0;
    }

    /// A spool write failed; `refused` pushes were answered with an error.
    pub(crate) fn spool_failed(&self, error: &std::io::Error, refused: u64) {
        let mut h = self.lock();
        h.spool_failed_since.get_or_insert_with(Utc::now);
        h.spool_error = Some(error.to_string());
        h.refused += refused;
    }
}

/// The health of one account's WeChat API, from its last calls (any instance's).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApiHealth {
    pub account_id: i32,
    pub account_name: String,
    /// When the failing started: the last failure after the last success.
    pub failed_at: DateTime<Utc>,
    /// When a call last succeeded (None: never, as far as we know).
    pub ok_at: Option<DateTime<Utc>>,
    /// Why, in words.
    pub error: String,
}

/// Accounts whose last WeChat API call failed (the API is failing for them now).
pub async fn failing_apis<C: ConnectionTrait>(db: &C) -> Result<Vec<ApiHealth>, sea_orm::DbErr> {
    let rows = wechat_account::Entity::find().filter(wechat_account::Column::ApiFailedAt.is_not_null()).all(db).await?;
    Ok(rows
        .into_iter()
        .filter_map(|m| {
            let failed_at = m.api_failed_at?;
            if m.api_ok_at.is_some_and(|ok| ok >= failed_at) {
                return None;
            }
            Some(ApiHealth {
                account_id: m.id,
                account_name: m.name,
                failed_at,
                ok_at: m.api_ok_at,
                error: m.api_error.unwrap_or_default(),
            })
        })
        .collect())
}

/// Records the outcome of a call for the account. The first failure after a success keeps its
/// time (the failing started then); a success after failures clears the error. Best effort: a
/// database that cannot take the note must not turn a good call into a failed one.
pub async fn record_api(db: &DatabaseConnection, account_id: i32, outcome: Result<(), &WechatError>) {
    let now = Utc::now();
    let update = wechat_account::Entity::update_many().filter(wechat_account::Column::Id.eq(account_id));
    let update = match outcome {
        Ok(()) => update
            .col_expr(wechat_account::Column::ApiOkAt, Expr::value(now))
            .col_expr(wechat_account::Column::ApiError, Expr::value(Option::<String>::None)),
        Err(e) => {
            // Keep the start of a run of failures: only move `api_failed_at` when the last
            // note was a success (or there was none).
            let still_failing = Expr::col(wechat_account::Column::ApiFailedAt).is_not_null().and(
                Expr::col(wechat_account::Column::ApiOkAt)
                    .is_null()
                    .or(Expr::col(wechat_account::Column::ApiOkAt).lt(Expr::col(wechat_account::Column::ApiFailedAt))),
            );
            update
                .col_expr(
                    wechat_account::Column::ApiFailedAt,
                    Expr::case(still_failing, Expr::col(wechat_account::Column::ApiFailedAt)).finally(Expr::value(now)).into(),
                )
                .col_expr(wechat_account::Column::ApiError, Expr::value(Some(describe(e))))
        }
    };
    if let Err(e) = update.exec(db).await {
        tracing::warn!(error = %e, account_id, "cannot note the WeChat API's health");
    }
}

/// Stored for a call that timed out (the UI says it in the reader's language).
pub const TIMEOUT: &str = "WeChat did not answer in time";
/// Stored for a call that could not reach WeChat.
pub const UNREACHABLE: &str = "WeChat's API could not be reached";
/// Stored for an answer that was not WeChat's JSON.
pub const UNREADABLE: &str = "WeChat's API answered something unreadable";

/// A WeChat error for staff: what happened, without transport details they cannot act on.
/// WeChat's own refusals keep their sentence (it names the fix: whitelist, AppSecret, ...).
pub fn describe(e: &WechatError) -> String {
    match e {
        WechatError::Timeout(_) => TIMEOUT.into(),
        WechatError::Http(_) => UNREACHABLE.into(),
        WechatError::Decode(_) => UNREADABLE.into(),
        other => other.to_string(),
    }
}

/// Does this failure say something about WeChat (or our account there), rather than about
/// one request or our own database?
fn tells_about_wechat(e: &WechatError) -> bool {
    // 45157 (tag name taken) is WeChat answering normally about this request, not a fault.
    !matches!(e, WechatError::InvalidInput(_) | WechatError::TokenStore(_)) && e.errcode() != Some(TAG_NAME_TAKEN)
}

/// WeChat's answer to `tags/create` when the account already has a tag of that name.
pub const TAG_NAME_TAKEN: i64 = 45157;

/// An API client that notes every call's outcome in the account's row ([`record_api`]).
pub struct Watched {
    inner: Arc<dyn WechatApi>,
    db: DatabaseConnection,
    account_id: i32,
}

impl Watched {
    pub fn new(inner: Arc<dyn WechatApi>, db: DatabaseConnection, account_id: i32) -> Self {
        Self { inner, db, account_id }
    }

    async fn note<T>(&self, result: Result<T, WechatError>) -> Result<T, WechatError> {
        match &result {
            Ok(_) => record_api(&self.db, self.account_id, Ok(())).await,
            Err(e) if tells_about_wechat(e) => record_api(&self.db, self.account_id, Err(e)).await,
            Err(_) => {}
        }
        result
    }
}

#[async_trait]
impl WechatApi for Watched {
    fn app_id(&self) -> &str {
        self.inner.app_id()
    }
    async fn access_token(&self) -> Result<SecretString, WechatError> {
        let r = self.inner.access_token().await;
        self.note(r).await
    }
    async fn create_qr_code(&self, request: &QrCodeRequest) -> Result<QrCode, WechatError> {
        let r = self.inner.create_qr_code(request).await;
        self.note(r).await
    }
    async fn create_tag(&self, name: &str) -> Result<Tag, WechatError> {
        let r = self.inner.create_tag(name).await;
        self.note(r).await
    }
    async fn list_tags(&self) -> Result<Vec<Tag>, WechatError> {
        let r = self.inner.list_tags().await;
        self.note(r).await
    }
    async fn batch_tag(&self, tag_id: u64, openids: &[String]) -> Result<(), WechatError> {
        let r = self.inner.batch_tag(tag_id, openids).await;
        self.note(r).await
    }
}
