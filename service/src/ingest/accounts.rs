//! What the callback knows about each account (Token, message mode, AES key), and where it
//! finds it: a short-lived memory cache, the database, and, when the database does not answer,
//! the accounts file in the data dir ([`ACCOUNTS_FILE`]).
//!
//! The file is what lets an instance that starts during a database outage verify pushes and
//! journal them in the spool instead of answering 503 until WeChat gives up (about 15 s). It
//! holds only what verification needs, as one value sealed with the secret key (XChaCha20-
//! Poly1305, as the database's secret columns), and is rewritten whenever what the database
//! says differs from it: at start, every [`REFRESH_EVERY`], and at once after an admin changes
//! an account on this instance or a push finds a change.

use super::IngestError;
use crate::AppState;
use crate::entity::wechat_account;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::fmt;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError, Weak};
use std::time::{Duration, Instant};
use wechat::{EncryptMode, MsgCrypt};

/// Name of the sealed accounts file inside the data dir.
pub const ACCOUNTS_FILE: &str = "callback-accounts.sealed";
/// The sealing context: a value sealed for a column cannot be passed off as this file.
const CONTEXT: &str = "callback-accounts:v1";
/// How often the file is compared with the database (other instances' changes reach it so).
pub const REFRESH_EVERY: Duration = Duration::from_secs(60);

/// What the callback needs to know about an account to verify and open its pushes.
pub struct CallbackAccount {
    /// `wechat_accounts.id`.
    pub id: i32,
    /// The AppID.
    pub app_id: String,
    /// The callback Token (signatures); empty when it cannot be opened, and then the callback
    /// refuses the account's pushes (a real Token has 3-32 characters).
    pub token: String,
    /// The configured message mode.
    pub mode: EncryptMode,
    /// The AES key, when one is configured (and could be opened).
    pub crypt: Option<MsgCrypt>,
}

impl fmt::Debug for CallbackAccount {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CallbackAccount")
            .field("id", &self.id)
            .field("app_id", &self.app_id)
            .field("mode", &self.mode)
            .field("crypt", &self.crypt.is_some())
            .finish_non_exhaustive()
    }
}

/// One account in the file: the columns verification reads, the Token and the AES key still
/// sealed for their columns as the database keeps them (`token` is the plaintext column, blank
/// once sealed; files of older versions hold the Token there and no `token_enc`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
struct Entry {
    id: i32,
    app_id: String,
    token: String,
    #[serde(default)]
    token_enc: Option<String>,
    mode: String,
    aes_key_enc: Option<String>,
}

impl From<&wechat_account::Model> for Entry {
    fn from(m: &wechat_account::Model) -> Self {
        Self {
            id: m.id,
            app_id: m.app_id.clone(),
            token: m.token.clone(),
            token_enc: m.token_enc.clone(),
            mode: m.message_mode.clone(),
            aes_key_enc: m.aes_key_enc.clone(),
        }
    }
}

struct Cached {
    at: Instant,
    account: Arc<CallbackAccount>,
}

/// The accounts of one ingestor.
pub(crate) struct Accounts {
    st: AppState,
    ttl: Duration,
    memory: Mutex<HashMap<String, Cached>>,
    /// Every account as the file (or the last refresh) has it: used only while the database
    /// does not answer.
    known: Mutex<HashMap<String, (Entry, Arc<CallbackAccount>)>>,
    /// The file, when there is a data dir.
    file: Option<PathBuf>,
    /// When a lookup in the database last failed: for a moment after, lookups go straight to
    /// what is known, so pushes during an outage do not each wait for the database first.
    failed_at: Mutex<Option<Instant>>,
    /// Itself, for refreshes spawned from a lookup.
    me: Weak<Accounts>,
    /// One refresh at a time: they write the same temporary file.
    refreshing: tokio::sync::Mutex<()>,
    /// The account changes ([`crate::state::Changes`]) the memory cache has followed.
    seen_changes: std::sync::atomic::AtomicU64,
}

/// How long after a failed lookup the database is not asked again.
const SKIP_AFTER_FAILURE: Duration = Duration::from_secs(1);

impl Accounts {
    /// The accounts of an ingestor whose data dir is `dir`; reads the file there, if any.
    pub(crate) fn new(st: AppState, ttl: Duration, dir: Option<&Path>) -> Arc<Self> {
        let file = dir.map(|d| d.join(ACCOUNTS_FILE));
        let seen = st.changes.accounts();
        let this = Arc::new_cyclic(|me| Self {
            st,
            ttl,
            memory: Mutex::new(HashMap::new()),
            known: Mutex::new(HashMap::new()),
            file,
            failed_at: Mutex::new(None),
            me: me.clone(),
            refreshing: tokio::sync::Mutex::new(()),
            seen_changes: std::sync::atomic::AtomicU64::new(seen),
        });
        if let Some(path) = &this.file {
            match read_file(&this.st, path) {
                Ok(Some(entries)) => {
                    tracing::info!(accounts = entries.len(), "callback accounts read from {}", path.display());
                    this.set_known(entries);
                }
                Ok(None) => {}
                // Another secret key, or a damaged file: the database will say again.
                Err(e) => tracing::warn!(path = %path.display(), error = %e, "cannot read the callback accounts file; ignored"),
            }
        }
        this
    }

    /// The account with this AppID: `Ok(None)` when the database says there is none, the last
    /// known one when the database does not answer, [`IngestError::Unavailable`] when neither.
    pub(crate) async fn get(&self, app_id: &str) -> Result<Option<Arc<CallbackAccount>>, IngestError> {
        // An account changed in this process: its Token or key applies from this push on.
        // Every push passes here: a plain load, and a write only when something changed.
        let changes = self.st.changes.accounts();
        let seen = &self.seen_changes;
        if seen.load(std::sync::atomic::Ordering::Acquire) != changes && seen.swap(changes, std::sync::atomic::Ordering::AcqRel) != changes
        {
            self.forget();
        }
        let cached = lock(&self.memory).get(app_id).map(|c| (c.at.elapsed() < self.ttl, c.account.clone()));
        if let Some((true, account)) = &cached {
            return Ok(Some(account.clone()));
        }
        let fallback = cached.map(|(_, a)| a).or_else(|| lock(&self.known).get(app_id).map(|(_, a)| a.clone()));
        let recently_failed = lock(&self.failed_at).is_some_and(|t| t.elapsed() < SKIP_AFTER_FAILURE);
        if recently_failed && let Some(account) = fallback {
            return Ok(Some(account));
        }
        // One indexed row: a healthy database answers in milliseconds, so with something to
        // fall back on the wait is short.
        let wait = if fallback.is_some() { Duration::from_secs(1) } else { Duration::from_secs(2) };
        let query = wechat_account::Entity::find().filter(wechat_account::Column::AppId.eq(app_id)).one(&self.st.db);
        let model = match tokio::time::timeout(wait, query).await {
            Ok(Ok(m)) => m,
            failed => {
                if let Ok(Err(e)) = failed {
                    tracing::warn!(error = %e, "cannot look up a WeChat account for its callback");
                }
                *lock(&self.failed_at) = Some(Instant::now());
                return fallback.map(Some).ok_or(IngestError::Unavailable);
            }
        };
        *lock(&self.failed_at) = None;
        let Some(model) = model else {
            lock(&self.memory).remove(app_id);
            return Ok(None);
        };
        let entry = Entry::from(&model);
        let account = Arc::new(callback_account(&self.st, &entry));
        lock(&self.memory).insert(app_id.to_owned(), Cached { at: Instant::now(), account: account.clone() });
        let changed = lock(&self.known).get(app_id).is_none_or(|(known, _)| known != &entry);
        if changed && self.file.is_some() {
            self.refresh_soon();
        }
        Ok(Some(account))
    }

    /// Forgets the memory cache (an admin changed an account) and rewrites the file.
    pub(crate) fn forget(&self) {
        lock(&self.memory).clear();
        self.refresh_soon();
    }

    /// Every account from the database into what is known and into the file (rewritten only
    /// when it changed). Fails when the database does not answer or the file cannot be written.
    pub(crate) async fn refresh(&self) -> Result<(), String> {
        let _one = self.refreshing.lock().await;
        let models =
            wechat_account::Entity::find().order_by_asc(wechat_account::Column::Id).all(&self.st.db).await.map_err(|e| e.to_string())?;
        let entries: Vec<Entry> = models.iter().map(Entry::from).collect();
        let same = {
            let known = lock(&self.known);
            known.len() == entries.len() && entries.iter().all(|e| known.get(&e.app_id).is_some_and(|(k, _)| k == e))
        };
        if same && self.file.as_ref().is_none_or(|f| f.exists()) {
            return Ok(());
        }
        if let Some(path) = &self.file {
            let json = serde_json::to_string(&entries).map_err(|e| e.to_string())?;
            write_file(path, &self.st.keys.seal(CONTEXT, &json)).map_err(|e| format!("cannot write {}: {e}", path.display()))?;
            tracing::debug!(accounts = entries.len(), "callback accounts file rewritten");
        }
        self.set_known(entries);
        Ok(())
    }

    fn set_known(&self, entries: Vec<Entry>) {
        let map = entries
            .into_iter()
            .map(|e| {
                let account = Arc::new(callback_account(&self.st, &e));
                (e.app_id.clone(), (e, account))
            })
            .collect();
        *lock(&self.known) = map;
    }

    /// A refresh in the background (needs a Tokio runtime; none in sync contexts: skipped).
    fn refresh_soon(&self) {
        let Some(me) = self.me.upgrade() else { return };
        if let Ok(rt) = tokio::runtime::Handle::try_current() {
            rt.spawn(async move {
                if let Err(e) = me.refresh().await {
                    tracing::debug!(error = %e, "callback accounts not refreshed");
                }
            });
        }
    }
}

/// Keeps the file in step with the database while `accounts` lives: at once, then every
/// [`REFRESH_EVERY`] (every few seconds while the database does not answer).
pub(crate) fn keep_refreshed(accounts: &Arc<Accounts>) {
    if accounts.file.is_none() {
        return;
    }
    let weak: Weak<Accounts> = Arc::downgrade(accounts);
    tokio::spawn(async move {
        loop {
            let Some(accounts) = weak.upgrade() else { return };
            let pause = match accounts.refresh().await {
                Ok(()) => REFRESH_EVERY,
                Err(e) => {
                    tracing::debug!(error = %e, "callback accounts not refreshed; trying again soon");
                    Duration::from_secs(5)
                }
            };
            drop(accounts);
            tokio::time::sleep(pause).await;
        }
    });
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The file's accounts; `Ok(None)` when there is no file.
fn read_file(st: &AppState, path: &Path) -> Result<Option<Vec<Entry>>, String> {
    let sealed = match std::fs::read_to_string(path) {
        Ok(s) => s,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e.to_string()),
    };
    let json = st.keys.open(CONTEXT, sealed.trim()).map_err(|_| "it does not open with this secret key".to_owned())?;
    serde_json::from_str(&json).map(Some).map_err(|e| e.to_string())
}

/// Replaces the file atomically (a temporary file, fsynced, renamed over it), readable by the
/// owner only.
fn write_file(path: &Path, sealed: &str) -> std::io::Result<()> {
    let tmp = path.with_extension("sealed.tmp");
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut opts, 0o600);
    let mut f = opts.open(&tmp)?;
    f.write_all(sealed.as_bytes())?;
    f.sync_all()?;
    std::fs::rename(&tmp, path)?;
    if let Some(dir) = path.parent() {
        std::fs::File::open(dir)?.sync_all()?;
    }
    Ok(())
}

fn callback_account(st: &AppState, e: &Entry) -> CallbackAccount {
    let mode = e.mode.parse().unwrap_or_else(|_| {
        tracing::warn!(app_id = %e.app_id, "unknown message mode in the database; treating it as plain");
        EncryptMode::Plain
    });
    let crypt = e.aes_key_enc.as_deref().and_then(|sealed| {
        let opened =
            st.keys.open(&format!("wechat_accounts.aes_key:{}", e.app_id), sealed).ok().and_then(|key| MsgCrypt::new(&key, &e.app_id).ok());
        if opened.is_none() {
            // Wrong secret key or a damaged value: encrypted pushes will be refused as a
            // setup error; the reason is never the key itself.
            tracing::error!(app_id = %e.app_id, "the account's EncodingAESKey cannot be opened");
        }
        opened
    });
    let token = crate::accounts::open_token(&st.keys, &e.app_id, &e.token, e.token_enc.as_deref()).unwrap_or_else(|_| {
        tracing::error!(app_id = %e.app_id, "the account's callback Token cannot be opened");
        String::new()
    });
    CallbackAccount { id: e.id, app_id: e.app_id.clone(), token, mode, crypt }
}
