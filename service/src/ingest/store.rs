//! One batch of pushes in one transaction: insert each event once, and for the newly inserted
//! ones update subscriptions, erase personal data on unsubscribe, enqueue tag jobs and add to
//! the hourly counters. Counter deltas are summed in memory and upserted at the end, in key
//! order, so a batch touches each counter row once and concurrent instances lock rows in the
//! same order (no deadlocks on PostgreSQL).

use super::{Outcome, Push, Stored, hour_bucket, welcome_reply};
use crate::AppState;
use crate::db::{is_conflict, is_unavailable, stmt};
use crate::keys::scanner_key;
use chrono::{DateTime, Utc};
use sea_orm::{ConnectionTrait, DatabaseTransaction, DbBackend, DbErr, TransactionTrait, Value};
use std::borrow::Borrow;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use wechat::{EventKind, Reply, Scene};

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
    txn.commit().await.map_err(|e| if is_conflict(&e) { StoreError::Conflict(e.to_string()) } else { StoreError::Unavailable(e.to_string()) })?;
    Ok(out)
}

/// The campaign each push names and the reply it gets, read without a transaction: for pushes
/// acknowledged from the spool while the database is busy with another batch (the reply
/// depends on the campaign alone, see [`Plan::effects`]).
async fn replies_of<C: ConnectionTrait>(db: &C, pushes: &[&Push], meanings: &[Meaning]) -> Result<Vec<(Option<i32>, Option<Reply>)>, DbErr> {
    if meanings.iter().all(|m| m.scene().is_none()) {
        return Ok(vec![(None, None); pushes.len()]);
    }
    let campaigns = Db { txn: db, backend: db.get_database_backend() }.campaigns(pushes, meanings).await?;
    Ok(campaigns
        .into_iter()
        .map(|c| c.map_or((None, None), |c| (Some(c.id), c.welcome.as_deref().and_then(welcome_reply))))
        .collect())
}

/// What decides a journaled push's reply: its account, canonical scene and ticket.
type ReplyKey = (i32, String, Option<String>);

/// [`replies`] with a short memory: under a burst the writer journals a batch every few
/// milliseconds, and each one used to read the campaigns of its scenes on the shared pool
/// while its requests waited (a query, a statement prepared anew for each length of its `IN`
/// list, and hand-offs to the database's thread, all inside the writer's cycle). The answers
/// are kept for [`ReplyCache::TTL`] at most, so an edited welcome message or scene reaches the
/// replies of journaled pushes within that time on every instance; stored pushes (the
/// transaction's own lookup) are never served from here.
#[derive(Default)]
pub(crate) struct ReplyCache {
    since: Option<std::time::Instant>,
    map: HashMap<ReplyKey, (Option<i32>, Option<Reply>)>,
}

impl ReplyCache {
    pub(crate) const TTL: std::time::Duration = std::time::Duration::from_secs(1);

    pub(crate) async fn replies<C: ConnectionTrait>(&mut self, db: &C, pushes: &[&Push]) -> Result<Vec<(Option<i32>, Option<Reply>)>, DbErr> {
        if self.since.is_none_or(|at| at.elapsed() >= Self::TTL) {
            self.map.clear();
            self.since = Some(std::time::Instant::now());
        }
        let keys: Vec<Option<ReplyKey>> = pushes
            .iter()
            .map(|p| Meaning::of(p).scene().map(|s| (p.account_id, canonical_scene(s), p.ticket.clone())))
            .collect();
        // Look up only the pushes whose key is new (one of each).
        let mut missing: Vec<usize> = Vec::new();
        let mut asked: BTreeSet<&ReplyKey> = BTreeSet::new();
        for (i, key) in keys.iter().enumerate() {
            if let Some(key) = key
                && !self.map.contains_key(key)
                && asked.insert(key)
            {
                missing.push(i);
            }
        }
        if !missing.is_empty() {
            let found = {
                let asked: Vec<&Push> = missing.iter().map(|&i| pushes[i]).collect();
                let meanings: Vec<Meaning> = asked.iter().map(|p| Meaning::of(p)).collect();
                replies_of(db, &asked, &meanings).await?
            };
            for (i, reply) in missing.into_iter().zip(found) {
                if let Some(key) = &keys[i] {
                    self.map.insert(key.clone(), reply);
                }
            }
        }
        Ok(keys.iter().map(|k| k.as_ref().and_then(|k| self.map.get(k).cloned()).unwrap_or_default()).collect())
    }
}

fn ts(unix: i64, fallback: DateTime<Utc>) -> DateTime<Utc> {
    // CreateTime is WeChat's clock; anything outside 1970..2100 is nonsense and falls back to
    // the receive time rather than failing the batch.
    if (0..4_102_444_800).contains(&unix) { DateTime::from_timestamp(unix, 0).unwrap_or(fallback) } else { fallback }
}

/// Campaign scenes are stored canonically; an EventKey like "007" stays a string.
fn canonical_scene(scene: &str) -> String {
    Scene::parse(scene).map(|s| s.to_string()).unwrap_or_else(|_| scene.to_owned())
}

fn hit(r: &sea_orm::QueryResult) -> Result<CampaignHit, DbErr> {
    Ok(CampaignHit {
        id: r.try_get_by_index::<i32>(1)?,
        welcome: r.try_get_by_index::<Option<String>>(2)?,
        tag_name: r.try_get_by_index::<Option<String>>(3)?,
    })
}

/// The batch's transaction (or, for [`replies`], a plain connection: reads only).
struct Db<'a, C: ConnectionTrait = DatabaseTransaction> {
    txn: &'a C,
    backend: DbBackend,
}

impl<C: ConnectionTrait> Db<'_, C> {
    async fn exec(&self, sql: &str, values: Vec<Value>) -> Result<u64, DbErr> {
        Ok(self.txn.execute_raw(stmt(self.backend, sql, values)).await?.rows_affected())
    }

    /// `sql` (with `{}` where the `?` list goes) once per [`ROWS_PER_STATEMENT`] of `items`,
    /// each chunk's values after `lead`; the rows of every chunk.
    async fn query_in<T>(&self, sql: &str, lead: &[Value], items: &[T], value: impl Fn(&T) -> Value) -> Result<Vec<sea_orm::QueryResult>, DbErr> {
        let mut out = Vec::new();
        for chunk in items.chunks(ROWS_PER_STATEMENT) {
            let mut values = lead.to_vec();
            values.extend(chunk.iter().map(&value));
            let marks = vec!["?"; chunk.len()].join(", ");
            out.extend(self.txn.query_all_raw(stmt(self.backend, &sql.replace("{}", &marks), values)).await?);
        }
        Ok(out)
    }

    /// The campaign each push names: by scene, else by the code's ticket (a code issued before
    /// its campaign's scene was edited still names it). One query per account for all scenes,
    /// and one for the tickets of scenes that named none.
    async fn campaigns<P: Borrow<Push>>(&self, pushes: &[P], meanings: &[Meaning]) -> Result<Vec<Option<CampaignHit>>, DbErr> {
        let scenes: Vec<Option<String>> = meanings.iter().map(|m| m.scene().map(canonical_scene)).collect();
        let mut wanted: BTreeMap<i32, BTreeSet<&str>> = BTreeMap::new();
        for (p, scene) in pushes.iter().map(Borrow::borrow).zip(&scenes) {
            if let Some(scene) = scene {
                wanted.entry(p.account_id).or_default().insert(scene.as_str());
            }
        }
        let mut by_scene: HashMap<(i32, String), CampaignHit> = HashMap::new();
        for (account, wanted) in wanted {
            let wanted: Vec<&str> = wanted.into_iter().collect();
            let sql = "SELECT scene, id, welcome_message, tag_name FROM campaigns WHERE account_id = ? AND scene IN ({})";
            for r in self.query_in(sql, &[account.into()], &wanted, |s| Value::from(*s)).await? {
                by_scene.entry((account, r.try_get_by_index(0)?)).or_insert(hit(&r)?);
            }
        }
        let mut tickets: BTreeMap<i32, BTreeSet<&str>> = BTreeMap::new();
        for (p, scene) in pushes.iter().map(Borrow::borrow).zip(&scenes) {
            if let (Some(scene), Some(ticket)) = (scene, &p.ticket)
                && !by_scene.contains_key(&(p.account_id, scene.clone()))
            {
                tickets.entry(p.account_id).or_default().insert(ticket.as_str());
            }
        }
        let mut by_ticket: HashMap<(i32, String), CampaignHit> = HashMap::new();
        for (account, wanted) in tickets {
            let wanted: Vec<&str> = wanted.into_iter().collect();
            let sql = "SELECT q.ticket, c.id, c.welcome_message, c.tag_name FROM qr_codes q JOIN campaigns c ON c.id = q.campaign_id \
                       WHERE c.account_id = ? AND q.ticket IN ({})";
            for r in self.query_in(sql, &[account.into()], &wanted, |s| Value::from(*s)).await? {
                by_ticket.entry((account, r.try_get_by_index(0)?)).or_insert(hit(&r)?);
            }
        }
        Ok(pushes
            .iter()
            .map(Borrow::borrow)
            .zip(scenes)
            .map(|(p, scene)| {
                let scene = scene?;
                by_scene
                    .get(&(p.account_id, scene))
                    .or_else(|| p.ticket.as_ref().and_then(|t| by_ticket.get(&(p.account_id, t.clone()))))
                    .cloned()
            })
            .collect())
    }

    /// Inserts the events of the batch, [`ROWS_PER_STATEMENT`] per statement; returns each
    /// push's new event id, or `None` for a duplicate (stored before, or earlier in this
    /// batch). The unique key decides, exactly as one insert per push would.
    async fn insert_events(&self, pushes: &[Push], prepared: &[Prepared]) -> Result<Vec<Option<i64>>, DbErr> {
        type Key = (i32, String, i64, String, String);
        let mut new_ids: HashMap<Key, i64> = HashMap::new();
        let all: Vec<(&Push, &Prepared)> = pushes.iter().zip(prepared).collect();
        for chunk in all.chunks(ROWS_PER_STATEMENT) {
            let mut values = Vec::with_capacity(chunk.len() * 12);
            for (p, prep) in chunk {
                let unsubscribe = matches!(prep.meaning, Meaning::Unsubscribe);
                values.extend([
                    p.account_id.into(),
                    prep.hash.clone().into(),
                    // An unsubscribe is stored already erased.
                    (!unsubscribe).then(|| p.openid.clone()).into(),
                    p.create_time.into(),
                    p.msg_type.clone().into(),
                    p.event.clone().into(),
                    p.event_key.clone().into(),
                    p.ticket.clone().into(),
                    prep.meaning.scene().map(str::to_owned).into(),
                    prep.meaning.kind().into(),
                    prep.campaign.as_ref().map(|c| c.id).into(),
                    p.received_at.into(),
                ]);
            }
            let inserted = self
                .txn
                .query_all_raw(stmt(
                    self.backend,
                    &format!(
                        "INSERT INTO events (account_id, openid_hash, openid, create_time, msg_type, event, event_key, ticket, \
                         scene, kind, campaign_id, received_at) VALUES {} \
                         ON CONFLICT (account_id, openid_hash, create_time, event, event_key) DO NOTHING \
                         RETURNING id, account_id, openid_hash, create_time, event, event_key",
                        rows(chunk.len(), 12)
                    ),
                    values,
                ))
                .await?;
            for row in inserted {
                let key: Key = (
                    row.try_get_by_index(1)?,
                    row.try_get_by_index(2)?,
                    row.try_get_by_index(3)?,
                    row.try_get_by_index(4)?,
                    row.try_get_by_index(5)?,
                );
                new_ids.insert(key, row.try_get_by_index(0)?);
            }
        }
        // The first push with a new key owns the row; a repeat later in the batch is a duplicate.
        Ok(pushes
            .iter()
            .zip(prepared)
            .map(|(p, prep)| new_ids.remove(&(p.account_id, prep.hash.clone(), p.create_time, p.event.clone(), p.event_key.clone())))
            .collect())
    }

    /// The open subscriptions of the batch's followers who (un)subscribe anew, in one query
    /// per account and [`ROWS_PER_STATEMENT`] followers.
    async fn open_subscriptions(
        &self,
        pushes: &[Push],
        prepared: &[Prepared],
        ids: &[Option<i64>],
    ) -> Result<HashMap<(i32, String), Vec<OpenSub>>, DbErr> {
        let mut open: HashMap<(i32, String), Vec<OpenSub>> = HashMap::new();
        // Per account (the index leads with it).
        let mut by_account: BTreeMap<i32, BTreeSet<&str>> = BTreeMap::new();
        for ((p, prep), id) in pushes.iter().zip(prepared).zip(ids) {
            if id.is_some() && matches!(prep.meaning, Meaning::CodeSubscribe(_) | Meaning::Organic | Meaning::Unsubscribe) {
                open.entry((p.account_id, prep.hash.clone())).or_default();
                by_account.entry(p.account_id).or_default().insert(&prep.hash);
            }
        }
        for (account, hashes) in by_account {
            let hashes: Vec<&str> = hashes.into_iter().collect();
            let sql = "SELECT openid_hash, id, campaign_id FROM subscriptions \
                       WHERE account_id = ? AND openid_hash IN ({}) AND unsubscribed_at IS NULL ORDER BY id";
            for row in self.query_in(sql, &[account.into()], &hashes, |h| Value::from(*h)).await? {
                if let Some(subs) = open.get_mut(&(account, row.try_get_by_index(0)?)) {
                    subs.push(OpenSub::Stored { id: row.try_get_by_index(1)?, campaign: row.try_get_by_index(2)? });
                }
            }
        }
        Ok(open)
    }

    /// Writes what the batch changes beyond its events. Order matters where one push's change
    /// must not touch another's: the erasures run before the new subscriptions go in (a
    /// re-follow later in the batch keeps its OpenID; `Plan` already erased those opened
    /// before the unsubscribe), and the tag jobs of unsubscribed followers are deleted before
    /// the batch's surviving jobs are queued.
    async fn write(&self, plan: Plan) -> Result<(), DbErr> {
        let Plan { campaign_hours, account_hours, scanners, open: _, new_subs, closes, erased, jobs } = plan;
        self.erase(&erased).await?;
        let closes: Vec<_> = closes.into_iter().collect();
        for chunk in closes.chunks(ROWS_PER_STATEMENT) {
            let values = chunk.iter().flat_map(|(id, (at, event))| -> [Value; 3] { [(*id).into(), (*at).into(), (*event).into()] }).collect();
            self.exec(
                &format!(
                    "WITH v (id, at, event_id) AS (VALUES {}) UPDATE subscriptions SET unsubscribed_at = v.at, \
                     unsubscribe_event_id = v.event_id FROM v WHERE subscriptions.id = v.id",
                    rows(chunk.len(), 3)
                ),
                values,
            )
            .await?;
        }
        for chunk in new_subs.chunks(ROWS_PER_STATEMENT) {
            let values = chunk
                .iter()
                .flat_map(|s| -> [Value; 9] {
                    [
                        s.account_id.into(),
                        s.hash.clone().into(),
                        s.openid.clone().into(),
                        s.campaign_id.into(),
                        s.scene.clone().into(),
                        s.at.into(),
                        Some(s.event_id).into(),
                        s.closed.map(|(at, _)| at).into(),
                        s.closed.and_then(|(_, event)| event).into(),
                    ]
                })
                .collect();
            self.exec(
                &format!(
                    "INSERT INTO subscriptions (account_id, openid_hash, openid, campaign_id, scene, subscribed_at, \
                     subscribe_event_id, unsubscribed_at, unsubscribe_event_id) VALUES {}",
                    rows(chunk.len(), 9)
                ),
                values,
            )
            .await?;
        }
        let jobs: Vec<_> = jobs.into_iter().collect();
        let now = Utc::now();
        for chunk in jobs.chunks(ROWS_PER_STATEMENT) {
            let values = chunk
                .iter()
                .flat_map(|(key, (_, hash, payload))| -> [Value; 9] {
                    [
                        "tag_follower".into(),
                        payload.clone().into(),
                        key.clone().into(),
                        hash.clone().into(),
                        "queued".into(),
                        0i32.into(),
                        now.into(),
                        now.into(),
                        now.into(),
                    ]
                })
                .collect();
            self.exec(
                &format!(
                    "INSERT INTO jobs (kind, payload, dedupe_key, subject_hash, status, attempts, run_at, created_at, updated_at) \
                     VALUES {} ON CONFLICT (dedupe_key) DO NOTHING",
                    rows(chunk.len(), 9)
                ),
                values,
            )
            .await?;
        }
        self.flush(campaign_hours, account_hours, scanners).await
    }

    /// WeChat's rule: an unsubscribed user's personal data goes (raw OpenIDs on their events
    /// and subscriptions, their tag jobs whatever their status). The keyed hash stays for
    /// attribution and unique counts. Events are inserted for the whole batch first, so only
    /// those up to the follower's last unsubscribe are erased: a re-follow later in the same
    /// batch keeps its OpenID, as it would one push at a time.
    async fn erase(&self, erased: &BTreeMap<(i32, String), i64>) -> Result<(), DbErr> {
        let all: Vec<_> = erased.iter().collect();
        for chunk in all.chunks(ROWS_PER_STATEMENT) {
            let values = chunk
                .iter()
                .flat_map(|((account, hash), until)| -> [Value; 3] { [(*account).into(), hash.clone().into(), (**until).into()] })
                .collect();
            self.exec(
                &format!(
                    "WITH v (account_id, openid_hash, until) AS (VALUES {}) UPDATE events SET openid = NULL FROM v \
                     WHERE events.account_id = v.account_id AND events.openid_hash = v.openid_hash \
                     AND events.openid IS NOT NULL AND events.create_time <= v.until",
                    rows(chunk.len(), 3)
                ),
                values,
            )
            .await?;
        }
        let mut by_account: BTreeMap<i32, Vec<&str>> = BTreeMap::new();
        for (account, hash) in erased.keys() {
            by_account.entry(*account).or_default().push(hash);
        }
        for (account, hashes) in by_account {
            for chunk in hashes.chunks(ROWS_PER_STATEMENT) {
                let marks = vec!["?"; chunk.len()].join(", ");
                let values = std::iter::once(account.into()).chain(chunk.iter().map(|h| Value::from(*h))).collect();
                self.exec(
                    &format!("UPDATE subscriptions SET openid = NULL WHERE account_id = ? AND openid_hash IN ({marks}) AND openid IS NOT NULL"),
                    values,
                )
                .await?;
                // Tag jobs carry the raw OpenID in their payload, and tagging a non-follower
                // fails anyway: queued, running, done or failed, they all go (a worker still
                // running one finds it gone and records nothing, `jobs::complete`/`fail`).
                // They are found by the follower's hash in `subject_hash`
                // (indexed): one probe per follower however many campaigns the account has,
                // and only those keyed to one of this account's campaigns go. (Spelling out
                // each `tag:<campaign>:<hash>` key cost a probe per campaign and follower; a
                // `LIKE` on the key read every job row.)
                let keyed = chunk.iter().map(|h| Value::from(*h)).chain(std::iter::once(account.into())).collect();
                self.exec(
                    &format!(
                        "DELETE FROM jobs WHERE subject_hash IN ({marks}) AND kind = 'tag_follower' AND EXISTS (SELECT 1 FROM campaigns c \
                         WHERE c.account_id = ? AND jobs.dedupe_key = 'tag:' || CAST(c.id AS TEXT) || ':' || jobs.subject_hash)"
                    ),
                    keyed,
                )
                .await?;
            }
        }
        Ok(())
    }

    /// Adds the summed deltas to the counter rows: atomic upserts on both backends, many rows
    /// per statement (a round trip per row was most of a batch's time on PostgreSQL). Rows go
    /// in key order (the maps are sorted), so concurrent batches of several instances lock
    /// counter rows in the same order.
    async fn flush(
        &self,
        campaign_hours: BTreeMap<(i32, i64), CampaignDelta>,
        account_hours: BTreeMap<(i32, i64), AccountDelta>,
        scanners: BTreeSet<(i32, i64, i64)>,
    ) -> Result<(), DbErr> {
        let campaign_hours: Vec<_> = campaign_hours.into_iter().collect();
        for chunk in campaign_hours.chunks(ROWS_PER_STATEMENT) {
            let values = chunk
                .iter()
                .flat_map(|((campaign, hour), d)| -> [Value; 5] {
                    [(*campaign).into(), (*hour).into(), d.scans.into(), d.new_followers.into(), d.unsubscribes.into()]
                })
                .collect();
            self.exec(
                &format!(
                    "INSERT INTO campaign_hourly (campaign_id, hour, scans, new_followers, unsubscribes) VALUES {} \
                     ON CONFLICT (campaign_id, hour) DO UPDATE SET scans = campaign_hourly.scans + excluded.scans, \
                     new_followers = campaign_hourly.new_followers + excluded.new_followers, \
                     unsubscribes = campaign_hourly.unsubscribes + excluded.unsubscribes",
                    rows(chunk.len(), 5)
                ),
                values,
            )
            .await?;
        }
        let account_hours: Vec<_> = account_hours.into_iter().collect();
        for chunk in account_hours.chunks(ROWS_PER_STATEMENT) {
            let values = chunk
                .iter()
                .flat_map(|((account, hour), d)| -> [Value; 7] {
                    [
                        (*account).into(),
                        (*hour).into(),
                        d.scans.into(),
                        d.new_followers.into(),
                        d.organic_followers.into(),
                        d.unsubscribes.into(),
                        d.unknown_scene_events.into(),
                    ]
                })
                .collect();
            self.exec(
                &format!(
                    "INSERT INTO account_hourly (account_id, hour, scans, new_followers, organic_followers, unsubscribes, \
                     unknown_scene_events) VALUES {} \
                     ON CONFLICT (account_id, hour) DO UPDATE SET scans = account_hourly.scans + excluded.scans, \
                     new_followers = account_hourly.new_followers + excluded.new_followers, \
                     organic_followers = account_hourly.organic_followers + excluded.organic_followers, \
                     unsubscribes = account_hourly.unsubscribes + excluded.unsubscribes, \
                     unknown_scene_events = account_hourly.unknown_scene_events + excluded.unknown_scene_events",
                    rows(chunk.len(), 7)
                ),
                values,
            )
            .await?;
        }
        let scanners: Vec<_> = scanners.into_iter().collect();
        for chunk in scanners.chunks(ROWS_PER_STATEMENT) {
            let values = chunk
                .iter()
                .flat_map(|(campaign, hour, scanner)| -> [Value; 3] { [(*campaign).into(), (*hour).into(), (*scanner).into()] })
                .collect();
            self.exec(
                &format!("INSERT INTO scanner_hours (campaign_id, hour, scanner) VALUES {} ON CONFLICT DO NOTHING", rows(chunk.len(), 3)),
                values,
            )
            .await?;
        }
        Ok(())
    }
}

impl Plan {
    /// What a push changes beyond its event row: subscriptions, counters, tag jobs, erasure.
    fn effects(&mut self, p: &Push, prep: Prepared, event_id: Option<i64>) -> Stored {
        let Prepared { meaning, hash, campaign } = prep;
        let reply = campaign.as_ref().and_then(|c| c.welcome.as_deref()).and_then(welcome_reply);
        let campaign_id = campaign.as_ref().map(|c| c.id);
        let Some(event_id) = event_id else {
            return Stored { outcome: Outcome::Duplicate, event_id: None, campaign_id, reply };
        };
        let hour = hour_bucket(p.create_time);
        let at = ts(p.create_time, p.received_at);
        match &meaning {
            Meaning::CodeSubscribe(scene) => {
                self.close_open(p.account_id, &hash, hour, at, None);
                self.subscribe(p, &hash, campaign_id, Some(scene), at, event_id);
                let acc = self.account_hours.entry((p.account_id, hour)).or_default();
                acc.scans += 1;
                acc.new_followers += 1;
                match &campaign {
                    Some(c) => {
                        let d = self.campaign_hours.entry((c.id, hour)).or_default();
                        d.scans += 1;
                        d.new_followers += 1;
                        self.scanners.insert((c.id, hour, scanner_key(&hash)));
                        self.tag_job(p, c, &hash);
                    }
                    None => acc.unknown_scene_events += 1,
                }
            }
            Meaning::Organic => {
                self.close_open(p.account_id, &hash, hour, at, None);
                self.subscribe(p, &hash, None, None, at, event_id);
                let acc = self.account_hours.entry((p.account_id, hour)).or_default();
                acc.new_followers += 1;
                acc.organic_followers += 1;
            }
            Meaning::Scan(_) => {
                let acc = self.account_hours.entry((p.account_id, hour)).or_default();
                acc.scans += 1;
                match &campaign {
                    Some(c) => {
                        self.campaign_hours.entry((c.id, hour)).or_default().scans += 1;
                        self.scanners.insert((c.id, hour, scanner_key(&hash)));
                        self.tag_job(p, c, &hash);
                    }
                    None => acc.unknown_scene_events += 1,
                }
            }
            Meaning::Unsubscribe => {
                let closed = self.close_open(p.account_id, &hash, hour, at, Some(event_id));
                if closed == 0 {
                    // Followed before Sceneboard was listening: still one follower less.
                    self.account_hours.entry((p.account_id, hour)).or_default().unsubscribes += 1;
                }
                self.erase(p.account_id, &hash, p.create_time);
            }
            Meaning::Other => {}
        }
        Stored { outcome: Outcome::Stored, event_id: Some(event_id), campaign_id, reply }
    }

    /// Closes the follower's open subscription(s), counting each as an unsubscribe on its
    /// campaign and the account; `event_id` is the unsubscribe event (`None` when inferred
    /// from a new subscribe). Returns how many were closed.
    fn close_open(&mut self, account_id: i32, hash: &str, hour: i64, at: DateTime<Utc>, event_id: Option<i64>) -> usize {
        let open = self.open.insert((account_id, hash.to_owned()), Vec::new()).unwrap_or_default();
        for sub in &open {
            let campaign = match *sub {
                OpenSub::Stored { id, campaign } => {
                    self.closes.insert(id, (at, event_id));
                    campaign
                }
                OpenSub::New(i) => {
                    self.new_subs[i].closed = Some((at, event_id));
                    self.new_subs[i].campaign_id
                }
            };
            if let Some(c) = campaign {
                self.campaign_hours.entry((c, hour)).or_default().unsubscribes += 1;
            }
            self.account_hours.entry((account_id, hour)).or_default().unsubscribes += 1;
        }
        open.len()
    }

    fn subscribe(&mut self, p: &Push, hash: &str, campaign_id: Option<i32>, scene: Option<&str>, at: DateTime<Utc>, event_id: i64) {
        self.new_subs.push(NewSub {
            account_id: p.account_id,
            hash: hash.to_owned(),
            openid: Some(p.openid.clone()),
            campaign_id,
            scene: scene.map(str::to_owned),
            at,
            event_id,
            closed: None,
        });
        let index = self.new_subs.len() - 1;
        self.open.entry((p.account_id, hash.to_owned())).or_default().push(OpenSub::New(index));
    }

    /// Marks the follower for erasure up to `until` and drops what the batch itself was about
    /// to store of them: the OpenID of subscriptions it opened so far, its queued tag jobs.
    fn erase(&mut self, account_id: i32, hash: &str, until: i64) {
        let latest = self.erased.entry((account_id, hash.to_owned())).or_insert(until);
        *latest = (*latest).max(until);
        for sub in self.new_subs.iter_mut().filter(|s| s.account_id == account_id && s.hash == hash) {
            sub.openid = None;
        }
        self.jobs.retain(|_, (account, h, _)| !(*account == account_id && h == hash));
    }

    /// Queues the campaign's WeChat tag for this follower (once per follower and campaign
    /// while they follow; the unsubscribe erasure frees the key for a later re-follow).
    fn tag_job(&mut self, p: &Push, c: &CampaignHit, hash: &str) {
        if c.tag_name.as_deref().is_none_or(|t| t.trim().is_empty()) {
            return;
        }
        self.jobs.entry(format!("tag:{}:{hash}", c.id)).or_insert_with(|| {
            let payload = serde_json::json!({ "account_id": p.account_id, "campaign_id": c.id, "openid": p.openid }).to_string();
            (p.account_id, hash.to_owned(), payload)
        });
    }
}

/// Rows per multi-row statement: far below both backends' limits on bound values (SQLite
/// 32 766, PostgreSQL 65 535) at 12 columns.
const ROWS_PER_STATEMENT: usize = 256;

/// `(?, ?), (?, ?)` for `n` rows of `cols` values.
fn rows(n: usize, cols: usize) -> String {
    let row = format!("({})", vec!["?"; cols].join(", "));
    vec![row; n].join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_are_numbered_for_postgres() {
        let s = stmt(DbBackend::Postgres, "SELECT ? , ?", vec![1.into(), 2.into()]);
        assert_eq!(s.sql, "SELECT $1 , $2");
        let s = stmt(DbBackend::Sqlite, "SELECT ? , ?", vec![1.into(), 2.into()]);
        assert_eq!(s.sql, "SELECT ? , ?");
    }

    #[test]
    fn multi_row_values() {
        assert_eq!(rows(1, 2), "(?, ?)");
        assert_eq!(rows(3, 1), "(?), (?), (?)");
        let s = stmt(DbBackend::Postgres, &format!("VALUES {}", rows(2, 2)), (1..=4).map(Value::from).collect());
        assert_eq!(s.sql, "VALUES ($1, $2), ($3, $4)");
    }
}
