//! One batch of pushes in one transaction: insert each event once, and for the newly inserted
//! ones update subscriptions, erase personal data on unsubscribe, enqueue tag jobs and add to
//! the hourly counters. Counter deltas are summed in memory and upserted at the end, in key
//! order, so a batch touches each counter row once and concurrent instances lock rows in the
//! same order (no deadlocks on PostgreSQL).
//!
//! Here: what a push means and what a batch plans (the types), and `apply`, the batch's
//! transaction from start to commit. `plan` — a push's effects worked out in memory, in push
//! order; `sql` — the batch's statements (campaign lookups, the event insert, open
//! subscriptions, then the plan written set by set); `replies` — the campaigns and replies of
//! journaled pushes, read outside a transaction and remembered for a second.

mod plan;
mod replies;
mod sql;

pub(crate) use replies::ReplyCache;

use super::{Push, Stored};
use crate::AppState;
use crate::db::{is_conflict, is_unavailable};
use chrono::{DateTime, Utc};
use sea_orm::{ConnectionTrait, DbErr, TransactionTrait};
use sql::Db;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use wechat::EventKind;

/// What the database said about a batch.
#[derive(Debug)]
pub(crate) enum StoreError {
    /// Connection-level failure (refused, reset, pool closed, shutting down, timed out): the
    /// batch may be retried or spooled as it is.
    Unavailable(String),
    /// The database refused the data itself (constraint, type): retrying won't help.
    Refused(String),
    /// A write conflict (deadlock, serialization failure, SQLite busy): the transaction was
    /// rolled back and running it again at once is the cure.
    Conflict(String),
}

fn classify(e: DbErr) -> StoreError {
    if is_conflict(&e) {
        StoreError::Conflict(e.to_string())
    } else if is_unavailable(&e) {
        StoreError::Unavailable(e.to_string())
    } else {
        StoreError::Refused(e.to_string())
    }
}

/// A campaign as attribution and replies need it.
#[derive(Clone, Debug)]
struct CampaignHit {
    id: i32,
    welcome: Option<String>,
    tag_name: Option<String>,
}

#[derive(Default)]
struct CampaignDelta {
    scans: i64,
    new_followers: i64,
    unsubscribes: i64,
}

#[derive(Default)]
struct AccountDelta {
    scans: i64,
    new_followers: i64,
    organic_followers: i64,
    unsubscribes: i64,
    unknown_scene_events: i64,
}

/// The meaning of a push, refined from [`wechat::xml::classify`]: a `subscribe` whose key
/// says it came from a code is a code subscribe even when the scene is not one we could ever
/// have issued (so it counts as an unknown scene, not as organic).
enum Meaning {
    /// Followed through a code; the scene text.
    CodeSubscribe(String),
    Organic,
    Scan(String),
    Unsubscribe,
    Other,
}

impl Meaning {
    fn of(p: &Push) -> Self {
        let key = Some(p.event_key.as_str()).filter(|k| !k.is_empty());
        match wechat::xml::classify(&p.msg_type, Some(&p.event), key) {
            EventKind::Subscribe { scene: Some(s) } => Meaning::CodeSubscribe(s.to_string()),
            EventKind::Subscribe { scene: None } => match key.and_then(|k| k.strip_prefix("qrscene_")) {
                Some(rest) if !rest.trim().is_empty() => Meaning::CodeSubscribe(rest.trim().chars().take(64).collect()),
                _ => Meaning::Organic,
            },
            EventKind::Scan { scene } => Meaning::Scan(scene.to_string()),
            EventKind::Unsubscribe => Meaning::Unsubscribe,
            EventKind::Other => Meaning::Other,
        }
    }

    fn kind(&self) -> &'static str {
        match self {
            Meaning::CodeSubscribe(_) => "subscribe",
            Meaning::Organic => "organic",
            Meaning::Scan(_) => "scan",
            Meaning::Unsubscribe => "unsubscribe",
            Meaning::Other => "other",
        }
    }

    fn scene(&self) -> Option<&str> {
        match self {
            Meaning::CodeSubscribe(s) | Meaning::Scan(s) => Some(s),
            _ => None,
        }
    }
}

/// A push made ready for the batch's event insert.
struct Prepared {
    meaning: Meaning,
    hash: String,
    campaign: Option<CampaignHit>,
}

/// A subscription a follower has open while the batch is worked out.
#[derive(Clone, Copy)]
enum OpenSub {
    /// A row already in the table: its id and campaign.
    Stored { id: i64, campaign: Option<i32> },
    /// Opened by this batch: its index in [`Plan::new_subs`].
    New(usize),
}

/// A subscription this batch opens; inserted at the end as the batch leaves it (closed and
/// erased already when a later push of the batch says so).
struct NewSub {
    account_id: i32,
    hash: String,
    openid: Option<String>,
    campaign_id: Option<i32>,
    scene: Option<String>,
    at: DateTime<Utc>,
    event_id: i64,
    closed: Option<(DateTime<Utc>, Option<i64>)>,
}

/// Everything a batch changes beyond its event rows, worked out in memory in push order and
/// then written with a few statements per table, whatever the batch's size. (Writing each
/// push's effects as it was walked cost PostgreSQL a round trip per subscribe and four per
/// unsubscribe, all from the one writer.)
#[derive(Default)]
struct Plan {
    campaign_hours: BTreeMap<(i32, i64), CampaignDelta>,
    account_hours: BTreeMap<(i32, i64), AccountDelta>,
    scanners: BTreeSet<(i32, i64, i64)>,
    /// Open subscriptions of the batch's followers: (account, hash) → what is open.
    open: HashMap<(i32, String), Vec<OpenSub>>,
    new_subs: Vec<NewSub>,
    /// Stored subscriptions this batch closes: id → (when, unsubscribe event).
    closes: BTreeMap<i64, (DateTime<Utc>, Option<i64>)>,
    /// Followers who unsubscribed: (account, hash) → the latest unsubscribe's CreateTime.
    erased: BTreeMap<(i32, String), i64>,
    /// Tag jobs to queue: dedupe key → (account, hash, payload); the first push's payload wins,
    /// as `ON CONFLICT DO NOTHING` one push at a time would keep it.
    jobs: BTreeMap<String, (i32, String, String)>,
}

/// Stores `pushes` in one transaction; one result per push, in order.
pub(crate) async fn apply(st: &AppState, pushes: &[Push]) -> Result<Vec<Stored>, StoreError> {
    // Failing to begin or to commit is always "unavailable": the data was never looked at,
    // or the commit's fate is unknown (a replay is safe either way thanks to the unique key).
    let txn = st.db.begin().await.map_err(|e| StoreError::Unavailable(e.to_string()))?;
    let db = Db { txn: &txn, backend: txn.get_database_backend() };
    // What each push means and which campaign it names (a query per account for all the
    // batch's scenes), then every event in a few multi-row inserts, then the effects of the
    // new ones: worked out in push order in memory, written set by set.
    let meanings: Vec<Meaning> = pushes.iter().map(Meaning::of).collect();
    let campaigns = db.campaigns(pushes, &meanings).await.map_err(classify)?;
    let prepared: Vec<Prepared> = pushes
        .iter()
        .zip(meanings)
        .zip(campaigns)
        .map(|((p, meaning), campaign)| Prepared { meaning, hash: st.keys.openid_hash(&p.openid), campaign })
        .collect();
    let ids = db.insert_events(pushes, &prepared).await.map_err(classify)?;
    let mut plan = Plan { open: db.open_subscriptions(pushes, &prepared, &ids).await.map_err(classify)?, ..Plan::default() };
    let out: Vec<Stored> = pushes.iter().zip(prepared).zip(ids).map(|((p, prep), id)| plan.effects(p, prep, id)).collect();
    db.write(plan).await.map_err(classify)?;
    // A conflict reported at commit (PostgreSQL's serialization check) rolled it back for sure.
    txn.commit()
        .await
        .map_err(|e| if is_conflict(&e) { StoreError::Conflict(e.to_string()) } else { StoreError::Unavailable(e.to_string()) })?;
    Ok(out)
}
