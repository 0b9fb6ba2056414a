//! Read-only API keys: what lets a BI tool, a spreadsheet or a script read the numbers of
//! `/api/v1` and the CSV exports without a browser session.
//!
//! - A key is `sbk_` and 32 URL-safe base64 characters (192 random bits from the OS). It is
//!   shown once, when created, and stored only as its SHA-256: 192 random bits need no keyed or
//!   slow hash against guessing, and a lookup stays one indexed query.
//! - A key reads one account or all of them ([`Scope`]), may expire, and is revoked by setting
//!   `revoked_at` (the row stays, so lists and the audit log still name it).
//! - Keys only read: the routes that take them never change anything, and sessions, pages and
//!   server functions never look at a key (they read the session cookie alone).
//! - Creating and revoking are admin actions (checked by the doors) and land in the audit log,
//!   without the secret.

use crate::entity::{api_key, wechat_account};
use crate::{Msg, ServiceError, audit};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Duration, Utc};
use rand::RngCore;
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, Condition, ConnectionTrait, DatabaseConnection, EntityTrait, QueryFilter, QueryOrder, Set,
    TransactionTrait,
};
use serde_json::json;
use sha2::{Digest, Sha256};

/// What every key starts with, so a leaked one is recognisable (secret scanners, logs).
pub const PREFIX: &str = "sbk_";
/// Random bytes of a key: 192 bits, 32 characters.
const KEY_BYTES: usize = 24;
/// Characters of the key kept in clear to tell keys apart in a list (`sbk_` and four more).
const HINT_LEN: usize = 8;
/// Longest name.
pub const MAX_NAME: usize = 64;
/// Longest life a key may be given, in days (ten years); no expiry is allowed too.
pub const MAX_DAYS: i64 = 3650;
/// A key's last use is written at most this often, so a busy key costs no write per request.
const LAST_USED_EVERY_SECS: i64 = 60;
/// Longer bearer tokens are not looked up (no key is; it bounds the hashing).
const MAX_TOKEN_LEN: usize = 128;

/// Which accounts a key reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scope {
    All,
    Account(i32),
}

impl Scope {
    /// Whether the key may read account `id`.
    pub fn allows(self, id: i32) -> bool {
        match self {
            Scope::All => true,
            Scope::Account(a) => a == id,
        }
    }

    /// The one account, if the key is scoped to one.
    pub fn account(self) -> Option<i32> {
        match self {
            Scope::All => None,
            Scope::Account(a) => Some(a),
        }
    }
}

/// A key as lists show it: never the secret.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ApiKey {
    pub id: i32,
    pub name: String,
    /// `sbk_` and the key's next four characters.
    pub hint: String,
    pub scope: Scope,
    /// The scoped account's name.
    pub account_name: Option<String>,
    pub created_at: DateTime<Utc>,
    pub expires_at: Option<DateTime<Utc>>,
    pub revoked_at: Option<DateTime<Utc>>,
    pub last_used_at: Option<DateTime<Utc>>,
}

impl ApiKey {
    /// Usable at `now`: neither revoked nor expired.
    pub fn live(&self, now: DateTime<Utc>) -> bool {
        self.revoked_at.is_none() && self.expires_at.is_none_or(|t| t > now)
    }
}

/// The key a request authenticated with.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeyAuth {
    pub id: i32,
    pub name: String,
    pub scope: Scope,
}

/// What a new key is asked for, as typed: `expires_days` blank is no expiry.
#[derive(Clone, Debug, Default)]
pub struct NewKey {
    pub name: String,
    pub account_id: Option<i32>,
    pub expires_days: Option<String>,
}

/// What a request's bearer token is stored and looked up as.
pub fn token_hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

fn new_token() -> String {
    let mut raw = [0u8; KEY_BYTES];
    rand::rngs::OsRng.fill_bytes(&mut raw);
    format!("{PREFIX}{}", URL_SAFE_NO_PAD.encode(raw))
}

fn clean_name(name: &str) -> Result<String, ServiceError> {
    let name = name.trim();
    let n = name.chars().count();
    let bad = |m| Err(ServiceError::invalid("name", m));
    if n == 0 {
        return bad(Msg::ApiKeyNameEmpty);
    }
    if n > MAX_NAME {
        return bad(Msg::ApiKeyNameTooLong { n, max: MAX_NAME });
    }
    if name.chars().any(char::is_control) {
        return bad(Msg::ApiKeyNameControl);
    }
    Ok(name.to_owned())
}

/// Days of life from the form's text: blank is `None` (no expiry), else 1..=[`MAX_DAYS`].
fn clean_days(days: Option<&str>) -> Result<Option<i64>, ServiceError> {
    let Some(text) = days.map(str::trim).filter(|d| !d.is_empty()) else { return Ok(None) };
    match text.parse::<i64>() {
        Ok(d) if (1..=MAX_DAYS).contains(&d) => Ok(Some(d)),
        _ => Err(ServiceError::invalid("expires_days", Msg::ApiKeyDays { days: text.to_owned(), max: MAX_DAYS })),
    }
}

/// Creates a key and returns it with its secret, which is never available again.
pub async fn create(
    db: &DatabaseConnection,
    new: &NewKey,
    actor: Option<i32>,
    now: DateTime<Utc>,
) -> Result<(ApiKey, String), ServiceError> {
    let name = clean_name(&new.name)?;
    let days = clean_days(new.expires_days.as_deref())?;
    let txn = db.begin().await?;
    let account_name = match new.account_id {
        // An account deleted while the form was open: said next to the field.
        Some(id) => Some(
            wechat_account::Entity::find_by_id(id).one(&txn).await?.ok_or(ServiceError::invalid("account_id", Msg::AccountRequired))?.name,
        ),
        None => None,
    };
    let token = new_token();
    let hint: String = token.chars().take(HINT_LEN).collect();
    let expires_at = days.map(|d| now + Duration::days(d));
    let row = api_key::ActiveModel {
        name: Set(name.clone()),
        token_hash: Set(token_hash(&token)),
        hint: Set(hint.clone()),
        account_id: Set(new.account_id),
        created_by: Set(actor),
        created_at: Set(now),
        expires_at: Set(expires_at),
        ..Default::default()
    }
    .insert(&txn)
    .await?;
    let detail = json!({ "name": name, "hint": hint, "account_id": new.account_id, "expires_at": expires_at });
    audit::record(&txn, actor, "api_key.create", "api_key", Some(row.id.to_string()), detail).await?;
    txn.commit().await?;
    Ok((view(row, account_name), token))
}

fn view(row: api_key::Model, account_name: Option<String>) -> ApiKey {
    ApiKey {
        id: row.id,
        name: row.name,
        hint: row.hint,
        scope: row.account_id.map_or(Scope::All, Scope::Account),
        account_name,
        created_at: row.created_at,
        expires_at: row.expires_at,
        revoked_at: row.revoked_at,
        last_used_at: row.last_used_at,
    }
}

/// Every key, revoked and expired ones included, newest first.
pub async fn list<C: ConnectionTrait>(db: &C) -> Result<Vec<ApiKey>, ServiceError> {
    let rows = api_key::Entity::find().order_by_desc(api_key::Column::Id).all(db).await?;
    let names: std::collections::HashMap<i32, String> =
        wechat_account::Entity::find().all(db).await?.into_iter().map(|a| (a.id, a.name)).collect();
    Ok(rows
        .into_iter()
        .map(|r| {
            let account = r.account_id.and_then(|a| names.get(&a).cloned());
            view(r, account)
        })
        .collect())
}

/// Revokes key `id` at once: its next request is refused. Revoking twice is refused by name,
/// so a script learns it named the wrong key.
pub async fn revoke(db: &DatabaseConnection, id: i32, actor: Option<i32>, now: DateTime<Utc>) -> Result<(), ServiceError> {
    let txn = db.begin().await?;
    let row = api_key::Entity::find_by_id(id).one(&txn).await?.ok_or(ServiceError::NotFound)?;
    if row.revoked_at.is_some() {
        return Err(ServiceError::invalid("id", Msg::ApiKeyRevoked));
    }
    let name = row.name.clone();
    let mut active: api_key::ActiveModel = row.into();
    active.revoked_at = Set(Some(now));
    active.update(&txn).await?;
    audit::record(&txn, actor, "api_key.revoke", "api_key", Some(id.to_string()), json!({ "name": name })).await?;
    txn.commit().await?;
    Ok(())
}

/// The live key `token` names at `now`, if any: unknown, revoked and expired keys are all
/// `None`, so callers answer them alike. Notes the use (at most once a minute per key).
pub async fn authenticate<C: ConnectionTrait>(db: &C, token: &str, now: DateTime<Utc>) -> Result<Option<KeyAuth>, ServiceError> {
    if !token.starts_with(PREFIX) || token.len() > MAX_TOKEN_LEN {
        return Ok(None);
    }
    let Some(row) = api_key::Entity::find().filter(api_key::Column::TokenHash.eq(token_hash(token))).one(db).await? else {
        return Ok(None);
    };
    if row.revoked_at.is_some() || row.expires_at.is_some_and(|t| t <= now) {
        return Ok(None);
    }
    if row.last_used_at.is_none_or(|t| (now - t).num_seconds() >= LAST_USED_EVERY_SECS) {
        // Conditional, so instances answering the same key at once write it once.
        api_key::Entity::update_many()
            .col_expr(api_key::Column::LastUsedAt, Expr::value(now))
            .filter(api_key::Column::Id.eq(row.id))
            .filter(
                Condition::any()
                    .add(api_key::Column::LastUsedAt.is_null())
                    .add(api_key::Column::LastUsedAt.lte(now - Duration::seconds(LAST_USED_EVERY_SECS))),
            )
            .exec(db)
            .await?;
    }
    Ok(Some(KeyAuth { id: row.id, name: row.name, scope: row.account_id.map_or(Scope::All, Scope::Account) }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_long_random_and_recognisable() {
        let (a, b) = (new_token(), new_token());
        assert_ne!(a, b);
        assert!(a.starts_with(PREFIX));
        assert_eq!(a.len(), PREFIX.len() + 32);
        assert!(a[PREFIX.len()..].chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_'));
        assert_eq!(token_hash(&a).len(), 64);
    }

    #[test]
    fn names_and_days_are_checked_by_field() {
        assert_eq!(clean_name("  Power BI  ").unwrap(), "Power BI");
        for bad in ["", "   ", "a\nb", &"长".repeat(MAX_NAME + 1)] {
            assert!(matches!(clean_name(bad), Err(ServiceError::Validation { field: "name", .. })), "{bad:?}");
        }
        assert_eq!(clean_days(None).unwrap(), None);
        assert_eq!(clean_days(Some(" ")).unwrap(), None);
        assert_eq!(clean_days(Some("30")).unwrap(), Some(30));
        for bad in ["0", "-1", "3651", "1.5", "soon"] {
            assert!(matches!(clean_days(Some(bad)), Err(ServiceError::Validation { field: "expires_days", .. })), "{bad}");
        }
    }

    #[test]
    fn a_scope_allows_its_account_only() {
        assert!(Scope::All.allows(7));
        assert!(Scope::Account(7).allows(7));
        assert!(!Scope::Account(7).allows(8));
        assert_eq!(Scope::Account(7).account(), Some(7));
        assert_eq!(Scope::All.account(), None);
    }
}
