//! Public image links: a stable, unguessable URL per campaign (`/q/{token}.png`, `.svg`) that
//! always serves the campaign's current code without a login, so a web page, H5 or mini-site
//! can embed a temporary code that auto-renew keeps alive.
//!
//! A link is a row of `public_code_links`; turning it off deletes the row, so the old URL is
//! unknown at once, and regenerating replaces the token. The token is 192 random bits from the
//! OS, URL-safe base64 (32 characters), and has no relation to the campaign id.
//!
//! Stored twice, never in clear: its SHA-256 (unique, what a request is looked up by) and
//! sealed with the secret key (what the campaign page shows). Sealed rather than shown once:
//! staff come back to the page to copy the link for the next web page, and regenerating to see
//! it would break every page that embeds it. Plain SHA-256 rather than a keyed hash: 192
//! random bits need no key against guessing, and links keep working across a key rotation.
//!
//! Who may change a link is checked by the door (the campaign server functions): whoever may
//! edit campaigns. Each change is written to the audit log, without the token.

use crate::db::stmt;
use crate::entity::{campaign, public_code_link};
use crate::{AppState, Keys, ServiceError, audit};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Utc};
use rand::RngCore;
use sea_orm::{ActiveModelTrait, ActiveValue::Set, ConnectionTrait, DbErr, EntityTrait, QuerySelect, TransactionTrait};
use serde_json::json;
use sha2::{Digest, Sha256};

/// Random bytes in a token: 192 bits, 32 URL-safe base64 characters.
pub const TOKEN_BYTES: usize = 24;
/// Tokens longer than this are not looked up (no real token is; it bounds the hashing).
const MAX_TOKEN_LEN: usize = 128;

/// A fresh token from the OS's CSPRNG.
pub fn new_token() -> String {
    let mut raw = [0u8; TOKEN_BYTES];
    rand::rngs::OsRng.fill_bytes(&mut raw);
    URL_SAFE_NO_PAD.encode(raw)
}

/// What a token is stored and looked up as.
pub fn token_hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// The sealing context: bound to the campaign, so a sealed token copied to another row does
/// not open.
fn context(campaign_id: i32) -> String {
    format!("public_code_links.token:{campaign_id}")
}

/// A campaign's link as its page shows it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PublicLink {
    /// `None`: the link works but its token does not open with the current secret key (stored
    /// under another key); regenerating shows a new one.
    pub token: Option<String>,
    pub created_at: DateTime<Utc>,
}

/// The campaign's link, if it is on.
pub async fn get<C: ConnectionTrait>(db: &C, keys: &Keys, campaign_id: i32) -> Result<Option<PublicLink>, ServiceError> {
    let row = public_code_link::Entity::find_by_id(campaign_id).one(db).await?;
    Ok(row.map(|r| PublicLink { token: keys.open(&context(campaign_id), &r.token_enc).ok(), created_at: r.created_at }))
}

/// The campaign, checked to exist and, when `live`, not to be archived.
async fn check_campaign<C: ConnectionTrait>(db: &C, campaign_id: i32, live: bool) -> Result<(), ServiceError> {
    let archived: Option<Option<DateTime<Utc>>> =
        campaign::Entity::find_by_id(campaign_id).select_only().column(campaign::Column::ArchivedAt).into_tuple().one(db).await?;
    match archived {
        None => Err(ServiceError::NotFound),
        Some(Some(_)) if live => Err(ServiceError::invalid("campaign", crate::Msg::PublicLinkArchived)),
        Some(_) => Ok(()),
    }
}

/// Stores a fresh token for the campaign (replacing any), in `txn`; returns it.
async fn store_new<C: ConnectionTrait>(txn: &C, keys: &Keys, campaign_id: i32, now: DateTime<Utc>) -> Result<String, DbErr> {
    let token = new_token();
    public_code_link::Entity::delete_by_id(campaign_id).exec(txn).await?;
    public_code_link::ActiveModel {
        campaign_id: Set(campaign_id),
        token_hash: Set(token_hash(&token)),
        token_enc: Set(keys.seal(&context(campaign_id), &token)),
        created_at: Set(now),
    }
    .insert(txn)
    .await?;
    Ok(token)
}

/// Turns the campaign's public link on and returns its token. Already on: the same token
/// (so a form posted twice does not break the link it just showed).
pub async fn enable(st: &AppState, campaign_id: i32, actor: Option<i32>) -> Result<String, ServiceError> {
    let txn = st.db.begin().await?;
    check_campaign(&txn, campaign_id, true).await?;
    if let Some(existing) = public_code_link::Entity::find_by_id(campaign_id).one(&txn).await?
        && let Ok(token) = st.keys.open(&context(campaign_id), &existing.token_enc)
    {
        txn.commit().await?;
        return Ok(token);
    }
    let token = store_new(&txn, &st.keys, campaign_id, Utc::now()).await?;
    audit::record(&txn, actor, "campaign.public_link_on", "campaign", Some(campaign_id.to_string()), json!({})).await?;
    txn.commit().await?;
    Ok(token)
}

/// Replaces the campaign's token (turning the link on if it was off): the old URL stops
/// working at once. Returns the new token.
pub async fn regenerate(st: &AppState, campaign_id: i32, actor: Option<i32>) -> Result<String, ServiceError> {
    let txn = st.db.begin().await?;
    check_campaign(&txn, campaign_id, true).await?;
    let token = store_new(&txn, &st.keys, campaign_id, Utc::now()).await?;
    audit::record(&txn, actor, "campaign.public_link_regenerate", "campaign", Some(campaign_id.to_string()), json!({})).await?;
    txn.commit().await?;
    Ok(token)
}

/// Turns the campaign's public link off: its URL is unknown from now on. Off already: nothing
/// changes. Allowed on archived campaigns too.
pub async fn disable(st: &AppState, campaign_id: i32, actor: Option<i32>) -> Result<(), ServiceError> {
    let txn = st.db.begin().await?;
    check_campaign(&txn, campaign_id, false).await?;
    let gone = public_code_link::Entity::delete_by_id(campaign_id).exec(&txn).await?.rows_affected;
    if gone > 0 {
        audit::record(&txn, actor, "campaign.public_link_off", "campaign", Some(campaign_id.to_string()), json!({})).await?;
    }
    txn.commit().await?;
    Ok(())
}

/// What a public link serves: the campaign's current code and the logo to draw in it.
#[derive(Clone, Debug)]
pub struct PublicCode {
    pub campaign_id: i32,
    pub ticket: String,
    /// The text inside the QR code.
    pub url: String,
    pub expires_at: Option<DateTime<Utc>>,
    /// The campaign's logo, else its account's (PNG bytes as stored).
    pub logo: Option<Vec<u8>>,
}

/// One query, by the unique token hash: the link's campaign, if it is not archived, with its
/// current (newest) code and logo. The same SQL on both backends.
const LOOKUP: &str = "SELECT c.id, q.ticket, q.url, q.expires_at, COALESCE(c.logo, a.logo) AS logo \
     FROM public_code_links p \
     JOIN campaigns c ON c.id = p.campaign_id \
     JOIN wechat_accounts a ON a.id = c.account_id \
     JOIN qr_codes q ON q.id = (SELECT MAX(q2.id) FROM qr_codes q2 WHERE q2.campaign_id = c.id) \
     WHERE p.token_hash = ? AND c.archived_at IS NULL";

/// The code a public token serves at `now`. `None` alike for a token that never existed, a
/// link turned off or regenerated, an archived campaign, one without a code, and one whose
/// code has expired (it no longer scans, so it is not shown): callers answer each the same.
pub async fn lookup<C: ConnectionTrait>(db: &C, token: &str, now: DateTime<Utc>) -> Result<Option<PublicCode>, ServiceError> {
    if token.is_empty() || token.len() > MAX_TOKEN_LEN {
        return Ok(None);
    }
    let row = db.query_one_raw(stmt(db.get_database_backend(), LOOKUP, vec![token_hash(token).into()])).await?;
    let Some(r) = row else { return Ok(None) };
    let code = PublicCode {
        campaign_id: r.try_get("", "id")?,
        ticket: r.try_get("", "ticket")?,
        url: r.try_get("", "url")?,
        expires_at: r.try_get("", "expires_at")?,
        logo: r.try_get("", "logo")?,
    };
    if code.expires_at.is_some_and(|t| t <= now) {
        return Ok(None);
    }
    Ok(Some(code))
}

/// Re-seals every stored token under `new` (a key rotation, [`crate::rotate`]). One that does
/// not open under `old` is left as it is: its link keeps working (lookups use the unkeyed
/// hash) and the page offers to regenerate it. Returns how many were re-sealed.
pub async fn reseal<C: ConnectionTrait>(db: &C, old: &Keys, new: &Keys) -> Result<usize, DbErr> {
    let backend = db.get_database_backend();
    let rows = db.query_all_raw(stmt(backend, "SELECT campaign_id, token_enc FROM public_code_links", vec![])).await?;
    let mut resealed = 0;
    for row in &rows {
        let campaign_id: i32 = row.try_get_by_index(0)?;
        let sealed: String = row.try_get_by_index(1)?;
        if let Ok(token) = old.open(&context(campaign_id), &sealed) {
            db.execute_raw(stmt(
                backend,
                "UPDATE public_code_links SET token_enc = ? WHERE campaign_id = ?",
                vec![new.seal(&context(campaign_id), &token).into(), campaign_id.into()],
            ))
            .await?;
            resealed += 1;
        }
    }
    Ok(resealed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_long_random_and_url_safe() {
        let a = new_token();
        assert_eq!(a.len(), 32, "192 bits in unpadded base64");
        assert!(a.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'), "{a}");
        assert_ne!(a, new_token());
        assert_eq!(token_hash(&a).len(), 64);
        assert_ne!(token_hash(&a), token_hash(&new_token()));
    }

    #[test]
    fn a_sealed_token_opens_only_for_its_campaign() {
        let k = Keys::random();
        let sealed = k.seal(&context(1), "tok");
        assert_eq!(k.open(&context(1), &sealed).unwrap(), "tok");
        assert!(k.open(&context(2), &sealed).is_err());
    }
}
