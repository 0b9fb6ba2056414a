//! Callback ingestion: every push WeChat sends is stored exactly once, durably, with the
//! hourly counters, subscriptions and tag jobs it implies updated in the same transaction.
//!
//! The callback route verifies and opens a push (the `wechat` crate), turns it into a
//! [`Push`] and hands it to the [`Ingestor`]. One writer owns all writes: it takes
//! whatever pushes are queued (up to [`IngestOptions::max_batch`]), stores them in a single
//! transaction (group commit: one fsync for many requests), and only then answers each
//! request. If the database is unreachable, or busy with the previous batch, the batch is
//! appended to a spool file in the data dir (fsynced) and acknowledged; the writer replays
//! the spool, in order and in big batches, as soon as the database can take it.
//! Exactly-once rests on the events table's unique key (docs/contract.md's "same push" rule): an
//! insert that conflicts changes nothing else, so retries, replays and other instances can
//! never count a push twice.
//!
//! Counting rules (docs/contract.md "Event semantics"), all per UTC hour of the push's CreateTime:
//! - `subscribe` with `qrscene_<scene>`: a scan and a new follower of the campaign (resolved
//!   by scene, else by Ticket) and of the account; a new subscription attributed to it; the
//!   scanner is recorded in `scanner_hours`. An unknown scene still counts on the account
//!   (scans, new_followers) and adds to `unknown_scene_events`.
//! - `subscribe` without a scene: organic. `account_hourly.new_followers` counts every new
//!   follower; `organic_followers` is the organic part of it.
//! - `SCAN`: a scan of the campaign and the account (unknown scene as above).
//! - `unsubscribe`: closes the open subscription, one unsubscribe on its campaign (if any) and
//!   on the account, and erases the follower's personal data (raw OpenIDs on events and
//!   subscriptions, tag jobs); the keyed hash stays. The spool drops its imported lines at
//!   once (`spool`), and on SQLite the WAL is truncated soon after (`checkpoint`), so no copy
//!   of the OpenID stays in the data dir either.
//! - A `subscribe` while a subscription is still open means we missed an `unsubscribe`: the
//!   old subscription is closed and counted as unsubscribed, so net followers stay right.
//! - Everything else is stored with kind `other`.
//!
//! A push is stored as its parsed fields, never whole: the raw XML repeats the OpenID (which
//! an erasure would have to find there too) and, for messages, what the follower wrote, and
//! nothing needs it after parsing.
//!
//! Files: `writer` — the writer's thread (group commit, journaling, the spool's import);
//! `store` — one batch in one transaction; `spool` — the journal file; `checkpoint` — SQLite's
//! WAL emptied after erasures; `accounts` — the callback's accounts, cached; `replay` — the
//! replay guard; `live` — liveness for load balancers. Here: the `Push`, the `Ingestor`.

mod accounts;
mod checkpoint;
mod live;
mod replay;
mod spool;
mod store;
mod writer;

use crate::AppState;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::{mpsc, oneshot};
use wechat::{InboundMessage, Reply};

/// Name of the spool file inside the data dir.
pub const SPOOL_FILE: &str = "callback-spool.jsonl";
/// Spooled lines that the database refused on replay for a reason other than being
/// unreachable (kept for an operator, never dropped silently).
pub const REJECTED_FILE: &str = "callback-spool.rejected.jsonl";
pub use accounts::{ACCOUNTS_FILE, CallbackAccount};
pub use live::MIN_FREE;
pub use replay::{DEFAULT_MAX_SKEW, MAX_BINDINGS, ReplayGuard, Verdict};

/// Column widths of `events` (see the initial migration): values are cut to fit, so one odd
/// push can never make a whole batch fail on PostgreSQL's `varchar(n)`.
const OPENID_MAX: usize = 64;
const MSG_TYPE_MAX: usize = 32;
const EVENT_MAX: usize = 64;
const EVENT_KEY_MAX: usize = 128;
const TICKET_MAX: usize = 255;
const TO_USER_MAX: usize = 64;

/// One push as it will be stored: the de-duplication key already derived, text cleaned.
///
/// It is also the spool's line format (JSON), so a field added later must have a serde
/// default to keep old spool files readable. Fields that are gone are ignored when read
/// (older spools carry a `raw_xml`, the whole push, which is no longer kept).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Push {
    /// The account the push was sent to.
    pub account_id: i32,
    /// The account's original id (`ToUserName`), the sender of a reply.
    pub to_user: String,
    /// The follower's OpenID (`FromUserName`).
    pub openid: String,
    /// WeChat's CreateTime (Unix seconds).
    pub create_time: i64,
    /// `event`, `text`, `image`...
    pub msg_type: String,
    /// The Event name, or the MsgType for plain messages (part of the dedupe key).
    pub event: String,
    /// The EventKey, or the MsgId for plain messages; empty when absent (part of the key).
    pub event_key: String,
    /// The QR code's ticket, if any.
    pub ticket: Option<String>,
    /// When this server received it.
    pub received_at: DateTime<Utc>,
}

impl Push {
    /// Builds the push of an opened message for `account_id`.
    pub fn new(account_id: i32, m: &InboundMessage, received_at: DateTime<Utc>) -> Self {
        let is_event = m.msg_type.eq_ignore_ascii_case("event");
        let (event, event_key) = if is_event {
            (m.event.clone().unwrap_or_else(|| m.msg_type.clone()), m.event_key.clone().unwrap_or_default())
        } else {
            (m.msg_type.clone(), element_text(&m.raw, "MsgId").unwrap_or_default())
        };
        Self {
            account_id,
            to_user: clean(&m.to_user_name, TO_USER_MAX),
            openid: clean(&m.from_user_name, OPENID_MAX),
            create_time: m.create_time,
            msg_type: clean(&m.msg_type, MSG_TYPE_MAX),
            event: clean(&event, EVENT_MAX),
            event_key: clean(&event_key, EVENT_KEY_MAX),
            ticket: m.ticket.as_deref().map(|t| clean(t, TICKET_MAX)),
            received_at,
        }
    }
}

impl Push {
    /// Is it an unsubscribe, after which no copy of the follower's OpenID may stay behind?
    pub(crate) fn erases(&self) -> bool {
        wechat::xml::classify(&self.msg_type, Some(&self.event), None) == wechat::EventKind::Unsubscribe
    }
}

/// Drops NUL characters (PostgreSQL text refuses them) and cuts to `max` characters.
fn clean(text: &str, max: usize) -> String {
    text.chars().filter(|&c| c != '\0').take(max).collect()
}

/// The text of the first `<name>` element of a flat WeChat XML document (CDATA or not).
/// Only used for `MsgId`, which `InboundMessage` does not carry.
fn element_text(xml: &str, name: &str) -> Option<String> {
    let open = format!("<{name}>");
    let close = format!("</{name}>");
    let start = xml.find(&open)? + open.len();
    let end = start + xml[start..].find(&close)?;
    let inner = xml[start..end].trim();
    let inner = inner.strip_prefix("<![CDATA[").and_then(|s| s.strip_suffix("]]>")).unwrap_or(inner);
    Some(inner.trim().to_owned()).filter(|s| !s.is_empty())
}

/// Stores `pushes` as one batch, in one transaction, without the writer (which forms
/// batches from whatever happens to be queued): for tests that pin down how the pushes of one
/// batch interact.
#[doc(hidden)]
pub async fn store_batch(st: &AppState, pushes: &[Push]) -> Result<Vec<Stored>, String> {
    store::apply(st, pushes).await.map_err(|e| format!("{e:?}"))
}

/// What happened to a push.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Newly stored (and counted).
    Stored,
    /// The same push was stored before: nothing changed.
    Duplicate,
    /// The database was unreachable: the push is in the spool (fsynced) and will be stored
    /// when the database answers again.
    Spooled,
}

impl Outcome {
    /// A short label for logs and metrics.
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Stored => "stored",
            Outcome::Duplicate => "duplicate",
            Outcome::Spooled => "spooled",
        }
    }
}

/// The durable result of [`Ingestor::submit`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Stored {
    /// Stored, duplicate or spooled.
    pub outcome: Outcome,
    /// The event row, when known (not for spooled pushes).
    pub event_id: Option<i64>,
    /// The campaign the push was attributed to, if any.
    pub campaign_id: Option<i32>,
    /// The passive reply to send (the campaign's welcome message), if any. Duplicates get it
    /// too: WeChat only retries when it did not get the first answer.
    pub reply: Option<Reply>,
}

/// Why a push was not made durable; the callback answers 5xx so WeChat retries.
#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    /// The database is unreachable and there is no spool to fall back on.
    #[error("the database is unavailable")]
    Unavailable,
    /// The database refused this push for a reason of its own (a bug, not an outage).
    #[error("the push could not be stored: {0}")]
    Rejected(String),
    /// Neither the database nor the spool file could take the push.
    #[error("the spool file could not be written: {0}")]
    Spool(String),
    /// The database is unreachable and the spool holds its configured maximum
    /// ([`IngestOptions::spool_max_bytes`]).
    #[error("the spool is full")]
    SpoolFull,
    /// The writer is gone (shutting down).
    #[error("the ingest writer has stopped")]
    Stopped,
}

/// Default cap of the spool: about 4 million pushes (a line is some 250 bytes), hours of
/// the busiest traffic, while a small disk keeps room for the database.
pub const DEFAULT_SPOOL_MAX_BYTES: u64 = 1 << 30;

/// Tuning and the spool location.
#[derive(Clone, Debug)]
pub struct IngestOptions {
    /// Directory of the spool file ([`SPOOL_FILE`]); `None` = no spool: pushes fail with
    /// [`IngestError::Unavailable`] while the database is down.
    pub spool_dir: Option<PathBuf>,
    /// Most pushes from the queue stored in one transaction.
    pub max_batch: usize,
    /// Most spooled pushes replayed in one transaction (bigger: they are acknowledged already,
    /// and per push a big transaction costs the database much less than a small one).
    pub max_import: usize,
    /// With a spool: pushes that arrive while a batch is being stored are journaled in the
    /// spool (fsynced) and acknowledged at once, and the writer imports the spool behind them
    /// in big batches. Without: they wait for the next group commit.
    pub spill_when_busy: bool,
    /// Spooled pushes beyond which a busy database makes requests wait instead of journaling
    /// more (outages excepted): bounds how far the charts can lag behind a long overload.
    pub max_backlog: u64,
    /// Pushes journaled per second from which the spool's import waits for the burst to end
    /// (see [`IngestOptions::max_import_lag`]): under a burst, answering WeChat (5 s deadline)
    /// and importing the journal compete for the same cores, and the import can catch up
    /// after. Below this rate, imports follow the journal at once.
    pub burst_rate: u64,
    /// Longest an acknowledged push waits in the spool for a burst to end; past it, the
    /// import runs during the burst (so under a load that never ends, the charts lag by
    /// about this much, and [`IngestOptions::max_backlog`] still bounds the backlog).
    pub max_import_lag: Duration,
    /// Longest a batch transaction may take before the database counts as unreachable (the
    /// batch then goes to the spool); keeps answers inside WeChat's 5 s.
    pub store_timeout: Duration,
    /// After the database failed, how long to send batches straight to the spool before
    /// trying the database again.
    pub retry_every: Duration,
    /// How long a verified account stays cached (token, mode, AES key).
    pub account_ttl: Duration,
    /// Seconds a push's `timestamp` may be from this server's clock (0: no window); see
    /// [`ReplayGuard`].
    pub max_skew: u64,
    /// Most bytes the spool may hold on disk. Past it, pushes that would be journaled are
    /// refused (the callback answers 503 and WeChat retries) rather than filling the disk;
    /// what is in the spool already is kept and imported.
    pub spool_max_bytes: u64,
}

impl Default for IngestOptions {
    fn default() -> Self {
        Self {
            spool_dir: None,
            max_batch: 256,
            max_import: 2048,
            spill_when_busy: false,
            max_backlog: 100_000,
            burst_rate: 2_000,
            max_import_lag: Duration::from_secs(3),
            store_timeout: Duration::from_secs(3),
            retry_every: Duration::from_secs(1),
            account_ttl: Duration::from_secs(30),
            max_skew: DEFAULT_MAX_SKEW,
            spool_max_bytes: DEFAULT_SPOOL_MAX_BYTES,
        }
    }
}

impl IngestOptions {
    /// Defaults, with the spool in `dir` (the server's data dir), used during outages only.
    pub fn with_spool_dir(dir: impl Into<PathBuf>) -> Self {
        Self { spool_dir: Some(dir.into()), ..Self::default() }
    }

    /// What `sceneboard serve` runs: the spool in `dir`, also absorbing bursts
    /// ([`IngestOptions::spill_when_busy`]).
    pub fn serving(dir: impl Into<PathBuf>) -> Self {
        Self { spill_when_busy: true, ..Self::with_spool_dir(dir) }
    }
}

pub(crate) struct Job {
    pub(crate) push: Push,
    pub(crate) answer: oneshot::Sender<Result<Stored, IngestError>>,
}

struct Inner {
    st: AppState,
    tx: mpsc::Sender<Job>,
    accounts: Arc<accounts::Accounts>,
    spool_path: Option<PathBuf>,
    replay: ReplayGuard,
}

/// The door into the ingest writer; cheap to clone (one per server, in its router state).
#[derive(Clone)]
pub struct Ingestor {
    inner: Arc<Inner>,
}

impl fmt::Debug for Ingestor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Ingestor").field("spool", &self.inner.spool_path).finish_non_exhaustive()
    }
}

/// Queued pushes beyond this make `submit` wait (back-pressure instead of unbounded memory).
const QUEUE: usize = 8192;

impl Ingestor {
    /// Starts the writer on a thread of its own (and, when a spool file with pushes exists,
    /// their replay). Needs a Tokio runtime, where the writer's store tasks run. Fails only
    /// when the spool file cannot be opened or the thread cannot be started.
    pub fn spawn(st: AppState, opts: IngestOptions) -> std::io::Result<Self> {
        let spool = match &opts.spool_dir {
            Some(dir) => Some(spool::Spool::open(dir)?.with_max_bytes(opts.spool_max_bytes)),
            None => None,
        };
        let spool_path = spool.as_ref().map(|s| s.path().to_owned());
        st.health.spool_waiting(spool.as_ref().map_or(0, spool::Spool::waiting));
        if let Some(s) = &spool
            && s.pending()
        {
            tracing::warn!(path = %s.path().display(), "spooled pushes found: replaying them into the database");
        }
        let (tx, rx) = mpsc::channel(QUEUE);
        // The writer runs on a thread of its own (a current-thread runtime). Under a burst it
        // is on every request's path (each journaled batch: a write, an fsync, the answers),
        // and as a task of the server's runtime each of its wake-ups queued behind the HTTP
        // tasks; the kernel schedules a thread of its own at once. Its store tasks still run
        // on the server's runtime (`main`), imports on theirs.
        let main = tokio::runtime::Handle::current();
        let accounts = accounts::Accounts::new(st.clone(), opts.account_ttl, opts.spool_dir.as_deref());
        accounts::keep_refreshed(&accounts);
        writer::runtime_thread("ingest-writer", || {}, writer::run(st.clone(), rx, spool, opts.clone(), main))?;
        let replay = ReplayGuard::new(opts.max_skew);
        Ok(Self { inner: Arc::new(Inner { st, tx, accounts, spool_path, replay }) })
    }

    /// An ingestor without a spool (tests and tools that do not serve WeChat for real).
    pub fn without_spool(st: AppState) -> Self {
        Self::spawn(st, IngestOptions::default()).expect("no spool file to open")
    }

    /// The callback's replay defence (timestamp window, triple bound to body).
    pub fn replay(&self) -> &ReplayGuard {
        &self.inner.replay
    }

    /// The spool file, when there is one.
    pub fn spool_path(&self) -> Option<&Path> {
        self.inner.spool_path.as_deref()
    }

    /// The account with this AppID, for verifying its pushes; `Ok(None)` when unknown.
    ///
    /// Cached for [`IngestOptions::account_ttl`]; while the database does not answer, the last
    /// known account is used however old, from memory or from the sealed accounts file in the
    /// data dir (so an instance that starts during an outage verifies and spools too).
    pub async fn account(&self, app_id: &str) -> Result<Option<Arc<CallbackAccount>>, IngestError> {
        self.inner.accounts.get(app_id).await
    }

    /// Rewrites the sealed accounts file from the database now (it is also kept in step in
    /// the background); fails when the database does not answer or the file cannot be written.
    pub async fn refresh_accounts(&self) -> Result<(), String> {
        self.inner.accounts.refresh().await
    }

    /// Can this instance accept pushes and journal them now (`/livez`)? `Err` says why not:
    /// the writer has stopped, or the spool's directory cannot take a synced write or is
    /// nearly full ([`MIN_FREE`]). The database's state does not enter into it.
    pub async fn liveness(&self) -> Result<(), String> {
        if self.inner.tx.is_closed() {
            return Err("the callback's writer has stopped".into());
        }
        let Some(dir) = self.inner.spool_path.as_deref().and_then(Path::parent).map(Path::to_owned) else {
            return Ok(());
        };
        tokio::task::spawn_blocking(move || live::probe(&dir)).await.map_err(|e| e.to_string())?
    }

    /// Waits until this instance's spool is empty (every acknowledged push committed), at
    /// most `within`; whether it is. For tests and tools that read the database right after
    /// a burst.
    pub async fn settle(&self, within: Duration) -> bool {
        let deadline = Instant::now() + within;
        loop {
            if self.inner.st.health.ingest().spool_waiting == 0 {
                return true;
            }
            if Instant::now() >= deadline {
                return false;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// Stores one push, durably, and answers once it is committed (or fsynced to the spool).
    pub async fn submit(&self, push: Push) -> Result<Stored, IngestError> {
        let (answer, rx) = oneshot::channel();
        self.inner.tx.send(Job { push, answer }).await.map_err(|_| IngestError::Stopped)?;
        rx.await.map_err(|_| IngestError::Stopped)?
    }
}

/// A campaign's welcome message (`campaigns.welcome_message` JSON) as a passive reply.
pub fn welcome_reply(json: &str) -> Option<Reply> {
    #[derive(Deserialize)]
    #[serde(tag = "type", rename_all = "lowercase")]
    enum Welcome {
        Text {
            content: String,
        },
        News {
            title: String,
            #[serde(default)]
            description: String,
            #[serde(default)]
            url: String,
            #[serde(default)]
            pic_url: String,
        },
    }
    match serde_json::from_str::<Welcome>(json) {
        Ok(Welcome::Text { content }) if !content.trim().is_empty() => Some(Reply::Text { content }),
        Ok(Welcome::News { title, description, url, pic_url }) if !title.trim().is_empty() => {
            Some(Reply::News { title, description, url, pic_url })
        }
        Ok(_) => None,
        Err(e) => {
            tracing::warn!(error = %e, "a campaign's welcome message is not valid JSON; no reply sent");
            None
        }
    }
}

/// Unix seconds of the start of the UTC hour containing `t`.
pub fn hour_bucket(t: i64) -> i64 {
    t - t.rem_euclid(3600)
}

#[cfg(test)]
mod tests;
