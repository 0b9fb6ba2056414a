//! Adding and changing an account: the input checked field by field against the stored row,
//! the AppID kept unique, and the write with its audit row in one transaction.

use chrono::{DateTime, Utc};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, IntoActiveModel, QueryFilter, QuerySelect, Set, TransactionTrait,
};
use serde_json::json;

use super::token::token_context;
use super::validate::{check_api_base, check_app_id, check_app_secret, check_name, check_timezone, check_token, given};
use super::{AccountInput, AccountView, MessageMode, aes_key, aes_key_context, get, model, secret_context};
use crate::entity::{access_token, wechat_account};
use crate::{AppState, Msg, ServiceError, audit};

/// Input that passed validation, normalised for storage.
struct Checked {
    name: String,
    app_id: String,
    /// A new AppSecret, if one was given.
    app_secret: Option<String>,
    token: String,
    /// A new EncodingAESKey, if one was given.
    aes_key: Option<String>,
    mode: MessageMode,
    api_base_url: String,
    timezone: String,
}

/// Validates `input` against the stored account (`None` when creating). Field by field, in
/// form order, so the first error names the first wrong field.
fn check(st: &AppState, input: &AccountInput, stored: Option<&wechat_account::Model>) -> Result<Checked, ServiceError> {
    let name = check_name(&input.name)?;
    let app_id = check_app_id(&input.app_id)?;
    let app_secret = given(&input.app_secret);
    match app_secret {
        Some(s) => check_app_secret(s)?,
        None if stored.is_none() => {
            return Err(ServiceError::invalid("app_secret", Msg::AppSecretMissing));
        }
        None => {}
    }
    let token = check_token(&input.token)?;
    let mode: MessageMode = input.message_mode.parse()?;
    let aes_key = given(&input.aes_key);
    if let Some(key) = aes_key {
        wechat::crypto::decode_aes_key(key).map_err(|_| ServiceError::invalid("aes_key", Msg::AesKeyInvalid))?;
    }
    let key_stored = stored.and_then(|m| m.aes_key_enc.as_deref()).is_some_and(|k| !k.is_empty());
    if mode.needs_aes_key() && aes_key.is_none() && !key_stored {
        return Err(ServiceError::invalid("aes_key", Msg::AesKeyNeeded { mode: mode.as_str().to_owned() }));
    }
    let api_base_url = check_api_base(given(&input.api_base_url))?;
    let timezone = check_timezone(st, given(&input.timezone))?;
    // The stored AppSecret goes only to the server it was entered for: whoever points the
    // account elsewhere (or at another AppID) types it again, so a session cannot read it back.
    if let Some(m) = stored
        && app_secret.is_none()
        && (m.api_base_url != api_base_url || m.app_id != app_id)
    {
        return Err(ServiceError::invalid("app_secret", Msg::AppSecretAgain));
    }
    Ok(Checked {
        name,
        app_id,
        app_secret: app_secret.map(str::to_owned),
        token,
        aes_key: aes_key.map(str::to_owned),
        mode,
        api_base_url,
        timezone,
    })
}

/// The Conflict error for an AppID another account already has.
fn taken(app_id: &str, holder: Option<&str>) -> ServiceError {
    let app_id = app_id.to_owned();
    let message = match holder {
        Some(name) => Msg::AppIdTaken { app_id, name: name.to_owned() },
        None => Msg::AppIdTakenByAnother { app_id },
    };
    ServiceError::conflict("app_id", message)
}

/// Another account (not `except`) with this AppID, if any.
async fn holder_of<C: ConnectionTrait>(db: &C, app_id: &str, except: Option<i32>) -> Result<Option<String>, ServiceError> {
    let mut query =
        wechat_account::Entity::find().select_only().column(wechat_account::Column::Name).filter(wechat_account::Column::AppId.eq(app_id));
    if let Some(id) = except {
        query = query.filter(wechat_account::Column::Id.ne(id));
    }
    Ok(query.into_tuple::<String>().one(db).await?)
}

/// A unique-key violation on write means another admin took the AppID meanwhile.
fn write_error(app_id: &str) -> impl FnOnce(sea_orm::DbErr) -> ServiceError + '_ {
    move |e| match e.sql_err() {
        Some(sea_orm::SqlErr::UniqueConstraintViolation(_)) => taken(app_id, None),
        _ => ServiceError::Db(e),
    }
}

/// Add an account. The AppSecret is required; the account and its audit row are stored in
/// one transaction.
pub async fn create(st: &AppState, input: AccountInput, actor: Option<i32>) -> Result<AccountView, ServiceError> {
    let c = check(st, &input, None)?;
    if let Some(name) = holder_of(&st.db, &c.app_id, None).await? {
        return Err(taken(&c.app_id, Some(&name)));
    }
    let secret = c.app_secret.as_deref().ok_or_else(|| ServiceError::invalid("app_secret", Msg::AppSecretMissing))?;
    let now = Utc::now();
    let txn = st.db.begin().await?;
    let model = wechat_account::ActiveModel {
        name: Set(c.name.clone()),
        app_id: Set(c.app_id.clone()),
        app_secret_enc: Set(st.keys.seal(&secret_context(&c.app_id), secret)),
        // Sealed; the plaintext column stays blank (migration 14).
        token: Set(String::new()),
        token_enc: Set(Some(st.keys.seal(&token_context(&c.app_id), &c.token))),
        aes_key_enc: Set(c.aes_key.as_deref().map(|k| st.keys.seal(&aes_key_context(&c.app_id), k))),
        message_mode: Set(c.mode.as_str().to_owned()),
        api_base_url: Set(c.api_base_url.clone()),
        token_endpoint: Set("stable".to_owned()),
        timezone: Set(c.timezone.clone()),
        created_at: Set(now),
        updated_at: Set(now),
        logo: Set(None),
        ..Default::default()
    }
    .insert(&txn)
    .await
    .map_err(write_error(&c.app_id))?;
    audit::record(
        &txn,
        actor,
        "account.create",
        "account",
        Some(model.id.to_string()),
        json!({"name": c.name, "app_id": c.app_id, "mode": c.mode.as_str()}),
    )
    .await?;
    txn.commit().await?;
    st.changes.account_changed();
    get(&st.db, model.id).await
}

/// Change account `id`. Blank secrets keep the stored ones, except that a new AppID or API base
/// URL needs the AppSecret again ([`Msg::AppSecretAgain`]); a changed AppID re-seals the
/// EncodingAESKey under it. Changing the AppID, the AppSecret or the API base URL forgets the
/// shared access token, which belonged to the old credentials or server.
pub async fn update(st: &AppState, id: i32, input: AccountInput, actor: Option<i32>) -> Result<AccountView, ServiceError> {
    let stored = model(&st.db, id).await?;
    let c = check(st, &input, Some(&stored))?;
    if let Some(name) = holder_of(&st.db, &c.app_id, Some(id)).await? {
        return Err(taken(&c.app_id, Some(&name)));
    }
    let app_id_changed = c.app_id != stored.app_id;
    // The secrets to store: the new ones, else the stored ones (the key re-sealed if the AppID
    // moved: the AppID is part of the sealing context). A new AppID always comes with its
    // AppSecret (`check`).
    let secret = c.app_secret.clone();
    let aes_key = match &c.aes_key {
        Some(k) => Some(k.clone()),
        None if app_id_changed => aes_key(st, &stored)?,
        None => None,
    };
    let forget_token = app_id_changed || c.app_secret.is_some() || c.api_base_url != stored.api_base_url;

    let txn = st.db.begin().await?;
    let mut active = stored.clone().into_active_model();
    active.name = Set(c.name.clone());
    active.app_id = Set(c.app_id.clone());
    if let Some(secret) = &secret {
        active.app_secret_enc = Set(st.keys.seal(&secret_context(&c.app_id), secret));
    }
    if let Some(key) = &aes_key {
        active.aes_key_enc = Set(Some(st.keys.seal(&aes_key_context(&c.app_id), key)));
    }
    active.token = Set(String::new());
    active.token_enc = Set(Some(st.keys.seal(&token_context(&c.app_id), &c.token)));
    active.message_mode = Set(c.mode.as_str().to_owned());
    active.api_base_url = Set(c.api_base_url.clone());
    active.timezone = Set(c.timezone.clone());
    active.updated_at = Set(Utc::now());
    active.update(&txn).await.map_err(write_error(&c.app_id))?;
    if forget_token {
        access_token::Entity::update_many()
            .col_expr(access_token::Column::TokenEnc, Expr::value(Option::<String>::None))
            .col_expr(access_token::Column::ExpiresAt, Expr::value(Option::<DateTime<Utc>>::None))
            .filter(access_token::Column::AccountId.eq(id))
            .exec(&txn)
            .await?;
    }
    audit::record(
        &txn,
        actor,
        "account.update",
        "account",
        Some(id.to_string()),
        // Whether secrets changed is worth auditing; their values never are.
        json!({
            "name": c.name,
            "app_id": c.app_id,
            "mode": c.mode.as_str(),
            "app_secret_changed": c.app_secret.is_some(),
            "aes_key_changed": c.aes_key.is_some(),
        }),
    )
    .await?;
    txn.commit().await?;
    st.changes.account_changed();
    get(&st.db, id).await
}
