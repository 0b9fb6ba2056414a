//! One batch of pushes in one transaction: insert each event once, and for the newly inserted
//! ones update subscriptions, erase personal data on unsubscribe, enqueue tag jobs and add to
//! the hourly counters. Counter deltas are summed in memory and upserted at the end, in key
//! order, so a batch touches each counter row once and concurrent instances lock rows in the
//! same order (no deadlocks on PostgreSQL).

use super::{Outcome, Push, Stored, hour_bucket, welcome_reply};
use crate::AppState;
use crate::db::{is_conflict, is_unavailable, stmt};
use chrono::{DateTime, Utc};
use sea_orm::{ConnectionTrait, DatabaseTransaction, DbBackend, DbErr, TransactionTrait, Value};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use wechat::{EventKind, Scene};

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

/// Per-transaction state: memoised campaign lookups and the counter deltas.
struct Batch<'a> {
    txn: &'a DatabaseTransaction,
    backend: DbBackend,
    st: &'a AppState,
    campaigns: HashMap<(i32, String, Option<String>), Option<CampaignHit>>,
    campaign_hours: BTreeMap<(i32, i64), CampaignDelta>,
    account_hours: BTreeMap<(i32, i64), AccountDelta>,
    scanners: BTreeSet<(i32, i64, String)>,
    /// Open subscriptions of the batch's followers: (account, hash) → (id, campaign).
    open_subs: HashMap<(i32, String), Vec<(i64, Option<i32>)>>,
}

/// Stores `pushes` in one transaction; one result per push, in order.
pub(crate) async fn apply(st: &AppState, pushes: &[Push]) -> Result<Vec<Stored>, StoreError> {
    // Failing to begin or to commit is always "unavailable": the data was never looked at,
    // or the commit's fate is unknown (a replay is safe either way thanks to the unique key).
    let txn = st.db.begin().await.map_err(|e| StoreError::Unavailable(e.to_string()))?;
    let mut b = Batch {
        txn: &txn,
        backend: txn.get_database_backend(),
        st,
        campaigns: HashMap::new(),
        campaign_hours: BTreeMap::new(),
        account_hours: BTreeMap::new(),
        scanners: BTreeSet::new(),
        open_subs: HashMap::new(),
    };
    // What each push means and which campaign it names (a query per new scene), then every
    // event in a few multi-row inserts, then the effects of the new ones, in push order.
    let mut prepared = Vec::with_capacity(pushes.len());
    for p in pushes {
        prepared.push(b.prepare(p).await.map_err(classify)?);
    }
    let ids = b.insert_events(pushes, &prepared).await.map_err(classify)?;
    b.prefetch_open(pushes, &prepared, &ids).await.map_err(classify)?;
    let mut out = Vec::with_capacity(pushes.len());
    for ((p, prep), id) in pushes.iter().zip(prepared).zip(ids) {
        out.push(b.effects(p, prep, id).await.map_err(classify)?);
    }
    b.flush().await.map_err(classify)?;
    // A conflict reported at commit (PostgreSQL's serialization check) rolled it back for sure.
    txn.commit().await.map_err(|e| if is_conflict(&e) { StoreError::Conflict(e.to_string()) } else { StoreError::Unavailable(e.to_string()) })?;
    Ok(out)
}

fn ts(unix: i64, fallback: DateTime<Utc>) -> DateTime<Utc> {
    // CreateTime is WeChat's clock; anything outside 1970..2100 is nonsense and falls back to
    // the receive time rather than failing the batch.
    if (0..4_102_444_800).contains(&unix) { DateTime::from_timestamp(unix, 0).unwrap_or(fallback) } else { fallback }
}

impl Batch<'_> {
    async fn exec(&self, sql: &str, values: Vec<Value>) -> Result<u64, DbErr> {
        Ok(self.txn.execute_raw(stmt(self.backend, sql, values)).await?.rows_affected())
    }

    async fn campaign(&mut self, account_id: i32, scene: &str, ticket: Option<&str>) -> Result<Option<CampaignHit>, DbErr> {
        let memo_key = (account_id, scene.to_owned(), ticket.map(str::to_owned));
        if let Some(hit) = self.campaigns.get(&memo_key) {
            return Ok(hit.clone());
        }
        // Campaign scenes are stored canonically; an EventKey like "007" stays a string.
        let canonical = Scene::parse(scene).map(|s| s.to_string()).unwrap_or_else(|_| scene.to_owned());
        let by_scene = self
            .txn
            .query_one_raw(stmt(
                self.backend,
                "SELECT id, welcome_message, tag_name FROM campaigns WHERE account_id = ? AND scene = ?",
                vec![account_id.into(), canonical.into()],
            ))
            .await?;
        let row = match (by_scene, ticket) {
            (Some(row), _) => Some(row),
            // Fallback: the code's ticket names its campaign even when the scene does not
            // match (e.g. a code issued before a scene was edited).
            (None, Some(ticket)) => {
                self.txn
                    .query_one_raw(stmt(
                        self.backend,
                        "SELECT c.id, c.welcome_message, c.tag_name FROM qr_codes q JOIN campaigns c ON c.id = q.campaign_id \
                         WHERE q.ticket = ? AND c.account_id = ?",
                        vec![ticket.into(), account_id.into()],
                    ))
                    .await?
            }
            (None, None) => None,
        };
        let hit = match row {
            Some(r) => Some(CampaignHit {
                id: r.try_get_by_index::<i32>(0)?,
                welcome: r.try_get_by_index::<Option<String>>(1)?,
                tag_name: r.try_get_by_index::<Option<String>>(2)?,
            }),
            None => None,
        };
        self.campaigns.insert(memo_key, hit.clone());
        Ok(hit)
    }

    /// A push's meaning, follower hash and campaign.
    async fn prepare(&mut self, p: &Push) -> Result<Prepared, DbErr> {
        let meaning = Meaning::of(p);
        let hash = self.st.keys.openid_hash(&p.openid);
        let campaign = match meaning.scene() {
            Some(scene) => self.campaign(p.account_id, scene, p.ticket.as_deref()).await?,
            None => None,
        };
        Ok(Prepared { meaning, hash, campaign })
    }

    /// Inserts the events of the batch, [`ROWS_PER_STATEMENT`] per statement; returns each
    /// push's new event id, or `None` for a duplicate (stored before, or earlier in this
    /// batch). The unique key decides, exactly as one insert per push would.
    async fn insert_events(&self, pushes: &[Push], prepared: &[Prepared]) -> Result<Vec<Option<i64>>, DbErr> {
        type Key = (i32, String, i64, String, String);
        let mut new_ids: HashMap<Key, i64> = HashMap::new();
        let all: Vec<(&Push, &Prepared)> = pushes.iter().zip(prepared).collect();
        for chunk in all.chunks(ROWS_PER_STATEMENT) {
            let mut values = Vec::with_capacity(chunk.len() * 13);
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
                    p.raw_xml.clone().into(),
                    p.received_at.into(),
                ]);
            }
            let inserted = self
                .txn
                .query_all_raw(stmt(
                    self.backend,
                    &format!(
                        "INSERT INTO events (account_id, openid_hash, openid, create_time, msg_type, event, event_key, ticket, \
                         scene, kind, campaign_id, raw_xml, received_at) VALUES {} \
                         ON CONFLICT (account_id, openid_hash, create_time, event, event_key) DO NOTHING \
                         RETURNING id, account_id, openid_hash, create_time, event, event_key",
                        rows(chunk.len(), 13)
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

    /// What a push changes beyond its event row: subscriptions, counters, tag jobs, erasure.
    async fn effects(&mut self, p: &Push, prep: Prepared, event_id: Option<i64>) -> Result<Stored, DbErr> {
        let Prepared { meaning, hash, campaign } = prep;
        let reply = campaign.as_ref().and_then(|c| c.welcome.as_deref()).and_then(welcome_reply);
        let campaign_id = campaign.as_ref().map(|c| c.id);
        let Some(event_id) = event_id else {
            return Ok(Stored { outcome: Outcome::Duplicate, event_id: None, campaign_id, reply });
        };
        let hour = hour_bucket(p.create_time);
        let at = ts(p.create_time, p.received_at);
        match &meaning {
            Meaning::CodeSubscribe(scene) => {
                self.close_open(p.account_id, &hash, hour, at, None).await?;
                self.subscribe(p, &hash, campaign_id, Some(scene), at, event_id).await?;
                let acc = self.account_hours.entry((p.account_id, hour)).or_default();
                acc.scans += 1;
                acc.new_followers += 1;
                match &campaign {
                    Some(c) => {
                        let d = self.campaign_hours.entry((c.id, hour)).or_default();
                        d.scans += 1;
                        d.new_followers += 1;
                        self.scanners.insert((c.id, hour, hash.clone()));
                        self.tag_job(p, c, &hash).await?;
                    }
                    None => acc.unknown_scene_events += 1,
                }
            }
            Meaning::Organic => {
                self.close_open(p.account_id, &hash, hour, at, None).await?;
                self.subscribe(p, &hash, None, None, at, event_id).await?;
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
                        self.scanners.insert((c.id, hour, hash.clone()));
                        self.tag_job(p, c, &hash).await?;
                    }
                    None => acc.unknown_scene_events += 1,
                }
            }
            Meaning::Unsubscribe => {
                let closed = self.close_open(p.account_id, &hash, hour, at, Some(event_id)).await?;
                if closed == 0 {
                    // Followed before Sceneboard was listening: still one follower less.
                    self.account_hours.entry((p.account_id, hour)).or_default().unsubscribes += 1;
                }
                self.erase(p.account_id, &hash, p.create_time).await?;
            }
            Meaning::Other => {}
        }
        Ok(Stored { outcome: Outcome::Stored, event_id: Some(event_id), campaign_id, reply })
    }

    /// Closes the follower's open subscription(s), counting each as an unsubscribe on its
    /// campaign and the account; `event_id` is the unsubscribe event (`None` when inferred
    /// from a new subscribe). Returns how many were closed.
    async fn close_open(&mut self, account_id: i32, hash: &str, hour: i64, at: DateTime<Utc>, event_id: Option<i64>) -> Result<usize, DbErr> {
        let key = (account_id, hash.to_owned());
        let open = match self.open_subs.insert(key, Vec::new()) {
            Some(known) => known,
            // Not prefetched (cannot happen through `apply`): ask.
            None => {
                let rows = self
                    .txn
                    .query_all_raw(stmt(
                        self.backend,
                        "SELECT id, campaign_id FROM subscriptions WHERE account_id = ? AND openid_hash = ? AND unsubscribed_at IS NULL",
                        vec![account_id.into(), hash.into()],
                    ))
                    .await?;
                rows.iter().map(|r| Ok((r.try_get_by_index::<i64>(0)?, r.try_get_by_index::<Option<i32>>(1)?))).collect::<Result<Vec<_>, DbErr>>()?
            }
        };
        for &(id, campaign) in &open {
            self.exec(
                "UPDATE subscriptions SET unsubscribed_at = ?, unsubscribe_event_id = ? WHERE id = ?",
                vec![at.into(), event_id.into(), id.into()],
            )
            .await?;
            if let Some(c) = campaign {
                self.campaign_hours.entry((c, hour)).or_default().unsubscribes += 1;
            }
            self.account_hours.entry((account_id, hour)).or_default().unsubscribes += 1;
        }
        Ok(open.len())
    }

    /// Loads the open subscriptions of the batch's followers who (un)subscribe, in one query
    /// per [`ROWS_PER_STATEMENT`] followers; `close_open` and `subscribe` keep the map current
    /// through the batch.
    async fn prefetch_open(&mut self, pushes: &[Push], prepared: &[Prepared], ids: &[Option<i64>]) -> Result<(), DbErr> {
        let mut wanted: Vec<(i32, String)> = pushes
            .iter()
            .zip(prepared)
            .zip(ids)
            .filter(|((_, prep), id)| id.is_some() && matches!(prep.meaning, Meaning::CodeSubscribe(_) | Meaning::Organic | Meaning::Unsubscribe))
            .map(|((p, prep), _)| (p.account_id, prep.hash.clone()))
            .collect();
        wanted.sort();
        wanted.dedup();
        // Per account (the index leads with it), a chunk of followers per query.
        let mut by_account: BTreeMap<i32, Vec<String>> = BTreeMap::new();
        for (account, hash) in wanted {
            self.open_subs.insert((account, hash.clone()), Vec::new());
            by_account.entry(account).or_default().push(hash);
        }
        for (account, hashes) in by_account {
            for chunk in hashes.chunks(ROWS_PER_STATEMENT) {
                let mut values = vec![Value::from(account)];
                values.extend(chunk.iter().map(|h| Value::from(h.clone())));
                let found = self
                    .txn
                    .query_all_raw(stmt(
                        self.backend,
                        &format!(
                            "SELECT openid_hash, id, campaign_id FROM subscriptions \
                             WHERE account_id = ? AND openid_hash IN ({}) AND unsubscribed_at IS NULL",
                            vec!["?"; chunk.len()].join(", ")
                        ),
                        values,
                    ))
                    .await?;
                for row in found {
                    let hash: String = row.try_get_by_index(0)?;
                    if let Some(open) = self.open_subs.get_mut(&(account, hash)) {
                        open.push((row.try_get_by_index(1)?, row.try_get_by_index(2)?));
                    }
                }
            }
        }
        Ok(())
    }

    async fn subscribe(&mut self, p: &Push, hash: &str, campaign_id: Option<i32>, scene: Option<&str>, at: DateTime<Utc>, event_id: i64) -> Result<(), DbErr> {
        let row = self.txn.query_one_raw(stmt(
            self.backend,
            "INSERT INTO subscriptions (account_id, openid_hash, openid, campaign_id, scene, subscribed_at, subscribe_event_id) \
             VALUES (?, ?, ?, ?, ?, ?, ?) RETURNING id",
            vec![
                p.account_id.into(),
                hash.into(),
                Some(p.openid.clone()).into(),
                campaign_id.into(),
                scene.map(str::to_owned).into(),
                at.into(),
                Some(event_id).into(),
            ],
        ))
        .await?
        .ok_or_else(|| DbErr::RecordNotInserted)?;
        let id: i64 = row.try_get_by_index(0)?;
        self.open_subs.entry((p.account_id, hash.to_owned())).or_default().push((id, campaign_id));
        Ok(())
    }

    /// WeChat's rule: an unsubscribed user's personal data goes. The keyed hash stays for
    /// attribution and unique counts.
    /// Events are inserted for the whole batch first, so only those up to the unsubscribe are
    /// erased: a re-follow later in the same batch keeps its OpenID, as it would one by one.
    async fn erase(&self, account_id: i32, hash: &str, until: i64) -> Result<(), DbErr> {
        let who = || -> Vec<Value> { vec![account_id.into(), hash.into()] };
        self.exec(
            "UPDATE events SET openid = NULL WHERE account_id = ? AND openid_hash = ? AND openid IS NOT NULL AND create_time <= ?",
            vec![account_id.into(), hash.into(), until.into()],
        )
        .await?;
        self.exec("UPDATE subscriptions SET openid = NULL WHERE account_id = ? AND openid_hash = ? AND openid IS NOT NULL", who())
            .await?;
        self.exec("DELETE FROM follower_profiles WHERE account_id = ? AND openid_hash = ?", who()).await?;
        // Tag jobs carry the raw OpenID in their payload, and tagging a non-follower fails
        // anyway. Their keys are `tag:<campaign>:<hash>`: spelling out the key for each of the
        // account's campaigns lets both databases probe the unique index on `dedupe_key` (a
        // `LIKE 'tag:%:<hash>'` read every job row, on every unsubscribe).
        self.exec(
            "DELETE FROM jobs WHERE dedupe_key IN \
             (SELECT 'tag:' || CAST(id AS TEXT) || ':' || ? FROM campaigns WHERE account_id = ?)",
            vec![hash.into(), account_id.into()],
        )
        .await?;
        Ok(())
    }

    /// Queues the campaign's WeChat tag for this follower (once per follower and campaign
    /// while they follow; the unsubscribe erasure frees the key for a later re-follow).
    async fn tag_job(&self, p: &Push, c: &CampaignHit, hash: &str) -> Result<(), DbErr> {
        if c.tag_name.as_deref().is_none_or(|t| t.trim().is_empty()) {
            return Ok(());
        }
        let payload = serde_json::json!({ "account_id": p.account_id, "campaign_id": c.id, "openid": p.openid }).to_string();
        let now = Utc::now();
        self.exec(
            "INSERT INTO jobs (kind, payload, dedupe_key, status, attempts, run_at, created_at, updated_at) \
             VALUES ('tag_follower', ?, ?, 'queued', 0, ?, ?, ?) ON CONFLICT (dedupe_key) DO NOTHING",
            vec![payload.into(), format!("tag:{}:{hash}", c.id).into(), now.into(), now.into(), now.into()],
        )
        .await?;
        Ok(())
    }

    /// Adds the summed deltas to the counter rows: atomic upserts on both backends, many rows
    /// per statement (a round trip per row was most of a batch's time on PostgreSQL). Rows go
    /// in key order (the maps are sorted), so concurrent batches of several instances lock
    /// counter rows in the same order.
    async fn flush(&mut self) -> Result<(), DbErr> {
        let campaign_hours: Vec<_> = std::mem::take(&mut self.campaign_hours).into_iter().collect();
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
        let account_hours: Vec<_> = std::mem::take(&mut self.account_hours).into_iter().collect();
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
        let scanners: Vec<_> = std::mem::take(&mut self.scanners).into_iter().collect();
        for chunk in scanners.chunks(ROWS_PER_STATEMENT) {
            let values = chunk
                .iter()
                .flat_map(|(campaign, hour, hash)| -> [Value; 3] { [(*campaign).into(), (*hour).into(), hash.clone().into()] })
                .collect();
            self.exec(
                &format!("INSERT INTO scanner_hours (campaign_id, hour, openid_hash) VALUES {} ON CONFLICT DO NOTHING", rows(chunk.len(), 3)),
                values,
            )
            .await?;
        }
        Ok(())
    }
}

/// Rows per multi-row statement: far below both backends' limits on bound values (SQLite
/// 32 766, PostgreSQL 65 535) at 13 columns.
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
