//! The callback Token at rest: sealed in `token_enc` under a context bound to the AppID, as the
//! AppSecret and the EncodingAESKey are. It is a credential (it signs pushes in plain and
//! compat mode), shown in the clear to admins only, who paste it into WeChat.
//!
//! A row written before migration 14 (or by an older instance, or by hand) has its Token in
//! the plaintext `token` column until [`seal_plaintext_tokens`] runs at start; it is read
//! from there meanwhile.

use std::collections::HashMap;

use sea_orm::{ConnectionTrait, DbErr, EntityTrait, QuerySelect};

use crate::db::stmt;
use crate::entity::wechat_account;
use crate::secrets::OpenError;
use crate::{AppState, Keys, ServiceError};

/// The sealing context of an account's Token (fixed: rotate-key and the callback open it too).
pub(crate) fn token_context(app_id: &str) -> String {
    format!("wechat_accounts.token:{app_id}")
}

/// The Token of a row: the plaintext column when it is not blank (a row not sealed yet holds
/// the latest Token there), else the sealed column opened.
pub(crate) fn open_token(keys: &Keys, app_id: &str, plain: &str, sealed: Option<&str>) -> Result<String, OpenError> {
    if !plain.is_empty() {
        return Ok(plain.to_owned());
    }
    match sealed.filter(|s| !s.is_empty()) {
        Some(s) => keys.open(&token_context(app_id), s),
        None => Err(OpenError),
    }
}

/// The account's callback Token in the clear.
pub fn callback_token(keys: &Keys, m: &wechat_account::Model) -> Result<String, ServiceError> {
    open_token(keys, &m.app_id, &m.token, m.token_enc.as_deref()).map_err(|_| super::undecryptable("Token", m))
}

/// Every account's callback Token in the clear, by account id, for the Settings page (admins
/// only: they paste it into WeChat). One that does not open (another secret key) is left out
/// and logged; the admin enters it again.
pub async fn callback_tokens(st: &AppState) -> Result<HashMap<i32, String>, ServiceError> {
    use wechat_account::Column as C;
    let rows: Vec<(i32, String, String, Option<String>)> =
        wechat_account::Entity::find().select_only().columns([C::Id, C::AppId, C::Token, C::TokenEnc]).into_tuple().all(&st.db).await?;
    let mut tokens = HashMap::with_capacity(rows.len());
    for (id, app_id, plain, sealed) in rows {
        match open_token(&st.keys, &app_id, &plain, sealed.as_deref()) {
            Ok(token) => {
                tokens.insert(id, token);
            }
            Err(_) => {
                tracing::error!(%app_id, "the account's callback Token cannot be decrypted: SCENEBOARD_SECRET_KEY changed since it was saved")
            }
        }
    }
    Ok(tokens)
}

/// Seals every Token still in the plaintext column and blanks that column; returns how many
/// rows it sealed. Idempotent, and safe with instances starting at once: a row is changed only
/// while it still holds the Token that was read.
pub async fn seal_plaintext_tokens<C: ConnectionTrait>(db: &C, keys: &Keys) -> Result<u64, DbErr> {
    let backend = db.get_database_backend();
    let rows = db.query_all_raw(stmt(backend, "SELECT id, app_id, token FROM wechat_accounts WHERE token <> ''", vec![])).await?;
    let mut sealed = 0;
    for r in rows {
        let id: i32 = r.try_get_by_index(0)?;
        let app_id: String = r.try_get_by_index(1)?;
        let token: String = r.try_get_by_index(2)?;
        let enc = keys.seal(&token_context(&app_id), &token);
        let sql = "UPDATE wechat_accounts SET token_enc = ?, token = '' WHERE id = ? AND token = ?";
        sealed += db.execute_raw(stmt(backend, sql, vec![enc.into(), id.into(), token.into()])).await?.rows_affected();
    }
    Ok(sealed)
}
