//! The ingest writer stores whatever pushes are queued as one batch, and works a batch's
//! effects out in memory before writing them set by set. Whatever the batching, the database
//! must end up exactly as if every push had been stored on its own: the same events (and the
//! same erased OpenIDs), subscriptions, tag jobs, counters and scanners, and the same answer
//! to each push.
//!
//! Three accounts with the same campaigns get the same random push sequences: one stores them
//! a push at a time (the reference), one as a single batch, one in random chunks. Before that,
//! a shared history (stored a push at a time) leaves open subscriptions and queued tag jobs
//! for the batches to close and erase. Every account's state is then read
//! back with its ids replaced by what they stand for, and compared. Runs on SQLite and
//! PostgreSQL, several seeds each.

use chrono::{DateTime, Utc};
use sea_orm::{ActiveModelTrait, ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter, Set};
use service::AppState;
use service::dual_test;
use service::entity::{account_hourly, campaign, campaign_hourly, event, job, qr_code, scanner_hour, subscription};
use service::ingest::{Outcome, Push, store_batch};
use service::testing::{TestDb, account_row, campaign_row};
use std::collections::{BTreeSet, HashMap};

const T0: i64 = 1_714_035_600;
const FOLLOWERS: usize = 7;

/// Campaign scenes and their tags; scene "9" has no campaign but its codes carry the ticket of
/// campaign "2" (the ticket fallback), "77" names nothing at all.
const CAMPAIGNS: [(&str, Option<&str>); 3] = [("1", Some("VIP")), ("2", Some("Fans")), ("shop_3", None)];
const PUSH_SCENES: [&str; 5] = ["1", "2", "shop_3", "9", "77"];

/// xorshift64*: the sequences must be the same on every run and every backend.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

/// A push of follower `f` as WeChat would send it, for whichever account it is given to.
#[derive(Clone)]
struct Spec {
    follower: usize,
    time: i64,
    event: &'static str,
    key: String,
    ticket: Option<String>,
}

impl Spec {
    fn push(&self, account_id: i32) -> Push {
        Push {
            account_id,
            to_user: "gh_batch".into(),
            openid: format!("o-follower-{}", self.follower),
            create_time: self.time,
            msg_type: "event".into(),
            event: self.event.into(),
            event_key: self.key.clone(),
            ticket: self.ticket.clone(),
            received_at: DateTime::from_timestamp(T0, 0).unwrap(),
        }
    }
}

/// `n` pushes: follows through a code or not, scans, unsubscribes, menu clicks, and WeChat's
/// retries of earlier pushes (duplicates). Each follower's pushes are in time order.
fn sequence(rng: &mut Rng, clock: &mut i64, n: usize, earlier: &[Spec]) -> Vec<Spec> {
    let mut out: Vec<Spec> = Vec::with_capacity(n);
    for _ in 0..n {
        let retry_pool = earlier.len() + out.len();
        if retry_pool > 0 && rng.below(8) == 0 {
            let i = rng.below(retry_pool);
            let again = if i < earlier.len() { earlier[i].clone() } else { out[i - earlier.len()].clone() };
            out.push(again);
            continue;
        }
        // Sometimes within the same hour, sometimes hours later (counters are hourly).
        *clock += if rng.below(6) == 0 { 3_600 + rng.below(7_200) as i64 } else { 1 + rng.below(300) as i64 };
        let follower = rng.below(FOLLOWERS);
        let scene = PUSH_SCENES[rng.below(PUSH_SCENES.len())];
        let ticket = match scene {
            "9" => Some("T-campaign-2".to_owned()),
            s if rng.below(2) == 0 => Some(format!("T-{s}")),
            _ => None,
        };
        let spec = match rng.below(10) {
            0..=2 => Spec { follower, time: *clock, event: "subscribe", key: format!("qrscene_{scene}"), ticket },
            3 => Spec { follower, time: *clock, event: "subscribe", key: String::new(), ticket: None },
            4..=6 => Spec { follower, time: *clock, event: "SCAN", key: scene.into(), ticket },
            7 | 8 => Spec { follower, time: *clock, event: "unsubscribe", key: String::new(), ticket: None },
            _ => Spec { follower, time: *clock, event: "CLICK", key: "MENU_HELP".into(), ticket: None },
        };
        out.push(spec);
    }
    out
}

async fn account(db: &DatabaseConnection, app_id: &str) -> (i32, HashMap<i32, String>) {
    let id = account_row(app_id).insert(db).await.unwrap().id;
    let mut scenes = HashMap::new();
    for (scene, tag) in CAMPAIGNS {
        let c = campaign::ActiveModel { tag_name: Set(tag.map(str::to_owned)), ..campaign_row(id, &format!("Campaign {scene}"), scene) }
            .insert(db)
            .await
            .unwrap();
        scenes.insert(c.id, scene.to_owned());
        if scene == "2" {
            qr_code::ActiveModel {
                campaign_id: Set(c.id),
                ticket: Set(format!("T-campaign-2-{app_id}")),
                url: Set("http://weixin.qq.com/q/x".into()),
                expires_at: Set(None),
                created_at: Set(Utc::now()),
                ..Default::default()
            }
            .insert(db)
            .await
            .unwrap();
        }
    }
    (id, scenes)
}

/// Tickets are unique across accounts: each account's codes carry its own suffix.
fn for_account(spec: &Spec, app_id: &str) -> Spec {
    let mut s = spec.clone();
    if s.ticket.as_deref() == Some("T-campaign-2") {
        s.ticket = Some(format!("T-campaign-2-{app_id}"));
    }
    s
}

/// An event: its campaign's scene, its key fields and dedupe key.
type EventRow = (String, Option<String>, i64, String, String, String, Option<String>);
/// A subscription, its campaign by scene and its events by dedupe key.
type SubscriptionRow = (String, bool, Option<String>, Option<String>, i64, Option<i64>, Option<(i64, String)>, Option<(i64, String)>);

/// One account's state with ids replaced by what they stand for (campaign → scene, event →
/// its dedupe key), so accounts can be compared.
#[derive(Debug, PartialEq)]
struct Snapshot {
    events: Vec<EventRow>,
    subscriptions: Vec<SubscriptionRow>,
    jobs: BTreeSet<(String, String, String)>,
    campaign_hours: BTreeSet<(String, i64, i64, i64, i64)>,
    account_hours: BTreeSet<(i64, i64, i64, i64, i64, i64)>,
    scanners: BTreeSet<(String, i64, i64)>,
}

async fn snapshot(db: &DatabaseConnection, account_id: i32, scenes: &HashMap<i32, String>) -> Snapshot {
    let scene = |c: Option<i32>| c.map(|c| scenes[&c].clone());
    let events = event::Entity::find().filter(event::Column::AccountId.eq(account_id)).all(db).await.unwrap();
    let by_id: HashMap<i64, (i64, String)> = events.iter().map(|e| (e.id, (e.create_time, e.event.clone()))).collect();
    let mut ev: Vec<_> = events
        .iter()
        .map(|e| {
            (
                e.openid_hash.clone(),
                e.openid.clone(),
                e.create_time,
                e.event.clone(),
                e.event_key.clone(),
                e.kind.clone(),
                scene(e.campaign_id),
            )
        })
        .collect();
    ev.sort();
    let mut subs: Vec<_> = subscription::Entity::find()
        .filter(subscription::Column::AccountId.eq(account_id))
        .all(db)
        .await
        .unwrap()
        .into_iter()
        .map(|s| {
            (
                s.openid_hash.clone(),
                s.openid.is_some(),
                scene(s.campaign_id),
                s.scene.clone(),
                s.subscribed_at.timestamp(),
                s.unsubscribed_at.map(|t| t.timestamp()),
                s.subscribe_event_id.map(|id| by_id[&id].clone()),
                s.unsubscribe_event_id.map(|id| by_id[&id].clone()),
            )
        })
        .collect();
    subs.sort();
    let mut jobs = BTreeSet::new();
    for j in job::Entity::find().all(db).await.unwrap() {
        let key = j.dedupe_key.clone().unwrap_or_default();
        let mut parts = key.splitn(3, ':');
        let (Some("tag"), Some(c), Some(hash)) = (parts.next(), parts.next(), parts.next()) else { continue };
        let c: i32 = c.parse().unwrap();
        if let Some(s) = scenes.get(&c) {
            let payload: serde_json::Value = serde_json::from_str(&j.payload).unwrap();
            assert_eq!(payload["account_id"], account_id);
            jobs.insert((s.clone(), hash.to_owned(), payload["openid"].as_str().unwrap().to_owned()));
        }
    }
    let campaign_hours = campaign_hourly::Entity::find()
        .filter(campaign_hourly::Column::CampaignId.is_in(scenes.keys().copied()))
        .all(db)
        .await
        .unwrap()
        .into_iter()
        .map(|r| (scenes[&r.campaign_id].clone(), r.hour, r.scans, r.new_followers, r.unsubscribes))
        .collect();
    let account_hours = account_hourly::Entity::find()
        .filter(account_hourly::Column::AccountId.eq(account_id))
        .all(db)
        .await
        .unwrap()
        .into_iter()
        .map(|r| (r.hour, r.scans, r.new_followers, r.organic_followers, r.unsubscribes, r.unknown_scene_events))
        .collect();
    let scanners = scanner_hour::Entity::find()
        .filter(scanner_hour::Column::CampaignId.is_in(scenes.keys().copied()))
        .all(db)
        .await
        .unwrap()
        .into_iter()
        .map(|r| (scenes[&r.campaign_id].clone(), r.hour, r.scanner))
        .collect();
    Snapshot { events: ev, subscriptions: subs, jobs, campaign_hours, account_hours, scanners }
}

/// Each push's answer, ids replaced: (outcome, campaign scene).
type Answers = Vec<(Outcome, Option<String>)>;

async fn store(st: &AppState, pushes: &[Push], scenes: &HashMap<i32, String>) -> Answers {
    let stored = store_batch(st, pushes).await.expect("the batch is stored");
    assert_eq!(stored.len(), pushes.len());
    stored.into_iter().map(|s| (s.outcome, s.campaign_id.map(|c| scenes[&c].clone()))).collect()
}

async fn one_by_one(st: &AppState, pushes: &[Push], scenes: &HashMap<i32, String>) -> Answers {
    let mut out = Vec::new();
    for p in pushes {
        out.extend(store(st, std::slice::from_ref(p), scenes).await);
    }
    out
}

async fn check_seed(st: &AppState, seed: u64) {
    let db = &st.db;
    let mut rng = Rng(seed);
    let mut clock = T0;
    let history = sequence(&mut rng, &mut clock, 40, &[]);
    let batch = sequence(&mut rng, &mut clock, 120, &history);
    let names = [format!("wx_serial_{seed}"), format!("wx_whole_{seed}"), format!("wx_chunks_{seed}")];
    let mut accounts = Vec::new();
    for name in &names {
        let (id, scenes) = account(db, name).await;
        let pushes: Vec<Push> = history.iter().map(|s| for_account(s, name).push(id)).collect();
        one_by_one(st, &pushes, &scenes).await;
        let pushes: Vec<Push> = batch.iter().map(|s| for_account(s, name).push(id)).collect();
        accounts.push((id, scenes, pushes));
    }
    let (serial_id, serial_scenes, serial_pushes) = &accounts[0];
    let reference = one_by_one(st, serial_pushes, serial_scenes).await;
    let (whole_id, whole_scenes, whole_pushes) = &accounts[1];
    let whole = store(st, whole_pushes, whole_scenes).await;
    let (chunks_id, chunks_scenes, chunks_pushes) = &accounts[2];
    let mut chunked = Vec::new();
    let mut rest: &[Push] = chunks_pushes;
    while !rest.is_empty() {
        let n = (1 + rng.below(24)).min(rest.len());
        chunked.extend(store(st, &rest[..n], chunks_scenes).await);
        rest = &rest[n..];
    }
    assert_eq!(whole, reference, "seed {seed}: answers of one batch");
    assert_eq!(chunked, reference, "seed {seed}: answers of random chunks");
    let expected = snapshot(db, *serial_id, serial_scenes).await;
    // The sequence must exercise what the batch works out in memory.
    assert!(expected.subscriptions.iter().any(|s| s.5.is_some()), "seed {seed}: no subscription was closed");
    assert!(expected.events.iter().any(|e| e.1.is_none() && e.3 != "unsubscribe"), "seed {seed}: nothing was erased");
    assert!(!expected.jobs.is_empty(), "seed {seed}: no tag job");
    assert!(reference.iter().any(|a| a.0 == Outcome::Duplicate), "seed {seed}: no retry");
    assert_eq!(snapshot(db, *whole_id, whole_scenes).await, expected, "seed {seed}: one batch");
    assert_eq!(snapshot(db, *chunks_id, chunks_scenes).await, expected, "seed {seed}: random chunks");
}

dual_test!(a_batch_stores_what_one_push_at_a_time_would, |t: TestDb| async move {
    let st = t.state();
    for seed in [0x5EED_0001, 0x5EED_0002, 0x5EED_0003, 0x5EED_0004] {
        check_seed(&st, seed).await;
    }
});
