//! `sceneboard rotate-key`: moves everything keyed by `SCENEBOARD_SECRET_KEY` to a new key,
//! in one transaction, all or nothing.
//!
//! Three things depend on the key ([`Keys`]): sealed secrets (accounts' AppSecret,
//! EncodingAESKey and callback Token, the shared access tokens, public image links' tokens), session ids, and the
//! keyed hash of followers' OpenIDs. A rotation
//! - opens every account secret with the current key and seals it under the new one; a secret
//!   that does not open aborts the whole rotation with an error naming the account;
//! - re-seals the cached access tokens (one that does not open is dropped: it is only a cache,
//!   and the next API call fetches a new token);
//! - re-seals the tokens of public image links (shown to staff; the links keep working either
//!   way, as requests find them by an unkeyed hash, [`crate::public_codes`]);
//! - ends every session: their ids are keyed hashes of the cookies' tokens, so no session
//!   could be found under the new key anyway; everyone signs in again;
//! - re-hashes the OpenID hashes of every follower whose raw OpenID is still stored (current
//!   followers), in events, subscriptions, unique-scanner rows and tag jobs, so
//!   attribution, unsubscribes and unique counts carry on across the rotation. Followers who
//!   had unsubscribed before the rotation were erased (WeChat's rule): their old hashes cannot
//!   be recomputed and stay as they are, so one who comes back counts as a new unique scanner
//!   in a range that spans the rotation.
//!
//! Every instance must be stopped while the key is rotated: a running one would keep the old
//! key in memory, fail to open the re-sealed secrets and hash new pushes with the old key.
//!
//! The key file in the data dir (when the key is not set in the environment) is replaced only
//! after the commit, through a staged copy (see [`stage_key_file`], [`install_key_file`]).

use std::collections::HashMap;
use std::fmt;
use std::io::Write;
use std::path::{Path, PathBuf};

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use chrono::Utc;
use rand::RngCore;
use sea_orm::{ConnectionTrait, DatabaseConnection, DbBackend, DbErr, TransactionTrait, Value};
use serde_json::json;

use crate::db::stmt;
use crate::jobs::{Job, TagFollower};
use crate::keys::{KeyError, SECRET_KEY_LEN, scanner_key};
use crate::{Keys, audit};

/// The key file's name in the data dir (as [`Keys::load_or_create`] writes it).
pub const KEY_FILE: &str = "secret.key";
/// The new key, written and fsynced before the commit, renamed over [`KEY_FILE`] after it.
pub const STAGED_KEY_FILE: &str = "secret.key.new";
/// The previous key, kept after a rotation (delete it once everything works).
pub const OLD_KEY_FILE: &str = "secret.key.old";

/// Rows inserted per statement into the hash map table (5 values each: well under both backends' limit of bound values).
const MAP_CHUNK: usize = 300;

/// A new secret key: its base64 text (for the key file, or to show the operator once) and the
/// keys derived from it. `Debug` never shows the key.
pub struct NewKey {
    text: String,
    keys: Keys,
}

impl fmt::Debug for NewKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("NewKey(..)")
    }
}

impl NewKey {
    /// A fresh random 32-byte key.
    pub fn generate() -> Self {
        let mut raw = [0u8; SECRET_KEY_LEN];
        rand::rngs::OsRng.fill_bytes(&mut raw);
        let text = STANDARD.encode(raw);
        Self { keys: Keys::derive(&raw), text }
    }

    /// A key given by the operator (base64 of 32 bytes, as `SCENEBOARD_SECRET_KEY`).
    pub fn parse(text: &str) -> Result<Self, KeyError> {
        let keys = Keys::from_base64(text)?;
        Ok(Self { text: text.trim().to_owned(), keys })
    }

    /// The key as base64: a secret, for the key file or the operator's eyes only.
    pub fn expose_base64(&self) -> &str {
        &self.text
    }

    /// The purpose keys derived from it.
    pub fn keys(&self) -> &Keys {
        &self.keys
    }
}

/// What a rotation changed (counts only).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Rotation {
    /// Accounts whose secrets were re-sealed.
    pub accounts: usize,
    /// Access tokens re-sealed.
    pub tokens_resealed: usize,
    /// Access tokens dropped because they did not open (fetched again on next use).
    pub tokens_dropped: usize,
    /// Public image and share links whose shown token was re-sealed
    /// ([`crate::public_codes::reseal`], [`crate::share_links::reseal`]).
    pub links_resealed: usize,
    /// Digest webhooks re-sealed ([`crate::digests::reseal`]).
    pub webhooks_resealed: usize,
    /// Sessions ended.
    pub sessions_ended: u64,
    /// Followers (OpenIDs still stored) whose hashes were recomputed.
    pub followers_rehashed: usize,
    /// Rows whose OpenID hash changed (events, subscriptions, scanner hours, jobs).
    pub rows_rehashed: u64,
}

/// Why a rotation did not happen. Nothing was changed in any case.
#[derive(Debug, thiserror::Error)]
pub enum RotateError {
    /// A sealed secret does not open with the current key: the rotation would lose it.
    #[error(
        "the {what} of account {name} ({app_id}) cannot be decrypted with the current secret key; nothing was changed (enter the {what} again in Settings, or run with the key it was saved under)"
    )]
    Undecryptable { what: &'static str, name: String, app_id: String },
    /// The new key is the current key.
    #[error("the new key is the same as the current key; nothing was changed")]
    SameKey,
    /// The step just before the commit (writing the staged key file, showing the key) failed.
    #[error("{0}; nothing was changed")]
    BeforeCommit(String),
    #[error("database error: {0}")]
    Db(#[from] DbErr),
}

/// Checks that `keys` opens every account secret in `db`, without changing anything;
/// returns how many accounts there are. (Also used to check a backup before restoring it.)
pub async fn check_secrets<C: ConnectionTrait>(db: &C, keys: &Keys) -> Result<usize, RotateError> {
    let accounts = load_accounts(db).await?;
    for a in &accounts {
        a.open(keys)?;
    }
    Ok(accounts.len())
}

/// One account's sealed columns.
struct SealedAccount {
    id: i32,
    name: String,
    app_id: String,
    secret: String,
    aes_key: Option<String>,
    /// The plaintext Token column (blank once sealed) and the sealed one.
    token: String,
    token_enc: Option<String>,
}

/// The opened secrets of an account (short-lived; never logged).
struct Opened {
    secret: String,
    aes_key: Option<String>,
    token: String,
}

impl SealedAccount {
    fn open(&self, keys: &Keys) -> Result<Opened, RotateError> {
        let fail = |what| RotateError::Undecryptable { what, name: self.name.clone(), app_id: self.app_id.clone() };
        let secret = keys.open(&secret_context(&self.app_id), &self.secret).map_err(|_| fail("AppSecret"))?;
        let aes_key = match self.aes_key.as_deref().filter(|k| !k.is_empty()) {
            None => None,
            Some(sealed) => Some(keys.open(&aes_key_context(&self.app_id), sealed).map_err(|_| fail("EncodingAESKey"))?),
        };
        // A Token not sealed yet (plaintext column) is taken as it is, and sealed by the rotation.
        let token = crate::accounts::open_token(keys, &self.app_id, &self.token, self.token_enc.as_deref()).map_err(|_| fail("Token"))?;
        Ok(Opened { secret, aes_key, token })
    }
}

// The sealing contexts of accounts.rs and token_store.rs: fixed, as the data already stored
// under them.
fn secret_context(app_id: &str) -> String {
    format!("wechat_accounts.app_secret:{app_id}")
}

fn aes_key_context(app_id: &str) -> String {
    format!("wechat_accounts.aes_key:{app_id}")
}

fn token_context(app_id: &str) -> String {
    format!("access_tokens.token:{app_id}")
}

async fn load_accounts<C: ConnectionTrait>(db: &C) -> Result<Vec<SealedAccount>, DbErr> {
    let backend = db.get_database_backend();
    let rows = db
        .query_all_raw(stmt(
            backend,
            "SELECT id, name, app_id, app_secret_enc, aes_key_enc, token, token_enc FROM wechat_accounts ORDER BY id",
            vec![],
        ))
        .await?;
    rows.iter()
        .map(|r| {
            Ok(SealedAccount {
                id: r.try_get_by_index(0)?,
                name: r.try_get_by_index(1)?,
                app_id: r.try_get_by_index(2)?,
                secret: r.try_get_by_index(3)?,
                aes_key: r.try_get_by_index(4)?,
                token: r.try_get_by_index(5)?,
                token_enc: r.try_get_by_index(6)?,
            })
        })
        .collect()
}

/// Re-seal everything under `new` in one transaction (see the module doc). `before_commit` runs
/// after every change is made and before the commit: the caller stages the new key file or
/// shows the new key there, so the key is safe before the database depends on it. If it
/// fails, nothing is committed.
pub async fn rotate(
    db: &DatabaseConnection,
    old: &Keys,
    new: &Keys,
    before_commit: impl FnOnce(&Rotation) -> std::io::Result<()>,
) -> Result<Rotation, RotateError> {
    if old.secrets == new.secrets {
        return Err(RotateError::SameKey);
    }
    let backend = db.get_database_backend();
    let txn = db.begin().await?;
    let mut report = Rotation::default();

    // 1. Account secrets: every one must open before anything is written.
    let accounts = load_accounts(&txn).await?;
    let mut opened = Vec::with_capacity(accounts.len());
    for a in &accounts {
        opened.push(a.open(old)?);
    }
    for (a, o) in accounts.iter().zip(&opened) {
        let secret = new.seal(&secret_context(&a.app_id), &o.secret);
        let aes_key = o.aes_key.as_deref().map(|k| new.seal(&aes_key_context(&a.app_id), k));
        let aes_value = match (&a.aes_key, aes_key) {
            (_, Some(sealed)) => Some(sealed),
            // Keep an empty or absent column as it was.
            (stored, None) => stored.clone(),
        };
        let token = new.seal(&crate::accounts::token_context(&a.app_id), &o.token);
        txn.execute_raw(stmt(
            backend,
            "UPDATE wechat_accounts SET app_secret_enc = ?, aes_key_enc = ?, token_enc = ?, token = '' WHERE id = ?",
            vec![secret.into(), aes_value.into(), token.into(), a.id.into()],
        ))
        .await?;
    }
    report.accounts = accounts.len();
    drop(opened);

    // 2. Access tokens: a cache, so one that does not open is dropped rather than fatal.
    let app_ids: HashMap<i32, &str> = accounts.iter().map(|a| (a.id, a.app_id.as_str())).collect();
    let tokens =
        txn.query_all_raw(stmt(backend, "SELECT account_id, token_enc FROM access_tokens WHERE token_enc IS NOT NULL", vec![])).await?;
    for row in &tokens {
        let account_id: i32 = row.try_get_by_index(0)?;
        let sealed: String = row.try_get_by_index(1)?;
        let plain = app_ids.get(&account_id).and_then(|app_id| old.open(&token_context(app_id), &sealed).ok().map(|t| (app_id, t)));
        match plain {
            Some((app_id, token)) => {
                txn.execute_raw(stmt(
                    backend,
                    "UPDATE access_tokens SET token_enc = ? WHERE account_id = ?",
                    vec![new.seal(&token_context(app_id), &token).into(), account_id.into()],
                ))
                .await?;
                report.tokens_resealed += 1;
            }
            None => {
                txn.execute_raw(stmt(
                    backend,
                    "UPDATE access_tokens SET token_enc = NULL, expires_at = NULL WHERE account_id = ?",
                    vec![account_id.into()],
                ))
                .await?;
                report.tokens_dropped += 1;
            }
        }
    }

    // 2b. Public image links: their tokens are shown to staff sealed; lookups use an unkeyed
    // hash, so the links themselves keep working either way.
    report.links_resealed = crate::public_codes::reseal(&txn, old, new).await?;
    // Share links likewise.
    report.links_resealed += crate::share_links::reseal(&txn, old, new).await?;
    // Digest webhooks: sealed secrets like an account's.
    report.webhooks_resealed = crate::digests::reseal(&txn, old, new).await?;

    // 3. Sessions: unreachable under the new key; end them all.
    report.sessions_ended = txn.execute_raw(stmt(backend, "DELETE FROM sessions", vec![])).await?.rows_affected();

    // 4. Follower hashes.
    let (followers, rows) = rehash_followers(&txn, backend, old, new).await?;
    report.followers_rehashed = followers;
    report.rows_rehashed = rows;

    audit::record(
        &txn,
        None,
        "secret_key.rotate",
        "system",
        None,
        json!({
            "accounts": report.accounts,
            "tokens_resealed": report.tokens_resealed,
            "tokens_dropped": report.tokens_dropped,
            "links_resealed": report.links_resealed,
            "webhooks_resealed": report.webhooks_resealed,
            "sessions_ended": report.sessions_ended,
            "followers_rehashed": report.followers_rehashed,
            "at": Utc::now().to_rfc3339(),
        }),
    )
    .await?;

    before_commit(&report).map_err(|e| RotateError::BeforeCommit(e.to_string()))?;
    txn.commit().await?;
    Ok(report)
}

/// Maps the old hash of every follower whose raw OpenID is stored to its new hash and
/// rewrites the rows that carry it. Returns (followers, rows changed).
async fn rehash_followers<C: ConnectionTrait>(txn: &C, backend: DbBackend, old: &Keys, new: &Keys) -> Result<(usize, u64), DbErr> {
    // (account, stored hash) -> new hash. The stored hash, not a recomputed one, is the key:
    // it is what the rows hold, and the same hash covers a follower's erased older rows too.
    let mut map: HashMap<(i32, String), String> = HashMap::new();
    for sql in [
        "SELECT DISTINCT account_id, openid_hash, openid FROM events WHERE openid IS NOT NULL",
        "SELECT DISTINCT account_id, openid_hash, openid FROM subscriptions WHERE openid IS NOT NULL",
    ] {
        for row in txn.query_all_raw(stmt(backend, sql, vec![])).await? {
            let account_id: i32 = row.try_get_by_index(0)?;
            let hash: String = row.try_get_by_index(1)?;
            let openid: String = row.try_get_by_index(2)?;
            map.entry((account_id, hash)).or_insert_with(|| new.openid_hash(&openid));
        }
    }
    // Tag jobs carry the raw OpenID in their payload and the hash in their dedupe key.
    let mut rows = 0;
    for row in txn
        .query_all_raw(stmt(
            backend,
            "SELECT id, payload, dedupe_key FROM jobs WHERE kind = ? AND dedupe_key IS NOT NULL",
            vec![Job::TAG_FOLLOWER.into()],
        ))
        .await?
    {
        let id: i64 = row.try_get_by_index(0)?;
        let payload: String = row.try_get_by_index(1)?;
        let key: String = row.try_get_by_index(2)?;
        let Ok(Job::TagFollower(TagFollower { openid, campaign_id, .. })) = Job::parse(Job::TAG_FOLLOWER, &payload) else { continue };
        let openid = openid.as_str();
        if key == TagFollower::dedupe_key(campaign_id, &old.openid_hash(openid)) {
            let new_key = TagFollower::dedupe_key(campaign_id, &new.openid_hash(openid));
            rows += txn
                .execute_raw(stmt(
                    backend,
                    "UPDATE jobs SET dedupe_key = ?, subject_hash = ? WHERE id = ?",
                    vec![new_key.into(), new.openid_hash(openid).into(), id.into()],
                ))
                .await?
                .rows_affected();
        }
    }
    if map.is_empty() {
        return Ok((0, rows));
    }

    // A temporary table of the map, so each table is rewritten by one statement.
    match backend {
        DbBackend::Postgres => {
            txn.execute_unprepared(
                "CREATE TEMP TABLE rotate_map (account_id INTEGER NOT NULL, old_hash TEXT NOT NULL, new_hash TEXT NOT NULL, \
                 old_key BIGINT NOT NULL, new_key BIGINT NOT NULL, PRIMARY KEY (account_id, old_hash)) ON COMMIT DROP",
            )
            .await?;
        }
        _ => {
            txn.execute_unprepared("DROP TABLE IF EXISTS temp.rotate_map").await?;
            txn.execute_unprepared(
                "CREATE TEMP TABLE rotate_map (account_id INTEGER NOT NULL, old_hash TEXT NOT NULL, new_hash TEXT NOT NULL, \
                 old_key BIGINT NOT NULL, new_key BIGINT NOT NULL, PRIMARY KEY (account_id, old_hash))",
            )
            .await?;
        }
    }
    let entries: Vec<_> = map.into_iter().collect();
    let followers = entries.len();
    for chunk in entries.chunks(MAP_CHUNK) {
        let mut sql = String::from("INSERT INTO rotate_map (account_id, old_hash, new_hash, old_key, new_key) VALUES ");
        let mut values: Vec<Value> = Vec::with_capacity(chunk.len() * 5);
        for (i, ((account_id, old_hash), new_hash)) in chunk.iter().enumerate() {
            sql.push_str(if i == 0 { "(?, ?, ?, ?, ?)" } else { ", (?, ?, ?, ?, ?)" });
            values.extend([
                (*account_id).into(),
                old_hash.clone().into(),
                new_hash.clone().into(),
                scanner_key(old_hash).into(),
                scanner_key(new_hash).into(),
            ]);
        }
        txn.execute_raw(stmt(backend, &sql, values)).await?;
    }
    const BY_ACCOUNT: &str = "FROM rotate_map m WHERE m.account_id = {t}.account_id AND m.old_hash = {t}.openid_hash";
    for table in ["events", "subscriptions"] {
        let from = BY_ACCOUNT.replace("{t}", table);
        let sql = format!("UPDATE {table} SET openid_hash = (SELECT m.new_hash {from}) WHERE EXISTS (SELECT 1 {from})");
        rows += txn.execute_raw(stmt(backend, &sql, vec![])).await?.rows_affected();
    }
    // Scanner hours are keyed by campaign (the campaign names the account) and by the 64-bit
    // key of the hash, found through the map's own index on it.
    txn.execute_unprepared("CREATE INDEX rotate_map_key ON rotate_map (account_id, old_key)").await?;
    let from = "FROM rotate_map m JOIN campaigns c ON c.account_id = m.account_id \
                WHERE c.id = scanner_hours.campaign_id AND m.old_key = scanner_hours.scanner";
    let sql = format!("UPDATE scanner_hours SET scanner = (SELECT m.new_key {from}) WHERE EXISTS (SELECT 1 {from})");
    rows += txn.execute_raw(stmt(backend, &sql, vec![])).await?.rows_affected();
    if backend != DbBackend::Postgres {
        txn.execute_unprepared("DROP TABLE temp.rotate_map").await?;
    }
    Ok((followers, rows))
}

/// Writes the new key to [`STAGED_KEY_FILE`] in `data_dir` (mode 0600, fsynced). Refuses when
/// one is already there: it may be the only copy of the key of an interrupted rotation.
pub fn stage_key_file(data_dir: &Path, key: &NewKey) -> std::io::Result<PathBuf> {
    let path = data_dir.join(STAGED_KEY_FILE);
    let mut f = private_file(&path).map_err(|e| {
        if e.kind() == std::io::ErrorKind::AlreadyExists {
            std::io::Error::new(
                e.kind(),
                format!(
                    "{} exists: an earlier rotate-key stopped before it finished. If the server cannot open its secrets with {KEY_FILE}, move {STAGED_KEY_FILE} to {KEY_FILE}; otherwise delete {STAGED_KEY_FILE}; then run rotate-key again",
                    path.display()
                ),
            )
        } else {
            std::io::Error::new(e.kind(), format!("cannot write {}: {e}", path.display()))
        }
    })?;
    f.write_all(key.expose_base64().as_bytes())
        .and_then(|()| f.sync_all())
        .map_err(|e| std::io::Error::new(e.kind(), format!("cannot write {}: {e}", path.display())))?;
    Ok(path)
}

/// Removes the staged key file (the rotation did not commit).
pub fn unstage_key_file(data_dir: &Path) {
    let _ = std::fs::remove_file(data_dir.join(STAGED_KEY_FILE));
}

/// After the commit: keeps the current key file as [`OLD_KEY_FILE`] (replacing an older
/// one) and renames the staged key over [`KEY_FILE`], so the key file is at every moment
/// either the old key or the new one, never missing or half-written.
pub fn install_key_file(data_dir: &Path) -> std::io::Result<()> {
    let current = data_dir.join(KEY_FILE);
    let staged = data_dir.join(STAGED_KEY_FILE);
    let old = data_dir.join(OLD_KEY_FILE);
    let ctx = |what: String| move |e: std::io::Error| std::io::Error::new(e.kind(), format!("{what}: {e}"));
    let previous = std::fs::read(&current).map_err(ctx(format!("cannot read {}", current.display())))?;
    let old_tmp = data_dir.join(format!("{OLD_KEY_FILE}.tmp"));
    let _ = std::fs::remove_file(&old_tmp);
    let mut f = private_file(&old_tmp).map_err(ctx(format!("cannot write {}", old_tmp.display())))?;
    f.write_all(&previous).and_then(|()| f.sync_all()).map_err(ctx(format!("cannot write {}", old_tmp.display())))?;
    drop(f);
    std::fs::rename(&old_tmp, &old).map_err(ctx(format!("cannot write {}", old.display())))?;
    std::fs::rename(&staged, &current).map_err(ctx(format!(
        "cannot move {} to {} (do it by hand before starting the server)",
        staged.display(),
        current.display()
    )))?;
    sync_dir(data_dir);
    Ok(())
}

/// A new file readable by its owner only; fails if it exists.
fn private_file(path: &Path) -> std::io::Result<std::fs::File> {
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    opts.open(path)
}

/// Makes renames in `dir` durable (best effort: not every platform can fsync a directory).
fn sync_dir(dir: &Path) {
    if let Ok(d) = std::fs::File::open(dir) {
        let _ = d.sync_all();
    }
}

#[cfg(test)]
mod tests;
