//! The batch's statements (`Db`): the campaigns its pushes name, the events in multi-row
//! inserts, its followers' open subscriptions, then the `Plan` written set by set (erasures,
//! subscriptions, tag jobs, counters).

use super::{AccountDelta, CampaignDelta, CampaignHit, Meaning, OpenSub, Plan, Prepared};
use crate::db::{marks, query_in_chunks, rows, stmt};
use crate::ingest::Push;
use crate::jobs::Job;
use chrono::Utc;
use sea_orm::{ConnectionTrait, DatabaseTransaction, DbBackend, DbErr, Value};
use std::borrow::Borrow;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use wechat::Scene;

/// The batch's transaction (or, for [`replies`], a plain connection: reads only).
pub(super) struct Db<'a, C: ConnectionTrait = DatabaseTransaction> {
    pub(super) txn: &'a C,
    pub(super) backend: DbBackend,
}

impl<C: ConnectionTrait> Db<'_, C> {
    async fn exec(&self, sql: &str, values: Vec<Value>) -> Result<u64, DbErr> {
        Ok(self.txn.execute_raw(stmt(self.backend, sql, values)).await?.rows_affected())
    }

    /// The campaign each push names: by scene, else by the code's ticket (a code issued before
    /// its campaign's scene was edited still names it). One query per account for all scenes,
    /// and one for the tickets of scenes that named none.
    pub(super) async fn campaigns<P: Borrow<Push>>(&self, pushes: &[P], meanings: &[Meaning]) -> Result<Vec<Option<CampaignHit>>, DbErr> {
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
            let sql = "SELECT scene, id, welcome_message, tag_name FROM campaigns WHERE account_id = ? AND scene IN ({in})";
            for r in query_in_chunks(self.txn, sql, &[account.into()], &wanted, ROWS_PER_STATEMENT).await? {
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
                       WHERE c.account_id = ? AND q.ticket IN ({in})";
            for r in query_in_chunks(self.txn, sql, &[account.into()], &wanted, ROWS_PER_STATEMENT).await? {
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
    pub(super) async fn insert_events(&self, pushes: &[Push], prepared: &[Prepared]) -> Result<Vec<Option<i64>>, DbErr> {
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
    pub(super) async fn open_subscriptions(
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
                       WHERE account_id = ? AND openid_hash IN ({in}) AND unsubscribed_at IS NULL ORDER BY id";
            for row in query_in_chunks(self.txn, sql, &[account.into()], &hashes, ROWS_PER_STATEMENT).await? {
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
    pub(super) async fn write(&self, plan: Plan) -> Result<(), DbErr> {
        let Plan { campaign_hours, account_hours, scanners, open: _, new_subs, closes, erased, jobs } = plan;
        self.erase(&erased).await?;
        let closes: Vec<_> = closes.into_iter().collect();
        for chunk in closes.chunks(ROWS_PER_STATEMENT) {
            let values =
                chunk.iter().flat_map(|(id, (at, event))| -> [Value; 3] { [(*id).into(), (*at).into(), (*event).into()] }).collect();
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
                        Job::TAG_FOLLOWER.into(),
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
                let marks = marks(chunk.len());
                let values = std::iter::once(account.into()).chain(chunk.iter().map(|h| Value::from(*h))).collect();
                self.exec(
                    &format!(
                        "UPDATE subscriptions SET openid = NULL WHERE account_id = ? AND openid_hash IN ({marks}) AND openid IS NOT NULL"
                    ),
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
                        "DELETE FROM jobs WHERE subject_hash IN ({marks}) AND kind = '{kind}' AND EXISTS (SELECT 1 FROM campaigns c \
                         WHERE c.account_id = ? AND jobs.dedupe_key = 'tag:' || CAST(c.id AS TEXT) || ':' || jobs.subject_hash)",
                        kind = Job::TAG_FOLLOWER
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

/// Campaign scenes are stored canonically; an EventKey like "007" stays a string.
pub(super) fn canonical_scene(scene: &str) -> String {
    Scene::parse(scene).map(|s| s.to_string()).unwrap_or_else(|_| scene.to_owned())
}

fn hit(r: &sea_orm::QueryResult) -> Result<CampaignHit, DbErr> {
    Ok(CampaignHit {
        id: r.try_get_by_index::<i32>(1)?,
        welcome: r.try_get_by_index::<Option<String>>(2)?,
        tag_name: r.try_get_by_index::<Option<String>>(3)?,
    })
}

/// Rows per multi-row statement: far below both backends' limits on bound values (SQLite
/// 32 766, PostgreSQL 65 535) at 12 columns.
const ROWS_PER_STATEMENT: usize = 256;
