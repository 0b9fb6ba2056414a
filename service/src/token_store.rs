//! The WeChat access token shared through the database, so every instance of the app uses one
//! token per account and exactly one of them fetches the next.
//!
//! [`DbTokenStore`] implements [`wechat::TokenStore`] on the `access_tokens` table (one row per
//! account, keyed by the account's id; the trait speaks in AppIDs). The token is sealed at rest
//! like every other secret ([`crate::secrets`]), bound to its account's AppID. The refresh
//! lease, and the once-a-minute claim on a forced refresh (`forced_at`), are each a single
//! conditional `UPDATE` (compare-and-set), which both SQLite and PostgreSQL execute
//! atomically, so no explicit transaction or row lock is needed.
//!
//! Times cross the trait as unix seconds and are stored as UTC timestamps.

use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sea_orm::sea_query::{Expr, OnConflict};
use sea_orm::{ColumnTrait, Condition, DatabaseConnection, DbErr, EntityTrait, QueryFilter, QuerySelect, Set, TryInsertResult};
use secrecy::{ExposeSecret, SecretString};
use wechat::{StoredToken, TokenStore, WechatError};

use crate::Keys;
use crate::entity::{access_token, wechat_account};

/// Access tokens and refresh leases of all accounts, shared by every instance through the
/// database.
///
/// Cheap to clone (the connection is a pool); create one per process and hand it to each
/// account's `WechatClient` as `Arc<dyn TokenStore>`.
#[derive(Clone)]
pub struct DbTokenStore {
    db: DatabaseConnection,
    keys: Arc<Keys>,
}

impl std::fmt::Debug for DbTokenStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DbTokenStore").finish_non_exhaustive()
    }
}

/// The sealing context of an account's token: binds the ciphertext to the column and the
/// AppID, so a token copied into another account's row fails to open instead of being used.
fn seal_context(app_id: &str) -> String {
    format!("access_tokens.token:{app_id}")
}

/// Database failures reach the WeChat client as [`WechatError::TokenStore`]; the message names
/// the operation and never carries a token (bound values are not part of sqlx's errors).
fn db_err(what: &'static str) -> impl FnOnce(DbErr) -> WechatError {
    move |e| WechatError::TokenStore(format!("{what}: {e}"))
}

/// Unix seconds to a timestamp column value.
fn to_time(secs: i64) -> Result<DateTime<Utc>, WechatError> {
    DateTime::from_timestamp(secs, 0).ok_or_else(|| WechatError::TokenStore(format!("time {secs} is out of range")))
}

impl DbTokenStore {
    /// A store on `db`, sealing tokens with `keys` (every instance must share the same
    /// `SCENEBOARD_SECRET_KEY`, or they cannot read each other's tokens).
    pub fn new(db: DatabaseConnection, keys: Arc<Keys>) -> Self {
        Self { db, keys }
    }

    /// The id of the account with this AppID.
    async fn account_id(&self, app_id: &str) -> Result<i32, WechatError> {
        wechat_account::Entity::find()
            .select_only()
            .column(wechat_account::Column::Id)
            .filter(wechat_account::Column::AppId.eq(app_id))
            .into_tuple::<i32>()
            .one(&self.db)
            .await
            .map_err(db_err("looking up the account"))?
            .ok_or_else(|| WechatError::TokenStore(format!("no account with AppID {app_id}")))
    }

    /// Makes sure the account has its `access_tokens` row, so the lease `UPDATE` has something
    /// to compare against. Concurrent callers may race here: the loser's insert does nothing.
    async fn ensure_row(&self, account_id: i32) -> Result<(), WechatError> {
        let row = access_token::ActiveModel { account_id: Set(account_id), ..Default::default() };
        let result = access_token::Entity::insert(row)
            .on_conflict(OnConflict::column(access_token::Column::AccountId).do_nothing().to_owned())
            .try_insert()
            .exec_without_returning(&self.db)
            .await;
        match result {
            // `Conflicted` (and a bare RecordNotInserted, should a driver report it that way)
            // means the row was already there, which is all we need.
            Ok(TryInsertResult::Inserted(_) | TryInsertResult::Conflicted | TryInsertResult::Empty) | Err(DbErr::RecordNotInserted) => {
                Ok(())
            }
            Err(e) => Err(db_err("creating the token row")(e)),
        }
    }

    /// The account's row, if it has one.
    async fn row(&self, account_id: i32) -> Result<Option<access_token::Model>, WechatError> {
        access_token::Entity::find_by_id(account_id).one(&self.db).await.map_err(db_err("reading the token"))
    }

    /// Opens a stored token; `None` when it cannot be decrypted.
    ///
    /// An undecryptable token (the secret key was changed) is treated as absent rather than as
    /// an error: the next caller fetches a new one and overwrites it, instead of every API call
    /// failing until someone clears the row by hand.
    fn open(&self, app_id: &str, sealed: &str) -> Option<SecretString> {
        match self.keys.open(&seal_context(app_id), sealed) {
            Ok(plain) => Some(SecretString::from(plain)),
            Err(_) => {
                tracing::warn!(%app_id, "the stored access token cannot be decrypted (was SCENEBOARD_SECRET_KEY changed?); fetching a new one");
                None
            }
        }
    }
}

#[async_trait]
impl TokenStore for DbTokenStore {
    async fn load(&self, app_id: &str) -> Result<Option<StoredToken>, WechatError> {
        let account_id = self.account_id(app_id).await?;
        let Some(row) = self.row(account_id).await? else {
            return Ok(None);
        };
        let (Some(sealed), Some(expires_at)) = (row.token_enc, row.expires_at) else {
            return Ok(None);
        };
        Ok(self.open(app_id, &sealed).map(|token| StoredToken { token, expires_at: expires_at.timestamp() }))
    }

    async fn try_lease(&self, app_id: &str, holder: &str, now: i64, until: i64) -> Result<bool, WechatError> {
        let account_id = self.account_id(app_id).await?;
        self.ensure_row(account_id).await?;
        // The compare-and-set: the row changes only while no other holder has a live lease,
        // and the database applies one UPDATE at a time per row, so exactly one caller sees
        // a changed row. Re-taking one's own lease is allowed, as in `MemoryTokenStore`.
        let free = Condition::any()
            .add(access_token::Column::LeaseUntil.is_null())
            .add(access_token::Column::LeaseUntil.lt(to_time(now)?))
            .add(access_token::Column::LeaseHolder.eq(holder));
        let result = access_token::Entity::update_many()
            .col_expr(access_token::Column::LeaseUntil, Expr::value(Some(to_time(until)?)))
            .col_expr(access_token::Column::LeaseHolder, Expr::value(Some(holder.to_owned())))
            .filter(access_token::Column::AccountId.eq(account_id))
            .filter(free)
            .exec(&self.db)
            .await
            .map_err(db_err("taking the refresh lease"))?;
        Ok(result.rows_affected == 1)
    }

    async fn save(&self, app_id: &str, token: &StoredToken) -> Result<(), WechatError> {
        let account_id = self.account_id(app_id).await?;
        let sealed = self.keys.seal(&seal_context(app_id), token.token.expose_secret());
        let now = to_time(wechat::token::unix_now())?;
        let row = access_token::ActiveModel {
            account_id: Set(account_id),
            token_enc: Set(Some(sealed)),
            expires_at: Set(Some(to_time(token.expires_at)?)),
            fetched_at: Set(Some(now)),
            ..Default::default()
        };
        // One upsert: creates the row or replaces the token, leaving the lease columns alone
        // (the saver normally holds the lease and releases it right after).
        access_token::Entity::insert(row)
            .on_conflict(
                OnConflict::column(access_token::Column::AccountId)
                    .update_columns([access_token::Column::TokenEnc, access_token::Column::ExpiresAt, access_token::Column::FetchedAt])
                    .to_owned(),
            )
            .exec_without_returning(&self.db)
            .await
            .map_err(db_err("saving the token"))?;
        Ok(())
    }

    async fn release(&self, app_id: &str, holder: &str) -> Result<(), WechatError> {
        let account_id = self.account_id(app_id).await?;
        // Conditional on the holder, so a late release never frees someone else's lease.
        access_token::Entity::update_many()
            .col_expr(access_token::Column::LeaseUntil, Expr::value(Option::<DateTime<Utc>>::None))
            .col_expr(access_token::Column::LeaseHolder, Expr::value(Option::<String>::None))
            .filter(access_token::Column::AccountId.eq(account_id))
            .filter(access_token::Column::LeaseHolder.eq(holder))
            .exec(&self.db)
            .await
            .map_err(db_err("releasing the refresh lease"))?;
        Ok(())
    }

    async fn try_claim_force(&self, app_id: &str, now: i64, since: i64) -> Result<bool, WechatError> {
        let account_id = self.account_id(app_id).await?;
        self.ensure_row(account_id).await?;
        // A compare-and-set like the lease: of instances racing to force, one changes the row.
        let free = Condition::any().add(access_token::Column::ForcedAt.is_null()).add(access_token::Column::ForcedAt.lte(to_time(since)?));
        let result = access_token::Entity::update_many()
            .col_expr(access_token::Column::ForcedAt, Expr::value(Some(to_time(now)?)))
            .filter(access_token::Column::AccountId.eq(account_id))
            .filter(free)
            .exec(&self.db)
            .await
            .map_err(db_err("claiming the forced refresh"))?;
        Ok(result.rows_affected == 1)
    }
}
