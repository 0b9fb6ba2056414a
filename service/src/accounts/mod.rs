//! WeChat Official Accounts: the credentials Sceneboard uses to call WeChat's API and to check
//! the pushes it receives, their validation, and the door to an API client.
//!
//! The AppSecret, the EncodingAESKey and the callback Token are sealed at rest
//! ([`crate::secrets`]) under contexts that bind them to the column and the AppID; nothing this
//! module returns to a page, a log or the audit trail carries the first two in the clear, and
//! the Token only through [`callback_token`] / [`callback_tokens`] (the callback; admins).
//!
//! Files: `validate` — one check per field; `edit` — [`create`] and [`update`] (the input
//! checked against the stored row, the write and its audit row); `token` — the callback Token
//! sealed at rest. This file holds the types, reading accounts, opening their secrets for the
//! API client, the connection test and the logo.

use std::str::FromStr;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ColumnTrait, ConnectionTrait, EntityTrait, FromQueryResult, Iterable, QueryFilter, QueryOrder, QuerySelect, TransactionTrait,
};
use secrecy::SecretString;
use serde_json::json;

mod edit;
mod token;
mod validate;
pub(crate) use validate::is_loopback;

pub use edit::{create, update};
pub use token::{callback_token, callback_tokens, seal_plaintext_tokens};
pub(crate) use token::{open_token, token_context};
pub use validate::check_app_id;

use crate::entity::wechat_account;
use crate::token_store::DbTokenStore;
use crate::{AppState, Msg, ServiceError, audit};

/// WeChat's limit of permanent codes per account. They can never be deleted, so every
/// permanent code ever issued counts against it, its campaign archived, deleted or not
/// ([`crate::scenes`]).
pub const PERMANENT_QUOTA: i64 = 100_000;

/// The sealing context of an account's AppSecret (fixed: other modules open it too).
fn secret_context(app_id: &str) -> String {
    format!("wechat_accounts.app_secret:{app_id}")
}

/// The sealing context of an account's EncodingAESKey (fixed: other modules open it too).
fn aes_key_context(app_id: &str) -> String {
    format!("wechat_accounts.aes_key:{app_id}")
}

/// How WeChat delivers pushes to the account (its "message encryption mode").
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MessageMode {
    /// Plaintext (明文模式).
    Plain,
    /// Plaintext and ciphertext side by side (兼容模式); needs the EncodingAESKey.
    Compat,
    /// Ciphertext only (安全模式); needs the EncodingAESKey.
    Safe,
}

impl MessageMode {
    /// The stored spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            MessageMode::Plain => "plain",
            MessageMode::Compat => "compat",
            MessageMode::Safe => "safe",
        }
    }

    /// Whether pushes are encrypted, so an EncodingAESKey is needed.
    pub fn needs_aes_key(self) -> bool {
        self != MessageMode::Plain
    }
}

impl FromStr for MessageMode {
    type Err = ServiceError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "plain" => Ok(MessageMode::Plain),
            "compat" => Ok(MessageMode::Compat),
            "safe" => Ok(MessageMode::Safe),
            _ => Err(ServiceError::invalid("message_mode", Msg::MessageModeInvalid)),
        }
    }
}

/// What an admin (or `sceneboard account add`) submits to add or change an account.
///
/// On update, a `None` or blank `app_secret` / `aes_key` keeps the stored one, so the form never
/// has to show a secret again. `api_base_url` and `timezone` default when `None` or blank.
#[derive(Clone)]
pub struct AccountInput {
    pub name: String,
    pub app_id: String,
    pub app_secret: Option<String>,
    pub token: String,
    pub aes_key: Option<String>,
    pub message_mode: String,
    pub api_base_url: Option<String>,
    pub timezone: Option<String>,
}

/// `Debug` without the secrets: inputs may end up in a log line.
impl std::fmt::Debug for AccountInput {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AccountInput")
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

/// An account as pages see it: whether secrets are set, never the secrets.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AccountView {
    pub id: i32,
    pub name: String,
    pub app_id: String,
    pub secret_set: bool,
    pub aes_key_set: bool,
    pub message_mode: String,
    pub api_base_url: String,
    pub timezone: String,
    pub has_logo: bool,
    /// Permanent codes ever issued for this account (see [`PERMANENT_QUOTA`]).
    pub permanent_codes: i64,
    pub created_at: DateTime<Utc>,
}

/// The outcome of [`test_connection`], in words for the admin.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConnectionReport {
    pub ok: bool,
    pub message: Msg,
}

/// The columns of an account minus the logo (listing accounts never loads logo images) and
/// the Token (pages get it from [`callback_tokens`], admins only).
#[derive(Debug, FromQueryResult)]
struct AccountRow {
    id: i32,
    name: String,
    app_id: String,
    app_secret_enc: String,
    aes_key_enc: Option<String>,
    message_mode: String,
    api_base_url: String,
    timezone: String,
    created_at: DateTime<Utc>,
}

fn rows_query() -> sea_orm::Select<wechat_account::Entity> {
    wechat_account::Entity::find().select_only().columns(wechat_account::Column::iter().filter(|c| {
        use wechat_account::Column as C;
        !matches!(c, C::Logo | C::Token | C::TokenEnc)
    }))
}

/// Ids (among `ids`, or all) of accounts that have a logo.
async fn ids_with_logo<C: ConnectionTrait>(db: &C, ids: Option<&[i32]>) -> Result<std::collections::HashSet<i32>, ServiceError> {
    let mut query =
        wechat_account::Entity::find().select_only().column(wechat_account::Column::Id).filter(wechat_account::Column::Logo.is_not_null());
    if let Some(ids) = ids {
        query = query.filter(wechat_account::Column::Id.is_in(ids.iter().copied()));
    }
    Ok(query.into_tuple::<i32>().all(db).await?.into_iter().collect())
}

async fn views<C: ConnectionTrait>(db: &C, rows: Vec<AccountRow>, only: Option<&[i32]>) -> Result<Vec<AccountView>, ServiceError> {
    let counts = crate::scenes::permanent_issued_by_account(db, only).await?;
    let logos = ids_with_logo(db, only).await?;
    Ok(rows
        .into_iter()
        .map(|r| AccountView {
            id: r.id,
            secret_set: !r.app_secret_enc.is_empty(),
            aes_key_set: r.aes_key_enc.as_deref().is_some_and(|k| !k.is_empty()),
            has_logo: logos.contains(&r.id),
            permanent_codes: counts.get(&r.id).copied().unwrap_or(0),
            name: r.name,
            app_id: r.app_id,
            message_mode: r.message_mode,
            api_base_url: r.api_base_url,
            timezone: r.timezone,
            created_at: r.created_at,
        })
        .collect())
}

/// Every account, by name.
pub async fn list<C: ConnectionTrait>(db: &C) -> Result<Vec<AccountView>, ServiceError> {
    let rows = rows_query()
        .order_by_asc(wechat_account::Column::Name)
        .order_by_asc(wechat_account::Column::Id)
        .into_model::<AccountRow>()
        .all(db)
        .await?;
    views(db, rows, None).await
}

/// One account; [`ServiceError::NotFound`] when there is none with this id.
pub async fn get<C: ConnectionTrait>(db: &C, id: i32) -> Result<AccountView, ServiceError> {
    let row =
        rows_query().filter(wechat_account::Column::Id.eq(id)).into_model::<AccountRow>().one(db).await?.ok_or(ServiceError::NotFound)?;
    views(db, vec![row], Some(&[id])).await?.pop().ok_or(ServiceError::NotFound)
}

/// The stored row of the account with this AppID (the callback route and the CLI look
/// accounts up by AppID).
pub async fn find_by_app_id<C: ConnectionTrait>(db: &C, app_id: &str) -> Result<Option<wechat_account::Model>, ServiceError> {
    Ok(wechat_account::Entity::find().filter(wechat_account::Column::AppId.eq(app_id.trim())).one(db).await?)
}

/// The stored row of account `id`; [`ServiceError::NotFound`] when there is none.
pub async fn model<C: ConnectionTrait>(db: &C, id: i32) -> Result<wechat_account::Model, ServiceError> {
    wechat_account::Entity::find_by_id(id).one(db).await?.ok_or(ServiceError::NotFound)
}

/// The error for a sealed value that no longer opens; names the account, never the value.
fn undecryptable(what: &str, m: &wechat_account::Model) -> ServiceError {
    ServiceError::Internal(format!(
        "the {what} of account {} ({}) cannot be decrypted: SCENEBOARD_SECRET_KEY changed since it was saved; restore the old key or enter the {what} again in Settings",
        m.name, m.app_id
    ))
}

fn open_secret(st: &AppState, m: &wechat_account::Model) -> Result<String, ServiceError> {
    st.keys.open(&secret_context(&m.app_id), &m.app_secret_enc).map_err(|_| undecryptable("AppSecret", m))
}

/// The account's EncodingAESKey in the clear (for the callback's crypto), if it has one.
pub fn aes_key(st: &AppState, m: &wechat_account::Model) -> Result<Option<String>, ServiceError> {
    match m.aes_key_enc.as_deref().filter(|k| !k.is_empty()) {
        None => Ok(None),
        Some(sealed) => st.keys.open(&aes_key_context(&m.app_id), sealed).map(Some).map_err(|_| undecryptable("EncodingAESKey", m)),
    }
}

/// The account's API credentials for the `wechat` crate (AppSecret opened, endpoint and base
/// URL from the row).
pub fn account_config(st: &AppState, m: &wechat_account::Model) -> Result<wechat::AccountConfig, ServiceError> {
    let secret = SecretString::from(open_secret(st, m)?);
    let endpoint = match m.token_endpoint.as_str() {
        "classic" => wechat::TokenEndpoint::Classic,
        _ => wechat::TokenEndpoint::Stable,
    };
    Ok(wechat::AccountConfig::new(m.app_id.clone(), secret).with_api_base(m.api_base_url.clone()).with_token_endpoint(endpoint))
}

/// An API client for the account, sharing its access token with every instance through the
/// database ([`DbTokenStore`]), and noting each call's outcome for the dashboard's banner
/// ([`crate::health::Watched`]).
pub fn api_client(st: &AppState, m: &wechat_account::Model) -> Result<Arc<dyn wechat::WechatApi>, ServiceError> {
    let store = Arc::new(DbTokenStore::new(st.db.clone(), st.keys.clone()));
    let client = wechat::WechatClient::new(account_config(st, m)?, store)
        .map_err(|e| ServiceError::Internal(format!("cannot build the WeChat client: {e}")))?;
    Ok(Arc::new(crate::health::Watched::new(Arc::new(client), st.db.clone(), m.id)))
}

/// Why a token fetch failed, for the admin. WeChat's own errors are explained per code (wrong
/// AppSecret, IP whitelist...); transport errors name the server we tried.
fn describe(e: &wechat::WechatError, base: &str) -> Msg {
    use wechat::WechatError as W;
    let base = base.to_owned();
    match e {
        W::Http(detail) => Msg::WechatUnreachableAt { base, detail: detail.clone() },
        W::Timeout(detail) => Msg::WechatTimeoutAt { base, detail: detail.clone() },
        W::Decode(detail) => Msg::WechatBadAnswerAt { base, detail: detail.clone() },
        _ => crate::msg::from_wechat(e),
    }
}

/// Ask WeChat for an access token with the account's stored credentials and say how it went.
///
/// The test runs on its own in-memory token store with `stable_token`, so it always really
/// asks WeChat (a cached token would prove nothing) without replacing or invalidating the
/// token the running instances share: WeChat keeps stable tokens apart from classic ones, and
/// repeated `stable_token` calls return the current token. An audit row records the outcome.
pub async fn test_connection(st: &AppState, id: i32, actor: Option<i32>) -> Result<ConnectionReport, ServiceError> {
    let m = model(&st.db, id).await?;
    let config = account_config(st, &m)?.with_token_endpoint(wechat::TokenEndpoint::Stable);
    let client = wechat::WechatClient::new(config, Arc::new(wechat::MemoryTokenStore::new()))
        .map_err(|e| ServiceError::Internal(format!("cannot build the WeChat client: {e}")))?;
    let report = match wechat::WechatApi::access_token(&client).await {
        Ok(_) => ConnectionReport { ok: true, message: Msg::Connected },
        Err(e) => ConnectionReport { ok: false, message: Msg::NotConnected(Box::new(describe(&e, &m.api_base_url))) },
    };
    audit::record(
        &st.db,
        actor,
        "account.test",
        "account",
        Some(id.to_string()),
        json!({"name": m.name, "app_id": m.app_id, "ok": report.ok, "message": report.message.to_string()}),
    )
    .await?;
    Ok(report)
}

/// Store the account's logo (the default of its codes), or clear it with `None`. The upload is
/// validated and re-encoded ([`crate::qr::reencode_logo`]): only its pixels are stored.
pub async fn set_logo(st: &AppState, id: i32, png: Option<&[u8]>, actor: Option<i32>) -> Result<(), ServiceError> {
    let m = get(&st.db, id).await?;
    let logo = crate::qr::prepare_logo(png).await?;
    let action = if logo.is_some() { "account.logo" } else { "account.logo_remove" };
    let txn = st.db.begin().await?;
    wechat_account::Entity::update_many()
        .col_expr(wechat_account::Column::Logo, Expr::value(logo))
        .col_expr(wechat_account::Column::UpdatedAt, Expr::value(Utc::now()))
        .filter(wechat_account::Column::Id.eq(id))
        .exec(&txn)
        .await?;
    audit::record(&txn, actor, action, "account", Some(id.to_string()), json!({"name": m.name, "app_id": m.app_id})).await?;
    txn.commit().await?;
    Ok(())
}

/// The account's logo (a PNG), if it has one; [`ServiceError::NotFound`] for an unknown account.
pub async fn logo<C: ConnectionTrait>(db: &C, id: i32) -> Result<Option<Vec<u8>>, ServiceError> {
    wechat_account::Entity::find_by_id(id)
        .select_only()
        .column(wechat_account::Column::Logo)
        .into_tuple::<Option<Vec<u8>>>()
        .one(db)
        .await?
        .ok_or(ServiceError::NotFound)
}
